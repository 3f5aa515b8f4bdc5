import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { configWarnings, loadConfig } from '../src/config/load.js';
import { checkPeer, peerAllowList } from '../src/ingress/smtp-policy.js';
import { createLogger } from '../src/log.js';
import { ensureRedis } from '../src/runtime/redis-child.js';
import { runCli } from './helpers/run-cli.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-review20-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Site files that do not parse, each with a secret on or next to the line the parser complains about. */
const BROKEN: [string, string, string][] = [
  ['bad indent under a URL', 'smtp:\n  port: 25\n databaseUrl: postgres://u:hunter2@db/x\n', 'YAML BAD_INDENT at line 3, column 1'],
  ['unclosed quote', 'redisUrl: "redis://:hunter2@h:6379\nlog:\n  level: info\n', 'YAML MISSING_CHAR at line 4, column 1'],
  ['duplicate key', 'siteSecret: a\nsiteSecret: hunter2hunter2hunter2hunter2hunter2\n', 'YAML DUPLICATE_KEY at line 2, column 1'],
  ['stray scalar', '- x\nlgwan: hunter2\n', 'YAML UNEXPECTED_TOKEN at line 2, column 1'],
  ['unknown tag', 'siteSecret: !vault hunter2\n', 'YAML TAG_RESOLVE_FAILED at line 1, column 13'],
];

describe('configuration errors never echo a secret', () => {
  it.each(BROKEN)('a site file with a %s: CONFIG_INVALID by position, the text not shown', (_what, yaml, problem) => {
    const file = path.join(dir, `${problem.replace(/\W+/g, '_')}.yaml`);
    writeFileSync(file, yaml);
    expect(() => loadConfig({ env: { MUKAIKA_CONFIG: file } })).toThrow(
      `cannot read ${file}: ${problem} (the text is not shown: it may hold a secret)`,
    );
  });

  it('mukaika config print with such a file exits 1 and prints neither the secret nor the line (no YAML warning either)', async () => {
    const file = path.join(dir, 'cli.yaml');
    writeFileSync(file, 'a:\n  b: 1\n c: postgres://u:hunter2@db/x\nd: !vault hunter2\n');
    const run = await runCli(['config', 'print'], { MUKAIKA_CONFIG: file });
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(`mukaika: cannot read ${file}: YAML BAD_INDENT at line 3, column 1 (the text is not shown: it may hold a secret)\n`);
  });

  it('an unreachable configured Redis is named with its password masked', async () => {
    // A port nothing listens on: bound, then closed.
    const port = await new Promise<number>((resolve) => {
      const s = net.createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    const cfg = loadConfig({ env: {}, overrides: { dataDir: dir, redisUrl: `redis://:p@ss@w0rd@127.0.0.1:${port}/0?password=hunter2` } });
    await expect(ensureRedis(cfg, createLogger('silent'))).rejects.toThrow(
      `Redis is not reachable at redis://:***@127.0.0.1:${port}/0?password=***; start it or fix REDIS_URL`,
    );
  });
});

describe('open SMTP networks in other spellings are warned about like 0.0.0.0/0', () => {
  const WIDE = ['::ffff:0.0.0.0/96', '::ffff:0:0/97', '0.0.0.0/1', '128.0.0.0/1', '64.0.0.0/7', '::/1', '2000::/3', '0:0:0:0:0:ffff:0.0.0.0/100'];
  const NARROW = ['10.0.0.0/8', '::ffff:10.0.0.0/104', '127.0.0.0/8', '::1/128', '2001:db8::/32', '192.0.2.0/24', 'fe80::/16'];

  it('each wide network lets a public IPv4 or IPv6 host in (checked with the real peer check)', () => {
    for (const n of WIDE) {
      const list = peerAllowList([n]);
      const inside = ['203.0.113.9', '198.51.100.1', '2001:db8::9', '100.64.0.1', '45.1.2.3', '65.1.2.3', '192.0.2.1', '10.1.1.1'].filter((p) => checkPeer(list, p) === undefined);
      expect(inside.length, n).toBeGreaterThan(0);
    }
  });

  it('configWarnings names every wide one and none of the narrow ones', () => {
    const cfg = loadConfig({ env: {}, overrides: { smtp: { allowedNetworks: [...NARROW, ...WIDE, '0.0.0.0/0'] } } });
    const wide = (n: string) => `smtp.allowedNetworks contains ${n}: wider than an IPv4 /8 or an IPv6 /16, much of the Internet may connect to SMTP; list your MTAs' networks`;
    expect(configWarnings(cfg)).toEqual([
      "smtp.allowedNetworks contains 0.0.0.0/0: any host on the Internet may connect to SMTP; list your MTAs' networks",
      ...WIDE.map(wide),
    ]);
  });
});

describe('a relay URL that is our own SMTP listener is refused at load (mail would loop)', () => {
  const load = (smtp: Record<string, unknown>, smtpUrl: string, hostname = 'mukaika.city.example.lg.jp') => {
    try {
      loadConfig({ env: {}, overrides: { hostname, smtp, lgwan: { smtpUrl } } });
      return 'loaded';
    } catch (e) {
      return (e as Error).message;
    }
  };
  const loop = (url: string, host: string, port: number, listen: string) => `invalid configuration:\n  lgwan.smtpUrl: ${url}:${port} is this gateway's own SMTP listener (smtp.host ${listen}, smtp.port ${port}); mail would loop`;

  it.each([
    [{ port: 2525, host: '127.0.0.1' }, 'smtp://127.0.0.1:2525', '127.0.0.1'],
    [{ port: 2525, host: '127.0.0.1' }, 'smtp://localhost:2525', 'localhost'],
    [{ port: 2525, host: '0.0.0.0' }, 'smtp://127.0.0.9:2525', '127.0.0.9'],
    [{ port: 2525, host: '::' }, 'smtp://[::1]:2525', '::1'],
    [{ port: 25, host: '192.0.2.10' }, 'smtp://192.0.2.10', '192.0.2.10'],
    [{ port: 2525, host: '0.0.0.0' }, 'smtp://MUKAIKA.city.example.lg.jp:2525', 'mukaika.city.example.lg.jp'],
  ])('smtp %o with relay %s', (smtp, url, host) => {
    expect(load(smtp, url)).toBe(loop(host, host, smtp.port, smtp.host));
  });

  it('another port, another loopback address than the one listened on, or the Maildir outbox load', () => {
    expect(load({ port: 2525, host: '127.0.0.1' }, 'smtp://127.0.0.1:10026')).toBe('loaded');
    expect(load({ port: 2525, host: '127.0.0.1' }, 'smtp://127.0.0.2:2525')).toBe('loaded');
    expect(load({ port: 2525, host: '127.0.0.1' }, 'smtp://relay.lgwan.example.lg.jp:2525')).toBe('loaded');
    expect(load({ port: 2525, host: '127.0.0.1' }, '')).toBe('loaded');
    expect(load({ port: 0, host: '127.0.0.1' }, 'smtp://127.0.0.1:25')).toBe('loaded');
  });
});
