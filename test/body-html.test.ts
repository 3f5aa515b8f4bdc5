import { describe, expect, it } from 'vitest';
import { flattenDeepNesting, htmlToPlainText } from '../src/mail/body/html.js';
import { clickable } from './helpers/clickable.js';

const PAGE = `<!DOCTYPE html><html><head><title>件名</title><style>p { color: red }</style>
<script>document.write('evil')</script></head><body><!-- 隠しコメント -->
<h1>お知らせ</h1><p>本文&amp;記号&nbsp;&lt;タグ&gt; &hellip; &#x3042;&#12356;</p>
<table><tr><th>品名</th><th>数量</th></tr><tr><td>りんご</td><td>3</td></tr></table>
<ul><li>一つ目</li><li>二つ目</li></ul><ol><li>手順A</li><li>手順B</li></ol>
<p><a href="https://example.com/form?id=1">申込フォーム</a> / <a href="https://example.org/">https://example.org/</a>
/ <a href="javascript:alert(1)">押す</a> / <a href="mailto:info@example.jp">問合せ</a>
<img src="https://tracker.example/p.gif" alt="ロゴ"></p></body></html>`;

describe('htmlToPlainText', () => {
  it('neutralise: readable structure, nothing executable, links defanged and counted', () => {
    const r = htmlToPlainText(PAGE, 'neutralise');
    expect(r.text).toBe(
      [
        'お知らせ',
        '',
        '本文&記号 <タグ> … あい',
        '',
        '品名 | 数量',
        'りんご | 3',
        '',
        ' * 一つ目',
        ' * 二つ目',
        '',
        ' 1. 手順A',
        ' 2. 手順B',
        '',
        '申込フォーム [hxxps://example[.]com/form?id=1] / hxxps://example[.]org/ / 押す / 問合せ [mailto[:]info@example[.]jp] ロゴ',
      ].join('\n'),
    );
    expect(r.linksNeutralised).toBe(3);
  });

  it('strip-scheme keeps the targets as plain text', () => {
    const r = htmlToPlainText(PAGE, 'strip-scheme');
    expect(r.text).toContain('申込フォーム [example.com/form?id=1] / example.org/ / 押す / 問合せ [info@example.jp] ロゴ');
    expect(r.linksNeutralised).toBe(3);
  });

  it('remove drops every target and URL text', () => {
    const r = htmlToPlainText(PAGE, 'remove');
    expect(r.text).toContain('申込フォーム / / 押す / 問合せ ロゴ');
    expect(r.text).not.toMatch(/example|tracker|http/);
    expect(r.linksNeutralised).toBe(1);
  });

  it('no script, style, comment or title text and no entity leftovers', () => {
    const { text } = htmlToPlainText(PAGE, 'neutralise');
    for (const bad of ['evil', 'color', '隠しコメント', '件名', '&amp;', '&nbsp;', '&#', '<p', 'tracker']) expect(text).not.toContain(bad);
  });

  it('extremely deep nesting neither overflows the stack nor loses the text', () => {
    const deep = '<div><span>'.repeat(50_000) + '深い本文' + '</span></div>'.repeat(50_000);
    const started = Date.now();
    expect(htmlToPlainText(deep, 'neutralise').text).toBe('深い本文');
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(htmlToPlainText('<table>'.repeat(30_000) + 'x', 'neutralise').text).toBe('x');
  });

  it('flattenDeepNesting keeps shallow HTML untouched and is linear on unclosed tags', () => {
    expect(flattenDeepNesting('<p>a</p><p>b')).toBe('<p>a</p><p>b');
    const junk = '<a<a<a'.repeat(100_000);
    const started = Date.now();
    flattenDeepNesting(junk);
    htmlToPlainText(junk, 'neutralise');
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});

describe('the de-nesting pre-pass is linear (a 3.9 MB body once took 91 s)', () => {
  it('4 MB of `<` that never close, then one `>`: each `>` is searched for once, the text survives', () => {
    const nested = '<1'.repeat(2_000_000) + '>';
    expect(flattenDeepNesting(nested)).toBe(nested);
    expect(htmlToPlainText('<p>前</p>' + '< '.repeat(2_000_000) + '><p>後</p>', 'neutralise').text).toBe(`前\n\n${'< '.repeat(2_000_000)}>\n\n後`);
  });

  it('4 MB of `<` with no `>` at all is text', () => {
    expect(htmlToPlainText('<'.repeat(4_000_000), 'neutralise').text).toBe('<'.repeat(4_000_000));
  });

  it('deep nesting past the limit is still flattened when junk `<` sit between the tags', () => {
    const html = '<div>< '.repeat(200) + 'x' + '</div>'.repeat(200);
    const flat = flattenDeepNesting(html);
    expect(flat.match(/<div>/g)!.length).toBe(120);
    expect(flat.match(/<\/div>/g)!.length).toBe(120);
  });
});

describe('the converter DOM is bounded: tags past the cap are dropped, their text kept', () => {
  it('tags past maxTags are dropped', () => {
    expect(flattenDeepNesting('<p>a<p>b<p>c</p>', 120, 2)).toBe('<p>a<p>bc');
  });

  it('4 MB of `<p>x`: 200 000 tags become paragraphs, the text after them is kept as one', () => {
    // Japanese text: 800 000 'x' in a row would be a base64-alphabet run long enough to be cut as a file (encoded.ts).
    const text = htmlToPlainText('<p>あ'.repeat(1_000_000), 'neutralise').text;
    expect(text === Array(199_999).fill('あ').join('\n\n') + '\n\n' + 'あ'.repeat(800_001)).toBe(true);
    expect(process.memoryUsage().rss).toBeLessThan(1024 * 1024 * 1024);
  });
});

describe('control characters are removed before links and encoded files are looked for, never after', () => {
  it('a control character inside a host or scheme does not come back joined into a live link', () => {
    const { text } = htmlToPlainText('<p>visit evil.c&#1;om/x and https&#1;://evil.example/a</p>', 'neutralise');
    expect(text).toBe('visit evil[.]com/x and hxxps://evil[.]example/a');
    expect(clickable(text).links).toEqual([]);
  });

  it('a uuencoded file with a control character on each line is still cut', () => {
    const uu = ['begin 644 a.exe', 'M35I0``(````$``\\\\`__\\\\``+@`````````0```````````````````````````', '`', 'end'];
    const html = `<pre>${uu.map((l) => `${l}&#1;`).join('\n').replace(/&(?!#1;)/g, '&amp;').replace(/</g, '&lt;')}</pre>`;
    const r = htmlToPlainText(html, 'neutralise');
    expect(r.text).toBe('[符号化されたファイルを削除しました: uuencode a.exe]');
    expect(r.encoded).toHaveLength(1);
  });
});
