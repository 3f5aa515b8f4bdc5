/**
 * PDF flattening benchmark (targets in BENCHMARKS.md): Mukaika's flattenPdf vs `gs -sDEVICE=pdfimage24` at the same DPI on
 * the same files, measured in one run, plus the engine's render-only figure as the floor (`mutool draw` to
 * /dev/null, or MuPDF.js in this process; no isolation, no encode). Run: npm run bench:pdf
 * (BENCH_ROUNDS=3 by default; MUKAIKA_SANDBOX=none for bwrap off; MUKAIKA_PDF_ENGINE=mupdfjs for the WASM engine)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as mupdf from 'mupdf';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { flattenPdf } from '../src/sanitize/convert/pdf.js';
import { isolationSummary } from '../src/isolation/spawn.js';
import { pdfEngine, stopRendererSpares } from '../src/sanitize/render/renderer.js';
import { CORPUS_DIR } from '../test/helpers/corpus.js';
import { japaneseTextPdf } from './japanese-pdf.js';

const engine = pdfEngine();
const config = loadConfig({ env: {}, overrides: {} });
const ctx = { config, log: silentLogger };
const dpi = config.sanitize.limits.dpi;
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mk-bench-'));

const inputs: { name: string; file: string }[] = [];
for (const f of ['tracemonkey.pdf', 'sample-pdf.pdf', 'doc_actions.pdf']) {
  const p = path.join(CORPUS_DIR, 'pdf', f);
  if (existsSync(p)) inputs.push({ name: f, file: p });
}
const jp = path.join(tmp, 'japanese-20p.pdf');
writeFileSync(jp, japaneseTextPdf(20));
inputs.push({ name: 'japanese-20p.pdf (generated)', file: jp });

/** CPU ms of reaped children (utime+stime from /proc/self/stat, which includes their own waited-for children). */
function childrenCpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(rest[13]) + Number(rest[14]); // cutime, cstime (fields 16 and 17)
  return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function gs(file: string): { ms: number; bytes: number; cpu: number } {
  const out = path.join(tmp, 'gs.pdf');
  const c = childrenCpuMs();
  const t = performance.now();
  const r = spawnSync('gs', ['-q', '-dNOPAUSE', '-dBATCH', '-dSAFER', '-sDEVICE=pdfimage24', `-r${dpi}`, `-sOutputFile=${out}`, file], { stdio: 'ignore' });
  const ms = performance.now() - t;
  if (r.status !== 0) throw new Error(`gs failed on ${file}`);
  return { ms, bytes: statSync(out).size, cpu: childrenCpuMs() - c };
}

async function mukaika(file: string): Promise<{ ms: number; bytes: number; pages: number; cpu: number }> {
  const bytes = readFileSync(file);
  const c = childrenCpuMs() + selfCpuMs();
  const t = performance.now();
  const r = await flattenPdf(bytes, ctx);
  const ms = performance.now() - t;
  // The renderer child is reaped before flattenPdf returns (with its warm-up, done while it was a spare);
  // the next spare, started afterwards, is not counted.
  const cpu = childrenCpuMs() + selfCpuMs() - c;
  if (!r.output) throw new Error(`flattenPdf ${r.action} ${r.reason} on ${file}`);
  return { ms, bytes: r.output.bytes.length, pages: r.output.pages ?? 0, cpu };
}

/** The floor: the engine the renderer uses, drawing every page in this machine's open, nothing else. */
function mupdfRenderOnly(file: string): number {
  const t = performance.now();
  if (engine === 'mutool') {
    // Native MuPDF as the child runs it (PNM to a pipe), minus the sandbox, the child and the encoding.
    const r = spawnSync('mutool', ['draw', '-q', '-r', String(dpi), '-F', 'pnm', '-c', 'rgb', '-o', '/dev/null', file], { stdio: 'ignore' });
    if (r.status !== 0) throw new Error(`mutool draw failed on ${file}`);
    return performance.now() - t;
  }
  const doc = mupdf.Document.openDocument(readFileSync(file), 'application/pdf');
  for (let i = 0; i < doc.countPages(); i++) {
    const page = doc.loadPage(i);
    const pix = page.toPixmap(mupdf.Matrix.scale(dpi / 72, dpi / 72), mupdf.ColorSpace.DeviceRGB, false, true);
    pix.getPixels();
    pix.destroy();
    page.destroy();
  }
  return performance.now() - t;
}

// Warm-up: loads sharp, pdf-lib and MuPDF here, and leaves a warm renderer spare as in a running worker.
await mukaika(inputs[0]!.file);
mupdfRenderOnly(inputs[0]!.file);

// CPU of the renderer child reaches our rusage only without bwrap: bubblewrap's pid-1 does not hand its
// children's times up. With bwrap the Mukaika CPU column would count the gateway side only, so it is hidden.
const cpuKnown = isolationSummary().sandbox === 'none';
const cpuCell = (ms: number, pages: number): string => (cpuKnown ? String(Math.round(ms / pages)) : 'n/a');
const rows: string[] = [];
let totPages = 0;
let totGsMs = 0;
let totMkMs = 0;
let totFloorMs = 0;
let totGsBytes = 0;
let totGsCpu = 0;
let totMkCpu = 0;
let totMkBytes = 0;
for (const input of inputs) {
  const g: number[] = [];
  const m: number[] = [];
  const gc: number[] = [];
  const mc: number[] = [];
  const f: number[] = [];
  let gsBytes = 0;
  let mk = { bytes: 0, pages: 0 };
  for (let r = 0; r < rounds; r++) {
    // Interleaved, so both see the same machine load (the box is shared).
    const a = gs(input.file);
    const b = await mukaika(input.file);
    g.push(a.ms);
    m.push(b.ms);
    gc.push(a.cpu);
    mc.push(b.cpu);
    f.push(mupdfRenderOnly(input.file));
    gsBytes = a.bytes;
    mk = b;
  }
  const pages = mk.pages;
  const [gMs, mMs, fMs, gCpu, mCpu] = [median(g), median(m), median(f), median(gc), median(mc)];
  totGsCpu += gCpu;
  totMkCpu += mCpu;
  totPages += pages;
  totGsMs += gMs;
  totMkMs += mMs;
  totFloorMs += fMs;
  totGsBytes += gsBytes;
  totMkBytes += mk.bytes;
  rows.push(
    `| ${input.name} | ${pages} | ${((pages * 1000) / gMs).toFixed(1)} | ${((pages * 1000) / mMs).toFixed(1)} | ${((pages * 1000) / fMs).toFixed(1)} | ` +
      `**${(gMs / mMs).toFixed(2)}×** | ${Math.round(gCpu / pages)} | ${cpuCell(mCpu, pages)} | ${Math.round(gsBytes / pages / 1024)} | ${Math.round(mk.bytes / pages / 1024)} | **${(mk.bytes / gsBytes).toFixed(2)}** |`,
  );
}
rows.push(
  `| **all** | ${totPages} | ${((totPages * 1000) / totGsMs).toFixed(1)} | ${((totPages * 1000) / totMkMs).toFixed(1)} | ${((totPages * 1000) / totFloorMs).toFixed(1)} | ` +
    `**${(totGsMs / totMkMs).toFixed(2)}×** | ${Math.round(totGsCpu / totPages)} | ${cpuCell(totMkCpu, totPages)} | ${Math.round(totGsBytes / totPages / 1024)} | ${Math.round(totMkBytes / totPages / 1024)} | **${(totMkBytes / totGsBytes).toFixed(2)}** |`,
);
stopRendererSpares();
rmSync(tmp, { recursive: true, force: true });

const iso = isolationSummary();
const gsVersion = execFileSync('gs', ['--version']).toString().trim();
console.log(`PDF flattening at ${dpi} DPI, median of ${rounds} interleaved rounds`);
console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), load avg ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, node ${process.version}, gs ${gsVersion}, sandbox ${iso.sandbox}, cgroup ${iso.cgroup ?? 'none'}, PDF engine ${engine}`);
console.log('');
console.log(`| file | pages | gs pages/s | Mukaika pages/s | ${engine === 'mutool' ? 'mutool draw' : 'MuPDF.js'} render-only pages/s | speed vs gs | gs CPU ms/page | Mukaika CPU ms/page | gs KB/page | Mukaika KB/page | size vs gs |`);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) console.log(r);
