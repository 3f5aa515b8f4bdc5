/**
 * Process plumbing of the renderer child: stdout is the data channel and nothing else may write to it,
 * so console output (MuPDF warnings included) is sent to stderr before any module can print.
 */
import { createWriteStream } from 'node:fs';
import { parseChildArgs, type Sink } from './common.js';
import { runChild } from './main.js';
import { warmUp } from './warmup.js';
import { warmUpMutoolPath } from './mutool.js';

/** Bytes the child may have queued for the parent before it waits: about two pages at 150 DPI. */
const QUEUED_BYTES = 16 * 1024 * 1024;

/**
 * The data channel. Written through libuv's threadpool rather than process.stdout, whose writes to a pipe
 * block the child until the parent has read them: the child keeps draining native MuPDF's pipe (and MuPDF
 * keeps drawing) while the parent reads, instead of the three taking turns. Back-pressure: at most
 * QUEUED_BYTES wait in the child.
 */
function stdoutSink(): Sink & { close(): Promise<void> } {
  const out = createWriteStream('', { fd: 1, highWaterMark: QUEUED_BYTES, autoClose: false });
  let failed: Error | undefined;
  out.on('error', (e) => {
    failed = e;
  });
  return {
    write: (b) => {
      if (failed) return Promise.reject(failed);
      if (out.write(b)) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const onDrain = (): void => {
          out.off('error', onError);
          resolve();
        };
        const onError = (e: Error): void => {
          out.off('drain', onDrain);
          reject(e);
        };
        out.once('drain', onDrain);
        out.once('error', onError);
      });
    },
    close: () => new Promise<void>((resolve) => out.end(() => resolve())),
  };
}

async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export async function runRendererProcess(argv: string[]): Promise<void> {
  const toStderr = (...a: unknown[]): void => {
    process.stderr.write(`${a.map(String).join(' ')}\n`);
  };
  // Rerouting, not printing: stdout belongs to the frames.
  Object.assign(console, { log: toStderr, info: toStderr, warn: toStderr, debug: toStderr });
  const args = parseChildArgs(argv);
  // Load and warm MuPDF.js before the input arrives: a spare child is then ready the moment a document comes.
  // Native MuPDF starts in milliseconds: nothing to load in advance.
  if (args.mode !== 'pdf' || args.engine === 'mupdfjs') {
    const mupdf = await import('mupdf');
    if (args.mode === 'pdf' && process.env.MUKAIKA_RENDERER_WARMUP === '1') warmUp(mupdf, args.dpi);
  } else if (process.env.MUKAIKA_RENDERER_WARMUP === '1') await warmUpMutoolPath();
  const input = await readStdin();
  const sink = stdoutSink();
  await runChild(args, input, sink);
  // Exit explicitly once the data channel is flushed: a lingering handle must not keep a renderer alive.
  await sink.close();
  process.exit(0);
}
