import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseMail, type ParseOptions } from '../src/mail/parse.js';
import { corpusFile, corpusList, corpusPresent } from './helpers/corpus.js';

const OPTS: ParseOptions = { maxDepth: 20, maxParts: 500, maxBodyChars: 2_000_000, links: 'neutralise' };
const parse = (name: string): ReturnType<typeof parseMail> => parseMail(readFileSync(corpusFile('mail', name)), OPTS);

describe.skipIf(!corpusPresent)('corpus: Japanese and Korean mail decodes exactly', () => {
  it('japanese.eml: UTF-8 base64 subject, To name and body', () => {
    const p = parse('japanese.eml');
    expect(p.headers.subject).toBe('まみむめも');
    expect(p.headers.to).toEqual([{ name: 'みける', address: 'raasdnil@gmail.com' }]);
    expect(p.body.text).toBe('かきくえこ\n\n-- \nhxxp://lindsaar[.]net/\nRails, RSpec and Life blog....');
    expect(p.body).toMatchObject({ from: 'text', charset: 'utf-8', declaredCharset: 'UTF-8', linksNeutralised: 1 });
  });

  it('japanese_iso_2022.eml: ISO-2022-JP body', () => {
    const p = parse('japanese_iso_2022.eml');
    expect(p.headers.subject).toBe('まみむめも');
    expect(p.body.text).toBe('すみません。');
    expect(p.body).toMatchObject({ charset: 'iso-2022-jp', declaredCharset: 'iso-2022-jp' });
  });

  it('japanese_shift_jis.eml: 8bit Shift_JIS body', () => {
    const p = parse('japanese_shift_jis.eml');
    expect(p.headers.subject).toBe('test');
    expect(p.headers.date).toBe('Wed, 28 May 2014 17:18:19 +0900');
    expect(p.body.text).toBe('あいうえお\n\nこのメールはテスト用のメールです。\n\n今後ともよろしくお願い申し上げます！');
    expect(p.body).toMatchObject({ charset: 'shift_jis', declaredCharset: 'Shift_JIS' });
  });

  it('japanese_attachment.eml: RFC 2047 file name, base64 text attachment', () => {
    const p = parse('japanese_attachment.eml');
    expect(p.headers.subject).toBe('testing');
    expect(p.body.text).toBe('testing\n\n-- \nhxxp://lindsaar[.]net/\nRails, RSpec and Life blog....');
    expect(p.attachments).toHaveLength(1);
    expect(p.attachments[0]).toMatchObject({ name: 'てすと.txt', declaredType: 'text/plain', inline: false });
    expect(p.attachments[0]!.bytes.toString('utf8')).toBe('this is a test\nこれわてすと');
  });

  it('japanese_attachment_long_name.eml: folded UTF-8 subject, RFC 2231 continued file name', () => {
    const p = parse('japanese_attachment_long_name.eml');
    expect(p.headers.subject).toBe('まみむめも'.repeat(10));
    expect(p.body.from).toBe('none');
    expect(p.attachments.map((a) => a.name)).toEqual(['かきくけこ'.repeat(5) + '.txt']);
    expect(p.attachments[0]!.bytes.toString()).toBe('this is the data\r\n');
  });

  it('ks_c_5601-1987.eml: Korean under its Microsoft label', () => {
    const p = parse('ks_c_5601-1987.eml');
    expect(p.body.text).toBe('스티해');
    expect(p.body).toMatchObject({ charset: 'euc-kr', declaredCharset: 'ks_c_5601-1987' });
  });

  it('invalid_subject_characters.eml: raw Latin-1 subject is not taken for Shift_JIS', () => {
    expect(parse('invalid_subject_characters.eml').headers.subject).toBe('Formação FrenetikPolis: Mega Campanha Final Verão | Cursos de Setembro');
  });
});

describe.skipIf(!corpusPresent)('corpus: every mail parses', () => {
  it.each(corpusList('mail'))('%s', (name) => {
    const started = Date.now();
    const p = parse(name);
    expect(typeof p.body.text).toBe('string');
    expect(p.headers.subject).not.toMatch(/[\r\n]/);
    for (const a of p.attachments) expect(a.name).toMatch(/^[^/\\\r\n]+$/);
    // generous for a loaded CI machine; the big files take well under a second here
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it.each(['large_text.eml', 'outofmemory.eml', 'htmllargecallstack.eml'])('%s: bounded time and output', (name) => {
    const started = Date.now();
    const p = parse(name);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(p.body.text.length).toBeLessThanOrEqual(OPTS.maxBodyChars);
    if (p.body.from === 'html') expect(p.body.text).not.toMatch(/<\/?(a|div|p|table|td|span|br|html|body)\b[^>]*>/i);
  });

  it('uri-html.eml: links in HTML are neutralised', () => {
    const p = parse('uri-html.eml');
    expect(p.body.from).toBe('html');
    expect(p.body.text).not.toMatch(/https?:\/\//);
    expect(p.body.linksNeutralised).toBeGreaterThan(0);
  });
});
