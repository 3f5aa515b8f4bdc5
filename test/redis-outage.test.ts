import { readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttp, hashToken } from '../src/ingress/http.js';
import { startSmtp, type SmtpIngress } from '../src/ingress/smtp.js';
import { startDeliverWorker, startSanitizeWorker, type RunningWorker } from '../src/jobs/workers.js';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { RedisChild } from './helpers/redis-child.js';
import { RawSmtp } from './helpers/smtp-client.js';
import { SmtpSink } from './helpers/smtp-sink.js';

const TOKEN = 'outage-token-0123456789';
const MAIL = (s: string) => `From: a@example.com\r\nTo: b@example.lg.jp\r\nSubject: ${s}\r\n\r\nbody ${s}\r\n`;

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => path.join(d.parentPath, d.name));
}

describe('Redis down: 451 / 503, nothing half-written; Redis back: mail flows', () => {
  let redis: RedisChild;
  let h: Harness;
  let smtp: SmtpIngress;
  let sink: SmtpSink;
  let workers: RunningWorker[] = [];
  beforeAll(async () => {
    redis = new RedisChild(await RedisChild.freePort());
    await redis.start();
    sink = await SmtpSink.start();
    h = await openHarness({ redisUrl: redis.url, overrides: { http: { tokenHashes: [hashToken(TOKEN)] }, lgwan: { smtpUrl: sink.url } } });
    smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
  });
  afterAll(async () => {
    await smtp?.close();
    for (const w of workers) await w.close();
    await sink?.close();
    await h?.close();
    await redis?.stop();
  });

  it('answers 451 4.3.0 over SMTP and 503 with Retry-After over HTTP, leaving no record or spool file', async () => {
    await redis.stop();
    const { client } = await RawSmtp.connect(smtp.port);
    await client.cmd('EHLO mta.example');
    const reply = (await client.send('a@example.com', ['b@example.lg.jp'], MAIL('down'))).at(-1);
    expect(reply).toMatch(/^451 4\.3\.0 /);
    client.close();

    const app = buildHttp(h.ctx);
    const res = await app.inject({
      method: 'POST', url: '/api/v1/messages?to=b@example.lg.jp',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'message/rfc822' }, payload: MAIL('down-http'),
    });
    await app.close();
    expect(res.statusCode).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();

    const rows = await h.ctx.database.db.selectFrom('messages').selectAll().execute();
    expect(rows).toEqual([]);
    expect(filesUnder(path.join(h.dir, 'blobs'))).toEqual([]);
  });

  it('accepts and delivers again once Redis is back', async () => {
    await redis.start();
    workers = [startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx)];
    const reply = await waitFor(async () => {
      const { client } = await RawSmtp.connect(smtp.port);
      await client.cmd('EHLO mta.example');
      const r = (await client.send('a@example.com', ['b@example.lg.jp'], MAIL('back'))).at(-1)!;
      client.close();
      return r.startsWith('250') ? r : undefined;
    }, 20_000, 500);
    const id = reply.split(' ').at(-1)!;
    await waitFor(() => sink.mails.find((m) => m.raw.toString().includes(id)));
    expect(sink.mails).toHaveLength(1);
  });
});
