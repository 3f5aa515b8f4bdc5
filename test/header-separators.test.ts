import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { composeMail } from '../src/mail/compose.js';
import { cleanFileName } from '../src/mail/mime/names.js';
import { sanitizeMessage } from '../src/sanitize/pipeline.js';

const config = loadConfig({ env: {}, overrides: { log: { level: 'silent' } } });
const b64 = (s: string) => `=?UTF-8?B?${Buffer.from(s).toString('base64')}?=`;

/** Every line/paragraph separator and invisible format character a header or name could smuggle in. */
const HOSTILE = ['\u2028', '\u2029', '\u0085', '\u200e', '\u200f', '\u061c', '\u202e', '\u2066', '\u2069', '\u200b', '\u2060', '\ufeff', '\ufff9'];
const ANY_HOSTILE = /[\u2028\u2029\u0085\u200b-\u200f\u061c\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/;

describe('line separators and format characters never reach a header or file name written to LGWAN', () => {
  it('cleans them from Subject, display names and attachment names of a sanitized mail (parsed back with mailparser)', async () => {
    const raw = [
      `From: ${b64('山田\u2028Bcc: evil@example.com\u202e太郎')} <taro@example.jp>`,
      `To: ${b64('企画課\u2029X-Injected: 1')} <kikaku@example.lg.jp>`,
      `Subject: ${b64('見積\u2028Bcc: x@example.com\u2029のお知らせ\u202egpj.exe')}`,
      'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b1"', '',
      '--b1', 'Content-Type: text/plain; charset=utf-8', '', '本文', '',
      '--b1', 'Content-Type: text/plain; charset=utf-8',
      `Content-Disposition: attachment; filename="${b64('報告\u2028書\u202etxt.exe\u200b.txt')}"`, '', 'データ', '',
      '--b1--', '',
    ].join('\r\n');
    const res = await sanitizeMessage('m-separators', Buffer.from(raw), { config, log: silentLogger });
    const parsed = await simpleParser(res.mail);
    expect(parsed.subject).toBe('見積 Bcc: x@example.com のお知らせgpj.exe');
    expect(parsed.from?.value).toEqual([{ name: '山田 Bcc: evil@example.com太郎', address: 'taro@example.jp' }]);
    expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value : undefined).toEqual([{ name: '企画課 X-Injected: 1', address: 'kikaku@example.lg.jp' }]);
    expect(parsed.headers.has('bcc')).toBe(false);
    expect(parsed.headers.has('x-injected')).toBe(false);
    expect(parsed.attachments.map((a) => a.filename)).toEqual(['報告 書txt.exe.txt']);
    expect(res.manifest.parts.map((p) => p.name)).toEqual(['報告 書txt.exe.txt']);
    expect(res.mail.toString('utf8')).not.toMatch(ANY_HOSTILE);
  });

  it('composeMail cleans them whatever built the headers, and drops an address that holds one', async () => {
    for (const ch of HOSTILE) {
      const mail = await composeMail({
        id: 'm1', hostname: 'gw.example.lg.jp', text: '本文\n', charset: 'utf-8', verdict: 'sanitized',
        headers: {
          from: [{ name: `A${ch}B`, address: 'a@example.jp' }], to: [{ name: '', address: `x@exa${ch}mple.lg.jp` }, { name: '', address: 'b@example.lg.jp' }],
          cc: [], replyTo: [], subject: `件名${ch}です`,
        },
        attachments: [{ name: `file${ch}.txt`, type: 'text/plain', bytes: Buffer.from('x') }],
      });
      const parsed = await simpleParser(mail);
      const sep = ch === '\u2028' || ch === '\u2029' || ch === '\u0085' ? ' ' : '';
      expect(parsed.subject, escape(ch)).toBe(`件名${sep}です`);
      expect(parsed.from?.value, escape(ch)).toEqual([{ name: `A${sep}B`, address: 'a@example.jp' }]);
      expect(parsed.to && !Array.isArray(parsed.to) ? parsed.to.value : undefined, escape(ch)).toEqual([{ name: '', address: 'b@example.lg.jp' }]);
      expect(parsed.attachments[0]?.filename, escape(ch)).toBe(`file${sep}.txt`);
    }
  });

  it('cleanFileName removes them (upload and attachment names alike)', () => {
    expect(cleanFileName('a\u2028b\u2029c\u202etxt.exe')).toBe('a b ctxt.exe');
    expect(cleanFileName('\u200f\u200e.txt')).toBe('txt');
  });
});
