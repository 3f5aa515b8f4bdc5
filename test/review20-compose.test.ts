import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { composeMail } from '../src/mail/compose.js';
import { cleanFileName, headerText } from '../src/mail/mime/names.js';
import type { ParsedHeaders } from '../src/mail/types.js';

/** `s` as one RFC 2047 word, `depth` times over: what a parser that decodes once leaves is still encoded. */
const encode = (s: string, depth: number, kind: 'B' | 'Q' = 'B'): string => {
  let out = s;
  for (let i = 0; i < depth; i++) {
    out = kind === 'B' ? `=?UTF-8?B?${Buffer.from(out).toString('base64')}?=`
      : `=?utf-8?q?${[...Buffer.from(out)].map((b) => `=${b.toString(16).toUpperCase().padStart(2, '0')}`).join('')}?=`;
  }
  return out;
};

const HOSTILE = 'invoice\u202Etxt.exe\u2028X-Evil: 1\u200B';
const CLEAN = 'invoicetxt.exe X-Evil: 1';

// What the mail parser hands compose after its one decoding: still encoded once (or more) inside.
const headers = (text: string): ParsedHeaders => ({
  subject: text, from: [{ name: text, address: 'sender@example.com' }], to: [{ name: '', address: 'staff@example.lg.jp' }], cc: [], replyTo: [],
}) as unknown as ParsedHeaders;

/** The LGWAN client's view: mailparser decodes encoded words in Subject, names and file names. */
async function clientView(text: string) {
  const raw = await composeMail({
    id: 'mreview20', hostname: 'gw.example.lg.jp', headers: headers(text), text: 'body', charset: 'utf-8', verdict: 'sanitized',
    attachments: [{ name: `${text}.pdf`, type: 'application/pdf', bytes: Buffer.from('%PDF-1.4\n') }],
  });
  const m = await simpleParser(raw);
  return { subject: m.subject, from: m.from?.value[0]?.name, file: m.attachments[0]?.filename };
}

describe('text still encoded after the parser decoded it once is no way around the header cleaning', () => {
  it.each([1, 2, 3])('Subject, display name and file name encoded %i time(s) more reach the client clean', async (depth) => {
    expect(await clientView(encode(HOSTILE, depth))).toEqual({ subject: CLEAN, from: CLEAN, file: `${CLEAN}.pdf` });
  });

  it('Q-encoded and split words too', async () => {
    const split = `${encode('invoice\u202E', 1)} ${encode('txt.exe\u2028X-Evil: 1', 1, 'Q')}`;
    expect(await clientView(split)).toEqual({ subject: CLEAN, from: CLEAN, file: `${CLEAN}.pdf` });
  });

  it('beyond the decoding rounds the encoded words are broken up, never sent as they are', () => {
    const deep = encode(HOSTILE, 8);
    const out = headerText(deep);
    expect(out).not.toMatch(/=\?[^?]+\?[bBqQ]\?/);
    expect(out).toMatch(/^=\uff1fUTF-8\?B\?/);
  });

  it('ordinary text with =? in it, Japanese and file names are left as they were', () => {
    expect(headerText('見積書 =? 2026年度')).toBe('見積書 =? 2026年度');
    expect(headerText('a=?b?c')).toBe('a=?b?c');
    expect(cleanFileName(encode('報告書\u202E.pdf', 1))).toBe('報告書.pdf');
    expect(cleanFileName(encode('../../etc/passwd', 2))).toBe('passwd');
  });
});

describe('file names any LGWAN client can save as what they claim to be', () => {
  it('DOS device names get a leading underscore, whatever the extension or case', () => {
    for (const n of ['CON', 'con.txt', 'Nul.tar.gz', 'COM1.pdf', 'lpt9', 'aux .txt', 'PRN.', 'conout$.log', 'COM².doc']) {
      expect(cleanFileName(n), n).toBe(`_${n.replace(/\.$/, '')}`);
    }
    for (const n of ['CONFIG.sys', 'console.txt', 'com10.pdf', 'null.txt', 'a.con']) expect(cleanFileName(n), n).toBe(n);
  });

  it('runs of blanks that push the real extension out of sight become one space', () => {
    expect(cleanFileName(`report.pdf${' '.repeat(40)}.exe`)).toBe('report.pdf .exe');
    expect(cleanFileName('見積書\u3000\u3000\u3000\u3000.pdf\t\t.exe')).toBe('見積書 .pdf .exe');
    expect(cleanFileName('会議\u3000資料.pdf')).toBe('会議\u3000資料.pdf');
  });

  it('long names fit 200 bytes of UTF-8 with the extension kept and no trailing dot or space', () => {
    const cases: [string, string][] = [
      [`${'あ'.repeat(10_000)}.txt`, `${'あ'.repeat(65)}.txt`],
      [`${'😀'.repeat(300)}.pdf`, `${'😀'.repeat(49)}.pdf`],
      [`${'a'.repeat(199)} ${'b'.repeat(20)}`, 'a'.repeat(199)],
      [`${'x'.repeat(199)}.${'y'.repeat(30)}`, 'x'.repeat(199)],
      [`${'a'.repeat(194)}. .${'b'.repeat(10)}.docx`, `${'a'.repeat(194)}.docx`],
    ];
    for (const [input, want] of cases) {
      const got = cleanFileName(input);
      expect(got, input.slice(0, 20)).toBe(want);
      expect(Buffer.byteLength(got)).toBeLessThanOrEqual(200);
    }
  });
});
