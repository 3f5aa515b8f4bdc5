import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config/schema.js';
import { MukaikaError } from '../errors.js';

export const QUEUE_NAMES = { sanitize: 'sanitize', deliver: 'deliver' } as const;

/** Job payloads carry ids only: the message lives in the spool and the database. */
export interface SanitizeJobData {
  id: string;
}
export interface DeliverJobData {
  id: string;
  /** 0 = the sanitized mail, n > 0 = the n-th follow-up (unlocked attachment). */
  batch: number;
}

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
  readonly #connection: Redis;
  readonly #opts: JobsOptions;

  constructor(cfg: Config, connection: Redis = producerConnection(cfg)) {
    this.#connection = connection;
    const common = { connection: connection as unknown as ConnectionOptions, prefix: cfg.queue.prefix };
    this.sanitize = new Queue<SanitizeJobData>(QUEUE_NAMES.sanitize, common);
    this.deliver = new Queue<DeliverJobData>(QUEUE_NAMES.deliver, common);
    this.sanitize.on('error', () => undefined);
    this.deliver.on('error', () => undefined);
    this.#opts = jobOptions(cfg);
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

  async ping(): Promise<boolean> {
    try {
      return (await withTimeout(this.#connection.ping())) === 'PONG';
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.sanitize.close(), this.deliver.close()]);
    this.#connection.disconnect();
  }
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
    // Redis at maxmemory with noeviction refuses writes: "low Redis memory" is 452 4.3.1 (BRIEF §4), not 451.
    if (/\bOOM command not allowed\b/.test(message)) throw new MukaikaError('INSUFFICIENT_STORAGE', 'Redis is out of memory', { cause: err });
    throw new MukaikaError('QUEUE_UNAVAILABLE', message, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
