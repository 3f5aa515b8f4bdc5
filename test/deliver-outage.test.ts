import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { startSmtp } from '../src/ingress/smtp.js';
import { startDeliverWorker, startSanitizeWorker } from '../src/jobs/workers.js';
import { copiesById } from './helpers/fault-ledger.js';
import { openHarness, REDIS_URL, waitFor, type Harness } from './helpers/harness.js';
import { RedisChild } from './helpers/redis-child.js';
import { queueOverSmtp } from './helpers/smtp-client.js';
import { SmtpSink } from './helpers/smtp-sink.js';

/**
 * A shortened clock: with queue.attempts 3 and queue.backoffMs 100 the old code gave up after 100 + 200 ms of
 * retries. Every outage below lasts far longer; nothing may be recorded failed, and everything must arrive
 * exactly once per recipient after the relay is back.
 */
const CONCURRENCY = 4;
const shortened = (relayUrl: string) => ({
  lgwan: { smtpUrl: relayUrl, connectionTimeoutMs: 1000, retryMaxDelayMs: 400, probeMaxDelayMs: 400, breakerThreshold: 3 },
  queue: { attempts: 3, backoffMs: 100, deliverConcurrency: CONCURRENCY },
});

const mail = (n: number) => `From: sender${n}@example.com\r\nTo: staff${n}@example.lg.jp\r\nSubject: outage ${n}\r\n`
  + `Message-ID: <outage-${n}-${Date.now()}@example.com>\r\n\r\nbody ${n}\r\n`;

/** Two recipients per mail, so "exactly once per recipient" is visible. */
async function queueMails(port: number, count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; n < count; n++) ids.push(await queueOverSmtp(port, `sender${n}@example.com`, [`a${n}@example.lg.jp`, `b${n}@example.lg.jp`], mail(n)));
  return ids;
}

async function statusCounts(h: Harness): Promise<Record<string, number>> {
  const rows = await h.ctx.database.db.selectFrom('deliveries').select(['status']).execute();
  const out: Record<string, number> = {};
  for (const r of rows) out[r.status] = (out[r.status] ?? 0) + 1;
  return out;
}

/** A listener standing in for a dead relay that still accepts TCP: counts connections and drops each at once. */
async function droppingListener(port: number): Promise<{ connections: () => number; close: () => Promise<void> }> {
  let n = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    n++;
    sockets.add(s);
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return {
    connections: () => n,
    close: () => new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      server.close(() => r());
    }),
  };
}

describe('relay outage longer than the old give-up', () => {
  it('connection refused for 4 s: nothing failed, every recipient delivered exactly once after recovery', async () => {
    const port = await RedisChild.freePort();
    const h = await openHarness({ overrides: shortened(`smtp://127.0.0.1:${port}`) });
    const smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
    const workers = [startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx)];
    let sink: SmtpSink | undefined;
    try {
      const ids = await queueMails(smtp.port, 20);
      // Every mail sanitized and waiting for the relay, at least one delivery attempt made and refused.
      await waitFor(async () => (await statusCounts(h)).pending === 40 || undefined, 60_000);
      await waitFor(async () => Number((await h.ctx.database.db.selectFrom('deliveries').select((eb) => eb.fn.max<number>('attempts').as('a')).executeTakeFirstOrThrow()).a) >= 1 || undefined);
      await sleep(4000);
      expect(await statusCounts(h)).toEqual({ pending: 40 });

      sink = await SmtpSink.start(port);
      const s = sink;
      await waitFor(async () => (await statusCounts(h)).delivered === 40 || undefined, 60_000);
      expect(await statusCounts(h)).toEqual({ delivered: 40 });
      const copies = copiesById(s.mails);
      for (const id of ids) expect(copies.get(id)).toBe(2);
      expect(s.mails.flatMap((m) => m.to).sort()).toEqual(Array.from({ length: 20 }, (_, n) => [`a${n}@example.lg.jp`, `b${n}@example.lg.jp`]).flat().sort());
      for (const id of ids) expect((await h.ctx.records.getMessage(id))?.status).toBe('delivered');
    } finally {
      await smtp.close();
      for (const w of workers) await w.close();
      await sink?.close();
      await h.close();
    }
  });

  it('451 to every DATA for 4 s: nothing failed, every recipient delivered exactly once after recovery', async () => {
    const sink = await SmtpSink.start();
    let busy = true;
    let refusedData = 0;
    sink.behaviour = { data: () => (busy ? (refusedData++, '451 4.3.0 relay busy') : undefined) };
    const h = await openHarness({ overrides: shortened(sink.url) });
    const smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
    const workers = [startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx)];
    try {
      const ids = await queueMails(smtp.port, 20);
      await waitFor(async () => (await statusCounts(h)).pending === 40 || undefined, 60_000);
      await waitFor(() => refusedData >= 3 || undefined);
      await sleep(4000);
      expect(await statusCounts(h)).toEqual({ pending: 40 });
      // The breaker opened after breakerThreshold mails deferred as a whole: far fewer DATA attempts than
      // 20 mails retried every 100–400 ms for 4 s would make (hundreds).
      console.log(`451 phase: ${refusedData} DATA commands refused over 4 s for 20 mails`);
      expect(refusedData).toBeLessThan(20 + 4000 / 100);

      busy = false;
      await waitFor(async () => (await statusCounts(h)).delivered === 40 || undefined, 60_000);
      expect(await statusCounts(h)).toEqual({ delivered: 40 });
      const copies = copiesById(sink.mails);
      for (const id of ids) expect(copies.get(id)).toBe(2);
    } finally {
      await smtp.close();
      for (const w of workers) await w.close();
      await sink.close();
      await h.close();
    }
  });
});

describe('circuit breaker', () => {
  it('a dead relay sees a bounded number of connections (one probe per delay), not one per mail per backoff', async () => {
    const port = await RedisChild.freePort();
    const dead = await droppingListener(port);
    const h = await openHarness({ overrides: shortened(`smtp://127.0.0.1:${port}`) });
    const smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
    const workers = [startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx)];
    let sink: SmtpSink | undefined;
    try {
      const ids = await queueMails(smtp.port, 40);
      await waitFor(async () => (await statusCounts(h)).pending === 80 || undefined, 60_000);
      await waitFor(() => dead.connections() >= 1 || undefined);
      const start = Date.now();
      await sleep(4000);
      const outageMs = Date.now() - start;
      const seen = dead.connections();
      await dead.close();
      // Per mail with backoff, 40 mails over 4 s would be at least 40 connections and up to hundreds. The
      // breaker allows the jobs already in flight when the relay died, then one probe per queue.backoffMs
      // at most (the probe delay only grows from there).
      console.log(`dead relay: ${seen} connections in ${outageMs} ms for 40 mails`);
      expect(seen).toBeGreaterThan(0);
      expect(seen).toBeLessThanOrEqual(CONCURRENCY + Math.ceil(outageMs / 100));
      expect(seen).toBeLessThan(40);
      expect(await statusCounts(h)).toEqual({ pending: 80 });
      // The breaker is open and says why, for operators.
      const redis = new Redis(REDIS_URL);
      const state = await redis.hgetall(`${h.prefix}:relay-breaker`);
      redis.disconnect();
      expect(state.reply).toMatch(/Connection closed|ECONNECTION|ESOCKET|ECONNRESET/);

      sink = await SmtpSink.start(port);
      const s = sink;
      await waitFor(async () => (await statusCounts(h)).delivered === 80 || undefined, 60_000);
      const copies = copiesById(s.mails);
      for (const id of ids) expect(copies.get(id)).toBe(2);
      // After recovery the backlog drains in arrival order (the deliver queue's, i.e. when each mail was
      // sanitized): the successful attempts start in that order, give or take the jobs taken together (the
      // worker's concurrency). They may finish out of order: a job on a warm pooled connection finishes
      // before one still opening its own.
      const jobs = await Promise.all(ids.map((id) => h.ctx.queues.deliver.getJob(`${id}-b0`)));
      const arrival = [...jobs].sort((x, y) => x!.timestamp - y!.timestamp).map((j) => j!.id);
      const started = [...jobs].sort((x, y) => x!.processedOn! - y!.processedOn!).map((j) => arrival.indexOf(j!.id));
      console.log(`drain: arrival index of each job in the order its delivery started: ${started.join(' ')}`);
      started.forEach((pos, i) => expect(Math.abs(pos - i)).toBeLessThanOrEqual(CONCURRENCY));
    } finally {
      await smtp.close();
      for (const w of workers) await w.close();
      await sink?.close();
      await h.close();
    }
  });
});
