import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { classify } from '../src/sanitize/classify.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import { selfPeakRssBytes } from '../src/isolation/memwatch.js';
import { renderIsolated, stopRendererSpares, type RenderMode } from '../src/sanitize/render/renderer.js';
import { corpusFile, corpusPresent } from './helpers/corpus.js';

const config = loadConfig({ env: {}, overrides: {} });
const ctx = { config, log: silentLogger };
const GB = 1024 ** 3;
afterAll(() => stopRendererSpares());

/** PNG chunk with its CRC. */
function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  let c = ~0;
  for (const byte of td) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(~c >>> 0);
  return Buffer.concat([len, td, crc]);
}

/** A valid 1-bit 20000×20000 PNG: 400 MP, about 50 KB on disk, 400 MB+ if anyone decoded it. */
function giantPng(side = 20000): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // grayscale
  const raw = Buffer.alloc((1 + side / 8) * side); // filter byte 0 + all-black rows
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

async function refused(mode: RenderMode, bytes: Buffer): Promise<{ reason: string; action: string; ms: number; childPeak: number }> {
  const t = Date.now();
  const r = await renderIsolated(mode, bytes, ctx, async () => {});
  const ms = Date.now() - t;
  const childPeak = r.child?.peakMemoryBytes ?? 0;
  expect(childPeak).toBeLessThan(GB);
  expect(selfPeakRssBytes()).toBeLessThan(GB);
  if (r.ok) return { reason: 'OK', action: 'flattened', ms, childPeak };
  return { reason: r.reason, action: r.action, ms, childPeak };
}

describe('limits are enforced with bounded time and memory', () => {
  it('a generated 20000×20000 PNG is removed LIMIT_PIXELS from its header', async () => {
    const png = giantPng();
    expect(await classify(png)).toEqual({ mime: 'image/png', kind: 'image' });
    const r = await refused('image', png);
    console.log(`giant PNG: ${r.reason} in ${r.ms} ms, child peak ${(r.childPeak / 2 ** 20).toFixed(0)} MB`);
    expect(r).toMatchObject({ action: 'removed', reason: 'LIMIT_PIXELS' });
    expect(r.ms).toBeLessThan(20_000);
    expect(await sanitizePart({ name: 'big.png', declaredType: 'image/png', bytes: png, depth: 0 }, ctx)).toMatchObject({ action: 'removed', reason: 'LIMIT_PIXELS' });
  });

  it('an attachment over the size limit is held without being parsed', async () => {
    const small = loadConfig({ env: {}, overrides: { sanitize: { limits: { attachmentBytes: 1000 } } } });
    const r = await sanitizePart({ name: 'x.pdf', declaredType: 'application/pdf', bytes: Buffer.alloc(1001, 0x41), depth: 0 }, { config: small, log: silentLogger });
    expect(r).toMatchObject({ action: 'held', reason: 'TOO_LARGE' });
  });
});

describe.skipIf(!corpusPresent)('corpus bombs', () => {
  it.each([
    ['sample_bad_max_width.pdf', 'LIMIT_PIXELS'],
    ['sample_bad_max_height.pdf', 'LIMIT_PIXELS'],
  ])('%s is refused (%s)', async (name, reason) => {
    const r = await refused('pdf', readFileSync(corpusFile('pdf', name)));
    expect(r.reason).toBe(reason);
    expect(r.ms).toBeLessThan(20_000);
  });

  it('bomb_giant.pdf (three 1.25 GB content streams) is bounded by the memory cap: rendered or held', async () => {
    const r = await refused('pdf', readFileSync(corpusFile('pdf', 'bomb_giant.pdf')));
    console.log(`bomb_giant.pdf: ${r.reason} in ${r.ms} ms, child peak ${(r.childPeak / 2 ** 20).toFixed(0)} MB`);
    expect(['OK', 'LIMIT_PIXELS', 'RENDERER_FAILED', 'RENDERER_TIMEOUT']).toContain(r.reason);
    expect(r.ms).toBeLessThan(60_000);
  });

  it('the 11,000-page PDF is held LIMIT_PAGES without rendering its pages', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mk-11k-'));
    try {
      execFileSync('unzip', ['-q', corpusFile('pdf', 'sample-11k-pages.pdf.zip'), '-d', dir]);
      const pdf = readFileSync(path.join(dir, 'sample-11k-pages.pdf'));
      const r = await refused('pdf', pdf);
      console.log(`11k pages: ${r.reason} in ${r.ms} ms, child peak ${(r.childPeak / 2 ** 20).toFixed(0)} MB`);
      expect(r).toMatchObject({ action: 'held', reason: 'LIMIT_PAGES' });
      expect(r.ms).toBeLessThan(30_000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
