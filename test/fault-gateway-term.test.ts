import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDeliverWorker, startSanitizeWorker, type RunningWorker } from '../src/jobs/workers.js';
import { describeLedger, settle } from './helpers/fault-ledger.js';
import { mtaSend, outgoing, summary, textMail } from './helpers/fault-mta.js';
import { roleEnv, startGateway, type RoleEnv, type RoleProcess } from './helpers/fault-roles.js';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { RawSmtp } from './helpers/smtp-client.js';
import { SmtpSink } from './helpers/smtp-sink.js';

const N = 200;

/** Opens a transaction and sends only the first half of the message: a session caught in the middle of DATA. */
async function halfway(port: number, raw: string): Promise<{ client: RawSmtp; rest: string }> {
  const { client } = await RawSmtp.connect(port);
  await client.cmd('EHLO slow.example');
  expect(await client.cmd('MAIL FROM:<slow@example.com>')).toMatch(/^250/);
  expect(await client.cmd('RCPT TO:<staff1@example.lg.jp>')).toMatch(/^250/);
  expect(await client.cmd('DATA')).toMatch(/^354/);
  const cut = Math.floor(raw.length / 2);
  client.write(raw.slice(0, cut));
  return { client, rest: `${raw.slice(cut)}.\r\n` };
}

/**
 * The gateway process gets SIGTERM while mail streams in and two sessions sit in the middle of DATA: one
 * finishes within the grace period (must get its 250 and be delivered), one never finishes (must be dropped
 * without a record). The gateway is started again; the MTA's retries must end with everything delivered once.
 */
describe('fault: gateway SIGTERM in the middle of DATA (real process)', () => {
  let h: Harness;
  let sink: SmtpSink;
  let re: RoleEnv;
  const gateways: RoleProcess[] = [];
  let workers: RunningWorker[] = [];

  beforeAll(async () => {
    sink = await SmtpSink.start();
    h = await openHarness({ overrides: { lgwan: { smtpUrl: sink.url } } });
    re = await roleEnv(h, sink.url);
    gateways.push(await startGateway(re));
    // Workers in this process: the fault under test is the gateway's.
    workers = [startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx)];
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    for (const w of workers) await w.close();
    await sink?.close();
    await h?.close();
  });

  it(`drains in-flight DATA, refuses the rest, and loses none of ${N} mails`, async () => {
    const mails = outgoing('gwterm', N);
    const sending = mtaSend(mails, { port: () => re.smtpPort, sessions: 8, retryDelayMs: 300 });
    await waitFor(() => mails.filter((m) => m.id).length >= N / 3, 60_000, 20);

    const finisher = await halfway(re.smtpPort, textMail('gwterm-finisher', 0));
    const staller = await halfway(re.smtpPort, textMail('gwterm-staller', 0));
    gateways[0]!.kill('SIGTERM');
    await sleep(300);
    // Inside the 2 s grace period (queue.shutdownTimeoutMs): the transaction in flight completes.
    finisher.client.write(finisher.rest);
    const finished = await finisher.client.reply();
    expect(finished).toMatch(/^250 2\.0\.0 queued as /);
    const finisherId = finished.split(' ').at(-1)!;
    // The one that never ends is cut off at the end of the grace period; its bytes never became a record.
    const exit = await gateways[0]!.exited;
    expect(exit.code).toBe(0);
    // Its last word (queued before the close, if any) is a 421, never a 250; '' means closed without one.
    expect(await staller.client.reply()).toMatch(/^(421 |$)/);

    await sleep(500);
    gateways.push(await startGateway(re));
    await sending;
    const s = summary(mails);
    expect(s.accepted).toBe(N);

    const all = [...mails, { n: -1, raw: '', to: ['staff1@example.lg.jp'], replies: [finished], id: finisherId }];
    const ledger = await settle(h.ctx.records, all, () => sink.mails, { timeoutMs: 120_000 });
    const stallerRecorded = await h.ctx.database.db.selectFrom('messages').select('id').where('envelope_from', '=', 'slow@example.com').execute();
    console.log(describeLedger('gateway SIGTERM mid-DATA, restarted', ledger,
      `intake replies ${JSON.stringify(s.codes)}; in-flight DATA finished with 250; stalled DATA dropped (records: ${stallerRecorded.length - 1})`));
    expect(ledger.lost).toEqual([]);
    expect(ledger.duplicated).toEqual([]);
    expect(ledger.pending).toEqual([]);
    expect(ledger.delivered).toBe(N + 1);
    // Only the finisher's transaction from slow@ exists: the cut-off one left nothing behind.
    expect(stallerRecorded.map((r) => r.id)).toEqual([finisherId]);
  }, 200_000);
});
