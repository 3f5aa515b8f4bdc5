import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RelayBreaker } from '../src/deliver/breaker.js';
import { dropRedisPrefix, REDIS_URL } from './helpers/harness.js';

/** The breaker's rules against the real Redis, on a clock the test moves by hand. */
describe('relay circuit breaker (shared in Redis)', () => {
  let redis: Redis;
  const prefixes: string[] = [];
  beforeAll(() => {
    redis = new Redis(REDIS_URL);
  });
  afterAll(async () => {
    for (const p of prefixes) await dropRedisPrefix(REDIS_URL, p);
    redis.disconnect();
  });
  const make = (threshold = 3) => {
    const prefix = `mkb${randomBytes(5).toString('hex')}`;
    prefixes.push(prefix);
    const clock = { t: 1_000_000 };
    const opts = { prefix, baseMs: 100, maxMs: 400, threshold, probeLockMs: 5000 };
    // Two workers' views of one breaker: same Redis keys, same clock.
    return { clock, a: new RelayBreaker(redis, opts, () => clock.t), b: new RelayBreaker(redis, opts, () => clock.t) };
  };

  it('opens once for many simultaneous failures, then doubles per failed probe up to the cap', async () => {
    const { clock, a, b } = make();
    expect(await a.gate()).toEqual({ pass: true, probe: false });
    // Sixteen jobs in flight when the relay went away: one opening, not sixteen doublings.
    const delays = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).relayDown('ECONNREFUSED')));
    expect(Math.max(...delays)).toBe(100);
    expect(await b.gate()).toEqual({ pass: false, waitMs: 100, reply: 'ECONNREFUSED' });

    const seen: number[] = [];
    for (let i = 0; i < 5; i++) {
      clock.t += seen.at(-1) ?? 100;
      const probe = await a.gate();
      expect(probe).toEqual({ pass: true, probe: true });
      seen.push(await a.relayDown('ECONNREFUSED'));
    }
    expect(seen).toEqual([200, 400, 400, 400, 400]);
    expect(await a.state()).toEqual({ since: 1_000_000, until: clock.t + 400, reply: 'ECONNREFUSED' });
  });

  it('lets exactly one job probe; the others wait for its verdict and pass when it succeeds', async () => {
    const { clock, a, b } = make();
    await a.relayDown('421 4.3.2 shutting down');
    clock.t += 100;
    expect(await a.gate()).toEqual({ pass: true, probe: true });
    // b waits in place while a probes: it must not get through before a's verdict.
    let bGate: unknown;
    const waiting = b.gate().then((g) => { bGate = g; });
    await new Promise((r) => setTimeout(r, 300));
    expect(bGate).toBeUndefined();
    expect(await a.succeeded()).toBe(true);
    await waiting;
    expect(bGate).toEqual({ pass: true, probe: false });
    expect(await a.state()).toBeUndefined();
    // Closed already: a second success says so.
    expect(await b.succeeded()).toBe(false);
  });

  it('a released probe (no verdict) lets the next job probe at once', async () => {
    const { clock, a, b } = make();
    await a.relayDown('ETIMEDOUT');
    clock.t += 100;
    expect(await a.gate()).toEqual({ pass: true, probe: true });
    await a.releaseProbe();
    expect(await b.gate()).toEqual({ pass: true, probe: true });
  });

  it('opens after `threshold` mails in a row deferred as a whole; a success in between starts the count again', async () => {
    const { a, b } = make(3);
    expect(await a.mailDeferred('451 4.3.0 busy')).toBeUndefined();
    expect(await b.mailDeferred('451 4.3.0 busy')).toBeUndefined();
    expect(await a.succeeded()).toBe(false);
    expect(await a.mailDeferred('451 4.3.0 busy')).toBeUndefined();
    expect(await b.mailDeferred('451 4.3.0 busy')).toBeUndefined();
    expect(await a.mailDeferred('451 4.3.0 busy')).toBe(100);
    expect(await b.gate()).toEqual({ pass: false, waitMs: 100, reply: '451 4.3.0 busy' });
  });
});
