/** Attachment file names: decoded, no path, no control characters, never empty. */
import { decodeWords, stripControls } from './headers.js';
import type { MimePart } from './tree.js';

const EXTENSIONS: Record<string, string> = {
  'text/plain': '.txt',
  'text/html': '.html',
  'text/calendar': '.ics',
  'text/csv': '.csv',
  'message/rfc822': '.eml',
  'message/delivery-status': '.txt',
  'text/rfc822-headers': '.txt',
  'application/pdf': '.pdf',
  'application/zip': '.zip',
  'application/msword': '.doc',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': '.docx',
  'application/vnd.ms-excel': '.xls',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': '.xlsx',
  'image/png': '.png',
  'image/jpeg': '.jpg',
  'image/gif': '.gif',
  'application/pkcs7-signature': '.p7s',
};

const MAX_NAME = 200;

// Line and paragraph separators (U+2028, U+2029, NEL, VT, FF) break lines in some clients and log viewers; format
// characters (bidi overrides and isolates, LRM/RLM/ALM, zero-width, interlinear) hide or reorder text,
// e.g. a name that shows as "exe.txt"; lone surrogates have no encoding. None belongs in a header or name.
const SEPARATORS = /[\p{Zl}\p{Zp}\u0085\v\f]/gu;
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}]/gu;

function cleanOnce(s: string): string {
  return s.replace(/[\t\r\n]/g, ' ').replace(SEPARATORS, ' ').replace(INVISIBLE, '');
}

// An RFC 2047 encoded word (ASCII only) and a run of them separated by blanks, which decodes as one text.
const WORD = String.raw`=\?[\x21-\x3e\x40-\x7e]{1,64}\?[BbQq]\?[\x21-\x3e\x40-\x7e]*\?=`;
const WORD_RUN = new RegExp(`${WORD}(?:[ \\t]+${WORD})*`, 'g');
const MAX_DECODE_ROUNDS = 4;

/**
 * Text for a header or a file name: separators become spaces, control and format characters go. Text that
 * still reads as encoded words after the parser's one decoding (a Subject encoding `=?UTF-8?B?…?=` itself)
 * is decoded here too, and cleaned again: nodemailer sends such ASCII as it is and the LGWAN client would
 * decode it, U+2028 and bidi overrides included. What is still encoded after a few rounds is broken up.
 */
export function headerText(s: string): string {
  let out = cleanOnce(s);
  for (let round = 0; round < MAX_DECODE_ROUNDS && out.includes('=?'); round++) {
    const next = cleanOnce(out.replace(WORD_RUN, (run) => decodeWords(run)));
    if (next === out) break;
    out = next;
  }
  WORD_RUN.lastIndex = 0;
  return WORD_RUN.test(out) ? out.replace(/=\?/g, '=\uff1f') : out;
}

/** True when `s` holds a character `headerText` would change (an address must not: it is dropped). */
export function hasInvisible(s: string): boolean {
  return /[\p{Zl}\p{Zp}\p{Cc}\p{Cf}\p{Cs}]/u.test(s);
}

/** Leading and trailing dots and spaces: they hide a name or its extension, and Windows drops them. */
const trimName = (n: string): string => n.replace(/^[\s.]+/, '').replace(/[\s.]+$/, '');

/**
 * Also at most MAX_NAME_BYTES of UTF-8: a file system takes 255 bytes (ext4) or 255 UTF-16 units (NTFS) per
 * name, and outputs add a suffix to it; 200 Japanese characters (600 bytes) could not be saved anywhere.
 */
const MAX_NAME_BYTES = 200;

/** DOS device names, which Windows opens as devices whatever the extension (`con.txt`, `COM1.pdf`). */
const RESERVED = /^(con|prn|aux|nul|com[0-9\u00b9\u00b2\u00b3]|lpt[0-9\u00b9\u00b2\u00b3]|conin\$|conout\$)$/i;

/** Clean a decoded file name; '' when nothing usable is left. */
export function cleanFileName(name: string): string {
  let n = headerText(stripControls(name)).replace(/\\/g, '/');
  n = n.slice(n.lastIndexOf('/') + 1);
  // characters Windows refuses in names; runs of blanks that push a real extension out of sight
  // ("report.pdf          .exe"); leading/trailing dots and spaces
  n = trimName(n.replace(/[:*?"<>|]/g, '_').replace(/\s{2,}/g, ' '));
  if (n.length > MAX_NAME || Buffer.byteLength(n) > MAX_NAME_BYTES) {
    const dot = n.lastIndexOf('.');
    const ext = dot > 0 && n.length - dot <= 10 ? n.slice(dot) : '';
    let stem = '';
    let bytes = Buffer.byteLength(ext);
    let count = [...ext].length;
    for (const ch of n.slice(0, n.length - ext.length)) {
      const b = Buffer.byteLength(ch);
      if (count + 1 > MAX_NAME || bytes + b > MAX_NAME_BYTES) break;
      stem += ch;
      bytes += b;
      count++;
    }
    n = trimName(trimName(stem) + ext);
  }
  const base = n.split('.')[0]!.trimEnd();
  return RESERVED.test(base) ? `_${n}` : n;
}

/** The name an attachment is shown and stored under; `n` numbers unnamed parts. */
export function attachmentName(part: MimePart, n: number): string {
  const declared = part.dispParams.filename ?? part.params.name ?? '';
  const clean = cleanFileName(declared);
  if (clean) return clean;
  if (part.type === 'message/rfc822') return 'message.eml';
  return `attachment-${n}${EXTENSIONS[part.type] ?? '.bin'}`;
}
