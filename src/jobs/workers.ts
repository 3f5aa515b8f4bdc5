import { UnrecoverableError, Worker, type ConnectionOptions, type Job, type WorkerOptions } from 'bullmq';
import type { Context } from '../context.js';
import { createTransport, type Transport } from '../deliver/transport.js';
import { deliverBatch } from '../deliver/deliver.js';
import { toMukaikaError } from '../errors.js';
import { QUEUE_NAMES, workerConnection, type DeliverJobData, type SanitizeJobData } from '../queue/queues.js';
import { stopSanitizers } from '../sanitize/lifecycle.js';
import { CrashGuard } from './crash-guard.js';
import { EVT } from '../log.js';
import { giveUpSanitize } from './give-up.js';
import { processSanitize } from './sanitize-job.js';

export interface RunningWorker {
  worker: Worker;
  /** Waits for running jobs up to queue.shutdownTimeoutMs, then closes anyway (jobs go back to the queue). */
  close(): Promise<void>;
}

function isLastAttempt(job: Job): boolean {
  return job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
}

/** Permanent failures become UnrecoverableError so BullMQ stops retrying; the decision is the catalogue's. */
function mapError(err: unknown): Error {
  const e = toMukaikaError(err);
  if (!e.retryable) return new UnrecoverableError(`${e.code}: ${e.message}`);
  return Object.assign(new Error(`${e.code}: ${e.message}`), { code: e.code });
}

interface Hooks<T> {
  onClose?: () => void;
  /** Before a forced close (shutdown timeout): the jobs cut short are not crashes. */
  onForcedClose?: () => Promise<void>;
  /** BullMQ worker options for this queue only. */
  options?: Partial<WorkerOptions>;
  /** The job will not be tried again. */
  onGaveUp?: (job: Job<T>, err: Error) => Promise<void>;
}

function start<T>(ctx: Context, name: string, concurrency: number, fn: (job: Job<T>) => Promise<void>, hooks: Hooks<T> = {}): RunningWorker {
  const connection = workerConnection(ctx.config);
  const worker = new Worker<T>(name, async (job) => {
    try {
      await fn(job);
    } catch (err) {
      throw mapError(err);
    }
  }, { connection: connection as unknown as ConnectionOptions, prefix: ctx.config.queue.prefix, concurrency, autorun: true, ...hooks.options });
  worker.on('error', (err) => ctx.log.warn({ err: err.message, queue: name }, 'worker error'));
  worker.on('failed', (job, err) => {
    if (!job) return;
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

export function startSanitizeWorker(ctx: Context): RunningWorker {
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

export function startDeliverWorker(ctx: Context, transport: Transport = createTransport(ctx.config)): RunningWorker {
  return start<DeliverJobData>(ctx, QUEUE_NAMES.deliver, ctx.config.queue.deliverConcurrency,
    (job) => deliverBatch(ctx, transport, { id: job.data.id, batch: job.data.batch, finalAttempt: isLastAttempt(job) }),
    { onClose: () => transport.close() });
}
