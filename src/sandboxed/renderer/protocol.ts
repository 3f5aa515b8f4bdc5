/**
 * The renderer's data channel (docs/renderer.md). Shared by the child (writer) and the trusted reader;
 * this module holds only constants and pure encoders, nothing that parses untrusted input.
 *
 *   stream   = MAGIC "MKRF" · version u8 · (doc page* end | error) — nothing after the last frame
 *   doc      = 'D' · pageCount u32
 *   page     = 'P' · index u32 · width u32 · height u32 · channels u8 · width×height×channels bytes
 *   end      = 'Z'
 *   error    = 'E' · code u16
 * All integers big-endian, unsigned. Pixels are 8-bit, row-major, no padding; channels 1 = gray,
 * 2 = gray+alpha, 3 = RGB, 4 = RGBA.
 */
export const MAGIC = Buffer.from('MKRF', 'latin1');

/** Native MuPDF (Debian's mupdf-tools): the trusted side checks it is there, the child runs it. */
export const MUTOOL = '/usr/bin/mutool';
export const VERSION = 1;

export const FRAME = { DOC: 0x44, PAGE: 0x50, END: 0x5a, ERROR: 0x45 } as const;

/** Error codes the child may send: only a number crosses the boundary, the trusted side picks the meaning. */
export const CHILD_ERROR = {
  INTERNAL: 1,
  CORRUPT: 2,
  ENCRYPTED: 3,
  WRONG_PASSWORD: 4,
  LIMIT_PIXELS: 5,
  LIMIT_PAGES: 6,
  UNSUPPORTED: 7,
  NO_PAGES: 8,
} as const;

export type ChildErrorName = keyof typeof CHILD_ERROR;

export function childErrorName(code: number): ChildErrorName | undefined {
  return (Object.keys(CHILD_ERROR) as ChildErrorName[]).find((k) => CHILD_ERROR[k] === code);
}

export function encodeStart(): Buffer {
  return Buffer.concat([MAGIC, Buffer.from([VERSION])]);
}

export function encodeDoc(pageCount: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = FRAME.DOC;
  b.writeUInt32BE(pageCount, 1);
  return b;
}

/** Page header; the pixel bytes follow it separately (no copy of a large buffer). */
export function encodePageHeader(index: number, width: number, height: number, channels: number): Buffer {
  const b = Buffer.alloc(14);
  b[0] = FRAME.PAGE;
  b.writeUInt32BE(index, 1);
  b.writeUInt32BE(width, 5);
  b.writeUInt32BE(height, 9);
  b[13] = channels;
  return b;
}

export function encodeEnd(): Buffer {
  return Buffer.from([FRAME.END]);
}

export function encodeError(code: number): Buffer {
  const b = Buffer.alloc(3);
  b[0] = FRAME.ERROR;
  b.writeUInt16BE(code, 1);
  return b;
}

/** Input to the child on stdin: password length u32 · password UTF-8 · document bytes. Keeps secrets out of argv. */
export function encodeChildInput(document: Uint8Array, password?: string): Buffer {
  const pw = Buffer.from(password ?? '', 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(pw.length, 0);
  return Buffer.concat([len, pw, document]);
}
