import { createHash, randomBytes } from 'node:crypto';
import fs, { constants as fsc, createReadStream } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, statfs, unlink } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { MukaikaError, toMukaikaError } from '../errors.js';
import type { BlobArea } from './areas.js';
import { INLINE_MAX, type InlineBlobs } from './inline-blobs.js';

export type { BlobArea } from './areas.js';

export interface PutResult {
  sha256: string;
  size: number;
}

const SHA = /^[0-9a-f]{64}$/;

const openFd = promisify(fs.open);
const writeFd = promisify(fs.write);
const fsyncFd = promisify(fs.fsync);

/** How long a statfs answer is reused (less what was written since): the free-space check on every accept. */
export const STATFS_TTL_MS = 250;

/**
 * Opening a directory to read changes nothing on disk (unlike create, write or rename, which can wait for
 * the journal while other writers fsync): done in place, it saves a trip to the thread pool; the fsync goes
 * to the pool.
 */
async function fsyncDir(dir: string): Promise<void> {
  const fd = fs.openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    await fsyncFd(fd);
  } finally {
    fs.closeSync(fd);
  }
}

async function writeAll(fd: number, chunks: readonly Buffer[]): Promise<void> {
  for (const chunk of chunks) {
    for (let off = 0; off < chunk.length;) off += (await writeFd(fd, chunk, off, chunk.length - off)).bytesWritten;
  }
}

export class BlobStore {
  readonly root: string;
  /** Shard directories known to exist (created once per process; never removed). */
  readonly #dirs = new Set<string>();
  #statfs: { at: number; free: number } | undefined;
  #inline: InlineBlobs | undefined;
  /** Bytes written since the last statfs. */
  #written = 0;
  constructor(dataDir: string) {
    this.root = path.join(dataDir, 'blobs');
  }

  async init(): Promise<void> {
    for (const area of ['originals', 'sanitized', 'tmp'] as const) await mkdir(path.join(this.root, area), { recursive: true });
  }

  pathOf(area: BlobArea, sha256: string): string {
    if (!SHA.test(sha256)) throw new MukaikaError('BAD_REQUEST', 'bad blob id');
    return path.join(this.root, area, sha256.slice(0, 2), sha256);
  }

  /**
   * Write into a temp file, hashing as we go; fsync; rename to the content-addressed name; fsync that
   * directory. Only then is the blob durable. `maxBytes` stops buffering (the caller maps TOO_LARGE).
   * Small bodies (most mail) are gathered in memory first, so the disk sees one write and the event loop a
   * handful of calls; larger ones stream to the temp file as they arrive.
   */
  async putStream(area: BlobArea, source: Readable | AsyncIterable<Buffer> | Iterable<Buffer>, maxBytes = Infinity): Promise<PutResult> {
    const tmp = path.join(this.root, 'tmp', `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    let held: Buffer[] = [];
    let fd: number | undefined;
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) throw new MukaikaError('MESSAGE_TOO_LARGE');
        hash.update(chunk);
        held.push(chunk);
        // Up to INLINE_MAX gathered in memory and written at once; past it, streamed as it arrives.
        if (size > INLINE_MAX) {
          fd ??= await openFd(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
          await writeAll(fd, held);
          held = [];
        }
      }
      fd ??= await openFd(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o600);
      await writeAll(fd, held.length > 1 ? [Buffer.concat(held)] : held);
      await fsyncFd(fd);
    } catch (err) {
      if (fd !== undefined) try { fs.closeSync(fd); } catch { /* already closed */ }
      await rm(tmp, { force: true });
      throw toMukaikaError(err);
    }
    fs.closeSync(fd);
    this.#written += size;
    const sha256 = hash.digest('hex');
    try {
      await this.commit(tmp, area, sha256);
    } catch (err) {
      await rm(tmp, { force: true });
      throw toMukaikaError(err);
    }
    return { sha256, size };
  }

  /**
   * Attach the database's store of small blobs: `receive` then hands small bodies back for the caller to
   * store with its record, and reads, checks and removals consult both places.
   */
  attachInline(inline: InlineBlobs): void {
    this.#inline = inline;
  }

  /**
   * Read a body: up to INLINE_MAX it comes back in memory (`inline`), not yet stored anywhere, for the
   * caller to write with its record in one transaction (InlineBlobs.insert); larger, it is written here like
   * `putStream` (durable on return). Without an attached inline store, always like `putStream`.
   */
  async receive(area: BlobArea, source: Readable | AsyncIterable<Buffer>, maxBytes = Infinity): Promise<PutResult & { inline?: Buffer }> {
    if (!this.#inline) return this.putStream(area, source, maxBytes);
    const it = (source as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    // However this ends early, the source is let go: an SMTP data stream still held by an unfinished
    // iteration ignores resume(), so the rest of DATA would never be read and the reply never sent.
    const release = async () => { await it.return?.(); };
    const held: Buffer[] = [];
    let size = 0;
    try {
      for (;;) {
        const r = await it.next();
        if (r.done) break;
        size += r.value.length;
        if (size > maxBytes) throw new MukaikaError('MESSAGE_TOO_LARGE');
        held.push(r.value);
        if (size > INLINE_MAX) {
          const rest = async function* (): AsyncGenerator<Buffer> {
            try {
              yield* held;
              for (let n = await it.next(); !n.done; n = await it.next()) yield n.value;
            } finally {
              await release();
            }
          };
          return await this.putStream(area, rest(), maxBytes);
        }
      }
    } catch (err) {
      await release().catch(() => undefined);
      throw toMukaikaError(err);
    }
    const bytes = held.length === 1 ? held[0]! : Buffer.concat(held);
    this.#written += size;
    return { sha256: createHash('sha256').update(bytes).digest('hex'), size, inline: bytes };
  }

  /**
   * Bytes already in memory: up to INLINE_MAX (with an inline store attached) they come back as `inline`
   * for the caller to store with its record in one transaction; larger ones are written here, durably.
   */
  async stage(area: BlobArea, bytes: Buffer): Promise<PutResult & { inline?: Buffer }> {
    if (!this.#inline || bytes.length > INLINE_MAX) return this.put(area, bytes);
    return { sha256: createHash('sha256').update(bytes).digest('hex'), size: bytes.length, inline: bytes };
  }

  async put(area: BlobArea, bytes: Buffer): Promise<PutResult> {
    return this.putStream(area, [bytes]);
  }

  /**
   * The rename always happens, and the directory is always synced, even when identical bytes are already
   * stored: that copy's writer may not have synced the directory yet, and our caller's answer must not
   * depend on its timing. Replacing a file with identical bytes changes nothing for its readers.
   */
  private async commit(tmp: string, area: BlobArea, sha256: string): Promise<void> {
    const dest = this.pathOf(area, sha256);
    const dir = path.dirname(dest);
    if (!this.#dirs.has(dir)) {
      await mkdir(dir, { recursive: true });
      this.#dirs.add(dir);
    }
    try {
      await rename(tmp, dest);
    } catch (err) {
      // A shard directory removed from outside since we made it: make it again, once.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await mkdir(dir, { recursive: true });
      await rename(tmp, dest);
    }
    await fsyncDir(dir);
  }

  /** The bytes when kept inline with a record, else undefined (a file, or nothing). */
  async inlineOf(area: BlobArea, sha256: string): Promise<Buffer | undefined> {
    return this.#inline?.get(area, sha256);
  }

  async get(area: BlobArea, sha256: string): Promise<Buffer> {
    const inline = await this.inlineOf(area, sha256);
    if (inline) return inline;
    try {
      return await readFile(this.pathOf(area, sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new MukaikaError('NOT_FOUND', `blob ${area}/${sha256}`);
      throw toMukaikaError(err);
    }
  }

  async remove(area: BlobArea, sha256: string): Promise<void> {
    await rm(this.pathOf(area, sha256), { force: true });
    await this.#inline?.remove(area, sha256);
  }

  /**
   * Remove a blob unless `stillNeeded()`, asked once the blob is out of sight, says otherwise. The blob is
   * first moved aside (atomically), so a writer of the same bytes that looks now finds nothing and writes its
   * own copy; a record that appeared meanwhile gets the blob put back. Used by retention, whose decision
   * (no record keeps this original) can be overtaken by an accept of identical bytes.
   */
  async removeUnlessNeeded(area: 'originals', sha256: string, stillNeeded: () => Promise<boolean>): Promise<boolean> {
    // An inline copy is removed by one guarded statement (inline-blobs.ts), the file as described above.
    const inline = (await this.#inline?.removeOrphanOriginal(sha256)) ?? false;
    return (await this.#removeFileUnlessNeeded(area, sha256, stillNeeded)) || inline;
  }

  async #removeFileUnlessNeeded(area: BlobArea, sha256: string, stillNeeded: () => Promise<boolean>): Promise<boolean> {
    const dest = this.pathOf(area, sha256);
    const aside = path.join(this.root, 'tmp', `aside-${randomBytes(8).toString('hex')}`);
    try {
      await rename(dest, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw toMukaikaError(err);
    }
    if (await stillNeeded().catch(() => true)) {
      // Identical bytes: replacing a copy a writer has just put there changes nothing.
      await rename(aside, dest);
      await fsyncDir(path.dirname(dest));
      return false;
    }
    await unlink(aside);
    return true;
  }

  async has(area: BlobArea, sha256: string): Promise<boolean> {
    if (await this.#inline?.has(area, sha256)) return true;
    return stat(this.pathOf(area, sha256)).then(() => true, () => false);
  }

  /** Free bytes on the data disk, for 452 4.3.1 before accepting more. */
  async freeBytes(): Promise<number> {
    const now = Date.now();
    if (!this.#statfs || now - this.#statfs.at > STATFS_TTL_MS) {
      const s = await statfs(this.root);
      this.#statfs = { at: now, free: s.bavail * s.bsize };
      this.#written = 0;
    }
    // Conservative between two statfs calls: everything written since counts as taken.
    return this.#statfs.free - this.#written;
  }
}

/** What the LGWAN-side web view may read: sanitized outputs only. */
export class SanitizedReader {
  readonly #store: BlobStore;
  constructor(store: BlobStore) {
    this.#store = store;
  }
  get(sha256: string): Promise<Buffer> {
    return this.#store.get('sanitized', sha256);
  }
  /** Kept inline with its record, or streamed from its file. */
  async stream(sha256: string): Promise<Readable> {
    const inline = await this.#store.inlineOf('sanitized', sha256);
    return inline ? Readable.from([inline]) : createReadStream(this.#store.pathOf('sanitized', sha256));
  }
}
