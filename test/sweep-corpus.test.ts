import { readFileSync } from 'node:fs';
import os from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import { sha256 } from '../src/sanitize/hash.js';
import { sanitizeMessage } from '../src/sanitize/pipeline.js';
import { corpusFile, corpusList, corpusPresent } from './helpers/corpus.js';
import { checked, messageProblems, outputProblems } from './helpers/fault-outputs.js';

const config = loadConfig({ env: {}, overrides: { dataDir: os.tmpdir(), log: { level: 'silent' } } });
const ctx = { config, log: silentLogger };
const verdicts: string[] = [];

/**
 * Every corpus file through the pipeline API: mails through sanitizeMessage, everything else as a
 * bare attachment through sanitizePart. No throw, a verdict for each, and every output passes the independent
 * checks (qpdf, sharp, byte scans) in fault-outputs.ts.
 */
describe.skipIf(!corpusPresent)('sweep: every corpus file gets a verdict and only inert output', () => {
  afterAll(() => {
    console.log(`corpus sweep: ${verdicts.length} files; outputs checked ${JSON.stringify(checked)}\n${verdicts.join('\n')}`);
  });

  it.each(corpusList('mail'))('mail/%s', async (name) => {
    const raw = readFileSync(corpusFile('mail', name));
    const res = await sanitizeMessage(`mcorpus${name}`, raw, ctx);
    verdicts.push(`mail/${name}: ${res.manifest.verdict} ${res.manifest.parts.map((p) => `${p.action}:${p.reason}`).join(' ')}`);
    expect(await messageProblems(res)).toEqual([]);
  }, 120_000);

  const files = ['pdf', 'office', 'images'].flatMap((d) => corpusList(d).map((f) => [d, f] as const));
  it.each(files)('%s/%s', async (dir, name) => {
    const bytes = readFileSync(corpusFile(dir, name));
    const res = await sanitizePart({ name, declaredType: 'application/octet-stream', bytes, depth: 0 }, ctx);
    verdicts.push(`${dir}/${name}: ${res.action}:${res.reason}${res.output ? ` → ${res.output.type} ${res.output.bytes.length} B` : ''}`);
    expect(res.action).toMatch(/^(flattened|reencoded|converted|text|removed|held)$/);
    if (res.output) {
      expect(['removed', 'held']).not.toContain(res.action);
      if (!res.output.type.startsWith('text/')) expect(sha256(res.output.bytes)).not.toBe(sha256(bytes));
      expect(await outputProblems(res.output)).toEqual([]);
    }
  }, 180_000);
});
