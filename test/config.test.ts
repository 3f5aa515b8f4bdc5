import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { databaseUrlOf, loadConfig, maskedConfig } from '../src/config/load.js';

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
});
