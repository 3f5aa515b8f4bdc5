import { setTimeout as sleep } from 'node:timers/promises';
import { UnrecoverableError, Worker, type ConnectionOptions } from 'bullmq';
import { simpleParser } from 'mailparser';
import { describe, expect, it } from 'vitest';
import { requeueStuck } from '../src/jobs/recovery.js';
import { startDeliverWorker, startSanitizeWorker } from '../src/jobs/workers.js';
import { workerConnection } from '../src/queue/queues.js';
import { openFlow, waitFor } from './helpers/harness.js';
import { queueOverSmtp } from './helpers/smtp-client.js';

const accept = (port: number, subject: string): Promise<string> =>
  queueOverSmtp(port, 'a@example.com', ['staff@example.lg.jp'], `From: a@example.com\r\nSubject: ${subject}\r\n\r\nbody\r\n`);

describe('work that fails for good still reaches the recipient, and finished jobs do not block recovery', () => {
  it('sends a notice-only mail when the sanitize job cannot succeed (original gone)', async () => {
    // Workers start only once the fault is in place.
    const flow = await openFlow({ workers: false });
    const { h, sink, smtp, workers } = flow;
    try {
      const id = await accept(smtp.port, 'lost-original');
      const rec = await h.ctx.records.getMessage(id);
      await h.ctx.blobs.remove('originals', rec!.originalSha256);
      workers.push(startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx));
      const mail = await waitFor(() => sink.mails.find((m) => m.raw.toString().includes(`X-Mukaika-ID: ${id}`)));
      const parsed = await simpleParser(mail.raw);
      expect(parsed.text).toContain('このメールは無害化できなかったため、原本を保留しています。');
      expect(parsed.headers.get('x-mukaika-verdict')).toBe('held');
      expect((await waitFor(async () => (await h.ctx.records.getMessage(id))?.status === 'delivered' || undefined))).toBe(true);
    } finally {
      await flow.close();
    }
  });

  it('the recovery sweep runs again a record whose job already ended while the record still waits', async () => {
    // Workers start only once the fault is in place.
    const flow = await openFlow({ workers: false });
    const { h, sink, smtp, workers } = flow;
    try {
      const id = await accept(smtp.port, 'stale-job');
      // The race the review found: the job ended (here: failed for good) while the record stayed `received`.
      const connection = workerConnection(h.config);
      const failer = new Worker('sanitize', async () => { throw new UnrecoverableError('simulated'); },
        { connection: connection as unknown as ConnectionOptions, prefix: h.config.queue.prefix });
      await waitFor(async () => (await h.ctx.queues.sanitize.getJobState(id)) === 'failed');
      await failer.close();
      connection.disconnect();
      // A plain enqueue is a no-op on the finished job: that was the bug.
      await h.ctx.queues.enqueueSanitize(id);
      expect(await h.ctx.queues.sanitize.getJobState(id)).toBe('failed');
      expect(await requeueStuck(h.ctx, -1000)).toBe(1);
      workers.push(startSanitizeWorker(h.ctx), startDeliverWorker(h.ctx));
      await waitFor(() => sink.mails.find((m) => m.raw.toString().includes(`X-Mukaika-ID: ${id}`)));
      await sleep(500); // a second copy, if any, would arrive now
      expect(sink.mails).toHaveLength(1);
    } finally {
      await flow.close();
    }
  });
});
