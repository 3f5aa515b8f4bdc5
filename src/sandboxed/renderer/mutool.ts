/**
 * Runs INSIDE the renderer child: PDFs rendered by native MuPDF (`mutool`, Debian's mupdf-tools) in the
 * same sandbox, cgroup and process group as the child itself (docs/renderer.md, "PDF engine").
 *
 * Why: a fresh MuPDF.js process compiles ~10 MB of WASM and starts with cold caches, about 1 s of CPU per
 * document before its first page; native MuPDF starts in milliseconds and draws the same pages. Two steps:
 * 1. `mutool run workers/pdf-inspect.js`: open, password, page count, page boxes, the CJK font repair;
 *    a repaired or decrypted copy is written to the child's private temp directory.
 * 2. `mutool draw -F pnm -c rgb -o -`: every page as binary PPM on a pipe, turned into our frames here.
 * The child trusts neither step's output more than the input: sizes are checked before a page is drawn and
 * again on every PPM header, and the trusted side checks the frames once more.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../paths.js';
import { CHILD_ERROR, encodeDoc, encodeEnd, MUTOOL } from './protocol.js';
import { ChildFailure, writePage, type ChildArgs, type Sink } from './common.js';
import { grayIfNeutral, pageSize } from './pixels.js';

const INSPECT_SCRIPT = path.join(PACKAGE_ROOT, 'workers', 'pdf-inspect.js');
/** The inspection's answer: a status and at most maxPages boxes; anything longer is not from our script. */
const MAX_INSPECT_BYTES = 4 * 1024 * 1024;

interface Inspection {
  status: 'ok' | 'encrypted' | 'wrong-password' | 'corrupt' | 'no-pages';
  pages?: number;
  bounds?: number[][];
  rewritten?: boolean;
}

function parseInspection(out: string, maxPages: number): Inspection {
  let v: unknown;
  try {
    v = JSON.parse(out.trim().split('\n').pop() ?? '');
  } catch {
    throw new ChildFailure(CHILD_ERROR.INTERNAL);
  }
  const o = v as Inspection;
  if (typeof o !== 'object' || o === null || !['ok', 'encrypted', 'wrong-password', 'corrupt', 'no-pages'].includes(o.status)) throw new ChildFailure(CHILD_ERROR.INTERNAL);
  if (o.status !== 'ok') return o;
  if (!Number.isSafeInteger(o.pages) || (o.pages ?? 0) < 1 || !Array.isArray(o.bounds) || typeof o.rewritten !== 'boolean') throw new ChildFailure(CHILD_ERROR.INTERNAL);
  const pages = o.pages!;
  if (pages <= maxPages && (o.bounds.length !== pages || !o.bounds.every((b) => Array.isArray(b) && b.length === 4 && b.every((x) => typeof x === 'number' && Number.isFinite(x))))) {
    throw new ChildFailure(CHILD_ERROR.INTERNAL);
  }
  return o;
}

/**
 * Native MuPDF gave up on the document (it failed, or flooded stderr the way MuPDF 1.21 does on some
 * recursive fonts) after `pagesSent` pages: the child hands the rest to MuPDF.js, a newer MuPDF with its
 * own fixes, in the same sandbox. `count` is the page count already announced, if any.
 */
export class MutoolGaveUp extends Error {
  constructor(
    readonly pagesSent: number,
    readonly count?: number,
  ) {
    super(`native MuPDF gave up after ${pagesSent} pages`);
  }
}

/** More warnings than this from one mutool run means it is looping on an error: it is stopped. */
const MAX_STDERR_BYTES = 256 * 1024;
/** How much of mutool's stderr is passed on to the parent's logs. */
const STDERR_PASSED = 8 * 1024;

/** Pass the start of a mutool's stderr to ours (the parent logs a tail); kill it if it never stops talking. */
function watchStderr(p: ChildProcess, onFlood: () => void): void {
  let seen = 0;
  p.stderr?.on('data', (b: Buffer) => {
    if (seen < STDERR_PASSED) process.stderr.write(b.subarray(0, STDERR_PASSED - seen));
    seen += b.length;
    if (seen > MAX_STDERR_BYTES) {
      p.kill('SIGKILL');
      onFlood();
    }
  });
}

/** Run a mutool step and collect its (small) stdout. */
function runMutool(args: string[], stdin: string, maxOut: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn(MUTOOL, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    watchStderr(p, () => {});
    const chunks: Buffer[] = [];
    let size = 0;
    p.stdout.on('data', (b: Buffer) => {
      size += b.length;
      if (size > maxOut) p.kill('SIGKILL');
      else chunks.push(b);
    });
    p.stdin.on('error', () => {});
    p.stdin.end(stdin);
    p.once('error', reject);
    p.once('close', (code) => resolve({ code: size > maxOut ? -1 : code, out: Buffer.concat(chunks).toString('utf8') }));
  });
}

/**
 * Binary PPM/PGM pages as `mutool draw -F pnm` writes them ("P6\n<w> <h>\n255\n" + pixels), one after the
 * other on a pipe; each page is checked against the size the inspection announced before it is buffered.
 */
async function* pnmPages(stream: AsyncIterable<Buffer>, expected: { width: number; height: number }[]): AsyncGenerator<{ width: number; height: number; channels: 1 | 3; pixels: Uint8Array }> {
  let buf: Buffer = Buffer.alloc(0);
  let page: { width: number; height: number; channels: 1 | 3; pixels: Uint8Array; filled: number } | undefined;
  let index = 0;
  for await (const chunk of stream) {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (!page) {
        // Header: three whitespace-terminated lines, at most a few dozen bytes.
        const m = /^P([56])\n(\d{1,6}) (\d{1,6})\n255\n/.exec(buf.subarray(0, 64).toString('latin1'));
        if (!m) {
          if (buf.length >= 64 || (buf.length > 0 && buf[0] !== 0x50)) throw new ChildFailure(CHILD_ERROR.INTERNAL);
          break;
        }
        const width = Number(m[2]);
        const height = Number(m[3]);
        const want = expected[index];
        // MuPDF rounds the box outwards: one pixel either way of our own computation.
        if (!want || Math.abs(width - want.width) > 1 || Math.abs(height - want.height) > 1 || width < 1 || height < 1) throw new ChildFailure(CHILD_ERROR.INTERNAL);
        const channels = m[1] === '6' ? 3 : 1;
        page = { width, height, channels, pixels: new Uint8Array(width * height * channels), filled: 0 };
        buf = buf.subarray(m[0].length);
      }
      const take = Math.min(buf.length, page.pixels.length - page.filled);
      page.pixels.set(buf.subarray(0, take), page.filled);
      page.filled += take;
      buf = buf.subarray(take);
      if (page.filled < page.pixels.length) break;
      yield page;
      page = undefined;
      index++;
    }
  }
  if (page || buf.length > 0) throw new ChildFailure(CHILD_ERROR.INTERNAL);
}

/**
 * Run this module's per-pixel code on synthetic pages before a document arrives: a fresh child's JIT would
 * otherwise compile it during the first pages of the document (measured: the gray check 14 ms → 6 ms per
 * page once optimised). Only built-in bytes are involved; no state is kept.
 */
export async function warmUpMutoolPath(): Promise<void> {
  const width = 600;
  const height = 800;
  const page = Buffer.alloc(width * height * 3, 0xff);
  const header = Buffer.from(`P6\n${width} ${height}\n255\n`, 'latin1');
  async function* chunks(): AsyncGenerator<Buffer> {
    for (let i = 0; i < 4; i++) {
      yield header;
      for (let o = 0; o < page.length; o += 65536) yield page.subarray(o, o + 65536);
    }
  }
  for await (const p of pnmPages(chunks(), Array.from({ length: 4 }, () => ({ width, height })))) grayIfNeutral(p.pixels, p.width, p.height);
}

export async function renderPdfWithMutool(input: Uint8Array, password: string, args: ChildArgs, sink: Sink): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mkrf-'));
  try {
    const inPath = path.join(dir, 'in.pdf');
    const fixedPath = path.join(dir, 'fixed.pdf');
    writeFileSync(inPath, input);
    const hex = Buffer.from(password, 'utf8').toString('hex');
    const inspected = await runMutool(['run', INSPECT_SCRIPT, inPath, fixedPath, String(args.maxPages)], `${hex}\n`, MAX_INSPECT_BYTES);
    // MuPDF.js gets its own try at a file native MuPDF could not even open.
    if (inspected.code !== 0) throw new MutoolGaveUp(0);
    const info = parseInspection(inspected.out, args.maxPages);
    if (info.status === 'corrupt') throw new MutoolGaveUp(0);
    if (info.status === 'encrypted') throw new ChildFailure(CHILD_ERROR.ENCRYPTED);
    if (info.status === 'wrong-password') throw new ChildFailure(CHILD_ERROR.WRONG_PASSWORD);
    if (info.status === 'no-pages') throw new ChildFailure(CHILD_ERROR.NO_PAGES);
    const count = info.pages!;
    await sink.write(encodeDoc(count));
    if (count > args.maxPages) return; // the reader refuses the doc frame; rendering would be wasted work
    const scale = args.dpi / 72;
    // Every page's size is refused before any page is drawn (a giant page cannot cost a render).
    const sizes = info.bounds!.map((b) => pageSize(b, scale, args));
    const source = info.rewritten ? fixedPath : inPath;
    const draw = spawn(MUTOOL, ['draw', '-q', '-r', String(args.dpi), '-F', 'pnm', '-c', 'rgb', '-o', '-', source, `1-${count}`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let flooded = false;
    watchStderr(draw, () => {
      flooded = true;
    });
    const exited = new Promise<number | null>((resolve) => draw.once('close', (code) => resolve(code)));
    draw.once('error', () => {});
    let i = 0;
    try {
      for await (const p of pnmPages(draw.stdout, sizes)) {
        await writePage(sink, i++, p.channels === 3 ? grayIfNeutral(p.pixels, p.width, p.height) : { width: p.width, height: p.height, channels: 1, pixels: p.pixels });
      }
    } catch (e) {
      draw.kill('SIGKILL');
      // A PPM stream that does not match the announced pages (mutool died mid-page, say): the rest goes to MuPDF.js.
      if (e instanceof ChildFailure && e.code === CHILD_ERROR.INTERNAL) throw new MutoolGaveUp(i, count);
      throw e;
    }
    const code = await exited;
    // A page native MuPDF could not draw (non-zero exit, or a flood of errors): MuPDF.js draws the rest.
    if (flooded || code !== 0 || i !== count) throw new MutoolGaveUp(i, count);
    await sink.write(encodeEnd());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
