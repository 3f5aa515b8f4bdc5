import { fileTypeFromBuffer } from 'file-type';
import { decodeText } from '../mail/mime/charset.js';
import { oleType, ooxmlType, pdfLooksEncrypted, summariseZip, tarAtStart, zipStructure } from './classify-containers.js';

/**
 * What a part really is, from its bytes (docs/DESIGN.md §6: never by name). `kind` drives dispatch in parts.ts.
 * The declared name/type only ever narrows text into CSV/TSV or marks text as a script (removed):
 * a name can make us stricter, never let something through.
 */
export type Kind =
  | 'empty' | 'pdf' | 'encrypted-pdf' | 'image' | 'svg' | 'epub'
  | 'office' | 'encrypted-office' | 'odf' | 'rtf'
  | 'zip' | 'encrypted-zip' | 'tar' | 'gzip'
  | 'text' | 'csv' | 'tsv' | 'html' | 'message'
  | 'executable' | 'unknown'
  /** Two formats at once (a PDF with a ZIP appended, a ZIP behind a PDF header): held, never guessed. */
  | 'ambiguous';

export interface Classified {
  mime: string;
  kind: Kind;
}

/** Raster formats we decode and re-encode; other image types (HEIC, PSD, ICO…) are not allowed. */
const IMAGES = new Set(['image/jpeg', 'image/png', 'image/gif', 'image/bmp', 'image/tiff', 'image/webp']);
/** Text whose declared name says "script": removed rather than turned into a .txt (fails strict). */
const SCRIPT_EXT = /\.(bat|cmd|ps1|psm1|vbs|vbe|js|jse|mjs|wsf|wsh|hta|sh|bash|py|pl|rb|php|scr|reg|inf|scf|url|desktop|jar|applescript)$/i;

const AMBIGUOUS: Classified = { mime: 'application/octet-stream', kind: 'ambiguous' };

const head = (b: Buffer, n: number): string => b.subarray(0, n).toString('latin1');

function executable(b: Buffer): string | undefined {
  const h4 = b.subarray(0, 4).toString('hex');
  if (head(b, 2) === 'MZ') return 'application/x-msdownload';
  if (h4 === '7f454c46') return 'application/x-elf';
  if (['feedface', 'feedfacf', 'cefaedfe', 'cffaedfe', 'cafebabe'].includes(h4)) return 'application/x-mach-binary';
  if (head(b, 2) === '#!') return 'text/x-shellscript';
  if (b.subarray(0, 8).toString('hex') === '4c00000001140200') return 'application/x-ms-shortcut';
  if (head(b, 4) === 'dex\n') return 'application/x-dex';
  if (b.subarray(0, 4).toString('hex') === '0061736d') return 'application/wasm';
  return undefined;
}

function zipKind(b: Buffer): Classified {
  const z = summariseZip(b);
  if (z.encrypted) return { mime: 'application/zip', kind: 'encrypted-zip' };
  if (z.mimetype === 'application/epub+zip') return { mime: 'application/epub+zip', kind: 'epub' };
  if (z.mimetype?.startsWith('application/vnd.oasis.opendocument.')) return { mime: z.mimetype, kind: 'odf' };
  const ct = b.indexOf('macroEnabled') >= 0 ? 'macroEnabled' : undefined;
  const ox = ooxmlType(z, ct);
  if (ox) return { mime: ox.mime, kind: 'office' };
  return { mime: 'application/zip', kind: 'zip' };
}

/** Strip a UTF-8 BOM, leading whitespace, XML declarations, comments and doctypes, then look at the first tag. */
function markup(text: string): 'svg' | 'html' | undefined {
  const start = text.slice(0, 4096).replace(/^\ufeff/, '');
  const lead = start.replace(/^(\s|<\?xml[^>]*>|<!--[\s\S]*?-->|<!DOCTYPE\s+svg[^>]*>)*/i, '');
  if (/^<svg[\s>]/i.test(lead)) return 'svg';
  if (/^<(!doctype\s+html|html|head|body|meta|title|table|div|p|script|iframe|frameset|style|form|a\s|br|h[1-6])[\s>/]/i.test(lead)) return 'html';
  return undefined;
}

function isText(b: Buffer): { ok: boolean; text: string } {
  const sample = b.subarray(0, 1 << 20);
  const bom16 = sample.length >= 2 && ((sample[0] === 0xff && sample[1] === 0xfe) || (sample[0] === 0xfe && sample[1] === 0xff));
  if (!bom16 && sample.includes(0)) return { ok: false, text: '' };
  const { text } = decodeText(sample, bom16 ? (sample[0] === 0xff ? 'utf-16le' : 'utf-16be') : undefined);
  // Control characters other than tab/CR/LF/FF/ESC and many replacement characters mean "not text".
  let bad = 0;
  for (const ch of text.slice(0, 65536)) {
    const c = ch.codePointAt(0)!;
    if ((c < 0x20 && c !== 9 && c !== 10 && c !== 13 && c !== 12 && c !== 0x1b) || c === 0xfffd || c === 0x7f) bad++;
  }
  return { ok: bad <= Math.max(2, Math.min(text.length, 65536) / 1000), text };
}

/** Detect the real type of untrusted bytes. Pure and cheap: no decoding beyond headers and a text sample. */
export async function classify(b: Buffer, declaredName = '', declaredType = ''): Promise<Classified> {
  if (b.length === 0) return { mime: 'application/x-empty', kind: 'empty' };
  const exe = executable(b);
  if (exe) return { mime: exe, kind: 'executable' };
  // Containers are decided by their structure before the PDF test: a stored ZIP or a tar whose first entry
  // is a PDF has `%PDF-` in its first 1024 bytes, and taking it for a PDF would drop every other entry.
  const pdfAt = b.subarray(0, 1024).indexOf('%PDF-');
  const zip = zipStructure(b);
  if (zip.atStart) return pdfAt >= 0 && !zip.centralDirectory ? AMBIGUOUS : zipKind(b);
  if (tarAtStart(b)) return pdfAt >= 0 && pdfAt < 512 ? AMBIGUOUS : { mime: 'application/x-tar', kind: 'tar' };
  if (pdfAt >= 0) return zip.centralDirectory ? AMBIGUOUS : { mime: 'application/pdf', kind: pdfLooksEncrypted(b) ? 'encrypted-pdf' : 'pdf' };
  if (b.subarray(0, 8).toString('hex') === 'd0cf11e0a1b11ae1') {
    const o = oleType(b);
    return { mime: o.mime, kind: o.kind };
  }
  if (head(b, 4) === 'PK\x03\x04' || head(b, 4) === 'PK\x05\x06') return zipKind(b);
  if (head(b, 5) === '{\\rtf') return { mime: 'application/rtf', kind: 'rtf' };
  if (b[0] === 0x1f && b[1] === 0x8b) return { mime: 'application/gzip', kind: 'gzip' };
  if (b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar') return { mime: 'application/x-tar', kind: 'tar' };
  const ft = await fileTypeFromBuffer(b).catch(() => undefined);
  if (ft && IMAGES.has(ft.mime)) return { mime: ft.mime, kind: 'image' };
  // Text before file-type's other verdicts: its weak signatures (MP3 frame sync, for one) match Shift_JIS
  // bytes, while real binary formats fail the text test (NULs, control characters).
  const t = isText(b);
  if (!t.ok) return { mime: ft?.mime ?? 'application/octet-stream', kind: 'unknown' };
  // A forwarded mail (.eml, message/rfc822, or a header block at the very start) is parsed as mail, never
  // passed on as raw text: its encoded attachments would cross unsanitized inside the text.
  if (declaredType.toLowerCase().startsWith('message/rfc822') || /\.eml$/i.test(declaredName)
    || /^(?:received|return-path|delivered-to|message-id|mime-version|date|from|to|subject):[^\n]*\r?\n(?:[ \t][^\n]*\r?\n)*[!-9;-~]+:/i.test(t.text.slice(0, 4096))) {
    return { mime: 'message/rfc822', kind: 'message' };
  }
  const m = markup(t.text);
  if (m === 'svg') return { mime: 'image/svg+xml', kind: 'svg' };
  if (SCRIPT_EXT.test(declaredName)) return { mime: 'text/plain', kind: 'executable' };
  if (m === 'html') return { mime: 'text/html', kind: 'html' };
  const name = declaredName.toLowerCase();
  const type = declaredType.toLowerCase();
  if (name.endsWith('.tsv') || type.includes('tab-separated')) return { mime: 'text/tab-separated-values', kind: 'tsv' };
  if (name.endsWith('.csv') || type.includes('csv') || type.includes('comma-separated')) return { mime: 'text/csv', kind: 'csv' };
  if (type === 'text/html' || name.endsWith('.html') || name.endsWith('.htm')) {
    // Declared HTML without a recognisable first tag: still converted like HTML (stricter than text).
    return { mime: 'text/html', kind: 'html' };
  }
  return { mime: 'text/plain', kind: 'text' };
}
