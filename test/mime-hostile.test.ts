import { describe, expect, it } from 'vitest';
import { htmlToPlainText } from '../src/mail/body/html.js';
import { neutraliseLinks } from '../src/mail/body/links.js';
import { parseMail } from '../src/mail/parse.js';

const opts = { maxDepth: 10, maxParts: 10, maxBodyChars: 100_000, links: 'neutralise' as const };

describe('hostile inputs found in review', () => {
  it('a parameter named __proto__ or constructor does not make the mail unparseable', () => {
    const raw = Buffer.from('From: a@example.com\r\nTo: b@example.lg.jp\r\nSubject: x\r\nMIME-Version: 1.0\r\n'
      + 'Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; __proto__*0=x; constructor*0=y; toString=z\r\n\r\nhello\r\n--b--\r\n');
    const m = parseMail(raw, opts);
    expect(m.headers.subject).toBe('x');
    expect(m.body.text).toBe('hello');
    expect(m.truncated).toBe(false);
  });

  it('URLs ending in thousands of brackets and pages of self-closing <script/> are handled in one pass', () => {
    const links = neutraliseLinks(`see http://x.example/${')'.repeat(100_000)} and http://y.example/${']'.repeat(100_000)}`, 'neutralise');
    expect(links.count).toBe(2);
    expect(links.text.startsWith('see hxxp://x[.]example/')).toBe(true);
    const html = htmlToPlainText(`<p>before</p>${'<script/>'.repeat(100_000)}<p>after</p>`, 'neutralise');
    // An unclosed <script> runs to the end of the document, as browsers parse it: nothing after it is text.
    expect(html.text).toBe('before');
    expect(htmlToPlainText('<p>x</p><SCRIPT src=a>bad()</Script ><style>p{}</style><p>y</p>', 'neutralise').text).toBe('x\n\ny');
  });

  it('control characters never make it into a parsed address', () => {
    const m = parseMail(Buffer.from('From: "A" <a\x01b@example.com>, c@example.com\r\nSubject: s\r\n\r\nbody\r\n'), opts);
    expect(m.headers.from.map((a) => a.address)).toEqual(['c@example.com']);
  });
});
