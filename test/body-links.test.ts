import { describe, expect, it } from 'vitest';
import { neutraliseLinks, type LinkMode } from '../src/sanitize/body/links.js';

const cases: [string, Record<LinkMode, string>, number][] = [
  [
    '詳細はhttps://www.example.co.jp/a/b?c=1をご覧ください。',
    {
      neutralise: '詳細はhxxps://www[.]example[.]co[.]jp/a/b?c=1をご覧ください。',
      'strip-scheme': '詳細はwww.example.co.jp/a/b?c=1をご覧ください。',
      remove: '詳細はをご覧ください。',
    },
    1,
  ],
  [
    'see (http://x.com/a_(b)) and www.foo.com.',
    { neutralise: 'see (hxxp://x[.]com/a_(b)) and www[.]foo[.]com.', 'strip-scheme': 'see (x.com/a_(b)) and www.foo.com.', remove: 'see () and .' },
    2,
  ],
  ['mailto:a@b.example.com', { neutralise: 'mailto[:]a@b[.]example[.]com', 'strip-scheme': 'a@b.example.com', remove: '' }, 1],
  ['ftp://files.example.net/x.zip', { neutralise: 'fxp://files[.]example[.]net/x.zip', 'strip-scheme': 'files.example.net/x.zip', remove: '' }, 1],
  ['example.com/path と 192.0.2.1/admin', { neutralise: 'example[.]com/path と 192[.]0[.]2[.]1/admin', 'strip-scheme': 'example.com/path と 192.0.2.1/admin', remove: ' と ' }, 2],
  ['https://bank.example@evil.example/login', { neutralise: 'hxxps://evil[.]example/login', 'strip-scheme': 'evil.example/login', remove: '' }, 1],
];

describe('neutraliseLinks', () => {
  it.each(cases)('%s', (input, expected, count) => {
    for (const mode of ['neutralise', 'strip-scheme', 'remove'] as const) {
      expect(neutraliseLinks(input, mode)).toEqual({ text: expected[mode], count });
    }
  });

  it('leaves plain words, bare e-mail addresses, versions and already-neutralised links alone', () => {
    const text = 'e.g. this, taro@example.jp, v1.2.3, hxxps://example[.]com/x, ファイル.txt';
    expect(neutraliseLinks(text, 'neutralise')).toEqual({ text, count: 0 });
  });

  it('is linear on hostile input', () => {
    const inputs = ['a.'.repeat(500_000) + 'com', 'http://' + 'a'.repeat(1_000_000), 'ab.cd'.repeat(200_000), 'x.y/ '.repeat(200_000)];
    const started = Date.now();
    for (const s of inputs) neutraliseLinks(s, 'neutralise');
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
