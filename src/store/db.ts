import { mkdirSync } from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, sql, type Generated, type Migration } from 'kysely';
import pg from 'pg';
import { migrations, type Dialect } from './migrations.js';
import { DurableSqliteDialect } from './sqlite-durable.js';

export interface MessagesTable {
  id: string;
  kind: string;
  source: string;
  status: string;
  verdict: string | null;
  envelope_from: string;
  recipients: string;
  original_sha256: string;
  original_size: number;
  original_message_id: string | null;
  /** File name of an uploaded file (kind = file). */
  original_name: string | null;
  sanitized_sha256: string | null;
  manifest: string | null;
  created_at: string;
  updated_at: string;
  /** When retention removed the original from the Internet-side store. */
  original_purged_at: string | null;
  /** API token (its id, ingress/http.ts) the record was submitted with; null for SMTP and the CLI. */
  submitter: string | null;
}

export interface StatusHistoryTable {
  seq: Generated<number>;
  message_id: string;
  status: string;
  detail: string | null;
  at: string;
}

export interface DeliveriesTable {
  message_id: string;
  /** 0 = the sanitized mail; higher = follow-up mails (unlock results) for the same message. */
  batch: number;
  recipient: string;
  /** The sanitized mail (blob in the sanitized area) this row delivers. */
  mail_sha256: string;
  status: string;
  response: string | null;
  attempts: number;
  updated_at: string;
  /** When the row was queued for delivery: lgwan.retryLifetimeMs counts from here (null on rows before 0005). */
  queued_at: string | null;
}

/** Unlock state of one held (encrypted) part: wrong-password count, and the follow-up once unlocked. */
export interface UnlocksTable {
  message_id: string;
  part_index: number;
  failures: number;
  /** held: waiting for the right password; unlocked: sanitized and sent as follow-up `batch`. */
  status: string;
  batch: number | null;
  manifest: string | null;
  updated_at: string;
  /** Attempts reserved and still being decrypted; they are not wrong answers (yet). */
  in_flight: number;
}

/** Small blobs kept with the records (inline-blobs.ts), one table per area. */
export interface InlineBlobsTable {
  sha256: string;
  data: Buffer;
}

export interface DB {
  inline_originals: InlineBlobsTable;
  inline_sanitized: InlineBlobsTable;
  unlocks: UnlocksTable;
  messages: MessagesTable;
  status_history: StatusHistoryTable;
  deliveries: DeliveriesTable;
}

export type { Dialect };

export interface Database {
  db: Kysely<DB>;
  dialect: Dialect;
  /** PostgreSQL schema of a `schema=` URL. */
  schema?: string;
  close(): Promise<void>;
}

/**
 * `sqlite:PATH` or `postgres://…`. A `schema=NAME` query parameter on a postgres URL puts every table in that
 * schema (created if missing): tests and shared clusters use it to stay apart.
 */
export function openDatabase(url: string): Database {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length);
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    const sqlite = new SQLite(file);
    sqlite.pragma('journal_mode = WAL');
    // NORMAL: the commit does not fsync the log; DurableSqliteDialect does, off the event loop, before a
    // write is reported done (same durability as FULL, without blocking the process or holding the lock).
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('busy_timeout = 5000');
    const db = new Kysely<DB>({ dialect: new DurableSqliteDialect(sqlite, file) });
    return { db, dialect: 'sqlite', close: () => db.destroy() };
  }
  const u = new URL(url);
  const schema = u.searchParams.get('schema');
  u.searchParams.delete('schema');
  if (schema !== null && !/^[a-z_][a-z0-9_]*$/.test(schema)) throw new Error('schema must be a plain identifier');
  // The search path travels in the connection's start-up packet: every connection is in the schema before
  // its first query (migrate() creates the schema).
  const pool = new pg.Pool({
    connectionString: u.toString(), max: 10, connectionTimeoutMillis: 5000, ...(schema ? { options: `-c search_path=${schema}` } : {}),
  });
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  return { db, dialect: 'postgres', ...(schema ? { schema } : {}), close: () => db.destroy() };
}

/** Brings the schema to the latest version; runs at every start. */
export async function migrate(database: Database): Promise<void> {
  if (database.schema) {
    // Two processes starting at once may both try: the loser's duplicate-key error is harmless.
    await sql`CREATE SCHEMA IF NOT EXISTS ${sql.id(database.schema)}`.execute(database.db).catch(() => undefined);
  }
  const list = migrations(database.dialect);
  const migrator = new Migrator({
    db: database.db,
    provider: { getMigrations: async () => list as Record<string, Migration> },
    // Without it, Kysely looks for its bookkeeping tables in every schema: another schema's (a test running
    // alongside) would be taken for ours.
    ...(database.schema ? { migrationTableSchema: database.schema } : {}),
  });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? '?';
    throw new Error(`database migration ${failed} failed: ${(error as Error).message ?? String(error)}`, { cause: error });
  }
}
