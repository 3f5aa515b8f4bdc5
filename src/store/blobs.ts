import { createHash, randomBytes } from 'node:crypto';
import { constants as fsc, createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, statfs, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { MukaikaError, toMukaikaError } from '../errors.js';

/**
 * Originals (Internet side, untrusted) and sanitized outputs live in separate areas. The LGWAN-side web
 * view gets a `SanitizedReader`, which has no code path into the originals area.
 */
export type BlobArea = 'originals' | 'sanitized';

export interface PutResult {
  sha256: string;
  size: number;
}

const SHA = /^[0-9a-f]{64}$/;

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, fsc.O_RDONLY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export class BlobStore {
  readonly root: string;
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
   * Stream into a temp file, hashing as we go; fsync; rename to the content-addressed name; fsync the
   * directory. Only then is the blob durable. `maxBytes` stops buffering (the caller maps TOO_LARGE).
   */
  async putStream(area: BlobArea, source: Readable | AsyncIterable<Buffer> | Iterable<Buffer>, maxBytes = Infinity): Promise<PutResult> {
    const tmp = path.join(this.root, 'tmp', `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const fh = await open(tmp, 'wx', 0o600).catch((e: unknown) => { throw toMukaikaError(e); });
    try {
      for await (const chunk of source as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > maxBytes) throw new MukaikaError('MESSAGE_TOO_LARGE');
        hash.update(chunk);
        await fh.write(chunk);
      }
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await rm(tmp, { force: true });
      throw toMukaikaError(err);
    }
    await fh.close();
    const sha256 = hash.digest('hex');
    try {
      await this.commit(tmp, area, sha256);
    } catch (err) {
      await rm(tmp, { force: true });
      throw toMukaikaError(err);
    }
    return { sha256, size };
  }

  async put(area: BlobArea, bytes: Buffer): Promise<PutResult> {
    return this.putStream(area, [bytes]);
  }

  private async commit(tmp: string, area: BlobArea, sha256: string): Promise<void> {
    const dest = this.pathOf(area, sha256);
    const dir = path.dirname(dest);
    await mkdir(dir, { recursive: true });
    // Same content already stored: identical bytes, keep the existing file.
    const exists = await stat(dest).then(() => true, () => false);
    if (exists) {
      await unlink(tmp);
      return;
    }
    await rename(tmp, dest);
    await fsyncDir(dir);
  }

  async get(area: BlobArea, sha256: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(area, sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new MukaikaError('NOT_FOUND', `blob ${area}/${sha256}`);
      throw toMukaikaError(err);
    }
  }

  async remove(area: BlobArea, sha256: string): Promise<void> {
    await rm(this.pathOf(area, sha256), { force: true });
  }

  /**
   * Remove a blob unless `stillNeeded()`, asked once the blob is out of sight, says otherwise. The blob is
   * first moved aside (atomically), so a writer of the same bytes that looks now finds nothing and writes its
   * own copy; a record that appeared meanwhile gets the blob put back. Used by retention, whose decision
   * (no record keeps this original) can be overtaken by an accept of identical bytes.
   */
  async removeUnlessNeeded(area: BlobArea, sha256: string, stillNeeded: () => Promise<boolean>): Promise<boolean> {
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
    return stat(this.pathOf(area, sha256)).then(() => true, () => false);
  }

  /** Free bytes on the data disk, for 452 4.3.1 before accepting more. */
  async freeBytes(): Promise<number> {
    const s = await statfs(this.root);
    return s.bavail * s.bsize;
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
  stream(sha256: string): ReadStream {
    return createReadStream(this.#store.pathOf('sanitized', sha256));
  }
}
