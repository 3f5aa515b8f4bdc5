import os from 'node:os';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { HANDLERS, sanitizePart, type Handler } from '../src/sanitize/parts.js';
import { sanitizeMessage } from '../src/sanitize/pipeline.js';
import type { Kind } from '../src/sanitize/classify.js';
import { messageProblems } from './helpers/fault-outputs.js';

const config = loadConfig({ env: {}, overrides: { dataDir: os.tmpdir(), log: { level: 'silent' } } });
const ctx = { config, log: silentLogger };
const saved = new Map<Kind, Handler>();
function replace(kind: Kind, h: Handler): void {
  if (!saved.has(kind)) saved.set(kind, HANDLERS[kind]);
  HANDLERS[kind] = h;
}

const CSV = Buffer.from('a,b\r\n1,2\r\n');
const MAIL = Buffer.from([
  'From: a@example.com', 'To: b@example.lg.jp', 'Subject: fail closed', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary="b"', '',
  '--b', 'Content-Type: text/plain', '', 'body', '--b', 'Content-Type: text/csv; name="x.csv"', 'Content-Disposition: attachment; filename="x.csv"', '',
  'a,b', '1,2', '--b--', '',
].join('\r\n'));

/** Fail closed (docs/DESIGN.md §1): whatever goes wrong inside a part's processing, that part is held or removed, never passed. */
describe('sweep: an exception anywhere in a part means held, never passed', () => {
  afterEach(() => {
    for (const [k, h] of saved) HANDLERS[k] = h;
    saved.clear();
  });

  const faulty: [string, Handler][] = [
    ['throws', async () => { throw new Error('converter exploded'); }],
    ['throws a non-Error', async () => { throw 'string'; }],
    ['returns the input bytes as output', async (input) => ({ detectedType: 'text/csv', action: 'text', reason: 'TEXT_DECODED', output: { name: 'x.csv', type: 'text/csv', bytes: input.bytes } })],
    ['rejects after a delay', () => new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 20))],
  ];

  it.each(faulty)('a handler that %s: the part is held with INTERNAL_ERROR and has no output', async (_label, h) => {
    replace('csv', h);
    const res = await sanitizePart({ name: 'x.csv', declaredType: 'text/csv', bytes: CSV, depth: 0 }, ctx);
    expect(res).toMatchObject({ action: 'held', reason: 'INTERNAL_ERROR' });
    expect(res.output).toBeUndefined();
  });

  it.each(faulty)('in a mail, a handler that %s: the attachment is held and not in the sanitized mail', async (_label, h) => {
    replace('csv', h);
    const res = await sanitizeMessage('mfailclosed', MAIL, ctx);
    expect(res.manifest.verdict).toBe('held');
    expect(res.manifest.parts).toMatchObject([{ action: 'held', reason: 'INTERNAL_ERROR' }]);
    expect(res.outputs).toEqual([]);
    expect(await messageProblems(res)).toEqual([]);
  });

  it('an output attached to a removed or held result never reaches the mail', async () => {
    for (const action of ['removed', 'held'] as const) {
      replace('csv', async () => ({ detectedType: 'text/csv', action, reason: 'UNKNOWN_TYPE', output: { name: 'x.csv', type: 'text/csv', bytes: Buffer.from('leak') } }));
      const res = await sanitizeMessage('mfailclosed2', MAIL, ctx);
      expect(res.outputs).toEqual([]);
      expect(res.mail.toString('latin1')).not.toContain('bGVhaw');
      expect(res.mail.toString('latin1')).not.toMatch(/\bleak\b/);
    }
  });
});
