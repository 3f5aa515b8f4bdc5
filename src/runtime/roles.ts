import type { AddressInfo } from 'node:net';
import type { Context } from '../context.js';
import { buildHttp } from '../ingress/http.js';
import { startSmtp } from '../ingress/smtp.js';
import { requeueStuck } from '../jobs/recovery.js';
import { purgeOriginals } from '../jobs/retention.js';
import { startDeliverWorker, startSanitizeWorker } from '../jobs/workers.js';
import { EVT } from '../log.js';
import { logSandboxMode } from '../sanitize/render/sandbox.js';
import { buildWeb } from '../web/server.js';

export type Stop = () => Promise<void>;

/** Internet side: SMTP and HTTP intake. */
export async function runGateway(ctx: Context): Promise<Stop> {
  const smtp = await startSmtp(ctx);
  const http = buildHttp(ctx);
  await http.listen({ port: ctx.config.http.port, host: ctx.config.http.host });
  ctx.log.info({ evt: EVT.STARTED, role: 'gateway', smtp: smtp.port, http: (http.server.address() as AddressInfo).port }, 'gateway listening');
  return async () => {
    await smtp.close();
    await http.close();
  };
}

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

/** LGWAN side: the web view (reads the sanitized store only). */
export async function runWeb(ctx: Context): Promise<Stop> {
  const web = buildWeb(ctx);
  await web.listen({ port: ctx.config.web.port, host: ctx.config.web.host });
  ctx.log.info({ evt: EVT.STARTED, role: 'web', port: (web.server.address() as AddressInfo).port }, 'web listening');
  return () => web.close();
}
