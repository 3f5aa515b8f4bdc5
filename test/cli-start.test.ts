import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { ensureRedis } from '../src/runtime/redis-child.js';
import { dropRedisPrefix, REDIS_URL, waitFor } from './helpers/harness.js';
import { RedisChild } from './helpers/redis-child.js';
import { cliCommand } from './helpers/run-cli.js';
import net from 'node:net';
import { queueOverSmtp, RawSmtp } from './helpers/smtp-client.js';
import { SmtpSink } from './helpers/smtp-sink.js';

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });
const tmp = () => { const d = mkdtempSync(path.join(os.tmpdir(), 'mukaika-start-')); dirs.push(d); return d; };

describe('mukaika start', () => {
  it('runs gateway, workers and web as one process tree; a mail reaches the LGWAN relay; SIGTERM stops it cleanly', async () => {
    const dir = tmp();
    const sink = await SmtpSink.start();
    const [smtpPort, httpPort, webPort] = [await RedisChild.freePort(), await RedisChild.freePort(), await RedisChild.freePort()];
    const prefix = `mkstart${process.pid}`;
    writeFileSync(path.join(dir, 'site.yaml'), `queue:\n  prefix: ${prefix}\n  shutdownTimeoutMs: 3000\nsmtp:\n  minFreeBytes: 0\n`);
    const child = spawn(process.execPath, [...cliCommand(), 'start'], {
      env: {
        ...process.env, MUKAIKA_DATA_DIR: dir, MUKAIKA_CONFIG: path.join(dir, 'site.yaml'), REDIS_URL, SMTP_PORT: String(smtpPort),
        HTTP_PORT: String(httpPort), WEB_PORT: String(webPort), LGWAN_SMTP_URL: sink.url, LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    try {
      const reply = await waitFor(async () => {
        const { client } = await RawSmtp.connect(smtpPort);
        await client.cmd('EHLO mta.example');
        const r = (await client.send('a@example.com', ['staff@example.lg.jp'], 'From: a@example.com\r\nSubject: start\r\n\r\nhello\r\n')).at(-1);
        client.close();
        return r?.startsWith('250') ? r : undefined;
      }, 120_000, 500);
      const id = reply.split(' ').at(-1)!;
      await waitFor(() => sink.mails.find((m) => m.raw.toString().includes(id)), 120_000);
      const web = await fetch(`http://127.0.0.1:${webPort}/healthz`);
      expect(web.status).toBe(200);
      const api = await fetch(`http://127.0.0.1:${httpPort}/api/v1/messages/${id}`);
      expect(api.status).toBe(401);
    } finally {
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
      await sink.close();
      await dropRedisPrefix(REDIS_URL, prefix);
    }
  }, 300_000);
});

describe('mukaika start with a role that cannot listen', () => {
  it('reports the role\'s exits, restarts it with backoff, and says "started" only once every role listens', async () => {
    const dir = tmp();
    const blocker = net.createServer((s) => s.destroy());
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const smtpPort = (blocker.address() as net.AddressInfo).port;
    const [httpPort, webPort] = [await RedisChild.freePort(), await RedisChild.freePort()];
    const prefix = `mkstartb${process.pid}`;
    writeFileSync(path.join(dir, 'site.yaml'), `queue:\n  prefix: ${prefix}\n  shutdownTimeoutMs: 3000\nsmtp:\n  minFreeBytes: 0\n  allowedNetworks: [0.0.0.0/0, "::1/128"]\n`);
    const child = spawn(process.execPath, [...cliCommand(), 'start'], {
      env: {
        ...process.env, MUKAIKA_DATA_DIR: dir, MUKAIKA_CONFIG: path.join(dir, 'site.yaml'), REDIS_URL, SMTP_PORT: String(smtpPort),
        HTTP_PORT: String(httpPort), WEB_PORT: String(webPort), LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    const lines = () => out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    try {
      await waitFor(() => lines().filter((l) => l.evt === 'MK004').length >= 2, 120_000, 200);
      const exits = lines().filter((l) => l.evt === 'MK004').slice(0, 2);
      expect(exits.map((l) => [l.role, l.code, l.restarts, l.delayMs])).toEqual([['gateway', 1, 1, 1000], ['gateway', 1, 2, 2000]]);
      const failed = lines().filter((l) => l.evt === 'MK005');
      expect(failed[0]!.err).toMatch(new RegExp(`^smtp cannot listen on 127\\.0\\.0\\.1:${smtpPort}: EADDRINUSE `));
      expect(out).not.toContain('mukaika started');
      // The open setting is logged once, by start itself, not once per role.
      expect(lines().filter((l) => l.evt === 'MK003').map((l) => [l.level, l.detail])).toEqual([
        [40, "smtp.allowedNetworks contains 0.0.0.0/0: any host on the Internet may connect to SMTP; list your MTAs' networks"],
      ]);

      await new Promise<void>((r) => blocker.close(() => r()));
      await waitFor(() => out.includes('mukaika started'), 120_000, 200);
      const all = lines();
      // Lines of different processes may reach the shared pipe out of order (pino writes asynchronously), so
      // the roles' lines are compared with "started" by their timestamps, not by their place in the stream.
      const at = (l: Record<string, unknown>) => Date.parse(String(l.time));
      const started = at(all.find((l) => l.msg === 'mukaika started')!);
      for (const msg of ['gateway listening', 'web listening']) {
        const line = all.find((l) => l.msg === msg);
        expect(line && at(line) <= started, msg).toBe(true);
      }
      expect(all.filter((l) => l.msg === 'worker running' && at(l) <= started).length).toBe(2);
      expect(await queueOverSmtp(smtpPort, 'a@example.com', ['staff@example.lg.jp'], 'Subject: back\r\n\r\nhello\r\n')).toMatch(/^m[0-9a-f]{24}$/);
    } finally {
      blocker.close();
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await exited, out.slice(-4000)).toBe(0);
      await dropRedisPrefix(REDIS_URL, prefix);
    }
  }, 300_000);
});

describe('local Redis child', () => {
  it('starts redis-server with its files in the data dir when none answers at the default URL', async () => {
    const dir = tmp();
    const port = await RedisChild.freePort();
    const url = `redis://127.0.0.1:${port}`;
    const cfg = loadConfig({ env: {}, overrides: { dataDir: dir, redisUrl: url } });
    const handle = await ensureRedis(cfg, silentLogger, url);
    try {
      expect(handle.child?.pid).toBeGreaterThan(0);
      const r = new Redis(url);
      expect(await r.ping()).toBe('PONG');
      expect(await r.config('GET', 'dir')).toEqual(['dir', path.join(dir, 'redis')]);
      r.disconnect();
    } finally {
      await handle.stop();
    }
  });

  it('refuses to start one for a non-default URL that does not answer, with a clear message', async () => {
    const port = await RedisChild.freePort();
    const cfg = loadConfig({ env: {}, overrides: { redisUrl: `redis://127.0.0.1:${port}` } });
    await expect(ensureRedis(cfg, silentLogger)).rejects.toThrow(/Redis is not reachable at redis:\/\/127\.0\.0\.1:\d+; start it or fix REDIS_URL/);
  });
});
