/**
 * Content-Transfer-Encoding decoders. Real mail has junk in base64, broken soft breaks in
 * quoted-printable and labels like "base64;" or "7-bit": every decoder is lenient and linear.
 */

export type TransferEncoding = 'base64' | 'quoted-printable' | 'x-uuencode' | 'identity';

/** The encoding a Content-Transfer-Encoding value means; anything unknown is read as 8bit. */
export function normaliseTransferEncoding(value: string | undefined): TransferEncoding {
  const v = ((value ?? '').toLowerCase().split(';', 1)[0] ?? '').trim().replace(/[\s_]+/g, '-');
  if (v === 'base64' || v === 'base-64') return 'base64';
  if (v === 'quoted-printable' || v === 'qp') return 'quoted-printable';
  if (v === 'x-uuencode' || v === 'uuencode' || v === 'x-uue' || v === 'uue') return 'x-uuencode';
  return 'identity';
}

const B64 = new Int16Array(256).fill(-1);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => (B64[c.charCodeAt(0)] = i));

/** Base64 ignoring anything outside the alphabet; `=` ends a quantum, so concatenated blocks decode too. */
export function decodeBase64(input: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(Math.floor((input.length * 3) / 4) + 3);
  let n = 0;
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c === 0x3d) {
      // padding: drop the partial byte, start a fresh quantum
      acc = 0;
      bits = 0;
      continue;
    }
    const v = B64[c]!;
    if (v < 0) continue;
    acc = ((acc << 6) | v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return out.subarray(0, n);
}

function hex(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Quoted-printable; `=` not followed by two hex digits or a line end stays literal. */
export function decodeQuotedPrintable(input: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(input.length);
  let n = 0;
  for (let i = 0; i < input.length; i++) {
    const c = input[i]!;
    if (c !== 0x3d) {
      out[n++] = c;
      continue;
    }
    // soft line break, allowing trailing whitespace after the "=" (common breakage)
    let j = i + 1;
    while (j < input.length && (input[j] === 0x20 || input[j] === 0x09)) j++;
    if (j < input.length && (input[j] === 0x0a || input[j] === 0x0d)) {
      i = input[j] === 0x0d && input[j + 1] === 0x0a ? j + 1 : j;
      continue;
    }
    if (j >= input.length) break;
    const h = i + 2 < input.length ? hex(input[i + 1]!) : -1;
    const l = h >= 0 ? hex(input[i + 2]!) : -1;
    if (h >= 0 && l >= 0) {
      out[n++] = (h << 4) | l;
      i += 2;
    } else out[n++] = c;
  }
  return out.subarray(0, n);
}

/** x-uuencode: the lines between "begin" and "end"; without a begin line every line is tried. */
export function decodeUuencode(input: Uint8Array): Buffer {
  const text = Buffer.from(input).toString('latin1');
  const lines = text.split(/\r?\n|\r/);
  let start = lines.findIndex((l) => /^begin(-base64)?\s/i.test(l));
  start = start < 0 ? 0 : start + 1;
  const chunks: Buffer[] = [];
  for (let k = start; k < lines.length; k++) {
    const line = lines[k]!;
    if (/^end\s*$/i.test(line)) break;
    if (line.length === 0) continue;
    const len = (line.charCodeAt(0) - 32) & 63;
    if (len === 0) continue;
    const bytes = Buffer.alloc(len);
    let n = 0;
    for (let i = 1; n < len && i < line.length; i += 4) {
      const q = [0, 1, 2, 3].map((o) => ((line.charCodeAt(i + o) || 32) - 32) & 63);
      const triple = [(q[0]! << 2) | (q[1]! >> 4), ((q[1]! & 15) << 4) | (q[2]! >> 2), ((q[2]! & 3) << 6) | q[3]!];
      for (const b of triple) if (n < len) bytes[n++] = b & 0xff;
    }
    chunks.push(bytes.subarray(0, n));
  }
  return Buffer.concat(chunks);
}

/** Decode a part body by its Content-Transfer-Encoding header value. */
export function decodeTransfer(body: Uint8Array, cte: string | undefined): Buffer {
  switch (normaliseTransferEncoding(cte)) {
    case 'base64':
      return decodeBase64(body);
    case 'quoted-printable':
      return decodeQuotedPrintable(body);
    case 'x-uuencode':
      return decodeUuencode(body);
    default:
      return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  }
}
