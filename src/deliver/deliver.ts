import type { Context } from '../context.js';
import { MukaikaError } from '../errors.js';
import { EVT } from '../log.js';
import type { Transport } from './transport.js';

export interface DeliverAttempt {
  id: string;
  batch: number;
  /** On the last attempt, recipients still deferred are recorded as failed with their last reply. */
  finalAttempt: boolean;
}

/**
 * The relay has the mail: if the record of that cannot be written now (disk full, database away), throwing
 * would make the job retry and send it again. Keep the fact in memory and retry the write instead, for as
 * long as this process lives; only a crash in this window can still repeat a delivery.
 */
async function untilWritten(ctx: Context, id: string, write: () => Promise<void>): Promise<void> {
  for (let delay = 200; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await write();
    } catch (err) {
      ctx.log.error({ evt: EVT.DELIVERY_FAILED, id, err: (err as Error).message, retryInMs: delay }, 'delivered, but the record could not be written; retrying the write, not the delivery');
      // Unref'd: a process that is shutting down (its database already closed) may still exit.
      await new Promise((r) => setTimeout(r, delay).unref());
    }
  }
}

/**
 * One delivery attempt for the pending recipients of one batch. Each outcome is written before the next
 * step, and delivered rows are never sent again: a retry only ever goes to recipients still pending.
 * Throws DELIVERY_DEFERRED (retryable) while some recipients are deferred.
 */
export async function deliverBatch(ctx: Context, transport: Transport, a: DeliverAttempt): Promise<void> {
  const { records, blobs, log } = ctx;
  const rec = await records.getMessage(a.id);
  if (!rec) throw new MukaikaError('RECORD_NOT_READY', `no record ${a.id}`);
  const pending = (await records.deliveries(a.id, a.batch)).filter((d) => d.status === 'pending');
  // Rows of one batch share one mail; group by it anyway so a batch can never send the wrong bytes.
  const byMail = new Map<string, string[]>();
  for (const d of pending) byMail.set(d.mailSha256, [...(byMail.get(d.mailSha256) ?? []), d.recipient]);

  let deferred = 0;
  for (const [sha, to] of byMail) {
    const raw = await blobs.get('sanitized', sha);
    // Our own address as envelope sender: bounces inside LGWAN come to the gateway's operators, never back
    // out to an Internet sender that may be forged.
    const outcome = await transport.send({ from: ctx.config.lgwan.noticeFrom, to }, raw, `${a.id}-b${a.batch}`);
    for (const r of outcome.delivered) {
      await untilWritten(ctx, a.id, () => records.markDelivery(a.id, a.batch, r.recipient, 'delivered', r.response));
      log.info({ evt: EVT.DELIVERED, id: a.id, batch: a.batch, rcpt: r.recipient }, 'delivered');
    }
    for (const r of outcome.failed) {
      await records.markDelivery(a.id, a.batch, r.recipient, 'failed', r.response);
      log.warn({ evt: EVT.DELIVERY_FAILED, id: a.id, batch: a.batch, rcpt: r.recipient, reply: r.response }, 'delivery failed');
    }
    for (const r of outcome.deferred) {
      if (a.finalAttempt) {
        await records.markDelivery(a.id, a.batch, r.recipient, 'failed', `gave up after retries: ${r.response}`);
        log.warn({ evt: EVT.DELIVERY_FAILED, id: a.id, batch: a.batch, rcpt: r.recipient, reply: r.response }, 'delivery failed after retries');
      } else {
        deferred++;
        // Still pending, but the attempt and its reply are on record for operators.
        await records.markDelivery(a.id, a.batch, r.recipient, 'pending', r.response);
        log.info({ evt: EVT.DELIVERY_DEFERRED, id: a.id, batch: a.batch, rcpt: r.recipient, reply: r.response }, 'delivery deferred');
      }
    }
  }
  if (deferred > 0) throw new MukaikaError('DELIVERY_DEFERRED', `${deferred} recipient(s) deferred`);
  if (a.batch === 0 && rec.status === 'sanitized') {
    const rows = await records.deliveries(a.id, 0);
    const allFailed = rows.length > 0 && rows.every((d) => d.status === 'failed');
    await records.setStatus(a.id, allFailed ? 'failed' : 'delivered', allFailed ? 'all recipients failed' : null);
  }
}
