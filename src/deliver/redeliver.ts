import type { Context } from '../context.js';
import { MukaikaError } from '../errors.js';
import { EVT } from '../log.js';
import type { DeliveryRecord } from '../store/records.js';

export interface FailedSelection {
  /** One message's failed deliveries (every batch). */
  id?: string;
  /** Deliveries that failed at or after this time. */
  since?: Date;
}

function where(sel: FailedSelection): { id?: string; since?: string } {
  if (sel.since && Number.isNaN(sel.since.getTime())) throw new MukaikaError('BAD_REQUEST', 'not a time: use ISO 8601, e.g. 2026-12-08T01:00:00Z');
  return { ...(sel.id !== undefined ? { id: sel.id } : {}), ...(sel.since ? { since: sel.since.toISOString() } : {}) };
}

/** Failed deliveries for operators, oldest failure first. */
export function listFailed(ctx: Context, sel: FailedSelection = {}): Promise<DeliveryRecord[]> {
  return ctx.records.failedDeliveries(where(sel));
}

/**
 * `mukaika redeliver`: failed deliveries back to pending with a new retry lifetime, and their jobs queued
 * again (a finished job of the same id is replaced). Recipients already delivered are never touched, so a
 * redelivery cannot repeat a delivery. Returns the deliveries put back.
 */
export async function redeliver(ctx: Context, sel: FailedSelection): Promise<DeliveryRecord[]> {
  if (sel.id === undefined && sel.since === undefined) throw new MukaikaError('BAD_REQUEST', 'redeliver needs an id or a time');
  const rows = await ctx.records.failedDeliveries(where(sel));
  const jobs = await ctx.records.requeueFailed(rows, 'redeliver');
  for (const j of jobs) {
    await ctx.queues.enqueueDeliver(j.messageId, j.batch, true);
    const rcpts = rows.filter((r) => r.messageId === j.messageId && r.batch === j.batch).length;
    ctx.log.info({ evt: EVT.REDELIVER, id: j.messageId, batch: j.batch, rcpts }, 'failed deliveries put back');
  }
  return rows;
}

/** One line per delivery, tab-separated: failed at, id, batch, recipient, attempts, last reply. */
export function formatDeliveries(rows: readonly DeliveryRecord[]): string {
  // eslint-disable-next-line no-control-regex
  const clean = (s: string | null) => (s ?? '').replace(/[\x00-\x1f\x7f]+/g, ' ');
  return rows.map((r) => [r.updatedAt, r.messageId, r.batch, clean(r.recipient), r.attempts, clean(r.response)].join('\t')).map((l) => `${l}\n`).join('');
}
