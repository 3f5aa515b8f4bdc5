/**
 * Office benchmark (BENCHMARKS.md: ≤ 1 s for a one-page .docx with a warm converter; say the cold figure too).
 * Measures, on the same generated one-page .docx:
 *   - LibreOffice alone (docx → PDF) warm, in the resident pool;
 *   - the whole Office path (LibreOffice + flattening in the renderer child) warm;
 *   - a cold converter (new sandbox + soffice start + first document), with and without a template profile;
 *   - the baseline: one `soffice --headless --convert-to pdf` per document (what a naive gateway does).
 * Run: npm run bench:office [-- --runs N] [--gap MS]
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { flattenPdf } from '../src/sanitize/convert/pdf.js';
import { prewarmRenderers, stopRendererSpares } from '../src/sanitize/render/renderer.js';
import { convertOffice, setOfficePool } from '../src/sanitize/office/index.js';
import { OfficePool } from '../src/sanitize/office/pool.js';
import { minimalDocx } from './office-docx.js';

const runsArg = process.argv.indexOf('--runs');
const RUNS = runsArg > 0 ? Number(process.argv[runsArg + 1]) : 10;
// Idle time between documents on the warm paths: the renderer replaces its spare after each document, and a
// warm system is one where that spare had time to start (documents arriving back to back measure start-up).
const gapArg = process.argv.indexOf('--gap');
const GAP_MS = gapArg > 0 ? Number(process.argv[gapArg + 1]) : 1500;
const pause = (): Promise<void> => new Promise((r) => setTimeout(r, GAP_MS));
const DOCX_MIME = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const p90 = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.9))]!;
async function time<T>(f: () => Promise<T>): Promise<[T, number]> {
  const t = performance.now();
  const v = await f();
  return [v, performance.now() - t];
}

const doc = await minimalDocx(['御見積書', '株式会社テスト 御中', '下記の通り御見積申し上げます。', '合計金額 12,000円(税込)']);
const config = loadConfig({ env: {}, overrides: {} });
const ctx = { config, log: silentLogger };
const memoryMb = config.sanitize.limits.rendererMemoryMb;

// Cold, no template: a new pool in a new directory initialises a profile from scratch.
const coldNoTemplate = await time(async () => {
  const p = new OfficePool({ memoryMb });
  const r = await p.convert(doc, 'docx', 120_000, 50_000_000);
  await p.close();
  return r.ok;
});

// Warm pool; its first converter leaves the template profile that later (recycled) converters copy.
const pool = new OfficePool({ memoryMb, maxDocs: 1000 });
await pool.warm();
await pool.convert(doc, 'docx', 120_000, 50_000_000); // first document loads Writer's libraries
const loWarm: number[] = [];
for (let i = 0; i < RUNS; i++) {
  const [r, ms] = await time(() => pool.convert(doc, 'docx', 120_000, 50_000_000));
  if (!r.ok) throw new Error(`warm conversion failed: ${r.reason}`);
  loWarm.push(ms);
}
// Workers start warm renderer spares at start-up (prewarmRenderers); so does the benchmark, or every
// flattening would pay node + MuPDF start-up and measure that instead of the Office path.
prewarmRenderers(ctx, ['pdf']);
await new Promise((r) => setTimeout(r, 3000));
// The flattening step alone, on LibreOffice's PDF: attributes the full path's time to its two halves.
const loPdf = await pool.convert(doc, 'docx', 120_000, 50_000_000);
if (!loPdf.ok) throw new Error('conversion failed');
const flattenOnly: number[] = [];
for (let i = 0; i < RUNS; i++) {
  await pause();
  flattenOnly.push((await time(() => flattenPdf(loPdf.untrustedPdf, ctx)))[1]);
}
setOfficePool(pool);
const fullWarm: number[] = [];
for (let i = 0; i < RUNS; i++) {
  await pause();
  const [r, ms] = await time(() => convertOffice({ name: '見積書.docx', declaredType: '', bytes: doc, depth: 0 }, DOCX_MIME, ctx));
  if (r.action !== 'converted') throw new Error(`office path failed: ${r.reason}`);
  fullWarm.push(ms);
}
setOfficePool(undefined);
await pool.close();
stopRendererSpares();

// Cold with a template: with maxDocs 1 every document gets a new converter, started right after the previous
// document and initialised from the pool's template profile; warm() + convert() is start + first document.
const recyc = new OfficePool({ memoryMb, maxDocs: 1 });
await recyc.warm();
await recyc.convert(doc, 'docx', 120_000, 50_000_000);
const coldWithTemplate: number[] = [];
for (let i = 0; i < Math.min(3, RUNS); i++) {
  const [, ms] = await time(async () => {
    await recyc.warm();
    return recyc.convert(doc, 'docx', 120_000, 50_000_000);
  });
  coldWithTemplate.push(ms);
}
await recyc.close();

// Baseline: a fresh soffice per document (sandboxless, as most gateways run it).
const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-bench-soffice-'));
writeFileSync(path.join(dir, 'in.docx'), doc);
const naive: number[] = [];
for (let i = 0; i < Math.min(3, RUNS); i++) {
  const [, ms] = await time(async () =>
    execFileSync('soffice', [`-env:UserInstallation=file://${dir}/profile`, '--headless', '--convert-to', 'pdf', '--outdir', dir, path.join(dir, 'in.docx')], { stdio: 'ignore' }),
  );
  naive.push(ms);
}
rmSync(dir, { recursive: true, force: true });

const f = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
console.log(`Office benchmark: one-page .docx (${doc.length} bytes), ${RUNS} warm runs ${GAP_MS} ms apart, ${os.cpus().length}× ${os.cpus()[0]?.model ?? 'cpu'}, load average ${os.loadavg()[0]!.toFixed(1)}`);
console.log(`  LibreOffice docx→PDF, warm pool        median ${f(median(loWarm))}  p90 ${f(p90(loWarm))}`);
console.log(`  flattenPdf alone (renderer child)      median ${f(median(flattenOnly))}  p90 ${f(p90(flattenOnly))}`);
console.log(`  full Office path (LO + flatten), warm  median ${f(median(fullWarm))}  p90 ${f(p90(fullWarm))}   target ≤ 1.00 s`);
console.log(`  cold: new converter + first document   ${f(median(coldWithTemplate))} (template profile), ${f(coldNoTemplate[1])} (fresh profile)`);
console.log(`  baseline: soffice --convert-to per doc median ${f(median(naive))}`);
console.log(`  ratio baseline / warm full path: ${(median(naive) / median(fullWarm)).toFixed(1)}×`);
