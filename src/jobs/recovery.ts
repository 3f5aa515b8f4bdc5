import type { Context } from '../context.js';

/**
 * Re-queues work whose job Redis no longer has (a Redis without persistence restarted, a job evicted).
 * Safe to run any time: job ids are derived from the record, so a job that still waits or runs is not
 * duplicated; one that ended while the record still says unfinished (a race with a Redis outage, a failure
 * that outlived its retries) is run again; and the processors skip what the records say is done. Batches
 * other than 0 are follow-ups (> 0) and postmaster notices (< 0).
 */
export async function requeueStuck(ctx: Context, olderThanMs: number): Promise<number> {
  const before = new Date(Date.now() - olderThanMs).toISOString();
  const rows = await ctx.records.unfinished(before);
  let n = 0;
  for (const r of rows) {
    if (r.status === 'received') await ctx.queues.enqueueSanitize(r.id, true);
    else if (r.kind === 'message') await ctx.queues.enqueueDeliver(r.id, 0, true);
    else continue;
    n++;
  }
  for (const f of await ctx.records.pendingFollowUps(before)) {
    await ctx.queues.enqueueDeliver(f.messageId, f.batch, true);
    n++;
  }
  return n;
}
