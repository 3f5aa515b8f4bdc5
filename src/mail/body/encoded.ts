/**
 * Inline-encoded files in text (uuencode, xxencode, yEnc, BinHex 4.0, long base64 runs) are cut out of
 * every text we write into LGWAN: mail clients turn inline uuencode into attachments, and anyone can decode
 * the rest (docs/RELIABILITY.md, "Text we write"). Each block becomes one marker line; the text around it is
 * kept exactly.
 *
 * One pass over the lines, each line looked at a bounded number of times: no regex here can backtrack over
 * more than one line, so the cost is linear in the input (it runs on bodies of up to 2 M characters).
 */

import { sha256 } from '../../sanitize/hash.js';

export type EncodedKind = 'uuencode' | 'xxencode' | 'yenc' | 'binhex' | 'base64' | 'hex';

export interface EncodedBlock {
  kind: EncodedKind;
  /** The file name the block declares (uuencode, yEnc), cleaned for display; '' when it has none. */
  name: string;
  /**
   * UTF-8 size and SHA-256 of the removed text, for the manifest. Absent for a marker line found again (text
   * that already went through this function once).
   */
  size?: number;
  sha256?: string;
}

const MARKER_PREFIX = '[符号化されたファイルを削除しました: ';
/**
 * A marker line we wrote earlier: recognised again so cutting twice reports the same blocks. Patterns here use
 * [^\n], never '.': JS '.' stops at U+2028, and such a character in a declared name must not hide a block.
 */
const MARKER = /^\[符号化されたファイルを削除しました: (uuencode|xxencode|yenc|binhex|base64|hex)(?: ([^\n]{1,300}))?\]\r?$/;

/** Any base64 run at least this long is a file, whatever it decodes to (6 KB of bytes). */
export const BASE64_FILE_CHARS = 8192;
/** A shorter run is cut only when it decodes to a known file signature; below this it is a token or a hash. */
export const BASE64_MAGIC_MIN_CHARS = 64;

export function marker(block: EncodedBlock): string {
  return `${MARKER_PREFIX}${block.kind}${block.name ? ' ' + block.name : ''}]`;
}

/** A declared file name, safe to show on one line (and inside a CSV cell): no controls, quotes, brackets, separators. */
function cleanName(raw: string): string {
  return raw
    .slice(0, 200)
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069"',;\t[\]]/g, '_')
    .trim()
    .slice(0, 100);
}

/** Signatures of executables, archives and documents a decoded block must not carry (hex). */
const MAGIC = [
  '4d5a', '7f454c46', 'cafebabe', 'feedface', 'feedfacf', 'cefaedfe', 'cffaedfe', '504b0304', '504b0506', '504b0708',
  '526172211a07', '377abcaf271c', 'd0cf11e0a1b11ae1', '4d534346', '1f8b08', '425a68', 'fd377a585a00', '28b52ffd',
  '4c0000000114020000', '0061736d', '49545346', '213c617263683e', '78617221', '7b5c727466', '25215053', '25504446',
  '2321', '6465780a',
].map((h) => Buffer.from(h, 'hex'));

/**
 * A signature within the first bytes: letters or slashes put in front of a run (`xTVqQ…`, `://TVqQ…`) only
 * shift where the file starts, so a few leading bytes are searched, not only offset 0.
 */
function hasFileMagic(b: Buffer): boolean {
  for (let at = 0; at <= 12 && at < b.length; at++) {
    for (const m of MAGIC) if (b.length - at >= m.length && b.compare(m, 0, m.length, at, at + m.length) === 0) return true;
  }
  return b.length >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';
}

const B64_LINE = /^[A-Za-z0-9+/]+={0,2}$/;
const B64_TOKEN = /[A-Za-z0-9+/]{64,}={0,2}/g;
/** Quote marks and indentation a forwarded or quoted block may carry in front of every line. */
const PREFIX = /^[ \t]*(?:>[ \t]?)*/;

/** A run of hex digits only (4D5A9000…) is read as hex, at both nibble alignments; others as base64. */
const isHex = (s: string): boolean => /^[0-9A-Fa-f]+$/.test(s);
function hexToFile(hex: string): boolean {
  return [0, 1].some((shift) => {
    const head = hex.slice(shift, shift + 600);
    return hasFileMagic(Buffer.from(head.slice(0, head.length - (head.length % 2)), 'hex'));
  });
}

/** Decoded at each of the four character alignments: a prefix of 1-3 stray characters must not hide a file. */
function decodesToFile(b64: string): boolean {
  if (isHex(b64)) return hexToFile(b64);
  for (let shift = 0; shift < 4; shift++) {
    const head = b64.slice(shift, shift + 400);
    if (hasFileMagic(Buffer.from(head.slice(0, head.length - (head.length % 4)), 'base64'))) return true;
  }
  return false;
}

/** Some decoders take `BEGIN` too. */
const UU_BEGIN = /^begin(?:-base64)?[ \t]+([0-7]{1,4})(?:[ \t]+([^\n]*))?$/i;
/** A full uuencode data line: `M` (45 bytes) and 60 characters, the signature of data whose begin line is gone. */
const isFullUuLine = (s: string): boolean => s.length >= 59 && s.length <= 62 && s[0] === 'M' && isUuLine(s);
const XX_CHARS = '+-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** uuencode writes at most 61 characters a line; CSV quoting (doubled quotes) can make that twice as long. */
function isUuLine(s: string): boolean {
  if (s.length === 0 || s.length > 200) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x60) return false;
  }
  return true;
}

/** xxencode lines use letters too, so only a line whose length character matches its length counts. */
function isXxLine(s: string): boolean {
  if (s.length < 2 || s.length > 90) return false;
  const n = XX_CHARS.indexOf(s[0]!);
  if (n < 0) return false;
  for (let i = 1; i < s.length; i++) if (XX_CHARS.indexOf(s[i]!) < 0) return false;
  const expected = Math.ceil(n / 3) * 4 + 1;
  return s.length >= expected && s.length <= expected + 2;
}

const BINHEX_CHARS = new Set('!"#$%&\'()*+,-012345689@ABCDEFGHIJKLMNPQRSTUVXYZ[`abcdefhijklmpqr:');
function isBinhexLine(s: string): boolean {
  if (s.length === 0 || s.length > 90) return false;
  for (const ch of s) if (!BINHEX_CHARS.has(ch)) return false;
  return true;
}

interface Line {
  /** Without the line end. */
  text: string;
  /** '\r' when the line ended in CRLF, else ''. */
  cr: string;
}

/**
 * Cut every inline-encoded file out of `text`. Returns the text with one marker line per block and the
 * blocks in order. Lines keep their ends (LF or CRLF); a marker takes the line end of the block's first line.
 */
export function cutEncodedBlocks(text: string): { text: string; blocks: EncodedBlock[] } {
  if (!mayContainBlock(text)) return { text, blocks: [] };
  const raw = text.split('\n');
  const lines: Line[] = raw.map((l) => (l.endsWith('\r') ? { text: l.slice(0, -1), cr: '\r' } : { text: l, cr: '' }));
  const out: string[] = [];
  const blocks: EncodedBlock[] = [];
  const cut = (block: EncodedBlock, from: number, to: number) => {
    const source = Buffer.from(raw.slice(from, to).join('\n').replace(/\r$/, ''), 'utf8');
    blocks.push({ ...block, size: source.length, sha256: sha256(source) });
    out.push(marker(block) + lines[from]!.cr);
  };
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    const prefix = PREFIX.exec(line.text)![0];
    const body = line.text.slice(prefix.length);
    const strip = (l: Line) => (prefix && l.text.startsWith(prefix) ? l.text.slice(prefix.length) : l.text);

    const again = MARKER.exec(line.text);
    if (again) {
      const name = again[2] ?? '';
      blocks.push({ kind: again[1] as EncodedKind, name });
      out.push(marker({ kind: again[1] as EncodedKind, name }) + line.cr);
      i++;
      continue;
    }

    const uu = UU_BEGIN.exec(body.trimEnd());
    if (uu) {
      const base64 = /^begin-base64/i.test(body);
      let j = i + 1;
      while (j < lines.length && strip(lines[j]!).trim() === '') j++;
      let xx = false;
      let data = 0;
      const first = j < lines.length ? strip(lines[j]!).trimEnd() : '';
      if (!base64 && !isUuLine(first) && isXxLine(first)) xx = true;
      for (; j < lines.length; j++) {
        const s = strip(lines[j]!).trimEnd();
        if (/^end\s*$/.test(s)) {
          j++;
          break;
        }
        if (base64 && s === '====') {
          j++;
          break;
        }
        // An empty line inside uuencode is a zero-length line whose space was stripped; it belongs to the
        // block only when more data or the end follows it (one line of look-ahead).
        const next = j + 1 < lines.length ? strip(lines[j + 1]!).trimEnd() : '';
        const ok = base64 ? B64_LINE.test(s) : xx ? isXxLine(s) || s === '+' : isUuLine(s) || (s === '' && (isUuLine(next) || /^end\s*$/.test(next)));
        if (!ok) break;
        if (s.trim() !== '' && s !== '`') data++;
      }
      if (data > 0) {
        cut({ kind: base64 ? 'base64' : xx ? 'xxencode' : 'uuencode', name: cleanName(uu[2] ?? '') }, i, j);
        i = j;
        continue;
      }
    }

    if (/^=ybegin\d?[ \t][^\n]*\bname=/.test(body)) {
      const name = cleanName(/\bname=([^\n]*)$/.exec(body)![1]!);
      let j = i + 1;
      // Without =yend the data runs to the end: what follows cannot be told apart from it.
      while (j < lines.length && !/^=yend\b/.test(strip(lines[j]!))) j++;
      j = Math.min(lines.length, j + 1);
      cut({ kind: 'yenc', name }, i, j);
      i = j;
      continue;
    }

    const header = /^\(This file must be converted with BinHex/i.test(body);
    const headless = body.startsWith(':') && body.trimEnd().length >= 60 && isBinhexLine(body.trimEnd())
      && i + 1 < lines.length && isBinhexLine(strip(lines[i + 1]!).trimEnd());
    if (header || headless) {
      let j = header ? i + 1 : i;
      while (header && j < lines.length && strip(lines[j]!).trim() === '') j++;
      let data = 0;
      if (j < lines.length && strip(lines[j]!).startsWith(':')) {
        // The data is framed by colons: the next colon after the opening one closes it.
        for (; j < lines.length; j++) {
          const s = strip(lines[j]!).trimEnd();
          if (!isBinhexLine(s)) break;
          data++;
          if (s.indexOf(':', data === 1 ? 1 : 0) >= 0) {
            j++;
            break;
          }
        }
      }
      if (data > 0) {
        cut({ kind: 'binhex', name: '' }, i, j);
        i = j;
        continue;
      }
    }

    // Three or more full uuencode lines without a begin line (cut from a longer block, or written without it).
    if (isFullUuLine(body.trimEnd())) {
      let j = i;
      while (j < lines.length && isFullUuLine(strip(lines[j]!).trimEnd())) j++;
      if (j - i >= 3) {
        while (j < lines.length && isUuLine(strip(lines[j]!).trimEnd())) j++;
        if (j < lines.length && /^end\s*$/i.test(strip(lines[j]!))) j++;
        cut({ kind: 'uuencode', name: '' }, i, j);
        i = j;
        continue;
      }
    }

    // A run of whole base64 lines, as mail and PEM write them.
    if (body.length >= 16 && B64_LINE.test(body.trimEnd())) {
      let j = i;
      let chars = 0;
      const parts: string[] = [];
      while (j < lines.length) {
        const s = strip(lines[j]!).trim();
        if (!B64_LINE.test(s)) break;
        if (parts.length * 76 < 400) parts.push(s);
        chars += s.length;
        j++;
        if (s.endsWith('=')) break;
      }
      const joined = parts.join('');
      if (chars >= BASE64_FILE_CHARS || (chars >= BASE64_MAGIC_MIN_CHARS && decodesToFile(joined))) {
        cut({ kind: isHex(joined) ? 'hex' : 'base64', name: '' }, i, j);
        i = j;
        continue;
      }
      for (let k = i; k < j; k++) out.push(lines[k]!.text + lines[k]!.cr);
      i = j;
      continue;
    }

    // base64 inside a line (data: URIs, JSON, a run glued to prose): replaced where it stands.
    if (line.text.length >= BASE64_MAGIC_MIN_CHARS) {
      const found: EncodedBlock[] = [];
      const replaced = line.text.replace(B64_TOKEN, (tok) => {
        if (tok.length >= BASE64_FILE_CHARS || decodesToFile(tok)) {
          const b: EncodedBlock = { kind: isHex(tok) ? 'hex' : 'base64', name: '' };
          found.push({ ...b, size: tok.length, sha256: sha256(Buffer.from(tok, 'latin1')) });
          return marker(b);
        }
        return tok;
      });
      if (found.length) {
        blocks.push(...found);
        out.push(replaced + line.cr);
        i++;
        continue;
      }
    }
    out.push(line.text + line.cr);
    i++;
  }
  return { text: out.join('\n'), blocks };
}

/** Cheap pre-check: most text has no candidate at all and is returned as it is. */
function mayContainBlock(text: string): boolean {
  return /begin|=ybegin|BinHex|\[符号化|[A-Za-z0-9+/]{16}/i.test(text) || /^[ \t>]*M[\x20-\x60]{58}/m.test(text);
}
