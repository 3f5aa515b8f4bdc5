import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtp, type SmtpIngress } from '../src/ingress/smtp.js';
import { openHarness, type Harness } from './helpers/harness.js';
import { RawSmtp } from './helpers/smtp-client.js';

const MAIL = (subject: string) =>
  `From: a@example.com\r\nTo: b@example.lg.jp\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@example.com>\r\n\r\nhello\r\n`;

describe('SMTP ingress', () => {
  let h: Harness;
  let smtp: SmtpIngress;
  beforeAll(async () => {
    h = await openHarness({ overrides: { smtp: { maxMessageBytes: 10_000, maxRecipients: 3 } } });
    smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 1000 });
  });
  afterAll(async () => {
    await smtp?.close();
    await h?.close();
  });

  it('replies 250 2.0.0 queued as <id> only with the original spooled, recorded and queued', async () => {
    const { client, greeting } = await RawSmtp.connect(smtp.port);
    expect(greeting).toMatch(/^220 /);
    expect(await client.cmd('EHLO peer.example')).toContain('SIZE 10000');
    const replies = await client.send('a@example.com', ['b@example.lg.jp'], MAIL('first'));
    const last = replies.at(-1)!;
    const id = /^250 2\.0\.0 queued as (m[0-9a-f]{24})$/.exec(last)?.[1];
    expect(id, last).toBeDefined();
    const rec = await h.ctx.records.getMessage(id!);
    expect(rec).toMatchObject({ status: 'received', envelopeFrom: 'a@example.com', recipients: ['b@example.lg.jp'] });
    expect(await h.ctx.blobs.has('originals', rec!.originalSha256)).toBe(true);
    const job = await h.ctx.queues.sanitize.getJob(id!);
    expect(job?.data).toEqual({ id });
    client.close();
  });

  it('refuses recipients outside ACCEPT_DOMAINS with 550 5.7.1 (no open relay)', async () => {
    const { client } = await RawSmtp.connect(smtp.port);
    await client.cmd('EHLO peer.example');
    expect(await client.cmd('MAIL FROM:<a@example.com>')).toMatch(/^250/);
    for (const rcpt of ['x@evil.example', 'b%evil.example@example.lg.jp', 'b@example.lg.jp.evil.example', '@example.lg.jp:x@evil.example']) {
      expect(await client.cmd(`RCPT TO:<${rcpt}>`)).toMatch(/^5\d\d /);
    }
    expect(await client.cmd('RCPT TO:<x@evil.example>')).toBe('550 5.7.1 Relaying denied');
    expect(await client.cmd('RCPT TO:<B@EXAMPLE.LG.JP>')).toMatch(/^250/);
    client.close();
  });

  it('limits recipients per message', async () => {
    const { client } = await RawSmtp.connect(smtp.port);
    await client.cmd('EHLO peer.example');
    await client.cmd('MAIL FROM:<a@example.com>');
    for (let i = 0; i < 3; i++) expect(await client.cmd(`RCPT TO:<u${i}@example.lg.jp>`)).toMatch(/^250/);
    expect(await client.cmd('RCPT TO:<u9@example.lg.jp>')).toBe('452 4.5.3 Too many recipients');
    client.close();
  });

  it('answers 552 5.3.4 to an oversized message and keeps the session usable', async () => {
    const { client } = await RawSmtp.connect(smtp.port);
    await client.cmd('EHLO peer.example');
    const big = MAIL('big') + 'x'.repeat(998) .concat('\r\n').repeat(30);
    const replies = await client.send('a@example.com', ['b@example.lg.jp'], big);
    expect(replies.at(-1)).toBe('552 5.3.4 Message too large');
    const again = await client.send('a@example.com', ['b@example.lg.jp'], MAIL('after-big'));
    expect(again.at(-1)).toMatch(/^250 2\.0\.0 queued as m/);
    client.close();
  });

  it('does not take a bare LF dot as the end of data (no smuggling)', async () => {
    const { client } = await RawSmtp.connect(smtp.port);
    await client.cmd('EHLO peer.example');
    await client.cmd('MAIL FROM:<a@example.com>');
    await client.cmd('RCPT TO:<b@example.lg.jp>');
    expect(await client.cmd('DATA')).toMatch(/^354/);
    const smuggled = 'Subject: outer\r\n\r\nbody\n.\r\nMAIL FROM:<evil@example.com>\r\nRCPT TO:<x@example.lg.jp>\r\nDATA\r\nSubject: smuggled\r\n\r\nsmuggled\r\n.\r\n';
    client.write(smuggled);
    const reply = await client.reply();
    const id = /queued as (m[0-9a-f]{24})/.exec(reply)?.[1];
    expect(id, reply).toBeDefined();
    // Only one transaction happened: the next thing the server says is the reply to our QUIT.
    expect(await client.cmd('QUIT')).toMatch(/^221/);
    const rec = await h.ctx.records.getMessage(id!);
    const raw = (await h.ctx.blobs.get('originals', rec!.originalSha256)).toString('latin1');
    expect(raw).toContain('Subject: smuggled');
    expect(rec!.recipients).toEqual(['b@example.lg.jp']);
  });

  it('maps the same message relayed twice to one record and one job', async () => {
    const { client } = await RawSmtp.connect(smtp.port);
    await client.cmd('EHLO peer.example');
    const a = (await client.send('a@example.com', ['b@example.lg.jp'], MAIL('twice'))).at(-1)!;
    const b = (await client.send('a@example.com', ['b@example.lg.jp'], MAIL('twice'))).at(-1)!;
    expect(a).toMatch(/^250 /);
    expect(b).toBe(a);
    const id = a.split(' ').at(-1)!;
    expect((await h.ctx.records.statusHistory(id)).length).toBe(1);
    const jobs = await h.ctx.queues.sanitize.getJobs(['waiting', 'delayed', 'active', 'completed', 'failed', 'prioritized']);
    expect(jobs.filter((j) => j.data.id === id)).toHaveLength(1);
    client.close();
  });
});

describe('SMTP ingress: a recipient given twice is stored once', () => {
  const recipientsColumn = async (h: Harness, id: string) => h.ctx.database.db.selectFrom('messages').select(['recipients']).where('id', '=', id).execute();

  it('collapses the same mailbox given in another case, keeping the first spelling (local part kept as given by default)', async () => {
    const h = await openHarness({ overrides: { smtp: { maxRecipients: 2 } } });
    const smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
    try {
      const { client } = await RawSmtp.connect(smtp.port);
      await client.cmd('EHLO peer.example');
      // Duplicates do not count against the limit of 2 either.
      const replies = await client.send('a@example.com', ['Taro@example.lg.jp', 'Taro@EXAMPLE.LG.JP', 'TARO@Example.Lg.Jp', 'hanako@example.lg.jp', 'taro@example.lg.jp'], 'Subject: dup\r\n\r\nx\r\n');
      expect(replies.slice(0, 6)).toEqual(['250 Accepted', '250 Accepted', '250 Accepted', '250 Accepted', '250 Accepted', '250 Accepted']);
      const id = /queued as (m[0-9a-f]{24})$/.exec(replies.at(-1)!)![1]!;
      expect(await recipientsColumn(h, id)).toEqual([{ recipients: JSON.stringify(['Taro@example.lg.jp', 'hanako@example.lg.jp']) }]);
      client.close();
    } finally {
      await smtp.close();
      await h.close();
    }
  });

  it('with localPartCase: lower, collapses local parts in another case too and stores them folded', async () => {
    const h = await openHarness({ overrides: { smtp: { localPartCase: 'lower' } } });
    const smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
    try {
      const { client } = await RawSmtp.connect(smtp.port);
      await client.cmd('EHLO peer.example');
      const replies = await client.send('Sender@Example.COM', ['TARO@example.lg.jp', 'taro@EXAMPLE.lg.jp', 'Taro@example.lg.jp'], 'Subject: dup2\r\n\r\nx\r\n');
      const id = /queued as (m[0-9a-f]{24})$/.exec(replies.at(-1)!)![1]!;
      const rec = await h.ctx.records.getMessage(id);
      expect(rec).toMatchObject({ envelopeFrom: 'Sender@example.com', recipients: ['taro@example.lg.jp'] });
      client.close();
    } finally {
      await smtp.close();
      await h.close();
    }
  });
});

describe('SMTP ingress with a certificate and during shutdown', () => {
  it('offers STARTTLS only when a certificate is configured', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync } = await import('node:fs');
    const os = await import('node:os');
    const path = await import('node:path');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-tls-'));
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${dir}/key.pem`, '-out', `${dir}/cert.pem`,
      '-days', '1', '-subj', '/CN=mukaika.test'], { stdio: 'ignore' });
    const h = await openHarness({ overrides: { smtp: { tlsKeyFile: `${dir}/key.pem`, tlsCertFile: `${dir}/cert.pem` } } });
    const smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
    try {
      const { client } = await RawSmtp.connect(smtp.port);
      const ehlo = await client.cmd('EHLO peer.example');
      expect(ehlo).toContain('STARTTLS');
      expect(ehlo).not.toContain('AUTH');
      expect(await client.cmd('STARTTLS')).toMatch(/^220/);
      client.close();
    } finally {
      await smtp.close();
      await h.close();
    }
    const plain = await openHarness();
    const smtp2 = await startSmtp(plain.ctx, { port: 0, closeTimeoutMs: 500 });
    try {
      const { client } = await RawSmtp.connect(smtp2.port);
      expect(await client.cmd('EHLO peer.example')).not.toContain('STARTTLS');
      client.close();
    } finally {
      await smtp2.close();
      await plain.close();
    }
  });

  it('answers 421 4.3.2 to a new transaction once shutdown has begun, and lets a running DATA finish', async () => {
    const h = await openHarness();
    const smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 3000 });
    try {
      const { client } = await RawSmtp.connect(smtp.port);
      await client.cmd('EHLO peer.example');
      await client.cmd('MAIL FROM:<a@example.com>');
      await client.cmd('RCPT TO:<b@example.lg.jp>');
      expect(await client.cmd('DATA')).toMatch(/^354/);
      client.write('Subject: during shutdown\r\n\r\nfirst half\r\n');
      const closing = smtp.close();
      client.write('second half\r\n.\r\n');
      expect(await client.reply()).toMatch(/^250 2\.0\.0 queued as m/);
      expect(await client.cmd('MAIL FROM:<a@example.com>')).toBe('421 4.3.2 Service shutting down');
      client.close();
      await closing;
    } finally {
      await h.close();
    }
  });
});
