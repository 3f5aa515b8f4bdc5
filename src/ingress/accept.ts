import { createHmac } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Context } from '../context.js';
import { MukaikaError, toMukaikaError } from '../errors.js';
import { EVT } from '../log.js';

export interface Envelope {
  from: string;
  to: string[];
}

export interface AcceptInput {
  kind: 'message' | 'file';
  source: 'smtp' | 'http';
  envelope: Envelope;
  data: Readable | AsyncIterable<Buffer>;
  maxBytes: number;
  /** Extra identity for files (uploader, file name) so different uploads of one file stay distinct. */
  discriminator?: string;
  /** File name of an upload. */
  name?: string;
  /** API token id of the submitter (ingress/http.ts), for token-scoped reads. */
  submitter?: string;
}

/**
 * The id is derived from content and envelope: the same message relayed twice (Postfix retrying after a
 * timeout) maps to the same record and job and is sanitized and delivered once. It is keyed with the site
 * secret (store/site-secret.ts), so holding a mail is not enough to compute its id and read its record.
 * The envelope is already canonical (domain/mailbox.ts); recipients are sorted so their order is no part.
 */
export function messageIdFor(secret: Buffer, kind: 'message' | 'file', sha256: string, envelope: Envelope, discriminator = ''): string {
  const key = [kind, sha256, envelope.from, [...envelope.to].sort().join(','), discriminator].join('\n');
  return (kind === 'message' ? 'm' : 'f') + createHmac('sha256', secret).update(key).digest('hex').slice(0, 24);
}

/**
 * The single accept path for SMTP and HTTP: original fsynced into the spool, record written, job
 * acknowledged by Redis, and only then success. Any fault before that throws a catalogue error, and what
 * this call wrote is taken back, so nothing half-written stays visible.
 */
export async function acceptOriginal(ctx: Context, input: AcceptInput): Promise<{ id: string; duplicate: boolean }> {
  const { blobs, records, queues, config, log } = ctx;
  const free = await blobs.freeBytes().catch(() => Infinity);
  if (free < config.smtp.minFreeBytes) throw new MukaikaError('INSUFFICIENT_STORAGE', `free ${free} bytes`);

  const blob = await blobs.receive('originals', input.data, input.maxBytes);
  const id = messageIdFor(ctx.siteSecret, input.kind, blob.sha256, input.envelope, input.discriminator);
  let inserted: boolean;
  try {
    inserted = await records.insertMessage({
      id, kind: input.kind, source: input.source, envelopeFrom: input.envelope.from,
      recipients: input.envelope.to, originalSha256: blob.sha256, originalSize: blob.size,
      ...(input.name ? { originalName: input.name } : {}),
      ...(input.submitter ? { submitter: input.submitter } : {}),
    }, blob.inline);
  } catch (err) {
    await dropBlobIfOrphan(ctx, blob.sha256);
    // A full disk under the database is low disk (452 4.3.1, docs/DESIGN.md §5), now that small originals are
    // written with their record; anything else from the database is a temporary fault (451).
    const e = toMukaikaError(err);
    if (e.code === 'INSUFFICIENT_STORAGE') throw e;
    throw new MukaikaError('DATABASE_UNAVAILABLE', (err as Error).message, { cause: err });
  }
  // Identical bytes already stored are kept, not rewritten (blobs.ts); retention may have moved that copy
  // aside in the meantime. Now that our record holds the content (retention puts it back for a record it
  // sees), it must be there, or the sender tries again later rather than getting a 250 for nothing.
  if (inserted && !(await blobs.has('originals', blob.sha256))) {
    await records.deleteMessage(id).catch((e: unknown) => log.error({ err: e, id }, 'could not undo record'));
    throw new MukaikaError('STORAGE_ERROR', 'original went away before it was recorded');
  }
  try {
    await queues.enqueueSanitize(id);
  } catch (err) {
    if (inserted) {
      await records.deleteMessage(id).catch((e: unknown) => log.error({ err: e, id }, 'could not undo record'));
      await dropBlobIfOrphan(ctx, blob.sha256);
    }
    throw toMukaikaError(err);
  }
  log.info({ evt: input.source === 'smtp' ? EVT.SMTP_ACCEPTED : EVT.HTTP_ACCEPTED, id, size: blob.size, rcpts: input.envelope.to.length, duplicate: !inserted }, 'accepted');
  return { id, duplicate: !inserted };
}

async function dropBlobIfOrphan(ctx: Context, sha256: string): Promise<void> {
  const needed = async (): Promise<boolean> => (await ctx.records.countByOriginal(sha256)) > 0;
  try {
    // Asked again once the blob is aside, like retention: a concurrent accept of the same bytes keeps it.
    if (!(await needed())) await ctx.blobs.removeUnlessNeeded('originals', sha256, needed);
  } catch {
    // The database is what failed: keep the blob. No record points to it, so nothing can read or send it.
  }
}
