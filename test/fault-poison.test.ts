import { readFileSync } from 'node:fs';
import { simpleParser } from 'mailparser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildZip } from './archive-fixtures.js';
import { describeLedger, settle } from './helpers/fault-ledger.js';
import { mailWithAttachment, mtaSend, outgoing, summary, textMail } from './helpers/fault-mta.js';
import { RoleProcess, roleEnv, startGateway, startWorker, type RoleEnv } from './helpers/fault-roles.js';
import { openHarness, type Harness } from './helpers/harness.js';
import { minimalPdf } from './helpers/pdf-fixtures.js';
import { SmtpSink } from './helpers/smtp-sink.js';

const NORMAL = 50;
/**
 * The sanitize worker runs with a V8 heap this small, so that one legitimately heavy mail (a 4 MB HTML body
 * whose 200 000 tags kept for the converter's DOM need more than this; 192 MB is enough) really exhausts it
 * and the process dies, as a bigger one could on a worker with the default heap. The other mails fit.
 */
const WORKER_HEAP_MB = 96;

/** VmHWM (peak RSS) of a live process, in bytes. */
function peakRss(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

/**
 * A poison mail beside normal mail: three mails that crash the sanitize worker, exhaust their work
 * budget or used to exhaust the heap, among 50 normal mails with attachments, through the real gateway and
 * worker processes. The worker is restarted whenever it dies, as `mukaika start`'s supervisor does.
 */
describe('fault: a poison mail beside normal mail (real processes)', () => {
  let h: Harness;
  let sink: SmtpSink;
  let re: RoleEnv;
  const procs: RoleProcess[] = [];
  let crashes = 0;
  let stopping = false;

  function startSanitizer(): void {
    const w = new RoleProcess(['worker', 'sanitize'], { ...re.env, NODE_OPTIONS: `--max-old-space-size=${WORKER_HEAP_MB}` });
    procs.push(w);
    void w.exited.then(() => {
      if (stopping) return;
      crashes++;
      startSanitizer();
    });
  }

  beforeAll(async () => {
    sink = await SmtpSink.start();
    h = await openHarness();
    // A small budget, so that the ZIP of PDFs runs out of it; one normal PDF takes a fraction of it.
    re = await roleEnv(h, sink.url, { sanitize: { limits: { mailWallSeconds: 20 } } });
    procs.push(await startGateway(re), startWorker(re, 'deliver'));
    startSanitizer();
  });
  afterAll(async () => {
    stopping = true;
    await Promise.all(procs.map((p) => p.stop()));
    await sink?.close();
    await h?.close();
  });

  it(`every one of ${NORMAL} normal mails gets its normal verdict; the poison ones are held or cut, with the reason`, async () => {
    const pdf = minimalPdf('normal');
    const normal = outgoing('poison-normal', NORMAL, (n) =>
      n % 5 === 0 ? mailWithAttachment('poison-normal', n, `doc${n}.pdf`, 'application/pdf', pdf)
        : n % 5 === 1 ? mailWithAttachment('poison-normal', n, `list${n}.csv`, 'text/csv', Buffer.from(`name,formula\r\nsato,=1+${n}\r\n`))
          : n % 5 === 2 ? mailWithAttachment('poison-normal', n, `memo${n}.txt`, 'text/plain', Buffer.from(`memo ${n}\r\n`))
            : textMail('poison-normal', n));
    const heavyHtml = '<html><body>' + '<p>x'.repeat(1_000_000) + '</body></html>';
    const crasher = `From: a@example.com\r\nTo: staff1@example.lg.jp\r\nSubject: crasher\r\nMessage-ID: <crasher-${Date.now()}@example.com>\r\n`
      + `MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n${heavyHtml}\r\n`;
    const zip = buildZip(Array.from({ length: 200 }, (_, i) => ({ name: `p${i}.pdf`, data: minimalPdf(`zip ${i}`), deflate: true })));
    const slow = mailWithAttachment('poison-zip', 0, 'pdfs.zip', 'application/zip', zip);
    const csv = mailWithAttachment('poison-csv', 0, 'empty.csv', 'text/csv', Buffer.alloc(30 * 1024 * 1024, '\n'));
    const poison = outgoing('poison', 3, (n) => [crasher, slow, csv][n]!);
    // The poison goes in early, among the first normal mails, so it is running beside them.
    const mails = [...normal.slice(0, 5), ...poison, ...normal.slice(5)];
    await mtaSend(mails, { port: () => re.smtpPort, sessions: 4 });
    expect(summary(mails).accepted).toBe(mails.length);

    const t0 = Date.now();
    const ledger = await settle(h.ctx.records, mails, () => sink.mails, { timeoutMs: 420_000 });
    console.log(describeLedger('poison beside normal mail: 1 crasher, 1 over budget, 1 30 MB CSV', ledger, `worker died ${crashes} times; settled after ${Date.now() - t0} ms`));
    expect(ledger.lost).toEqual([]);
    expect(ledger.duplicated).toEqual([]);
    expect(ledger.pending).toEqual([]);
    expect(ledger.delivered).toBe(mails.length);

    for (const m of normal) {
      const rec = await h.ctx.records.getMessage(m.id!);
      const parts = rec!.manifest!.parts.map((p) => [p.name, p.action, p.reason]);
      expect({ n: m.n, verdict: rec!.verdict, parts }).toEqual({
        n: m.n, verdict: 'sanitized',
        parts: m.n % 5 === 0 ? [[`doc${m.n}.pdf`, 'flattened', 'PDF_FLATTENED']]
          : m.n % 5 === 1 ? [[`list${m.n}.csv`, 'text', 'CSV_NEUTRALISED']]
            : m.n % 5 === 2 ? [[`memo${m.n}.txt`, 'text', 'TEXT_DECODED']] : [],
      });
    }

    // The crasher: the worker died each time it ran it, so it is held for good and staff get a notice.
    expect(crashes).toBeGreaterThanOrEqual(h.config.queue.sanitizeMaxCrashes);
    const [crash, over, table] = await Promise.all(poison.map((m) => h.ctx.records.getMessage(m.id!)));
    expect(crash).toMatchObject({ verdict: 'held', manifest: { verdict: 'held', parts: [] } });
    const notice = await simpleParser(sink.mails.find((s) => new RegExp(`^X-Mukaika-Id: ${crash!.id}\\s`, 'im').test(s.raw.toString('latin1')))!.raw);
    expect(notice.text).toContain('処理中に無害化プロセスが繰り返し停止したため原本を保留しました');

    // Over budget: the PDFs done in time are delivered, the rest are held WORK_BUDGET.
    expect(over!.verdict).toBe('held');
    const entries = over!.manifest!.parts[0]!.entries ?? [];
    const firstHeld = entries.findIndex((e) => e.action === 'held');
    expect(entries).toHaveLength(200);
    expect(firstHeld).toBeGreaterThanOrEqual(0);
    for (const e of entries.slice(0, firstHeld)) expect([e.action, e.reason]).toEqual(['flattened', 'PDF_FLATTENED']);
    for (const e of entries.slice(firstHeld)) expect([e.action, e.reason]).toEqual(['held', 'WORK_BUDGET']);

    // The 30 MB CSV of empty rows that used to kill the worker: rewritten up to the row cap, and said so.
    expect(table).toMatchObject({ verdict: 'sanitized', manifest: { parts: [{ name: 'empty.csv', action: 'text', reason: 'ROW_LIMIT' }] } });

    const live = procs.filter((p) => p.running && p.role[1] === 'sanitize');
    expect(live).toHaveLength(1);
    expect(peakRss(live[0]!.proc.pid!)).toBeLessThan(1024 * 1024 * 1024);
  }, 600_000);
});
