import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import path from 'node:path';
import { MukaikaError } from '../errors.js';

export const SITE_SECRET_FILE = 'site-secret';

/**
 * The key of message ids (ingress/accept.ts). The configured `siteSecret` when set; otherwise one
 * generated into `<dataDir>/site-secret` (0600) on first start and read from there afterwards, so the
 * ids of a site stay stable across restarts. Never logged, never part of a record.
 */
export function loadSiteSecret(configured: string, dataDir: string): Buffer {
  if (configured) return Buffer.from(configured, 'utf8');
  const file = path.join(dataDir, SITE_SECRET_FILE);
  mkdirSync(dataDir, { recursive: true });
  try {
    // 'wx': of two processes starting at once on one data dir, one creates and both read that one.
    const fd = openSync(file, 'wx', 0o600);
    try {
      writeSync(fd, `${randomBytes(32).toString('hex')}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const secret = readFileSync(file, 'utf8').trim();
  // A half-written file (crash between create and fsync) must not silently key ids with nothing.
  if (!/^[0-9a-f]{64}$/.test(secret)) throw new MukaikaError('CONFIG_INVALID', `${file}: not a site secret (64 hex digits); remove it to generate a new one`);
  return Buffer.from(secret, 'utf8');
}
