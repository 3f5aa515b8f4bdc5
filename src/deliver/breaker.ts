import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';

export interface BreakerOptions {
  /** Key prefix (the queue prefix): every deliver worker of one installation shares one breaker. */
  prefix: string;
  /** First probe delay after the breaker opens; doubles with each failed probe. */
  baseMs: number;
  /** Cap of the probe delay: the longest a relay that is back waits to be noticed. */
  maxMs: number;
  /** Consecutive mails deferred as a whole (4xx to MAIL FROM or DATA) that open the breaker. */
  threshold: number;
  /** How long one probe may take before another worker may probe instead (a probe that died with its worker). */
  probeLockMs: number;
}

export type Gate = { pass: true; probe: boolean } | { pass: false; waitMs: number; reply: string };

// Opens (or keeps open) the breaker. Only a failure after the current delay has run out (a failed probe)
// doubles the delay: the many mails in flight when the relay went away all fail at once and must count once.
// KEYS: state, probe lock, soft-failure counter. ARGV: now, base, max, reply.
const TRIP = `
local now = tonumber(ARGV[1])
local untilAt = tonumber(redis.call('HGET', KEYS[1], 'until') or '0')
if untilAt > now then return untilAt - now end
local prev = tonumber(redis.call('HGET', KEYS[1], 'delay') or '0')
local d = tonumber(ARGV[2])
if prev > 0 then d = math.min(prev * 2, tonumber(ARGV[3])) end
redis.call('HSET', KEYS[1], 'until', now + d, 'delay', d, 'reply', ARGV[4])
redis.call('HSETNX', KEYS[1], 'since', now)
redis.call('DEL', KEYS[2], KEYS[3])
return d
`;

/**
 * The relay-level circuit breaker, shared in Redis by all deliver workers. While it is open no mail is
 * tried: the delivery jobs wait in the queue, in arrival order, and once per probe delay one job (whoever
 * takes the probe lock) tries the relay. Its success closes the breaker; its failure doubles the delay up to
 * `maxMs`. So a relay outage costs one connection attempt per probe delay, not one per mail per backoff.
 */
export class RelayBreaker {
  readonly #redis: Redis;
  readonly #o: BreakerOptions;
  readonly #keys: [string, string, string];
  readonly #now: () => number;

  constructor(redis: Redis, o: BreakerOptions, now: () => number = Date.now) {
    this.#redis = redis;
    this.#o = o;
    this.#now = now;
    const k = `${o.prefix}:relay-breaker`;
    this.#keys = [k, `${k}:probe`, `${k}:soft`];
  }

  /**
   * Whether this job may try the relay now; `probe` when the breaker is open and this job is its probe.
   * While another job probes, this one waits for the outcome where it is instead of going back to the
   * queue: a job sent back while the probe succeeds would be overtaken by the ones taken after it.
   */
  async gate(): Promise<Gate> {
    for (;;) {
      const state = await this.#redis.hmget(this.#keys[0], 'until', 'reply');
      if (state[0] === null) return { pass: true, probe: false };
      const reply = state[1] ?? '';
      const waitMs = Number(state[0]) - this.#now();
      if (waitMs > 0) return { pass: false, waitMs, reply };
      const got = await this.#redis.set(this.#keys[1], '1', 'PX', this.#o.probeLockMs, 'NX');
      if (got === 'OK') return { pass: true, probe: true };
      // The lock expires if its holder died, so this ends: with the probe's outcome or as the next probe.
      await sleep(Math.min(this.#o.baseMs, 200));
    }
  }

  /** The relay could not be reached (or closed on us): open the breaker. Returns the delay until the next probe. */
  async relayDown(reply: string): Promise<number> {
    return Number(await this.#redis.eval(TRIP, 3, ...this.#keys, this.#now(), this.#o.baseMs, this.#o.maxMs, reply));
  }

  /** A mail was deferred as a whole; after `threshold` in a row the breaker opens. Returns the delay if it did. */
  async mailDeferred(reply: string): Promise<number | undefined> {
    const n = await this.#redis.incr(this.#keys[2]);
    if (n < this.#o.threshold) return undefined;
    return this.relayDown(reply);
  }

  /** A probe that ended without a verdict on the relay (an internal fault): the next job may probe. */
  async releaseProbe(): Promise<void> {
    await this.#redis.del(this.#keys[1]);
  }

  /** The relay accepted something: closed. True when it had been open (the relay is back). */
  async succeeded(): Promise<boolean> {
    const res = await this.#redis.multi().exists(this.#keys[0]).del(...this.#keys).exec();
    return Number(res?.[0]?.[1] ?? 0) > 0;
  }

  /** When the breaker has been open since, and the last reply (for operators), or undefined when closed. */
  async state(): Promise<{ since: number; until: number; reply: string } | undefined> {
    const s = await this.#redis.hgetall(this.#keys[0]);
    if (!s.until) return undefined;
    return { since: Number(s.since), until: Number(s.until), reply: s.reply ?? '' };
  }
}
