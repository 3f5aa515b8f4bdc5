import type { Kysely, Transaction } from 'kysely';
import type { Manifest, Verdict } from '../domain/manifest.js';
import type { DB, Database, DeliveriesTable, MessagesTable } from './db.js';
import { GroupCommit } from './group-commit.js';
import { InlineBlobs } from './inline-blobs.js';

/**
 * Message status, in order. `held` and `failed` are terminal with a reason in the history;
 * `delivered` means every recipient of batch 0 is delivered or permanently failed.
 */
export type MessageStatus = 'received' | 'sanitized' | 'delivered' | 'failed';
export type DeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface MessageRecord {
  id: string;
  kind: 'message' | 'file';
  source: 'smtp' | 'http' | 'cli';
  status: MessageStatus;
  verdict: Verdict | null;
  envelopeFrom: string;
  recipients: string[];
  originalSha256: string;
  originalSize: number;
  originalMessageId: string | null;
  originalName: string | null;
  sanitizedSha256: string | null;
  manifest: Manifest | null;
  createdAt: string;
  updatedAt: string;
  /** API token id the record was submitted with; null for SMTP and the CLI. */
  submitter: string | null;
}

export interface NewMessage {
  id: string;
  kind: 'message' | 'file';
  source: 'smtp' | 'http' | 'cli';
  envelopeFrom: string;
  recipients: string[];
  originalSha256: string;
  originalSize: number;
  originalName?: string;
  submitter?: string;
}

export interface DeliveryRecord {
  messageId: string;
  batch: number;
  recipient: string;
  mailSha256: string;
  status: DeliveryStatus;
  response: string | null;
  attempts: number;
  /** Start of the retry lifetime (when the row was queued, or put back by redeliver). */
  queuedAt: string;
  updatedAt: string;
}

const now = () => new Date().toISOString();

function toDelivery(r: DeliveriesTable): DeliveryRecord {
  return {
    messageId: r.message_id, batch: r.batch, recipient: r.recipient, mailSha256: r.mail_sha256,
    status: r.status as DeliveryStatus, response: r.response, attempts: r.attempts,
    queuedAt: r.queued_at ?? r.updated_at, updatedAt: r.updated_at,
  };
}

function toRecord(r: MessagesTable): MessageRecord {
  return {
    id: r.id,
    kind: r.kind as MessageRecord['kind'],
    source: r.source as MessageRecord['source'],
    status: r.status as MessageStatus,
    verdict: r.verdict as Verdict | null,
    envelopeFrom: r.envelope_from,
    recipients: JSON.parse(r.recipients) as string[],
    originalSha256: r.original_sha256,
    originalSize: Number(r.original_size),
    originalMessageId: r.original_message_id,
    originalName: r.original_name,
    sanitizedSha256: r.sanitized_sha256,
    manifest: r.manifest ? (JSON.parse(r.manifest) as Manifest) : null,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    submitter: r.submitter ?? null,
  };
}

/** Message records, their status history and one delivery row per recipient, over Kysely. */
export class Records {
  readonly db: Kysely<DB>;
  /** The hot writes (accept, sanitize, deliver) share commits: see group-commit.ts. */
  readonly #writes: GroupCommit;
  readonly #inline: InlineBlobs;
  constructor(database: Database) {
    this.db = database.db;
    this.#writes = new GroupCommit(this.db);
    this.#inline = new InlineBlobs(this.db);
  }

  /** Transactions the shared writes have committed (tests, diagnostics). */
  get writeCommits(): number {
    return this.#writes.commits;
  }

  /**
   * Inserts unless a record with this id exists; true when this call created it. `inlineOriginal`: the
   * original's bytes, kept in the database in the same transaction (inline-blobs.ts).
   */
  async insertMessage(m: NewMessage, inlineOriginal?: Buffer): Promise<boolean> {
    const at = now();
    return this.#writes.run(async (tx) => {
      const res = await tx
        .insertInto('messages')
        .values({
          id: m.id, kind: m.kind, source: m.source, status: 'received', verdict: null,
          envelope_from: m.envelopeFrom, recipients: JSON.stringify(m.recipients),
          original_sha256: m.originalSha256, original_size: m.originalSize, original_message_id: null,
          original_name: m.originalName ?? null, sanitized_sha256: null, manifest: null, created_at: at, updated_at: at, original_purged_at: null,
          submitter: m.submitter ?? null,
        })
        .onConflict((oc) => oc.column('id').doNothing())
        .executeTakeFirst();
      const inserted = Number(res.numInsertedOrUpdatedRows ?? 0n) > 0;
      if (inserted) {
        if (inlineOriginal) await this.#inline.insert(tx, 'originals', m.originalSha256, inlineOriginal);
        await this.history(tx, m.id, 'received', null, at);
      }
      return inserted;
    });
  }

  /** Undo of insertMessage when the job could not be queued: nothing half-written stays visible. */
  async deleteMessage(id: string): Promise<void> {
    await this.#writes.run(async (tx) => {
      await tx.deleteFrom('deliveries').where('message_id', '=', id).execute();
      await tx.deleteFrom('status_history').where('message_id', '=', id).execute();
      await tx.deleteFrom('messages').where('id', '=', id).execute();
    });
  }

  async getMessage(id: string): Promise<MessageRecord | undefined> {
    const r = await this.db.selectFrom('messages').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toRecord(r) : undefined;
  }

  /** How many records keep this original: a blob is removed only when none does. */
  async countByOriginal(sha256: string): Promise<number> {
    const r = await this.db.selectFrom('messages').select((eb) => eb.fn.countAll<number>().as('n'))
      .where('original_sha256', '=', sha256).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async setStatus(id: string, status: MessageStatus, detail: string | null = null): Promise<void> {
    const at = now();
    await this.#writes.run(async (tx) => {
      await tx.updateTable('messages').set({ status, updated_at: at }).where('id', '=', id).execute();
      await this.history(tx, id, status, detail, at);
    });
  }

  /**
   * Sanitized result and one pending delivery per recipient, in one transaction. Idempotent. `inlineMail`:
   * the sanitized mail's bytes (BlobStore.stage), kept in the database in that same transaction.
   */
  async saveSanitized(id: string, s: { verdict: Verdict; manifest: Manifest; sanitizedSha256: string; originalMessageId: string | null; inlineMail?: Buffer | undefined }): Promise<void> {
    const at = now();
    await this.#writes.run(async (tx) => {
      const row = await tx.selectFrom('messages').select(['status', 'recipients']).where('id', '=', id).executeTakeFirstOrThrow();
      if (row.status !== 'received') return;
      if (s.inlineMail) await this.#inline.insert(tx, 'sanitized', s.sanitizedSha256, s.inlineMail);
      await tx.updateTable('messages').set({
        status: 'sanitized', verdict: s.verdict, manifest: JSON.stringify(s.manifest),
        sanitized_sha256: s.sanitizedSha256, original_message_id: s.originalMessageId, updated_at: at,
      }).where('id', '=', id).execute();
      await this.#addDeliveries(tx, id, 0, s.sanitizedSha256, JSON.parse(row.recipients) as string[], at);
      await this.history(tx, id, 'sanitized', s.verdict, at);
    });
  }

  /** Inside a shared-commit transaction only: callers go through saveSanitized or addFollowUp. */
  async #addDeliveries(tx: Transaction<DB>, id: string, batch: number, mailSha256: string, recipients: string[], at = now()): Promise<void> {
    if (recipients.length === 0) return;
    await tx.insertInto('deliveries')
      .values(recipients.map((recipient) => ({
        message_id: id, batch, recipient, mail_sha256: mailSha256, status: 'pending', response: null, attempts: 0, updated_at: at, queued_at: at,
      })))
      .onConflict((oc) => oc.columns(['message_id', 'batch', 'recipient']).doNothing())
      .execute();
  }

  /**
   * The deliveries of a batch other than 0 (an unlock's follow-up mail, or a postmaster notice), one pending
   * row per recipient, through the shared commits. Idempotent per (message, batch, recipient).
   */
  async addFollowUp(id: string, batch: number, mailSha256: string, recipients: string[]): Promise<void> {
    await this.#writes.run((tx) => this.#addDeliveries(tx, id, batch, mailSha256, recipients));
  }

  /** Records still to be sanitized or delivered, untouched since `before` (the recovery sweep, jobs/recovery.ts). */
  async unfinished(before: string, limit = 1000): Promise<Pick<MessageRecord, 'id' | 'status' | 'kind'>[]> {
    const rows = await this.db.selectFrom('messages').select(['id', 'status', 'kind'])
      .where('status', 'in', ['received', 'sanitized']).where('updated_at', '<', before).limit(limit).execute();
    return rows.map((r) => ({ id: r.id, status: r.status as MessageStatus, kind: r.kind as MessageRecord['kind'] }));
  }

  /** Follow-up and notice batches (batch != 0) with a delivery pending since before `before`. */
  async pendingFollowUps(before: string, limit = 1000): Promise<{ messageId: string; batch: number }[]> {
    const rows = await this.db.selectFrom('deliveries').select(['message_id', 'batch']).distinct()
      .where('status', '=', 'pending').where('batch', '!=', 0).where('updated_at', '<', before).limit(limit).execute();
    return rows.map((r) => ({ messageId: r.message_id, batch: r.batch }));
  }

  /** Records whose original arrived before `cutoff` and is not purged yet (retention, jobs/retention.ts). */
  async originalsDue(cutoff: string, limit = 1000): Promise<{ id: string; originalSha256: string }[]> {
    const rows = await this.db.selectFrom('messages').select(['id', 'original_sha256'])
      .where('created_at', '<', cutoff).where('original_purged_at', 'is', null).limit(limit).execute();
    return rows.map((r) => ({ id: r.id, originalSha256: r.original_sha256 }));
  }

  async markOriginalPurged(id: string, at: string): Promise<void> {
    await this.#writes.run(async (tx) => {
      await tx.updateTable('messages').set({ original_purged_at: at }).where('id', '=', id).execute();
    });
  }

  /** Whether an unpurged record still keeps the original with these bytes. */
  async originalKept(sha256: string): Promise<boolean> {
    return (await this.db.selectFrom('messages').select('id')
      .where('original_sha256', '=', sha256).where('original_purged_at', 'is', null).executeTakeFirst()) !== undefined;
  }

  async deliveries(id: string, batch?: number): Promise<DeliveryRecord[]> {
    let q = this.db.selectFrom('deliveries').selectAll().where('message_id', '=', id);
    if (batch !== undefined) q = q.where('batch', '=', batch);
    const rows = await q.orderBy('batch').orderBy('recipient').execute();
    return rows.map(toDelivery);
  }

  /** Failed deliveries, oldest failure first: of one message, or failed at or after `since` (ISO time). */
  async failedDeliveries(f: { id?: string; since?: string; limit?: number }): Promise<DeliveryRecord[]> {
    let q = this.db.selectFrom('deliveries').selectAll().where('status', '=', 'failed');
    if (f.id !== undefined) q = q.where('message_id', '=', f.id);
    if (f.since !== undefined) q = q.where('updated_at', '>=', f.since);
    const rows = await q.orderBy('updated_at').orderBy('message_id').orderBy('batch').orderBy('recipient').limit(f.limit ?? 10_000).execute();
    return rows.map(toDelivery);
  }

  /**
   * Puts failed deliveries back to pending with a new retry lifetime (the failure's reply stays until the
   * next attempt replaces it), and a message whose batch 0 is among them back to `sanitized`, so its status
   * is decided again. Returns the (message, batch) pairs that need a delivery job.
   */
  async requeueFailed(rows: readonly Pick<DeliveryRecord, 'messageId' | 'batch' | 'recipient'>[], detail: string): Promise<{ messageId: string; batch: number }[]> {
    const at = now();
    const jobs = new Map<string, { messageId: string; batch: number }>();
    await this.#writes.run(async (tx) => {
      for (const r of rows) {
        const res = await tx.updateTable('deliveries').set({ status: 'pending', queued_at: at, updated_at: at })
          .where('message_id', '=', r.messageId).where('batch', '=', r.batch).where('recipient', '=', r.recipient)
          .where('status', '=', 'failed').executeTakeFirst();
        if (Number(res.numUpdatedRows) > 0) jobs.set(`${r.messageId}\n${r.batch}`, { messageId: r.messageId, batch: r.batch });
      }
      for (const j of jobs.values()) {
        if (j.batch !== 0) continue;
        const res = await tx.updateTable('messages').set({ status: 'sanitized', updated_at: at })
          .where('id', '=', j.messageId).where('status', 'in', ['delivered', 'failed']).executeTakeFirst();
        if (Number(res.numUpdatedRows) > 0) await this.history(tx, j.messageId, 'sanitized', detail, at);
      }
    });
    return [...jobs.values()];
  }

  /**
   * A postmaster notice as the message's next notice batch (-1, -2, …), chosen and written in one write: two
   * batches of one message failing at once must get two notices, not one number twice (the second insert
   * would be a no-op on the unique key). A number another writer took meanwhile is skipped. Returns the batch.
   */
  async addNotice(id: string, mailSha256: string, postmaster: string): Promise<number> {
    return this.#writes.run(async (tx) => {
      const r = await tx.selectFrom('deliveries').select((eb) => eb.fn.min<number>('batch').as('b'))
        .where('message_id', '=', id).executeTakeFirst();
      let batch = Math.min(r?.b === null || r?.b === undefined ? 0 : Number(r.b), 0) - 1;
      const at = now();
      for (;; batch--) {
        const res = await tx.insertInto('deliveries')
          .values({ message_id: id, batch, recipient: postmaster, mail_sha256: mailSha256, status: 'pending', response: null, attempts: 0, updated_at: at, queued_at: at })
          .onConflict((oc) => oc.columns(['message_id', 'batch', 'recipient']).doNothing())
          .executeTakeFirst();
        if (Number(res.numInsertedOrUpdatedRows ?? 0) > 0) return batch;
      }
    });
  }

  /** Records one attempt's outcome for one recipient. A delivered row is never changed again. */
  async markDelivery(id: string, batch: number, recipient: string, status: DeliveryStatus, response: string | null): Promise<void> {
    await this.#writes.run((tx) => tx.updateTable('deliveries')
      .set((eb) => ({ status, response, attempts: eb('attempts', '+', 1), updated_at: now() }))
      .where('message_id', '=', id).where('batch', '=', batch).where('recipient', '=', recipient)
      .where('status', '!=', 'delivered')
      .execute());
  }

  async history(tx: Transaction<DB> | Kysely<DB>, id: string, status: string, detail: string | null, at = now()): Promise<void> {
    await tx.insertInto('status_history').values({ message_id: id, status, detail, at }).execute();
  }

  async statusHistory(id: string): Promise<{ status: string; detail: string | null; at: string }[]> {
    return this.db.selectFrom('status_history').select(['status', 'detail', 'at'])
      .where('message_id', '=', id).orderBy('seq').execute();
  }
}
