import { sql, type Kysely, type Transaction } from 'kysely';
import type { DB } from './db.js';

type Work = (tx: Transaction<DB>) => Promise<unknown>;

interface Pending {
  work: Work;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Most writes one commit carries: bounds the time a batch holds the database's write lock. */
const MAX_BATCH = 128;

/**
 * Group commit: write transactions requested while another commit is running (or in the same tick) are
 * carried out together, in one database transaction. Each caller's promise settles only after the whole
 * transaction has committed and is durable (SQLite's log fsynced by sqlite-durable.ts, PostgreSQL's fsync
 * at COMMIT), so one fsync serves a batch instead of one write.
 *
 * The batch first runs without savepoints. If a write throws, that transaction is rolled back and the batch
 * runs again with each write in its own SAVEPOINT: the one that throws is rolled back and rejected alone.
 * A failed COMMIT rejects every write of the batch (none of them happened).
 *
 * Why: the accept path and the workers each wrote one small transaction per message. On a disk where an
 * fsync costs 6–8 ms, and with better-sqlite3's commit blocking the event loop, that capped a gateway at
 * about 160 messages/s however many SMTP sessions were waiting (BENCHMARKS.md).
 */
export class GroupCommit {
  #queue: Pending[] = [];
  #scheduled = false;
  #running = false;
  #commits = 0;

  constructor(private readonly db: Kysely<DB>) {}

  /** Transactions committed so far (tests, diagnostics). */
  get commits(): number {
    return this.#commits;
  }

  /** Run `work` in the next batch; resolves with its result once the batch is committed. */
  run<T>(work: (tx: Transaction<DB>) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ work, resolve: resolve as (v: unknown) => void, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#running) return;
    this.#scheduled = true;
    // setImmediate: writes requested by the I/O events of this loop turn join the same batch.
    setImmediate(() => {
      this.#scheduled = false;
      void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    if (this.#running || this.#queue.length === 0) return;
    this.#running = true;
    const batch = this.#queue.splice(0, MAX_BATCH);
    try {
      let outcomes: Outcome[];
      try {
        // Most batches have no failing write: run them without savepoints (two statements fewer per write,
        // each a round trip to PostgreSQL).
        outcomes = await this.#attempt(batch, false);
      } catch (error) {
        // A write threw, so the transaction was rolled back whole: again, each write in its own savepoint,
        // so the others still commit. A lone write needs none: its error is the batch's.
        if (!(error instanceof WriteFailed) || batch.length === 1) throw error instanceof WriteFailed ? error.cause : error;
        outcomes = await this.#attempt(batch, true);
      }
      this.#commits++;
      batch.forEach((p, i) => {
        const o = outcomes[i]!;
        if (o.ok) p.resolve(o.value);
        else p.reject(o.error);
      });
    } catch (error) {
      // BEGIN or COMMIT failed, or a lone write threw: nothing of this batch is in the database. Or, with
      // SQLite, the log's fsync after COMMIT failed (sqlite-durable.ts): the rows may exist, but none was
      // reported done. A record without its 250 is re-sent by the MTA under the same id (a duplicate of
      // itself) and finished once by the recovery sweep.
      for (const p of batch) p.reject(error);
    } finally {
      this.#running = false;
      if (this.#queue.length > 0) this.#schedule();
    }
  }

  /** One transaction for the batch; with `savepoints`, a write that throws is rolled back alone. */
  async #attempt(batch: Pending[], savepoints: boolean): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    await this.db.transaction().execute(async (tx) => {
      for (const p of batch) {
        if (!savepoints) {
          try {
            outcomes.push({ ok: true, value: await p.work(tx) });
          } catch (error) {
            throw new WriteFailed(error);
          }
          continue;
        }
        await sql`SAVEPOINT gc`.execute(tx);
        try {
          const value = await p.work(tx);
          await sql`RELEASE SAVEPOINT gc`.execute(tx);
          outcomes.push({ ok: true, value });
        } catch (error) {
          try {
            await sql`ROLLBACK TO SAVEPOINT gc`.execute(tx);
            await sql`RELEASE SAVEPOINT gc`.execute(tx);
          } catch {
            // The transaction itself is gone (SQLite rolls back on a full disk or an I/O error): the whole
            // batch fails, with the error that explains it rather than "no such savepoint".
            throw error;
          }
          outcomes.push({ ok: false, error });
        }
      }
    });
    return outcomes;
  }
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** A write of the batch threw (as opposed to BEGIN or COMMIT failing): worth a second pass with savepoints. */
class WriteFailed extends Error {
  constructor(cause: unknown) {
    super('a write of the batch failed', { cause });
  }
}
