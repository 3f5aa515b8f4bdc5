import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Unlocks } from '../src/store/unlocks.js';
import { openHarness, type Harness } from './helpers/harness.js';

const rowOf = async (h: Harness, id: string) => h.ctx.database.db.selectFrom('unlocks').select(['failures', 'in_flight', 'status']).where('message_id', '=', id).execute();

describe.each(['sqlite', 'postgres'] as const)('unlock attempt slots (%s)', (db) => {
  let h: Harness;
  let unlocks: Unlocks;
  beforeAll(async () => {
    h = await openHarness({ db });
    unlocks = new Unlocks(h.ctx.database.db);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('counts wrong answers and attempts in flight together against the limit, and only wrong answers stay', async () => {
    const reserve = () => unlocks.reserveAttempt('m1', 0, 3, 60_000);
    // Parallel reservations: never more than the limit, whatever the interleaving.
    const slots = await Promise.all([0, 1, 2, 3, 4].map(() => reserve()));
    expect(slots.sort()).toEqual(['busy', 'busy', 'reserved', 'reserved', 'reserved']);
    expect(await rowOf(h, 'm1')).toEqual([{ failures: 0, in_flight: 3, status: 'held' }]);
    await unlocks.countWrong('m1', 0);
    await unlocks.release('m1', 0);
    expect(await rowOf(h, 'm1')).toEqual([{ failures: 1, in_flight: 1, status: 'held' }]);
    expect(await reserve()).toBe('reserved');
    expect(await reserve()).toBe('busy');
    await unlocks.countWrong('m1', 0);
    await unlocks.countWrong('m1', 0);
    expect(await rowOf(h, 'm1')).toEqual([{ failures: 3, in_flight: 0, status: 'held' }]);
    expect(await reserve()).toBe('locked');
    // A release with nothing in flight changes nothing (never negative).
    await unlocks.release('m1', 0);
    expect(await rowOf(h, 'm1')).toEqual([{ failures: 3, in_flight: 0, status: 'held' }]);
    expect((await unlocks.get('m1', 0)).failures).toBe(3);
  });

  it('drops attempts left in flight by a process that died, once they are older than the stale age', async () => {
    expect(await unlocks.reserveAttempt('m2', 1, 1, 60_000)).toBe('reserved');
    expect(await unlocks.reserveAttempt('m2', 1, 1, 60_000)).toBe('busy');
    await h.ctx.database.db.updateTable('unlocks').set({ updated_at: new Date(Date.now() - 120_000).toISOString() }).where('message_id', '=', 'm2').execute();
    expect(await unlocks.reserveAttempt('m2', 1, 1, 60_000)).toBe('reserved');
    expect(await rowOf(h, 'm2')).toEqual([{ failures: 0, in_flight: 1, status: 'held' }]);
  });
});
