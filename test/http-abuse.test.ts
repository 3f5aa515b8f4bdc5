import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { hashToken, buildHttp } from '../src/ingress/http.js';
import { addressKey, FD_RESERVE, httpConnectionCap, httpServerOptions, openFileLimit } from '../src/ingress/http-limits.js';
import { createLogger } from '../src/log.js';
import { openDatabase } from '../src/store/db.js';
import { dropRedisPrefix, filesUnder, openHarness, REDIS_URL, waitFor, type Harness } from './helpers/harness.js';
import { RedisChild } from './helpers/redis-child.js';
import { cliCommand } from './helpers/run-cli.js';
import { queueOverSmtp } from './helpers/smtp-client.js';

const TOKEN = 'abuse-test-token-0123456789';
const MAIL = 'From: a@example.com\r\nTo: staff@example.lg.jp\r\nSubject: under load\r\n\r\nhello\r\n';

/** One raw HTTP connection from a chosen loopback address: what it received and whether the server closed it. */
interface Dripper { kind?: string; socket: net.Socket; received: string; connected: boolean; closed: boolean }

function openDripper(port: number, localAddress: string, head: string, drip: string, everyMs: number): Dripper {
  const d: Dripper = { socket: net.connect({ port, host: '127.0.0.1', localAddress }), received: '', connected: false, closed: false };
  let timer: NodeJS.Timeout | undefined;
  d.socket.on('connect', () => {
    d.connected = true;
    d.socket.write(head);
    timer = setInterval(() => d.socket.write(drip), everyMs);
  });
  d.socket.on('data', (b) => { d.received += b.toString('latin1'); });
  d.socket.on('error', () => undefined);
  d.socket.on('close', () => { d.closed = true; clearInterval(timer); });
  return d;
}

/** Status line of what the server sent before closing ('' when it closed at accept, without a word). */
const statusOf = (d: Dripper) => /^HTTP\/1\.1 \d{3}/.exec(d.received)?.[0] ?? d.received.slice(0, 40);

const headerDrip = (): [string, string] => ['GET /api/v1/messages/m0 HTTP/1.1\r\nHost: gw\r\nX-Slow: ', 'a'];
const bodyDrip = (): [string, string] => [
  `POST /api/v1/messages?to=staff@example.lg.jp&from=a@example.com HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${TOKEN}\r\n`
  + 'Content-Type: message/rfc822\r\nContent-Length: 100000\r\n\r\nSubject: slow\r\n\r\n',
  'x',
];

const dirs: string[] = [];
afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

describe('HTTP API under abuse: SMTP intake keeps working', () => {
  it('queues mail over SMTP while 400+ HTTP connections slow-drip headers or, with a valid token, bodies; the server closes every dripper', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-httpabuse-'));
    dirs.push(dir);
    const prefix = `mkhab${process.pid}`;
    const [smtpPort, httpPort, webPort] = [await RedisChild.freePort(), await RedisChild.freePort(), await RedisChild.freePort()];
    writeFileSync(path.join(dir, 'site.yaml'), [
      `queue:\n  prefix: ${prefix}\n  shutdownTimeoutMs: 3000`,
      'smtp:\n  minFreeBytes: 0\n  maxClients: 20',
      `http:\n  tokenHashes: ["${hashToken(TOKEN)}"]\n  headersTimeoutMs: 2000\n  requestTimeoutMs: 4000\n  idleTimeoutMs: 20000\n  maxConnectionsPerAddress: 60`,
    ].join('\n'));
    // 400 open files for the whole gateway: fewer than the drippers. Without a cap sized to that limit, accept()
    // fails with EMFILE and new SMTP connections are closed without a greeting.
    const gateway: ChildProcess = spawn('/bin/sh', ['-c', 'ulimit -n 400 && exec "$0" "$@"', process.execPath, ...cliCommand(), 'gateway'], {
      env: {
        ...process.env, MUKAIKA_DATA_DIR: dir, MUKAIKA_CONFIG: path.join(dir, 'site.yaml'), REDIS_URL, SMTP_PORT: String(smtpPort),
        HTTP_PORT: String(httpPort), WEB_PORT: String(webPort), LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    gateway.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    gateway.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const drippers: Dripper[] = [];
    const ids: string[] = [];
    let refill = true;
    try {
      await waitFor(() => out.includes('"msg":"gateway listening"'), 120_000);
      const lowered = out.split('\n').filter((l) => l.includes('"evt":"MK113"')).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lowered.map((l) => [l.configured, l.effective, l.fdLimit])).toEqual([[256, (400 - FD_RESERVE - 2 * 20) / 2, 400]]);

      // 420 drippers over ten loopback addresses (42 each, under the per-address limit of 60), half of them
      // dripping headers, half a body behind a valid token; each one the server closes is replaced at once,
      // so the pressure lasts for the whole SMTP transaction.
      const open = (i: number) => {
        const [head, drip] = i % 2 ? bodyDrip() : headerDrip();
        const d = openDripper(httpPort, `127.0.0.${2 + (i % 10)}`, head, drip, 300);
        d.kind = i % 2 ? 'body' : 'headers';
        drippers.push(d);
        d.socket.on('close', () => { if (refill) open(i); });
      };
      for (let i = 0; i < 420; i++) open(i);
      await waitFor(() => drippers.slice(0, 420).every((d) => d.connected || d.closed), 60_000);
      // The cap is full: connections past it are being closed at accept (and replaced).
      await waitFor(() => drippers.length > 420, 60_000);

      const id = await queueOverSmtp(smtpPort, 'a@example.com', ['staff@example.lg.jp'], MAIL);
      expect(id).toMatch(/^m[0-9a-f]{24}$/);

      refill = false;
      const last = drippers.filter((d) => !d.closed);
      await waitFor(() => last.every((d) => d.closed), 120_000, 250);
      // Each was closed by the server: dropped at accept past the cap (nothing sent), or answered 408 when its
      // headers or its body did not arrive in time.
      const statuses = new Set(drippers.map(statusOf));
      expect([...statuses].sort()).toEqual(['', 'HTTP/1.1 408']);
      for (const kind of ['headers', 'body']) {
        expect(drippers.filter((d) => d.kind === kind && statusOf(d) === 'HTTP/1.1 408').length, kind).toBeGreaterThan(0);
      }
      expect(out).not.toMatch(/EMFILE/);
      expect(out).toMatch(/"level":40,[^\n]*"evt":"MK112","reason":"maxConnections","count":\d+,"msg":"http connections closed at accept"/);
      // And SMTP still works once it is over.
      ids.push(id, await queueOverSmtp(smtpPort, 'a@example.com', ['staff@example.lg.jp'], MAIL.replace('under load', 'after')));
    } finally {
      refill = false;
      for (const d of drippers) d.socket.destroy();
      const exited = new Promise<number | null>((r) => gateway.once('exit', (code) => r(code)));
      gateway.kill('SIGTERM');
      expect(await exited, out.slice(-4000)).toBe(0);
      await dropRedisPrefix(REDIS_URL, prefix);
    }
    // The cut-off uploads were undone: the two SMTP mails are the only records, originals and spool files.
    const db = openDatabase(`sqlite:${path.join(dir, 'mukaika.sqlite')}`);
    try {
      const rows = await db.db.selectFrom('messages').select(['id', 'source']).orderBy('id').execute();
      expect(rows).toEqual(ids.sort().map((id) => ({ id, source: 'smtp' })));
      expect((await db.db.selectFrom('inline_originals').select('sha256').execute()).length).toBe(2);
    } finally {
      await db.close();
    }
    expect(filesUnder(path.join(dir, 'blobs'))).toEqual([]);
  }, 300_000);
});

describe('HTTP connection limits', () => {
  let h: Harness;
  let app: ReturnType<typeof buildHttp>;
  let port: number;
  let logged = '';
  beforeAll(async () => {
    h = await openHarness({ overrides: { http: { maxConnectionsPerAddress: 3, tokenHashes: [hashToken(TOKEN)] } } });
    const log = createLogger('info', new Writable({ write(c: Buffer, _e, cb) { logged += c.toString(); cb(); } }));
    app = buildHttp({ ...h.ctx, log });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await app.close();
    await h.close();
  });

  it('closes connections from one address past maxConnectionsPerAddress at accept; other addresses are served', async () => {
    const idle = (addr: string) => openDripper(port, addr, '', '', 60_000);
    const first = [idle('127.0.0.20'), idle('127.0.0.20'), idle('127.0.0.20')];
    await waitFor(() => first.every((d) => d.connected));
    await waitFor(async () => (await connections(app)) === 3);
    const over = [idle('127.0.0.20'), idle('127.0.0.20')];
    await waitFor(() => over.every((d) => d.closed));
    expect(over.map((d) => d.received)).toEqual(['', '']);
    expect(first.map((d) => d.closed)).toEqual([false, false, false]);

    const other = await fetchFrom('127.0.0.21', port, '/healthz');
    expect(other).toMatch(/^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\n\{"ok":true\}$/);
    const lines = logged.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.evt === 'MK112');
    expect(lines.map((l) => [l.level, l.reason, l.peer, l.count])).toEqual([[40, 'maxConnectionsPerAddress', '127.0.0.20', 1]]);

    // A closed connection frees its slot.
    first[0]!.socket.destroy();
    await waitFor(async () => (await connections(app)) === 2);
    expect(await fetchFrom('127.0.0.20', port, '/healthz')).toMatch(/\{"ok":true\}$/);
    for (const d of first) d.socket.destroy();
  });

  it('closes a request whose body stops (valid token) after http.idleTimeoutMs, leaving no record or spool file', async () => {
    const quick = buildHttp({ ...h.ctx, config: { ...h.config, http: { ...h.config.http, idleTimeoutMs: 500 } } });
    await quick.listen({ port: 0, host: '127.0.0.1' });
    try {
      const [head] = bodyDrip();
      const d = openDripper((quick.server.address() as net.AddressInfo).port, '127.0.0.30', `${head}${'x'.repeat(5000)}`, '', 3_600_000);
      await waitFor(() => d.closed, 60_000);
      expect(d.received).toBe('');
      expect(await h.ctx.database.db.selectFrom('messages').select('id').execute()).toEqual([]);
      expect(filesUnder(path.join(h.dir, 'blobs'))).toEqual([]);
    } finally {
      await quick.close();
    }
  });

  it('sets the Node server timeouts from http.* (Fastify leaves them at 0, unlimited)', () => {
    const s = app.server;
    expect([s.headersTimeout, s.requestTimeout, s.keepAliveTimeout, s.timeout, s.maxConnections]).toEqual([10_000, 300_000, 5000, 30_000, 256]);
    expect(httpServerOptions(h.config).http.connectionsCheckingInterval).toBe(1000);
  });

  it('sizes the connection cap to the open-file limit, and refuses a limit that leaves no room', () => {
    const cfg = loadConfig({ env: {}, overrides: { smtp: { maxClients: 100 }, http: { maxConnections: 256 } } });
    expect(httpConnectionCap(cfg, 20_000)).toBe(256);
    expect(httpConnectionCap(cfg, 1024)).toBe(256);
    expect(httpConnectionCap(cfg, 512)).toBe(92);
    expect(httpConnectionCap(cfg, undefined)).toBe(256);
    expect(() => httpConnectionCap(cfg, 256)).toThrow('open-file limit 256 (ulimit -n) leaves no room for HTTP next to smtp.maxClients 100; raise the limit or lower smtp.maxClients');
    const limits = 'Limit                     Soft Limit           Hard Limit           Units\nMax processes             31503                31503                processes\nMax open files            1024                 524288               files\n';
    expect(openFileLimit(limits)).toBe(1024);
    expect(openFileLimit(limits.replace('1024  ', 'unlimited'))).toBeUndefined();
    expect(openFileLimit()).toBeGreaterThan(0);
  });

  it('counts IPv6 clients per /64 and IPv4-mapped addresses as IPv4', () => {
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002:ffff:ffff:ffff:ffff')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8::5')).toBe('2001:db8:0:0::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    expect(addressKey('192.0.2.1')).toBe('192.0.2.1');
  });
});

const connections = (app: ReturnType<typeof buildHttp>) => new Promise<number>((resolve, reject) => {
  app.server.getConnections((err, n) => (err ? reject(err) : resolve(n)));
});

/** One HTTP/1.1 GET from a chosen source address; the whole response as text. */
function fetchFrom(localAddress: string, port: number, urlPath: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', localAddress });
    let got = '';
    s.on('connect', () => s.write(`GET ${urlPath} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`));
    s.on('data', (b) => { got += b.toString('latin1'); });
    s.on('error', reject);
    s.on('close', () => resolve(got));
  });
}
