import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import madge from 'madge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../src/paths.js';
import { silentLogger } from '../src/log.js';
import { SanitizedArea } from '../src/store/sanitized-area.js';
import { openWebContext } from '../src/web/context.js';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { cliCommand } from './helpers/run-cli.js';
import { RedisChild } from './helpers/redis-child.js';

/** Modules the LGWAN-side web role must never load: the Internet-side context, originals store, queues, sanitizers. */
const FORBIDDEN = [
  /\/src\/context\.(ts|js)$/, /\/src\/store\/blobs\.(ts|js)$/, /\/src\/store\/inline-blobs\.(ts|js)$/,
  /\/src\/store\/records\.(ts|js)$/, /\/src\/sanitize\//, /\/src\/ingress\//, /\/src\/jobs\//, /\/src\/queue\//,
  /\/src\/runtime\/roles\.(ts|js)$/, /\/src\/runtime\/offline\.(ts|js)$/,
  // Nor any parser of mail or code of the sandbox: the web role parses HTTP forms only.
  /\/src\/mail\//, /\/src\/sandboxed\//, /\/src\/isolation\//,
];
const forbidden = (files: string[]) => files.filter((f) => FORBIDDEN.some((re) => re.test(f)));

describe('the web role (LGWAN side) has no originals area', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await openHarness();
  });
  afterAll(async () => h.close());

  it('its context is the sanitized area only: an original stored by the gateway side is not found through it', async () => {
    const original = await h.ctx.blobs.put('originals', Buffer.from('untrusted original bytes, a file of their own'.repeat(20_000)));
    const small = await h.ctx.blobs.stage('originals', Buffer.from('small original kept inline'));
    await h.ctx.database.db.insertInto('inline_originals').values({ sha256: small.sha256, data: small.inline! }).execute();
    const sanitized = await h.ctx.blobs.put('sanitized', Buffer.from('sanitized output'));
    const web = openWebContext(h.config, silentLogger);
    try {
      expect(Object.keys(web).sort()).toEqual(['close', 'config', 'log', 'sanitized']);
      expect(web.sanitized).toBeInstanceOf(SanitizedArea);
      // No method takes an area: get and stream read the sanitized area, nothing else exists.
      expect(Object.getOwnPropertyNames(SanitizedArea.prototype).sort()).toEqual(['constructor', 'get', 'stream']);
      expect((await web.sanitized.get(sanitized.sha256)).toString()).toBe('sanitized output');
      await expect(web.sanitized.get(original.sha256)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(web.sanitized.get(small.sha256)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(web.sanitized.get('../originals/x')).rejects.toMatchObject({ code: 'BAD_REQUEST' });
    } finally {
      await web.close();
    }
  });

  it('the module graph of the web entry includes no originals store, queue, ingress or sanitizer', async () => {
    const graph = await madge([path.join(PACKAGE_ROOT, 'src/web/role.ts'), path.join(PACKAGE_ROOT, 'src/web/context.ts')], {
      fileExtensions: ['ts'], tsConfig: path.join(PACKAGE_ROOT, 'tsconfig.json'), baseDir: PACKAGE_ROOT,
    });
    const files = Object.keys(graph.obj()).map((f) => `/${f}`);
    expect(files).toContain('/src/store/sanitized-area.ts');
    expect(forbidden(files)).toEqual([]);
  });

  it('the real `mukaika web` process serves and stops without ever loading them', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-web-'));
    const loaded = path.join(dir, 'loaded.txt');
    const hook = path.join(dir, 'hook.mjs');
    // Every module the process loads, as the loader sees it (after tsx resolved it).
    writeFileSync(hook, `import { registerHooks } from 'node:module';\nimport { appendFileSync } from 'node:fs';\n`
      + `registerHooks({ load(url, context, next) { appendFileSync(${JSON.stringify(loaded)}, url + '\\n'); return next(url, context); } });\n`);
    writeFileSync(loaded, '');
    const port = await RedisChild.freePort();
    const child = spawn(process.execPath, ['--import', hook, ...cliCommand(), 'web'], {
      env: { ...process.env, MUKAIKA_DATA_DIR: dir, WEB_PORT: String(port), LOG_LEVEL: 'warn', DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}` },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      const res = await waitFor(() => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.status).catch(() => undefined), 60_000, 200);
      expect(res).toBe(200);
    } finally {
      child.kill('SIGTERM');
      expect(await exited, stderr).toBe(0);
    }
    const files = readFileSync(loaded, 'utf8').split('\n').filter((u) => u.startsWith('file://')).map((u) => new URL(u).pathname);
    expect(files.some((f) => /\/src\/web\/context\.(ts|js)$/.test(f))).toBe(true);
    expect(files.some((f) => /\/src\/store\/sanitized-area\.(ts|js)$/.test(f))).toBe(true);
    expect(forbidden(files)).toEqual([]);
    rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});

describe('the gateway role (Internet side) accepts and queues', () => {
  it('its module graph includes no sanitizer and no worker job (mail-format parsing only)', async () => {
    const graph = await madge(path.join(PACKAGE_ROOT, 'src/ingress/role.ts'), {
      fileExtensions: ['ts'], tsConfig: path.join(PACKAGE_ROOT, 'tsconfig.json'), baseDir: PACKAGE_ROOT,
    });
    const files = Object.keys(graph.obj()).map((f) => `/${f}`);
    expect(files).toContain('/src/ingress/http.ts');
    expect(files).toContain('/src/queue/unlock-seal.ts');
    expect(files.filter((f) => /\/src\/(jobs|sanitize|sandboxed|isolation|deliver)\//.test(f) || /\/src\/runtime\/roles\.ts$/.test(f))).toEqual([]);
  });
});
