import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSmtp, type SmtpIngress } from '../src/ingress/smtp.js';
import { startDeliverWorker, startSanitizeWorker, type RunningWorker } from '../src/jobs/workers.js';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { RedisChild } from './helpers/redis-child.js';
import { queueOverSmtp } from './helpers/smtp-client.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { isCopyOf, settled } from './helpers/delivery-rows.js';

const send = (port: number, to: string[], subject: string): Promise<string> =>
  queueOverSmtp(port, 'sender@example.com', to, `From: sender@example.com\r\nTo: ${to[0]}\r\nSubject: ${subject}\r\n\r\nhi\r\n`);



describe('delivery to the LGWAN relay: per-recipient results', () => {
  let sink: SmtpSink;
  let h: Harness;
  let smtp: SmtpIngress;
  let workers: RunningWorker[];
  beforeAll(async () => {
    sink = await SmtpSink.start();
    h = await openHarness({ overrides: { lgwan: { smtpUrl: sink.url, connectionTimeoutMs: 2000 }, queue: { attempts: 5, backoffMs: 100 } } });
    smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
    workers = [startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx)];
  });
  afterEach(() => {
    sink.behaviour = {};
  });
  afterAll(async () => {
    await smtp?.close();
    for (const w of workers ?? []) await w.close();
    await sink?.close();
    await h?.close();
  });

  it('retries a 4xx recipient with backoff and never repeats a confirmed delivery; 5xx is failed with the reply kept', async () => {
    let busy = 2;
    sink.behaviour = {
      rcpt: (a) => {
        if (a === 'busy@example.lg.jp' && busy-- > 0) return '450 4.2.1 mailbox busy';
        if (a === 'gone@example.lg.jp') return '550 5.1.1 no such user';
        return undefined;
      },
    };
    const id = await send(smtp.port, ['ok@example.lg.jp', 'busy@example.lg.jp', 'gone@example.lg.jp'], 'mixed');
    const rows = await settled(h, id);
    expect(rows.map((r) => [r.recipient, r.status])).toEqual([
      ['busy@example.lg.jp', 'delivered'], ['gone@example.lg.jp', 'failed'], ['ok@example.lg.jp', 'delivered'],
    ]);
    expect(rows.find((r) => r.recipient === 'gone@example.lg.jp')?.response).toContain('550 5.1.1 no such user');
    expect(rows.find((r) => r.recipient === 'busy@example.lg.jp')?.attempts).toBe(3);
    const mine = sink.mails.filter((m) => isCopyOf(m, id));
    // ok@ got it in the first attempt, busy@ in the third: each exactly once.
    expect(mine.flatMap((m) => m.to).sort()).toEqual(['busy@example.lg.jp', 'ok@example.lg.jp']);
    expect((await h.ctx.records.getMessage(id))?.status).toBe('delivered');
  });

  it('marks a recipient given in mixed case delivered (no resend when another recipient is deferred)', async () => {
    let busy = 1;
    sink.behaviour = { rcpt: (a) => (a === 'later@example.lg.jp' && busy-- > 0 ? '451 4.3.0 later' : undefined) };
    const id = await send(smtp.port, ['Mixed.Case@Example.LG.JP', 'later@example.lg.jp'], 'case');
    const rows = await settled(h, id);
    // Stored canonical (domain lower-cased, local part kept: domain/mailbox.ts).
    expect(rows.map((r) => [r.recipient, r.status])).toEqual([['Mixed.Case@example.lg.jp', 'delivered'], ['later@example.lg.jp', 'delivered']]);
    const mine = sink.mails.filter((m) => isCopyOf(m, id));
    expect(mine.flatMap((m) => m.to.map((t) => t.toLowerCase())).sort()).toEqual(['later@example.lg.jp', 'mixed.case@example.lg.jp']);
    expect(mine.every((m) => m.from === 'mukaika@example.lg.jp')).toBe(true);
  });

  it('retries after a 4xx reply to DATA and delivers once', async () => {
    let fails = 1;
    sink.behaviour = { data: () => (fails-- > 0 ? '451 4.3.0 try later' : undefined) };
    const id = await send(smtp.port, ['d@example.lg.jp'], 'data-4xx');
    const rows = await settled(h, id);
    expect(rows.map((r) => r.status)).toEqual(['delivered']);
    expect(sink.mails.filter((m) => isCopyOf(m, id))).toHaveLength(1);
  });

  it('records a permanent 5xx reply to DATA as failed without retrying', async () => {
    sink.behaviour = { data: () => '554 5.6.0 content rejected' };
    const id = await send(smtp.port, ['e@example.lg.jp'], 'data-5xx');
    const rows = await settled(h, id);
    expect(rows[0]).toMatchObject({ status: 'failed', attempts: 1 });
    expect(rows[0]?.response).toContain('554 5.6.0 content rejected');
    expect((await h.ctx.records.getMessage(id))?.status).toBe('failed');
  });
});

describe('delivery while the relay is down, then up', () => {
  it('keeps the mail pending while connections are refused and delivers once the relay answers', async () => {
    const port = await RedisChild.freePort();
    const h = await openHarness({ overrides: { lgwan: { smtpUrl: `smtp://127.0.0.1:${port}`, connectionTimeoutMs: 1000 }, queue: { attempts: 8, backoffMs: 300 } } });
    const smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
    const workers = [startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx)];
    let sink: SmtpSink | undefined;
    try {
      const id = await send(smtp.port, ['late@example.lg.jp'], 'relay-down');
      await waitFor(async () => ((await h.ctx.records.deliveries(id))[0]?.attempts ?? 0) >= 1 || undefined);
      expect((await h.ctx.records.deliveries(id))[0]?.status).toBe('pending');
      sink = await SmtpSink.start(port);
      const rows = await settled(h, id);
      expect(rows[0]?.status).toBe('delivered');
      expect(sink.mails).toHaveLength(1);
    } finally {
      await smtp.close();
      for (const w of workers) await w.close();
      await sink?.close();
      await h.close();
    }
  });
});

describe('no relay configured', () => {
  it('writes the sanitized mail to the outbox Maildir, one file per mail', async () => {
    const h = await openHarness({ overrides: { lgwan: { smtpUrl: '' } } });
    const smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
    const workers = [startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx)];
    try {
      const id = await send(smtp.port, ['m@example.lg.jp'], 'outbox');
      await settled(h, id);
      const dir = path.join(h.dir, 'outbox', 'new');
      const files = readdirSync(dir);
      expect(files).toEqual([`${id}-b0.mukaika`]);
      const mail = readFileSync(path.join(dir, files[0]!), 'utf8');
      expect(mail).toContain('X-Mukaika-Envelope-To: m@example.lg.jp');
      expect(mail).toContain(`X-Mukaika-ID: ${id}`);
      expect(mail).toContain('Subject: outbox');
    } finally {
      await smtp.close();
      for (const w of workers) await w.close();
      await h.close();
    }
  });
});
