import { EVT } from '../log.js';
import { stem } from './archive/names.js';
import { sanitizeArchive } from './archive/index.js';
import { ARCHIVE_SLOTS } from './slots.js';
import { inSlot, WorkBudget } from './work-budget.js';
import { classify, type Classified, type Kind } from './classify.js';
import { reencodeImage } from './convert/image.js';
import { flattenPdf } from './convert/pdf.js';
import { messageToText } from './convert/message.js';
import { convertTextBounded } from './convert/text-thread.js';
import { convertOffice, unlockOffice } from './office/index.js';
import type { PartInput, PartResult, SanitizeContext } from './types.js';

/** One row of the dispatch table: what to do with a part of this detected kind. */
export type Handler = (input: PartInput, detected: Classified, ctx: SanitizeContext) => Promise<PartResult>;

const fixed =
  (action: 'removed' | 'held', reason: PartResult['reason']): Handler =>
  async (_input, detected) => ({ detectedType: detected.mime, action, reason });

/**
 * The per-type rules (docs/DESIGN.md §6, §7) as a table, by kind detected from content. Extend by replacing an entry (`HANDLERS.office = …`
 * when the LibreOffice path lands, `HANDLERS.zip = …` for archive expansion); kinds never fall through
 * to "passed": a kind without a handler is removed as UNKNOWN_TYPE.
 */
export const HANDLERS: Record<Kind, Handler> = {
  empty: fixed('removed', 'EMPTY'),
  pdf: (input, _d, ctx) => flattenPdf(input.bytes, ctx, { name: `${stem(input.name)}.pdf`, ...(input.password ? { password: input.password } : {}) }),
  // The child is authoritative on encryption; the classifier's hint only saves a spawn when there is no password.
  'encrypted-pdf': (input, d, ctx) =>
    input.password ? HANDLERS.pdf(input, d, ctx) : Promise.resolve({ detectedType: d.mime, action: 'held', reason: 'ENCRYPTED' }),
  image: (input, d, ctx) => reencodeImage(input.bytes, ctx, { mime: d.mime, baseName: stem(input.name) }),
  svg: (input, d, ctx) => reencodeImage(input.bytes, ctx, { mime: d.mime, baseName: stem(input.name) }),
  epub: fixed('removed', 'TYPE_NOT_YET_SUPPORTED'),
  office: (input, d, ctx) => convertOffice(input, d.mime, ctx),
  odf: (input, d, ctx) => convertOffice(input, d.mime, ctx),
  rtf: (input, d, ctx) => convertOffice(input, d.mime, ctx),
  'encrypted-office': (input, d, ctx) => unlockOffice(input, d.mime, ctx),
  // Entries go back through this table (sanitizePart is passed in, so archive/ does not import parts.ts).
  zip: (input, d, ctx) => archive(input, d.mime, ctx),
  tar: (input, d, ctx) => archive(input, d.mime, ctx),
  gzip: (input, d, ctx) => archive(input, d.mime, ctx),
  'encrypted-zip': (input, d, ctx) =>
    input.password === undefined ? Promise.resolve({ detectedType: d.mime, action: 'held', reason: 'ENCRYPTED' }) : archive(input, d.mime, ctx),
  text: (input, _d, ctx) => convertTextBounded(input.bytes, 'text', ctx, stem(input.name), charsetOf(input.declaredType)),
  csv: (input, _d, ctx) => convertTextBounded(input.bytes, 'csv', ctx, stem(input.name), charsetOf(input.declaredType)),
  tsv: (input, _d, ctx) => convertTextBounded(input.bytes, 'tsv', ctx, stem(input.name), charsetOf(input.declaredType)),
  html: (input, _d, ctx) => convertTextBounded(input.bytes, 'html', ctx, stem(input.name), charsetOf(input.declaredType)),
  message: async (input, _d, ctx) => messageToText(input.bytes, ctx, stem(input.name)),
  executable: fixed('removed', 'EXECUTABLE'),
  unknown: fixed('removed', 'UNKNOWN_TYPE'),
  ambiguous: fixed('held', 'AMBIGUOUS_TYPE'),
};

/** A top-level archive holds the process's archive slot while its entries are sanitized (slots.ts). */
function archive(input: PartInput, mime: string, ctx: SanitizeContext): Promise<PartResult> {
  const run = () => sanitizeArchive(input, mime, ctx, sanitizePart);
  return input.depth === 0 ? inSlot(ctx, ARCHIVE_SLOTS, run) : run();
}

/** Reasons a child gives when it was stopped by a clock, which may be the mail's budget rather than its own. */
const STOPPED = new Set<PartResult['reason']>(['RENDERER_TIMEOUT', 'RENDERER_FAILED', 'CONVERTER_FAILED']);

/** A fresh budget for a part sanitized on its own (an upload, an unlock): the same limit as a whole mail. */
export function withBudget(ctx: SanitizeContext): SanitizeContext {
  return ctx.budget ? ctx : { ...ctx, budget: new WorkBudget(ctx.config.sanitize.limits.mailWallSeconds * 1000, undefined, ctx.config.sanitize.limits.mailCpuSeconds * 1000) };
}

/** `charset=` parameter of a declared Content-Type, if any (only a hint to the decoder, which checks it). */
function charsetOf(declaredType: string): string | undefined {
  return /charset\s*=\s*"?([A-Za-z0-9._:-]+)/i.exec(declaredType)?.[1];
}

/**
 * Sanitize one attachment, archive entry or uploaded file by its detected type (docs/DESIGN.md §6).
 * Never throws: any failure is a held or removed result with a reason code (fail closed). A result never
 * carries the input bytes: only converters' fresh output.
 */
export async function sanitizePart(input: PartInput, outer: SanitizeContext): Promise<PartResult> {
  const ctx = withBudget(outer);
  const budget = ctx.budget!;
  const fallbackType = 'application/octet-stream';
  if (input.bytes.length > ctx.config.sanitize.limits.attachmentBytes) return { detectedType: fallbackType, action: 'held', reason: 'TOO_LARGE' };
  // A fragment of a split mail (RFC 2046 §5.2.2) is never reassembled nor passed on as text: its inner entity
  // could be any file. The declared type only ever makes us stricter.
  if (/^message\/partial\b/i.test(input.declaredType)) return { detectedType: 'message/partial', action: 'removed', reason: 'MESSAGE_PARTIAL' };
  let detected: Classified = { mime: fallbackType, kind: 'unknown' };
  try {
    detected = await classify(input.bytes, input.name, input.declaredType);
    // A part (or archive entry) not started before the mail's budget ran out is held, never passed.
    if (budget.exhausted()) return { detectedType: detected.mime, action: 'held', reason: 'WORK_BUDGET' };
    const handler = Object.hasOwn(HANDLERS, detected.kind) ? HANDLERS[detected.kind] : HANDLERS.unknown;
    let result = await handler(input, detected, ctx);
    if (result.output && result.output.bytes === input.bytes) throw new Error('handler returned the input bytes');
    // A child cut short by the budget (its timeout or signal) says timeout or failure; the cause is the budget.
    if (result.action === 'held' && STOPPED.has(result.reason) && budget.exhausted()) result = { ...result, reason: 'WORK_BUDGET' };
    ctx.log.debug({ evt: EVT.SANITIZE_PART, kind: detected.kind, action: result.action, reason: result.reason }, 'part sanitized');
    return result;
  } catch (e) {
    ctx.log.error({ evt: EVT.SANITIZE_FAILED, err: e instanceof Error ? e.message : String(e), kind: detected.kind }, 'part sanitizing failed: held');
    return { detectedType: detected.mime, action: 'held', reason: 'INTERNAL_ERROR' };
  }
}
