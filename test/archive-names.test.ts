import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import yauzl from 'yauzl';
import { decodeEntryName, neutraliseName, uniqueName } from '../src/sanitize/archive/names.js';
import { buildZip, CP932, dispatch, testContext, unicodePathExtra } from './archive-fixtures.js';

/** Names and the UTF-8 flag of every entry of a zip, read back with an independent reader (yauzl). */
async function zipNames(zip: Buffer): Promise<Array<{ name: string; utf8: boolean }>> {
  const z = await new Promise<yauzl.ZipFile>((res, rej) => yauzl.fromBuffer(zip, { lazyEntries: true, decodeStrings: true }, (e, f) => (e ? rej(e) : res(f!))));
  const out: Array<{ name: string; utf8: boolean }> = [];
  await new Promise<void>((res, rej) => {
    z.on('entry', (e: yauzl.Entry) => {
      out.push({ name: e.fileName, utf8: (e.generalPurposeBitFlag & 0x800) !== 0 });
      z.readEntry();
    });
    z.on('end', () => res());
    z.on('error', rej);
    z.readEntry();
  });
  return out;
}

describe('entry names', () => {
  it('decodes CP932 without flag bit 11, UTF-8 with it, and the Info-ZIP Unicode Path field', () => {
    expect(decodeEntryName({ untrustedRawName: CP932.見積書, untrustedUtf8: false })).toBe('見積書');
    expect(decodeEntryName({ untrustedRawName: Buffer.from('請求書.pdf'), untrustedUtf8: true })).toBe('請求書.pdf');
    // macOS Archive Utility: UTF-8 without the flag.
    expect(decodeEntryName({ untrustedRawName: Buffer.from('議事録.docx'), untrustedUtf8: false })).toBe('議事録.docx');
    expect(decodeEntryName({ untrustedRawName: Buffer.from('x.txt'), untrustedUtf8: false, untrustedUnicodeName: '予定表.txt' })).toBe('予定表.txt');
  });

  it('neutralises traversal, absolute paths, drive letters, backslashes, NULs and bidi overrides', () => {
    const cases: Array<[string, string]> = [
      ['../evil.txt', 'evil.txt'],
      ['../../../../etc/passwd', 'etc/passwd'],
      ['/etc/cron.d/x', 'etc/cron.d/x'],
      ['C:\\Windows\\System32\\a.dll', 'Windows/System32/a.dll'],
      ['a\\..\\..\\b.txt', 'a/b.txt'],
      ['nul\0byte.txt', 'nulbyte.txt'],
      ['invoice\u202efdp.exe', 'invoicefdp.exe'],
      ['..', 'file'],
      ['dir/ trailing. ', 'dir/trailing'],
    ];
    for (const [input, want] of cases) expect(neutraliseName(input).name, input).toBe(want);
    const taken = new Set<string>();
    expect([uniqueName('a.txt', taken), uniqueName('A.txt', taken), uniqueName('a.txt', taken)]).toEqual(['a.txt', 'A (2).txt', 'a (3).txt']);
  });
});

describe('archive names end to end', () => {
  const ctx = testContext();

  it('keeps a CP932 Japanese name (bit 11 clear) and repacks it as UTF-8 with the flag set', async () => {
    const zip = buildZip([
      { name: Buffer.concat([CP932.見積書, Buffer.from('.txt')]), data: Buffer.from('御見積金額 12,000円\r\n', 'utf8'), flags: 0 },
      { name: Buffer.from('readme.txt'), data: Buffer.from('hello'), flags: 0, extra: unicodePathExtra(Buffer.from('readme.txt'), 'お読みください.txt') },
    ]);
    const r = await dispatch({ name: '見積.zip', declaredType: 'application/zip', bytes: zip, depth: 0 }, ctx);
    expect(r.action).toBe('converted');
    expect(r.reason).toBe('ARCHIVE_REPACKED');
    expect(r.entries?.map((e) => e.name)).toEqual(['見積書.txt', 'お読みください.txt']);
    const names = await zipNames(r.output!.bytes);
    expect(names.map((n) => n.name)).toEqual(r.entries!.map((e) => e.output!.name));
    expect(names[0]!.name.startsWith('見積書')).toBe(true);
    expect(names.every((n) => n.utf8 || /^[\x20-\x7e]*$/.test(n.name))).toBe(true);
  });

  it('never lets ../evil escape: names neutralised in the manifest and the new zip, nothing written outside', async () => {
    const before = new Set(readdirSync(os.tmpdir()));
    const zip = buildZip([
      { name: '../evil.txt', data: Buffer.from('x') },
      { name: '/abs/evil2.txt', data: Buffer.from('y') },
      { name: 'C:\\evil3.txt', data: Buffer.from('z') },
      { name: Buffer.from('..\\..\\evil4.txt'), data: Buffer.from('w'), flags: 0 },
    ]);
    const r = await dispatch({ name: 'x.zip', declaredType: '', bytes: zip, depth: 0 }, ctx);
    expect(r.action).toBe('converted');
    const names = (await zipNames(r.output!.bytes)).map((n) => n.name);
    for (const n of [...names, ...r.entries!.map((e) => e.name)]) {
      expect(n).not.toMatch(/(^|\/)\.\.(\/|$)|^\/|\\|^[A-Za-z]:/);
    }
    expect(names.some((n) => n.startsWith('evil'))).toBe(true);
    for (const p of ['evil.txt', 'evil2.txt', 'evil3.txt', 'evil4.txt']) {
      expect(existsSync(path.join(os.tmpdir(), p))).toBe(false);
      expect(existsSync(path.resolve(process.cwd(), '..', p))).toBe(false);
    }
    const created = readdirSync(os.tmpdir()).filter((f) => !before.has(f) && /evil/.test(f));
    expect(created).toEqual([]);
  });
});
