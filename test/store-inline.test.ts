import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import SQLite from 'better-sqlite3';
import { Kysely, sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptOriginal } from '../src/ingress/accept.js';
import { purgeOriginals } from '../src/jobs/retention.js';
import { SanitizedReader } from '../src/store/blobs.js';
import { INLINE_MAX } from '../src/store/inline-blobs.js';
import { DurableSqliteDialect, WalSync } from '../src/store/sqlite-durable.js';
import { filesUnder, openFlow, openHarness, overriding, waitFor, type Flow } from './helpers/harness.js';
import { queueOverSmtp, RawSmtp } from './helpers/smtp-client.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function mail(subject: string, bodyBytes: number): Buffer {
  const line = 'あいうえお かきくけこ 本文の行です。\r\n';
  const body = line.repeat(Math.ceil(bodyBytes / Buffer.byteLength(line)));
  return Buffer.from(`From: a@example.com\r\nTo: b@example.lg.jp\r\nSubject: ${subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n${body}`);
}

const input = (raw: Buffer) => ({
  kind: 'message' as const, source: 'smtp' as const, envelope: { from: 'a@example.com', to: ['b@example.lg.jp'] }, data: Readable.from([raw]), maxBytes: 10e6,
});

describe('SQLite: the log is fsynced by us, off the event loop, before a write is reported done', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-durable-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('syncs once per committed write or transaction, never for reads, and prepares each statement once', async () => {
    const file = path.join(dir, 'd.sqlite');
    const raw = new SQLite(file);
    raw.pragma('journal_mode = WAL');
    raw.pragma('synchronous = NORMAL');
    let prepares = 0;
    const prepare = raw.prepare.bind(raw);
    raw.prepare = ((s: string) => { prepares++; return prepare(s); }) as typeof raw.prepare;
    const dialect = new DurableSqliteDialect(raw, file);
    const db = new Kysely<{ t: { k: number; v: string } }>({ dialect });
    try {
      await sql`create table t (k integer primary key, v text)`.execute(db);
      const afterDdl = dialect.walSyncs;
      expect(afterDdl).toBe(1);

      await db.insertInto('t').values({ k: 1, v: 'いち' }).execute();
      expect(dialect.walSyncs).toBe(2);
      for (let i = 0; i < 5; i++) expect(await db.selectFrom('t').selectAll().where('k', '=', 1).execute()).toEqual([{ k: 1, v: 'いち' }]);
      expect(dialect.walSyncs).toBe(2);

      // A transaction of three writes: one sync, at COMMIT.
      await db.transaction().execute(async (tx) => {
        for (const k of [2, 3, 4]) await tx.insertInto('t').values({ k, v: String(k) }).execute();
        expect(dialect.walSyncs).toBe(2);
      });
      expect(dialect.walSyncs).toBe(3);

      // The same SELECT five times, three INSERTs of one shape: prepared once each (plus begin/commit/DDL).
      const before = prepares;
      for (let i = 0; i < 5; i++) await db.selectFrom('t').selectAll().where('k', '=', 1).execute();
      expect(prepares).toBe(before);

      // What was reported done is in the file, for another connection (another process in production).
      const other = new SQLite(file, { readonly: true });
      expect(other.prepare('select count(*) as n from t').get()).toEqual({ n: 4 });
      other.close();
      expect(raw.pragma('synchronous', { simple: true })).toBe(1);
    } finally {
      await db.destroy();
    }
  });

  it('an auto-commit INSERT … RETURNING (rows back, like a read) is synced too; a failed sync fails every later write', async () => {
    const file = path.join(dir, 'r.sqlite');
    const raw = new SQLite(file);
    raw.pragma('journal_mode = WAL');
    const dialect = new DurableSqliteDialect(raw, file);
    const db = new Kysely<{ t: { k: number; v: string } }>({ dialect });
    try {
      await sql`create table t (k integer primary key, v text)`.execute(db);
      const before = dialect.walSyncs;
      expect(await db.insertInto('t').values({ k: 1, v: 'a' }).returning('k').execute()).toEqual([{ k: 1 }]);
      expect(dialect.walSyncs).toBe(before + 1);
    } finally {
      await db.destroy();
    }
    const broken = new WalSync(path.join(dir, 'no-such-dir', 'x.sqlite-wal'));
    await expect(broken.request()).rejects.toMatchObject({ code: 'ENOENT' });
    // Final: not retried, because a later fsync could succeed over pages the failed one lost.
    await expect(broken.request()).rejects.toThrow(/not synced/);
    expect(broken.syncs).toBe(0);
  });

  it('a transaction takes the write lock at BEGIN, so one that reads first cannot lose its snapshot to another process', async () => {
    const file = path.join(dir, 'i.sqlite');
    const raw = new SQLite(file);
    raw.pragma('journal_mode = WAL');
    const db = new Kysely<{ t: { k: number; v: string } }>({ dialect: new DurableSqliteDialect(raw, file) });
    const other = new SQLite(file);
    other.pragma('busy_timeout = 0');
    try {
      await sql`create table t (k integer primary key, v text)`.execute(db);
      await db.transaction().execute(async (tx) => {
        expect(await tx.selectFrom('t').selectAll().execute()).toEqual([]);
        // Another process (another connection) writing now must wait for us, not invalidate our read.
        expect(() => other.prepare("insert into t values (9, 'other')").run()).toThrow(/locked|busy/i);
        await tx.insertInto('t').values({ k: 1, v: 'ours' }).execute();
      });
      other.prepare("insert into t values (9, 'other')").run();
      expect(await db.selectFrom('t').select('v').orderBy('k').execute()).toEqual([{ v: 'ours' }, { v: 'other' }]);
    } finally {
      other.close();
      await db.destroy();
    }
  });

  it('the database a context opens runs that way', async () => {
    const h = await openHarness();
    try {
      expect((await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(h.ctx.database.db)).rows).toEqual([{ synchronous: 1 }]);
      await h.ctx.records.insertMessage({ id: 'm1', kind: 'message', source: 'smtp', envelopeFrom: '', recipients: ['b@example.lg.jp'], originalSha256: 'a'.repeat(64), originalSize: 1 });
      const other = new SQLite(h.config.databaseUrl!.slice('sqlite:'.length), { readonly: true });
      expect(other.prepare('select status from messages').all()).toEqual([{ status: 'received' }]);
      other.close();
    } finally {
      await h.close();
    }
  });
});

describe('small originals and sanitized mails are kept with their records', () => {
  for (const db of ['sqlite', 'postgres'] as const) {
    it(`${db}: a small original goes into the record's commit, a large one into a file; both read back the same`, async () => {
      const h = await openHarness({ db });
      try {
        const small = mail('小さい', 5000);
        const large = mail('大きい', INLINE_MAX + 10_000);
        const a = await acceptOriginal(h.ctx, input(small));
        expect(filesUnder(path.join(h.dir, 'blobs', 'originals'))).toEqual([]);
        const rows = await h.ctx.database.db.selectFrom('inline_originals').selectAll().execute();
        expect(rows.map((r) => r.sha256)).toEqual([sha(small)]);
        expect(await h.ctx.database.db.selectFrom('inline_sanitized').selectAll().execute()).toEqual([]);
        expect(Buffer.from(rows[0]!.data).equals(small)).toBe(true);

        const b = await acceptOriginal(h.ctx, input(large));
        expect(filesUnder(path.join(h.dir, 'blobs', 'originals')).map((f) => path.basename(f))).toEqual([sha(large)]);
        expect(await h.ctx.database.db.selectFrom('inline_originals').select('sha256').execute()).toHaveLength(1);

        for (const [id, bytes] of [[a.id, small], [b.id, large]] as const) {
          const rec = await h.ctx.records.getMessage(id);
          expect(rec?.originalSha256).toBe(sha(bytes));
          expect((await h.ctx.blobs.get('originals', sha(bytes))).equals(bytes)).toBe(true);
          expect(await h.ctx.blobs.has('originals', sha(bytes))).toBe(true);
        }
        // The LGWAN-side area never answers for an original kept inline.
        await expect(h.ctx.blobs.get('sanitized', sha(small))).rejects.toMatchObject({ code: 'NOT_FOUND' });
        expect(readdirSync(path.join(h.dir, 'blobs', 'tmp'))).toEqual([]);
      } finally {
        await h.close();
      }
    });
  }

  it('retention removes an inline original, and keeps one a newer record of the same bytes still needs', async () => {
    const h = await openHarness({ overrides: { retention: { originalsDays: 30 } } });
    try {
      const once = await acceptOriginal(h.ctx, input(mail('一度', 3000)));
      const twice = mail('二度', 3000);
      const old2 = await acceptOriginal(h.ctx, input(twice));
      const fresh = await acceptOriginal(h.ctx, { ...input(twice), envelope: { from: 'c@example.com', to: ['b@example.lg.jp'] } });
      expect(fresh.id).not.toBe(old2.id);
      const old = new Date(Date.now() - 31 * 86_400_000).toISOString();
      await h.ctx.database.db.updateTable('messages').set({ created_at: old }).where('id', 'in', [once.id, old2.id]).execute();
      expect(await purgeOriginals(h.ctx)).toBe(2);
      const left = await h.ctx.database.db.selectFrom('inline_originals').select('sha256').execute();
      expect(left).toEqual([{ sha256: sha(twice) }]);
      expect(await purgeOriginals(h.ctx, Date.now() + 31 * 86_400_000)).toBe(1);
      expect(await h.ctx.database.db.selectFrom('inline_originals').selectAll().execute()).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('a full database is low disk: every write of the batch fails with SQLITE_FULL, and the accept answers 452', async () => {
    const h = await openHarness();
    try {
      const db = h.ctx.database.db;
      // SQLite's own "disk full", without a tmpfs: the file may not grow past its current size. SQLite rolls
      // the transaction back by itself, so the cause must survive Kysely's ROLLBACK and the savepoints.
      const pages = (await sql<{ page_count: number }>`PRAGMA page_count`.execute(db)).rows[0]!.page_count;
      await sql.raw(`PRAGMA max_page_count = ${pages}`).execute(db);
      const inserts = [1, 2, 3].map((n) => h.ctx.records.insertMessage({
        id: `full${n}`, kind: 'message', source: 'smtp', envelopeFrom: '', recipients: ['b@example.lg.jp'], originalSha256: String(n).repeat(64), originalSize: 60_000,
      }, Buffer.alloc(60_000, n)));
      for (const r of await Promise.allSettled(inserts)) expect(r).toMatchObject({ status: 'rejected', reason: { code: 'SQLITE_FULL' } });
      await expect(acceptOriginal(h.ctx, input(mail('満杯', 50_000)))).rejects.toMatchObject({ code: 'INSUFFICIENT_STORAGE' });
      expect(await db.selectFrom('messages').selectAll().execute()).toEqual([]);
      await sql.raw('PRAGMA max_page_count = 1073741823').execute(db);
      expect(await acceptOriginal(h.ctx, input(mail('満杯', 50_000)))).toMatchObject({ duplicate: false });
    } finally {
      await h.close();
    }
  });

  it('an inline original taken away before the accept checks it gives STORAGE_ERROR (451), no record', async () => {
    const h = await openHarness();
    try {
      const records = h.ctx.records;
      // Retention removing the identical older copy in the instant after this accept's commit.
      const insertMessage = async (...args: Parameters<typeof records.insertMessage>) => {
        const inserted = await records.insertMessage(...args);
        await h.ctx.blobs.remove('originals', args[0].originalSha256);
        return inserted;
      };
      const racing = overriding(records, { insertMessage });
      const raw = mail('競合', 2000);
      await expect(acceptOriginal({ ...h.ctx, records: racing }, input(raw))).rejects.toMatchObject({ code: 'STORAGE_ERROR' });
      expect(await h.ctx.database.db.selectFrom('messages').selectAll().execute()).toEqual([]);
      expect(await acceptOriginal(h.ctx, input(raw))).toMatchObject({ duplicate: false });
    } finally {
      await h.close();
    }
  });
});

describe('end to end with inline blobs', () => {
  let flow: Flow;
  beforeAll(async () => {
    flow = await openFlow();
  });
  afterAll(async () => {
    await flow?.close();
  });

  it('a large mail whose spool write fails gets its 451, and the session goes on', async () => {
    const tmp = path.join(flow.h.dir, 'blobs', 'tmp');
    rmSync(tmp, { recursive: true });
    try {
      const { client } = await RawSmtp.connect(flow.smtp.port);
      await client.cmd('EHLO mta.example');
      // Over INLINE_MAX: it must go to a file, and the temp directory is gone. A session left hanging would
      // answer nothing before the client's 20 s wait (the idle timeout is 60 s), or 421, never this 451.
      expect((await client.send('a@example.com', ['b@example.lg.jp'], mail('大きい', 4_000_000))).at(-1)).toMatch(/^451 4\.3\.0 /);
      // Small mails are kept with their record: the same session still gets a 250.
      expect((await client.send('a@example.com', ['b@example.lg.jp'], mail('小さい', 2000))).at(-1)).toMatch(/^250 2\.0\.0 queued as /);
      client.close();
    } finally {
      mkdirSync(tmp, { recursive: true });
    }
  });

  it('the web view\'s reader streams a sanitized mail kept inline, and cannot reach an original', async () => {
    const reader = new SanitizedReader(flow.h.ctx.blobs);
    const raw = mail('読み取り', 1500);
    const { id } = await acceptOriginal(flow.h.ctx, { ...input(raw), envelope: { from: 'r@example.com', to: ['b@example.lg.jp'] } });
    const rec = await waitFor(async () => { const r = await flow.h.ctx.records.getMessage(id); return r?.sanitizedSha256 ? r : undefined; });
    const chunks: Buffer[] = [];
    for await (const c of await reader.stream(rec.sanitizedSha256!)) chunks.push(c as Buffer);
    expect(sha(Buffer.concat(chunks))).toBe(rec.sanitizedSha256);
    await expect(reader.get(sha(raw))).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('the sanitized mail the relay receives is the one kept inline with the record, and no file was written', async () => {
    const id = await queueOverSmtp(flow.smtp.port, 'a@example.com', ['b@example.lg.jp'], mail('インライン', 4000));
    const got = await waitFor(() => flow.sink.mails.find((m) => m.raw.toString('latin1').includes(id)));
    const rec = await waitFor(async () => { const r = await flow.h.ctx.records.getMessage(id); return r?.status === 'delivered' ? r : undefined; });
    const kept = await flow.h.ctx.database.db.selectFrom('inline_sanitized').selectAll().where('sha256', '=', rec.sanitizedSha256!).execute();
    expect(kept).toHaveLength(1);
    expect(sha(Buffer.from(kept[0]!.data))).toBe(rec.sanitizedSha256);
    // The relay received exactly those bytes.
    expect(sha(got.raw)).toBe(rec.sanitizedSha256);
    expect(filesUnder(path.join(flow.h.dir, 'blobs'))).toEqual([]);
  });
});
