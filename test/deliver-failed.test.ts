import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { simpleParser } from 'mailparser';
import { stringify } from 'yaml';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startSmtp, type SmtpIngress } from '../src/ingress/smtp.js';
import { startDeliverWorker, startSanitizeWorker, type RunningWorker } from '../src/jobs/workers.js';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { runCli } from './helpers/run-cli.js';
import { queueOverSmtp } from './helpers/smtp-client.js';
import { SmtpSink } from './helpers/smtp-sink.js';
import { isCopyOf, settled } from './helpers/delivery-rows.js';

const LIFETIME_MS = 1500;
const SUBJECT = '見積書の件(至急)';

const send = (port: number, to: string[], tag: string): Promise<string> => queueOverSmtp(port, 'taro@example.com', to,
  `From: =?UTF-8?B?${Buffer.from('山田 太郎').toString('base64')}?= <taro@example.com>\r\nTo: ${to[0]}\r\n`
  + `Subject: =?UTF-8?B?${Buffer.from(`${SUBJECT} ${tag}`).toString('base64')}?=\r\nMessage-ID: <${tag}-${Date.now()}@example.com>\r\n\r\n`
  + `secret body text ${tag}\r\n`);

const noticesFor = (sink: SmtpSink, id: string) => sink.mails.filter((m) => m.raw.toString().includes(`X-Mukaika-Notice-For: ${id}`));


describe('deliveries that fail for good', () => {
  let sink: SmtpSink;
  let h: Harness;
  let smtp: SmtpIngress;
  let workers: RunningWorker[];
  let configFile: string;
  beforeAll(async () => {
    sink = await SmtpSink.start();
    h = await openHarness({
      overrides: {
        lgwan: { smtpUrl: sink.url, connectionTimeoutMs: 2000, retryLifetimeMs: LIFETIME_MS, retryMaxDelayMs: 300, probeMaxDelayMs: 300, postmaster: 'gw-admin@example.lg.jp' },
        queue: { backoffMs: 100 },
      },
    });
    smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
    workers = [startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx)];
    // The same installation as seen by the `mukaika` command: data dir, database, Redis, queue prefix.
    configFile = path.join(h.dir, 'cli.yaml');
    writeFileSync(configFile, stringify({ dataDir: h.dir, databaseUrl: h.config.databaseUrl, redisUrl: h.config.redisUrl, queue: { prefix: h.prefix }, lgwan: { smtpUrl: sink.url } }));
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
  const cli = (...args: string[]) => runCli(args, { MUKAIKA_CONFIG: configFile, LOG_LEVEL: 'silent' });

  it('a recipient deferred until the lifetime ends is failed with the last reply, and the postmaster gets a notice', async () => {
    sink.behaviour = { rcpt: (a) => (a === 'stuck@example.lg.jp' ? '451 4.2.1 mailbox busy' : undefined) };
    const id = await send(smtp.port, ['ok@example.lg.jp', 'stuck@example.lg.jp'], 'lifetime');
    const rows = await settled(h, id, 50);
    expect(rows.map((r) => [r.recipient, r.status])).toEqual([['ok@example.lg.jp', 'delivered'], ['stuck@example.lg.jp', 'failed']]);
    const stuck = rows.find((r) => r.recipient === 'stuck@example.lg.jp')!;
    expect(stuck.response).toMatch(/^gave up after 1500 ms of retries: 451 4\.2\.1 mailbox busy$/);
    // Retried all along the lifetime, not a fixed count.
    expect(stuck.attempts).toBeGreaterThan(2);
    expect((await h.ctx.records.getMessage(id))?.status).toBe('delivered');
    expect(sink.mails.filter((m) => isCopyOf(m, id)).flatMap((m) => m.to)).toEqual(['ok@example.lg.jp']);

    const notice = await waitFor(() => noticesFor(sink, id)[0]);
    expect(notice.to).toEqual(['gw-admin@example.lg.jp']);
    expect(notice.from).toBe('mukaika@example.lg.jp');
    const parsed = await simpleParser(notice.raw);
    expect(parsed.subject).toBe(`【配送失敗 / Delivery failed】${SUBJECT} lifetime`);
    expect(parsed.headers.get('auto-submitted')).toBe('auto-generated');
    expect(parsed.text).toContain(`Mukaika ID: ${id}\n`);
    expect(parsed.text).toContain(`件名 / Subject: ${SUBJECT} lifetime\n`);
    expect(parsed.text).toContain('差出人 / From: 山田 太郎 <taro@example.com>\n');
    expect(parsed.text).toContain('  stuck@example.lg.jp: gave up after 1500 ms of retries: 451 4.2.1 mailbox busy\n');
    expect(parsed.text).toContain(`mukaika redeliver ${id}`);
    expect(parsed.text).not.toContain('ok@example.lg.jp');
    expect(notice.raw.toString()).not.toContain('secret body text');
    expect(parsed.attachments).toEqual([]);
  });

  it('a 5xx fails the recipient at once (one attempt) and notices the postmaster', async () => {
    sink.behaviour = { rcpt: (a) => (a === 'gone@example.lg.jp' ? '550 5.1.1 no such user' : undefined) };
    const id = await send(smtp.port, ['gone@example.lg.jp'], 'permanent');
    const rows = await settled(h, id, 50);
    expect(rows).toMatchObject([{ recipient: 'gone@example.lg.jp', status: 'failed', attempts: 1 }]);
    expect(rows[0]!.response).toMatch(/^550 5\.1\.1 no such user/);
    expect((await h.ctx.records.getMessage(id))?.status).toBe('failed');
    const notice = await waitFor(() => noticesFor(sink, id)[0]);
    expect((await simpleParser(notice.raw)).text).toContain('  gone@example.lg.jp: 550 5.1.1 no such user');
  });

  it('a notice the postmaster cannot get is failed and logged, never noticed again', async () => {
    sink.behaviour = { rcpt: (a) => (a === 'gone2@example.lg.jp' || a === 'gw-admin@example.lg.jp' ? '550 5.1.1 no such user' : undefined) };
    const id = await send(smtp.port, ['gone2@example.lg.jp'], 'noloop');
    await settled(h, id, 50);
    const notice = await waitFor(async () => {
      const r = (await h.ctx.records.deliveries(id)).filter((d) => d.batch < 0);
      return r.length === 1 && r[0]!.status === 'failed' ? r : undefined;
    });
    expect(notice).toMatchObject([{ batch: -1, recipient: 'gw-admin@example.lg.jp', status: 'failed' }]);
    // Give a loop the time to show itself: still exactly one notice batch.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await h.ctx.records.deliveries(id)).map((d) => [d.batch, d.status])).toEqual([[-1, 'failed'], [0, 'failed']]);
    expect(noticesFor(sink, id)).toEqual([]);
  });

  it('operators list failed deliveries; `mukaika redeliver ID` and `--failed-since` put them back and they are delivered', async () => {
    sink.behaviour = { rcpt: (a) => (a.startsWith('later') ? '550 5.2.1 mailbox disabled' : undefined) };
    const first = await send(smtp.port, ['later1@example.lg.jp', 'fine@example.lg.jp'], 'redeliver-id');
    await settled(h, first, 50);
    const since = new Date().toISOString();
    const second = await send(smtp.port, ['later2@example.lg.jp'], 'redeliver-since');
    const third = await send(smtp.port, ['later3@example.lg.jp'], 'redeliver-since-2');
    await settled(h, second, 50);
    await settled(h, third, 50);

    const listed = await cli('deliveries', 'failed', '--since', since);
    expect(listed.code).toBe(0);
    const lines = listed.stdout.trimEnd().split('\n').map((l) => l.split('\t'));
    expect(lines.filter((l) => l[2] === '0').map((l) => [l[1], l[3], l[4], l[5]])).toEqual([
      [second, 'later2@example.lg.jp', '1', '550 5.2.1 mailbox disabled'],
      [third, 'later3@example.lg.jp', '1', '550 5.2.1 mailbox disabled'],
    ]);

    // The mailboxes work again.
    sink.behaviour = {};
    const one = await cli('redeliver', first);
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^1 failed deliveries put back\n/);
    const rows = await settled(h, first, 50);
    expect(rows.map((r) => [r.recipient, r.status])).toEqual([['fine@example.lg.jp', 'delivered'], ['later1@example.lg.jp', 'delivered']]);
    // The recipient that had it already is not sent it again.
    expect(sink.mails.filter((m) => isCopyOf(m, first)).flatMap((m) => m.to).sort()).toEqual(['fine@example.lg.jp', 'later1@example.lg.jp']);
    expect((await h.ctx.records.statusHistory(first)).map((s) => [s.status, s.detail]).slice(-2)).toEqual([['sanitized', 'redeliver'], ['delivered', null]]);

    const many = await cli('redeliver', '--failed-since', since);
    expect(many.code).toBe(0);
    for (const id of [second, third]) {
      expect((await settled(h, id, 50)).map((r) => r.status)).toEqual(['delivered']);
      expect(sink.mails.filter((m) => isCopyOf(m, id))).toHaveLength(1);
      expect((await h.ctx.records.getMessage(id))?.status).toBe('delivered');
    }
    expect((await h.ctx.records.failedDeliveries({ since })).filter((d) => d.batch === 0)).toEqual([]);

    const none = await cli('redeliver', first);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('0 failed deliveries put back\n');
    expect((await cli('redeliver', '--failed-since', 'yesterday-ish')).code).toBe(1);
  });
});
