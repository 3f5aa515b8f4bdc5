import { setTimeout as sleep } from 'node:timers/promises';
import type { Records } from '../../src/store/records.js';
import type { Outgoing } from './fault-mta.js';
import type { SunkMail } from './smtp-sink.js';

/** Count of delivered copies per Mukaika id, read from the header the sanitized mail carries. */
export function copiesById(mails: readonly SunkMail[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of mails) {
    const head = m.raw.subarray(0, Math.min(m.raw.length, 64 * 1024)).toString('latin1').split(/\r?\n\r?\n/, 1)[0] ?? '';
    const id = /^X-Mukaika-Id:\s*(\S+)/im.exec(head)?.[1];
    if (id) out.set(id, (out.get(id) ?? 0) + m.to.length);
  }
  return out;
}

export interface Ledger {
  sent: number;
  accepted: number;
  delivered: number;
  /** Accepted and recorded as failed (every recipient 5xx or out of retries) with the reply kept. */
  failed: number;
  /** Delivered as a notice with the original held (verdict held). */
  held: number;
  lost: string[];
  duplicated: string[];
  /** Accepted but not yet final when the ledger was taken (only non-empty when settle() timed out). */
  pending: string[];
}

/**
 * The invariant of docs/DESIGN.md §6 rule 5: every id that got a 250 is delivered exactly once (per recipient) or recorded
 * as failed with a reason. Nothing else counts as done.
 */
export async function takeLedger(records: Records, mails: readonly Outgoing[], sunk: readonly SunkMail[]): Promise<Ledger> {
  const copies = copiesById(sunk);
  const l: Ledger = { sent: mails.length, accepted: 0, delivered: 0, failed: 0, held: 0, lost: [], duplicated: [], pending: [] };
  const ids = new Set(mails.flatMap((m) => (m.id ? [m.id] : [])));
  l.accepted = ids.size;
  for (const id of ids) {
    const n = copies.get(id) ?? 0;
    const rec = await records.getMessage(id);
    const rows = rec ? await records.deliveries(id, 0) : [];
    const failedWithReason = rec?.status === 'failed' && rows.length > 0 && rows.every((d) => d.status === 'failed' && !!d.response);
    // More copies at the relay than recipients: some recipient got it twice.
    if (n > (rec?.recipients.length ?? 1)) l.duplicated.push(id);
    if (n >= 1) {
      l.delivered++;
      if (rec?.verdict === 'held') l.held++;
    } else if (failedWithReason) {
      l.failed++;
    } else if (!rec || rec.status === 'delivered') {
      // No record at all, or a record that claims delivery with nothing at the relay: gone.
      l.lost.push(id);
    } else {
      l.pending.push(id);
    }
  }
  return l;
}

/**
 * Waits until every accepted id is final (delivered at the sink or recorded failed). `tick` runs every round:
 * the Redis fault uses it for the recovery sweep. `sunk` is read each round (the relay may be replaced). Returns the last ledger either way; the test asserts on it.
 */
export async function settle(
  records: Records, mails: readonly Outgoing[], sunk: () => readonly SunkMail[],
  opts: { timeoutMs?: number; tick?: () => Promise<unknown> } = {},
): Promise<Ledger> {
  const end = Date.now() + (opts.timeoutMs ?? 90_000);
  for (;;) {
    await opts.tick?.().catch(() => undefined);
    const l = await takeLedger(records, mails, sunk());
    if (l.pending.length === 0 || Date.now() > end) {
      // A short grace period: a duplicate would show up right after the last first copy.
      await sleep(500);
      return takeLedger(records, mails, sunk());
    }
    await sleep(250);
  }
}

/** One line for the log and the RELIABILITY.md table. */
export function describeLedger(fault: string, l: Ledger, extra = ''): string {
  return `| ${fault} | ${l.sent} | ${l.accepted} | ${l.delivered} | ${l.held} | ${l.failed} | ${l.lost.length} | ${l.duplicated.length} | ${l.pending.length} | ${extra} |`;
}
