import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildHttp, hashToken } from '../src/ingress/http.js';
import { startDeliverWorker, startSanitizeWorker } from '../src/jobs/workers.js';
import { filesUnder, openFlow, waitFor, type Flow } from './helpers/harness.js';
import { RedisChild } from './helpers/redis-child.js';
import { RawSmtp } from './helpers/smtp-client.js';
import { Redis } from 'ioredis';

const TOKEN = 'outage-token-0123456789';
const MAIL = (s: string) => `From: a@example.com\r\nTo: b@example.lg.jp\r\nSubject: ${s}\r\n\r\nbody ${s}\r\n`;

/**
 * One mail over SMTP and one over HTTP are both refused with the given reply and status, and neither left a
 * record or a spool file behind.
 */
async function refusedLeavingNothing(flow: Flow, tag: string, smtpReply: RegExp, httpStatus: number): Promise<{ http: { headers: Record<string, unknown> } }> {
  const { client } = await RawSmtp.connect(flow.smtp.port);
  await client.cmd('EHLO mta.example');
  const reply = (await client.send('a@example.com', ['b@example.lg.jp'], MAIL(tag))).at(-1);
  expect(reply).toMatch(smtpReply);
  client.close();

  const app = buildHttp(flow.h.ctx);
  const res = await app.inject({
    method: 'POST', url: '/api/v1/messages?to=b@example.lg.jp',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'message/rfc822' }, payload: MAIL(`${tag}-http`),
  });
  await app.close();
  expect(res.statusCode).toBe(httpStatus);

  expect(await flow.h.ctx.database.db.selectFrom('messages').selectAll().execute()).toEqual([]);
  // Neither as a file nor kept inline with a record (inline-blobs.ts).
  expect(filesUnder(path.join(flow.h.dir, 'blobs'))).toEqual([]);
  expect(await flow.h.ctx.database.db.selectFrom('inline_originals').selectAll().execute()).toEqual([]);
  return { http: res };
}

describe('Redis down: 451 / 503, nothing half-written; Redis back: mail flows', () => {
  let redis: RedisChild;
  let flow: Flow;
  beforeAll(async () => {
    redis = new RedisChild(await RedisChild.freePort());
    await redis.start();
    // Workers start only once Redis is back (second test).
    flow = await openFlow({ redisUrl: redis.url, workers: false, overrides: { http: { tokenHashes: [hashToken(TOKEN)] } } });
  });
  afterAll(async () => {
    await flow?.close();
    await redis?.stop();
  });

  it('answers 451 4.3.0 over SMTP and 503 with Retry-After over HTTP, leaving no record or spool file', async () => {
    await redis.stop();
    const { http } = await refusedLeavingNothing(flow, 'down', /^451 4\.3\.0 /, 503);
    expect(http.headers['retry-after']).toBeDefined();
  });

  it('accepts and delivers again once Redis is back', async () => {
    await redis.start();
    flow.workers.push(startSanitizeWorker(flow.h.ctx), startDeliverWorker(flow.h.ctx));
    const reply = await waitFor(async () => {
      const { client } = await RawSmtp.connect(flow.smtp.port);
      await client.cmd('EHLO mta.example');
      const r = (await client.send('a@example.com', ['b@example.lg.jp'], MAIL('back'))).at(-1)!;
      client.close();
      return r.startsWith('250') ? r : undefined;
    }, 20_000, 500);
    const id = reply.split(' ').at(-1)!;
    await waitFor(() => flow.sink.mails.find((m) => m.raw.toString().includes(id)));
    expect(flow.sink.mails).toHaveLength(1);
  });
});

describe('Redis out of memory (maxmemory, noeviction): 452 4.3.1 / 507, nothing half-written; memory back: accepted', () => {
  let redis: RedisChild;
  let flow: Flow;
  let filler: Redis;
  beforeAll(async () => {
    redis = new RedisChild(await RedisChild.freePort());
    await redis.start(['--maxmemory-policy', 'noeviction']);
    flow = await openFlow({ redisUrl: redis.url, workers: false, overrides: { http: { tokenHashes: [hashToken(TOKEN)] } } });
    filler = new Redis(redis.url);
    // Redis holding more than its maxmemory, as after a queue backlog or a leak: every write is refused.
    const big = 'x'.repeat(256 * 1024);
    for (let i = 0; i < 16; i++) await filler.set(`filler:${i}`, big);
    await filler.config('SET', 'maxmemory', '2mb');
  });
  afterAll(async () => {
    filler?.disconnect();
    await flow?.close();
    await redis?.stop();
  });

  it('answers 452 4.3.1 over SMTP and 507 over HTTP, leaving no record or spool file', async () => {
    await expect(filler.set('probe', 'x')).rejects.toThrow(/OOM/);
    await refusedLeavingNothing(flow, 'oom', /^452 4\.3\.1 /, 507);
  });

  it('accepts again once Redis has memory', async () => {
    await filler.config('SET', 'maxmemory', '0');
    const { client } = await RawSmtp.connect(flow.smtp.port);
    await client.cmd('EHLO mta.example');
    const reply = (await client.send('a@example.com', ['b@example.lg.jp'], MAIL('oom-over'))).at(-1);
    client.close();
    expect(reply).toMatch(/^250 2\.0\.0 queued as /);
  });
});
