import { readFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { loadConfig, logConfigWarnings, maskedConfig } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { closeContext, openContext } from '../context.js';
import { hashToken } from '../ingress/http.js';
import { createLogger, EVT } from '../log.js';
import { migrate, openDatabase } from '../store/db.js';
import { databaseUrlOf } from '../config/load.js';
import { sandboxStatus } from '../isolation/sandbox.js';
import { formatDeliveries, listFailed, redeliver } from '../deliver/redeliver.js';
import { offlineSanitize } from './offline.js';
import { ensureRedis } from './redis-child.js';
import { announceReady, roleFailed, runGateway, runWeb, runWorker, type Stop } from './roles.js';
import { superviseRoles } from './supervisor.js';

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

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}

async function runRole(config: Config, start: (ctx: Awaited<ReturnType<typeof openContext>>) => Promise<Stop>): Promise<number> {
  const log = createLogger(config.log.level);
  // Under `mukaika start` (an IPC channel) the supervisor has logged the warnings once for all roles.
  if (!process.send) logConfigWarnings(config, log);
  let ctx: Awaited<ReturnType<typeof openContext>> | undefined;
  let stop: Stop;
  try {
    ctx = await openContext(config, log);
    stop = await start(ctx);
  } catch (err) {
    const code = await roleFailed(log, ctx, err);
    // A half-started role may hold handles (sockets, timers) that would keep it alive: it must end non-zero
    // so that the supervisor sees it and restarts it. Unref'd: a clean exit does not wait for it.
    setTimeout(() => process.exit(code), 2000).unref();
    return code;
  }
  announceReady();
  const sig = await waitForSignal();
  log.info({ evt: EVT.STOPPING, signal: sig }, 'stopping');
  await stop();
  await closeContext(ctx);
  return 0;
}

/** A command that needs the database and the queue, with a context opened and closed around it. */
async function withContext(config: Config, fn: (ctx: Awaited<ReturnType<typeof openContext>>) => Promise<number>): Promise<number> {
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
    case 'gateway':
      return runRole(config, runGateway);
    case 'worker':
      if (sub !== 'sanitize' && sub !== 'deliver') throw new Error('worker kind must be sanitize or deliver');
      return runRole(config, (ctx) => runWorker(ctx, sub));
    case 'web':
      return runRole(config, runWeb);
    case 'sanitize':
      if (!sub) throw new Error('sanitize needs a FILE');
      return offlineSanitize(config, sub, opts);
    case 'deliveries':
      if (sub !== 'failed') throw new Error('usage: mukaika deliveries failed [--since T]');
      return withContext(config, async (ctx) => {
        process.stdout.write(formatDeliveries(await listFailed(ctx, opts.since ? { since: new Date(opts.since) } : {})));
        return 0;
      });
    case 'redeliver': {
      const since = opts['failed-since'];
      if (!sub && !since) throw new Error('usage: mukaika redeliver ID | --failed-since T');
      return withContext(config, async (ctx) => {
        const rows = await redeliver(ctx, { ...(sub ? { id: sub } : {}), ...(since ? { since: new Date(since) } : {}) });
        process.stdout.write(`${rows.length} failed deliveries put back\n${formatDeliveries(rows)}`);
        return rows.length > 0 ? 0 : 2;
      });
    }
    case 'config':
      if (sub !== 'print') throw new Error('usage: mukaika config print');
      process.stdout.write(stringify({ ...maskedConfig(config), sandbox: sandboxStatus() }));
      return 0;
    case 'token':
      if (sub !== 'hash') throw new Error('usage: mukaika token hash TOKEN');
      process.stdout.write(`${hashToken(arg ?? readFileSync(0, 'utf8').trim())}\n`);
      return 0;
    default:
      console.error(USAGE);
      return 1;
  }
}
