import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/log.js';
import { ensureRedis } from '../src/runtime/redis-child.js';
import { waitFor } from './helpers/harness.js';
import { RedisChild } from './helpers/redis-child.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-review20-redis-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the local redis-server of mukaika start is supervised like a role', () => {
  it('killed (SIGKILL, as the OOM killer does) twice, it is started again each time, logged MK004, with the queue data kept', async () => {
    const port = await RedisChild.freePort();
    const url = `redis://127.0.0.1:${port}`;
    const cfg = loadConfig({ env: {}, overrides: { dataDir: dir, redisUrl: url } });
    let out = '';
    const log = createLogger('info', new Writable({ write(c: Buffer, _e, cb) { out += c.toString(); cb(); } }));
    const handle = await ensureRedis(cfg, log, url);
    const r = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: () => 100, lazyConnect: true });
    r.on('error', () => undefined);
    try {
      await r.connect();
      await r.set('review20:kept', 'queued job');
      const pids = [handle.child!.pid!];
      for (let round = 1; round <= 2; round++) {
        handle.child!.kill('SIGKILL');
        const pid = await waitFor(() => (handle.child?.pid !== pids.at(-1) && handle.child?.exitCode === null ? handle.child.pid : undefined), 20_000);
        pids.push(pid);
        expect(await waitFor(async () => (await r.get('review20:kept').catch(() => null)) ?? undefined, 20_000)).toBe('queued job');
      }
      expect(new Set(pids).size).toBe(3);
      const exits = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.evt === 'MK004');
      expect(exits.map((l) => [l.level, l.role, l.signal, l.restarts, l.delayMs])).toEqual([
        [50, 'redis-server', 'SIGKILL', 1, 500],
        [50, 'redis-server', 'SIGKILL', 2, 1000],
      ]);
    } finally {
      r.disconnect();
      await handle.stop();
    }
    // Stopped on purpose: not started again.
    const last = handle.child!;
    expect(last.exitCode !== null || last.signalCode !== null).toBe(true);
    expect(out.split('\n').filter((l) => l.includes('"MK004"'))).toHaveLength(2);
  }, 90_000);
});
