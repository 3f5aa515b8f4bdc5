/**
 * Header block splitting and header value decoding: unfolding, RFC 2047 encoded words (also the
 * broken kinds real mailers send), raw 8-bit values and RFC 2231 parameters.
 */
import { decodeText } from './charset.js';
import { decodeBase64 } from './transfer.js';

export interface HeaderField {
  /** Lower-case field name. */
  name: string;
  /** Unfolded value as a binary string (one char per byte) so 8-bit bytes can be decoded later. */
  value: string;
}

/** A hostile header block cannot make us keep more than this. */
const MAX_FIELDS = 1000;
const MAX_VALUE = 64 * 1024;

function isNameByte(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x3a;
}

/** Length of a header name at `start` if the line there is a `Name:` line, else -1. */
function headerNameEnd(buf: Buffer, start: number, end: number): number {
  let i = start;
  while (i < end && isNameByte(buf[i]!)) i++;
  if (i === start) return -1;
  let j = i;
  while (j < end && (buf[j] === 0x20 || buf[j] === 0x09)) j++;
  return j < end && buf[j] === 0x3a ? i : -1;
}

/** End of the line starting at `i` (exclusive of the terminator) and where the next line starts. */
function lineAt(buf: Buffer, i: number, limit: number): [number, number] {
  for (let j = i; j < limit; j++) {
    const c = buf[j]!;
    if (c === 0x0a) return [j, j + 1];
    if (c === 0x0d) return [j, buf[j + 1] === 0x0a && j + 1 < limit ? j + 2 : j + 1];
  }
  return [limit, limit];
}

/**
 * Split `buf[start, end)` into its header fields and the offset where the body starts. The header
 * block ends at the first empty line, or at the first line that is neither a field nor a
 * continuation (a part without headers starts directly with its body).
 */
export function splitHeaderBlock(buf: Buffer, start = 0, end = buf.length): { fields: HeaderField[]; bodyStart: number } {
  const fields: HeaderField[] = [];
  let i = start;
  let first = true;
  let current: { name: string; chunks: string[]; size: number } | undefined;
  const flush = (): void => {
    if (current && fields.length < MAX_FIELDS) fields.push({ name: current.name, value: current.chunks.join('') });
    current = undefined;
  };
  while (i < end) {
    const [lineEnd, next] = lineAt(buf, i, end);
    if (lineEnd === i) {
      flush();
      return { fields, bodyStart: next };
    }
    const c = buf[i]!;
    if ((c === 0x20 || c === 0x09) && current) {
      if (current.size < MAX_VALUE) {
        const piece = buf.toString('latin1', i, Math.min(lineEnd, i + MAX_VALUE - current.size));
        current.chunks.push(piece);
        current.size += piece.length;
      }
    } else {
      const nameEnd = headerNameEnd(buf, i, lineEnd);
      if (nameEnd < 0) {
        // mbox "From " separator before the first field: skip it rather than end the headers
        if (first && buf.toString('latin1', i, Math.min(lineEnd, i + 5)) === 'From ') {
          i = next;
          first = false;
          continue;
        }
        flush();
        return { fields, bodyStart: i };
      }
      flush();
      const colon = buf.indexOf(0x3a, nameEnd);
      const value = buf.toString('latin1', colon + 1, Math.min(lineEnd, colon + 1 + MAX_VALUE));
      current = { name: buf.toString('latin1', i, nameEnd).toLowerCase(), chunks: [value], size: value.length };
    }
    first = false;
    i = next;
  }
  flush();
  return { fields, bodyStart: end };
}

/** First value of a field, or undefined. Duplicates are common in hostile mail; the first wins. */
export function getHeader(fields: HeaderField[], name: string): string | undefined {
  return fields.find((f) => f.name === name)?.value;
}

/** Remove control characters (C0, DEL, C1) and bidi overrides; tabs and newlines become spaces. */
export function stripControls(s: string): string {
  return (
    s
      .replace(/[\t\r\n]/g, ' ')
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\ufeff]/g, '')
  );
}

/** A binary string (one char per byte) to text: ASCII stays, 8-bit bytes are charset-detected. */
export function binaryToText(bin: string, fallbackCharset?: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[\u0080-\u00ff\u001b]/.test(bin)) return bin;
  return decodeText(Buffer.from(bin, 'latin1'), fallbackCharset).text;
}

function decodeQWord(text: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === '_') out.push(0x20);
    else if (ch === '=' && /^[0-9A-Fa-f]{2}$/.test(text.slice(i + 1, i + 3))) {
      out.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(text.charCodeAt(i) & 0xff);
  }
  return Buffer.from(out);
}

const ENCODED_WORD = /=\?([^?\s]{1,64})\?([bBqQ])\?([^?]*?)\?=/g;

/**
 * Decode an unstructured value: RFC 2047 words (adjacent words of one charset are joined as bytes
 * first, so a character or an ISO-2022-JP escape split across words survives), words glued to
 * text, and raw 8-bit bytes (read with `rawCharset`, the message's body charset, as the hint).
 */
export function decodeWords(bin: string, rawCharset?: string): string {
  const out: string[] = [];
  let last = 0;
  let pending: { charset: string; bytes: Buffer[] } | undefined;
  const flushPending = (): void => {
    if (pending) out.push(decodeText(Buffer.concat(pending.bytes), pending.charset).text);
    pending = undefined;
  };
  ENCODED_WORD.lastIndex = 0;
  for (let m = ENCODED_WORD.exec(bin); m; m = ENCODED_WORD.exec(bin)) {
    const between = bin.slice(last, m.index);
    const charset = m[1]!.replace(/\*.*$/, '').toLowerCase();
    const bytes = m[2]!.toLowerCase() === 'b' ? decodeBase64(Buffer.from(m[3]!, 'latin1')) : decodeQWord(m[3]!);
    if (pending && /^[ \t\r\n]*$/.test(between) && pending.charset === charset) {
      pending.bytes.push(bytes);
    } else {
      if (!(pending && /^[ \t\r\n]*$/.test(between))) {
        flushPending();
        out.push(binaryToText(between, rawCharset));
      } else flushPending();
      pending = { charset, bytes: [bytes] };
    }
    last = m.index + m[0].length;
  }
  flushPending();
  out.push(binaryToText(bin.slice(last), rawCharset));
  return out.join('');
}

/** An unstructured header for display: decoded, controls removed, whitespace runs collapsed. */
export function decodeUnstructured(bin: string | undefined, rawCharset?: string): string {
  if (bin == null) return '';
  return stripControls(decodeWords(bin, rawCharset)).replace(/ {2,}/g, ' ').trim();
}

export interface StructuredValue {
  value: string;
  params: Record<string, string>;
}

/** Split on `sep` outside double quotes; linear. */
function splitOutsideQuotes(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (ch === '\\' && quoted && i + 1 < s.length) {
      cur += ch + s[++i];
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  return parts;
}

function unquote(s: string): string {
  const t = s.trim();
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) return t.slice(1, -1).replace(/\\(.)/g, '$1');
  if (t.startsWith('"')) return t.slice(1).replace(/\\(.)/g, '$1');
  return t;
}

function percentDecode(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '%' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      out.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else out.push(s.charCodeAt(i) & 0xff);
  }
  return Buffer.from(out);
}

/**
 * `type/subtype; a=b; name="=?utf-8?B?…?="; filename*0*=utf-8''%E3…; filename*1*=…` → value and
 * decoded params (RFC 2231 continuations joined as bytes before decoding, RFC 2047 inside quotes).
 */
export function parseStructured(bin: string | undefined): StructuredValue {
  const pieces = splitOutsideQuotes((bin ?? '').replace(/[\r\n]/g, ''), ';');
  const value = (pieces.shift() ?? '').trim().toLowerCase();
  // Prototype-less: a parameter named __proto__ or constructor is just a name here.
  const simple: Record<string, string> = Object.create(null) as Record<string, string>;
  const continued = Object.create(null) as Record<string, { index: number; encoded: boolean; text: string }[]>;
  for (const piece of pieces.slice(0, 100)) {
    const eq = piece.indexOf('=');
    if (eq < 0) continue;
    const key = piece.slice(0, eq).trim().toLowerCase();
    const raw = piece.slice(eq + 1);
    const m = /^([^*]+)(?:\*(\d+))?(\*)?$/.exec(key);
    if (!m) continue;
    if (m[2] === undefined && m[3] === undefined) {
      if (!(key in simple)) simple[key] = unquote(raw);
      continue;
    }
    (continued[m[1]!] ??= []).push({ index: Number(m[2] ?? 0), encoded: m[3] === '*', text: unquote(raw) });
  }
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const [key, segs] of Object.entries(continued)) {
    segs.sort((a, b) => a.index - b.index);
    let charset = '';
    const bytes: Buffer[] = [];
    segs.forEach((seg, k) => {
      let text = seg.text;
      if (k === 0 && seg.encoded) {
        const q1 = text.indexOf("'");
        const q2 = q1 >= 0 ? text.indexOf("'", q1 + 1) : -1;
        if (q2 >= 0) {
          charset = text.slice(0, q1);
          text = text.slice(q2 + 1);
        }
      }
      bytes.push(seg.encoded ? percentDecode(text) : Buffer.from(text, 'latin1'));
    });
    params[key] = decodeText(Buffer.concat(bytes), charset || undefined).text;
  }
  for (const [key, v] of Object.entries(simple)) if (!(key in params)) params[key] = decodeWords(v);
  return { value, params };
}
