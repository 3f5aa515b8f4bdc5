import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { pack, type Header } from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { ZipFile } from 'yazl';
import type { PartManifest } from '../src/domain/manifest.js';
import { encodeEnd, encodeEntry } from '../src/sandboxed/archive/protocol.js';
import { readUntrustedEntries } from '../src/sanitize/archive/reader.js';
import { sanitizeFile, sanitizeMessage } from '../src/sanitize/pipeline.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import { stopRendererSpares } from '../src/sanitize/render/renderer.js';
import { testContext } from './archive-fixtures.js';
import { unzipSync } from './archive-zip-read.js';
import { minimalPdf } from './helpers/pdf-fixtures.js';

/**
 * Nothing vanishes: every MIME part and every archive member appears in the manifest and the notice with
 * what was done to it (docs/office-archives.md, docs/RELIABILITY.md). Each case builds its input here and asserts exact rows.
 */
const ctx = testContext({ sanitize: { limits: { documentTimeoutMs: 60_000, pageTimeoutMs: 30_000 } } });
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mukaika-silent-'));
afterAll(() => {
  stopRendererSpares();
  rmSync(tmp, { recursive: true, force: true });
});

async function zipOf(files: Array<[string, Buffer, { compress?: boolean; mode?: number }?]>): Promise<Buffer> {
  const z = new ZipFile();
  for (const [n, b, o] of files) z.addBuffer(b, n, { compress: o?.compress ?? true, ...(o?.mode ? { mode: o.mode } : {}) });
  z.end();
  const chunks: Buffer[] = [];
  for await (const c of z.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function tarOf(entries: Array<[Partial<Header> & Pick<Header, 'name'>, Buffer?]>): Promise<Buffer> {
  const p = pack();
  for (const [h, body] of entries) p.entry(h, body ?? Buffer.alloc(0));
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

function encryptedPdf(label: string): Buffer {
  const plain = path.join(tmp, `${label}.pdf`);
  const enc = path.join(tmp, `${label}-enc.pdf`);
  writeFileSync(plain, minimalPdf(label));
  execFileSync('qpdf', ['--encrypt', 'u', 'o', '256', '--', plain, enc]);
  return readFileSync(enc);
}

/** The rows that matter for "listed with its action": name, detected type, action, reason, recursively. */
type Row = { name: string; detectedType: string; action: string; reason: string; entries?: Row[] };
const rows = (ps: PartManifest[]): Row[] =>
  ps.map((p) => ({ name: p.name, detectedType: p.detectedType, action: p.action, reason: p.reason, ...(p.entries ? { entries: rows(p.entries) } : {}) }));

describe('archive members that are not regular files', () => {
  it('tar: symlink, hardlink, devices and a FIFO are listed as removed with a reason; directories are structure', async () => {
    const tar = await tarOf([
      [{ name: 'docs/', type: 'directory' }],
      [{ name: 'docs/readme.txt' }, Buffer.from('読んでください\n')],
      [{ name: 'docs/passwd', type: 'symlink', linkname: '/etc/passwd' }],
      [{ name: 'docs/again.txt', type: 'link', linkname: 'docs/readme.txt' }],
      [{ name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 }],
      [{ name: 'dev/tty', type: 'character-device', devmajor: 5, devminor: 0 }],
      [{ name: 'pipe', type: 'fifo' }],
    ]);
    const r = await sanitizePart({ name: 'bundle.tar', declaredType: 'application/x-tar', bytes: tar, depth: 0 }, ctx);
    expect({ action: r.action, reason: r.reason }).toEqual({ action: 'converted', reason: 'ARCHIVE_REPACKED' });
    expect(rows(r.entries!)).toEqual([
      { name: 'docs/readme.txt', detectedType: 'text/plain', action: 'text', reason: 'TEXT_DECODED' },
      { name: 'docs/passwd', detectedType: 'inode/symlink', action: 'removed', reason: 'ARCHIVE_LINK' },
      { name: 'docs/again.txt', detectedType: 'inode/x-hardlink', action: 'removed', reason: 'ARCHIVE_LINK' },
      { name: 'dev/sda', detectedType: 'inode/x-device', action: 'removed', reason: 'ARCHIVE_SPECIAL' },
      { name: 'dev/tty', detectedType: 'inode/x-device', action: 'removed', reason: 'ARCHIVE_SPECIAL' },
      { name: 'pipe', detectedType: 'inode/fifo', action: 'removed', reason: 'ARCHIVE_SPECIAL' },
    ]);
    expect(unzipSync(r.output!.bytes).map((e) => e.name)).toEqual(['docs/readme.txt']);
  });

  it('zip: a symlink entry is listed as a link, not turned into a text file of its target', async () => {
    const z = await zipOf([['a.txt', Buffer.from('hello')], ['link', Buffer.from('/etc/shadow'), { mode: 0o120777 }]]);
    const r = await sanitizePart({ name: 'l.zip', declaredType: 'application/zip', bytes: z, depth: 0 }, ctx);
    expect(rows(r.entries!)).toEqual([
      { name: 'a.txt', detectedType: 'text/plain', action: 'text', reason: 'TEXT_DECODED' },
      { name: 'link', detectedType: 'inode/symlink', action: 'removed', reason: 'ARCHIVE_LINK' },
    ]);
  });

  it('the gateway refuses a special entry that carries data, or a member kind it does not know', () => {
    const limits = { entries: 10, entryBytes: 1000, totalBytes: 1000 };
    const withData = Buffer.concat([...encodeEntry({ rawName: Buffer.from('x'), utf8: true, data: Buffer.from('payload'), special: 'symlink' }), encodeEnd('OK')]);
    expect(() => readUntrustedEntries(withData, limits)).toThrow('data on a special entry');
    const unknown = Buffer.concat([...encodeEntry({ rawName: Buffer.from('x'), utf8: true, data: Buffer.alloc(0) }), encodeEnd('OK')]);
    unknown[1] = 0b1110; // kind 7: not one of the five
    expect(() => readUntrustedEntries(unknown, limits)).toThrow('unknown entry kind');
    const ok = Buffer.concat([...encodeEntry({ rawName: Buffer.from('f'), utf8: true, data: Buffer.alloc(0), special: 'fifo' }), encodeEnd('OK')]);
    expect(readUntrustedEntries(ok, limits).entries.map((e) => e.special)).toEqual(['fifo']);
  });
});

describe('containers listed entry by entry', () => {
  it('a stored ZIP whose first entry is a small PDF is an archive: every entry comes out listed', async () => {
    const z = await zipOf([['a.pdf', minimalPdf('first'), { compress: false }], ['b.exe', Buffer.from('MZ\x90\0\x03')], ['c.txt', Buffer.from('third')]]);
    const r = await sanitizePart({ name: 'a.pdf', declaredType: 'application/pdf', bytes: z, depth: 0 }, ctx);
    expect({ detectedType: r.detectedType, action: r.action, reason: r.reason }).toEqual({ detectedType: 'application/zip', action: 'converted', reason: 'ARCHIVE_REPACKED' });
    expect(rows(r.entries!)).toEqual([
      { name: 'a.pdf', detectedType: 'application/pdf', action: 'flattened', reason: 'PDF_FLATTENED' },
      { name: 'b.exe', detectedType: 'application/x-msdownload', action: 'removed', reason: 'EXECUTABLE' },
      { name: 'c.txt', detectedType: 'text/plain', action: 'text', reason: 'TEXT_DECODED' },
    ]);
    expect(unzipSync(r.output!.bytes).map((e) => e.name)).toEqual(['a.pdf', 'c.txt']);
  });

  it('an archive whose entries were all held is held (ARCHIVE_ENTRIES_HELD), and so is the file', async () => {
    const z = await zipOf([['one.pdf', encryptedPdf('one')], ['two.pdf', encryptedPdf('two')]]);
    const f = await sanitizeFile('f-held', { name: 'locked.zip', declaredType: 'application/zip', bytes: z }, ctx);
    expect(f.manifest.verdict).toBe('held');
    expect(rows(f.manifest.parts)).toEqual([
      {
        name: 'locked.zip', detectedType: 'application/zip', action: 'held', reason: 'ARCHIVE_ENTRIES_HELD',
        entries: [
          { name: 'one.pdf', detectedType: 'application/pdf', action: 'held', reason: 'ENCRYPTED' },
          { name: 'two.pdf', detectedType: 'application/pdf', action: 'held', reason: 'ENCRYPTED' },
        ],
      },
    ]);
    expect(f.outputs).toEqual([]);
  });

  it('held and removed entries without output: held; removed only: removed, and the file is rejected', async () => {
    const mixed = await zipOf([['run.exe', Buffer.from('MZ\x90\0')], ['one.pdf', encryptedPdf('mixed')]]);
    const m = await sanitizePart({ name: 'mixed.zip', declaredType: 'application/zip', bytes: mixed, depth: 0 }, ctx);
    expect({ action: m.action, reason: m.reason }).toEqual({ action: 'held', reason: 'ARCHIVE_ENTRIES_HELD' });
    const onlyExe = await zipOf([['run.exe', Buffer.from('MZ\x90\0')]]);
    const f = await sanitizeFile('f-rej', { name: 'exe.zip', declaredType: 'application/zip', bytes: onlyExe }, ctx);
    expect(f.manifest.verdict).toBe('rejected');
    expect(rows(f.manifest.parts)).toEqual([
      { name: 'exe.zip', detectedType: 'application/zip', action: 'removed', reason: 'EXECUTABLE', entries: [{ name: 'run.exe', detectedType: 'application/x-msdownload', action: 'removed', reason: 'EXECUTABLE' }] },
    ]);
  });

  it('a PDF with a ZIP appended is held as ambiguous, not flattened as the PDF alone', async () => {
    const poly = Buffer.concat([minimalPdf('poly'), await zipOf([['hidden.exe', Buffer.from('MZ\x90\0')]])]);
    const r = await sanitizePart({ name: 'invoice.pdf', declaredType: 'application/pdf', bytes: poly, depth: 0 }, ctx);
    expect(r).toEqual({ detectedType: 'application/octet-stream', action: 'held', reason: 'AMBIGUOUS_TYPE' });
  });
});

describe('a whole mail: every part in the manifest and the notice', () => {
  it('multipart/alternative with files in the HTML branch, plus a tar with a symlink', async () => {
    const png = await sharp({ create: { width: 4, height: 4, channels: 3, background: '#08f' } }).png().toBuffer();
    const tar = await tarOf([[{ name: 'a.txt' }, Buffer.from('中身')], [{ name: 'evil', type: 'symlink', linkname: '/' }]]);
    const b64 = (b: Buffer): string => b.toString('base64').replace(/.{76}/g, '$&\r\n');
    const raw = Buffer.from(
      [
        'From: a@example.com', 'To: b@example.lg.jp', 'Subject: test', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="mix"', '',
        '--mix', 'Content-Type: multipart/alternative; boundary="alt"', '',
        '--alt', 'Content-Type: text/plain; charset=utf-8', '', '本文です', '',
        '--alt', 'Content-Type: multipart/related; boundary="rel"', '',
        '--rel', 'Content-Type: text/html; charset=utf-8', '', '<p>本文です<img src="cid:logo@x"></p>',
        '--rel', 'Content-Type: image/png', 'Content-ID: <logo@x>', 'Content-Transfer-Encoding: base64', '', b64(png),
        '--rel', 'Content-Type: application/pdf; name="quote.pdf"', 'Content-Disposition: attachment; filename="quote.pdf"', 'Content-Transfer-Encoding: base64', '', b64(minimalPdf('quote')),
        '--rel--', '--alt--',
        '--mix', 'Content-Type: application/x-tar; name="bundle.tar"', 'Content-Disposition: attachment; filename="bundle.tar"', 'Content-Transfer-Encoding: base64', '', b64(tar),
        '--mix--', '',
      ].join('\r\n'),
      'utf8',
    );
    const r = await sanitizeMessage('m-silent', raw, ctx);
    expect(r.manifest.verdict).toBe('sanitized');
    expect(r.manifest.body).toMatchObject({ from: 'text' });
    expect(rows(r.manifest.parts)).toEqual([
      { name: 'attachment-1.png', detectedType: 'image/png', action: 'reencoded', reason: 'IMAGE_REENCODED' },
      { name: 'quote.pdf', detectedType: 'application/pdf', action: 'flattened', reason: 'PDF_FLATTENED' },
      { name: 'bundle.tar', detectedType: 'application/x-tar', action: 'converted', reason: 'ARCHIVE_REPACKED', entries: [
        { name: 'a.txt', detectedType: 'text/plain', action: 'text', reason: 'TEXT_DECODED' },
        { name: 'evil', detectedType: 'inode/symlink', action: 'removed', reason: 'ARCHIVE_LINK' },
      ] },
    ]);
    const text = r.mail.toString('utf8');
    const notice = [
      '・attachment-1.png — 変換: 画像を再エンコードしました(メタデータ削除)',
      '  http://localhost:8081/messages/m-silent/parts/0',
      '・quote.pdf — 変換: PDFを画像化して再構成しました',
      '  http://localhost:8081/messages/m-silent/parts/1',
      '・bundle.tar — 変換: 圧縮ファイルを展開し、中身を無害化して再圧縮しました',
      '  http://localhost:8081/messages/m-silent/parts/2',
      '  ・a.txt — 変換: テキストとして再作成しました',
      '  ・evil — 削除: リンク(シンボリックリンク・ハードリンク)のため削除しました',
    ].join('\n');
    expect(decodedBody(text)).toContain(notice);
  });
});

/** The text/plain body of the composed mail, transfer decoding undone. */
function decodedBody(mail: string): string {
  const m = /Content-Type: text\/plain; charset=utf-8\r\nContent-Transfer-Encoding: (\S+)\r\n\r\n([\s\S]*?)\r\n--/i.exec(mail);
  if (!m) throw new Error('no text/plain part in the composed mail');
  const cte = m[1]!.toLowerCase();
  if (cte === 'base64') return Buffer.from(m[2]!, 'base64').toString('utf8').replace(/\r\n/g, '\n');
  if (cte === 'quoted-printable') {
    const bytes = m[2]!.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/gi, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
    return Buffer.from(bytes, 'latin1').toString('utf8').replace(/\r\n/g, '\n');
  }
  throw new Error(`unexpected transfer encoding ${cte}`);
}
