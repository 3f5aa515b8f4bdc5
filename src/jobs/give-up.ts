import type { Context } from '../context.js';
import { EVT } from '../log.js';
import { noticeOnlyMessage, type NoticeReason } from '../sanitize/pipeline.js';

/**
 * A sanitize job that failed for good (crashes, stalls, a missing original) still owes the recipients a
 * notice: the original is held, a notice-only mail goes out, and the record leaves `received`. Never a bounce,
 * never silence. If even this fails (database away), the record stays `received` for the recovery sweep.
 */
export async function giveUpSanitize(ctx: Context, id: string, why: string, reason: NoticeReason = 'INTERNAL_ERROR'): Promise<void> {
  const rec = await ctx.records.getMessage(id);
  if (!rec || rec.status !== 'received') return;
  const raw = await ctx.blobs.get('originals', rec.originalSha256).catch(() => Buffer.alloc(0));
  ctx.log.error({ evt: EVT.SANITIZE_FAILED, id, why }, 'sanitizing failed for good: notice-only mail, original held');
  if (rec.kind === 'file') {
    await ctx.records.saveSanitized(id, { verdict: 'held', manifest: { id, kind: 'file', verdict: 'held', parts: [] }, sanitizedSha256: '', originalMessageId: null });
    return;
  }
  const res = await noticeOnlyMessage(id, raw, { config: ctx.config, log: ctx.log }, reason);
  const mail = await ctx.blobs.put('sanitized', res.mail);
  await ctx.records.saveSanitized(id, { verdict: 'held', manifest: res.manifest, sanitizedSha256: mail.sha256, originalMessageId: res.originalMessageId });
  await ctx.queues.enqueueDeliver(id, 0);
}
