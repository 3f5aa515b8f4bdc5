import type { Config } from '../config/schema.js';
import { databaseUrlOf } from '../config/load.js';
import type { Logger } from '../log.js';
import { openDatabase } from '../store/db.js';
import { SanitizedArea } from '../store/sanitized-area.js';

/**
 * What the LGWAN-side web role runs on (docs/DESIGN.md, "Roles own their use cases"): the sanitized area and
 * nothing else of the store. Built without `context.ts`, so the web entry never loads the blob store, the
 * originals area, the queues or a sanitizer (test/web-role.test.ts checks the module graph and the object).
 * It does not migrate the database: the Internet-side roles own the schema.
 */
export interface WebContext {
  config: Config;
  log: Logger;
  sanitized: SanitizedArea;
  close(): Promise<void>;
}

export function openWebContext(config: Config, log: Logger): WebContext {
  const database = openDatabase(databaseUrlOf(config));
  return { config, log, sanitized: new SanitizedArea(config.dataDir, database.db), close: () => database.close() };
}
