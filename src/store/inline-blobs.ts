import type { Kysely, Transaction } from 'kysely';
import type { BlobArea } from './blobs.js';
import type { DB } from './db.js';

/**
 * Bodies up to this size are kept in the database, written in the same transaction (and fsync) as the record
 * that refers to them, instead of as a file of their own. Most mail is far smaller.
 */
export const INLINE_MAX = 256 * 1024;

/**
 * Small blobs kept in the database, content-addressed like the files (area + SHA-256).
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
    await tx.insertInto('inline_blobs').values({ area, sha256, data })
      .onConflict((oc) => oc.columns(['area', 'sha256']).doNothing()).execute();
  }

  async get(area: BlobArea, sha256: string): Promise<Buffer | undefined> {
    const r = await this.db.selectFrom('inline_blobs').select('data').where('area', '=', area).where('sha256', '=', sha256).executeTakeFirst();
    return r ? Buffer.from(r.data) : undefined;
  }

  async has(area: BlobArea, sha256: string): Promise<boolean> {
    return (await this.db.selectFrom('inline_blobs').select('sha256').where('area', '=', area).where('sha256', '=', sha256).executeTakeFirst()) !== undefined;
  }

  async remove(area: BlobArea, sha256: string): Promise<void> {
    await this.db.deleteFrom('inline_blobs').where('area', '=', area).where('sha256', '=', sha256).execute();
  }

  /** Same protocol as the files (blobs.ts): taken out first, then asked, and put back if still needed. */
  async removeUnlessNeeded(area: BlobArea, sha256: string, stillNeeded: () => Promise<boolean>): Promise<boolean> {
    const data = await this.get(area, sha256);
    if (!data) return false;
    await this.remove(area, sha256);
    if (await stillNeeded().catch(() => true)) {
      await this.insert(this.db, area, sha256, data);
      return false;
    }
    return true;
  }
}
