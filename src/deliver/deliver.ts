import type { Context } from '../context.js';
import { MukaikaError } from '../errors.js';
import { EVT } from '../log.js';
import type { DeliveryRecord } from '../store/records.js';
import { postmasterNotice, postmasterOf } from './postmaster.js';
import type { RecipientResult, Transport } from './types.js';

export interface DeliverAttempt {
  id: string;
  /** 0 = the sanitized mail, > 0 = follow-ups (unlocks), < 0 = postmaster notices about this message. */
  batch: number;
}

/**
 * What the job does next. `retry`: some recipients were deferred (4xx): try this mail again after
 * `delayMs` (capped exponential, per mail). `relay-down`: the relay could not be reached at all: the
 * breaker's business, not this mail's (the job waits in line, see workers.ts). `answered`: the relay
 * gave an SMTP reply to this attempt (it is up).
 */
export type DeliverResult =
  | { kind: 'done'; delivered: number; answered: boolean }
  | { kind: 'retry'; delayMs: number; delivered: number; answered: boolean; mailDeferred?: string }
  | { kind: 'relay-down'; reply: string };

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

function expired(ctx: Context, row: DeliveryRecord, now: number): boolean {
  return now - Date.parse(row.queuedAt) >= ctx.config.lgwan.retryLifetimeMs;
}

function gaveUp(ctx: Context, reply: string): string {
  const h = Math.round(ctx.config.lgwan.retryLifetimeMs / 36e5);
  const span = h >= 1 ? `${h} h` : `${ctx.config.lgwan.retryLifetimeMs} ms`;
  return `gave up after ${span} of retries: ${reply}`;
}

/**
 * One delivery attempt for the pending recipients of one batch. Each outcome is written before the next
 * step, and delivered rows are never sent again: a retry only ever goes to recipients still pending.
 * A temporary failure leaves the recipient pending until lgwan.retryLifetimeMs after it was queued; only a
 * 5xx or the end of that lifetime records it failed (with the relay's last reply) and notices the postmaster.
 */
export async function deliverBatch(ctx: Context, transport: Transport, a: DeliverAttempt, now = Date.now()): Promise<DeliverResult> {
  const { records, blobs, log } = ctx;
  const rec = await records.getMessage(a.id);
  if (!rec) throw new MukaikaError('RECORD_NOT_READY', `no record ${a.id}`);
  const pending = (await records.deliveries(a.id, a.batch)).filter((d) => d.status === 'pending');
  const rows = new Map(pending.map((d) => [d.recipient, d]));
  // Rows of one batch share one mail; group by it anyway so a batch can never send the wrong bytes.
  const byMail = new Map<string, string[]>();
  for (const d of pending) byMail.set(d.mailSha256, [...(byMail.get(d.mailSha256) ?? []), d.recipient]);

  let delivered = 0;
  let answered = false;
  let maxAttempts = 0;
  let relayDown: string | undefined;
  let mailDeferred: string | undefined;
  const failed: { mail: Buffer; results: RecipientResult[] }[] = [];
  for (const [sha, to] of byMail) {
    const raw = await blobs.get('sanitized', sha);
    // Our own address as envelope sender: bounces inside LGWAN come to the gateway's operators, never back
    // out to an Internet sender that may be forged.
    const outcome = await transport.send({ from: ctx.config.lgwan.noticeFrom, to }, raw, `${a.id}-b${a.batch}`);
    relayDown ??= outcome.relayDown;
    answered ||= outcome.relayDown === undefined && outcome.delivered.length + outcome.failed.length + outcome.deferred.length > 0;
    mailDeferred ??= outcome.mailDeferred;
    const failedHere: RecipientResult[] = [];
    for (const r of outcome.delivered) {
      await untilWritten(ctx, a.id, () => records.markDelivery(a.id, a.batch, r.recipient, 'delivered', r.response));
      delivered++;
      log.info({ evt: EVT.DELIVERED, id: a.id, batch: a.batch, rcpt: r.recipient }, 'delivered');
    }
    for (const r of outcome.failed) {
      await records.markDelivery(a.id, a.batch, r.recipient, 'failed', r.response);
      failedHere.push(r);
      log.error({ evt: EVT.DELIVERY_FAILED, id: a.id, batch: a.batch, rcpt: r.recipient, reply: r.response }, 'delivery failed');
    }
    for (const r of outcome.deferred) {
      const row = rows.get(r.recipient);
      if (row && expired(ctx, row, now)) {
        const response = gaveUp(ctx, r.response);
        await records.markDelivery(a.id, a.batch, r.recipient, 'failed', response);
        failedHere.push({ recipient: r.recipient, response });
        log.error({ evt: EVT.DELIVERY_FAILED, id: a.id, batch: a.batch, rcpt: r.recipient, reply: r.response }, 'delivery failed: retry lifetime over');
      } else {
        maxAttempts = Math.max(maxAttempts, (row?.attempts ?? 0) + 1);
        // Still pending, but the attempt and its reply are on record for operators.
        await records.markDelivery(a.id, a.batch, r.recipient, 'pending', r.response);
        log.info({ evt: EVT.DELIVERY_DEFERRED, id: a.id, batch: a.batch, rcpt: r.recipient, reply: r.response }, 'delivery deferred');
      }
    }
    if (failedHere.length) failed.push({ mail: raw, results: failedHere });
  }
  for (const f of failed) await noticeFailure(ctx, a, f.mail, f.results);
  if (maxAttempts > 0) {
    if (relayDown !== undefined) return { kind: 'relay-down', reply: relayDown };
    const delayMs = Math.min(ctx.config.queue.backoffMs * 2 ** Math.min(maxAttempts - 1, 30), ctx.config.lgwan.retryMaxDelayMs);
    return { kind: 'retry', delayMs, delivered, answered, ...(mailDeferred !== undefined ? { mailDeferred } : {}) };
  }
  await settleMessage(ctx, a);
  return { kind: 'done', delivered, answered };
}

/**
 * A job that waits behind an open breaker is not tried, but its lifetime still ends: recipients past it are
 * failed with the breaker's last reply. Returns how many recipients are still pending.
 */
export async function expireWaiting(ctx: Context, a: DeliverAttempt, reply: string, now = Date.now()): Promise<number> {
  const pending = (await ctx.records.deliveries(a.id, a.batch)).filter((d) => d.status === 'pending');
  if (pending.length === 0) await settleMessage(ctx, a);
  const over = pending.filter((d) => expired(ctx, d, now));
  if (over.length === 0) return pending.length;
  const results = over.map((d) => ({ recipient: d.recipient, response: gaveUp(ctx, d.response ?? reply) }));
  for (const r of results) {
    await ctx.records.markDelivery(a.id, a.batch, r.recipient, 'failed', r.response);
    ctx.log.error({ evt: EVT.DELIVERY_FAILED, id: a.id, batch: a.batch, rcpt: r.recipient, reply: r.response }, 'delivery failed: retry lifetime over');
  }
  await noticeFailure(ctx, a, await ctx.blobs.get('sanitized', over[0]!.mailSha256), results);
  if (over.length === pending.length) await settleMessage(ctx, a);
  return pending.length - over.length;
}

/** Batch 0 decides the message's status: delivered when anyone got it, failed when every recipient failed. */
async function settleMessage(ctx: Context, a: DeliverAttempt): Promise<void> {
  if (a.batch !== 0) return;
  const rec = await ctx.records.getMessage(a.id);
  if (rec?.status !== 'sanitized') return;
  const rows = await ctx.records.deliveries(a.id, 0);
  if (rows.some((d) => d.status === 'pending')) return;
  const allFailed = rows.length > 0 && rows.every((d) => d.status === 'failed');
  await ctx.records.setStatus(a.id, allFailed ? 'failed' : 'delivered', allFailed ? 'all recipients failed' : null);
}

/**
 * Failed for good: the LGWAN postmaster gets a notice, delivered as a batch of its own (negative numbers)
 * with the same retries. A notice that fails is only logged: noticing a notice could loop.
 */
async function noticeFailure(ctx: Context, a: DeliverAttempt, mail: Buffer, results: RecipientResult[]): Promise<void> {
  if (a.batch < 0) {
    ctx.log.error({ evt: EVT.POSTMASTER_NOTICE_FAILED, id: a.id, batch: a.batch, rcpts: results.map((r) => r.recipient) }, 'the postmaster notice itself failed; not noticed again');
    return;
  }
  const to = postmasterOf(ctx.config);
  try {
    const notice = await postmasterNotice(ctx.config, { id: a.id, batch: a.batch, mail, failed: results });
    const stored = await ctx.blobs.put('sanitized', notice);
    const batch = await ctx.records.addNotice(a.id, stored.sha256, to);
    // Queued now, or by the recovery sweep (pendingFollowUps) if Redis is away: the row is written.
    await ctx.queues.enqueueDeliver(a.id, batch).catch((err: unknown) => ctx.log.warn({ id: a.id, batch, err: (err as Error).message }, 'postmaster notice recorded; the recovery sweep will queue it'));
    ctx.log.warn({ evt: EVT.POSTMASTER_NOTICE, id: a.id, batch, failedBatch: a.batch, rcpts: results.length, to }, 'postmaster notice queued');
  } catch (err) {
    // The failed rows are already on record with their replies (mukaika deliveries failed); a notice that
    // cannot be written must not abort the rest of the attempt (its retry and delays for other recipients).
    ctx.log.error({ evt: EVT.POSTMASTER_NOTICE_FAILED, id: a.id, batch: a.batch, rcpts: results.map((r) => r.recipient), err: (err as Error).message }, 'the postmaster notice could not be written');
  }
}
