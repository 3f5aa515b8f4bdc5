import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requeueStuck } from '../src/jobs/recovery.js';
import { describeLedger, settle } from './helpers/fault-ledger.js';
import { mtaSend, outgoing, summary } from './helpers/fault-mta.js';
import { openFlow, waitFor, type Flow } from './helpers/harness.js';
import { RedisChild } from './helpers/redis-child.js';

const N = 200;

/**
 * Redis (no persistence, as configured here) is killed and restarted twice while mail streams in and
 * workers run: every queued job is gone. Intake must answer 451 while it is down; the recovery sweep must
 * put back what the records say is unfinished; nothing delivered twice.
 */
describe('fault: Redis restarted (jobs lost) during intake and processing', () => {
  let redis: RedisChild;
  let flow: Flow;

  beforeAll(async () => {
    redis = new RedisChild(await RedisChild.freePort());
    await redis.start();
    flow = await openFlow({ redisUrl: redis.url, overrides: { queue: { attempts: 8, backoffMs: 200 } } });
  });
  afterAll(async () => {
    await flow?.close();
    await redis?.stop();
  });

  it(`loses and duplicates none of ${N} mails`, async () => {
    const mails = outgoing('redis', N);
    const accepted = () => mails.filter((m) => m.id).length;
    const sending = mtaSend(mails, { port: () => flow.smtp.port, sessions: 10, retryDelayMs: 200 });

    // First restart in the middle of intake, second once intake is over and workers are busy.
    await waitFor(() => accepted() >= N / 3, 60_000, 20);
    await redis.stop();
    await sleep(1500);
    await redis.start();
    await sending;
    await redis.stop();
    await sleep(1000);
    await redis.start();

    const s = summary(mails);
    expect(s.accepted).toBe(N);
    // The outage was visible to the MTA as temporary failures only (451), never as 5xx or a false 250.
    expect(Object.keys(s.codes).filter((c) => !/^(250|451 4\.3\.0|connection lost|error)/.test(c))).toEqual([]);

    // The worker role runs this sweep every minute; the test runs it every round with a short age.
    let requeued = 0;
    const ledger = await settle(flow.h.ctx.records, mails, () => flow.sink.mails, {
      timeoutMs: 120_000,
      tick: async () => { requeued += await requeueStuck(flow.h.ctx, 1000); },
    });
    console.log(describeLedger('Redis killed + restarted ×2 (no persistence)', ledger, `${s.tempFailures} temp failures at intake (${JSON.stringify(s.codes)}); ${requeued} sweep enqueues (idempotent by job id)`));
    expect(ledger.lost).toEqual([]);
    expect(ledger.duplicated).toEqual([]);
    expect(ledger.pending).toEqual([]);
    expect(ledger.delivered).toBe(N);
  });
});
