import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { configWarnings, databaseUrlOf, loadConfig, logConfigWarnings, maskedConfig } from '../src/config/load.js';
import { maskSecrets } from '../src/config/mask.js';
import { createLogger } from '../src/log.js';
import { runCli } from './helpers/run-cli.js';

describe('configuration', () => {
  it('loads the documented defaults', () => {
    const c = loadConfig({ env: {} });
    expect(c.smtp.port).toBe(2525);
    expect(c.http.port).toBe(8080);
    expect(c.web.port).toBe(8081);
    expect(c.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(c.smtp.acceptDomains).toEqual(['example.lg.jp']);
    expect(c.lgwan.smtpUrl).toBe('');
    expect(c.log.level).toBe('info');
    expect(c.sanitize.limits).toMatchObject({ pages: 500, dpi: 150, archiveDepth: 3, archiveEntries: 1000, archiveTotalBytes: 209715200, archiveRatio: 100 });
    expect(databaseUrlOf(c)).toBe(`sqlite:${path.resolve('./var', 'mukaika.sqlite')}`);
    expect(Object.isFrozen(c.smtp)).toBe(true);
  });

  it('lets the file named by MUKAIKA_CONFIG and then the environment override', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-cfg-'));
    const file = path.join(dir, 'site.yaml');
    writeFileSync(file, 'smtp:\n  port: 2626\n  maxRecipients: 7\nhttp:\n  port: 9000\n');
    const c = loadConfig({
      env: {
        MUKAIKA_CONFIG: file, SMTP_PORT: '2727', WEB_PORT: '9091', MUKAIKA_DATA_DIR: dir, REDIS_URL: 'redis://10.0.0.1:6380',
        DATABASE_URL: 'postgres://u:pw@db/x', LGWAN_SMTP_URL: 'smtp://lgwan.example:25', ACCEPT_DOMAINS: 'City.Example.LG.JP, pref.example.lg.jp', LOG_LEVEL: 'debug',
      },
    });
    expect(c.smtp.port).toBe(2727);
    expect(c.smtp.maxRecipients).toBe(7);
    expect(c.http.port).toBe(9000);
    expect(c.web.port).toBe(9091);
    expect(c.dataDir).toBe(dir);
    expect(c.smtp.acceptDomains).toEqual(['city.example.lg.jp', 'pref.example.lg.jp']);
    expect(c.lgwan.smtpUrl).toBe('smtp://lgwan.example:25');
    expect(c.log.level).toBe('debug');
    expect(maskedConfig(c)).toMatchObject({ databaseUrl: 'postgres://u:***@db/x' });
  });

  it('stops with a message naming the key and what is allowed', () => {
    expect(() => loadConfig({ env: { SMTP_PORT: 'abc' } })).toThrow(/SMTP_PORT: must be a port number/);
    expect(() => loadConfig({ env: {}, overrides: { sanitize: { links: 'keep' } } })).toThrow(/sanitize\.links: .*neutralise.*strip-scheme.*remove/);
    expect(() => loadConfig({ env: {}, overrides: { smtp: { portt: 1 } } })).toThrow(/smtp: .*portt/);
    expect(() => loadConfig({ env: { LOG_LEVEL: 'loud' } })).toThrow(/log\.level/);
    expect(() => loadConfig({ env: { DATABASE_URL: 'mysql://x' } })).toThrow(/databaseUrl: empty, sqlite:PATH or postgres/);
  });

  it('masks secrets when printed', () => {
    const c = loadConfig({ env: {}, overrides: { http: { tokenHashes: ['a'.repeat(64)] } } });
    expect(maskedConfig(c)).toMatchObject({ http: { tokenHashes: ['***'] } });
    expect(JSON.stringify(maskedConfig(c))).not.toContain('a'.repeat(64));
  });

  const invalid = (overrides: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) => {
    try {
      loadConfig({ env, overrides });
    } catch (err) {
      return (err as Error).message;
    }
    return 'loaded';
  };

  it('refuses CIDRs that are not address/prefix of a real address, naming the key', () => {
    for (const bad of ['1.2.3.4/99', '1.2.3.4/33', '::1/129', '300.1.1.1/8', '1.2.3/8', 'example.com/24', '10.0.0.0', '/8', 'fe80::zz/64']) {
      expect(invalid({ smtp: { allowedNetworks: ['127.0.0.0/8', bad] } }), bad).toBe(
        'invalid configuration:\n  smtp.allowedNetworks.1: CIDR like 127.0.0.0/8 or ::1/128 (IPv4 /0-32, IPv6 /0-128)',
      );
    }
    for (const good of ['0.0.0.0/0', '::/0', '10.0.0.0/8', '192.0.2.7/32', '2001:db8::/32', '::ffff:192.0.2.0/120']) {
      expect(invalid({ smtp: { allowedNetworks: [good] } }), good).toBe('loaded');
    }
  });

  it('refuses listen hosts, the hostname and relay URLs that are not addresses or host names', () => {
    const hostMsg = 'an IP address (0.0.0.0 and :: included) or a host name';
    expect(invalid({ smtp: { host: '127.0.0.1:25' } })).toBe(`invalid configuration:\n  smtp.host: ${hostMsg}`);
    expect(invalid({ http: { host: 'api host' } })).toBe(`invalid configuration:\n  http.host: ${hostMsg}`);
    expect(invalid({ web: { host: '' } })).toBe(`invalid configuration:\n  web.host: ${hostMsg}`);
    expect(invalid({ web: { host: '-bad.example' } })).toBe(`invalid configuration:\n  web.host: ${hostMsg}`);
    expect(invalid({ hostname: 'mail_gw' })).toBe('invalid configuration:\n  hostname: a host name like mukaika.city.example.lg.jp');
    expect(invalid({}, { LGWAN_SMTP_URL: 'smtp://relay host:25' })).toBe('invalid configuration:\n  lgwan.smtpUrl: empty or smtp://host:port with a valid host and port');
    expect(invalid({}, { LGWAN_SMTP_URL: 'smtp://relay:99999' })).toBe('invalid configuration:\n  lgwan.smtpUrl: empty or smtp://host:port with a valid host and port');
    for (const good of ['0.0.0.0', '::', '::1', 'localhost', 'gw.city.example.lg.jp']) expect(invalid({ smtp: { host: good } }), good).toBe('loaded');
    expect(invalid({}, { LGWAN_SMTP_URL: 'smtp://u:p%40ss@[2001:db8::1]:587' })).toBe('loaded');
  });

  it('refuses bad ports, from the file or the environment, naming the key or variable', () => {
    expect(invalid({ smtp: { port: 70000 } })).toMatch(/^invalid configuration:\n {2}smtp\.port: /);
    expect(invalid({ http: { port: -1 } })).toMatch(/^invalid configuration:\n {2}http\.port: /);
    expect(invalid({ web: { port: 80.5 } })).toMatch(/^invalid configuration:\n {2}web\.port: /);
    expect(invalid({}, { SMTP_PORT: '65536' })).toBe('SMTP_PORT: must be a port number (0-65535), got "65536"');
    expect(invalid({}, { HTTP_PORT: '80a' })).toBe('HTTP_PORT: must be a port number (0-65535), got "80a"');
    expect(invalid({}, { WEB_PORT: '2525', SMTP_PORT: '2525' })).toBe('invalid configuration:\n  web.port: 2525 is also smtp.port; each listener needs its own port');
    expect(invalid({ http: { port: 9000, host: '0.0.0.0' }, web: { port: 9000, host: '127.0.0.1' } })).toBe('invalid configuration:\n  web.port: 9000 is also http.port; each listener needs its own port');
    // Port 0 (any free port, as in tests) never clashes; the same port on two distinct addresses does not either.
    expect(invalid({ smtp: { port: 0 }, http: { port: 0 }, web: { port: 0 } })).toBe('loaded');
    expect(invalid({ http: { port: 9000, host: '127.0.0.1' }, web: { port: 9000, host: '127.0.0.2' } })).toBe('loaded');
  });

  it('refuses wildcard accept domains: recipients are matched exactly and "*" would be an open relay', () => {
    const msg = 'a mail domain like city.example.lg.jp (no wildcards: each domain is listed)';
    expect(invalid({ smtp: { acceptDomains: ['*'] } })).toBe(`invalid configuration:\n  smtp.acceptDomains.0: ${msg}`);
    expect(invalid({ smtp: { acceptDomains: ['city.example.lg.jp', '*.example.lg.jp'] } })).toBe(`invalid configuration:\n  smtp.acceptDomains.1: ${msg}`);
    expect(invalid({}, { ACCEPT_DOMAINS: 'example.lg.jp,*' })).toBe(`invalid configuration:\n  smtp.acceptDomains.1: ${msg}`);
    expect(invalid({ smtp: { acceptDomains: ['a@example.lg.jp'] } })).toBe(`invalid configuration:\n  smtp.acceptDomains.0: ${msg}`);
    expect(invalid({ smtp: { acceptDomains: ['*.例え.jp'] } })).toBe(`invalid configuration:\n  smtp.acceptDomains.0: ${msg}`);
  });

  it('takes an IDN accept domain (U-labels or A-labels): recipients in it are matched by their A-labels', () => {
    expect(invalid({ smtp: { acceptDomains: ['例え.jp', 'xn--r8jz45g.jp', '市役所.example.lg.jp'] } })).toBe('loaded');
    expect(invalid({ smtp: { acceptDomains: ['例え'] } })).not.toBe('loaded');
  });

  it('refuses an HTTP headers timeout longer than the request timeout (Node would throw at listen)', () => {
    expect(invalid({ http: { headersTimeoutMs: 5000, requestTimeoutMs: 4000 } })).toBe('invalid configuration:\n  http.headersTimeoutMs: must not exceed http.requestTimeoutMs');
  });

  it('logs a warning line per open setting at start', () => {
    const c = loadConfig({ env: {}, overrides: { smtp: { allowedNetworks: ['0.0.0.0/0', '::/0', '10.0.0.0/8'] } } });
    let out = '';
    const sink = new Writable({ write(chunk: Buffer, _e, cb) { out += chunk.toString(); cb(); } });
    logConfigWarnings(c, createLogger('info', sink));
    const lines = out.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => [l.level, l.evt, l.msg])).toEqual([
      [40, 'MK003', "open setting: smtp.allowedNetworks contains 0.0.0.0/0: any host on the Internet may connect to SMTP; list your MTAs' networks"],
      [40, 'MK003', "open setting: smtp.allowedNetworks contains ::/0: any host on the Internet may connect to SMTP; list your MTAs' networks"],
    ]);
    expect(configWarnings(loadConfig({ env: {} }))).toEqual([]);
  });

  it('masks URL passwords (with @ and : in them) and secret query values', () => {
    expect(maskSecrets('redis://:p@ss@w0rd@h:6379')).toBe('redis://:***@h:6379');
    expect(maskSecrets('postgres://u:p%40ss@h/db?password=x&sslmode=require')).toBe('postgres://u:***@h/db?password=***&sslmode=require');
    expect(maskSecrets('smtp://user:pa:ss@relay:25')).toBe('smtp://user:***@relay:25');
    // Not parseable as a URL, or the password holds / ? #: everything up to the last @ is masked.
    expect(maskSecrets('redis://u:12/3@h:6379')).toBe('redis://u:***@h:6379');
    expect(maskSecrets('redis://:p#ss@h:1')).toBe('redis://:***@h:1');
    expect(maskSecrets('smtps://u:p?q=1@relay:465')).toBe('smtps://u:***@relay:465');
    expect(maskSecrets('postgres://h/db?user=a&PassWord=zz&sslpassword=a%26b&sslmode=verify-full#f')).toBe('postgres://h/db?user=a&PassWord=***&sslpassword=***&sslmode=verify-full#f');
    expect(maskSecrets('postgres://h/db?token=t&api_key=k&key=x&ok=1')).toBe('postgres://h/db?token=***&api_key=***&key=***&ok=1');
    for (const plain of ['redis://127.0.0.1:6379', 'sqlite:/var/mukaika.sqlite', 'http://localhost:8081', 'postgres://u@h/db']) expect(maskSecrets(plain)).toBe(plain);
  });

  it('config print shows no secret of those forms (real CLI, exact lines)', async () => {
    const run = await runCli(['config', 'print'], {
      REDIS_URL: 'redis://:p@ss@w0rd@h:6379',
      DATABASE_URL: 'postgres://u:p%40ss@h/db?password=x&sslmode=require',
      LGWAN_SMTP_URL: 'smtp://user:pa:ss@relay:25',
      MUKAIKA_CONFIG: '',
    });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines).toContain('redisUrl: redis://:***@h:6379');
    expect(lines).toContain('databaseUrl: postgres://u:***@h/db?password=***&sslmode=require');
    expect(lines).toContain('  smtpUrl: smtp://user:***@relay:25');
    for (const secret of ['p@ss', 'w0rd', 'p%40ss', 'password=x', 'pa:ss']) expect(run.stdout).not.toContain(secret);
  });
});
