import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMailbox, splitMailboxList } from '../src/domain/mailbox.js';
import { buildHttp, hashToken } from '../src/ingress/http.js';
import { startSmtp, type SmtpIngress } from '../src/ingress/smtp.js';
import { openFlow, openHarness, waitFor, type Flow, type Harness } from './helpers/harness.js';
import { IDN, INVALID, VALID } from './helpers/mailboxes.js';
import { queueOverSmtp, RawSmtp } from './helpers/smtp-client.js';

const TOKEN = 'mailbox-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };
describe('strict RFC 5321 mailbox parser', () => {
  it.each(VALID)('takes %s as %s', (input, canonical) => {
    expect(parseMailbox(input)?.address).toBe(canonical);
  });
  it.each(INVALID)('refuses %s', (input) => {
    expect(parseMailbox(input)).toBeUndefined();
  });
  it('folds the local part only when asked', () => {
    expect(parseMailbox('User.Name@Example.LG.jp', 'lower')?.address).toBe('user.name@example.lg.jp');
    expect(parseMailbox('"Mr X"@example.lg.jp', 'lower')?.address).toBe('"mr x"@example.lg.jp');
    expect(parseMailbox('User.Name@Example.LG.jp', 'preserve')?.address).toBe('User.Name@example.lg.jp');
  });
  it('splits an API recipient list on commas outside quoted local parts', () => {
    expect(splitMailboxList(' a@x.jp, "b,c"@x.jp ,,"d\\",e"@x.jp')).toEqual(['a@x.jp', '"b,c"@x.jp', '"d\\",e"@x.jp']);
  });
});

describe('mailbox syntax at the edges: a real SMTP session and the HTTP API', () => {
  let h: Harness;
  let smtp: SmtpIngress;
  let app: ReturnType<typeof buildHttp>;
  beforeAll(async () => {
    h = await openHarness({
      overrides: { smtp: { acceptDomains: ['example.lg.jp', IDN] }, http: { tokenHashes: [hashToken(TOKEN)] } },
    });
    smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
    app = buildHttp(h.ctx);
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
    await smtp?.close();
    await h?.close();
  });

  async function session(): Promise<RawSmtp> {
    const { client } = await RawSmtp.connect(smtp.port);
    await client.cmd('EHLO peer.example');
    expect(await client.cmd('MAIL FROM:<a@example.com>')).toBe('250 Accepted');
    return client;
  }

  it('SMTP: every invalid form is refused at RCPT with 501, nothing reaches the envelope', async () => {
    const client = await session();
    for (const [input, reply] of INVALID) {
      expect(await client.cmd(`RCPT TO:<${input}>`), input).toBe(reply);
    }
    // Nothing was taken: DATA has no recipient.
    expect(await client.cmd('DATA')).toMatch(/^503 /);
    client.close();
  });

  it('SMTP: each valid form is accepted and stored in canonical form', async () => {
    // Spaces cannot travel in an SMTP path through smtp-server; every other valid form can.
    for (const [input, canonical] of VALID) {
      const { client } = await RawSmtp.connect(smtp.port);
      await client.cmd('EHLO peer.example');
      const replies = await client.send('a@example.com', [input], `Subject: ${canonical}\r\n\r\nx\r\n`);
      expect(replies[1], input).toBe('250 Accepted');
      const id = /^250 2\.0\.0 queued as (m[0-9a-f]{24})$/.exec(replies.at(-1)!)?.[1];
      expect(id, replies.at(-1)).toBeDefined();
      expect((await h.ctx.records.getMessage(id!))?.recipients, input).toEqual([canonical]);
      client.close();
    }
  });

  it('SMTP: a bad sender gets 501 5.1.7 and the null sender is taken', async () => {
    const { client } = await RawSmtp.connect(smtp.port);
    await client.cmd('EHLO peer.example');
    expect(await client.cmd('MAIL FROM:<a,b@example.com>')).toBe('501 5.1.7 Bad sender address syntax');
    expect(await client.cmd('MAIL FROM:<evil(x)@example.com>')).toBe('501 5.1.7 Bad sender address syntax');
    expect(await client.cmd('MAIL FROM:<>')).toBe('250 Accepted');
    client.close();
  });

  const post = (to: string, from = 'a@example.com', subject = to) => app.inject({
    method: 'POST', url: `/api/v1/messages?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`,
    headers: { ...AUTH, 'content-type': 'message/rfc822' }, payload: `Subject: ${subject}\r\n\r\nx\r\n`,
  });

  it('HTTP: every invalid form is 400 BAD_RECIPIENT_ADDRESS, no record written', async () => {
    const count = async () => Number((await h.ctx.database.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const before = await count();
    for (const [input] of INVALID) {
      // A comma outside quotes separates API recipients; each piece must itself be valid.
      const res = await post(input);
      expect(res.statusCode, input).toBe(400);
      expect(res.json(), input).toEqual({ error: 'BAD_RECIPIENT_ADDRESS', message: 'bad recipient address syntax' });
    }
    for (const input of ['a;b@example.lg.jp', 'evil(x)@example.lg.jp', 'good@example.lg.jp,bad;x@example.lg.jp']) {
      expect((await post(input)).statusCode, input).toBe(400);
    }
    const sender = await post('b@example.lg.jp', 'x(y)@example.com');
    expect(sender.json()).toEqual({ error: 'BAD_SENDER_ADDRESS', message: 'bad sender address syntax' });
    expect(await count()).toBe(before);
  });

  it('HTTP: each valid form (spaces in a quoted local part too) is stored in canonical form', async () => {
    for (const [input, canonical] of [...VALID, ['"john doe"@example.lg.jp', '"john doe"@example.lg.jp'] as [string, string]]) {
      const res = await post(input, 'a@example.com', `http ${canonical}`);
      expect(res.statusCode, input).toBe(202);
      expect((await h.ctx.records.getMessage(res.json<{ id: string }>().id))?.recipients, input).toEqual([canonical]);
    }
  });
});

describe('one RCPT stays one recipient all the way to the LGWAN relay', () => {
  let flow: Flow;
  beforeAll(async () => {
    flow = await openFlow();
  });
  afterAll(async () => {
    await flow?.close();
  });

  it('quoted local parts with , ( ) reach the relay as exactly the RCPTs taken, each delivered once', async () => {
    const rcpts = ['"a,b"@example.lg.jp', '"x(y)z"@example.lg.jp', '"root,postmaster"@example.lg.jp', 'plain@example.lg.jp'];
    const id = await queueOverSmtp(flow.smtp.port, 'vendor@example.com', rcpts, 'Subject: fan-out\r\n\r\nx\r\n');
    expect((await flow.h.ctx.records.getMessage(id))?.recipients).toEqual(rcpts);
    const rows = await waitFor(async () => {
      const r = await flow.h.ctx.records.deliveries(id);
      return r.length === rcpts.length && r.every((d) => d.status !== 'pending') ? r : undefined;
    });
    expect(rows.map((r) => [r.recipient, r.status]).sort()).toEqual(rcpts.map((r) => [r, 'delivered']).sort());
    const mine = flow.sink.mails.filter((m) => m.raw.toString().includes(id));
    expect(mine.flatMap((m) => m.to).sort()).toEqual([...rcpts].sort());
  });
});
