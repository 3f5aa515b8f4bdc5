import type { AddressInfo } from 'node:net';
import type { Context } from '../context.js';
import { EVT } from '../log.js';
import { cannotListen, type Stop } from '../runtime/role-life.js';
import { buildHttp } from './http.js';
import { startSmtp } from './smtp.js';

// The gateway role's own module: it accepts and queues, and loads no sanitizer (docs/DESIGN.md, "Roles own
// their use cases"; test/web-role.test.ts checks its module graph).

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
