import iconv from 'encoding-japanese';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { neutraliseCell, neutraliseDelimited, parseDelimited } from '../src/sanitize/convert/text.js';
import { sanitizePart } from '../src/sanitize/parts.js';

const config = loadConfig({ env: {}, overrides: {} });
const ctx = { config, log: silentLogger };
const sjis = (s: string): Buffer => Buffer.from(iconv.convert(iconv.stringToCode(s), { to: 'SJIS', from: 'UNICODE' }));
const BOM = '\ufeff';

describe('CSV/TSV neutralisation', () => {
  it.each([
    ['=1+2', "'=1+2"],
    ['+cmd|" /C calc"!A0', "'+cmd|\" /C calc\"!A0"],
    ['-2+3', "'-2+3"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['  =HYPERLINK("http://x")', "'  =HYPERLINK(\"http://x\")"],
    ['"=1"', "'\"=1\""],
    ['\t=1', "'\t=1"],
    ['\r=1', "'\r=1"],
    ['＝１＋２', "'＝１＋２"],
    ['-5', '-5'],
    ['+81 3 1234', "'+81 3 1234"],
    ['1,234.5', '1,234.5'],
    ['東京都', '東京都'],
    ['', ''],
  ])('%j → %j', (input, expected) => {
    expect(neutraliseCell(input).cell).toBe(expected);
  });

  it('parses quotes, doubled quotes and newlines inside quotes', () => {
    expect(parseDelimited('a,"b,c","d""e"\r\n"x\ny",z', ',')).toEqual([
      ['a', 'b,c', 'd"e'],
      ['x\ny', 'z'],
    ]);
  });

  it('rewrites every cell, quoting where needed, CRLF rows', () => {
    const r = neutraliseDelimited('名前,式\n山田,"=SUM(A1:A3)"\n佐藤,-1\n', ',');
    expect(r.text).toBe("名前,式\r\n山田,'=SUM(A1:A3)\r\n佐藤,-1\r\n");
    expect(r.cellsChanged).toBe(1);
  });

  it('a Shift_JIS CSV attachment becomes UTF-8 with BOM, formulas neutralised', async () => {
    const r = await sanitizePart({ name: '名簿.csv', declaredType: 'text/csv', bytes: sjis('氏名,メモ\r\n①山田㈱,=cmd|"/c calc"!A1\r\n'), depth: 0 }, ctx);
    expect(r).toMatchObject({ action: 'text', reason: 'CSV_NEUTRALISED', detectedType: 'text/csv' });
    expect(r.output?.name).toBe('名簿.csv');
    const text = r.output!.bytes.toString('utf8');
    expect(text.startsWith(BOM)).toBe(true);
    expect(text).toContain('①山田㈱');
    expect(text).toContain(`'=cmd|"/c calc"!A1`.replace(/"/g, '""'));
  });

  it('TSV by declared name; tab-prefixed cells neutralised', async () => {
    const r = await sanitizePart({ name: 'data.tsv', declaredType: 'application/octet-stream', bytes: Buffer.from('a\t@x\n=1\tb\n'), depth: 0 }, ctx);
    expect(r).toMatchObject({ action: 'text', reason: 'CSV_NEUTRALISED', detectedType: 'text/tab-separated-values' });
    expect(r.output!.bytes.toString('utf8')).toBe(`${BOM}a\t'@x\r\n'=1\tb\r\n`);
  });
});

describe('text and HTML attachments', () => {
  it('EUC-JP text becomes UTF-8 .txt, name kept', async () => {
    const euc = Buffer.from(iconv.convert(iconv.stringToCode('お知らせ：会議は３時からです。'), { to: 'EUCJP', from: 'UNICODE' }));
    const r = await sanitizePart({ name: 'memo.log', declaredType: 'text/plain', bytes: euc, depth: 0 }, ctx);
    expect(r).toMatchObject({ action: 'text', reason: 'TEXT_DECODED' });
    expect(r.output).toMatchObject({ name: 'memo.txt', type: 'text/plain; charset=utf-8' });
    expect(r.output!.bytes.toString('utf8')).toBe('お知らせ：会議は３時からです。');
  });

  it('HTML attachment becomes text: scripts dropped, links neutralised', async () => {
    const html = '<html><head><script>alert(1)</script></head><body><p>詳細は<a href="https://evil.example/x">こちら</a></p></body></html>';
    const r = await sanitizePart({ name: 'page.html', declaredType: 'text/html', bytes: Buffer.from(html), depth: 0 }, ctx);
    expect(r).toMatchObject({ action: 'text', reason: 'HTML_TO_TEXT', detectedType: 'text/html' });
    expect(r.output?.name).toBe('page.txt');
    const text = r.output!.bytes.toString('utf8');
    expect(text).toContain('詳細は');
    expect(text).not.toContain('alert');
    expect(text).not.toContain('https://');
  });

  it('a script declared as text is removed, not turned into .txt', async () => {
    const r = await sanitizePart({ name: 'invoice.vbs', declaredType: 'text/plain', bytes: Buffer.from('CreateObject("WScript.Shell").Run "calc"'), depth: 0 }, ctx);
    expect(r).toMatchObject({ action: 'removed', reason: 'EXECUTABLE' });
  });
});
