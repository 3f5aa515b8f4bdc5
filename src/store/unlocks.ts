import type { Kysely } from 'kysely';
import type { PartManifest } from '../domain/manifest.js';
import type { DB } from './db.js';

export interface UnlockState {
  failures: number;
  status: 'held' | 'unlocked';
  batch: number | null;
  manifest: PartManifest | null;
}

const now = () => new Date().toISOString();

/** Wrong-password counts and unlock results per held part. Passwords themselves are never stored. */
export class Unlocks {
  constructor(private readonly db: Kysely<DB>) {}

  async get(id: string, part: number): Promise<UnlockState> {
    const r = await this.db.selectFrom('unlocks').selectAll().where('message_id', '=', id).where('part_index', '=', part).executeTakeFirst();
    if (!r) return { failures: 0, status: 'held', batch: null, manifest: null };
    return {
      failures: r.failures, status: r.status as UnlockState['status'], batch: r.batch,
      manifest: r.manifest ? (JSON.parse(r.manifest) as PartManifest) : null,
    };
  }

  async all(id: string): Promise<(UnlockState & { part: number })[]> {
    const rows = await this.db.selectFrom('unlocks').selectAll().where('message_id', '=', id).orderBy('part_index').execute();
    return rows.map((r) => ({
      part: r.part_index, failures: r.failures, status: r.status as UnlockState['status'], batch: r.batch,
      manifest: r.manifest ? (JSON.parse(r.manifest) as PartManifest) : null,
    }));
  }

  /** Counts one wrong password; returns the new count. */
  async recordFailure(id: string, part: number): Promise<number> {
    await this.db.insertInto('unlocks')
      .values({ message_id: id, part_index: part, failures: 1, status: 'held', batch: null, manifest: null, updated_at: now() })
      .onConflict((oc) => oc.columns(['message_id', 'part_index']).doUpdateSet((eb) => ({ failures: eb('unlocks.failures', '+', 1), updated_at: now() })))
      .execute();
    return (await this.get(id, part)).failures;
  }

  async markUnlocked(id: string, part: number, batch: number | null, manifest: PartManifest): Promise<void> {
    await this.db.insertInto('unlocks')
      .values({ message_id: id, part_index: part, failures: 0, status: 'unlocked', batch, manifest: JSON.stringify(manifest), updated_at: now() })
      .onConflict((oc) => oc.columns(['message_id', 'part_index']).doUpdateSet({ status: 'unlocked', batch, manifest: JSON.stringify(manifest), updated_at: now() }))
      .execute();
  }
}
