import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ZipFile } from 'yazl';
import { buildZip, dispatch, testContext } from './archive-fixtures.js';

async function yazlZip(files: Array<[string, Buffer]>): Promise<Buffer> {
  const z = new ZipFile();
  for (const [n, b] of files) z.addBuffer(b, n, { compress: true });
  z.end();
  const chunks: Buffer[] = [];
  for await (const c of z.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** 42.zip in miniature: 16 copies per level, `levels` deep, 1 MB of zeros at the bottom. */
async function nestedBomb(levels: number): Promise<Buffer> {
  let inner = await yazlZip([['zeros.bin', Buffer.alloc(1024 * 1024)]]);
  for (let l = 0; l < levels; l++) inner = await yazlZip(Array.from({ length: 16 }, (_, i) => [`level${l}-${i}.zip`, inner] as [string, Buffer]));
  return inner;
}

/** Wall time and how much this (trusted) process grew: the expansion must happen in the capped child. */
async function measured<T>(f: () => Promise<T>): Promise<{ value: T; ms: number; rssGrowthMb: number }> {
  const rss0 = process.memoryUsage().rss;
  const t0 = Date.now();
  const value = await f();
  return { value, ms: Date.now() - t0, rssGrowthMb: (process.memoryUsage().rss - rss0) / 1048576 };
}

describe('archive bombs', () => {
  const ctx = testContext();

  it('refuses a nested bomb (42.zip-like) in one child, quickly', async () => {
    const bomb = await nestedBomb(5); // 16^5 ≈ 1 M files, 1 TB if fully expanded
    const { value: r, ms, rssGrowthMb } = await measured(() => dispatch({ name: '42.zip', declaredType: '', bytes: bomb, depth: 0 }, ctx));
    expect(r).toMatchObject({ action: 'removed', reason: 'LIMIT_ARCHIVE' });
    expect(ms).toBeLessThan(30_000);
    expect(rssGrowthMb).toBeLessThan(200);
  });

  it('refuses a high-ratio entry from its declared sizes before inflating', async () => {
    const zip = buildZip([{ name: 'zeros.txt', data: Buffer.alloc(64 * 1024 * 1024), deflate: true }]);
    expect(zip.length).toBeLessThan(200_000);
    const { value: r, ms } = await measured(() => dispatch({ name: 'r.zip', declaredType: '', bytes: zip, depth: 0 }, ctx));
    expect(r).toMatchObject({ action: 'removed', reason: 'LIMIT_ARCHIVE' });
    expect(ms).toBeLessThan(20_000);
  });

  it('stops a lying entry at its declared size (header says 1 KB, stream inflates to 64 MB)', async () => {
    const zip = buildZip([{ name: 'liar.txt', data: Buffer.alloc(64 * 1024 * 1024, 0x41), deflate: true, declaredSize: 1024 }]);
    const { value: r, ms } = await measured(() => dispatch({ name: 'liar.zip', declaredType: '', bytes: zip, depth: 0 }, ctx));
    expect(r.action).toBe('removed');
    expect(['LIMIT_ARCHIVE', 'CORRUPT']).toContain(r.reason);
    expect(ms).toBeLessThan(20_000);
  });

  it('refuses overlapping entries (many directory records sharing one compressed stream)', async () => {
    // Ratio allowed here so that the overlap check is what refuses it.
    const loose = testContext({ sanitize: { limits: { archiveRatio: 1_000_000 } } });
    const zip = buildZip([{ name: 'a.bin', data: Buffer.alloc(8 * 1024 * 1024), deflate: true }], { overlapAll: 20 });
    const { value: r, ms } = await measured(() => dispatch({ name: 'o.zip', declaredType: '', bytes: zip, depth: 0 }, loose));
    expect(r).toMatchObject({ action: 'removed', reason: 'LIMIT_ARCHIVE' });
    expect(ms).toBeLessThan(20_000);
  });

  it('refuses more entries than archiveEntries, and archives nested deeper than archiveDepth', async () => {
    const small = testContext({ sanitize: { limits: { archiveEntries: 5 } } });
    const many = buildZip(Array.from({ length: 6 }, (_, i) => ({ name: `f${i}.txt`, data: Buffer.from(`line ${i}\n`) })));
    expect(await dispatch({ name: 'm.zip', declaredType: '', bytes: many, depth: 0 }, small)).toMatchObject({ action: 'removed', reason: 'LIMIT_ARCHIVE' });
    const deep = await dispatch({ name: 'd.zip', declaredType: '', bytes: many, depth: 3 }, ctx);
    expect(deep).toMatchObject({ action: 'removed', reason: 'LIMIT_ARCHIVE' });
  });

  it('expands tar.gz and nested zips within the limits, each entry by the table', async () => {
    const inner = await yazlZip([['memo.txt', Buffer.from('メモです\n')]]);
    const outer = await yazlZip([['inner.zip', inner], ['prog.exe', Buffer.concat([Buffer.from('MZ'), Buffer.alloc(100)])], ['a.csv', Buffer.from('=cmd|"/c calc"!A1,2\n')]]);
    const r = await dispatch({ name: 'o.zip', declaredType: '', bytes: outer, depth: 0 }, ctx);
    expect(r.action).toBe('converted');
    const byName = Object.fromEntries(r.entries!.map((e) => [e.name, e]));
    expect(byName['inner.zip']).toMatchObject({ action: 'converted', reason: 'ARCHIVE_REPACKED' });
    expect(byName['inner.zip']!.entries![0]).toMatchObject({ name: 'memo.txt', action: 'text' });
    expect(byName['prog.exe']).toMatchObject({ action: 'removed', reason: 'EXECUTABLE' });
    expect(byName['prog.exe']!.output).toBeUndefined();
    expect(byName['a.csv']!.action).toBe('text');

    // tar.gz: build a minimal ustar by hand (one file).
    const header = Buffer.alloc(512);
    header.write('hello.txt', 0, 'latin1');
    header.write('0000644\0', 100, 'latin1');
    header.write('0000000\0', 108, 'latin1');
    header.write('0000000\0', 116, 'latin1');
    const body = Buffer.from('こんにちは\n');
    header.write(body.length.toString(8).padStart(11, '0') + '\0', 124, 'latin1');
    header.write('00000000000\0', 136, 'latin1');
    header.write('        ', 148, 'latin1');
    header.write('0', 156, 'latin1');
    header.write('ustar\0' + '00', 257, 'latin1');
    let sum = 0;
    for (const b of header) sum += b;
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
    const tar = Buffer.concat([header, body, Buffer.alloc(512 - body.length), Buffer.alloc(1024)]);
    const t = await dispatch({ name: 'h.tar.gz', declaredType: '', bytes: gzipSync(tar), depth: 0 }, ctx);
    expect(t.action).toBe('converted');
    expect(t.entries!.map((e) => e.name)).toEqual(['hello.txt']);
  });
});
