/**
 * The probe links.ts matches on (docs/RELIABILITY.md, "Text we write"): each character NFKC-normalised on
 * its own, invisible characters dropped, 。 read as a dot next to a Latin letter or digit, with a map back to
 * the original text so that edits land on it; and the character classes of hosts and URLs.
 */

function asciiTable(chars: string): Uint8Array {
  const t = new Uint8Array(128);
  for (const ch of chars) t[ch.charCodeAt(0)] = 1;
  return t;
}
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const T_ALNUM = asciiTable(ALNUM);
const T_SCHEME = asciiTable(ALNUM + '+.-');
const T_URL = asciiTable(ALNUM + "-._~:/?#[]@!$&'()*+,;=%\\");
const inTable = (t: Uint8Array, c: string | undefined): boolean => c !== undefined && c.charCodeAt(0) < 128 && t[c.charCodeAt(0)] === 1;
export const isAsciiAlnum = (c: string | undefined): boolean => inTable(T_ALNUM, c);
export const isSchemeChar = (c: string | undefined): boolean => inTable(T_SCHEME, c);
const NON_ASCII_LABEL = /^[\p{L}\p{N}\p{M}]$/u;
/** Per BMP code unit: 0 not yet known, 1 label character, 2 not (a Unicode property test per character is slow). */
const LABEL_CACHE = new Uint8Array(0x10000);
/** A host label character: ASCII letter, digit, hyphen, or any letter/digit of another script (IDN). */
export function isLabelChar(c: string | undefined): boolean {
  if (c === undefined) return false;
  const n = c.charCodeAt(0);
  if (n < 0x80) return (n >= 0x30 && n <= 0x39) || (n >= 0x41 && n <= 0x5a) || (n >= 0x61 && n <= 0x7a) || n === 0x2d;
  let known = LABEL_CACHE[n]!;
  if (known === 0) {
    // surrogates stand for letters of other planes; the ideographic full stop is a dot, never a letter
    known = n !== 0x3002 && ((n >= 0xd800 && n <= 0xdfff) || NON_ASCII_LABEL.test(c)) ? 1 : 2;
    LABEL_CACHE[n] = known;
  }
  return known === 1;
}
/** Characters a URL may contain in running text (RFC 3986 plus % and the backslash browsers accept). */
export const isUrlChar = (c: string | undefined): boolean => inTable(T_URL, c);

export interface Probe {
  /** The normalised text that is matched. */
  p: string;
  /** at[i]: index in the original text of the character probe character i came from; at[p.length] = text.length. */
  at: Int32Array;
}

export const DEFAULT_IGNORABLE = /^\p{Default_Ignorable_Code_Point}$/u;

function probeChar(ch: string, cache: Map<string, string>): string {
  let m = cache.get(ch);
  if (m === undefined) {
    if (DEFAULT_IGNORABLE.test(ch)) m = '';
    else {
      m = ch.normalize('NFKC');
      // NFKC keeps the ideographic full stop (｡ becomes 。); ¥ is the backslash in Japanese code pages.
      if (m === '\u00a5') m = '\\';
    }
    cache.set(ch, m);
  }
  return m;
}

export function makeProbe(text: string): Probe {
  // eslint-disable-next-line no-control-regex
  if (!/[^\u0000-\u007f]/.test(text)) {
    const at = new Int32Array(text.length + 1);
    for (let i = 0; i <= text.length; i++) at[i] = i;
    return { p: text, at };
  }
  const cache = new Map<string, string>();
  const parts: string[] = [];
  let at = new Int32Array(text.length + 16);
  let n = 0;
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    const len = cp > 0xffff ? 2 : 1;
    const ch = cp < 0x80 ? text[i]! : probeChar(text.slice(i, i + len), cache);
    if (n + ch.length + 1 > at.length) {
      const grown = new Int32Array(at.length * 2 + ch.length);
      grown.set(at);
      at = grown;
    }
    for (let k = 0; k < ch.length; k++) at[n++] = i;
    parts.push(ch);
    i += len;
  }
  at[n] = text.length;
  return { p: parts.join(''), at: at.subarray(0, n + 1) };
}
