/**
 * Big text-like attachments (text, CSV/TSV, HTML) are converted in a worker thread with its own V8 heap
 * limit: the passes are linear and bounded, but a heap exhaustion there ends the thread and holds that part
 * (TOO_LARGE), where on the worker's own heap it would kill every job of the process. The thread also keeps
 * the event loop free for the other jobs, and is terminated when the mail's work budget runs out.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Config } from '../../config/schema.js';
import { silentLogger } from '../../log.js';
import { PACKAGE_ROOT, RUNNING_FROM_SOURCE } from '../../paths.js';
import { Slots } from '../slots.js';
import type { PartResult, SanitizeContext } from '../types.js';
import { budgetTimeout, inSlot } from '../work-budget.js';
import { convertText, type TextKind } from './text.js';

/** Smaller inputs are converted in place: starting a thread costs more than they do. */
export const THREAD_MIN_BYTES = 1 << 20;
/** Heap of the thread: several times what a 50 MB attachment needs (docs/RELIABILITY.md, "Work budget"). */
const THREAD_HEAP_MB = 512;
/** One text thread per process, so their heaps do not add up whatever `queue.sanitizeConcurrency` is (docs/DESIGN.md §9). */
const TEXT_THREADS = new Slots(1);

interface TextJob {
  bytes: Uint8Array;
  kind: TextKind;
  baseName: string;
  declaredCharset: string | undefined;
  config: Config;
}

/** Inside the thread. */
export function runTextJob(job: TextJob): PartResult {
  const bytes = Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength);
  return convertText(bytes, job.kind, { config: job.config, log: silentLogger }, job.baseName, job.declaredCharset);
}

function threadEntry(): { file: string; entry?: string } {
  if (RUNNING_FROM_SOURCE) {
    return { file: path.join(PACKAGE_ROOT, 'workers', 'tsx-boot.mjs'), entry: pathToFileURL(path.join(PACKAGE_ROOT, 'workers', 'text.ts')).href };
  }
  return { file: path.join(PACKAGE_ROOT, 'dist', 'workers', 'text.js') };
}

/** convertText, in a heap-limited thread for inputs from THREAD_MIN_BYTES on. */
export async function convertTextBounded(
  untrustedBytes: Buffer, kind: TextKind, ctx: SanitizeContext, baseName: string, declaredCharset?: string,
  heapMb = THREAD_HEAP_MB,
): Promise<PartResult> {
  if (untrustedBytes.length < THREAD_MIN_BYTES) return convertText(untrustedBytes, kind, ctx, baseName, declaredCharset);
  return inSlot(ctx, TEXT_THREADS, () => inThread(untrustedBytes, kind, ctx, baseName, declaredCharset, heapMb));
}

function inThread(
  untrustedBytes: Buffer, kind: TextKind, ctx: SanitizeContext, baseName: string, declaredCharset: string | undefined, heapMb: number,
): Promise<PartResult> {
  const detectedType = { text: 'text/plain', csv: 'text/csv', tsv: 'text/tab-separated-values', html: 'text/html' }[kind];
  const { file, entry } = threadEntry();
  const job: TextJob = { bytes: new Uint8Array(untrustedBytes), kind, baseName, declaredCharset, config: ctx.config };
  return new Promise<PartResult>((resolve, reject) => {
    const worker = new Worker(file, {
      workerData: entry ? { ...job, entry } : job,
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
      stdout: true,
      stderr: true,
    });
    let settled = false;
    const settle = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      fn();
    };
    // The pass is linear, so its own limit is the document timeout; the mail's budget may cut it shorter.
    const timer = setTimeout(() => settle(() => resolve({ detectedType, action: 'held', reason: 'RENDERER_TIMEOUT' })),
      budgetTimeout(ctx, ctx.config.sanitize.limits.documentTimeoutMs));
    worker.once('message', (untrusted: PartResult) => settle(() => resolve(rebuild(untrusted))));
    worker.once('error', (err: Error & { code?: string }) =>
      settle(() => (err.code === 'ERR_WORKER_OUT_OF_MEMORY' ? resolve({ detectedType, action: 'held', reason: 'TOO_LARGE' }) : reject(err))));
    worker.once('exit', (code) => settle(() => reject(new Error(`text thread exited ${code} without a result`))));
  });
}

/** The structured clone gives back a Uint8Array where the result had a Buffer. */
function rebuild(r: PartResult): PartResult {
  if (!r.output) return r;
  const b = r.output.bytes as Uint8Array;
  return { ...r, output: { ...r.output, bytes: Buffer.from(b.buffer, b.byteOffset, b.byteLength) } };
}
