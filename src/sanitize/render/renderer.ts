import { existsSync } from 'node:fs';
import type { PartAction } from '../../domain/manifest.js';
import type { ReasonCode } from '../../domain/reasons.js';
import { rendererEntry } from './entry.js';
import type { SanitizeContext } from '../types.js';
import { RENDER_SLOTS } from '../slots.js';
import { budgetSignal, inSlot } from '../work-budget.js';
import { spawnIsolated, type ChildOutcome, type IsolatedChild, type RunIsolatedOptions } from '../../isolation/spawn.js';
import type { Bind } from '../../isolation/sandbox.js';
import { encodeChildInput, MUTOOL, type ChildErrorName } from '../../sandboxed/renderer/protocol.js';
import { FrameViolation, readFrames, type FrameLimits } from './reader.js';

/** Largest page side in pixels: 16384 is 109 inches at 150 DPI; wider "pages" are degenerate or hostile. */
export const MAX_PAGE_SIDE = 16384;
/** Largest image side: JPEG's own format limit. Images are bounded by `limits.imagePixels` first. */
export const MAX_IMAGE_SIDE = 65500;
/** All pixel bytes of one document (streamed, never held at once). */
export const MAX_TOTAL_PIXEL_BYTES = 4 * 1024 ** 3;

export type RenderMode = 'pdf' | 'image' | 'svg';

export interface RenderedPage {
  index: number;
  width: number;
  height: number;
  channels: 1 | 2 | 3 | 4;
  pixels: Buffer;
}

export type RenderResult =
  | { ok: true; pages: number; child: ChildOutcome }
  | { ok: false; action: Extract<PartAction, 'held' | 'removed'>; reason: ReasonCode; detail: string; child?: ChildOutcome };

export interface RenderOptions {
  password?: string;
  /**
   * Test hook: another child entry (a renderer that hangs or crashes). Set only by trusted code, never
   * derived from input, so input bytes cannot select it.
   */
  entry?: string[];
  /** Paths a test entry needs visible in the sandbox (its own folder). */
  extraBinds?: Bind[];
}

/**
 * One warm, unused child per argument set: spawned while the previous document renders, so a document
 * never waits for node + MuPDF's WASM to load. Each document still gets a fresh process (nothing carries
 * over between documents); a spare never sees input until it is taken. Per-process cache (docs/DESIGN.md §9): spares are children of
 * this process and carry no document state.
 */
const spares = new Map<string, IsolatedChild>();

function spareKey(o: RunIsolatedOptions): string {
  return JSON.stringify([o.entry, o.args, o.timeoutMs, o.idleTimeoutMs, o.memoryMb]);
}

function takeSpare(spawnOpts: RunIsolatedOptions): IsolatedChild {
  const key = spareKey(spawnOpts);
  const ready = spares.get(key);
  spares.delete(key);
  return ready?.alive() ? ready : spawnIsolated(spawnOpts);
}

/** Start the next spare once a document is done, so that it does not compete with it for the CPU. */
function replenish(spawnOpts: RunIsolatedOptions): void {
  const key = spareKey(spawnOpts);
  if (spares.get(key)?.alive()) return;
  // Only a spare warms up: it has time to spare; a child spawned for a waiting document does not.
  const next = spawnIsolated({ ...spawnOpts, env: { ...spawnOpts.env, MUKAIKA_RENDERER_WARMUP: '1' } });
  spares.set(key, next);
  void next.done.then(() => spares.get(key) === next && spares.delete(key));
}

/** Stop the warm spares (shutdown, tests). They also die with the process (bwrap --die-with-parent). */
export function stopRendererSpares(): void {
  for (const c of spares.values()) c.kill('killed');
  spares.clear();
}

/** Held means "keep the original, staff may retry or unlock"; removed means "this input is refused". */
const CHILD_ERRORS: Record<ChildErrorName, { action: 'held' | 'removed'; reason: ReasonCode }> = {
  INTERNAL: { action: 'held', reason: 'RENDERER_FAILED' },
  CORRUPT: { action: 'removed', reason: 'CORRUPT' },
  NO_PAGES: { action: 'removed', reason: 'CORRUPT' },
  ENCRYPTED: { action: 'held', reason: 'ENCRYPTED' },
  WRONG_PASSWORD: { action: 'held', reason: 'ENCRYPTED' },
  LIMIT_PIXELS: { action: 'removed', reason: 'LIMIT_PIXELS' },
  LIMIT_PAGES: { action: 'held', reason: 'LIMIT_PAGES' },
  UNSUPPORTED: { action: 'removed', reason: 'UNKNOWN_TYPE' },
};

function failure(action: 'held' | 'removed', reason: ReasonCode, detail: string, child?: ChildOutcome): RenderResult {
  return { ok: false, action, reason, detail, ...(child ? { child } : {}) };
}

/**
 * Which MuPDF draws PDFs: native `mutool` (mupdf-tools, installed by scripts/setup.sh) when present, else
 * MuPDF.js. Both run inside the same sandbox and cap and speak the same frames; native starts in
 * milliseconds where MuPDF.js compiles its WASM in every fresh child (docs/renderer.md, "PDF engine").
 * `MUKAIKA_PDF_ENGINE=mupdfjs|mutool` forces one (benchmarks, tests of the fallback).
 */
export function pdfEngine(): 'mutool' | 'mupdfjs' {
  const forced = process.env.MUKAIKA_PDF_ENGINE;
  if (forced === 'mutool' || forced === 'mupdfjs') return forced;
  return existsSync(MUTOOL) ? 'mutool' : 'mupdfjs';
}

/** Pixel limits of one page for `mode`: the child is told them, and the reader enforces them again. */
function pageLimits(mode: RenderMode, ctx: SanitizeContext): { pagePixels: number; maxSide: number } {
  const l = ctx.config.sanitize.limits;
  return mode === 'image' ? { pagePixels: l.imagePixels, maxSide: MAX_IMAGE_SIDE } : { pagePixels: l.pagePixels, maxSide: MAX_PAGE_SIDE };
}

function rendererSpawnOptions(mode: RenderMode, ctx: SanitizeContext, opts: RenderOptions = {}): RunIsolatedOptions {
  const l = ctx.config.sanitize.limits;
  const { pagePixels, maxSide } = pageLimits(mode, ctx);
  return {
    name: `renderer:${mode}`,
    entry: opts.entry ?? rendererEntry(),
    args: [mode, String(l.dpi), String(l.pages), String(pagePixels), String(maxSide), pdfEngine()],
    timeoutMs: l.documentTimeoutMs,
    idleTimeoutMs: l.pageTimeoutMs,
    memoryMb: l.rendererMemoryMb,
    log: ctx.log,
    deferStart: true,
    ...(opts.extraBinds ? { extraBinds: opts.extraBinds } : {}),
  };
}

/**
 * Start warm spares before the first document (a sanitize worker calls this at start-up), so that even the
 * first PDF or image does not wait for node and MuPDF to load. Optional: without it the first document
 * of each mode starts its own child.
 */
export function prewarmRenderers(ctx: SanitizeContext, modes: RenderMode[] = ['pdf', 'image']): void {
  for (const mode of modes) replenish(rendererSpawnOptions(mode, ctx));
}

/**
 * Render untrusted bytes to pixels in an isolated child and hand each checked page to `onPage`, in order.
 * Never returns pixels the reader has not checked against the limits; never resolves ok unless the child
 * sent a complete, well-formed stream and exited cleanly.
 */
export function renderIsolated(
  mode: RenderMode,
  untrustedBytes: Uint8Array,
  ctx: SanitizeContext,
  onPage: (page: RenderedPage) => Promise<void>,
  opts: RenderOptions = {},
): Promise<RenderResult> {
  // One renderer (and its pages in memory) per core, however many jobs the worker runs (slots.ts).
  // Waiting for the slot is not counted against the mail's work budget (work-budget.ts).
  return inSlot(ctx, RENDER_SLOTS, () => renderNow(mode, untrustedBytes, ctx, onPage, opts));
}

async function renderNow(
  mode: RenderMode,
  untrustedBytes: Uint8Array,
  ctx: SanitizeContext,
  onPage: (page: RenderedPage) => Promise<void>,
  opts: RenderOptions,
): Promise<RenderResult> {
  const l = ctx.config.sanitize.limits;
  const { pagePixels, maxSide } = pageLimits(mode, ctx);
  const limits: FrameLimits = { maxPages: l.pages, maxWidth: maxSide, maxHeight: maxSide, maxPagePixels: pagePixels, maxTotalBytes: MAX_TOTAL_PIXEL_BYTES };
  const spawnOpts = rendererSpawnOptions(mode, ctx, opts);
  // Test entries get no spare: a hostile test child must not outlive its test.
  const child = opts.entry ? spawnIsolated(spawnOpts) : takeSpare(spawnOpts);
  // The mail's work budget stops the child through its signal: warm spares are keyed by their own timeouts.
  // A warm spare already spent CPU starting: only what it uses from here on is this document's.
  const cpuAtStart = child.cpuMs() ?? 0;
  child.start(encodeChildInput(untrustedBytes, opts.password), budgetSignal(ctx));
  let pages = 0;
  let childError: ChildErrorName | undefined;
  let violation: FrameViolation | undefined;
  try {
    for await (const frame of readFrames(child.stdout, limits)) {
      if (frame.type === 'doc') pages = frame.pages;
      else if (frame.type === 'error') childError = frame.code;
      else {
        child.touch();
        await onPage(frame);
      }
    }
  } catch (e) {
    child.kill('killed');
    child.stdout.destroy();
    await child.done;
    if (!(e instanceof FrameViolation)) throw e;
    violation = e;
  }
  const outcome = await child.done;
  ctx.budget?.chargeCpu(outcome.cpuMs === undefined ? undefined : outcome.cpuMs - cpuAtStart);
  if (!opts.entry) replenish(spawnOpts);
  // What ended the child outranks what the stream looked like: a timeout truncates the stream too.
  if (outcome.end === 'timeout' || outcome.end === 'idle-timeout') return failure('held', 'RENDERER_TIMEOUT', outcome.end, outcome);
  if (outcome.end === 'memory') return failure('held', 'RENDERER_FAILED', 'memory cap', outcome);
  if (violation) {
    if (violation.code === 'LIMIT_PAGES') return failure('held', 'LIMIT_PAGES', violation.message, outcome);
    if (violation.code === 'LIMIT_PIXELS') return failure('removed', 'LIMIT_PIXELS', violation.message, outcome);
    return failure('held', 'RENDERER_FAILED', violation.message, outcome);
  }
  if (childError) {
    const m = CHILD_ERRORS[childError];
    return failure(m.action, m.reason, childError, outcome);
  }
  if (outcome.end !== 'exit' || outcome.exitCode !== 0) return failure('held', 'RENDERER_FAILED', `child ${outcome.end} ${outcome.exitCode ?? outcome.signal}`, outcome);
  return { ok: true, pages, child: outcome };
}
