import type { Context } from '../context.js';
import { MukaikaError } from '../errors.js';
import { EVT } from '../log.js';
import { sanitizeFile, sanitizeMessage } from '../sanitize/pipeline.js';

/**
 * Sanitize one accepted original and hand it to delivery. Idempotent: a record already past `received`
 * only has its delivery job ensured, so a re-run after a crash never sanitizes or delivers twice.
 * A failure is thrown for BullMQ to retry; once no retry is left, `giveUpSanitize` sends the notice.
 */
export async function processSanitize(ctx: Context, id: string): Promise<void> {
  const { records, blobs, queues, log, config } = ctx;
  const rec = await records.getMessage(id);
  if (!rec) throw new MukaikaError('RECORD_NOT_READY', `no record ${id}`);
  if (rec.status !== 'received') {
    if (rec.kind === 'message' && rec.status === 'sanitized') await queues.enqueueDeliver(id, 0);
    return;
  }
  const raw = await blobs.get('originals', rec.originalSha256);
  const sctx = { config, log: log.child({ id }) };

  if (rec.kind === 'file') {
    const name = rec.originalName ?? 'upload';
    const res = await sanitizeFile(id, { name, declaredType: 'application/octet-stream', bytes: raw }, sctx);
    for (const o of res.outputs) await blobs.put('sanitized', o.bytes);
    const sha = res.outputs[0]?.sha256 ?? '';
    await records.saveSanitized(id, { verdict: res.manifest.verdict, manifest: res.manifest, sanitizedSha256: sha, originalMessageId: null });
    log.info({ evt: EVT.SANITIZE_DONE, id, verdict: res.manifest.verdict }, 'file sanitized');
    return;
  }

  const res = await sanitizeMessage(id, raw, sctx);
  for (const o of res.outputs) await blobs.put('sanitized', o.bytes);
  // The mail itself is usually small: then it is kept with the record, in the same commit (inline-blobs.ts).
  const mail = await blobs.stage('sanitized', res.mail);
  await records.saveSanitized(id, {
    verdict: res.manifest.verdict, manifest: res.manifest, sanitizedSha256: mail.sha256, originalMessageId: res.originalMessageId, inlineMail: mail.inline,
  });
  log.info({ evt: EVT.SANITIZE_DONE, id, verdict: res.manifest.verdict, parts: res.manifest.parts.length }, 'sanitized');
  await queues.enqueueDeliver(id, 0);
}
