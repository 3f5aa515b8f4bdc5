import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { Kysely } from 'kysely';
import { MukaikaError } from '../errors.js';
import type { DB } from './db.js';

const SHA = /^[0-9a-f]{64}$/;

/**
 * The sanitized area, read-only, for the LGWAN-side web role (docs/DESIGN.md, "Roles own their use cases").
 * A class of its own, not a view of BlobStore: it knows one directory (`<dataDir>/blobs/sanitized`) and one
 * table (`inline_sanitized`) and has no area parameter, so nothing built from it can name an original. Same
 * layout as BlobStore writes (blobs.ts: `<area>/<sha[0..2]>/<sha>`, inline-blobs.ts: one table per area).
 */
export class SanitizedArea {
  readonly #dir: string;
  readonly #db: Kysely<DB>;

  constructor(dataDir: string, db: Kysely<DB>) {
    this.#dir = path.join(dataDir, 'blobs', 'sanitized');
    this.#db = db;
  }

  #fileOf(sha256: string): string {
    if (!SHA.test(sha256)) throw new MukaikaError('BAD_REQUEST', 'bad blob id');
    return path.join(this.#dir, sha256.slice(0, 2), sha256);
  }

  async #inline(sha256: string): Promise<Buffer | undefined> {
    const r = await this.#db.selectFrom('inline_sanitized').select('data').where('sha256', '=', sha256).executeTakeFirst();
    return r ? Buffer.from(r.data) : undefined;
  }

  async get(sha256: string): Promise<Buffer> {
    const file = this.#fileOf(sha256);
    const inline = await this.#inline(sha256);
    if (inline) return inline;
    try {
      return await readFile(file);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new MukaikaError('NOT_FOUND', `no sanitized blob ${sha256}`);
      throw err;
    }
  }

  /** Kept inline with its record, or streamed from its file. */
  async stream(sha256: string): Promise<Readable> {
    const file = this.#fileOf(sha256);
    const inline = await this.#inline(sha256);
    return inline ? Readable.from([inline]) : createReadStream(file);
  }
}
