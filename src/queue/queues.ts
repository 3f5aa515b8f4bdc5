import { Queue, QueueEvents, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/schema.js';
import type { PartManifest } from '../domain/manifest.js';
import { isErrorCode, MukaikaError } from '../errors.js';
import { sealPassword, type SealedPassword } from './unlock-seal.js';

export const QUEUE_NAMES = { sanitize: 'sanitize', deliver: 'deliver', unlock: 'unlock' } as const;

/** Job payloads carry ids only: the message lives in the spool and the database. */
export interface SanitizeJobData {
  id: string;
}
export interface DeliverJobData {
  id: string;
  /** 0 = the sanitized mail, n > 0 = the n-th follow-up (unlocked attachment). */
  batch: number;
}

/**
 * A PPAP unlock for a sanitize worker (docs/DESIGN.md, "Unlock through the worker"): the password only
 * sealed to the workers' key, bound to this part and `notAfter` (ms since the epoch; the caller has stopped
 * waiting after it). The worker removes `sealed` from the job as soon as it has opened it.
 */
export interface UnlockJobData {
  id: string;
  part: number;
  notAfter: number;
  sealed: SealedPassword | null;
}
export interface UnlockJobResult {
  part: PartManifest;
  /** Follow-up mail batch for messages (delivered to the same recipients); null for uploaded files. */
  batch: number | null;
}

/** Where the sanitize workers publish the public half of their unlock key (unlock-seal.ts). */
export const unlockKeyName = (prefix: string): string => `${prefix}:unlock-public-key`;

/**
 * What one sanitize worker reports of its parsers' isolation, so that roles without parsers (the gateway's
 * /readyz) can show the sandbox mode in use (docs/renderer.md, "Isolation achieved"). Kept with a TTL:
 * a worker that stops reporting drops out.
 */
export interface SandboxReport {
  worker: string;
  mode: string;
  uid: number;
  reason: string | null;
  /** No mode runs this worker's parsers unprivileged: it refuses to spawn any (every such part is held). */
  refused: boolean;
  at: number;
}
export const sandboxReportKey = (prefix: string, worker: string): string => `${prefix}:sandbox-report:${worker}`;
/** Reports are written every minute and live three. */
export const SANDBOX_REPORT_TTL_S = 180;

/** How long an enqueue may take before the SMTP session gets 451 instead of waiting on a sick Redis. */
const ENQUEUE_TIMEOUT_MS = 5000;

/**
 * Producers fail fast: no offline queue, one retry per command, so a Redis outage becomes a 451/503
 * reply within seconds instead of a hung session.
 */
export function producerConnection(cfg: Config): Redis {
  const opts: RedisOptions = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 3000,
    retryStrategy: (times) => Math.min(times * 200, 2000),
    lazyConnect: false,
  };
  const redis = new Redis(cfg.redisUrl, opts);
  // Errors surface through the failed commands; the event must still be handled or Node exits.
  redis.on('error', () => undefined);
  return redis;
}

/** Workers block on Redis and must retry forever (BullMQ requires maxRetriesPerRequest: null). */
export function workerConnection(cfg: Config): Redis {
  const redis = new Redis(cfg.redisUrl, { maxRetriesPerRequest: null, retryStrategy: (t) => Math.min(t * 200, 2000) });
  redis.on('error', () => undefined);
  return redis;
}

export function jobOptions(cfg: Config): JobsOptions {
  return {
    attempts: cfg.queue.attempts,
    backoff: { type: 'exponential', delay: cfg.queue.backoffMs },
    removeOnComplete: { count: cfg.queue.keepCompleted },
    removeOnFail: { count: cfg.queue.keepFailed },
  };
}

export class Queues {
  readonly sanitize: Queue<SanitizeJobData>;
  readonly deliver: Queue<DeliverJobData>;
  readonly unlock: Queue<UnlockJobData>;
  readonly #connection: Redis;
  readonly #opts: JobsOptions;
  readonly #cfg: Config;
  #events: { events: QueueEvents; connection: Redis } | undefined;

  constructor(cfg: Config, connection: Redis = producerConnection(cfg)) {
    this.#connection = connection;
    const common = { connection: connection as unknown as ConnectionOptions, prefix: cfg.queue.prefix };
    this.sanitize = new Queue<SanitizeJobData>(QUEUE_NAMES.sanitize, common);
    this.deliver = new Queue<DeliverJobData>(QUEUE_NAMES.deliver, common);
    this.unlock = new Queue<UnlockJobData>(QUEUE_NAMES.unlock, common);
    this.sanitize.on('error', () => undefined);
    this.deliver.on('error', () => undefined);
    this.unlock.on('error', () => undefined);
    this.#opts = jobOptions(cfg);
    this.#cfg = cfg;
  }

  /** Completion events of unlock jobs; opened on the first unlock (a blocking reader needs its own connection). */
  async #unlockEvents(): Promise<QueueEvents> {
    if (!this.#events) {
      const connection = workerConnection(this.#cfg);
      const events = new QueueEvents(QUEUE_NAMES.unlock, { connection: connection as unknown as ConnectionOptions, prefix: this.#cfg.queue.prefix });
      events.on('error', () => undefined);
      this.#events = { events, connection };
    }
    await withTimeout(this.#events.events.waitUntilReady());
    return this.#events.events;
  }

  /**
   * Hands a PPAP password to a sanitize worker, sealed to the key the workers published, and waits up to
   * `waitMs` for its answer. The worker's verdict comes back as the catalogue error it threw (WRONG_PASSWORD,
   * PASSWORD_ATTEMPTS_EXCEEDED, …); no answer in time is RECORD_NOT_READY (503, try again).
   */
  async requestUnlock(id: string, part: number, password: string, waitMs: number): Promise<UnlockJobResult> {
    const publicKey = await withTimeout(this.#connection.get(unlockKeyName(this.#cfg.queue.prefix)));
    if (!publicKey) throw new MukaikaError('QUEUE_UNAVAILABLE', 'no sanitize worker has published its unlock key yet');
    const notAfter = Date.now() + waitMs;
    const events = await this.#unlockEvents();
    const data: UnlockJobData = { id, part, notAfter, sealed: sealPassword(publicKey, password, id, part, notAfter) };
    // One try only: a second run would spend a second attempt. Outcomes stay a minute for the waiting
    // caller to read; they hold no password (the worker strips the seal first).
    const job = await withTimeout(this.unlock.add('unlock', data, { attempts: 1, removeOnComplete: { age: 60 }, removeOnFail: { age: 60 } }));
    try {
      return (await job.waitUntilFinished(events, waitMs)) as UnlockJobResult;
    } catch (err) {
      throw unlockFailure(err);
    } finally {
      // Still waiting (no worker took it in time): the sealed password leaves Redis now. An active job is
      // locked and refuses removal; its worker has stripped the seal already.
      await job.remove().catch(() => undefined);
    }
  }

  /**
   * Resolves once Redis has stored the job. The job id makes a re-relayed message a no-op. With `revive`
   * (the recovery sweep, for records the database says are unfinished) a job that already ended is
   * removed first: `add` with the id of a finished job would silently do nothing.
   */
  async enqueueSanitize(id: string, revive = false): Promise<void> {
    if (revive) await this.#dropFinished(this.sanitize, id);
    await withTimeout(this.sanitize.add('sanitize', { id }, { ...this.#opts, jobId: id }));
  }

  async enqueueDeliver(id: string, batch: number, revive = false): Promise<void> {
    const jobId = `${id}-b${batch}`;
    if (revive) await this.#dropFinished(this.deliver, jobId);
    await withTimeout(this.deliver.add('deliver', { id, batch }, { ...this.#opts, jobId }));
  }

  async #dropFinished(queue: Queue, jobId: string): Promise<void> {
    const state = await withTimeout(queue.getJobState(jobId));
    if (state === 'failed' || state === 'completed') await withTimeout(queue.remove(jobId));
  }

  /** The sandbox modes the live sanitize workers reported (at most a few hundred keys: one per worker). */
  async sandboxReports(): Promise<SandboxReport[]> {
    const keys = await withTimeout(this.#connection.keys(sandboxReportKey(this.#cfg.queue.prefix, '*')));
    if (keys.length === 0) return [];
    const values = await withTimeout(this.#connection.mget(...keys.slice(0, 500)));
    const reports: SandboxReport[] = [];
    for (const v of values) {
      try {
        if (v) reports.push(JSON.parse(v) as SandboxReport);
      } catch {
        /* a damaged report is no report */
      }
    }
    return reports.sort((a, b) => a.worker.localeCompare(b.worker));
  }

  async ping(): Promise<boolean> {
    try {
      return (await withTimeout(this.#connection.ping())) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.sanitize.close(), this.deliver.close(), this.unlock.close(), this.#events?.events.close()]);
    this.#events?.connection.disconnect();
    this.#connection.disconnect();
  }
}

/** A failed unlock job's reason (`CODE: detail`, jobs/workers.ts) as the catalogue error the worker threw. */
function unlockFailure(err: unknown): MukaikaError {
  if (err instanceof MukaikaError) return err;
  const message = (err as Error | null)?.message ?? String(err);
  const m = /^([A-Z_]+): ([\s\S]*)$/.exec(message);
  if (m && isErrorCode(m[1])) return new MukaikaError(m[1], m[2]);
  // No answer in time, or the worker died mid-attempt (its slot is refunded: docs/DESIGN.md).
  if (/timed out before finishing|stalled/.test(message)) return new MukaikaError('RECORD_NOT_READY', message);
  return new MukaikaError('INTERNAL', message, { cause: err });
}

async function withTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new MukaikaError('QUEUE_UNAVAILABLE', 'enqueue timed out')), ENQUEUE_TIMEOUT_MS);
  });
  try {
    return await Promise.race([p, timeout]);
  } catch (err) {
    if (err instanceof MukaikaError) throw err;
    const message = (err as Error).message ?? String(err);
    // Redis at maxmemory with noeviction refuses writes: "low Redis memory" is 452 4.3.1 (README "Postfix"; docs/DESIGN.md §5), not 451.
    if (/\bOOM command not allowed\b/.test(message)) throw new MukaikaError('INSUFFICIENT_STORAGE', 'Redis is out of memory', { cause: err });
    throw new MukaikaError('QUEUE_UNAVAILABLE', message, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
