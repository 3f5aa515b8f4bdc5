import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtp, type SmtpIngress } from '../src/ingress/smtp.js';
import { openHarness, type Harness } from './helpers/harness.js';
import { RawSmtp } from './helpers/smtp-client.js';

/** `n` distinct spellings of one mailbox: quoted, with a different set of its characters escaped in each. */
function spellings(local: string, domain: string, n: number): string[] {
  const out: string[] = [];
  for (let mask = 0; out.length < n; mask++) {
    out.push(`"${[...local].map((c, i) => (mask & (1 << i) ? `\\${c}` : c)).join('')}"@${domain}`);
  }
  return out;
}

describe('SMTP envelope under hostile RCPT sequences', () => {
  let h: Harness;
  let smtp: SmtpIngress;
  beforeAll(async () => {
    h = await openHarness({ overrides: { smtp: { maxRecipients: 5 } } });
    smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
  });
  afterAll(async () => {
    await smtp?.close();
    await h?.close();
  });

  const envelopeOf = () => {
    const conns = [...(smtp.server as unknown as { connections: Set<{ session: { envelope: { rcptTo: { address: string }[] } } }> }).connections];
    expect(conns.length).toBe(1);
    return conns[0]!.session.envelope.rcptTo.map((r) => r.address);
  };

  it('2000 spellings of one mailbox, pipelined, leave one envelope entry (no list growing per RCPT) and one stored recipient', async () => {
    const { client } = await RawSmtp.connect(smtp.port);
    await client.cmd('EHLO peer.example');
    expect(await client.cmd('MAIL FROM:<a@example.com>')).toBe('250 Accepted');
    const all = spellings('staff.member', 'example.lg.jp', 2000);
    expect(new Set(all.map((a) => a.toLowerCase())).size).toBe(2000);
    client.write(all.map((a) => `RCPT TO:<${a}>\r\n`).join(''));
    const replies: string[] = [];
    for (let i = 0; i < all.length; i++) replies.push(await client.reply());
    expect(new Set(replies)).toEqual(new Set(['250 Accepted']));
    expect(envelopeOf()).toEqual(['staff.member@example.lg.jp']);
    // Other recipients still count up to the limit, and repeats of them add nothing either.
    for (const r of ['b@example.lg.jp', '"b"@example.lg.jp', 'B@EXAMPLE.LG.JP', 'c@example.lg.jp', 'd@example.lg.jp', 'e@example.lg.jp']) {
      expect(await client.cmd(`RCPT TO:<${r}>`), r).toBe('250 Accepted');
    }
    expect(envelopeOf()).toEqual(['staff.member@example.lg.jp', 'b@example.lg.jp', 'c@example.lg.jp', 'd@example.lg.jp', 'e@example.lg.jp']);
    expect(await client.cmd('RCPT TO:<f@example.lg.jp>')).toBe('452 4.5.3 Too many recipients');
    const replies2 = await client.send('a@example.com', [], '');
    expect(replies2[0]).toMatch(/^503 /);
    client.close();
  });

  it('EHLO offers no SMTPUTF8 and no DSN: UTF-8 local parts are refused and DSN requests are not honoured', async () => {
    const { client } = await RawSmtp.connect(smtp.port);
    const ehlo = await client.cmd('EHLO peer.example');
    expect(ehlo.split('\r\n').map((l) => l.slice(4))).toEqual([
      `${h.ctx.config.hostname} Nice to meet you, [127.0.0.1]`, 'PIPELINING', '8BITMIME', `SIZE ${h.ctx.config.smtp.maxMessageBytes}`,
    ]);
    client.close();
  });
});
