import { FRAME, MAGIC, VERSION, childErrorName, type ChildErrorName } from '../../sandboxed/renderer/protocol.js';

/** What the trusted side accepts from a renderer, whatever the child claims. */
export interface FrameLimits {
  maxPages: number;
  maxWidth: number;
  maxHeight: number;
  maxPagePixels: number;
  /** Sum of all pixel bytes of all pages. */
  maxTotalBytes: number;
}

export type Frame =
  | { type: 'doc'; pages: number }
  | { type: 'page'; index: number; width: number; height: number; channels: 1 | 2 | 3 | 4; pixels: Buffer }
  | { type: 'error'; code: ChildErrorName };

/** Why the reader stopped trusting the stream. `LIMIT_*` are verdicts; `BAD_FRAME` means a broken child. */
export type ViolationCode = 'LIMIT_PAGES' | 'LIMIT_PIXELS' | 'BAD_FRAME';

export class FrameViolation extends Error {
  constructor(
    readonly code: ViolationCode,
    detail: string,
  ) {
    super(`${code}: ${detail}`);
    this.name = 'FrameViolation';
  }
}

/** Pulls exact byte counts out of a chunked stream, holding no more than asked for plus one chunk. */
class ByteQueue {
  private chunks: Buffer[] = [];
  private size = 0;
  private done = false;
  constructor(private readonly it: AsyncIterator<Buffer | Uint8Array | string>) {}

  /** False when the stream ended before `n` bytes were available. */
  async fill(n: number): Promise<boolean> {
    while (this.size < n && !this.done) {
      const r = await this.it.next();
      if (r.done) this.done = true;
      else {
        const b = typeof r.value === 'string' ? Buffer.from(r.value, 'latin1') : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
        this.chunks.push(b);
        this.size += b.length;
      }
    }
    return this.size >= n;
  }

  async take(n: number, what: string): Promise<Buffer> {
    if (!(await this.fill(n))) throw new FrameViolation('BAD_FRAME', `truncated ${what}`);
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.size = rest.length;
    return out;
  }

  async atEnd(): Promise<boolean> {
    return !(await this.fill(1));
  }
}

function checkedInt(untrusted: number, min: number, max: number, code: ViolationCode, what: string): number {
  if (!Number.isSafeInteger(untrusted) || untrusted < min || untrusted > max) {
    throw new FrameViolation(code, `${what} ${untrusted} outside ${min}..${max}`);
  }
  return untrusted;
}

/**
 * Read frames from a renderer's stdout, checking every value against `limits` before it is used for
 * anything (an allocation included). Throws FrameViolation at the first violation; the caller then kills
 * the child and stops reading. Yields the doc frame, each page in order, or one error frame.
 */
export async function* readFrames(stream: AsyncIterable<Buffer | Uint8Array | string>, limits: FrameLimits): AsyncGenerator<Frame> {
  const q = new ByteQueue(stream[Symbol.asyncIterator]());
  const untrustedHead = await q.take(MAGIC.length + 1, 'header');
  if (!untrustedHead.subarray(0, MAGIC.length).equals(MAGIC) || untrustedHead[MAGIC.length] !== VERSION) {
    throw new FrameViolation('BAD_FRAME', 'bad magic or version');
  }
  let pages = -1;
  let next = 0;
  let totalBytes = 0;
  for (;;) {
    const untrustedType = (await q.take(1, 'frame type'))[0];
    if (untrustedType === FRAME.ERROR) {
      const untrustedCode = (await q.take(2, 'error code')).readUInt16BE(0);
      const code = childErrorName(untrustedCode) ?? 'INTERNAL';
      if (!(await q.atEnd())) throw new FrameViolation('BAD_FRAME', 'bytes after error frame');
      yield { type: 'error', code };
      return;
    }
    if (pages < 0) {
      if (untrustedType !== FRAME.DOC) throw new FrameViolation('BAD_FRAME', 'first frame is not a doc frame');
      const untrustedPages = (await q.take(4, 'page count')).readUInt32BE(0);
      if (untrustedPages === 0) throw new FrameViolation('BAD_FRAME', 'zero pages');
      pages = checkedInt(untrustedPages, 1, limits.maxPages, 'LIMIT_PAGES', 'page count');
      yield { type: 'doc', pages };
      continue;
    }
    if (untrustedType === FRAME.END) {
      if (next !== pages) throw new FrameViolation('BAD_FRAME', `end after ${next} of ${pages} pages`);
      if (!(await q.atEnd())) throw new FrameViolation('BAD_FRAME', 'bytes after end frame');
      return;
    }
    if (untrustedType !== FRAME.PAGE) throw new FrameViolation('BAD_FRAME', `unknown frame type ${untrustedType}`);
    const h = await q.take(13, 'page header');
    const index = h.readUInt32BE(0);
    if (index !== next || next >= pages) throw new FrameViolation('BAD_FRAME', `page ${index} where ${next} of ${pages} expected`);
    const width = checkedInt(h.readUInt32BE(4), 1, limits.maxWidth, 'LIMIT_PIXELS', 'width');
    const height = checkedInt(h.readUInt32BE(8), 1, limits.maxHeight, 'LIMIT_PIXELS', 'height');
    checkedInt(width * height, 1, limits.maxPagePixels, 'LIMIT_PIXELS', 'page pixels');
    const channels = checkedInt(h[12]!, 1, 4, 'BAD_FRAME', 'channels') as 1 | 2 | 3 | 4;
    const bytes = width * height * channels;
    totalBytes += bytes;
    checkedInt(totalBytes, 0, limits.maxTotalBytes, 'LIMIT_PIXELS', 'total pixel bytes');
    const pixels = await q.take(bytes, 'pixels');
    next++;
    yield { type: 'page', index, width, height, channels, pixels };
  }
}

