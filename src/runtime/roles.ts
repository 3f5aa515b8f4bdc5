import type { Context } from '../context.js';
import { requeueStuck } from '../jobs/recovery.js';
import { purgeOriginals } from '../jobs/retention.js';
import { startDeliverWorker, startSanitizeWorker } from '../jobs/workers.js';
import { EVT } from '../log.js';
import { logSandboxMode } from '../isolation/sandbox.js';
import type { Stop } from './role-life.js';

export type { Stop };

/** Jobs that lost their queue entry are put back, and originals past retention removed: at start, then every minute. */
function startRecovery(ctx: Context): Stop {
  const run = async () => {
    try {
      const n = await requeueStuck(ctx, 60_000);
      if (n) ctx.log.warn({ requeued: n }, 'requeued work that had no job');
      const purged = await purgeOriginals(ctx);
      if (purged) ctx.log.info({ purged }, 'originals past retention removed');
    } catch (err) {
      ctx.log.warn({ err: (err as Error).message }, 'recovery sweep failed');
    }
  };
  void run();
  const timer = setInterval(run, 60_000);
  timer.unref();
  return async () => clearInterval(timer);
}

export async function runWorker(ctx: Context, kind: 'sanitize' | 'deliver'): Promise<Stop> {
  const worker = kind === 'sanitize' ? startSanitizeWorker(ctx) : startDeliverWorker(ctx);
  const recovery = kind === 'sanitize' ? startRecovery(ctx) : async () => undefined;
  ctx.log.info({ evt: EVT.STARTED, role: `worker ${kind}` }, 'worker running');
  if (kind === 'sanitize') logSandboxMode(ctx.log, 'worker sanitize');
  return async () => {
    await recovery();
    await worker.close();
  };
}
