import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../src/domain/manifest.js';
import { corpusFile, corpusList, corpusPresent } from './helpers/corpus.js';
import { runCli } from './helpers/run-cli.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'mukaika-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function sanitize(file: string, outName: string) {
  const out = path.join(tmp, outName);
  const run = await runCli(['sanitize', file, '--out', out]);
  const manifestFile = path.join(out, 'manifest.json');
  const manifest = existsSync(manifestFile) ? (JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest) : undefined;
  return { run, out, manifest };
}

describe('mukaika sanitize FILE (offline)', () => {
  it('writes the sanitized mail and manifest.json for a generated Japanese mail; exit 0', async () => {
    const file = path.join(tmp, 'gen.eml');
    const subject = Buffer.from('会議のお知らせ').toString('base64');
    const body = Buffer.from('明日10時から会議です。\r\n資料: https://example.com/a.pdf\r\n');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, `From: a@example.com\r\nTo: b@example.lg.jp\r\nSubject: =?UTF-8?B?${subject}?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${body.toString('base64')}\r\n`);
    const { run, out, manifest } = await sanitize(file, 'gen');
    expect(run.code, run.stderr).toBe(0);
    expect(manifest).toMatchObject({ kind: 'message', verdict: 'sanitized', body: { from: 'text', charset: 'utf-8', linksNeutralised: 1 }, parts: [] });
    const mail = readFileSync(path.join(out, 'message.eml'), 'latin1');
    expect(mail).toMatch(/^X-Mukaika-Verdict: sanitized$/m);
  });

  it('exits 2 and says why for a held or removed file', async () => {
    const file = path.join(tmp, 'tool.exe');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, Buffer.concat([Buffer.from('MZ'), Buffer.alloc(200, 0x90)]));
    const { run, manifest } = await sanitize(file, 'exe');
    expect(run.code, run.stderr).toBe(2);
    expect(manifest?.verdict).toBe('rejected');
    expect(manifest?.parts[0]).toMatchObject({ name: 'tool.exe', action: 'removed' });
  });

  it('unlocks a password ZIP offline with --password (exit 0), holds it without (exit 2)', async () => {
    const { execFileSync } = await import('node:child_process');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(path.join(tmp, 'memo.txt'), '会議メモ\n');
    execFileSync('zip', ['-q', '-j', '-P', 'pw-1234', path.join(tmp, 'ppap.zip'), path.join(tmp, 'memo.txt')]);
    const held = await sanitize(path.join(tmp, 'ppap.zip'), 'ppap-held');
    expect(held.run.code, held.run.stderr).toBe(2);
    expect(held.manifest?.parts[0]).toMatchObject({ action: 'held', reason: 'ENCRYPTED' });
    const out = path.join(tmp, 'ppap-open');
    const run = await runCli(['sanitize', path.join(tmp, 'ppap.zip'), '--out', out, '--password', 'pw-1234']);
    expect(run.code, run.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(path.join(out, 'manifest.json'), 'utf8')) as Manifest;
    expect(manifest.parts[0]).toMatchObject({ action: 'converted', entries: [{ name: 'memo.txt', action: 'text' }] });
    expect(execFileSync('unzip', ['-p', path.join(out, 'ppap.zip'), 'memo.txt'], { encoding: 'utf8' })).toBe('会議メモ\n');
    expect(run.stderr).not.toContain('pw-1234');
  });

  it('exits 1 with a message for a missing file', async () => {
    const run = await runCli(['sanitize', path.join(tmp, 'nope.eml')]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/mukaika: .*ENOENT/);
  });

  const mails = corpusList('mail');
  describe.skipIf(!corpusPresent)('every corpus mail', () => {
    for (const name of mails) {
      it(`${name}: a verdict and a manifest, no crash, bounded memory`, async () => {
        const { run, manifest } = await sanitize(corpusFile('mail', name), name);
        expect([0, 2], `${name}: ${run.stderr}`).toContain(run.code);
        expect(manifest?.kind).toBe('message');
        expect(['sanitized', 'held', 'rejected']).toContain(manifest?.verdict);
        for (const p of manifest?.parts ?? []) expect(p.reason).toMatch(/^[A-Z_]+$/);
        // The DoS fixtures (large_text, outofmemory, htmllargecallstack) included: well under 1 GB.
        expect(run.peakRssKb).toBeLessThan(1024 * 1024);
      }, 180_000);
    }
  });
});
