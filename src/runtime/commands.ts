import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { loadConfig, logConfigWarnings, maskedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import type { Context } from '../context.js';
import { createLogger, EVT } from '../log.js';
import { migrate, openDatabase } from '../store/db.js';
import { databaseUrlOf } from '../config/load.js';
import { ensureRedis } from './redis-child.js';
import { runRoleProcess, waitForSignal, type Stop } from './role-life.js';
import { superviseRoles } from './supervisor.js';

// Each role's modules are imported only by the command that runs it: the LGWAN-side `mukaika web` process
// never loads the Internet-side context, the originals store, the queues or a sanitizer (docs/DESIGN.md,
// "Roles own their use cases"; test/web-role.test.ts).

export const USAGE = `usage:
  mukaika start                         gateway + workers + web (starts a local redis-server if needed)
  mukaika gateway                       SMTP and HTTP intake (Internet side)
  mukaika worker sanitize|deliver       one kind of worker
  mukaika web                           LGWAN-side web server
  mukaika sanitize FILE [--out DIR] [--password P]
                                        offline: sanitize one .eml or file (exit 0 sanitized, 2 held/rejected, 1 error)
  mukaika deliveries failed [--since T] deliveries that failed for good (tab-separated: failed at, id, batch,
                                        recipient, attempts, last reply), oldest first
  mukaika redeliver ID | --failed-since T
                                        put failed deliveries (of one message, or failed since time T, ISO 8601)
                                        back in the queue with a new retry lifetime (exit 2: none matched)
  mukaika config print                  effective configuration, secrets masked
  mukaika token hash TOKEN              sha256 of an API token, for http.tokenHashes`;

async function runRole(config: Config, start: (ctx: Context) => Promise<Stop>): Promise<number> {
  const log = createLogger(config.log.level);
  // Under `mukaika start` (an IPC channel) the supervisor has logged the warnings once for all roles.
  if (!process.send) logConfigWarnings(config, log);
  const { closeContext, openContext } = await import('../context.js');
  return runRoleProcess(log, async () => {
    const ctx = await openContext(config, log);
    return Object.assign(ctx, { close: () => closeContext(ctx) });
  }, start);
}

/** A command that needs the database and the queue, with a context opened and closed around it. */
async function withContext(config: Config, fn: (ctx: Context) => Promise<number>): Promise<number> {
  const { closeContext, openContext } = await import('../context.js');
  const ctx = await openContext(config, createLogger(config.log.level));
  try {
    return await fn(ctx);
  } finally {
    await closeContext(ctx);
  }
}

export interface CommandOptions {
  out?: string | undefined;
  password?: string | undefined;
  help?: boolean | undefined;
  since?: string | undefined;
  'failed-since'?: string | undefined;
}

export async function runCommand(args: string[], opts: CommandOptions): Promise<number> {
  const [cmd, sub, arg] = args;
  if (opts.help || !cmd) {
    console.error(USAGE);
    return cmd ? 0 : 1;
  }
  const config = loadConfig();
  switch (cmd) {
    case 'start': {
      const log = createLogger(config.log.level);
      const redis = await ensureRedis(config, log);
      // Migrate once here so the roles do not race on a fresh database.
      const database = openDatabase(databaseUrlOf(config));
      await migrate(database);
      await database.close();
      logConfigWarnings(config, log);
      const tree = superviseRoles(log, { ...process.env, REDIS_URL: redis.url }, config.queue.shutdownTimeoutMs + 10_000);
      const signal = waitForSignal();
      // "started" only once every role listens or runs; a role that keeps failing is logged (MK004) instead.
      const first = await Promise.race([tree.ready.then(() => undefined), signal]);
      if (first === undefined) log.info({ evt: EVT.STARTED, role: 'start', smtp: config.smtp.port, http: config.http.port, web: config.web.port }, 'mukaika started');
      const sig = await signal;
      log.info({ evt: EVT.STOPPING, signal: sig }, 'stopping');
      await tree.stop();
      await redis.stop();
      return 0;
    }
    case 'gateway': {
      const { runGateway } = await import('../ingress/role.js');
      return runRole(config, runGateway);
    }
    case 'worker': {
      if (sub !== 'sanitize' && sub !== 'deliver') throw new Error('worker kind must be sanitize or deliver');
      const { runWorker } = await import('./roles.js');
      return runRole(config, (ctx) => runWorker(ctx, sub));
    }
    case 'web': {
      const log = createLogger(config.log.level);
      if (!process.send) logConfigWarnings(config, log);
      const [{ openWebContext }, { runWeb }] = await Promise.all([import('../web/context.js'), import('../web/role.js')]);
      return runRoleProcess(log, async () => openWebContext(config, log), runWeb);
    }
    case 'sanitize': {
      if (!sub) throw new Error('sanitize needs a FILE');
      const { offlineSanitize } = await import('./offline.js');
      return offlineSanitize(config, sub, opts);
    }
    case 'deliveries': {
      if (sub !== 'failed') throw new Error('usage: mukaika deliveries failed [--since T]');
      const { formatDeliveries, listFailed } = await import('../deliver/redeliver.js');
      return withContext(config, async (ctx) => {
        process.stdout.write(formatDeliveries(await listFailed(ctx, opts.since ? { since: new Date(opts.since) } : {})));
        return 0;
      });
    }
    case 'redeliver': {
      const since = opts['failed-since'];
      if (!sub && !since) throw new Error('usage: mukaika redeliver ID | --failed-since T');
      const { formatDeliveries, redeliver } = await import('../deliver/redeliver.js');
      return withContext(config, async (ctx) => {
        const rows = await redeliver(ctx, { ...(sub ? { id: sub } : {}), ...(since ? { since: new Date(since) } : {}) });
        process.stdout.write(`${rows.length} failed deliveries put back\n${formatDeliveries(rows)}`);
        return rows.length > 0 ? 0 : 2;
      });
    }
    case 'config': {
      if (sub !== 'print') throw new Error('usage: mukaika config print');
      const { sandboxStatus } = await import('../isolation/sandbox.js');
      process.stdout.write(stringify({ ...maskedConfig(config), sandbox: sandboxStatus() }));
      return 0;
    }
    case 'token': {
      if (sub !== 'hash') throw new Error('usage: mukaika token hash TOKEN');
      const { hashToken } = await import('../ingress/http.js');
      process.stdout.write(`${hashToken(arg ?? readFileSync(0, 'utf8').trim())}\n`);
      return 0;
    }
    default:
      console.error(USAGE);
      return 1;
  }
}
