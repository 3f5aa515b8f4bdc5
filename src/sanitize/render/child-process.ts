/**
 * Process plumbing of the renderer child: stdout is the data channel and nothing else may write to it,
 * so console output (MuPDF warnings included) is sent to stderr before any module can print.
 */
import { parseChildArgs, type Sink } from './child-common.js';
import { runChild } from './child-main.js';
import { warmUp } from './child-warmup.js';
import { warmUpMutoolPath } from './child-mutool.js';

function stdoutSink(): Sink {
  return {
    write: (b) =>
      new Promise<void>((resolve, reject) => {
        process.stdout.write(b, (err) => (err ? reject(err) : resolve()));
      }),
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
  await runChild(args, input, stdoutSink());
  // Exit explicitly once the data channel is flushed: a lingering handle must not keep a renderer alive.
  process.stdout.end(() => process.exit(0));
}
