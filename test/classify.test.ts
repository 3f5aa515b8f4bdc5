import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { pack } from 'tar-stream';
import yazl from 'yazl';
import { describe, expect, it } from 'vitest';
import { classify } from '../src/sanitize/classify.js';
import { corpusFile, corpusList, corpusPresent } from './helpers/corpus.js';
import { minimalPdf } from './helpers/pdf-fixtures.js';

function zip(entries: [string, string][], opts: { storeFirst?: boolean } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const z = new yazl.ZipFile();
    entries.forEach(([name, body], i) => z.addBuffer(Buffer.from(body), name, { compress: !(opts.storeFirst && i === 0) }));
    z.end();
    const chunks: Buffer[] = [];
    z.outputStream.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
  });
}

function zipOf(entries: [string, Buffer][], opts: { storeFirst?: boolean } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const z = new yazl.ZipFile();
    entries.forEach(([name, body], i) => z.addBuffer(body, name, { compress: !(opts.storeFirst && i === 0) }));
    z.end();
    const chunks: Buffer[] = [];
    z.outputStream.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
  });
}

async function tarOf(entries: [string, Buffer][]): Promise<Buffer> {
  const p = pack();
  for (const [name, body] of entries) p.entry({ name }, body);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** An OLE compound file header followed by UTF-16LE directory names (enough for the name scan). */
function ole(...streams: string[]): Buffer {
  return Buffer.concat([Buffer.from('d0cf11e0a1b11ae1', 'hex'), Buffer.alloc(504), ...streams.map((s) => Buffer.from(`${s}\0`, 'utf16le'))]);
}

describe('classify by content', () => {
  it('recognises documents and images whatever their names say', async () => {
    expect(await classify(minimalPdf('x'), 'photo.jpg')).toEqual({ mime: 'application/pdf', kind: 'pdf' });
    expect(await classify(Buffer.concat([Buffer.alloc(500, 0x20), minimalPdf('x')]))).toMatchObject({ kind: 'pdf' });
    expect(await classify(Buffer.concat([Buffer.alloc(1100, 0x20), minimalPdf('x')]))).not.toMatchObject({ kind: 'pdf' });
    const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#fff' } }).png().toBuffer();
    expect(await classify(png, 'report.pdf')).toEqual({ mime: 'image/png', kind: 'image' });
    for (const fmt of ['jpeg', 'gif', 'webp', 'tiff'] as const) {
      const b = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#fff' } }).toFormat(fmt).toBuffer();
      expect((await classify(b)).kind).toBe('image');
    }
    expect(await classify(Buffer.from('{\\rtf1\\ansi hello}'))).toMatchObject({ kind: 'rtf' });
    expect(await classify(Buffer.from('<?xml version="1.0"?>\n<!-- c --><svg xmlns="http://www.w3.org/2000/svg"/>'))).toMatchObject({ kind: 'svg' });
    expect(await classify(Buffer.alloc(0))).toMatchObject({ kind: 'empty' });
  });

  it('marks encrypted PDFs by their trailer', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mk-cls-'));
    writeFileSync(path.join(dir, 'a.pdf'), minimalPdf('x'));
    execFileSync('qpdf', ['--encrypt', 'u', 'o', '256', '--', path.join(dir, 'a.pdf'), path.join(dir, 'e.pdf')]);
    expect(await classify(readFileSync(path.join(dir, 'e.pdf')))).toMatchObject({ kind: 'encrypted-pdf' });
    expect(await classify(Buffer.from('%PDF-1.4\n% talks about /Encrypt in a comment\n'))).toMatchObject({ kind: 'pdf' });
  });

  it('tells OOXML (incl. macro-enabled), ODF, EPUB, encrypted ZIP and plain ZIP apart', async () => {
    const ct = ['[Content_Types].xml', '<Types/>'] as [string, string];
    expect(await classify(await zip([ct, ['word/document.xml', '<w/>']]))).toMatchObject({ kind: 'office', mime: expect.stringContaining('wordprocessingml') });
    expect(await classify(await zip([ct, ['xl/workbook.xml', '<w/>'], ['xl/vbaProject.bin', 'x']]))).toMatchObject({ kind: 'office', mime: expect.stringContaining('ms-excel.sheet.macroEnabled') });
    expect(await classify(await zip([ct, ['ppt/presentation.xml', '<p/>']]))).toMatchObject({ kind: 'office', mime: expect.stringContaining('presentationml') });
    expect(await classify(await zip([['mimetype', 'application/vnd.oasis.opendocument.text'], ['content.xml', '<x/>']], { storeFirst: true }))).toMatchObject({ kind: 'odf' });
    expect(await classify(await zip([['mimetype', 'application/epub+zip'], ['META-INF/container.xml', '<x/>']], { storeFirst: true }))).toMatchObject({ kind: 'epub' });
    expect(await classify(await zip([['a.txt', 'hello']]), 'x.docx')).toMatchObject({ kind: 'zip' });
    const enc = await zip([['a.txt', 'hello']]);
    enc.writeUInt16LE(enc.readUInt16LE(6) | 1, 6); // set the encryption flag in the local header
    expect(await classify(enc)).toMatchObject({ kind: 'encrypted-zip' });
  });

  it('tells encrypted Office from .doc/.xls/.ppt in OLE files', async () => {
    expect(await classify(ole('Root Entry', 'EncryptionInfo', 'EncryptedPackage'))).toMatchObject({ kind: 'encrypted-office' });
    expect(await classify(ole('Root Entry', 'WordDocument', '1Table'))).toMatchObject({ kind: 'office', mime: 'application/msword' });
    expect(await classify(ole('Root Entry', 'Workbook'))).toMatchObject({ kind: 'office', mime: 'application/vnd.ms-excel' });
    expect(await classify(ole('Root Entry', 'PowerPoint Document'))).toMatchObject({ kind: 'office', mime: 'application/vnd.ms-powerpoint' });
    expect(await classify(ole('Root Entry', 'Something'))).toMatchObject({ kind: 'unknown' });
  });

  it('finds executables, scripts and shortcuts', async () => {
    expect(await classify(Buffer.from('MZ\x90\0\x03'), 'invoice.pdf')).toMatchObject({ kind: 'executable' });
    expect(await classify(Buffer.from('\x7fELF\x02\x01\x01'))).toMatchObject({ kind: 'executable' });
    expect(await classify(Buffer.from('cffaedfe07000001', 'hex'))).toMatchObject({ kind: 'executable' });
    expect(await classify(Buffer.from('#!/bin/sh\nrm -rf /\n'), 'notes.txt')).toMatchObject({ kind: 'executable' });
    expect(await classify(Buffer.concat([Buffer.from('4c0000000114020000000000c000000000000046', 'hex'), Buffer.alloc(60)]))).toMatchObject({ kind: 'executable' });
    expect(await classify(Buffer.from('echo hi'), 'run.bat')).toMatchObject({ kind: 'executable' });
  });

  it('archives: gzip and tar', async () => {
    expect(await classify(Buffer.from('1f8b0800000000000003', 'hex'))).toMatchObject({ kind: 'gzip' });
    const tar = Buffer.alloc(1024);
    tar.write('a.txt', 0);
    tar.write('ustar', 257, 'latin1');
    expect(await classify(tar)).toMatchObject({ kind: 'tar' });
  });

  it('a container is decided by its structure: a stored ZIP or a tar whose first entry is a PDF is an archive', async () => {
    const pdf = minimalPdf('first');
    const stored = await zipOf([['a.pdf', pdf], ['b.exe', Buffer.from('MZ\x90\0')], ['c.txt', Buffer.from('third')]], { storeFirst: true });
    expect(stored.subarray(0, 1024).includes('%PDF-')).toBe(true);
    expect(await classify(stored, 'a.pdf', 'application/pdf')).toEqual({ mime: 'application/zip', kind: 'zip' });
    const t = await tarOf([['a.pdf', pdf], ['b.txt', Buffer.from('second')]]);
    expect(t.subarray(0, 1024).includes('%PDF-')).toBe(true);
    expect(await classify(t, 'a.pdf')).toEqual({ mime: 'application/x-tar', kind: 'tar' });
  });

  it('polyglots are held as ambiguous, never guessed', async () => {
    const pdf = minimalPdf('poly');
    const z = await zipOf([['inner.txt', Buffer.from('hello')]]);
    // A PDF with a ZIP appended (ZIP readers find the end record; the offsets are off by the PDF's length).
    expect(await classify(Buffer.concat([pdf, z]), 'x.pdf')).toEqual({ mime: 'application/octet-stream', kind: 'ambiguous' });
    // A ZIP behind a PDF header whose offsets were fixed up to match (as polyglot tools write them).
    const fixed = await zipOf([['inner.txt', Buffer.from('hello')]]);
    const prefix = Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1');
    const eocd = fixed.lastIndexOf(Buffer.from('PK\x05\x06', 'latin1'));
    fixed.writeUInt32LE(fixed.readUInt32LE(eocd + 16) + prefix.length, eocd + 16);
    expect(await classify(Buffer.concat([prefix, fixed]))).toMatchObject({ kind: 'ambiguous' });
    // A local header at 0 but no central directory, with a PDF inside: a damaged ZIP or a PDF, we cannot tell.
    const cut = (await zipOf([['a.pdf', pdf]], { storeFirst: true }));
    expect(await classify(cut.subarray(0, cut.indexOf(Buffer.from('PK\x01\x02', 'latin1'))))).toMatchObject({ kind: 'ambiguous' });
    // A tar header with `%PDF-` inside the header block itself.
    expect(await classify(await tarOf([['%PDF-1.4.txt', Buffer.from('x')]]))).toMatchObject({ kind: 'ambiguous' });
    // Plain ones stay what they are.
    expect(await classify(pdf)).toEqual({ mime: 'application/pdf', kind: 'pdf' });
    expect(await classify(z)).toEqual({ mime: 'application/zip', kind: 'zip' });
  });

  it('text, CSV/TSV by declared name or type, HTML by content', async () => {
    expect(await classify(Buffer.from('こんにちは', 'utf8'))).toEqual({ mime: 'text/plain', kind: 'text' });
    expect(await classify(Buffer.from([0x82, 0xb1, 0x82, 0xf1, 0x82, 0xc9, 0x82, 0xbf, 0x82, 0xcd]))).toMatchObject({ kind: 'text' }); // Shift_JIS
    expect(await classify(Buffer.from('a,b\n1,2\n'), 'x.csv')).toMatchObject({ kind: 'csv' });
    expect(await classify(Buffer.from('a,b\n1,2\n'), 'x', 'text/csv; charset=utf-8')).toMatchObject({ kind: 'csv' });
    expect(await classify(Buffer.from('a\tb\n'), 'x.tsv')).toMatchObject({ kind: 'tsv' });
    expect(await classify(Buffer.from('<!DOCTYPE html><html><body>x</body></html>'), 'x.txt')).toMatchObject({ kind: 'html' });
    expect(await classify(Buffer.from('hello\0world'))).toMatchObject({ kind: 'unknown' });
    expect(await classify(Buffer.from([0xff, 0xfe, 0x41, 0x00, 0x42, 0x00]))).toMatchObject({ kind: 'text' }); // UTF-16LE with BOM
  });
});

describe.skipIf(!corpusPresent)('classify the corpus', () => {
  it('office and mail corpus files get a kind without throwing', async () => {
    const seen: Record<string, string> = {};
    for (const folder of ['office', 'pdf', 'images']) {
      for (const name of corpusList(folder)) {
        const c = await classify(readFileSync(corpusFile(folder, name)), name);
        expect(c.kind).toBeTruthy();
        if (folder === 'images') expect(c.kind).toBe('image');
        seen[name] = c.kind;
      }
    }
    const expected: Record<string, string> = {
      'encrypted.docx': 'encrypted-office',
      'encrypted.xlsx': 'encrypted-office',
      'sample-doc.doc': 'office',
      'sample-xls.xls': 'office',
      'sample-ppt.ppt': 'office',
      'sample-docx.docx': 'office',
      'excel4_sample_macro.xlsm': 'office',
      'sample-odt.odt': 'odf',
      'sample-ods.ods': 'odf',
      'sample-epub.epub': 'epub',
      'sample-svg.svg': 'svg',
      'issue_251.rtf': 'rtf',
      'dde-in-csv.csv': 'csv',
      'encrypted-attachment.pdf': 'encrypted-pdf',
      'tracemonkey.pdf': 'pdf',
    };
    // Every expected file must be in the corpus: a renamed or missing file would otherwise check nothing.
    expect(Object.keys(expected).filter((name) => !(name in seen))).toEqual([]);
    for (const [name, kind] of Object.entries(expected)) expect(`${name}: ${seen[name]}`).toBe(`${name}: ${kind}`);
  });
});
