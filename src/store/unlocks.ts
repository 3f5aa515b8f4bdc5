import type { Kysely } from 'kysely';
import type { PartManifest } from '../domain/manifest.js';
import type { DB, UnlocksTable } from './db.js';

export interface UnlockState {
  failures: number;
  status: 'held' | 'unlocked';
  batch: number | null;
  manifest: PartManifest | null;
}

const now = () => new Date().toISOString();

function toState(r: UnlocksTable): UnlockState {
  return {
    failures: r.failures, status: r.status as UnlockState['status'], batch: r.batch,
    manifest: r.manifest ? (JSON.parse(r.manifest) as PartManifest) : null,
  };
}

/** Wrong-password counts and unlock results per held part. Passwords themselves are never stored. */
export class Unlocks {
  constructor(private readonly db: Kysely<DB>) {}

  async get(id: string, part: number): Promise<UnlockState> {
    const r = await this.db.selectFrom('unlocks').selectAll().where('message_id', '=', id).where('part_index', '=', part).executeTakeFirst();
    return r ? toState(r) : { failures: 0, status: 'held', batch: null, manifest: null };
  }

  async all(id: string): Promise<(UnlockState & { part: number })[]> {
    const rows = await this.db.selectFrom('unlocks').selectAll().where('message_id', '=', id).orderBy('part_index').execute();
    return rows.map((r) => ({ part: r.part_index, ...toState(r) }));
  }

  /**
   * Takes one attempt before the (slow) decryption starts, atomically: parallel requests cannot get more
   * guesses than `max`. False when none is left. An attempt that turns out right or inconclusive is given
   * back with `refund`; a wrong one stays counted.
   */
  async reserveAttempt(id: string, part: number, max: number): Promise<boolean> {
    await this.db.insertInto('unlocks')
      .values({ message_id: id, part_index: part, failures: 0, status: 'held', batch: null, manifest: null, updated_at: now() })
      .onConflict((oc) => oc.columns(['message_id', 'part_index']).doNothing())
      .execute();
    const res = await this.db.updateTable('unlocks').set((eb) => ({ failures: eb('failures', '+', 1), updated_at: now() }))
      .where('message_id', '=', id).where('part_index', '=', part).where('failures', '<', max).executeTakeFirst();
    return Number(res.numUpdatedRows) > 0;
  }

  async refund(id: string, part: number): Promise<void> {
    await this.db.updateTable('unlocks').set((eb) => ({ failures: eb('failures', '-', 1), updated_at: now() }))
      .where('message_id', '=', id).where('part_index', '=', part).where('failures', '>', 0).execute();
  }

  async markUnlocked(id: string, part: number, batch: number | null, manifest: PartManifest): Promise<void> {
    await this.db.insertInto('unlocks')
      .values({ message_id: id, part_index: part, failures: 0, status: 'unlocked', batch, manifest: JSON.stringify(manifest), updated_at: now() })
      .onConflict((oc) => oc.columns(['message_id', 'part_index']).doUpdateSet({ status: 'unlocked', batch, manifest: JSON.stringify(manifest), updated_at: now() }))
      .execute();
  }
}
