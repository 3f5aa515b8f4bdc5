import type { SunkMail } from './smtp-sink.js';
import { waitFor, type Harness } from './harness.js';

/** The sanitized mail itself (a postmaster notice names the id too, but not in this header). */
export const isCopyOf = (m: SunkMail, id: string): boolean => m.raw.toString().includes(`X-Mukaika-ID: ${id}`);

/** Batch 0 settled: every recipient final and the message's own status written (a later commit than the last row's). */
export const settled = (h: Harness, id: string, stepMs = 100) => waitFor(async () => {
  const rows = await h.ctx.records.deliveries(id, 0);
  const status = (await h.ctx.records.getMessage(id))?.status;
  return rows.length > 0 && rows.every((r) => r.status !== 'pending') && (status === 'delivered' || status === 'failed') ? rows : undefined;
}, 30_000, stepMs);
