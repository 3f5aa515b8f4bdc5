import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CHILD_ERROR, encodeDoc, encodeEnd, encodeError, encodePageHeader, encodeStart, FRAME } from '../src/sandboxed/renderer/protocol.js';
import { FrameViolation, readFrames, type Frame, type FrameLimits } from '../src/sanitize/render/reader.js';

const limits: FrameLimits = { maxPages: 5, maxWidth: 100, maxHeight: 100, maxPagePixels: 5000, maxTotalBytes: 100_000 };

async function read(bytes: Buffer, chunk = 7, l = limits): Promise<Frame[]> {
  // Odd chunk sizes: the reader must not assume frames arrive whole.
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += chunk) parts.push(bytes.subarray(i, i + chunk));
  const frames: Frame[] = [];
  for await (const f of readFrames(Readable.from(parts), l)) frames.push(f);
  return frames;
}

async function violation(bytes: Buffer, l = limits): Promise<string> {
  try {
    await read(bytes, 5, l);
  } catch (e) {
    if (e instanceof FrameViolation) return e.code;
    throw e;
  }
  return 'none';
}

const page = (i: number, w: number, h: number, c: number, fill = 0): Buffer => Buffer.concat([encodePageHeader(i, w, h, c), Buffer.alloc(w * h * c, fill)]);
const ok = (): Buffer => Buffer.concat([encodeStart(), encodeDoc(2), page(0, 10, 10, 1, 200), page(1, 4, 3, 3, 9), encodeEnd()]);

describe('frame reader', () => {
  it('reads a well-formed stream in any chunking', async () => {
    for (const chunk of [1, 3, 64, 100_000]) {
      const frames = await read(ok(), chunk);
      expect(frames.map((f) => f.type)).toEqual(['doc', 'page', 'page']);
      const p = frames[2] as Extract<Frame, { type: 'page' }>;
      expect([p.width, p.height, p.channels, p.pixels.length, p.pixels[0]]).toEqual([4, 3, 3, 36, 9]);
    }
  });

  it('passes an error frame through as a code only', async () => {
    const frames = await read(Buffer.concat([encodeStart(), encodeError(CHILD_ERROR.ENCRYPTED)]));
    expect(frames).toEqual([{ type: 'error', code: 'ENCRYPTED' }]);
    const unknown = await read(Buffer.concat([encodeStart(), encodeError(65535)]));
    expect(unknown).toEqual([{ type: 'error', code: 'INTERNAL' }]);
  });

  it('refuses a bad magic or version', async () => {
    expect(await violation(Buffer.from('MKRG\x01'))).toBe('BAD_FRAME');
    expect(await violation(Buffer.from('MKRF\x02'))).toBe('BAD_FRAME');
    expect(await violation(Buffer.alloc(0))).toBe('BAD_FRAME');
  });

  it('refuses page counts over the limit, zero and huge', async () => {
    expect(await violation(Buffer.concat([encodeStart(), encodeDoc(6)]))).toBe('LIMIT_PAGES');
    expect(await violation(Buffer.concat([encodeStart(), encodeDoc(0xffffffff)]))).toBe('LIMIT_PAGES');
    expect(await violation(Buffer.concat([encodeStart(), encodeDoc(0)]))).toBe('BAD_FRAME');
  });

  it('refuses huge declared sizes before reading (or allocating) the pixels', async () => {
    // Header only: a reader that allocated width*height*channels first would die here.
    const huge = Buffer.concat([encodeStart(), encodeDoc(1), encodePageHeader(0, 0xffffffff, 0xffffffff, 4)]);
    expect(await violation(huge)).toBe('LIMIT_PIXELS');
    expect(await violation(Buffer.concat([encodeStart(), encodeDoc(1), encodePageHeader(0, 101, 1, 1)]))).toBe('LIMIT_PIXELS');
    expect(await violation(Buffer.concat([encodeStart(), encodeDoc(1), encodePageHeader(0, 1, 101, 1)]))).toBe('LIMIT_PIXELS');
    expect(await violation(Buffer.concat([encodeStart(), encodeDoc(1), encodePageHeader(0, 100, 100, 1)]))).toBe('LIMIT_PIXELS');
  });

  it('refuses zero, "negative" (high-bit) and bad channel values', async () => {
    const hdr = (w: number, h: number, c: number): Buffer => Buffer.concat([encodeStart(), encodeDoc(1), encodePageHeader(0, w, h, c)]);
    expect(await violation(hdr(0, 10, 1))).toBe('LIMIT_PIXELS');
    expect(await violation(hdr(10, 0, 1))).toBe('LIMIT_PIXELS');
    expect(await violation(hdr(0x80000000, 1, 1))).toBe('LIMIT_PIXELS'); // -2^31 if read as signed
    expect(await violation(hdr(10, 10, 0))).toBe('BAD_FRAME');
    expect(await violation(hdr(10, 10, 5))).toBe('BAD_FRAME');
    expect(await violation(hdr(10, 10, 255))).toBe('BAD_FRAME');
  });

  it('enforces the total pixel bytes across pages', async () => {
    const l = { ...limits, maxTotalBytes: 150 };
    expect(await violation(Buffer.concat([encodeStart(), encodeDoc(2), page(0, 10, 10, 1), page(1, 10, 10, 1), encodeEnd()]), l)).toBe('LIMIT_PIXELS');
  });

  it('refuses truncated streams, wrong page order, early end and extra bytes', async () => {
    const full = ok();
    for (const cut of [3, 6, 9, 20, full.length - 1]) expect(await violation(full.subarray(0, cut))).toBe('BAD_FRAME');
    expect(await violation(Buffer.concat([full, Buffer.from([0])]))).toBe('BAD_FRAME');
    expect(await violation(Buffer.concat([encodeStart(), encodeDoc(2), page(1, 2, 2, 1), page(0, 2, 2, 1), encodeEnd()]))).toBe('BAD_FRAME');
    expect(await violation(Buffer.concat([encodeStart(), encodeDoc(2), page(0, 2, 2, 1), encodeEnd()]))).toBe('BAD_FRAME');
    expect(await violation(Buffer.concat([encodeStart(), encodeDoc(1), page(0, 2, 2, 1), page(1, 2, 2, 1), encodeEnd()]))).toBe('BAD_FRAME');
    expect(await violation(Buffer.concat([encodeStart(), encodeError(2), Buffer.from('leak')]))).toBe('BAD_FRAME');
    expect(await violation(Buffer.concat([encodeStart(), page(0, 2, 2, 1)]))).toBe('BAD_FRAME');
    expect(await violation(Buffer.concat([encodeStart(), encodeDoc(1), Buffer.from([FRAME.DOC])]))).toBe('BAD_FRAME');
    expect(await violation(Buffer.concat([encodeStart(), encodeDoc(1), Buffer.from('?')]))).toBe('BAD_FRAME');
  });
});
