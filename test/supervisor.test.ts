import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createLogger } from '../src/log.js';
import { superviseRoles } from '../src/runtime/supervisor.js';
import { dropRedisPrefix, REDIS_URL, waitFor } from './helpers/harness.js';
import { RedisChild } from './helpers/redis-child.js';
import { cliCommand, runCli } from './helpers/run-cli.js';

const dirs: string[] = [];
const prefixes: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const p of prefixes) await dropRedisPrefix(REDIS_URL, p);
});

/** A role's environment: private data dir and queue prefix, free ports unless given. */
async function roleEnv(ports: { smtp?: number; http?: number; web?: number } = {}): Promise<NodeJS.ProcessEnv> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-sup-'));
  dirs.push(dir);
  const prefix = `mksup${process.pid}x${dirs.length}`;
  prefixes.push(prefix);
  writeFileSync(path.join(dir, 'site.yaml'), `queue:\n  prefix: ${prefix}\n  shutdownTimeoutMs: 2000\nsmtp:\n  minFreeBytes: 0\n`);
  return {
    MUKAIKA_DATA_DIR: dir, MUKAIKA_CONFIG: path.join(dir, 'site.yaml'), REDIS_URL, LOG_LEVEL: 'info',
    SMTP_PORT: String(ports.smtp ?? await RedisChild.freePort()), HTTP_PORT: String(ports.http ?? await RedisChild.freePort()),
    WEB_PORT: String(ports.web ?? await RedisChild.freePort()),
  };
}

/** A plain TCP listener holding a port, as another program would. */
async function occupy(): Promise<{ port: number; release(): Promise<void> }> {
  const server = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, release: () => new Promise((r) => server.close(() => r())) };
}

const jsonLines = (out: string) => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);

describe('a role that cannot listen', () => {
  for (const listener of ['smtp', 'http'] as const) {
    it(`gateway exits 1 when its ${listener} port is in use, saying which and why`, async () => {
      const busy = await occupy();
      try {
        const run = await runCli(['gateway'], { ...(await roleEnv({ [listener]: busy.port })), LOG_LEVEL: 'info' });
        expect(run.code).toBe(1);
        const failed = jsonLines(run.stdout).filter((l) => l.evt === 'MK005');
        expect(failed.map((l) => [l.level, l.code, l.msg])).toEqual([[50, 'EADDRINUSE', 'role could not start']]);
        expect(failed[0]!.err).toMatch(new RegExp(`^${listener} cannot listen on 127\\.0\\.0\\.1:${busy.port}: EADDRINUSE `));
        expect(run.stdout).not.toContain('gateway listening');
      } finally {
        await busy.release();
      }
    }, 120_000);
  }

  it('gateway exits 1 when the open-file limit leaves no room for HTTP next to SMTP, saying so', async () => {
    const env = await roleEnv();
    const run = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn('/bin/sh', ['-c', 'ulimit -n 300 && exec "$0" "$@"', process.execPath, ...cliCommand(), 'gateway'], {
        env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'],
      });
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.on('exit', (code) => resolve({ code, stdout }));
    });
    expect(run.code).toBe(1);
    expect(jsonLines(run.stdout).filter((l) => l.evt === 'MK005').map((l) => l.err)).toEqual([
      'open-file limit 300 (ulimit -n) leaves no room for HTTP next to smtp.maxClients 100; raise the limit or lower smtp.maxClients',
    ]);
    expect(run.stdout).not.toContain('gateway listening');
  }, 120_000);

  it('web exits 1 when its port is in use', async () => {
    const busy = await occupy();
    try {
      const run = await runCli(['web'], await roleEnv({ web: busy.port }));
      expect(run.code).toBe(1);
      expect(jsonLines(run.stdout).filter((l) => l.evt === 'MK005').map((l) => l.err)).toEqual([
        expect.stringMatching(new RegExp(`^web cannot listen on 127\\.0\\.0\\.1:${busy.port}: EADDRINUSE `)),
      ]);
    } finally {
      await busy.release();
    }
  }, 120_000);
});

describe('supervisor', () => {
  it('restarts a role that exits with capped exponential backoff, and is ready only once the role listens', async () => {
    const busy = await occupy();
    let out = '';
    const log = createLogger('info', new Writable({ write(c: Buffer, _e, cb) { out += c.toString(); cb(); } }));
    const tree = superviseRoles(log, { ...process.env, ...(await roleEnv({ smtp: busy.port })) }, 5000, {
      roles: [['gateway']], command: cliCommand(), initialBackoffMs: 200, maxBackoffMs: 800, resetAfterMs: 1000,
    });
    let ready = false;
    void tree.ready.then(() => { ready = true; });
    try {
      await waitFor(() => jsonLines(out).filter((l) => l.evt === 'MK004').length >= 4, 120_000);
      const exits = jsonLines(out).filter((l) => l.evt === 'MK004').slice(0, 4);
      expect(exits.map((l) => [l.level, l.role, l.code, l.signal, l.restarts, l.delayMs])).toEqual([
        [50, 'gateway', 1, null, 1, 200], [50, 'gateway', 1, null, 2, 400], [50, 'gateway', 1, null, 3, 800], [50, 'gateway', 1, null, 4, 800],
      ]);
      expect(exits[0]!.msg).toBe('role gateway exited; restarting in 200 ms');
      expect(ready).toBe(false);

      await busy.release();
      await tree.ready;
      const restarts = tree.restarts().gateway!;
      expect(restarts).toBeGreaterThanOrEqual(4);

      // A crash after it had been up longer than resetAfterMs: logged, and the pause starts over.
      await new Promise((r) => setTimeout(r, 1100));
      process.kill(tree.pids().gateway!, 'SIGKILL');
      await waitFor(() => jsonLines(out).some((l) => l.msg === 'role running again'), 120_000);
      const crash = jsonLines(out).filter((l) => l.evt === 'MK004').at(-1)!;
      expect([crash.role, crash.code, crash.signal, crash.restarts, crash.delayMs]).toEqual(['gateway', null, 'SIGKILL', restarts + 1, 200]);
      expect(jsonLines(out).filter((l) => l.msg === 'role running again').map((l) => [l.level, l.evt, l.role, l.restarts])).toEqual([
        [30, 'MK001', 'gateway', restarts + 1],
      ]);
    } finally {
      await tree.stop();
    }
    // Stopped: no restart is pending or logged after stop().
    const before = jsonLines(out).filter((l) => l.evt === 'MK004').length;
    await new Promise((r) => setTimeout(r, 1200));
    expect(jsonLines(out).filter((l) => l.evt === 'MK004').length).toBe(before);
  }, 180_000);
});
