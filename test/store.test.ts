import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Manifest } from '../src/domain/manifest.js';
import { BlobStore, SanitizedReader } from '../src/store/blobs.js';
import { INLINE_MAX } from '../src/store/inline-blobs.js';
import { migrate, openDatabase, type Database } from '../src/store/db.js';
import { Records } from '../src/store/records.js';
import { dropPgSchema, overriding, PG_URL } from './helpers/harness.js';

const manifest: Manifest = { id: 'm1', kind: 'message', verdict: 'sanitized', parts: [] };

describe.each(['sqlite', 'postgres'] as const)('records on %s', (dialect) => {
  let database: Database;
  let records: Records;
  let dir: string;
  const schema = `mkstore${process.pid}${Date.now() % 100000}`;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-store-'));
    database = openDatabase(dialect === 'sqlite' ? `sqlite:${path.join(dir, 'x.sqlite')}` : `${PG_URL}?schema=${schema}`);
    await migrate(database);
    await migrate(database); // a second start finds nothing to do
    records = new Records(database);
  });
  afterAll(async () => {
    await database?.close();
    if (dialect === 'postgres') await dropPgSchema(schema);
    rmSync(dir, { recursive: true, force: true });
  });

  const msg = (id: string) => ({
    id, kind: 'message' as const, source: 'smtp' as const, envelopeFrom: 'a@example.com',
    recipients: ['x@example.lg.jp', 'y@example.lg.jp'], originalSha256: 'a'.repeat(64), originalSize: 123,
  });

  it('inserts once per id and keeps the status history', async () => {
    expect(await records.insertMessage(msg('m1'))).toBe(true);
    expect(await records.insertMessage(msg('m1'))).toBe(false);
    const rec = await records.getMessage('m1');
    expect(rec).toMatchObject({ id: 'm1', status: 'received', recipients: ['x@example.lg.jp', 'y@example.lg.jp'], originalSize: 123, manifest: null });
    expect((await records.statusHistory('m1')).map((h) => h.status)).toEqual(['received']);
    expect(await records.countByOriginal('a'.repeat(64))).toBe(1);
  });

  it('saves the sanitized result with one pending delivery per recipient, once', async () => {
    await records.saveSanitized('m1', { verdict: 'sanitized', manifest, sanitizedSha256: 'b'.repeat(64), originalMessageId: '<x@y>' });
    await records.saveSanitized('m1', { verdict: 'held', manifest, sanitizedSha256: 'c'.repeat(64), originalMessageId: null });
    const rec = await records.getMessage('m1');
    expect(rec).toMatchObject({ status: 'sanitized', verdict: 'sanitized', sanitizedSha256: 'b'.repeat(64), originalMessageId: '<x@y>', manifest });
    const rows = await records.deliveries('m1');
    expect(rows.map((r) => [r.recipient, r.status, r.mailSha256])).toEqual([
      ['x@example.lg.jp', 'pending', 'b'.repeat(64)], ['y@example.lg.jp', 'pending', 'b'.repeat(64)],
    ]);
  });

  it('postmaster notices of one message get distinct batches (-1, -2, …) even when written at once', async () => {
    expect(await records.insertMessage(msg('mnotice'))).toBe(true);
    const batches = await Promise.all([1, 2, 3].map((n) => records.addNotice('mnotice', String(n).repeat(64), 'postmaster@example.lg.jp')));
    expect([...batches].sort((a, b) => a - b)).toEqual([-3, -2, -1]);
    for (const b of batches) expect((await records.deliveries('mnotice', b)).map((d) => [d.recipient, d.status])).toEqual([['postmaster@example.lg.jp', 'pending']]);
  });

  it('never changes a delivered row again', async () => {
    await records.markDelivery('m1', 0, 'x@example.lg.jp', 'delivered', '250 ok');
    await records.markDelivery('m1', 0, 'x@example.lg.jp', 'failed', '550 late');
    await records.markDelivery('m1', 0, 'y@example.lg.jp', 'pending', '450 busy');
    const rows = await records.deliveries('m1', 0);
    expect(rows.map((r) => [r.recipient, r.status, r.response, r.attempts])).toEqual([
      ['x@example.lg.jp', 'delivered', '250 ok', 1], ['y@example.lg.jp', 'pending', '450 busy', 1],
    ]);
  });

  it('group commit: concurrent writes share transactions, and each settles only with its own outcome', async () => {
    const before = records.writeCommits;
    const ids = Array.from({ length: 100 }, (_v, i) => `gc${i}`);
    const results = await Promise.all([...ids, 'gc0'].map((id) => records.insertMessage(msg(id))));
    // The duplicate of gc0 joined the same batch and saw the first insert: exactly one true for gc0.
    expect(results.filter(Boolean).length).toBe(100);
    const commits = records.writeCommits - before;
    expect(commits).toBeGreaterThanOrEqual(1);
    expect(commits).toBeLessThan(10);
    expect(await records.getMessage('gc99')).toMatchObject({ status: 'received' });

    // A write that fails (no such message: saveSanitized throws) is rolled back alone; its neighbours commit.
    const mixed = await Promise.allSettled([
      records.setStatus('gc1', 'delivered'),
      records.saveSanitized('no-such-id', { verdict: 'sanitized', manifest, sanitizedSha256: 'b'.repeat(64), originalMessageId: null }),
      records.setStatus('gc2', 'failed', 'x'),
    ]);
    expect(mixed.map((m) => m.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await records.getMessage('gc1'))?.status).toBe('delivered');
    expect((await records.statusHistory('gc2')).map((h) => h.status)).toEqual(['received', 'failed']);
    expect(await records.deliveries('no-such-id')).toEqual([]);
  });

  it('deletes a record with everything hanging off it', async () => {
    await records.insertMessage(msg('m2'));
    await records.deleteMessage('m2');
    expect(await records.getMessage('m2')).toBeUndefined();
    expect(await records.statusHistory('m2')).toEqual([]);
  });
});

describe('blob store', () => {
  let dir: string;
  let blobs: BlobStore;
  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-blobs-'));
    blobs = new BlobStore(dir);
    await blobs.init();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('stores by sha256 in separate areas; the sanitized reader reads only its area', async () => {
    const bytes = Buffer.from('原本です');
    const sha = createHash('sha256').update(bytes).digest('hex');
    expect(await blobs.put('originals', bytes)).toEqual({ sha256: sha, size: bytes.length });
    expect(await blobs.put('originals', bytes)).toEqual({ sha256: sha, size: bytes.length });
    expect(blobs.pathOf('originals', sha)).toBe(path.join(dir, 'blobs', 'originals', sha.slice(0, 2), sha));
    const reader = new SanitizedReader(blobs);
    await expect(reader.get(sha)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(readdirSync(path.join(dir, 'blobs', 'tmp'))).toEqual([]);
    expect(() => blobs.pathOf('originals', '../../etc/passwd')).toThrow();
  });

  it('stops at the size limit and leaves no temp file behind', async () => {
    const big = Readable.from([Buffer.alloc(600), Buffer.alloc(600)]);
    await expect(blobs.putStream('originals', big, 1000)).rejects.toMatchObject({ code: 'MESSAGE_TOO_LARGE' });
    expect(readdirSync(path.join(dir, 'blobs', 'tmp'))).toEqual([]);
  });
});

describe('retention of originals', () => {
  it('removes originals past retention, keeping a blob another recent record still needs', async () => {
    const { openHarness } = await import('./helpers/harness.js');
    const { purgeOriginals } = await import('../src/jobs/retention.js');
    const h = await openHarness({ overrides: { retention: { originalsDays: 30 } } });
    try {
      const shared = await h.ctx.blobs.put('originals', Buffer.from('same bytes twice'));
      const alone = await h.ctx.blobs.put('originals', Buffer.from('only once'));
      const rec = (id: string, sha: string) => ({ id, kind: 'message' as const, source: 'smtp' as const, envelopeFrom: '', recipients: ['a@example.lg.jp'], originalSha256: sha, originalSize: 1 });
      await h.ctx.records.insertMessage(rec('old1', alone.sha256));
      await h.ctx.records.insertMessage(rec('old2', shared.sha256));
      await h.ctx.records.insertMessage(rec('new1', shared.sha256));
      const old = new Date(Date.now() - 31 * 86_400_000).toISOString();
      await h.ctx.database.db.updateTable('messages').set({ created_at: old }).where('id', 'in', ['old1', 'old2']).execute();
      expect(await purgeOriginals(h.ctx)).toBe(2);
      expect(await h.ctx.blobs.has('originals', alone.sha256)).toBe(false);
      expect(await h.ctx.blobs.has('originals', shared.sha256)).toBe(true);
      expect(await purgeOriginals(h.ctx)).toBe(0);
      // Once the newer record is past retention too, the shared blob goes.
      expect(await purgeOriginals(h.ctx, Date.now() + 31 * 86_400_000)).toBe(1);
      expect(await h.ctx.blobs.has('originals', shared.sha256)).toBe(false);
    } finally {
      await h.close();
    }
  });

  it('a blob is put back when a record of the same bytes appears while retention removes it', async () => {
    const { openHarness } = await import('./helpers/harness.js');
    const h = await openHarness();
    try {
      const bytes = Buffer.from('relayed again as retention runs');
      const { sha256: sha } = await h.ctx.blobs.put('originals', bytes);
      // The race: once the blob is moved aside, an accept of the same bytes writes its copy and records it.
      const removed = await h.ctx.blobs.removeUnlessNeeded('originals', sha, async () => {
        expect(await h.ctx.blobs.has('originals', sha)).toBe(false);
        await h.ctx.blobs.put('originals', bytes);
        return true;
      });
      expect(removed).toBe(false);
      expect((await h.ctx.blobs.get('originals', sha)).equals(bytes)).toBe(true);
      expect(await h.ctx.blobs.removeUnlessNeeded('originals', sha, async () => false)).toBe(true);
      expect(await h.ctx.blobs.has('originals', sha)).toBe(false);
      expect(readdirSync(path.join(h.dir, 'blobs', 'tmp'))).toEqual([]);
    } finally {
      await h.close();
    }
  });

  it('an accept whose original (a file: too large to keep inline) vanished before it was recorded answers STORAGE_ERROR (451) and keeps no record', async () => {
    const { openHarness } = await import('./helpers/harness.js');
    const { acceptOriginal } = await import('../src/ingress/accept.js');
    const h = await openHarness();
    try {
      const store = h.ctx.blobs;
      // Retention moving the identical older copy aside right after the spool found it present.
      const racing = overriding(store, {
        receive: async (...args: Parameters<BlobStore['receive']>) => {
          const put = await store.receive(...args);
          expect(put.inline).toBeUndefined();
          await store.remove('originals', put.sha256);
          return put;
        },
      });
      const body = Buffer.from(`Subject: x\r\n\r\n${'body line\r\n'.repeat(INLINE_MAX / 8)}`);
      const input = () => ({ kind: 'message' as const, source: 'smtp' as const, envelope: { from: 'a@example.com', to: ['b@example.lg.jp'] }, data: Readable.from([body]), maxBytes: 1e7 });
      await expect(acceptOriginal({ ...h.ctx, blobs: racing }, input())).rejects.toMatchObject({ code: 'STORAGE_ERROR' });
      expect(await h.ctx.database.db.selectFrom('messages').selectAll().execute()).toEqual([]);
      // Without the race the same mail is accepted.
      expect(await acceptOriginal(h.ctx, input())).toMatchObject({ duplicate: false });
    } finally {
      await h.close();
    }
  });
});
