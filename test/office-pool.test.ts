import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { minimalDocx } from '../bench/office-docx.js';
import { convertOffice, setOfficePool } from '../src/sanitize/office/index.js';
import { OfficePool, readPdf } from '../src/sanitize/office/pool.js';
import { testContext } from './archive-fixtures.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mukaika-office-test-'));
let onStart: ((pid: number) => void) | undefined;
const pool = new OfficePool({ memoryMb: 1024, maxDocs: 3, onConvertStart: (pid) => onStart?.(pid) });

afterAll(async () => {
  setOfficePool(undefined);
  await pool.close();
  rmSync(tmp, { recursive: true, force: true });
});

/**
 * Kill the converter's whole sandbox (bwrap, python, soffice) the moment the document is handed over: a
 * delay would race a warm converter, which finishes a small document in well under 100 ms on an idle machine.
 */
const killSoon = (pid: number): void => {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* gone */
  }
};

const DOC = ['御見積書', '株式会社テスト 御中 ①②③ ㈱ 髙橋', 'Total: 12,000 JPY'];

describe('LibreOffice converter pool', () => {
  it('converts a .docx with Japanese text rendered in a CJK font', async () => {
    const r = await pool.convert(await minimalDocx(DOC), 'docx', 60_000, 50_000_000);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const file = path.join(tmp, 'lo.pdf');
    writeFileSync(file, r.untrustedPdf);
    const text = execFileSync('pdftotext', ['-enc', 'UTF-8', file, '-']).toString('utf8');
    expect(text).toContain('御見積書');
    expect(text).toContain('株式会社テスト');
    const fonts = execFileSync('pdffonts', [file]).toString('utf8');
    expect(fonts).toMatch(/CJK|IPA/i);
  });

  it('replaces a converter killed mid-document and retries the document once', async () => {
    const before = await pool.pids();
    let kills = 0;
    onStart = (pid) => {
      if (kills++ === 0) killSoon(pid);
    };
    const r = await pool.convert(await minimalDocx(['retry me']), 'docx', 60_000, 50_000_000);
    onStart = undefined;
    expect(kills).toBe(2);
    expect(r.ok).toBe(true);
    expect(await pool.pids()).not.toEqual(before);
  });

  it('holds the document (CONVERTER_FAILED) when the retry dies too', async () => {
    onStart = killSoon;
    const ctx = testContext();
    setOfficePool(pool);
    const r = await convertOffice({ name: '見積書.docx', declaredType: '', bytes: await minimalDocx(['x']), depth: 0 }, 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', ctx);
    onStart = undefined;
    expect(r).toMatchObject({ action: 'held', reason: 'CONVERTER_FAILED' });
    expect(r.output).toBeUndefined();
  });

  it('recycles a converter after maxDocs documents', async () => {
    const first = await pool.pids();
    for (let i = 0; i < 3; i++) expect((await pool.convert(await minimalDocx([`doc ${i}`]), 'docx', 60_000, 50_000_000)).ok).toBe(true);
    expect(await pool.pids()).not.toEqual(first);
  });

  it('says CONVERTER_FAILED for bytes LibreOffice cannot open, and exits 0 without output is not a pass', async () => {
    const r = await pool.convert(Buffer.from('PK\x03\x04 this is not a document'), 'docx', 60_000, 50_000_000);
    expect(r).toEqual({ ok: false, reason: 'CONVERTER_FAILED', refused: true });
  });

  it('reads the sandbox\'s out.pdf only as a regular file: a planted symlink or FIFO is not followed', () => {
    const real = path.join(tmp, 'host-secret.pdf');
    writeFileSync(real, '%PDF-1.7 host file');
    const link = path.join(tmp, 'out-link.pdf');
    symlinkSync(real, link);
    expect(readPdf(real, 1000)?.toString('latin1')).toContain('%PDF-');
    expect(readPdf(link, 1000)).toBeUndefined();
    const fifo = path.join(tmp, 'out-fifo.pdf');
    execFileSync('mkfifo', [fifo]);
    expect(readPdf(fifo, 1000)).toBeUndefined();
    expect(readPdf(path.join(tmp, 'missing.pdf'), 1000)).toBeUndefined();
  });
});
