import type { Kysely } from 'kysely';
import type { PartManifest } from '../domain/manifest.js';
import type { DB, UnlocksTable } from './db.js';
import { GroupCommit } from './group-commit.js';

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
  /** Writes share commits like the records' (group-commit.ts); a reservation's statements commit together. */
  readonly #writes: GroupCommit;
  constructor(private readonly db: Kysely<DB>, writes?: GroupCommit) {
    this.#writes = writes ?? new GroupCommit(db);
  }

  async get(id: string, part: number): Promise<UnlockState> {
    const r = await this.db.selectFrom('unlocks').selectAll().where('message_id', '=', id).where('part_index', '=', part).executeTakeFirst();
    return r ? toState(r) : { failures: 0, status: 'held', batch: null, manifest: null };
  }

  async all(id: string): Promise<(UnlockState & { part: number })[]> {
    const rows = await this.db.selectFrom('unlocks').selectAll().where('message_id', '=', id).orderBy('part_index').execute();
    return rows.map((r) => ({ part: r.part_index, ...toState(r) }));
  }

  /**
   * Takes one attempt before the (slow) decryption starts, atomically: wrong answers plus attempts in
   * flight never exceed `max`, so parallel requests cannot get more guesses than that. `busy` when the
   * slots left are all in flight (the caller waits: one of them may be the right password, and a right
   * password must never be refused for others' sake); `locked` when `max` wrong answers are counted.
   * An attempt in flight for longer than `staleMs` belonged to a process that died and is dropped.
   */
  async reserveAttempt(id: string, part: number, max: number, staleMs: number): Promise<'reserved' | 'busy' | 'locked'> {
    return this.#writes.run(async (tx) => {
      await tx.insertInto('unlocks')
        .values({ message_id: id, part_index: part, failures: 0, status: 'held', batch: null, manifest: null, updated_at: now(), in_flight: 0 })
        .onConflict((oc) => oc.columns(['message_id', 'part_index']).doNothing())
        .execute();
      await tx.updateTable('unlocks').set({ in_flight: 0 })
        .where('message_id', '=', id).where('part_index', '=', part).where('in_flight', '>', 0)
        .where('updated_at', '<', new Date(Date.now() - staleMs).toISOString()).execute();
      const res = await tx.updateTable('unlocks').set((eb) => ({ in_flight: eb('in_flight', '+', 1), updated_at: now() }))
        .where('message_id', '=', id).where('part_index', '=', part)
        .where((eb) => eb(eb('failures', '+', eb.ref('in_flight')), '<', max)).executeTakeFirst();
      if (Number(res.numUpdatedRows) > 0) return 'reserved';
      const r = await tx.selectFrom('unlocks').select(['in_flight']).where('message_id', '=', id).where('part_index', '=', part).executeTakeFirst();
      return r && r.in_flight > 0 ? 'busy' : 'locked';
    });
  }

  /** The reserved attempt was a wrong password: it stays counted. */
  async countWrong(id: string, part: number): Promise<void> {
    await this.#writes.run((tx) => tx.updateTable('unlocks').set((eb) => ({ failures: eb('failures', '+', 1), in_flight: eb('in_flight', '-', 1), updated_at: now() }))
      .where('message_id', '=', id).where('part_index', '=', part).where('in_flight', '>', 0).execute());
  }

  /** The reserved attempt was right or inconclusive: it is given back, nothing counted. */
  async release(id: string, part: number): Promise<void> {
    await this.#writes.run((tx) => tx.updateTable('unlocks').set((eb) => ({ in_flight: eb('in_flight', '-', 1), updated_at: now() }))
      .where('message_id', '=', id).where('part_index', '=', part).where('in_flight', '>', 0).execute());
  }

  async markUnlocked(id: string, part: number, batch: number | null, manifest: PartManifest): Promise<void> {
    await this.#writes.run((tx) => tx.insertInto('unlocks')
      .values({ message_id: id, part_index: part, failures: 0, status: 'unlocked', batch, manifest: JSON.stringify(manifest), updated_at: now(), in_flight: 0 })
      .onConflict((oc) => oc.columns(['message_id', 'part_index']).doUpdateSet({ status: 'unlocked', batch, manifest: JSON.stringify(manifest), updated_at: now() }))
      .execute());
  }
}
