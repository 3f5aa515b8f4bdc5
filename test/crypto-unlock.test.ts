import officeCrypto from 'officecrypto-tool';
import { afterAll, describe, expect, it } from 'vitest';
import { TextReader, Uint8ArrayWriter, ZipWriter, configure } from '@zip.js/zip.js';
import { minimalDocx } from '../bench/office-docx.js';
import { runArchiveChild } from '../src/sanitize/archive/run.js';
import { closeOfficePool } from '../src/sanitize/office/index.js';
import { dispatch, testContext } from './archive-fixtures.js';

configure({ useWebWorkers: false });
const ctx = testContext();
afterAll(() => closeOfficePool());

const SECRET = 'パスワード-2024!';

describe('encrypted Office files (generated, no corpus needed)', () => {
  it('held ENCRYPTED without a password, WRONG_PASSWORD with a wrong one, converted with the right one', { timeout: 180_000 }, async () => {
    const plain = await minimalDocx(['社外秘 見積書']);
    const enc = Buffer.from(officeCrypto.encrypt(plain, { password: SECRET }));
    const part = (password?: string) => ({ name: '見積書.docx', declaredType: '', bytes: enc, depth: 0, ...(password !== undefined ? { password } : {}) });
    expect(await dispatch(part(), ctx)).toMatchObject({ action: 'held', reason: 'ENCRYPTED' });
    expect(await dispatch(part('wrong'), ctx)).toMatchObject({ action: 'held', reason: 'WRONG_PASSWORD' });
    const ok = await dispatch(part(SECRET), ctx);
    expect(ok).toMatchObject({ action: 'converted', reason: 'OFFICE_CONVERTED' });
    expect(ok.output!.name).toBe('見積書.pdf');
  });

  it("opens Excel's built-in 'VelvetSweatshop' protection without asking anyone", { timeout: 180_000 }, async () => {
    const enc = Buffer.from(officeCrypto.encrypt(await minimalDocx(['read-only protected']), { password: 'VelvetSweatshop' }));
    expect(await dispatch({ name: 'a.docx', declaredType: '', bytes: enc, depth: 0 }, ctx)).toMatchObject({ action: 'converted' });
  });
});

describe('AES-encrypted ZIP (WinZip AES, as 7-Zip and Windows tools write it)', () => {
  it('held, refused with a wrong password, repacked with the right one', async () => {
    const w = new ZipWriter(new Uint8ArrayWriter(), { password: SECRET, encryptionStrength: 3 });
    await w.add('請求書.txt', new TextReader('請求金額 50,000円\n'));
    const zip = Buffer.from(await w.close());
    const part = (password?: string) => ({ name: 'aes.zip', declaredType: '', bytes: zip, depth: 0, ...(password !== undefined ? { password } : {}) });
    expect(await dispatch(part(), ctx)).toMatchObject({ action: 'held', reason: 'ENCRYPTED' });
    expect(await dispatch(part('nope'), ctx)).toMatchObject({ action: 'held', reason: 'WRONG_PASSWORD' });
    const r = await dispatch(part(SECRET), ctx);
    expect(r).toMatchObject({ action: 'converted', reason: 'ARCHIVE_REPACKED' });
    expect(r.entries!.map((e) => [e.name, e.action])).toEqual([['請求書.txt', 'text']]);
  });
});

describe('the password reaches the child on stdin only', () => {
  it('is in neither argv nor the environment of the isolated child', async () => {
    // A stand-in child: reports its own argv, environment and stdin as one entry frame.
    const script = `
      const chunks = [];
      process.stdin.on('data', (c) => chunks.push(c));
      process.stdin.on('end', () => {
        const data = Buffer.from(JSON.stringify({ argv: process.argv, env: process.env, stdin: Buffer.concat(chunks).toString('latin1') }));
        const head = Buffer.alloc(10); head[0] = 0x45; head[1] = 0; head.writeUInt16BE(0, 2); head.writeUInt16BE(0, 4); head.writeUInt32BE(data.length, 6);
        process.stdout.write(Buffer.concat([head, data, Buffer.from([0x58, 2]), Buffer.from('OK')]));
      });`;
    const limits = { entries: 1, totalBytes: 1 << 20, entryBytes: 1 << 20, ratio: 100, depth: 0 };
    const r = await runArchiveChild('expand', Buffer.from('PK\x05\x06'), limits, ctx, SECRET, { entry: ['-e', script] });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const seen = JSON.parse(r.entries[0]!.untrustedData.toString('utf8')) as { argv: string[]; env: Record<string, string>; stdin: string };
    expect(JSON.stringify(seen.argv)).not.toContain(SECRET);
    expect(JSON.stringify(seen.env)).not.toContain(SECRET);
    expect(Buffer.from(seen.stdin, 'latin1').toString('utf8')).toContain(SECRET);
  });
});
