import { close, fdatasync, open, realpathSync } from 'node:fs';
import type SQLite from 'better-sqlite3';
import { CompiledQuery, SqliteDialect, SqliteDriver, type DatabaseConnection, type Driver, type QueryResult } from 'kysely';

/** Statements kept prepared per connection; past this the cache starts over (ad-hoc SQL cannot grow it forever). */
const STATEMENT_CACHE = 512;

/**
 * The better-sqlite3 connection as Kysely sees it: `prepare` answers from a cache keyed by SQL text, so the
 * hot queries are compiled by SQLite once per process instead of once per call (Kysely prepares every query
 * anew). A cached statement is never used by two queries at once: Kysely's driver holds a mutex on its one
 * connection for each query and each transaction.
 */
function cachedStatements(db: SQLite.Database): Pick<SQLite.Database, 'prepare' | 'close'> {
  const cache = new Map<string, SQLite.Statement>();
  return {
    prepare(source: string) {
      let stmt = cache.get(source);
      if (!stmt) {
        if (cache.size >= STATEMENT_CACHE) cache.clear();
        stmt = db.prepare(source);
        cache.set(source, stmt);
      }
      return stmt;
    },
    close: () => db.close(),
  } as Pick<SQLite.Database, 'prepare' | 'close'>;
}

/**
 * fdatasync of the write-ahead log, shared by everyone who asks while one runs: a caller that arrives
 * during a sync waits for the next one (the running sync may have started before its commit was written).
 *
 * A failed sync is final for this process. Linux reports a writeback error once: a later fsync can succeed
 * although the pages of the failed one never reached the disk, and crash recovery would then drop every
 * commit after them, 250'd ones included. So every later write fails too (451 / 452) until the role is
 * restarted and SQLite recovers the log.
 */
export class WalSync {
  #fd: number | undefined;
  #running: Promise<void> | undefined;
  #next: Promise<void> | undefined;
  #failed: Error | undefined;
  #syncs = 0;

  constructor(private readonly walPath: string) {}

  get syncs(): number {
    return this.#syncs;
  }

  request(): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    if (!this.#running) {
      this.#running = this.#once().finally(() => { this.#running = undefined; });
      return this.#running;
    }
    this.#next ??= this.#running.catch(() => undefined).then(() => {
      this.#next = undefined;
      return this.request();
    });
    return this.#next;
  }

  async #once(): Promise<void> {
    try {
      // The log exists from the first commit until the last connection closes; ours stays open meanwhile,
      // so one descriptor is good for the life of the connection.
      this.#fd ??= await new Promise<number>((resolve, reject) => open(this.walPath, 'r', (e, fd) => (e ? reject(e) : resolve(fd))));
      const fd = this.#fd;
      await new Promise<void>((resolve, reject) => fdatasync(fd, (e) => (e ? reject(e) : resolve())));
      this.#syncs++;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.#failed = Object.assign(new Error(`write-ahead log not synced (${code ?? String(err)}): no write is reported done until this process restarts`, { cause: err }), { code });
      throw this.#failed;
    }
  }

  /** Waits for a running sync, so its descriptor is never closed (and its number reused) under it. */
  async close(): Promise<void> {
    await this.#running?.catch(() => undefined);
    if (this.#fd !== undefined) close(this.#fd, () => undefined);
    this.#fd = undefined;
  }
}

/**
 * SQLite in WAL mode with `synchronous = NORMAL` (a commit writes the log but does not fsync it), plus our
 * own fdatasync of the log, off the event loop, before any write is reported done: a write that Kysely
 * resolves is on disk, as with `synchronous = FULL`, but the fsync no longer blocks the process (better-sqlite3
 * is synchronous) nor holds SQLite's write lock, which the gateway and both workers share. Commits that
 * land while a sync runs share the next one.
 *
 * "Done" is decided per statement: when the connection is not in a transaction after it, and it was COMMIT
 * (or ROLLBACK, harmlessly) or an auto-commit statement other than a plain SELECT, the log is synced before
 * its promise settles.
 *
 * Other processes can read a commit before it is synced; nothing they do with it is reported done before
 * their own writes are synced, which comes after ours in the same log.
 */
export class DurableSqliteDialect extends SqliteDialect {
  readonly #db: SQLite.Database;
  readonly #cached: SQLite.Database;
  readonly #wal: WalSync | undefined;

  constructor(db: SQLite.Database, file: string) {
    const cached = cachedStatements(db) as unknown as SQLite.Database;
    super({ database: cached });
    this.#cached = cached;
    this.#db = db;
    // SQLite keeps the log beside the database file itself: through a symlink, beside its target.
    this.#wal = file === ':memory:' ? undefined : new WalSync(`${realpathSync(file)}-wal`);
  }

  /** Log fsyncs so far (tests, diagnostics). */
  get walSyncs(): number {
    return this.#wal?.syncs ?? 0;
  }

  override createDriver(): Driver {
    return new DurableDriver(this.#cached, this.#db, this.#wal);
  }
}

class DurableDriver extends SqliteDriver {
  #wrapped: DatabaseConnection | undefined;

  constructor(database: SQLite.Database, private readonly raw: SQLite.Database, private readonly wal: WalSync | undefined) {
    super({ database });
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    const c = await super.acquireConnection();
    const { raw, wal } = this;
    this.#wrapped ??= {
      async executeQuery<R>(q: CompiledQuery): Promise<QueryResult<R>> {
        const wasInTransaction = raw.inTransaction;
        const result = await c.executeQuery<R>(q);
        // Committed: COMMIT itself, or an auto-commit statement that may write. Only a plain SELECT is
        // known not to (INSERT … RETURNING comes back with rows like a read; raw SQL could be anything).
        if (wal && !raw.inTransaction && (wasInTransaction || q.query.kind !== 'SelectQueryNode')) await wal.request();
        return result;
      },
      streamQuery: <R>(q: CompiledQuery, chunk?: number) => c.streamQuery<R>(q, chunk),
    };
    return this.#wrapped;
  }

  /**
   * BEGIN IMMEDIATE: the write lock is taken (waiting in the busy handler) before the first statement. A
   * deferred transaction that reads first (saveSanitized does) would take a snapshot, and if another
   * process committed meanwhile its first write fails at once with SQLITE_BUSY, without waiting: the job
   * would fail and be retried after a backoff. Every transaction here is for writing.
   */
  override async beginTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'));
  }

  /**
   * SQLite rolls a transaction back by itself on some errors (SQLITE_FULL, SQLITE_IOERR, …). Kysely then
   * still sends ROLLBACK, whose "no transaction is active" would replace the error that says what happened
   * (a full disk is 452, not 451).
   */
  override async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    if (this.raw.inTransaction) await super.rollbackTransaction(connection);
  }

  override async destroy(): Promise<void> {
    await this.wal?.close();
    await super.destroy();
  }
}
