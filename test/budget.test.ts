import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { sanitizeFile, sanitizeMessage } from '../src/sanitize/pipeline.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import { stopRendererSpares } from '../src/sanitize/render/renderer.js';
import { ARCHIVE_SLOTS, Slots } from '../src/sanitize/slots.js';
import { WorkBudget, budgetTimeout } from '../src/sanitize/work-budget.js';
import { buildZip } from './archive-fixtures.js';
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
    expect(budgetTimeout(ctxWith({}), 120_000)).toBe(120_000);
  });

  it('default: 180 s per mail', () => {
    expect(ctxWith({}).config.sanitize.limits.mailWallSeconds).toBe(180);
  });
});

describe('a mail whose parts outrun its budget: finished parts delivered, the rest held WORK_BUDGET', () => {
  it('a ZIP of 200 PDFs with a 2 s budget, between two text files', async () => {
    const zip = buildZip(Array.from({ length: 200 }, (_, i) => ({ name: `p${i}.pdf`, data: minimalPdf(`page ${i}`), deflate: true })));
    const raw = mail([
      { name: 'before.txt', type: 'text/plain', bytes: Buffer.from('先に処理されるファイル') },
      { name: 'pdfs.zip', type: 'application/zip', bytes: zip },
      { name: 'after.txt', type: 'text/plain', bytes: Buffer.from('予算切れで保留されるファイル') },
    ]);
    const res = await sanitizeMessage('budget-zip', raw, ctxWith({ mailWallSeconds: 2 }));
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
