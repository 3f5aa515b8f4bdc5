import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSmtp, type SmtpIngress } from '../src/ingress/smtp.js';
import { startDeliverWorker, startSanitizeWorker, type RunningWorker } from '../src/jobs/workers.js';
import { describeLedger, settle } from './helpers/fault-ledger.js';
import { mtaSend, outgoing, summary } from './helpers/fault-mta.js';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { SmtpSink, type SunkMail } from './helpers/smtp-sink.js';

const N = 200;
// One recipient in seven is refused for good by the relay: those must end as failed with the 5xx kept.
const REFUSED = 'staff6@example.lg.jp';

/**
 * The LGWAN relay answers 451 to every DATA, then is down (connection refused), then comes back; one
 * recipient is refused with 550 throughout. Retries must deliver everything else exactly once.
 *
 * Shortened clock: with queue.attempts 3 and backoffMs 100, delivery used to give up (record `failed`)
 * after 100 + 200 ms of retries; the outage below lasts 451 phase + OUTAGE_MS, many times that. Only the
 * 550s may end failed.
 */
const OUTAGE_MS = 3000;
describe('fault: LGWAN relay 4xx, then refusing connections, then back', () => {
  let h: Harness;
  let smtp: SmtpIngress;
  let sink: SmtpSink;
  const sunk: SunkMail[] = [];
  let workers: RunningWorker[] = [];
  const refuse5xx = (a: string) => (a === REFUSED ? '550 5.1.1 no such user' : undefined);

  beforeAll(async () => {
    sink = await SmtpSink.start();
    sink.behaviour = { rcpt: refuse5xx, data: () => '451 4.3.0 relay busy' };
    h = await openHarness({
      overrides: {
        lgwan: { smtpUrl: sink.url, connectionTimeoutMs: 1000, retryMaxDelayMs: 500, probeMaxDelayMs: 500 },
        queue: { attempts: 3, backoffMs: 100 },
      },
    });
    smtp = await startSmtp(h.ctx, { port: 0, closeTimeoutMs: 500 });
    workers = [startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx)];
  });
  afterAll(async () => {
    await smtp?.close();
    for (const w of workers) await w.close();
    await sink?.close();
    await h?.close();
  });

  it(`delivers all ${N} accepted mails exactly once, the refused recipient recorded as failed`, async () => {
    const mails = outgoing('relay', N);
    await mtaSend(mails, { port: () => smtp.port, sessions: 10 });
    expect(summary(mails).accepted).toBe(N);

    // Phase 1: the relay answers 4xx until a good share of deliveries have been deferred at least once.
    const deferredRows = async () => Number((await h.ctx.database.db.selectFrom('deliveries')
      .select((eb) => eb.fn.countAll<number>().as('n')).where('status', '=', 'pending').where('attempts', '>', 0)
      .executeTakeFirstOrThrow()).n);
    await waitFor(async () => (await deferredRows()) >= N / 4, 60_000, 200);

    // Phase 2: the relay is gone (connection refused) for a while.
    const port = sink.port;
    sunk.push(...sink.mails);
    await sink.close();
    await sleep(OUTAGE_MS);
    // Longer than the old give-up, and nothing but the 550s has failed.
    const failedNow = await h.ctx.database.db.selectFrom('deliveries').select(['recipient', 'response']).where('status', '=', 'failed').execute();
    expect(failedNow.filter((d) => d.recipient !== REFUSED)).toEqual([]);

    // Phase 3: it comes back on the same port and accepts.
    sink = await SmtpSink.start(port);
    sink.behaviour = { rcpt: refuse5xx };
    const ledger = await settle(h.ctx.records, mails, () => [...sunk, ...sink.mails], { timeoutMs: 120_000 });
    const deferredSeen = (await h.ctx.database.db.selectFrom('deliveries').select('attempts').execute()).filter((d) => d.attempts > 1).length;
    console.log(describeLedger('LGWAN relay 451 → refused → back (one rcpt 550)', ledger, `${deferredSeen} deliveries retried`));

    expect(ledger.lost).toEqual([]);
    expect(ledger.duplicated).toEqual([]);
    expect(ledger.pending).toEqual([]);
    const refused = mails.filter((m) => m.to[0] === REFUSED).length;
    expect(ledger.failed).toBe(refused);
    expect(ledger.delivered).toBe(N - refused);
    // The failed ones keep the relay's reply for operators.
    const failedId = mails.find((m) => m.to[0] === REFUSED)!.id!;
    expect((await h.ctx.records.deliveries(failedId, 0))[0]!.response).toMatch(/550/);
    // No recipient ran out of retries.
    const gaveUp = await h.ctx.database.db.selectFrom('deliveries').select('recipient').where('response', 'like', 'gave up%').execute();
    expect(gaveUp).toEqual([]);
  });
});
