import type { Context } from '../context.js';

/**
 * Originals stay in the Internet-side store until `retention.originalsDays` after they arrived, then
 * their blob is removed (held parts can no longer be unlocked; the record and sanitized outputs stay).
 * A blob shared by several records (the same bytes relayed to different envelopes) goes with the last one.
 */
export async function purgeOriginals(ctx: Context, now = Date.now()): Promise<number> {
  const cutoff = new Date(now - ctx.config.retention.originalsDays * 86_400_000).toISOString();
  const db = ctx.database.db;
  const due = await db.selectFrom('messages').select(['id', 'original_sha256'])
    .where('created_at', '<', cutoff).where('original_purged_at', 'is', null).limit(1000).execute();
  const at = new Date(now).toISOString();
  for (const m of due) {
    await db.updateTable('messages').set({ original_purged_at: at }).where('id', '=', m.id).execute();
    const kept = async (): Promise<boolean> => (await db.selectFrom('messages').select('id')
      .where('original_sha256', '=', m.original_sha256).where('original_purged_at', 'is', null).executeTakeFirst()) !== undefined;
    // Asked again once the blob is moved aside: an accept of the same bytes may have recorded it meanwhile.
    if (!(await kept())) await ctx.blobs.removeUnlessNeeded('originals', m.original_sha256, kept);
  }
  return due.length;
}
