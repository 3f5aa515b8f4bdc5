import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeLedger, settle } from './helpers/fault-ledger.js';
import { mailWithAttachment, mtaSend, outgoing, summary, textMail } from './helpers/fault-mta.js';
import { roleEnv, startGateway, startWorker, type RoleEnv, type RoleProcess } from './helpers/fault-roles.js';
import { openHarness, waitFor, type Harness } from './helpers/harness.js';
import { minimalPdf } from './helpers/pdf-fixtures.js';
import { SmtpSink } from './helpers/smtp-sink.js';

const N = 200;

/**
 * Worker processes are SIGKILLed while jobs are active: the sanitize worker twice (one in twenty mails carries
 * a PDF, so renders are in flight), the deliver worker once. BullMQ's stalled-job check hands the killed
 * jobs to the restarted workers (after the 30 s lock expires); the records make re-runs no-ops.
 */
describe('fault: sanitize and deliver workers SIGKILLed mid-job (real processes)', () => {
  let h: Harness;
  let sink: SmtpSink;
  let re: RoleEnv;
  const procs: RoleProcess[] = [];

  beforeAll(async () => {
    sink = await SmtpSink.start();
    h = await openHarness();
    re = await roleEnv(h, sink.url);
    procs.push(await startGateway(re), startWorker(re, 'sanitize'), startWorker(re, 'deliver'));
  });
  afterAll(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await sink?.close();
    await h?.close();
  });

  /** Waits until the queue has an active job, SIGKILLs the worker, starts a fresh one. Returns jobs killed. */
  async function killMidJob(kind: 'sanitize' | 'deliver'): Promise<number> {
    const queue = kind === 'sanitize' ? h.ctx.queues.sanitize : h.ctx.queues.deliver;
    const active = await waitFor(() => queue.getActiveCount(), 60_000, 10);
    const victim = procs.find((p) => p.running && p.role[1] === kind)!;
    victim.kill('SIGKILL');
    const { signal } = await victim.exited;
    expect(signal).toBe('SIGKILL');
    procs.push(startWorker(re, kind));
    return active;
  }

  it(`loses and duplicates none of ${N} mails`, async () => {
    const pdf = minimalPdf('worker kill');
    const mails = outgoing('wkill', N, (n) => (n % 20 === 0 ? mailWithAttachment('wkill', n, `doc${n}.pdf`, 'application/pdf', pdf) : textMail('wkill', n)));
    const sending = mtaSend(mails, { port: () => re.smtpPort, sessions: 8 });

    const killed: string[] = [];
    const t0 = Date.now();
    await waitFor(() => mails.filter((m) => m.id).length >= 30, 60_000, 20);
    killed.push(`sanitize: ${await killMidJob('sanitize')} active`);
    // The deliver kill right after, so both wait out the same stalled-lock window.
    killed.push(`deliver: ${await killMidJob('deliver')} active`);
    await waitFor(() => mails.filter((m) => m.id).length >= 100, 60_000, 20);
    killed.push(`sanitize: ${await killMidJob('sanitize')} active`);
    await sending;
    console.log(`killed at: ${killed.join('; ')}; intake done after ${Date.now() - t0} ms`);
    expect(summary(mails).accepted).toBe(N);

    const ledger = await settle(h.ctx.records, mails, () => sink.mails, { timeoutMs: 150_000 });
    console.log(describeLedger('worker SIGKILL: sanitize ×2, deliver ×1', ledger, `jobs active at kill: ${killed.join(', ')}; settled after ${Date.now() - t0} ms`));
    expect(ledger.lost).toEqual([]);
    expect(ledger.duplicated).toEqual([]);
    expect(ledger.pending).toEqual([]);
    expect(ledger.delivered).toBe(N);
  }, 240_000);
});
