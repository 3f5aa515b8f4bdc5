import type { AddressInfo } from 'node:net';
import type { Context } from '../context.js';
import { buildHttp } from '../ingress/http.js';
import { startSmtp } from '../ingress/smtp.js';
import { requeueStuck } from '../jobs/recovery.js';
import { purgeOriginals } from '../jobs/retention.js';
import { startDeliverWorker, startSanitizeWorker } from '../jobs/workers.js';
import { EVT } from '../log.js';
import { logSandboxMode } from '../sanitize/render/sandbox.js';
import { cannotListen, type Stop } from './role-life.js';

export type { Stop };

/** Internet side: SMTP and HTTP intake. A listener that cannot listen closes the other and throws. */
export async function runGateway(ctx: Context): Promise<Stop> {
  const { smtp: s, http: h } = ctx.config;
  const smtp = await startSmtp(ctx).catch((err: unknown) => { throw cannotListen('smtp', s.host, s.port, err); });
  let http: ReturnType<typeof buildHttp>;
  try {
    // buildHttp refuses an open-file limit too low for both listeners (http-limits.ts).
    http = buildHttp(ctx);
  } catch (err) {
    await smtp.close();
    throw err;
  }
  try {
    await http.listen({ port: h.port, host: h.host });
  } catch (err) {
    await http.close().catch(() => undefined);
    await smtp.close();
    throw cannotListen('http', h.host, h.port, err);
  }
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
