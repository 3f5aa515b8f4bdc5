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
  const child = spawn('redis-server', [
    '--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'always',
    '--save', '', '--protected-mode', 'yes', '--logfile', path.join(dir, 'redis.log'),
  ], { stdio: 'ignore' });
  log.info({ evt: EVT.REDIS_CHILD, pid: child.pid, dir }, 'started a local redis-server');
  for (let i = 0; i < 100; i++) {
    if (await reachable('127.0.0.1', port, 200)) {
      return {
        url: cfg.redisUrl,
        child,
        async stop() {
          if (child.exitCode !== null) return;
          const exited = new Promise((r) => child.once('exit', r));
          child.kill('SIGTERM');
          await exited;
        },
      };
    }
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  child.kill('SIGKILL');
  throw new MukaikaError('QUEUE_UNAVAILABLE', `local redis-server did not come up; see ${path.join(dir, 'redis.log')}`);
}
