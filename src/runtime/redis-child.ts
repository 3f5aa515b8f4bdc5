import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.js';
import { maskSecrets } from '../config/mask.js';
import { MukaikaError } from '../errors.js';
import { EVT, type Logger } from '../log.js';

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

function reachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export interface RedisHandle {
  url: string;
  child?: ChildProcess;
  stop(): Promise<void>;
}

/**
 * The embedded default: when Redis is not reachable at the default URL and `redis-server` is installed,
 * run one as a child, its append-only file in the data dir so queued jobs survive a restart. Any other
 * configured URL must be reachable; we never start a server for it.
 */
export async function ensureRedis(cfg: Config, log: Logger, defaultUrl = DEFAULT_REDIS_URL): Promise<RedisHandle> {
  const u = new URL(cfg.redisUrl);
  const port = Number(u.port || 6379);
  if (await reachable(u.hostname, port)) return { url: cfg.redisUrl, stop: async () => undefined };
  if (cfg.redisUrl !== defaultUrl) {
    throw new MukaikaError('QUEUE_UNAVAILABLE', `Redis is not reachable at ${maskSecrets(cfg.redisUrl)}; start it or fix REDIS_URL`);
  }
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status !== 0) {
    throw new MukaikaError('QUEUE_UNAVAILABLE', `Redis is not reachable at ${defaultUrl} and redis-server is not installed (apt-get install redis-server)`);
  }
  const dir = path.join(cfg.dataDir, 'redis');
  mkdirSync(dir, { recursive: true });
  const launch = () => {
    const c = spawn('redis-server', [
      '--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always',
      '--save', '', '--protected-mode', 'yes', '--logfile', path.join(dir, 'redis.log'),
    ], { stdio: 'ignore' });
    c.on('error', () => undefined);
    log.info({ evt: EVT.REDIS_CHILD, pid: c.pid, dir }, 'started a local redis-server');
    return c;
  };
  const child = launch();
  for (let i = 0; i < 100; i++) {
    if (await reachable('127.0.0.1', port, 200)) return superviseRedis(child, launch, log, cfg.redisUrl);
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new MukaikaError('QUEUE_UNAVAILABLE', `local redis-server did not come up; see ${path.join(dir, 'redis.log')}`);
}

/**
 * The local redis-server, once up, is started again whenever it exits (killed for memory, crashed), like a
 * role (MK004, capped exponential pause; its append-only file keeps the queue). Without this every role
 * kept retrying a port nothing would ever listen on again, while `mukaika start` looked healthy.
 */
function superviseRedis(first: ChildProcess, launch: () => ChildProcess, log: Logger, url: string): RedisHandle {
  let child = first;
  let stopping = false;
  let failures = 0;
  let restarts = 0;
  let startedAt = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const watch = (c: ChildProcess) => {
    let seen = false;
    // A spawn that fails (redis-server gone) may emit only 'error': it is an exit too.
    const exited = (code: number | null, signal: NodeJS.Signals | null) => {
      if (seen || stopping) return;
      seen = true;
      if (Date.now() - startedAt >= 60_000) failures = 0;
      const delayMs = Math.min(30_000, 500 * 2 ** failures++);
      restarts++;
      log.error({ evt: EVT.ROLE_EXITED, role: 'redis-server', code, signal, restarts, delayMs }, `local redis-server exited; restarting in ${delayMs} ms`);
      timer = setTimeout(() => {
        timer = undefined;
        if (stopping) return;
        startedAt = Date.now();
        child = launch();
        watch(child);
      }, delayMs);
    };
    c.once('exit', exited);
    c.once('error', () => { if (c.pid === undefined) exited(null, null); });
  };
  watch(child);
  return {
    url,
    get child() {
      return child;
    },
    async stop() {
      stopping = true;
      if (timer) clearTimeout(timer);
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
