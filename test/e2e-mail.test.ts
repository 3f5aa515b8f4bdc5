import { readFileSync } from 'node:fs';
import { simpleParser, type ParsedMail } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { corpusFile, corpusPresent } from './helpers/corpus.js';
import { openFlow, waitFor, type Flow } from './helpers/harness.js';
import { queueOverSmtp } from './helpers/smtp-client.js';

const NOTICE = '【無害化通知】このメールは無害化ゲートウェイ(Mukaika)で処理されました。';

const send = (flow: Flow, raw: Buffer | string, to = ['b@example.lg.jp']): Promise<string> => queueOverSmtp(flow.smtp.port, 'sender@example.com', to, raw);

/** The mail the LGWAN sink received for this id, parsed by an independent parser (mailparser). */
async function delivered(flow: Flow, id: string): Promise<{ parsed: ParsedMail; raw: string; to: string[] }> {
  const mail = await waitFor(() => flow.sink.mails.find((m) => m.raw.toString('latin1').includes(`X-Mukaika-ID: ${id}`)));
  return { parsed: await simpleParser(mail.raw), raw: mail.raw.toString('latin1'), to: mail.to };
}

const lf = (s: string | false | undefined) => (s || '').replace(/\r\n/g, '\n');

describe('mail flows SMTP in → sanitize → SMTP out to the LGWAN sink', () => {
  let flow: Flow;
  beforeAll(async () => {
    flow = await openFlow();
  });
  afterAll(async () => {
    await flow?.close();
  });

  // [file, Subject, body after the notice, sanitized attachments (name → decoded text)]
  const cases: [string, string, string, [string, string][]][] = [
    ['japanese.eml', 'まみむめも', 'かきくえこ\n\n-- \nhxxp://lindsaar[.]net/\nRails, RSpec and Life blog....', []],
    ['japanese_iso_2022.eml', 'まみむめも', 'すみません。', []],
    ['japanese_shift_jis.eml', 'test', 'あいうえお\n\nこのメールはテスト用のメールです。\n\n今後ともよろしくお願い申し上げます！', []],
    ['ks_c_5601-1987.eml', 'test', '스티해', []],
    ['japanese_attachment.eml', 'testing', 'testing\n\n-- \nhxxp://lindsaar[.]net/\nRails, RSpec and Life blog....', [['てすと.txt', 'this is a test\nこれわてすと']]],
    ['japanese_attachment_long_name.eml', 'まみむめも'.repeat(10), '', [['かきくけこ'.repeat(5) + '.txt', 'this is the data\n']]],
  ];
  for (const [file, subject, body, attachments] of cases) {
    it.skipIf(!corpusPresent)(`${file}: exact Subject and body; attachments re-made as text and listed in the notice`, async () => {
      const id = await send(flow, readFileSync(corpusFile('mail', file)));
      const { parsed } = await delivered(flow, id);
      expect(parsed.subject).toBe(subject);
      const text = lf(parsed.text);
      expect(text.startsWith(NOTICE)).toBe(true);
      const afterNotice = text.slice(text.indexOf('─'.repeat(20))).replace(/^─+\n/, '');
      expect(afterNotice.trim()).toBe(body);
      for (const [n] of attachments) expect(text).toContain(`・${n} — 変換: テキストとして再作成しました`);
      expect(parsed.headers.get('x-mukaika-id')).toBe(id);
      expect(parsed.messageId).toBe(`<${id}@mukaika.localdomain>`);
      // Only the sanitizer's outputs travel: new UTF-8 text files, not the original parts.
      expect(parsed.attachments.map((a) => [a.filename, lf(a.content.toString('utf8'))])).toEqual(attachments);
    });
  }

  it.skipIf(!corpusPresent)('HTML mails come out as text: no tags, no script, links neutralised', async () => {
    for (const file of ['uri-html.eml', 'content_transfer_encoding_text-html.eml']) {
      const id = await send(flow, readFileSync(corpusFile('mail', file)));
      const { parsed } = await delivered(flow, id);
      const text = lf(parsed.text);
      expect(parsed.html).toBe(false);
      expect(text).not.toMatch(/<\/?[a-z][^>]*>/i);
      expect(text).not.toMatch(/https?:\/\//);
    }
    const id = await send(flow, readFileSync(corpusFile('mail', 'uri-html.eml')));
    const text = lf((await delivered(flow, id)).parsed.text);
    expect(text).toContain('hxxp://www[.]example[.]com/My_Blog/mypage.aspx');
  });

  it('a generated HTML mail with script, style, table and list becomes readable text', async () => {
    const html = '<html><head><style>p{color:red}</style><script>alert("x")</script></head><body>'
      + '<p>お世話になっております。</p><table><tr><th>品目</th><th>金額</th></tr><tr><td>保守</td><td>10,000円</td></tr></table>'
      + '<ul><li>一つ目</li><li>二つ目</li></ul><a href="https://evil.example/login">ログイン</a></body></html>';
    const raw = `From: a@example.com\r\nTo: b@example.lg.jp\r\nSubject: =?UTF-8?B?${Buffer.from('見積のご案内').toString('base64')}?=\r\n`
      + `MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${Buffer.from(html).toString('base64')}\r\n`;
    const id = await send(flow, raw);
    const { parsed } = await delivered(flow, id);
    expect(parsed.subject).toBe('見積のご案内');
    const text = lf(parsed.text);
    expect(text).toContain('お世話になっております。');
    expect(text).toMatch(/品目\s*\|\s*金額/);
    expect(text).toMatch(/保守\s*\|\s*10,000円/);
    expect(text).toMatch(/一つ目[^]*二つ目/);
    expect(text).toContain('hxxps://evil[.]example/login');
    expect(text).not.toMatch(/alert|color:red|<script/);
    const rec = await flow.h.ctx.records.getMessage(id);
    expect(rec?.manifest?.body).toMatchObject({ from: 'html', linksNeutralised: 1 });
  });

  it('delivers with the explicit envelope and records one delivered row per recipient', async () => {
    const raw = 'From: a@example.com\r\nTo: x@example.lg.jp\r\nSubject: two\r\n\r\nhello\r\n';
    const id = await send(flow, raw, ['x@example.lg.jp', 'y@example.lg.jp']);
    const { to } = await delivered(flow, id);
    expect(to.sort()).toEqual(['x@example.lg.jp', 'y@example.lg.jp']);
    // The rows, then the message's status, are written by separate commits after the relay's 250.
    const rows = await waitFor(async () => {
      const r = await flow.h.ctx.records.deliveries(id);
      const status = (await flow.h.ctx.records.getMessage(id))?.status;
      return r.every((d) => d.status === 'delivered') && status === 'delivered' ? r : undefined;
    });
    expect(rows.map((r) => r.recipient)).toEqual(['x@example.lg.jp', 'y@example.lg.jp']);
    expect((await flow.h.ctx.records.getMessage(id))?.status).toBe('delivered');
  });
});
