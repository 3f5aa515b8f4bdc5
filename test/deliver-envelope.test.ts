import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliverBatch } from '../src/deliver/deliver.js';
import { SmtpTransport } from '../src/deliver/smtp-transport.js';
import { openHarness, type Harness } from './helpers/harness.js';
import { SmtpSink } from './helpers/smtp-sink.js';

/**
 * The relay gets exactly the stored envelope: one RCPT per stored recipient string, whatever it looks like,
 * and each result is written back to the exact string it answers. Intake may be strict or not (another
 * layer); delivery must not depend on it, so the records here are written directly.
 */
describe('delivery envelope: one stored recipient = one RCPT', () => {
  let sink: SmtpSink;
  let h: Harness;
  let transport: SmtpTransport;
  const rcpts: string[] = [];
  beforeAll(async () => {
    sink = await SmtpSink.start();
    // Case-sensitive on purpose: the relay decides per exact string; we must not merge or re-case them.
    sink.behaviour = {
      rcpt: (a) => {
        rcpts.push(a);
        return a === 'staff@example.lg.jp' ? '550 5.1.1 lower-case staff is unknown' : undefined;
      },
    };
    h = await openHarness({ overrides: { lgwan: { smtpUrl: sink.url, connectionTimeoutMs: 2000 } } });
    transport = new SmtpTransport(sink.url, 2000, 2, 'mukaika.test');
  });
  afterAll(async () => {
    transport?.close();
    await sink?.close();
    await h?.close();
  });

  it('sends a comma inside one stored recipient as that one recipient, and maps case variants separately', async () => {
    rcpts.length = 0;
    const to = ['root,postmaster@example.lg.jp', 'Staff@example.lg.jp', 'staff@example.lg.jp'];
    const out = await transport.send({ from: 'mukaika@example.lg.jp', to }, Buffer.from('Subject: t\r\n\r\nx\r\n'));
    expect(rcpts).toEqual(to);
    expect(out.delivered.map((r) => r.recipient)).toEqual(['root,postmaster@example.lg.jp', 'Staff@example.lg.jp']);
    expect(out.failed).toEqual([{ recipient: 'staff@example.lg.jp', response: '550 5.1.1 lower-case staff is unknown' }]);
    expect(out.deferred).toEqual([]);
    expect(sink.mails.at(-1)!.to).toEqual(['root,postmaster@example.lg.jp', 'Staff@example.lg.jp']);
  });

  it('never sends a recipient that would not be one RCPT line (space, control character, angle bracket): failed, others still go', async () => {
    rcpts.length = 0;
    const to = ['a b@example.lg.jp', 'x@example.lg.jp>\r\nRCPT TO:<evil@example.com', 'tab\t@example.lg.jp', '<c@example.lg.jp>', 'ok@example.lg.jp'];
    const out = await transport.send({ from: 'mukaika@example.lg.jp', to }, Buffer.from('Subject: t\r\n\r\nx\r\n'));
    expect(rcpts).toEqual(['ok@example.lg.jp']);
    expect(out.delivered.map((r) => r.recipient)).toEqual(['ok@example.lg.jp']);
    expect(out.failed.map((r) => r.recipient)).toEqual(to.slice(0, 4));
    expect(out.failed.every((r) => r.response.startsWith('refused: not sendable as one SMTP recipient'))).toBe(true);
  });

  it('through the deliver step: the rows are the stored strings, each with its own result', async () => {
    rcpts.length = 0;
    const id = 'm000000000000000000e0e0e0';
    const recipients = ['root,postmaster@example.lg.jp', 'Staff@example.lg.jp', 'staff@example.lg.jp'];
    await h.ctx.records.insertMessage({ id, kind: 'message', source: 'smtp', envelopeFrom: 'x@example.com', recipients, originalSha256: '0'.repeat(64), originalSize: 1 });
    const mail = await h.ctx.blobs.put('sanitized', Buffer.from(`X-Mukaika-Id: ${id}\r\nSubject: envelope\r\n\r\nbody\r\n`));
    await h.ctx.records.saveSanitized(id, { verdict: 'sanitized', manifest: { id, kind: 'message', verdict: 'sanitized', parts: [] }, sanitizedSha256: mail.sha256, originalMessageId: null });

    const res = await deliverBatch(h.ctx, transport, { id, batch: 0 });
    expect(res).toEqual({ kind: 'done', delivered: 2, answered: true });
    // Rows are read in recipient order; each is one RCPT, exactly as stored.
    expect([...rcpts].sort()).toEqual([...recipients].sort());
    const rows = await h.ctx.records.deliveries(id, 0);
    expect(rows.map((r) => [r.recipient, r.status, r.attempts])).toEqual([
      ['Staff@example.lg.jp', 'delivered', 1], ['root,postmaster@example.lg.jp', 'delivered', 1], ['staff@example.lg.jp', 'failed', 1],
    ]);
    expect(rows.find((r) => r.recipient === 'staff@example.lg.jp')!.response).toBe('550 5.1.1 lower-case staff is unknown');
    expect((await h.ctx.records.getMessage(id))?.status).toBe('delivered');
    // A second run finds nothing pending and sends nothing (the notice batch is another job's).
    rcpts.length = 0;
    expect(await deliverBatch(h.ctx, transport, { id, batch: 0 })).toEqual({ kind: 'done', delivered: 0, answered: false });
    expect(rcpts).toEqual([]);
    expect((await h.ctx.records.deliveries(id)).filter((d) => d.batch === -1).map((d) => [d.recipient, d.status])).toEqual([['postmaster@example.lg.jp', 'pending']]);
  });
});
