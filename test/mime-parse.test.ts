import Encoding from 'encoding-japanese';
import { describe, expect, it } from 'vitest';
import { parseMail, type ParseOptions } from '../src/mail/parse.js';

const OPTS: ParseOptions = { maxDepth: 10, maxParts: 100, maxBodyChars: 1_000_000, links: 'neutralise' };
const sjis = (s: string): Buffer => Buffer.from(Encoding.convert(Encoding.stringToCode(s), { to: 'SJIS', from: 'UNICODE' }));
const jis = (s: string): Buffer => Buffer.from(Encoding.convert(Encoding.stringToCode(s), { to: 'JIS', from: 'UNICODE' }));
// strings with characters above U+00FF are written as UTF-8, others byte for byte
const mail = (...parts: (string | Buffer)[]): Buffer =>
  Buffer.concat(parts.map((p) => (typeof p !== 'string' ? p : Buffer.from(p, /[\u0100-\uffff]/.test(p) ? 'utf8' : 'latin1'))));
const crlf = (s: string): string => s.replace(/\n/g, '\r\n');

describe('headers', () => {
  it('RFC 2047 ISO-2022-JP subject split across encoded words in the middle of a character', () => {
    const bytes = jis('会議のお知らせ');
    // cut between the two bytes of a JIS character: only joining the words' bytes decodes it
    const a = bytes.subarray(0, 6).toString('base64');
    const b = bytes.subarray(6).toString('base64');
    const raw = mail(`Subject: =?ISO-2022-JP?B?${a}?=\r\n =?iso-2022-jp?B?${b}?=\r\n\r\nx`);
    expect(parseMail(raw, OPTS).headers.subject).toBe('会議のお知らせ');
  });

  it('adjacent ISO-2022-JP words each with their own escapes', () => {
    const w = (s: string): string => `=?ISO-2022-JP?B?${jis(s).toString('base64')}?=`;
    const raw = mail(`Subject: ${w('【重要】①㈱')} ${w('㍉の件')}\r\n\r\nx`);
    expect(parseMail(raw, OPTS).headers.subject).toBe('【重要】①㈱㍉の件');
  });

  it('raw 8-bit Shift_JIS subject and From name, with and without a charset hint', () => {
    for (const ct of ['Content-Type: text/plain; charset=Shift_JIS\r\n', '']) {
      const raw = mail('Subject: ', sjis('見積書の送付について'), '\r\nFrom: ', sjis('山田 太郎'), ' <taro@example.jp>\r\n', ct, '\r\n', sjis('本文'));
      const p = parseMail(raw, OPTS);
      expect(p.headers.subject).toBe('見積書の送付について');
      expect(p.headers.from).toEqual([{ name: '山田 太郎', address: 'taro@example.jp' }]);
      expect(p.body.text).toBe('本文');
    }
  });

  it('Q encoding, encoded words inside quotes, control characters and CR/LF removed', () => {
    const raw = mail(
      'Subject: =?utf-8?Q?=E3=81=82_b?= plain\x07 text\r\n',
      'From: "=?UTF-8?B?5bGx55Sw?=" <yamada@example.jp>, broken <<nope>>, (comment only)\r\n',
      'To: undisclosed-recipients:;\r\nCc: a@example.com (Alice), "Bob, Jr." <b@example.com>\r\n\r\n',
    );
    const h = parseMail(raw, OPTS).headers;
    expect(h.subject).toBe('あ b plain text');
    expect(h.from).toEqual([{ name: '山田', address: 'yamada@example.jp' }]);
    expect(h.to).toEqual([]);
    expect(h.cc).toEqual([
      { name: 'Alice', address: 'a@example.com' },
      { name: 'Bob, Jr.', address: 'b@example.com' },
    ]);
  });

  it('date, message ids and references: only well-formed values survive', () => {
    const raw = mail(
      'Date: Wed, 28 May 2014 17:18:19 +0900 (JST)\r\nMessage-ID: <abc@example.jp>\r\n',
      'In-Reply-To: garbage\r\nReferences: <a@x> junk <bad id@x> <b@y>\r\n\r\n',
    );
    const h = parseMail(raw, OPTS).headers;
    expect(h.date).toBe('Wed, 28 May 2014 17:18:19 +0900');
    expect(h.messageId).toBe('<abc@example.jp>');
    expect(h.inReplyTo).toBeUndefined();
    expect(h.references).toBe('<a@x> <b@y>');
    expect(parseMail(mail('Date: not a date\r\n\r\n'), OPTS).headers.date).toBeUndefined();
    expect(parseMail(mail('Date: 2014-05-28T08:18:19Z\r\n\r\n'), OPTS).headers.date).toBe('Wed, 28 May 2014 08:18:19 +0000');
  });
});

describe('structure and body selection', () => {
  it('multipart/alternative prefers non-empty text/plain and drops the HTML', () => {
    const raw = mail(
      crlf(`Content-Type: multipart/alternative; boundary="b"

--b
Content-Type: text/plain; charset=utf-8

プレーン https://example.com/a
--b
Content-Type: text/html; charset=utf-8

<p>HTML</p>
--b--
`),
    );
    const p = parseMail(raw, OPTS);
    expect(p.body).toEqual({ text: 'プレーン hxxps://example[.]com/a', from: 'text', charset: 'utf-8', declaredCharset: 'utf-8', linksNeutralised: 1 });
    expect(p.attachments).toEqual([]);
  });

  it('multipart/alternative with an empty text/plain uses the HTML', () => {
    const raw = mail(
      crlf(`Content-Type: multipart/alternative; boundary=b

--b
Content-Type: text/plain

  
--b
Content-Type: text/html; charset=utf-8

<p>本文<script>x()</script></p>
--b--
`),
    );
    expect(parseMail(raw, OPTS).body).toMatchObject({ text: '本文', from: 'html' });
  });

  it('multipart/alternative: files inside the branch not chosen are attachments, the other renditions are not', () => {
    const png = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');
    const raw = mail(
      crlf(`Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

本文です
--alt
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>本文です<img src="cid:logo@x"></p>
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

${png.toString('base64')}
--rel
Content-Type: application/pdf; name="見積書.pdf"
Content-Disposition: attachment; filename*=UTF-8''%E8%A6%8B%E7%A9%8D%E6%9B%B8.pdf

%PDF-1.4 x
--rel
Content-Type: multipart/alternative; boundary="inner"

--inner
Content-Type: text/plain

inner rendition
--inner
Content-Type: application/octet-stream; name="deep.bin"

DEEP
--inner--
--rel--
--alt
Content-Type: text/calendar; method=REQUEST; charset=utf-8

BEGIN:VCALENDAR
--alt--
`),
    );
    const p = parseMail(raw, OPTS);
    expect(p.body).toMatchObject({ text: '本文です', from: 'text' });
    expect(p.attachments.map((a) => ({ name: a.name, declaredType: a.declaredType, inline: a.inline, bytes: a.bytes.toString('latin1') }))).toEqual([
      { name: 'attachment-1.png', declaredType: 'image/png', inline: true, bytes: png.toString('latin1') },
      { name: '見積書.pdf', declaredType: 'application/pdf', inline: false, bytes: '%PDF-1.4 x' },
      { name: 'deep.bin', declaredType: 'application/octet-stream', inline: false, bytes: 'DEEP' },
      { name: 'attachment-4.ics', declaredType: 'text/calendar', inline: false, bytes: 'BEGIN:VCALENDAR' },
    ]);
  });

  it('multipart/alternative showing the HTML still lists what follows it (a calendar invite)', () => {
    const raw = mail(
      crlf(`Content-Type: multipart/alternative; boundary=b

--b
Content-Type: text/plain

--b
Content-Type: text/html; charset=utf-8

<p>会議</p>
--b
Content-Type: text/calendar; name="invite.ics"

BEGIN:VCALENDAR
--b--
`),
    );
    const p = parseMail(raw, OPTS);
    expect(p.body).toMatchObject({ text: '会議', from: 'html' });
    expect(p.attachments.map((a) => [a.name, a.declaredType, a.bytes.toString()])).toEqual([['invite.ics', 'text/calendar', 'BEGIN:VCALENDAR']]);
  });

  it('multipart/mixed: first text is the body, inline text appended, named text and others are attachments', () => {
    const raw = mail(
      crlf(`Content-Type: multipart/mixed; boundary="outer"

preamble
--outer
Content-Type: text/plain; charset=iso-2022-jp

`),
      jis('こんにちは'),
      crlf(`
--outer
Content-Type: text/html; charset=utf-8
Content-Disposition: inline

<b>追記</b>
--outer
Content-Type: text/plain; charset=utf-8; name="memo.txt"

attached text
--outer
Content-Type: text/calendar; method=REQUEST

BEGIN:VCALENDAR
--outer
Content-Type: message/rfc822

Subject: inner

inner body
--outer
Content-Type: application/pdf; name*=UTF-8''%E8%A6%8B%E7%A9%8D%E6%9B%B8.pdf
Content-Transfer-Encoding: base64

JVBER i0xLjQ=
--outer--
epilogue`),
    );
    const p = parseMail(raw, OPTS);
    expect(p.body.text).toBe('こんにちは\n\n追記');
    expect(p.body.from).toBe('text');
    expect(p.body.charset).toBe('iso-2022-jp');
    expect(p.attachments.map((a) => [a.name, a.declaredType, a.bytes.toString('latin1')])).toEqual([
      ['memo.txt', 'text/plain', 'attached text'],
      ['attachment-2.ics', 'text/calendar', 'BEGIN:VCALENDAR'],
      ['message.eml', 'message/rfc822', 'Subject: inner\r\n\r\ninner body'],
      ['見積書.pdf', 'application/pdf', '%PDF-1.4'],
    ]);
  });

  it('attachment names: RFC 2231 continuations, 2047 in quotes, raw CP932, paths and controls stripped', () => {
    const part = (disp: string | Buffer): Buffer =>
      mail('--b\r\nContent-Type: application/octet-stream\r\nContent-Disposition: attachment; ', disp, '\r\n\r\nx\r\n');
    const raw = mail(
      'Content-Type: multipart/mixed; boundary=b\r\n\r\n',
      part(`filename*0*=utf-8''%E3%81%82%E3%81;\r\n filename*1*=%84.txt`),
      part('filename="=?ISO-2022-JP?B?' + jis('資料.xlsx').toString('base64') + '?="'),
      part(mail('filename="', sjis('髙﨑①.doc'), '"')),
      part('filename="..\\\\..\\\\evil\x01.exe"'),
      part('filename=""'),
      '--b--\r\n',
    );
    expect(parseMail(raw, OPTS).attachments.map((a) => a.name)).toEqual(['あい.txt', '資料.xlsx', '髙﨑①.doc', 'evil.exe', 'attachment-5.bin']);
  });

  it('transfer encodings: tolerant base64, quoted-printable, x-uuencode, unknown as 8bit', () => {
    const part = (cte: string, body: string): string => `--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: ${cte}\r\n\r\n${body}\r\n`;
    const raw = mail(
      'Content-Type: multipart/mixed; boundary=b\r\n\r\n',
      part('base64;', '44GC!!\r\n44GE\x00=='),
      part('Quoted printable', '=E3=81=82=\r\n=E3=81=84 =ZZ'),
      part('x-uuencode', 'begin 644 a.txt\r\n#86)C\r\n`\r\nend'),
      part('7vladi', 'raw'),
      '--b--',
    );
    expect(parseMail(raw, OPTS).attachments.map((a) => a.bytes.toString('latin1'))).toEqual([
      Buffer.from('あい').toString('latin1'),
      Buffer.from('あい =ZZ').toString('latin1'),
      'abc',
      'raw',
    ]);
  });

  it('a nested boundary that starts with the outer one is not an outer delimiter', () => {
    const raw = mail(
      crlf(`Content-Type: multipart/mixed; boundary="b"

--b
Content-Type: multipart/alternative; boundary="b-inner"

--b-inner
Content-Type: text/plain

inner text
--b-inner--
--b
Content-Type: application/zip

PK
--b--`),
    );
    const p = parseMail(raw, OPTS);
    expect(p.body.text).toBe('inner text');
    expect(p.attachments.map((a) => a.declaredType)).toEqual(['application/zip']);
  });
});

describe('robustness', () => {
  const hostile: [string, Buffer][] = [
    ['empty', Buffer.alloc(0)],
    ['header only', mail('Subject: only headers')],
    ['missing final boundary', mail('Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\nbody text')],
    ['no boundary parameter', mail('Content-Type: multipart/mixed\r\n\r\nbody text')],
    ['boundary never used', mail('Content-Type: multipart/mixed; boundary=q\r\n\r\nbody text')],
    ['LF only', mail('Subject: lf\nContent-Type: multipart/mixed; boundary=z\n\n--z\nContent-Type: text/plain\n\nbody text\n--z--\n')],
    ['bare CR', mail('Subject: cr\rContent-Type: text/plain\r\rbody text\r')],
    ['NUL bytes', mail('Subject: a\x00b\r\n\r\nbody\x00 text')],
    ['duplicate headers', mail('Subject: one\r\nSubject: two\r\nContent-Type: text/plain\r\nContent-Type: text/html\r\n\r\nbody text')],
    ['long line', mail('Subject: ', 'x'.repeat(100_000), '\r\n\r\n', 'y'.repeat(1_000_000))],
    ['garbage', Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 256))],
  ];
  it.each(hostile)('%s: parses without throwing', (_name, raw) => {
    const p = parseMail(raw, OPTS);
    expect(typeof p.body.text).toBe('string');
    expect(p.headers.subject).not.toMatch(/[\r\n]/);
    expect(p.headers.subject).not.toContain('\u0000');
  });

  it('missing final boundary, LF-only and bare-CR mail still give their text', () => {
    for (const [, raw] of hostile.slice(2, 7)) expect(parseMail(raw, OPTS).body.text).toBe('body text');
    expect(parseMail(hostile[8]![1], OPTS).headers.subject).toBe('one');
  });

  it('depth and part limits cut and say so', () => {
    let nested = 'Content-Type: text/plain\r\n\r\ndeep';
    for (let i = 0; i < 50; i++) nested = `Content-Type: multipart/mixed; boundary=b${i}\r\n\r\n--b${i}\r\n${nested}\r\n--b${i}--`;
    const deep = parseMail(Buffer.from(nested), { ...OPTS, maxDepth: 5 });
    expect(deep.truncated).toBe(true);
    const many = mail('Content-Type: multipart/mixed; boundary=b\r\n\r\n', '--b\r\nContent-Type: image/png\r\n\r\nx\r\n'.repeat(500), '--b--');
    const p = parseMail(many, { ...OPTS, maxParts: 20 });
    expect(p.truncated).toBe(true);
    expect(p.attachments.length).toBe(19);
    expect(parseMail(mail('\r\n', 'あ'.repeat(100)), { ...OPTS, maxBodyChars: 10 })).toMatchObject({ truncated: true, body: { text: 'あ'.repeat(10) } });
  });
});
