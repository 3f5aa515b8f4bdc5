import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { closeOfficePool } from '../src/sanitize/office/index.js';
import type { PartResult } from '../src/sanitize/types.js';
import { dispatch, testContext } from './archive-fixtures.js';
import { corpusFile, corpusList, corpusPresent } from './helpers/corpus.js';
import { inspectPdf } from './helpers/output-checks.js';

const ctx = testContext();
afterAll(async () => {
  await closeOfficePool();
});

/** Macros, DDE fields, embedded OLE objects: these must come out as pictures and nothing else. */
const ACTIVE = ['sample_with_vba.ppt', 'dde-test.docx', 'dde-test.xlsx', 'embedded-simple-2007.docx', 'embedded-simple-2007.pptx', 'embedded-simple-2007.xlsx', 'excel4_sample_macro.xlsm'];
/** Found in oletools' own test code (the `encrypted` documents are protected with this word). */
const OLETOOLS_PASSWORD = 'encrypted';

const run = (file: string, password?: string): Promise<PartResult> =>
  dispatch({ name: file, declaredType: 'application/octet-stream', bytes: readFileSync(corpusFile('office', file)), depth: 0, ...(password !== undefined ? { password } : {}) }, ctx);

/** Independent tools (qpdf, poppler) agree that a PDF is page images only: no active names, no font, no text. */
function assertImageOnlyPdf(pdf: Buffer, label: string): void {
  const seen = inspectPdf(pdf);
  expect(seen.names, `${label}: names`).toEqual([]);
  expect(seen.text.trim(), `${label}: text`).toBe('');
}

describe.skipIf(!corpusPresent)('office corpus through sanitizePart', () => {
  it('holds the files the checks below are about (a renamed file must not silently skip them)', () => {
    const files = corpusList('office');
    expect(files).toEqual(expect.arrayContaining(ACTIVE));
    expect(files.filter((f) => /^sample-(docx?|xlsx?|pptx?|od[tsp])\./.test(f)).length).toBeGreaterThan(0);
    expect(files.filter((f) => f.startsWith('encrypted.')).length).toBeGreaterThan(0);
  });

  for (const file of corpusList('office')) {
    it(`${file}: a verdict, no crash`, { timeout: 180_000 }, async () => {
      const r = await run(file);
      expect(['flattened', 'reencoded', 'converted', 'text', 'removed', 'held']).toContain(r.action);
      if (r.output) expect(r.output.bytes.length).toBeGreaterThan(0);
      if (ACTIVE.includes(file)) {
        expect(r, file).toMatchObject({ action: 'converted', reason: 'OFFICE_CONVERTED' });
        expect(r.output!.type).toBe('application/pdf');
        assertImageOnlyPdf(r.output!.bytes, file);
      }
      if (/^sample-(docx?|xlsx?|pptx?|od[tsp])\./.test(file)) {
        expect(r.action, file).toBe('converted');
      }
      if (file.startsWith('encrypted.')) expect(r).toMatchObject({ action: 'held', reason: 'ENCRYPTED' });
    });
  }

  it('neutralises the DDE formula in dde-in-csv.csv', async () => {
    const r = await run('dde-in-csv.csv');
    expect(r.action).toBe('text');
    const text = r.output!.bytes.toString('utf8');
    const cells = text.split(/\r?\n/).flatMap((l) => l.split(','));
    expect(cells.some((c) => /^["']?[=+\-@]/.test(c.trim()) && !/^'/.test(c.trim()))).toBe(false);
  });

  for (const file of ['encrypted.docx', 'encrypted.xlsx']) {
    it(`${file}: wrong password refused, right password unlocks into an image-only PDF`, { timeout: 180_000 }, async () => {
      expect(await run(file, 'not-the-password')).toMatchObject({ action: 'held', reason: 'WRONG_PASSWORD' });
      const r = await run(file, OLETOOLS_PASSWORD);
      expect(r).toMatchObject({ action: 'converted', reason: 'OFFICE_CONVERTED' });
      assertImageOnlyPdf(r.output!.bytes, `unlocked-${file}`);
    });
  }
});
