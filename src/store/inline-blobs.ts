import { sql, type Kysely, type Transaction } from 'kysely';
import type { BlobArea } from './areas.js';
import type { DB } from './db.js';

/**
 * Bodies up to this size are kept in the database, written in the same transaction (and fsync) as the record
 * that refers to them, instead of as a file of their own. Most mail is far smaller.
 */
export const INLINE_MAX = 256 * 1024;

/** One table per area, so a deployment can grant the LGWAN-side web role the sanitized one only. */
const TABLE = { originals: 'inline_originals', sanitized: 'inline_sanitized' } as const satisfies Record<BlobArea, keyof DB>;

/**
 * Small blobs kept in the database, content-addressed like the files (SHA-256), one table per area.
 *
 * Why: a file per message costs, per message, a create, a rename and two fsyncs (file and directory; the
 * data disk may have no journal, so the directory needs its own), and creating files in one directory from
 * many sessions at once contends on the kernel's directory lock. Stored with the record, the original costs
 * a few pages of the write-ahead log, made durable by the commit that makes the record durable: one fsync
 * per batch of messages instead of two per message (BENCHMARKS.md, SMTP load).
 */
export class InlineBlobs {
  constructor(private readonly db: Kysely<DB>) {}

  /** Inside the caller's transaction: durable when that transaction is. Identical bytes already kept stay. */
  async insert(tx: Transaction<DB> | Kysely<DB>, area: BlobArea, sha256: string, data: Buffer): Promise<void> {
    await tx.insertInto(TABLE[area]).values({ sha256, data }).onConflict((oc) => oc.column('sha256').doNothing()).execute();
  }

  async get(area: BlobArea, sha256: string): Promise<Buffer | undefined> {
    const r = await this.db.selectFrom(TABLE[area]).select('data').where('sha256', '=', sha256).executeTakeFirst();
    return r ? Buffer.from(r.data) : undefined;
  }

  async has(area: BlobArea, sha256: string): Promise<boolean> {
    return (await this.db.selectFrom(TABLE[area]).select('sha256').where('sha256', '=', sha256).executeTakeFirst()) !== undefined;
  }

  async remove(area: BlobArea, sha256: string): Promise<void> {
    await this.db.deleteFrom(TABLE[area]).where('sha256', '=', sha256).execute();
  }

  /**
   * Removes an original that no unpurged record keeps, in one statement: the bytes are never only in this
   * process's memory (a failed put-back or a crash between two statements would lose the original of a mail
   * accepted meanwhile). On SQLite writers take turns, so it cannot interleave with an accept; on PostgreSQL
   * an accept still uncommitted when this runs finds its original gone at its own check (accept.ts) and
   * answers 451, so the sender retries.
   */
  async removeOrphanOriginal(sha256: string): Promise<boolean> {
    const res = await this.db.deleteFrom('inline_originals').where('sha256', '=', sha256)
      .where(({ not, exists, selectFrom }) => not(exists(selectFrom('messages').select(sql`1`.as('one'))
        .where('original_sha256', '=', sha256).where('original_purged_at', 'is', null))))
      .executeTakeFirst();
    return Number(res.numDeletedRows) > 0;
  }
}
