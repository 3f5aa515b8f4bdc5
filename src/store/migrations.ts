import type { Kysely, Migration } from 'kysely';

export type Dialect = 'sqlite' | 'postgres';

/** Ordered by name; never edit one that has shipped, add the next. */
export function migrations(dialect: Dialect): Record<string, Migration> {
  const serial = dialect === 'postgres' ? 'serial' : 'integer';
  return {
    '0001_messages': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('messages')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('kind', 'text', (c) => c.notNull())
          .addColumn('source', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('verdict', 'text')
          .addColumn('envelope_from', 'text', (c) => c.notNull())
          .addColumn('recipients', 'text', (c) => c.notNull())
          .addColumn('original_sha256', 'text', (c) => c.notNull())
          .addColumn('original_size', 'bigint', (c) => c.notNull())
          .addColumn('original_message_id', 'text')
          .addColumn('original_name', 'text')
          .addColumn('sanitized_sha256', 'text')
          .addColumn('manifest', 'text')
          .addColumn('created_at', 'text', (c) => c.notNull())
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('messages_status').on('messages').columns(['status', 'updated_at']).execute();
        await db.schema.createIndex('messages_original').on('messages').column('original_sha256').execute();
        await db.schema
          .createTable('status_history')
          .addColumn('seq', serial, (c) => (dialect === 'postgres' ? c.primaryKey() : c.primaryKey().autoIncrement()))
          .addColumn('message_id', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('detail', 'text')
          .addColumn('at', 'text', (c) => c.notNull())
          .execute();
        await db.schema.createIndex('status_history_message').on('status_history').column('message_id').execute();
        await db.schema
          .createTable('deliveries')
          .addColumn('message_id', 'text', (c) => c.notNull())
          .addColumn('batch', 'integer', (c) => c.notNull())
          .addColumn('recipient', 'text', (c) => c.notNull())
          .addColumn('mail_sha256', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('response', 'text')
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('deliveries_pk', ['message_id', 'batch', 'recipient'])
          .execute();
      },
    },
    '0002_unlocks': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('unlocks')
          .addColumn('message_id', 'text', (c) => c.notNull())
          .addColumn('part_index', 'integer', (c) => c.notNull())
          .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('batch', 'integer')
          .addColumn('manifest', 'text')
          .addColumn('updated_at', 'text', (c) => c.notNull())
          .addPrimaryKeyConstraint('unlocks_pk', ['message_id', 'part_index'])
          .execute();
      },
    },
    '0003_original_purge': {
      async up(db: Kysely<unknown>) {
        await db.schema.alterTable('messages').addColumn('original_purged_at', 'text').execute();
      },
    },
    '0004_inline_blobs': {
      async up(db: Kysely<unknown>) {
        // One table per area (inline-blobs.ts): the LGWAN-side web role can be granted the sanitized one only.
        for (const table of ['inline_originals', 'inline_sanitized']) {
          await db.schema
            .createTable(table)
            .addColumn('sha256', 'text', (c) => c.primaryKey())
            .addColumn('data', dialect === 'postgres' ? 'bytea' : 'blob', (c) => c.notNull())
            .execute();
        }
      },
    },
    '0005_message_submitter': {
      async up(db: Kysely<unknown>) {
        // The API token a record was submitted with (ingress/http.ts): a submit-scoped token sees only its own.
        await db.schema.alterTable('messages').addColumn('submitter', 'text').execute();
      },
    },
    '0006_unlock_in_flight': {
      async up(db: Kysely<unknown>) {
        // Attempts being decrypted right now (store/unlocks.ts): counted apart from wrong answers.
        await db.schema.alterTable('unlocks').addColumn('in_flight', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      },
    },
    '0007_delivery_lifetime': {
      async up(db: Kysely<unknown>) {
        // Temporary failures are retried for a lifetime counted from when the row was queued (docs/RELIABILITY.md).
        await db.schema.alterTable('deliveries').addColumn('queued_at', 'text').execute();
        // Operators list failed deliveries by when they failed (mukaika deliveries failed, redeliver --failed-since).
        await db.schema.createIndex('deliveries_status').on('deliveries').columns(['status', 'updated_at']).execute();
      },
    },
  };
}
