import { describe, expect, it } from 'vitest';
import { composeMail, encodeSubjectIso2022Jp, type ComposeInput } from '../src/mail/compose.js';
import { parseMail } from '../src/mail/parse.js';
import { renderNotice } from '../src/mail/notice.js';

const OPTS = { maxDepth: 10, maxParts: 100, maxBodyChars: 1_000_000, links: 'neutralise' as const };

const SUBJECT = '【重要】①㈱㍉のお知らせ「髙﨑」ご確認ください ― 第3回 会議資料 (2024年度) の送付について';
const notice = renderNotice('【無害化通知】このメールは無害化ゲートウェイ(Mukaika)で処理されました。', [
  { name: '見積書.pdf', action: 'flattened', reason: 'PDF_FLATTENED', url: 'https://mukaika.example.lg.jp/m/abc/1' },
  { name: 'setup.exe', action: 'removed', reason: 'EXECUTABLE' },
]);
const BODY = `${notice}山田様\n\nお世話になっております。①〜⑩、㈱、㍉を含む本文です。\n長い行:${'あ'.repeat(600)}\n`;

function input(over: Partial<ComposeInput> = {}): ComposeInput {
  return {
    id: 'msg-0001',
    hostname: 'gw.example.lg.jp',
    headers: {
      from: [{ name: '山田 太郎', address: 'taro@example.jp' }],
      to: [{ name: '', address: 'kikaku@example.lg.jp' }],
      cc: [{ name: 'Suzuki, Ichiro', address: 'suzuki@example.lg.jp' }],
      replyTo: [{ name: '', address: 'reply@example.jp' }],
      subject: SUBJECT,
      date: 'Wed, 28 May 2014 17:18:19 +0900',
      messageId: '<orig@example.jp>',
      inReplyTo: '<parent@example.jp>',
      references: '<root@example.jp> <parent@example.jp>',
    },
    text: BODY,
    attachments: [{ name: '見積書.pdf', type: 'application/pdf', bytes: Buffer.from('%PDF-1.7 flattened') }],
    charset: 'utf-8',
    verdict: 'sanitized',
    ...over,
  };
}

function headerBlock(raw: Buffer): string {
  const s = raw.toString('latin1');
  return s.slice(0, s.indexOf('\r\n\r\n'));
}

describe('renderNotice', () => {
  it('lists each item with its verb, reason and link, then a separator', () => {
    expect(notice).toBe(
      [
        '【無害化通知】このメールは無害化ゲートウェイ(Mukaika)で処理されました。',
        '・見積書.pdf — 変換: PDFを画像化して再構成しました',
        '  https://mukaika.example.lg.jp/m/abc/1',
        '・setup.exe — 削除: 実行ファイル・スクリプトのため削除しました',
        '─'.repeat(40),
        '',
      ].join('\n'),
    );
  });

  it('indents archive entries, shows held parts and strips line breaks from names', () => {
    const text = renderNotice('通知', [
      { name: 'docs.zip', action: 'converted', reason: 'ARCHIVE_REPACKED' },
      { name: 'secret\r\n.pdf', action: 'held', reason: 'ENCRYPTED', depth: 1 },
    ]);
    expect(text.split('\n').slice(1, 3)).toEqual([
      '・docs.zip — 変換: 圧縮ファイルを展開し、中身を無害化して再圧縮しました',
      '  ・secret  .pdf — 保留: パスワード付きのため原本を保留しました(ウェブ画面でパスワードを入力すると無害化します)',
    ]);
  });
});

describe.each(['utf-8', 'iso-2022-jp'] as const)('composeMail (%s)', (charset) => {
  it('round-trips through our parser: headers, subject, body, attachments', async () => {
    const raw = await composeMail(input({ charset }));
    const p = parseMail(raw, OPTS);
    expect(p.headers.subject).toBe(SUBJECT);
    expect(p.headers.from).toEqual([{ name: '山田 太郎', address: 'taro@example.jp' }]);
    expect(p.headers.to).toEqual([{ name: '', address: 'kikaku@example.lg.jp' }]);
    expect(p.headers.cc).toEqual([{ name: 'Suzuki, Ichiro', address: 'suzuki@example.lg.jp' }]);
    expect(p.headers.replyTo).toEqual([{ name: '', address: 'reply@example.jp' }]);
    expect(p.headers.date).toBe('Wed, 28 May 2014 17:18:19 +0900');
    expect(p.headers.messageId).toBe('<msg-0001@gw.example.lg.jp>');
    expect(p.headers.inReplyTo).toBe('<parent@example.jp>');
    expect(p.headers.references).toBe('<root@example.jp> <parent@example.jp>');
    // the link in the notice points into LGWAN; the parser neutralises it like any other URL
    let expected = BODY.trimEnd().replace('https://mukaika.example.lg.jp/m/abc/1', 'hxxps://mukaika[.]example[.]lg[.]jp/m/abc/1');
    // ISO-2022-JP has one cell for — and ―, and for 〜 and ～: the reader sees the same glyph
    if (charset === 'iso-2022-jp') expected = expected.replace(/—/g, '―').replace(/〜/g, '～');
    expect(p.body.text).toBe(expected);
    expect(p.body.charset).toBe(charset);
    expect(p.attachments.map((a) => [a.name, a.declaredType, a.bytes.toString()])).toEqual([['見積書.pdf', 'application/pdf', '%PDF-1.7 flattened']]);
  });

  it('keeps only the specified headers, with CRLF and short lines', async () => {
    const raw = await composeMail(input({ charset }));
    const head = headerBlock(raw);
    const names = head
      .split('\r\n')
      .filter((l) => /^[^\s:]+:/.test(l))
      .map((l) => l.slice(0, l.indexOf(':')).toLowerCase());
    expect(names.sort()).toEqual(
      [
        'cc',
        'content-type',
        'date',
        'from',
        'in-reply-to',
        'message-id',
        'mime-version',
        'references',
        'reply-to',
        'subject',
        'to',
        'x-mukaika-id',
        'x-mukaika-original-message-id',
        'x-mukaika-verdict',
      ].sort(),
    );
    expect(head).toMatch(/^X-Mukaika-Id: msg-0001$/im);
    expect(head).toMatch(/^X-Mukaika-Verdict: sanitized$/im);
    expect(head).toMatch(/^X-Mukaika-Original-Message-Id: <orig@example\.jp>$/im);
    const s = raw.toString('latin1');
    expect(s).not.toMatch(/[^\r]\n/);
    expect(s).not.toMatch(/\r(?!\n)/);
    for (const line of s.split('\r\n')) expect(line.length).toBeLessThanOrEqual(998);
    // eslint-disable-next-line no-control-regex
    expect(head).not.toMatch(/[^\x09\x0a\x0d\x20-\x7e]/);
  });
});

describe('composeMail with iso-2022-jp', () => {
  it('encodes the subject as ISO-2022-JP words and the body as 7bit ISO-2022-JP', async () => {
    const raw = await composeMail(input({ charset: 'iso-2022-jp', text: 'すみません。①㈱㍉\n' }));
    const s = raw.toString('latin1');
    expect(s).toMatch(/^Subject: =\?ISO-2022-JP\?B\?/m);
    // eslint-disable-next-line no-control-regex
    expect(s).toMatch(/Content-Type: text\/plain; charset=ISO-2022-JP\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\x1b\$B/);
    expect(parseMail(raw, OPTS).body.text).toBe('すみません。①㈱㍉');
  });

  it('each encoded word is complete and at most 75 characters', () => {
    const words = encodeSubjectIso2022Jp(SUBJECT)!.split('\r\n ');
    expect(words.length).toBeGreaterThan(1);
    for (const w of words) {
      expect(w.length).toBeLessThanOrEqual(75);
      const bytes = Buffer.from(w.slice(16, -2), 'base64');
      // every word returns to ASCII, so each decodes on its own
      const lastEscape = bytes.lastIndexOf(0x1b);
      if (lastEscape >= 0) expect(bytes.subarray(lastEscape, lastEscape + 3).toString('latin1')).toBe('\x1b(B');
      expect(new TextDecoder('iso-2022-jp', { fatal: true }).decode(bytes)).not.toContain('\ufffd');
    }
  });

  it('falls back to UTF-8 when a character has no ISO-2022-JP code', async () => {
    const subject = '絵文字🎉とﾊﾝｶｸ';
    const text = '本文🎉ﾃｽﾄ\n';
    const raw = await composeMail(input({ charset: 'iso-2022-jp', text, headers: { ...input().headers, subject } }));
    const s = raw.toString('latin1');
    expect(s).toMatch(/^Subject: =\?UTF-8\?/m);
    expect(s).toMatch(/charset=utf-8/);
    const p = parseMail(raw, OPTS);
    expect(p.headers.subject).toBe(subject);
    expect(p.body.text).toBe('本文🎉ﾃｽﾄ');
  });

  it('a line too long for 7bit goes out as base64, still exact', async () => {
    const text = 'あ'.repeat(2000) + '\n';
    const raw = await composeMail(input({ charset: 'iso-2022-jp', text, attachments: [] }));
    expect(headerBlock(raw)).toMatch(/^Content-Type: text\/plain; charset=ISO-2022-JP$/m);
    expect(headerBlock(raw)).toMatch(/^Content-Transfer-Encoding: base64$/m);
    expect(parseMail(raw, OPTS).body.text).toBe('あ'.repeat(2000));
  });

  it('mail with no original headers still composes', async () => {
    const raw = await composeMail(input({ headers: { from: [], to: [], cc: [], replyTo: [], subject: '' }, attachments: [], text: '' }));
    const head = headerBlock(raw);
    expect(head).toMatch(/^Message-ID: <msg-0001@gw\.example\.lg\.jp>$/im);
    expect(head).not.toMatch(/^X-Mukaika-Original-Message-Id/im);
  });
});
