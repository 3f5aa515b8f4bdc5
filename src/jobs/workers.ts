import { DelayedError, UnrecoverableError, Worker, type ConnectionOptions, type Job, type WorkerOptions } from 'bullmq';
import type { Context } from '../context.js';
import { RelayBreaker } from '../deliver/breaker.js';
import { createTransport, type Transport } from '../deliver/transport.js';
import { deliverBatch, expireWaiting } from '../deliver/deliver.js';
import { toMukaikaError } from '../errors.js';
import { EVT } from '../log.js';
import { hostname } from 'node:os';
import { probeSandbox, sandboxStatus } from '../isolation/sandbox.js';
import { QUEUE_NAMES, SANDBOX_REPORT_TTL_S, sandboxReportKey, unlockKeyName, workerConnection, type DeliverJobData, type SanitizeJobData, type UnlockJobData } from '../queue/queues.js';
import { loadUnlockKey } from '../queue/unlock-seal.js';
import { stopSanitizers } from '../sanitize/lifecycle.js';
import { CrashGuard } from './crash-guard.js';
import { giveUpSanitize } from './give-up.js';
import { processSanitize } from './sanitize-job.js';
import { processUnlock } from './unlock.js';

export interface RunningWorker {
  worker: Worker;
  /** Waits for running jobs up to queue.shutdownTimeoutMs, then closes anyway (jobs go back to the queue). */
  close(): Promise<void>;
}

/** Permanent failures become UnrecoverableError so BullMQ stops retrying; the decision is the catalogue's. */
function mapError(err: unknown): Error {
  // BullMQ's own control flow (job moved to delayed, or back to wait under the rate limit) passes through.
  if (err instanceof DelayedError || (err as Error).message === Worker.RateLimitError().message) return err as Error;
  const e = toMukaikaError(err);
  if (!e.retryable) return new UnrecoverableError(`${e.code}: ${e.message}`);
  return Object.assign(new Error(`${e.code}: ${e.message}`), { code: e.code });
}

interface Hooks<T> {
  onClose?: () => void;
  /** Before a forced close (shutdown timeout): the jobs cut short are not crashes. */
  onForcedClose?: () => Promise<void>;
  /** BullMQ worker options for this queue only (the sanitize worker's stall margin, the deliver worker's limiter). */
  options?: Partial<WorkerOptions>;
  /** The job will not be tried again. */
  onGaveUp?: (job: Job<T>, err: Error) => Promise<void>;
  /** A failed job is an answer for its requester (a wrong password), not a fault: not logged as one. */
  failureIsAnswer?: boolean;
}

function start<T>(ctx: Context, name: string, concurrency: number, fn: (job: Job<T>, token: string | undefined, worker: Worker<T>) => Promise<unknown>, hooks: Hooks<T> = {}): RunningWorker {
  const connection = workerConnection(ctx.config);
  const worker: Worker<T> = new Worker<T>(name, async (job, token) => {
    try {
      return await fn(job, token, worker);
    } catch (err) {
      throw mapError(err);
    }
  }, { connection: connection as unknown as ConnectionOptions, prefix: ctx.config.queue.prefix, concurrency, autorun: true, ...hooks.options });
  worker.on('error', (err) => ctx.log.warn({ err: err.message, queue: name }, 'worker error'));
  worker.on('failed', (job, err) => {
    if (!job || hooks.failureIsAnswer) return;
    // Final when BullMQ has moved it to the failed set (no retry left, or unrecoverable).
    void job.getState().then(async (state) => {
      if (state !== 'failed') return;
      ctx.log.error({ queue: name, id: (job.data as { id?: string }).id, err: err.message }, 'job failed for good');
      await hooks.onGaveUp?.(job, err);
    }).catch((e: unknown) => ctx.log.error({ queue: name, err: (e as Error).message }, 'give-up handling failed'));
  });
  return {
    worker,
    async close() {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<'timeout'>((r) => { timer = setTimeout(() => r('timeout'), ctx.config.queue.shutdownTimeoutMs); });
      const res = await Promise.race([worker.close(), timeout]);
      clearTimeout(timer);
      if (res === 'timeout') {
        await hooks.onForcedClose?.().catch((e: unknown) => ctx.log.warn({ queue: name, err: (e as Error).message }, 'could not clear crash counts'));
        await worker.close(true);
      }
      hooks.onClose?.();
      connection.disconnect();
    },
  };
}

/**
 * A stalled sanitize job (its process died) always goes back to the queue: BullMQ's own stall limit would fail
 * the innocent jobs that happened to run beside a poison mail. The crash guard decides instead: it ends the
 * poison after `queue.sanitizeMaxCrashes` and runs suspects alone (crash-guard.ts). Jobs waiting in a process
 * for a suspect to finish stall with it uncounted, hence the wide margin kept as a last resort.
 */
const SANITIZE_STALLS_ALLOWED = 1000;

/** Sanitize workers sanitize mail and try PPAP passwords: two BullMQ workers, closed together. */
export function startSanitizeWorker(ctx: Context): RunningWorker {
  const sanitize = startSanitizeQueue(ctx);
  const unlock = startUnlockWorker(ctx);
  return {
    worker: sanitize.worker,
    async close() {
      await Promise.all([unlock.close(), sanitize.close()]);
    },
  };
}

/**
 * PPAP unlock jobs (docs/DESIGN.md, "Unlock through the worker"). The public half of the workers' key is
 * published for the roles that seal passwords. One try per job; a stalled one (its worker died mid-attempt)
 * fails at once instead of running again: the caller is told to try again, and the attempt slot it held
 * expires unspent (store/unlocks.ts).
 */
function startUnlockWorker(ctx: Context): RunningWorker {
  const key = loadUnlockKey(ctx.config.dataDir);
  const redis = workerConnection(ctx.config);
  const worker = `${hostname()}:${process.pid}`;
  const publish = () => Promise.all([
    redis.set(unlockKeyName(ctx.config.queue.prefix), key.publicKeyPem),
    // The sandbox mode this worker's parsers run in, for the /readyz of roles that run none.
    redis.set(sandboxReportKey(ctx.config.queue.prefix, worker), JSON.stringify({ worker, ...sandboxStatus(), refused: probeSandbox().refused === true, at: Date.now() }), 'EX', SANDBOX_REPORT_TTL_S),
  ]).catch((err: unknown) => ctx.log.warn({ err: (err as Error).message }, 'could not publish the unlock key or the sandbox report'));
  void publish();
  // Published again now and then: a Redis that lost its data (restart without persistence) gets it back.
  const timer = setInterval(() => void publish(), 60_000);
  timer.unref();
  return start<UnlockJobData>(ctx, QUEUE_NAMES.unlock, ctx.config.queue.sanitizeConcurrency,
    (job) => processUnlock(ctx, key, job),
    {
      onClose: () => {
        clearInterval(timer);
        redis.disconnect();
      },
      options: { maxStalledCount: 0 },
      failureIsAnswer: true,
    });
}

function startSanitizeQueue(ctx: Context): RunningWorker {
  const redis = workerConnection(ctx.config);
  const guard = new CrashGuard(redis, ctx.config.queue.prefix, ctx.config.queue.sanitizeMaxCrashes);
  return start<SanitizeJobData>(ctx, QUEUE_NAMES.sanitize, ctx.config.queue.sanitizeConcurrency,
    async (job) => {
      const id = job.data.id;
      const crashes = await guard.crashes(id);
      // Only a mail still to be sanitized is given up; one that got its verdict just before a death only needs
      // its delivery job ensured, which processSanitize does without sanitizing again.
      if (crashes >= guard.maxCrashes && (await ctx.records.getMessage(id))?.status === 'received') {
        ctx.log.error({ evt: EVT.SANITIZE_CRASHED, id, crashes }, 'job was running at each of its worker\'s deaths: original held');
        await giveUpSanitize(ctx, id, `worker died ${crashes} times while running it`, 'WORKER_CRASHED');
        await guard.clear(id);
        return;
      }
      if (crashes > 0) ctx.log.warn({ evt: EVT.SANITIZE_CRASHED, id, crashes }, 'job was running when its worker died: runs alone');
      await guard.run(id, crashes > 0, () => processSanitize(ctx, id));
    },
    {
      onClose: () => {
        void stopSanitizers();
        redis.disconnect();
      },
      onForcedClose: () => guard.forgetRunning(),
      onGaveUp: (job, err) => giveUpSanitize(ctx, job.data.id, err.message),
      options: { maxStalledCount: SANITIZE_STALLS_ALLOWED },
    });
}

/**
 * Delivery never gives up on accepted mail within lgwan.retryLifetimeMs (docs/RELIABILITY.md, "Retry
 * lifetime and circuit breaker"). A temporary failure of one mail moves its job to delayed with the mail's
 * own capped backoff (BullMQ attempts are not spent: they count internal faults only). A relay that cannot
 * be reached opens the shared breaker: the queue is rate-limited for the probe delay and the job goes back
 * to the head of the wait list, so the backlog keeps its arrival order and drains at full speed once a
 * probe gets through.
 */
export function startDeliverWorker(ctx: Context, transport: Transport = createTransport(ctx.config)): RunningWorker {
  const { config, log } = ctx;
  const redis = workerConnection(config);
  const breaker = new RelayBreaker(redis, {
    prefix: config.queue.prefix, baseMs: config.queue.backoffMs, maxMs: config.lgwan.probeMaxDelayMs,
    threshold: config.lgwan.breakerThreshold, probeLockMs: config.lgwan.connectionTimeoutMs * 6,
  });
  const waitInLine = async (ms: number): Promise<never> => {
    await ctx.queues.deliver.rateLimit(Math.max(1, ms));
    throw Worker.RateLimitError();
  };
  const running = start<DeliverJobData>(ctx, QUEUE_NAMES.deliver, config.queue.deliverConcurrency, async (job, token) => {
    const a = { id: job.data.id, batch: job.data.batch };
    const gate = await breaker.gate();
    if (!gate.pass) {
      if ((await expireWaiting(ctx, a, gate.reply)) === 0) return;
      return waitInLine(gate.waitMs);
    }
    let res: Awaited<ReturnType<typeof deliverBatch>>;
    try {
      res = await deliverBatch(ctx, transport, a);
    } catch (err) {
      // Not the relay's verdict (a database fault, say): without this the lock would hold off every probe.
      if (gate.probe) await breaker.releaseProbe();
      throw err;
    }
    if (res.kind === 'relay-down') {
      const probeInMs = await breaker.relayDown(res.reply);
      log.warn({ evt: EVT.RELAY_DOWN, id: a.id, reply: res.reply, probeInMs }, 'LGWAN relay unreachable: delivery paused, probing');
      return waitInLine(probeInMs);
    }
    if (res.kind === 'retry' && res.mailDeferred !== undefined && res.delivered === 0) {
      // A probe answered 4xx as a whole is a failed probe: the delay doubles and the lock is released.
      const probeInMs = gate.probe ? await breaker.relayDown(res.mailDeferred) : await breaker.mailDeferred(res.mailDeferred);
      if (probeInMs !== undefined) log.warn({ evt: EVT.RELAY_DOWN, id: a.id, reply: res.mailDeferred, probeInMs }, 'LGWAN relay defers every mail: delivery paused, probing');
    } else if (res.answered) {
      if (await breaker.succeeded()) log.info({ evt: EVT.RELAY_BACK, id: a.id }, 'LGWAN relay answers again: delivery resumed');
    } else if (gate.probe) {
      // Nothing was left to send: no verdict on the relay, so the next job probes.
      await breaker.releaseProbe();
    }
    if (res.kind === 'retry') {
      await job.moveToDelayed(Date.now() + res.delayMs, token);
      throw new DelayedError();
    }
  }, {
    onClose: () => {
      transport.close();
      redis.disconnect();
    },
    // A manual rate limit (the breaker's pause) is only enforced for a worker with a limiter; this one never
    // limits by itself.
    options: { limiter: { max: 1_000_000, duration: 1000 } },
  });
  return running;
}
