import { describe, expect, it } from 'vitest';
import { neutraliseLinks, type LinkMode } from '../src/mail/body/links.js';
import { renderNotice } from '../src/mail/notice.js';
import { clickable } from './helpers/clickable.js';

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
  ['詳細はexample.comをご覧ください', { neutralise: '詳細はexample[.]comをご覧ください', 'strip-scheme': '詳細はexample.comをご覧ください', remove: '詳細はexample[.]comをご覧ください' }, 1],
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

  // Linear by construction (one pass, bounded look-ahead; docs/RELIABILITY.md "Text we write"); these finish
  // and come out exactly, without any timing asserted.
  it('hostile inputs of 1-2 M characters come out exactly', () => {
    expect(neutraliseLinks('a.'.repeat(500_000) + 'com', 'neutralise')).toEqual({ text: 'a[.]'.repeat(500_000) + 'com', count: 1 });
    expect(neutraliseLinks('http://' + 'a'.repeat(1_000_000), 'neutralise')).toEqual({ text: 'hxxp://' + 'a'.repeat(1_000_000), count: 1 });
    expect(neutraliseLinks('ab.cd'.repeat(200_000), 'neutralise')).toEqual({ text: 'ab' + '[.]cdab'.repeat(199_999) + '[.]cd', count: 1 });
    expect(neutraliseLinks('x.y/ '.repeat(200_000), 'neutralise').count).toBe(0);
    expect(neutraliseLinks('mailto:'.repeat(300_000), 'neutralise')).toEqual({ text: 'mailto[:]'.repeat(299_999) + 'mailto:', count: 1 });
    expect(neutraliseLinks('https:'.repeat(300_000), 'remove').count).toBe(1);
    expect(neutraliseLinks('\\\\a'.repeat(600_000), 'neutralise').count).toBe(1);
    const www = neutraliseLinks('www.'.repeat(500_000), 'neutralise');
    expect(www).toEqual({ text: 'www[.]'.repeat(499_999) + 'www.', count: 1 });
    const jp = 'あいうえお漢字。'.repeat(250_000);
    expect(neutraliseLinks(jp, 'neutralise')).toEqual({ text: jp, count: 0 });
    const fw = neutraliseLinks('ｈｔｔｐｓ：／／ｅ．ｃｏｍ '.repeat(150_000), 'neutralise');
    expect(fw).toEqual({ text: 'hxxps://ｅ[．]ｃｏｍ '.repeat(150_000), count: 150_000 });
  });
});

/**
 * Every form a common mail client (Outlook, Thunderbird, Becky!, Active! mail) or Windows would open, with
 * the exact neutralised output. Each input must be clickable by the independent matcher (so the row proves
 * something) and its output must not be, in neutralise and in remove mode.
 */
const FORMS: [string, string][] = [
  ['https://例え.jp/パス', 'hxxps://例え[.]jp/パス'],
  ['www.例え.jp', 'www[.]例え[.]jp'],
  ['xn--r8jz45g.jp/x', 'xn--r8jz45g[.]jp/x'],
  ['ｈｔｔｐｓ：／／ｅｖｉｌ．ｅｘａｍｐｌｅ／ｘ', 'hxxps://ｅｖｉｌ[．]ｅｘａｍｐｌｅ／ｘ'],
  ['Ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ', 'Ｗｗｗ[．]ｅｘａｍｐｌｅ[．]ｃｏｍ'],
  ['evil。com', 'evil[。]com'],
  ['https://evil。example/', 'hxxps://evil[。]example/'],
  ['https://例え。jp/', 'hxxps://例え[。]jp/'],
  ['https://ex\u00adample.com/', 'hxxps://example[.]com/'],
  ['ht\u00adtps://evil.example/', 'hxxps://evil[.]example/'],
  ['www\u200b.example.com', 'www[.]example[.]com'],
  ['WWW.EXAMPLE.COM', 'WWW[.]EXAMPLE[.]COM'],
  ['file:///C:/Users/x.exe', 'file[:///]C:/Users/x.exe'],
  ['file://///host/share/x.exe', 'file[://///]host/share/x.exe'],
  ['<file://server/share>', '<file[://]server/share>'],
  ['\\\\host\\share\\x.exe', '[\\][\\]host\\share\\x.exe'],
  ['\\\\evil.example.com\\share', '[\\][\\]evil[.]example[.]com\\share'],
  ['¥¥host¥share', '[\\][\\]host¥share'],
  ['＼＼host＼share', '[\\][\\]host＼share'],
  ['https:\\\\evil.example\\x', 'hxxps://evil[.]example\\x'],
  ['smb://nas.example/share', 'smb[://]nas[.]example/share'],
  ['ldap://ldap.example/o=x', 'ldap[://]ldap[.]example/o=x'],
  ['ssh://host.example', 'ssh[://]host[.]example'],
  ['telnet://h.example', 'telnet[://]h[.]example'],
  ['irc://irc.example/#x', 'irc[://]irc[.]example/#x'],
  ['news:comp.lang.c', 'news[:]comp.lang.c'],
  ['news://news.example/x', 'news[://]news[.]example/x'],
  ['mailto:evil@example.com?subject=x', 'mailto[:]evil@example[.]com?subject=x'],
  ['ftp://files.example/x', 'fxp://files[.]example/x'],
  ['ftp.example.com', 'ftp[.]example[.]com'],
  ['data:text/html;base64,PHNjcmlwdD4=', 'data[:]text/html;base64,PHNjcmlwdD4='],
  ['javascript:alert(1)', 'javascript[:]alert(1)'],
  ['ms-msdt:/id PCWDiagnostic', 'ms-msdt[:/]id PCWDiagnostic'],
  ['https://a.example/?u=https://b.example/x', 'hxxps://a[.]example/?u=hxxps://b[.]example/x'],
  ['http://192.0.2.1/admin', 'hxxp://192[.]0[.]2[.]1/admin'],
  ['192.0.2.1', '192[.]0[.]2[.]1'],
  ['例え.jp', '例え[.]jp'],
  ['詳細は example.com をご覧ください', '詳細は example[.]com をご覧ください'],
  ['メールはmailto:a@b.jpへ', 'メールはmailto[:]a@b[.]jpへ'],
];

describe('every clickable form, by an independent matcher', () => {
  it.each(FORMS)('%s', (input, expected) => {
    expect(clickable(input).links.length).toBeGreaterThan(0);
    const out = neutraliseLinks(input, 'neutralise');
    expect(out.text).toBe(expected);
    expect(out.count).toBe(1);
    expect(clickable(out.text)).toEqual({ links: [], emails: [] });
    expect(clickable(neutraliseLinks(input, 'remove').text).links).toEqual([]);
    // neutralising is idempotent: a second pass finds nothing more
    expect(neutraliseLinks(out.text, 'neutralise')).toEqual({ text: expected, count: 0 });
  });

  it('all forms in one Japanese mail body: nothing clickable, prose exact', () => {
    const body = FORMS.map(([f], i) => `${i + 1}行目の参照先は ${f} です。`).join('\n');
    const out = neutraliseLinks(body, 'neutralise');
    expect(out.count).toBe(FORMS.length);
    expect(out.text).toBe(FORMS.map(([, e], i) => `${i + 1}行目の参照先は ${e} です。`).join('\n'));
    expect(clickable(out.text).links).toEqual([]);
  });

  it('plain Japanese text, numbers, file names and bare e-mail addresses stay as they are', () => {
    const text =
      'バージョン1.5と3.14、v1.2.3、見積書.pdf、資料.zip、e.g.、午前10:30、TEL:03-1234-5678、News: 本日の予定、FILE:見積書、' +
      'Date:2026/12/08、確認しました。よろしくお願いします。①㈱㍉ｶﾀｶﾅ 連絡先 taro@example.jp';
    expect(neutraliseLinks(text, 'neutralise')).toEqual({ text, count: 0 });
    expect(neutraliseLinks(text, 'remove')).toEqual({ text, count: 0 });
    // the only thing the matcher finds is the address, which is left readable on purpose (see links.ts)
    expect(clickable(text)).toEqual({ links: [], emails: ['taro@example.jp'] });
  });
});

describe('the notice block', () => {
  it('neutralises file names (sender-controlled), never the web view link (ours, LGWAN side)', () => {
    const text = renderNotice('通知', [
      { name: 'https://evil.example/請求書.pdf', action: 'removed', reason: 'EXECUTABLE', url: 'http://mukaika.example.lg.jp/messages/m1/parts/0' },
      { name: '\\\\evil\\share\\a.exe', action: 'removed', reason: 'EXECUTABLE', depth: 1 },
      { name: 'www.evil.example.pdf', action: 'flattened', reason: 'PDF_FLATTENED' },
    ]);
    expect(text).toBe(
      [
        '通知',
        '・hxxps://evil[.]example/請求書.pdf — 削除: 実行ファイル・スクリプトのため削除しました',
        '  http://mukaika.example.lg.jp/messages/m1/parts/0',
        '  ・[\\][\\]evil\\share\\a.exe — 削除: 実行ファイル・スクリプトのため削除しました',
        '・www[.]evil[.]example[.]pdf — 変換: PDFを画像化して再構成しました',
        '─'.repeat(40),
        '',
      ].join('\n'),
    );
    expect(clickable(text.split('\n').filter((l) => !l.includes('mukaika.example.lg.jp')).join('\n')).links).toEqual([]);
  });
});

describe('seeded soup of link fragments (a property, not a sample)', () => {
  // Fragments that combine into every form above and into odd mixes of them; '=' is left out because
  // linkify-it takes it as a letter of a host name, which no mail client does.
  const FRAGMENTS = [
    'http', 'https', 'ftp', 'www', 'file', 'smb', 'news', 'mailto', 'javascript', 'xn--a', 'com', 'jp', 'example', 'a', 'Z', '192', '0',
    '://', ':', '/', '\\', '\\\\', ':\\\\', '.', '。', '．', '@', '?', '#', '%', '-', '(', ')', '[', ']', '"', "'", ',', ' ', '\n', '\r\n',
    '例え', 'あ', '\u00ad', '\u200b', 'ＡＢ', 'ｈｔｔｐ', '：／／', '𝐡', '\ud800', '¥', 'hxxps://',
  ];
  it.each([1, 2, 3])('seed %i: the output is never clickable and a second pass changes nothing', (seed) => {
    let x = seed;
    const next = (n: number) => {
      x = (x * 1103515245 + 12345) >>> 0;
      return (x >>> 8) % n;
    };
    const failures: string[] = [];
    for (let i = 0; i < 3000; i++) {
      let s = '';
      for (let k = 1 + next(30); k > 0; k--) s += FRAGMENTS[next(FRAGMENTS.length)];
      const once = neutraliseLinks(s, 'neutralise');
      const twice = neutraliseLinks(once.text, 'neutralise');
      if (clickable(once.text).links.length > 0 || twice.text !== once.text || twice.count !== 0) failures.push(s);
      if (clickable(neutraliseLinks(s, 'remove').text).links.length > 0) failures.push(`remove: ${s}`);
    }
    expect(failures).toEqual([]);
  });
});
