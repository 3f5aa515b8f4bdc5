/** Gateway side: run the archive child and read its frames back, enforcing every limit again. */
import { workerEntry } from '../../paths.js';
import { runIsolated } from '../../isolation/spawn.js';
import type { SanitizeContext } from '../types.js';
import { budgetSignal } from '../work-budget.js';
import type { PartAction } from '../../domain/manifest.js';
import type { ReasonCode } from '../../domain/reasons.js';
import { encodeRequest, RATIO_FLOOR, type ChildRequest, type ExpandLimits } from '../../sandboxed/archive/protocol.js';
import { readUntrustedEntries, type UntrustedEntry } from './reader.js';

export type ChildRun =
  | { ok: true; entries: UntrustedEntry[] }
  | { ok: false; action: Extract<PartAction, 'removed' | 'held'>; reason: ReasonCode };

/** Frame overhead allowance per entry (flags, lengths, names) on top of the data bytes. */
const PER_ENTRY_OVERHEAD = 2 * 4096 + 16;

/** The end codes a child may send and what each means here; anything else is a failed renderer. */
const END_CODES: Record<string, ChildRun> = {
  LIMIT_ARCHIVE: { ok: false, action: 'removed', reason: 'LIMIT_ARCHIVE' },
  ENCRYPTED: { ok: false, action: 'held', reason: 'ENCRYPTED' },
  WRONG_PASSWORD: { ok: false, action: 'held', reason: 'WRONG_PASSWORD' },
  CORRUPT: { ok: false, action: 'removed', reason: 'CORRUPT' },
};

/** Test hook: another child entry (e.g. one that crashes) instead of workers/archive. */
export interface RunOptions {
  entry?: string[];
}

export async function runArchiveChild(
  op: ChildRequest['op'],
  untrustedBytes: Buffer,
  limits: ExpandLimits,
  ctx: SanitizeContext,
  password?: string,
  opts: RunOptions = {},
): Promise<ChildRun> {
  const l = ctx.config.sanitize.limits;
  const request: ChildRequest = { op, limits, ...(password !== undefined ? { password } : {}) };
  // Entries count against the mail's work budget; its end stops the expansion too (work-budget.ts).
  const signal = budgetSignal(ctx);
  const run = await runIsolated({
    entry: opts.entry ?? workerEntry('archive'),
    input: encodeRequest(request, untrustedBytes),
    timeoutMs: l.documentTimeoutMs,
    memoryMb: l.rendererMemoryMb,
    maxOutputBytes: limits.totalBytes + limits.entries * PER_ENTRY_OVERHEAD + 1024,
    log: ctx.log,
    name: `archive-${op}`,
    ...(signal ? { signal } : {}),
  });
  ctx.budget?.chargeCpu(run.cpuMs);
  // A child that ran out of memory or wrote more than the limits allow was expanding a bomb.
  if (run.truncated || run.end === 'memory') return { ok: false, action: 'removed', reason: 'LIMIT_ARCHIVE' };
  if (run.end === 'timeout' || run.end === 'idle-timeout') return { ok: false, action: 'held', reason: 'RENDERER_TIMEOUT' };
  if (run.end !== 'exit' || run.exitCode !== 0) return { ok: false, action: 'held', reason: 'RENDERER_FAILED' };
  let frames: ReturnType<typeof readUntrustedEntries>;
  try {
    frames = readUntrustedEntries(run.stdout, { entries: limits.entries, entryBytes: limits.entryBytes, totalBytes: limits.totalBytes });
  } catch (e) {
    const msg = (e as Error).message;
    ctx.log.warn({ err: msg, op }, 'archive child output refused');
    return msg.startsWith('LIMIT_ARCHIVE') ? { ok: false, action: 'removed', reason: 'LIMIT_ARCHIVE' } : { ok: false, action: 'held', reason: 'RENDERER_FAILED' };
  }
  if (frames.untrustedCode !== 'OK') {
    return Object.hasOwn(END_CODES, frames.untrustedCode) ? END_CODES[frames.untrustedCode]! : { ok: false, action: 'held', reason: 'RENDERER_FAILED' };
  }
  const total = frames.entries.reduce((n, e) => n + e.untrustedData.length, 0);
  if (total > RATIO_FLOOR && total > limits.ratio * Math.max(untrustedBytes.length, 1)) {
    return { ok: false, action: 'removed', reason: 'LIMIT_ARCHIVE' };
  }
  return { ok: true, entries: frames.entries };
}
