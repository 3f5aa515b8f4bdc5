import iconv from 'encoding-japanese';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { neutraliseCell, neutraliseDelimited, parseDelimited } from '../src/sanitize/convert/text.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import { convertTextBounded } from '../src/sanitize/convert/text-thread.js';
import { WorkBudget } from '../src/sanitize/work-budget.js';
import { clickable } from './helpers/clickable.js';

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

describe('tables in bounded memory: cut at the row and column caps, and said so', () => {
  it('parses one row at a time exactly as before: quotes, doubled quotes, CR/LF/CRLF, malformed quoting', () => {
    expect(parseDelimited('a,"b,c","d""e"\r\n"x\ny",z', ',')).toEqual([['a', 'b,c', 'd"e'], ['x\ny', 'z']]);
    expect(parseDelimited('\n\r\n\r', ',')).toEqual([[''], [''], ['']]);
    expect(parseDelimited('a"b,"c"d,"e', ',')).toEqual([['a"b', 'cd', 'e']]);
    expect(parseDelimited('"","""",x""', ',')).toEqual([['', '"', 'x""']]);
    expect(parseDelimited('a,b,', ',')).toEqual([['a', 'b', '']]);
    expect(parseDelimited('', ',')).toEqual([]);
  });

  it('a 30 MB CSV of empty rows is cut at csvRows (ROW_LIMIT), not one array per row', async () => {
    const bytes = Buffer.alloc(30 * 1024 * 1024, '\n');
    const r = await sanitizePart({ name: 'empty.csv', declaredType: 'text/csv', bytes, depth: 0 }, ctx);
    expect(r).toMatchObject({ action: 'text', reason: 'ROW_LIMIT', detectedType: 'text/csv' });
    expect(config.sanitize.limits.csvRows).toBe(1_048_576);
    expect(r.output!.bytes.equals(Buffer.from(BOM + '\r\n'.repeat(1_048_576), 'utf8'))).toBe(true);
    expect(process.memoryUsage().rss).toBeLessThan(1024 * 1024 * 1024);
  });

  it('rows past csvRows and cells past csvColumns are dropped; formulas in the kept cells neutralised', async () => {
    const small = loadConfig({ env: {}, overrides: { sanitize: { limits: { csvRows: 2, csvColumns: 3 } } } });
    const bytes = Buffer.from('a,b,c,d,=e\n=1,2\n3,4\n');
    const r = await sanitizePart({ name: 't.csv', declaredType: 'text/csv', bytes, depth: 0 }, { config: small, log: silentLogger });
    expect(r).toMatchObject({ action: 'text', reason: 'ROW_LIMIT' });
    expect(r.output!.bytes.toString('utf8')).toBe(`${BOM}a,b,c\r\n'=1,2\r\n`);
  });

  it('a CSV cut at csvRows that also had an encoded block cut keeps ROW_LIMIT (the lost rows are said nowhere else)', async () => {
    const small = loadConfig({ env: {}, overrides: { sanitize: { limits: { csvRows: 6 } } } });
    const uu = ['begin 644 a.exe', 'M35I0``(````$``\\\\`__\\\\``+@`````````0```````````````````````````', '`', 'end'];
    const bytes = Buffer.from([...uu, 'x', 'y', 'z', 'w'].join('\n'));
    const r = await sanitizePart({ name: 't.csv', declaredType: 'text/csv', bytes, depth: 0 }, { config: small, log: silentLogger });
    expect(r).toMatchObject({ action: 'text', reason: 'ROW_LIMIT' });
    expect(r.output!.bytes.toString('utf8')).toContain('[符号化されたファイルを削除しました: uuencode a.exe]');
  });

  it('a table within the caps keeps CSV_NEUTRALISED, including one row of csvColumns cells', async () => {
    const small = loadConfig({ env: {}, overrides: { sanitize: { limits: { csvRows: 2, csvColumns: 3 } } } });
    const r = await sanitizePart({ name: 't.tsv', declaredType: 'text/tab-separated-values', bytes: Buffer.from('a\tb\t@c\n1\t2\t3'), depth: 0 }, { config: small, log: silentLogger });
    expect(r).toMatchObject({ action: 'text', reason: 'CSV_NEUTRALISED' });
    expect(r.output!.bytes.toString('utf8')).toBe(`${BOM}a\tb\t'@c\r\n1\t2\t3\r\n`);
  });

  it('an HTML attachment over the converter bound is cut before conversion (TEXT_LIMIT)', async () => {
    const html = '<p>' + 'あ'.repeat(4_000_000) + '</p><p>TAIL</p>';
    const r = await sanitizePart({ name: 'big.html', declaredType: 'text/html', bytes: Buffer.from(html), depth: 0 }, ctx);
    expect(r).toMatchObject({ action: 'text', reason: 'TEXT_LIMIT', detectedType: 'text/html' });
    expect(r.output!.bytes.toString('utf8')).toBe('あ'.repeat(4_000_000 - 3));
  });
});

describe('big text attachments are converted in a heap-limited thread', () => {
  it('from 1 MB on: same output as in place', async () => {
    const csv = Buffer.from('a,=b\r\n'.repeat(200_000));
    const r = await convertTextBounded(csv, 'csv', ctx, 'big');
    expect(r).toMatchObject({ action: 'text', reason: 'CSV_NEUTRALISED', output: { name: 'big.csv', type: 'text/csv; charset=utf-8' } });
    expect(Buffer.isBuffer(r.output!.bytes)).toBe(true);
    expect(r.output!.bytes.equals(Buffer.from(BOM + "a,'=b\r\n".repeat(200_000), 'utf8'))).toBe(true);
  });

  it('a heap exhaustion ends the thread, not the process: the part is held TOO_LARGE', async () => {
    const html = Buffer.from('<p>x'.repeat(1_000_000));
    const r = await convertTextBounded(html, 'html', ctx, 'heavy', undefined, 16);
    expect(r).toEqual({ detectedType: 'text/html', action: 'held', reason: 'TOO_LARGE' });
    // The same process goes on converting.
    expect((await convertTextBounded(Buffer.from('ok'), 'text', ctx, 'after')).output!.bytes.toString()).toBe('ok');
  });

  it('a pass that outlives the mail\'s work budget is stopped and held WORK_BUDGET', async () => {
    const r = await sanitizePart({ name: 'late.txt', declaredType: 'text/plain', bytes: Buffer.alloc(4 << 20, 'late text\n'), depth: 0 },
      { ...ctx, budget: new WorkBudget(30) });
    expect(r).toEqual({ detectedType: 'text/plain', action: 'held', reason: 'WORK_BUDGET' });
  });
});

describe('text attachments are written through the one funnel (links, encoded files)', () => {
  const part = (name: string, declaredType: string, text: string) =>
    sanitizePart({ name, declaredType, bytes: Buffer.from(text, 'utf8'), depth: 0 }, ctx);

  it('.txt: every link form neutralised, nothing clickable by the independent matcher', async () => {
    const r = await part('links.txt', 'text/plain', '社内: \\\\fs01\\share\\x.exe\r\n外部: ｈｔｔｐｓ：／／例え．jp/a と www.evil。com\r\nfile:///C:/x.exe\r\n');
    expect(r).toMatchObject({ action: 'text', reason: 'TEXT_DECODED' });
    const text = r.output!.bytes.toString('utf8');
    expect(text).toBe('社内: [\\][\\]fs01\\share\\x.exe\r\n外部: hxxps://例え[．]jp/a と www[.]evil[。]com\r\nfile[:///]C:/x.exe\r\n');
    expect(clickable(text).links).toEqual([]);
  });

  it('CSV: links neutralised inside cells, always in neutralise mode, formula guard kept', async () => {
    const removing = { config: loadConfig({ env: {}, overrides: { sanitize: { links: 'remove' } } }), log: silentLogger };
    const csv = 'url,memo\r\nhttps://evil.example/ =1+2,=HYPERLINK("http://x.example")\r\n';
    for (const c of [ctx, removing]) {
      const r = await sanitizePart({ name: 'list.csv', declaredType: 'text/csv', bytes: Buffer.from(csv), depth: 0 }, c);
      expect(r).toMatchObject({ action: 'text', reason: 'CSV_NEUTRALISED' });
      expect(r.output!.bytes.toString('utf8')).toBe(BOM + 'url,memo\r\nhxxps://evil[.]example/ =1+2,"\'=HYPERLINK(""hxxp://x[.]example"")"\r\n');
    }
  });

  it('HTML attachment: a uuencode block in <pre> is cut and the reason says so', async () => {
    const uu = ['begin 644 a.exe', 'M35I0``(````$``\\\\`__\\\\``+@`````````0```````````````````````````', '`', 'end'].join('\n');
    const html = `<html><body><p>前文</p><pre>${uu.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</pre><p>後文</p></body></html>`;
    const r = await part('page.html', 'text/html', html);
    expect(r).toMatchObject({ action: 'text', reason: 'ENCODED_BINARY' });
    expect(r.output!.bytes.toString('utf8')).toBe('前文\n\n[符号化されたファイルを削除しました: uuencode a.exe]\n\n後文');
  });

  it('a .txt with a base64 executable: cut, rest exact, reason ENCODED_BINARY', async () => {
    const exe = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(600, 0x90)]).toString('base64');
    const r = await part('note.txt', 'text/plain', `鍵:\n${exe.match(/.{1,76}/g)!.join('\n')}\n以上です。`);
    expect(r).toMatchObject({ action: 'text', reason: 'ENCODED_BINARY' });
    expect(r.output!.bytes.toString('utf8')).toBe('鍵:\n[符号化されたファイルを削除しました: base64]\n以上です。');
  });
});
