import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { unzipSync } from './archive-zip-read.js';
import { dispatch, testContext } from './archive-fixtures.js';

/** PPAP as senders do it: `zip -P` (traditional PKWARE encryption), a text file and a CSV inside. */
const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-ppap-'));
writeFileSync(path.join(dir, 'memo.txt'), '請求書を送付します。\n');
writeFileSync(path.join(dir, 'list.csv'), '名前,金額\n=cmd|"/c calc"!A1,100\n');
execFileSync('zip', ['-q', '-P', 'secret', path.join(dir, 'ppap.zip'), 'memo.txt', 'list.csv'], { cwd: dir });
const ppap = readFileSync(path.join(dir, 'ppap.zip'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PPAP zip at part level', () => {
  const ctx = testContext();
  const part = (password?: string) => ({ name: '請求書.zip', declaredType: 'application/zip', bytes: ppap, depth: 0, ...(password !== undefined ? { password } : {}) });

  it('is held ENCRYPTED without a password', async () => {
    expect(await dispatch(part(), ctx)).toMatchObject({ action: 'held', reason: 'ENCRYPTED' });
  });

  it('gives WRONG_PASSWORD for a wrong one, distinct from ENCRYPTED', async () => {
    expect(await dispatch(part('wrong'), ctx)).toMatchObject({ action: 'held', reason: 'WRONG_PASSWORD' });
    expect(await dispatch(part(''), ctx)).toMatchObject({ action: 'held', reason: 'WRONG_PASSWORD' });
  });

  it('with the right password: a new unencrypted zip of sanitized outputs, each listed', async () => {
    const r = await dispatch(part('secret'), ctx);
    expect(r).toMatchObject({ action: 'converted', reason: 'ARCHIVE_REPACKED' });
    expect(r.output!.name).toBe('請求書.zip');
    const inner = unzipSync(r.output!.bytes);
    expect(inner.every((e) => !e.encrypted)).toBe(true);
    const names = r.entries!.map((e) => e.name).sort();
    expect(names).toEqual(['list.csv', 'memo.txt']);
    for (const e of r.entries!) {
      expect(e.action).toBe('text');
      const out = inner.find((i) => i.name === e.output!.name)!;
      expect(out.data.length).toBe(e.output!.size);
    }
    const csv = inner.find((i) => i.name.endsWith('.csv'))!.data.toString('utf8');
    // The DDE formula is neutralised (no cell starts with =), the Japanese header kept.
    expect(csv).toContain('名前');
    expect(csv.split(/\r?\n/).some((l) => /^=|,=/.test(l))).toBe(false);
  });
});
