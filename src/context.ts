import type { Config } from './config/schema.js';
import { databaseUrlOf } from './config/load.js';
import type { Logger } from './log.js';
import { Queues } from './queue/queues.js';
import { BlobStore } from './store/blobs.js';
import { migrate, openDatabase, type Database } from './store/db.js';
import { InlineBlobs } from './store/inline-blobs.js';
import { Records } from './store/records.js';
import { loadSiteSecret } from './store/site-secret.js';
import { Unlocks } from './store/unlocks.js';

/** The shared services one process uses; built once at start, passed down explicitly (no singletons). */
export interface Context {
  config: Config;
  log: Logger;
  blobs: BlobStore;
  database: Database;
  records: Records;
  /** Wrong-password counts and unlock results (store/unlocks.ts). */
  unlocks: Unlocks;
  queues: Queues;
  /** Key of message ids (store/site-secret.ts); never logged. */
  siteSecret: Buffer;
}

export async function openContext(config: Config, log: Logger): Promise<Context> {
  const siteSecret = loadSiteSecret(config.siteSecret, config.dataDir);
  const blobs = new BlobStore(config.dataDir);
  await blobs.init();
  const database = openDatabase(databaseUrlOf(config));
  await migrate(database);
  blobs.attachInline(new InlineBlobs(database.db));
  const records = new Records(database);
  const queues = new Queues(config);
  return { config, log, blobs, database, records, unlocks: new Unlocks(database.db), queues, siteSecret };
}

export async function closeContext(ctx: Context): Promise<void> {
  await ctx.queues.close();
  await ctx.database.close();
}
