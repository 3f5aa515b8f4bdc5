import type { AddressInfo } from 'node:net';
import { EVT } from '../log.js';
import { cannotListen, type Stop } from '../runtime/role-life.js';
import type { WebContext } from './context.js';
import { buildWeb } from './server.js';

/** LGWAN side: the web view, on a context that holds the sanitized area only (web/context.ts). */
export async function runWeb(ctx: WebContext): Promise<Stop> {
  const web = buildWeb(ctx);
  const { host, port } = ctx.config.web;
  await web.listen({ port, host }).catch(async (err: unknown) => {
    await web.close().catch(() => undefined);
    throw cannotListen('web', host, port, err);
  });
  ctx.log.info({ evt: EVT.STARTED, role: 'web', port: (web.server.address() as AddressInfo).port }, 'web listening');
  return () => web.close();
}
