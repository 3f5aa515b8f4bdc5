import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Slots } from '../src/sanitize/slots.js';

describe('Slots (per-process bound on renderers and archives)', () => {
  it('never runs more than the limit at once, starts waiters in arrival order, frees a slot when a holder throws', async () => {
    const slots = new Slots(2);
    let running = 0;
    let peak = 0;
    const started: number[] = [];
    const task = (n: number, fail = false) =>
      slots.run(async () => {
        started.push(n);
        running++;
        peak = Math.max(peak, running);
        await sleep(20);
        running--;
        if (fail) throw new Error(`task ${n}`);
        return n;
      });
    const results = await Promise.allSettled([task(0), task(1, true), task(2), task(3), task(4)]);
    expect(peak).toBe(2);
    expect(started).toEqual([0, 1, 2, 3, 4]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'fulfilled']);
    // Both slots are free again (the failed holder gave its back): two more run side by side.
    peak = 0;
    await Promise.all([task(5), task(6)]);
    expect(peak).toBe(2);
  });
});
