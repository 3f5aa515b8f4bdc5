import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import { clickable } from './helpers/clickable.js';

const ctx = { config: loadConfig({ env: {} }), log: silentLogger };
const exe = Buffer.concat([Buffer.from('MZ'), Buffer.alloc(300, 0x41)]);
const inner = [
  'From: =?UTF-8?B?' + Buffer.from('山田').toString('base64') + '?= <yamada@example.com>', 'To: staff@example.lg.jp',
  'Subject: =?UTF-8?B?' + Buffer.from('転送: 請求書').toString('base64') + '?=', 'MIME-Version: 1.0',
  'Content-Type: multipart/mixed; boundary=in', '', '--in', 'Content-Type: text/html; charset=utf-8', '',
  '<p>請求書を送ります <a href="https://pay.example/x">支払い</a></p><script>evil()</script>', '--in',
  'Content-Type: application/octet-stream; name=invoice.exe', 'Content-Transfer-Encoding: base64', '', exe.toString('base64'), '--in--', '',
].join('\r\n');

describe('a mail attached to a mail', () => {
  it('becomes text (headers, body with links neutralised); its attachments are listed and removed, not carried', async () => {
    for (const declared of [{ name: 'fwd.eml', type: 'message/rfc822' }, { name: 'attachment.bin', type: 'application/octet-stream' }]) {
      const res = await sanitizePart({ name: declared.name, declaredType: declared.type, bytes: Buffer.from(inner), depth: 0 }, ctx);
      expect(res).toMatchObject({ detectedType: 'message/rfc822', action: 'text', reason: 'MESSAGE_TO_TEXT' });
      const text = res.output!.bytes.toString('utf8');
      expect(text).toContain('From: 山田 <yamada@example.com>');
      expect(text).toContain('Subject: 転送: 請求書');
      expect(text).toContain('請求書を送ります 支払い [hxxps://pay[.]example/x]');
      expect(text).not.toMatch(/evil|<script|https:\/\//);
      expect(text).not.toContain(exe.toString('base64').slice(0, 40));
      expect(res.entries).toMatchObject([{ name: 'invoice.exe', action: 'removed', reason: 'NESTED_IN_MESSAGE' }]);
    }
  });

  it('cut by the MIME limits, it says so: a held MIME_LIMIT entry, so the attachments past the cut are not silently lost', async () => {
    const many = ['From: a@example.com', 'To: staff@example.lg.jp', 'Subject: many', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=m', '',
      '--m', 'Content-Type: text/plain', '', 'body',
      ...[0, 1, 2, 3, 4, 5].flatMap((i) => ['--m', `Content-Type: application/octet-stream; name=f${i}.exe`, '', `x${i}`]), '--m--', ''].join('\r\n');
    const small = { config: loadConfig({ env: {}, overrides: { sanitize: { maxMimeParts: 3 } } }), log: silentLogger };
    const res = await sanitizePart({ name: 'fwd.eml', declaredType: 'message/rfc822', bytes: Buffer.from(many), depth: 0 }, small);
    expect(res.entries?.at(-1)).toMatchObject({ name: '(添付メールの構造)', action: 'held', reason: 'MIME_LIMIT' });
  });
});

describe('a forwarded mail: the headers and names shown as text are neutralised too', () => {
  it('From, Subject and the removed attachment names carry no clickable link', async () => {
    const mail = [
      'From: "https://evil.example/login" <phish@evil.example>', 'To: staff@example.lg.jp',
      'Subject: =?UTF-8?B?' + Buffer.from('確認 www.evil.example と \\\\evil\\share').toString('base64') + '?=', 'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary=in', '', '--in', 'Content-Type: text/plain; charset=utf-8', '', '本文 file:///C:/x.exe', '--in',
      'Content-Type: application/octet-stream; name="www.evil.example.exe"', 'Content-Transfer-Encoding: base64', '', exe.toString('base64'), '--in--', '',
    ].join('\r\n');
    const res = await sanitizePart({ name: 'fwd.eml', declaredType: 'message/rfc822', bytes: Buffer.from(mail), depth: 0 }, ctx);
    const text = res.output!.bytes.toString('utf8');
    expect(text).toBe(
      [
        'From: hxxps://evil[.]example/login <phish@evil.example>', 'To: staff@example.lg.jp', 'Subject: 確認 www[.]evil[.]example と [\\][\\]evil\\share', '',
        '本文 file[:///]C:/x.exe', '', '---- 添付ファイル(削除済み) ----', '・www[.]evil[.]example[.]exe', '',
      ].join('\n'),
    );
    expect(clickable(text).links).toEqual([]);
    expect(res.entries).toMatchObject([{ name: 'www.evil.example.exe', action: 'removed', reason: 'NESTED_IN_MESSAGE' }]);
  });
});
