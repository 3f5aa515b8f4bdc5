import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { sanitizeFile, sanitizeMessage } from '../src/sanitize/pipeline.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import { stopRendererSpares } from '../src/sanitize/render/renderer.js';
import { ARCHIVE_SLOTS, Slots } from '../src/sanitize/slots.js';
import type { SanitizeContext } from '../src/sanitize/types.js';
import { WorkBudget, budgetTimeout } from '../src/sanitize/work-budget.js';
import { cgroupSupport } from '../src/isolation/cgroup.js';
import { simpleParser } from 'mailparser';
import { Redis } from 'ioredis';
import { CrashGuard, RunGate } from '../src/jobs/crash-guard.js';
import { startDeliverWorker, startSanitizeWorker } from '../src/jobs/workers.js';
import { minimalDocx } from '../bench/office-docx.js';
import { setOfficePool } from '../src/sanitize/office/index.js';
import { OfficePool } from '../src/sanitize/office/pool.js';
import { buildZip } from './archive-fixtures.js';
import { openFlow, overriding, REDIS_URL, waitFor } from './helpers/harness.js';
import { queueOverSmtp } from './helpers/smtp-client.js';
import { minimalPdf } from './helpers/pdf-fixtures.js';

const ctxWith = (limits: Record<string, number>) => ({ config: loadConfig({ env: {}, overrides: { sanitize: { limits } } }), log: silentLogger });

function mail(parts: { name: string; type: string; bytes: Buffer }[]): Buffer {
  const b = 'b-budget';
  const att = parts.map((p) => `--${b}\r\nContent-Type: ${p.type}; name="${p.name}"\r\nContent-Disposition: attachment; filename="${p.name}"\r\n`
    + `Content-Transfer-Encoding: base64\r\n\r\n${p.bytes.toString('base64').replace(/.{76}/g, '$&\r\n')}\r\n`).join('');
  return Buffer.from(`From: a@example.com\r\nTo: b@example.lg.jp\r\nSubject: budget\r\nMIME-Version: 1.0\r\n`
    + `Content-Type: multipart/mixed; boundary="${b}"\r\n\r\n--${b}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n本文です\r\n${att}--${b}--\r\n`);
}

afterAll(() => stopRendererSpares());

describe('WorkBudget: a clock of the mail\'s own work', () => {
  it('counts running time, not paused time; nested pauses; inSlot does not count the wait', async () => {
    let t = 0;
    const b = new WorkBudget(1000, () => t);
    t = 300;
    expect(b.spentMs()).toBe(300);
    b.pause();
    b.pause();
    t = 5000;
    b.resume();
    expect(b.spentMs()).toBe(300);
    b.resume();
    t = 5400;
    expect(b.remainingMs()).toBe(300);
    const slots = new Slots(1);
    let release!: () => void;
    const holder = slots.run(() => new Promise<void>((r) => (release = r)));
    const waiting = b.inSlot(slots, async () => {
      t += 100;
      return 'ran';
    });
    t += 60_000;
    release();
    await holder;
    expect(await waiting).toBe('ran');
    expect(b.spentMs()).toBe(800);
    t += 200;
    expect(b.exhausted()).toBe(true);
    expect(b.remainingMs()).toBe(0);
  });

  it('a child timeout is cut to what is left, never below 1 ms; without a budget it stays', () => {
    let t = 0;
    const ctx = { ...ctxWith({}), budget: new WorkBudget(10_000, () => t) };
    expect(budgetTimeout(ctx, 120_000)).toBe(10_000);
    t = 9_000;
    expect(budgetTimeout(ctx, 500)).toBe(500);
    expect(budgetTimeout(ctx, 120_000)).toBe(1_000);
    t = 20_000;
    expect(budgetTimeout(ctx, 120_000)).toBe(1);
    const plain: SanitizeContext = ctxWith({});
    expect(budgetTimeout(plain, 120_000)).toBe(120_000);
  });

  it('default: 180 s per mail', () => {
    expect(ctxWith({}).config.sanitize.limits.mailWallSeconds).toBe(180);
  });
});

describe('a mail whose parts outrun its budget: finished parts delivered, the rest held WORK_BUDGET', () => {
  it('a ZIP of 200 PDFs with an 8 s budget, between two text files', async () => {
    const zip = buildZip(Array.from({ length: 200 }, (_, i) => ({ name: `p${i}.pdf`, data: minimalPdf(`page ${i}`), deflate: true })));
    const raw = mail([
      { name: 'before.txt', type: 'text/plain', bytes: Buffer.from('先に処理されるファイル') },
      { name: 'pdfs.zip', type: 'application/zip', bytes: zip },
      { name: 'after.txt', type: 'text/plain', bytes: Buffer.from('予算切れで保留されるファイル') },
    ]);
    const res = await sanitizeMessage('budget-zip', raw, ctxWith({ mailWallSeconds: 8 }));
    console.log(JSON.stringify(res.manifest.parts.map((p) => [p.action, p.reason, p.entries?.filter((e) => e.action !== 'held').length])));
    const [before, archive, after] = res.manifest.parts;
    expect(res.manifest.verdict).toBe('held');
    expect(before).toMatchObject({ name: 'before.txt', action: 'text', reason: 'TEXT_DECODED' });
    expect(after).toMatchObject({ name: 'after.txt', action: 'held', reason: 'WORK_BUDGET' });
    const entries = archive!.entries!;
    expect(entries).toHaveLength(200);
    // Entries are done in order: a prefix flattened, then (from the one the budget stopped) all held.
    const firstHeld = entries.findIndex((e) => e.action === 'held');
    expect(firstHeld).toBeGreaterThanOrEqual(0);
    expect(firstHeld).toBeLessThan(100);
    for (const e of entries.slice(0, firstHeld)) expect(e).toMatchObject({ action: 'flattened', reason: 'PDF_FLATTENED' });
    for (const e of entries.slice(firstHeld)) expect(e).toMatchObject({ action: 'held', reason: 'WORK_BUDGET' });
    expect(entries.slice(firstHeld).every((e) => e.output === undefined)).toBe(true);
    if (firstHeld > 0) {
      expect(archive).toMatchObject({ action: 'converted', reason: 'ARCHIVE_REPACKED' });
      expect(res.outputs.map((o) => o.name)).toEqual(['before.txt', 'pdfs.zip']);
    } else {
      expect(archive).toMatchObject({ action: 'removed', reason: 'WORK_BUDGET' });
      expect(res.outputs.map((o) => o.name)).toEqual(['before.txt']);
    }
    expect(res.mail.toString('latin1')).toContain('X-Mukaika-Verdict: held');
  }, 120_000);

  it('an upload gets the same budget: a PDF not started in time is held, not passed', async () => {
    const ctx = { ...ctxWith({}), budget: new WorkBudget(0) };
    const res = await sanitizeFile('budget-file', { name: 'a.pdf', declaredType: 'application/pdf', bytes: minimalPdf('late') }, ctx);
    expect(res.manifest).toMatchObject({ verdict: 'held', parts: [{ action: 'held', reason: 'WORK_BUDGET', detectedType: 'application/pdf' }] });
    expect(res.outputs).toEqual([]);
  });

  it('LibreOffice\'s timeout is cut to what is left: a document started late is held WORK_BUDGET', async () => {
    const pool = new OfficePool({ memoryMb: 1024, maxDocs: 3 });
    const timeouts: number[] = [];
    setOfficePool(overriding(pool, {
      convert: (bytes: Buffer, ext: string, timeoutMs: number, maxPdf: number) => (timeouts.push(timeoutMs), pool.convert(bytes, ext, timeoutMs, maxPdf)),
    }));
    try {
      // Starting LibreOffice alone takes longer than this whole budget; the conversion gets what is left.
      const ctx = { ...ctxWith({}), budget: new WorkBudget(300) };
      const docx = await minimalDocx(['予算切れ']);
      const r = await sanitizePart({ name: '見積書.docx', declaredType: '', bytes: docx, depth: 0 }, ctx);
      expect(r).toEqual({ detectedType: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', action: 'held', reason: 'WORK_BUDGET' });
      expect(timeouts).toHaveLength(1);
      expect(timeouts[0]).toBeGreaterThanOrEqual(1);
      expect(timeouts[0]).toBeLessThanOrEqual(300);
    } finally {
      setOfficePool(undefined);
      await pool.close();
    }
  }, 120_000);

  it('time spent waiting for the archive slot another mail holds is not charged', async () => {
    const zip = buildZip([{ name: 'memo.txt', data: Buffer.from('中身'), deflate: true }]);
    let release!: () => void;
    const holder = ARCHIVE_SLOTS.run(() => new Promise<void>((r) => (release = r)));
    const ctx = ctxWith({ mailWallSeconds: 3 });
    const pending = sanitizePart({ name: 'a.zip', declaredType: 'application/zip', bytes: zip, depth: 0 }, ctx);
    // Longer than the whole budget: charged, it would hold the entry.
    await sleep(4_000);
    release();
    await holder;
    const r = await pending;
    expect(r).toMatchObject({ action: 'converted', reason: 'ARCHIVE_REPACKED' });
    expect(r.entries).toMatchObject([{ name: 'memo.txt', action: 'text', reason: 'TEXT_DECODED' }]);
  }, 60_000);
});

describe('CPU seconds of the isolated children count against the mail too', () => {
  it('the renderer\'s CPU (its cgroup) is charged: once it is spent, the next part is held WORK_BUDGET', async () => {
    // CPU is read from the child's own cgroup (v1: its cpuacct twin); a machine without one would measure nothing.
    expect(cgroupSupport()).not.toBeNull();
    const budget = new WorkBudget(600_000, undefined, 1);
    const res = await sanitizeMessage('mcpubudget', mail([
      { name: 'a.pdf', type: 'application/pdf', bytes: minimalPdf('first') },
      { name: 'b.pdf', type: 'application/pdf', bytes: minimalPdf('second') },
    ]), { ...ctxWith({}), budget });
    expect(res.manifest.parts.map((p) => [p.name, p.action, p.reason])).toEqual([['a.pdf', 'flattened', 'PDF_FLATTENED'], ['b.pdf', 'held', 'WORK_BUDGET']]);
    expect(budget.cpuSpentMs()).toBeGreaterThan(0);
    expect(budget.spentMs()).toBeLessThan(600_000);
  }, 120_000);

  it('LibreOffice\'s CPU for one document is measured on the resident converter and handed to the budget', async () => {
    const pool = new OfficePool({ memoryMb: 1024, maxDocs: 3 });
    try {
      const charged: (number | undefined)[] = [];
      const r = await pool.convert(await minimalDocx(['CPU']), 'docx', 60_000, 64 << 20, (ms) => charged.push(ms));
      expect(r.ok).toBe(true);
      expect(charged).toHaveLength(1);
      expect(charged[0]).toBeGreaterThan(0);
    } finally {
      await pool.close();
    }
  }, 120_000);

  it('default: 120 CPU seconds per mail', () => {
    expect(ctxWith({}).config.sanitize.limits.mailCpuSeconds).toBe(120);
  });
});

describe('crash accounting: suspects run alone, the poison is held after queue.sanitizeMaxCrashes', () => {
  it('RunGate: a suspect waits for the running jobs, and new ordinary jobs wait for the suspect', async () => {
    const gate = new RunGate();
    const order: string[] = [];
    const leaveA = await gate.enter(false);
    const suspect = gate.enter(true).then((leave) => (order.push('suspect in'), leave));
    const late = gate.enter(false).then((leave) => (order.push('late in'), leave));
    await sleep(50);
    expect(order).toEqual([]);
    leaveA();
    const leaveS = await suspect;
    await sleep(50);
    expect(order).toEqual(['suspect in']);
    leaveS();
    (await late)();
    expect(order).toEqual(['suspect in', 'late in']);
  });

  it('CrashGuard counts a job only while it runs, and deletes the count however it ends', async () => {
    const redis = new Redis(REDIS_URL);
    const prefix = `mktguard${Date.now()}`;
    try {
      const guard = new CrashGuard(redis, prefix, 3);
      let during = -1;
      await guard.run('m1', false, async () => { during = await guard.crashes('m1'); });
      expect(during).toBe(1);
      expect(await guard.crashes('m1')).toBe(0);
      await expect(guard.run('m2', true, async () => { throw new Error('boom'); })).rejects.toThrow('boom');
      expect(await guard.crashes('m2')).toBe(0);
      // What a death mid-job leaves behind, and what a deliberate shutdown clears.
      const running = guard.run('m3', false, () => sleep(200));
      await sleep(50);
      expect(await redis.get(`${prefix}:sanitize:crashes:m3`)).toBe('1');
      await guard.forgetRunning();
      expect(await redis.get(`${prefix}:sanitize:crashes:m3`)).toBe(null);
      await running;
    } finally {
      redis.disconnect();
    }
  });

  it('a job found at its worker\'s death sanitizeMaxCrashes times is not run again: notice-only, WORKER_CRASHED', async () => {
    const flow = await openFlow({ workers: false });
    const { h, sink, smtp, workers } = flow;
    const redis = new Redis(REDIS_URL);
    try {
      const poison = await queueOverSmtp(smtp.port, 'a@example.com', ['staff@example.lg.jp'], 'From: a@example.com\r\nSubject: poison\r\n\r\nbody\r\n');
      const suspect = await queueOverSmtp(smtp.port, 'a@example.com', ['staff@example.lg.jp'], 'From: a@example.com\r\nSubject: suspect\r\n\r\nan ordinary body\r\n');
      // As the worker processes that died running them left the counts.
      await redis.set(`${h.prefix}:sanitize:crashes:${poison}`, String(h.config.queue.sanitizeMaxCrashes));
      await redis.set(`${h.prefix}:sanitize:crashes:${suspect}`, String(h.config.queue.sanitizeMaxCrashes - 1));
      workers.push(startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx));
      const held = await waitFor(() => sink.mails.find((m) => m.raw.toString().includes(`X-Mukaika-ID: ${poison}`)));
      const parsed = await simpleParser(held.raw);
      expect(parsed.headers.get('x-mukaika-verdict')).toBe('held');
      expect(parsed.text).toContain('処理中に無害化プロセスが繰り返し停止したため原本を保留しました');
      expect(parsed.text).toContain('このメールは無害化できなかったため、原本を保留しています。');
      const normal = await waitFor(() => sink.mails.find((m) => m.raw.toString().includes(`X-Mukaika-ID: ${suspect}`)));
      const p2 = await simpleParser(normal.raw);
      expect(p2.headers.get('x-mukaika-verdict')).toBe('sanitized');
      expect(p2.text).toContain('an ordinary body');
      expect(await redis.exists(`${h.prefix}:sanitize:crashes:${poison}`, `${h.prefix}:sanitize:crashes:${suspect}`)).toBe(0);
      expect((await h.ctx.records.getMessage(poison))?.verdict).toBe('held');
    } finally {
      redis.disconnect();
      await flow.close();
    }
  }, 60_000);

  it('default: three crashes', () => {
    expect(ctxWith({}).config.queue.sanitizeMaxCrashes).toBe(3);
  });
});
