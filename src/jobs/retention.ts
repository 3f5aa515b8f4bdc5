import type { Context } from '../context.js';

/**
 * Originals stay in the Internet-side store until `retention.originalsDays` after they arrived, then
 * their blob is removed (held parts can no longer be unlocked; the record and sanitized outputs stay).
 * A blob shared by several records (the same bytes relayed to different envelopes) goes with the last one.
 */
export async function purgeOriginals(ctx: Context, now = Date.now()): Promise<number> {
  const cutoff = new Date(now - ctx.config.retention.originalsDays * 86_400_000).toISOString();
  const due = await ctx.records.originalsDue(cutoff);
  const at = new Date(now).toISOString();
  for (const m of due) {
    await ctx.records.markOriginalPurged(m.id, at);
    const kept = () => ctx.records.originalKept(m.originalSha256);
    // Asked again once the blob is moved aside: an accept of the same bytes may have recorded it meanwhile.
    if (!(await kept())) await ctx.blobs.removeUnlessNeeded('originals', m.originalSha256, kept);
  }
  return due.length;
}
