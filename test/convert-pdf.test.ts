import { readFileSync } from 'node:fs';
import * as mupdf from 'mupdf';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { flattenPdf } from '../src/sanitize/convert/pdf.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import { pdfEngine, stopRendererSpares } from '../src/sanitize/render/renderer.js';
import { corpusFile, corpusList, corpusPresent } from './helpers/corpus.js';
import { inspectPdf, popplerGray } from './helpers/output-checks.js';
import { activePdf, minimalPdf } from './helpers/pdf-fixtures.js';

const config = loadConfig({ env: {}, overrides: {} });
const ctx = { config, log: silentLogger };
afterAll(() => stopRendererSpares());

function expectClean(pdf: Buffer, pages: number): void {
  const seen = inspectPdf(pdf);
  expect(seen.names).toEqual([]);
  expect(seen.text.trim()).toBe('');
  expect(seen.pages).toBe(pages);
  expect(seen.info).toMatch(/Producer:\s+Mukaika/);
  expect(seen.info).not.toMatch(/CreationDate|ModDate|Author|Title/);
}

describe('PDF flattening (generated fixtures)', () => {
  it('drops JavaScript, forms, links and attachments, keeps the page size', async () => {
    const r = await sanitizePart({ name: '見積書.pdf', declaredType: 'application/pdf', bytes: await activePdf(), depth: 0 }, ctx);
    expect(r).toMatchObject({ detectedType: 'application/pdf', action: 'flattened', reason: 'PDF_FLATTENED' });
    expect(r.output?.name).toBe('見積書.pdf');
    expectClean(r.output!.bytes, 1);
    const doc = mupdf.Document.openDocument(r.output!.bytes, 'application/pdf');
    const b = doc.loadPage(0).getBounds();
    expect(b[2]! - b[0]!).toBeCloseTo(595, 0);
    expect(b[3]! - b[1]!).toBeCloseTo(842, 0);
  });

  it('holds an encrypted PDF unless the password is given', async () => {
    // Encrypted with qpdf (independent tool), user password "pw".
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/mk-enc-');
    writeFileSync(`${dir}/in.pdf`, minimalPdf('secret'));
    execFileSync('qpdf', ['--encrypt', 'pw', 'owner', '256', '--', `${dir}/in.pdf`, `${dir}/enc.pdf`]);
    const enc = readFileSync(`${dir}/enc.pdf`);
    expect(await sanitizePart({ name: 'e.pdf', declaredType: '', bytes: enc, depth: 0 }, ctx)).toMatchObject({ action: 'held', reason: 'ENCRYPTED' });
    expect(await flattenPdf(enc, ctx, { password: 'wrong' })).toMatchObject({ action: 'held', reason: 'ENCRYPTED' });
    const ok = await sanitizePart({ name: 'e.pdf', declaredType: '', bytes: enc, depth: 0, password: 'pw' }, ctx);
    expect(ok).toMatchObject({ action: 'flattened' });
    expectClean(ok.output!.bytes, 1);
  });
});

describe.skipIf(!corpusPresent)('PDF corpus: every file gets a verdict, every output is clean', () => {
  for (const name of corpusList('pdf')) {
    it(name, async () => {
      const bytes = readFileSync(corpusFile('pdf', name));
      const r = await sanitizePart({ name, declaredType: 'application/pdf', bytes, depth: 0 }, ctx);
      expect(['flattened', 'removed', 'held', 'text']).toContain(r.action);
      if (r.output) {
        if (r.action !== 'text') expect(r.output.bytes.equals(bytes)).toBe(false);
        if (r.output.type === 'application/pdf') expectClean(r.output.bytes, r.output.pages!);
      }
      if (name === 'tracemonkey.pdf') expect(r.output?.pages).toBe(14);
      if (name.includes('encrypted')) expect(r).toMatchObject({ action: 'held', reason: 'ENCRYPTED' });
    });
  }
});

/** Mean absolute difference of 6×6-pixel block means of two same-size gray images. */
function blockDiff(a: { data: Buffer; width: number; height: number }, b: { data: Buffer; width: number }): number {
  // Two renderers place anti-aliased glyph edges a fraction of a pixel apart, so compare block means
  // (layout, ink density, missing or extra content) rather than single pixels.
  const block = 6;
  let diff = 0;
  let blocks = 0;
  for (let by = 0; by + block <= a.height; by += block) {
    for (let bx = 0; bx + block <= a.width; bx += block) {
      let sa = 0;
      let sb = 0;
      for (let y = by; y < by + block; y++) {
        for (let x = bx; x < bx + block; x++) {
          sa += a.data[y * a.width + x]!;
          sb += b.data[y * b.width + x]!;
        }
      }
      diff += Math.abs(sa - sb) / (block * block);
      blocks++;
    }
  }
  return diff / blocks;
}

// Both PDF engines draw the same pages: native mutool (the default, installed by scripts/setup.sh) and
// MuPDF.js (the fallback on a machine without mupdf-tools).
const ENGINES = ['mutool', 'mupdfjs'] as const;

/** Force `engine` for the tests of the calling describe block, and put the setting back after them. */
function useEngine(engine: (typeof ENGINES)[number]): void {
  const before = process.env.MUKAIKA_PDF_ENGINE;
  beforeAll(() => {
    process.env.MUKAIKA_PDF_ENGINE = engine;
  });
  afterAll(() => {
    if (before === undefined) delete process.env.MUKAIKA_PDF_ENGINE;
    else process.env.MUKAIKA_PDF_ENGINE = before;
  });
}

describe.each(ENGINES)('PDF engine %s (generated fixtures)', (engine) => {
  useEngine(engine);

  it('is the engine in use', () => {
    expect(pdfEngine()).toBe(engine);
    if (engine === 'mutool') {
      delete process.env.MUKAIKA_PDF_ENGINE;
      expect(pdfEngine(), 'mupdf-tools is installed (scripts/setup.sh), so it is the default').toBe('mutool');
      process.env.MUKAIKA_PDF_ENGINE = engine;
    }
  });

  it('an AES-256 PDF with a Japanese password: held without it, held with a wrong one, flattened with it', async () => {
    const { execFileSync } = await import('node:child_process');
    const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/mk-enc-');
    try {
      writeFileSync(`${dir}/in.pdf`, minimalPdf('secret'));
      execFileSync('qpdf', ['--encrypt', '秘密のパスワード', 'owner', '256', '--', `${dir}/in.pdf`, `${dir}/enc.pdf`]);
      const enc = readFileSync(`${dir}/enc.pdf`);
      expect(await flattenPdf(enc, ctx)).toMatchObject({ action: 'held', reason: 'ENCRYPTED' });
      expect(await flattenPdf(enc, ctx, { password: '秘密のパスワー' })).toMatchObject({ action: 'held', reason: 'ENCRYPTED' });
      const ok = await flattenPdf(enc, ctx, { password: '秘密のパスワード' });
      expect(ok).toMatchObject({ action: 'flattened' });
      expectClean(ok.output!.bytes, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!corpusPresent).each(ENGINES)('visual fidelity (%s engine)', (engine) => {
  useEngine(engine);

  it('ContentStreamCycleType3insideType3.pdf (native MuPDF 1.21 loops on it) is flattened, clean', async () => {
    // With the mutool engine this is the hand-over path: mutool floods stderr, is killed, and MuPDF.js
    // draws the page in the same child (child-mutool.ts MutoolGaveUp).
    const r = await flattenPdf(readFileSync(corpusFile('pdf', 'ContentStreamCycleType3insideType3.pdf')), ctx);
    expect(r).toMatchObject({ action: 'flattened', reason: 'PDF_FLATTENED' });
    expectClean(r.output!.bytes, r.output!.pages!);
  });

  it('a flattened page rasterised again by poppler matches poppler’s rendering of the original', async () => {
    const original = readFileSync(corpusFile('pdf', 'tracemonkey.pdf'));
    const r = await flattenPdf(original, ctx);
    const a = await popplerGray(original, 1, 75);
    const b = await popplerGray(r.output!.bytes, 1, 75);
    expect([b.width, b.height]).toEqual([a.width, a.height]);
    const mean = blockDiff(a, b);
    // Calibration: the same comparison between two different pages of the original.
    const other = blockDiff(a, await popplerGray(original, 2, 75));
    console.log(`tracemonkey p1 block difference: flattened ${mean.toFixed(2)}, vs another page ${other.toFixed(2)} (/255)`);
    expect(mean).toBeLessThan(8);
    expect(mean).toBeLessThan(other / 2);
  });

  it('Japanese text of 90ms_rksj_h_sample.pdf is visible as ink where MuPDF places its glyphs', async () => {
    const original = readFileSync(corpusFile('pdf', '90ms_rksj_h_sample.pdf'));
    const r = await flattenPdf(original, ctx);
    expect(r.action).toBe('flattened');
    // Line boxes from MuPDF's text extraction of the original (points), checked against poppler's
    // rasterisation of our output: each line box must contain ink. The Japanese line uses a CID font without
    // a descriptor; unrepaired, MuPDF would draw Latin mojibake there (see child-pdf-repair.ts), so the
    // glyph count is checked too: six wide CJK glyphs, not twelve narrow Latin ones.
    const page = mupdf.Document.openDocument(original, 'application/pdf').loadPage(0);
    const st = JSON.parse(page.toStructuredText('preserve-whitespace').asJSON()) as { blocks: { lines: { text: string; bbox: { x: number; y: number; w: number; h: number } }[] }[] };
    const lines = st.blocks.flatMap((bl) => bl.lines ?? []);
    expect(lines.length).toBe(2);
    const dpi = 72;
    const out = await popplerGray(r.output!.bytes, 1, dpi);
    for (const l of lines) {
      let ink = 0;
      let blank = 0;
      for (let y = Math.floor(l.bbox.y); y < Math.ceil(l.bbox.y + l.bbox.h); y++) {
        for (let x = Math.floor(l.bbox.x); x < Math.ceil(l.bbox.x + l.bbox.w); x++) {
          const v = out.data[y * out.width + x] ?? 255;
          if (v < 128) ink++;
          else blank++;
        }
      }
      expect(ink / (ink + blank), `ink for "${l.text}"`).toBeGreaterThan(0.05);
    }
    // Ink columns on the Japanese line: 日本語テスト is six ~14 pt glyphs, so ink spans ≥ 70 pt.
    const jp = lines[1]!.bbox;
    const out2 = await popplerGray(r.output!.bytes, 1, 72);
    let first = -1;
    let last = -1;
    for (let x = 0; x < out2.width; x++) {
      let col = false;
      for (let y = Math.floor(jp.y); y < jp.y + jp.h; y++) if ((out2.data[y * out2.width + x] ?? 255) < 128) col = true;
      if (col) {
        if (first < 0) first = x;
        last = x;
      }
    }
    expect(last - first).toBeGreaterThan(70);
  });
});
