import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { flattenPdf } from '../src/sanitize/convert/pdf.js';
import { runIsolated } from '../src/isolation/spawn.js';
import { renderIsolated, stopRendererSpares } from '../src/sanitize/render/renderer.js';
import { buildBwrapArgs, probeSandbox } from '../src/isolation/sandbox.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import { minimalPdf } from './helpers/pdf-fixtures.js';

// Hostile entries start through tsx, slowly on a loaded machine: timeouts stay generous unless a test is about them.
const ctx = { config: loadConfig({ env: {}, overrides: { sanitize: { limits: { documentTimeoutMs: 30_000, pageTimeoutMs: 20_000, rendererMemoryMb: 384 } } } }), log: silentLogger };
const tight = { config: loadConfig({ env: {}, overrides: { sanitize: { limits: { documentTimeoutMs: 6000, pageTimeoutMs: 3000, rendererMemoryMb: 384 } } } }), log: silentLogger };
const hostile = (how: string): string[] => ['--import', 'tsx', path.join(PACKAGE_ROOT, 'test', 'helpers', 'hostile-renderer.ts'), how];
const testBinds = [{ src: path.join(PACKAGE_ROOT, 'test') }];
const noPages = async (): Promise<void> => {};

afterAll(() => stopRendererSpares());

describe('isolated child', () => {
  it('runs in bubblewrap here, as nobody, without network or the data dir', async () => {
    const probe = probeSandbox();
    console.log(`sandbox on this machine: ${probe.mode}${probe.reason ? ` (${probe.reason})` : ''}`);
    const script = `
      const fs = require('fs');
      const r = { uid: process.getuid(), env: Object.keys(process.env).sort().join(',') };
      try { fs.readdirSync(${JSON.stringify(path.join(PACKAGE_ROOT, 'var'))}); r.var = 'visible'; } catch (e) { r.var = e.code; }
      try { fs.writeFileSync(${JSON.stringify(path.join(PACKAGE_ROOT, 'src', 'x'))}, 'x'); r.write = 'ok'; } catch (e) { r.write = e.code; }
      require('net').connect(80, '1.1.1.1').on('error', (e) => { r.net = e.code; process.stdout.write(JSON.stringify(r)); }).on('connect', () => { r.net = 'connected'; process.stdout.write(JSON.stringify(r)); process.exit(0); });`;
    const r = await runIsolated({ entry: ['-e', script], timeoutMs: 10_000, memoryMb: 256 });
    expect(r.end).toBe('exit');
    const seen = JSON.parse(r.stdout.toString()) as Record<string, unknown>;
    expect(seen.env).not.toMatch(/REDIS|DATABASE|NODE_OPTIONS/);
    // Without bwrap (fallback) only the uid drop and the clean environment remain: see docs/renderer.md.
    if (process.getuid?.() === 0) expect(seen.uid).toBe(65534);
    if (probe.mode !== 'none') {
      expect(seen.net).not.toBe('connected');
      expect(seen.write).not.toBe('ok');
      expect(seen.var).toBe('ENOENT');
      expect(seen.uid).toBe(65534);
    }
  });

  it('builds a bwrap argv with every namespace, no capabilities and read-only binds', () => {
    const argv = buildBwrapArgs(['/usr/bin/node', 'x.js'], { binds: [{ src: '/usr' }, { src: '/data', writable: true }], mode: 'bwrap-userns' });
    for (const flag of ['--unshare-net', '--unshare-pid', '--unshare-ipc', '--unshare-user', '--die-with-parent', '--new-session']) expect(argv).toContain(flag);
    expect(argv.join(' ')).toContain('--cap-drop ALL');
    expect(argv.join(' ')).toContain('--ro-bind /usr /usr');
    expect(argv.join(' ')).toContain('--bind /data /data');
    expect(argv.slice(-3)).toEqual(['--', '/usr/bin/node', 'x.js']);
  });

  it('kills the whole group at the wall-clock timeout', async () => {
    const t = Date.now();
    const r = await runIsolated({ entry: ['-e', 'require("child_process").spawn("sleep", ["60"], { stdio: "inherit" }); setInterval(() => {}, 1000)'], timeoutMs: 800, memoryMb: 256 });
    expect(r.end).toBe('timeout');
    expect(Date.now() - t).toBeLessThan(5000);
  });

  it('kills a child over its memory cap', async () => {
    const r = await runIsolated({ entry: hostile('memory'), extraBinds: testBinds, timeoutMs: 20_000, memoryMb: 256 });
    expect(r.end).toBe('memory');
    expect(r.peakMemoryBytes).toBeLessThan(1024 ** 3);
  });
});

describe('renderer failures are held, never passed', () => {
  it('a hanging renderer → RENDERER_TIMEOUT, killed at the timeout; the next part still works', async () => {
    const t = Date.now();
    const r = await flattenPdf(minimalPdf('hang'), tight, { entry: hostile('hang'), extraBinds: testBinds });
    expect(r).toMatchObject({ action: 'held', reason: 'RENDERER_TIMEOUT' });
    expect(r.output).toBeUndefined();
    expect(Date.now() - t).toBeLessThan(10_000);
    const next = await sanitizePart({ name: 'ok.pdf', declaredType: 'application/pdf', bytes: minimalPdf('next'), depth: 0 }, ctx);
    expect(next).toMatchObject({ action: 'flattened', reason: 'PDF_FLATTENED' });
  });

  it('a renderer that stalls between pages → RENDERER_TIMEOUT at the per-page timeout', async () => {
    const t = Date.now();
    const r = await renderIsolated('pdf', minimalPdf('x'), tight, noPages, { entry: hostile('stall-after-doc'), extraBinds: testBinds });
    expect(r).toMatchObject({ ok: false, action: 'held', reason: 'RENDERER_TIMEOUT' });
    expect(Date.now() - t).toBeLessThan(6000);
  });

  it('a crashing renderer → RENDERER_FAILED', async () => {
    const r = await flattenPdf(minimalPdf('crash'), ctx, { entry: hostile('crash'), extraBinds: testBinds });
    expect(r).toMatchObject({ action: 'held', reason: 'RENDERER_FAILED' });
  });

  it('a renderer writing garbage → RENDERER_FAILED', async () => {
    const r = await flattenPdf(minimalPdf('garbage'), ctx, { entry: hostile('garbage'), extraBinds: testBinds });
    expect(r).toMatchObject({ action: 'held', reason: 'RENDERER_FAILED' });
  });

  it('a renderer declaring a giant page is stopped at the header → removed LIMIT_PIXELS', async () => {
    const r = await renderIsolated('pdf', minimalPdf('x'), ctx, noPages, { entry: hostile('giant-page'), extraBinds: testBinds });
    expect(r).toMatchObject({ ok: false, action: 'removed', reason: 'LIMIT_PIXELS' });
    expect(r.child?.end).toBe('killed');
  });
});
