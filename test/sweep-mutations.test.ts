import { readFileSync } from 'node:fs';
import os from 'node:os';
import sharp from 'sharp';
import yazl from 'yazl';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import { sanitizeMessage } from '../src/sanitize/pipeline.js';
import { corpusFile, corpusPresent } from './helpers/corpus.js';
import { baseMail, damage, int, mutateMail, pick, prng } from './helpers/fault-mutate.js';
import { checked, messageProblems, outputProblems } from './helpers/fault-outputs.js';
import { activePdf, minimalPdf } from './helpers/pdf-fixtures.js';

/**
 * ≥ 1000 seeded mutations through the pipeline. Split, so the sweep stays within minutes on 2 cores:
 *  - 760 mail mutations (MIME structure, headers, encodings, charsets, nesting, part floods) through
 *    sanitizeMessage — cheap, no renderer;
 *  - 200 bare-file mutations of types handled in-process (text, CSV, HTML, executables, junk);
 *  - 60 bare-file mutations that start a renderer, archive or LibreOffice child (PDF 20, image 20, zip 10,
 *    Office 5, SVG 5), the bounded expensive subset. MUKAIKA_SWEEP_EXPENSIVE=n scales it.
 * Reproduce with MUKAIKA_SWEEP_SEED=<the printed seed>.
 */
const SEED = Number(process.env.MUKAIKA_SWEEP_SEED ?? 20240501);
const EXPENSIVE = Number(process.env.MUKAIKA_SWEEP_EXPENSIVE ?? 1);
const config = loadConfig({ env: {}, overrides: { dataDir: os.tmpdir(), log: { level: 'silent' } } });
const ctx = { config, log: silentLogger };
const tally: Record<string, number> = {};
const count = (k: string) => { tally[k] = (tally[k] ?? 0) + 1; };

function zipOf(files: [string, Buffer][]): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const [n, b] of files) z.addBuffer(b, n);
  z.end();
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    z.outputStream.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
  });
}

/** One bare file through sanitizePart: never throws, a valid action, outputs only when not removed/held, all inert. */
async function sweepFile(label: string, name: string, bytes: Buffer): Promise<string[]> {
  try {
    const res = await sanitizePart({ name, declaredType: 'application/octet-stream', bytes, depth: 0 }, ctx);
    count(`${res.action}:${res.reason}`);
    if (!/^(flattened|reencoded|converted|text|removed|held)$/.test(res.action)) return [`${label}: bad action ${res.action}`];
    if (!res.output) return [];
    if (res.action === 'removed' || res.action === 'held') return [`${label}: ${res.action} but has an output`];
    return (await outputProblems(res.output)).map((p) => `${label}: ${p}`);
  } catch (err) {
    return [`${label}: threw ${(err as Error).message}`];
  }
}

describe(`sweep: seeded mutations (seed ${SEED})`, () => {
  afterAll(() => console.log(`mutation sweep seed=${SEED}: outcomes ${JSON.stringify(tally)}; outputs checked ${JSON.stringify(checked)}`));

  it('760 mail mutations: each sanitized to a verdict with only inert output', async () => {
    const r = prng(SEED);
    const problems: string[] = [];
    for (let i = 0; i < 760; i++) {
      let { op, raw } = mutateMail(r, baseMail(i));
      // Some mutations stacked, as real damage rarely comes alone.
      if (r() < 0.3) {
        const second = mutateMail(r, raw.toString('latin1'));
        op = `${op}+${second.op}`;
        raw = second.raw;
      }
      try {
        const res = await sanitizeMessage(`msweep${i}`, raw, ctx);
        count(`mail:${res.manifest.verdict}`);
        problems.push(...(await messageProblems(res)).map((p) => `mail #${i} (${op}): ${p}`));
      } catch (err) {
        problems.push(`mail #${i} (${op}): threw ${(err as Error).message}`);
      }
    }
    expect(problems).toEqual([]);
  }, 240_000);

  it('200 cheap bare-file mutations (text, CSV, HTML, executables, junk)', async () => {
    const r = prng(SEED + 1);
    const seeds: [string, Buffer][] = [
      ['list.csv', Buffer.from('=cmd|\'/C calc\'!A0,+SUM(1),-1+2,@x,ok\r\n"=1+1",3\r\n')],
      ['data.tsv', Buffer.from('=A1\t+B\t-C\t@D\n1\t2\t3\t4\n')],
      ['page.html', Buffer.from('<html><script>evil()</script><body onload=x()><a href="javascript:x">見</a><iframe src=//e></iframe></body></html>')],
      ['note.txt', Buffer.from('こんにちは https://evil.example/ \u202Etxt.exe\n')],
      ['sjis.txt', Buffer.from([0x82, 0xa0, 0x82, 0xa2, 0x0d, 0x0a, 0x83, 0x65, 0x83, 0x58, 0x83, 0x67])],
      ['run.exe', Buffer.concat([Buffer.from('MZ\x90\x00PE\x00\x00', 'latin1'), Buffer.alloc(300, 0x90)])],
      ['run.sh', Buffer.from('#!/bin/sh\nrm -rf /\n')],
      ['a.lnk', Buffer.concat([Buffer.from('4c0000000114020000000000c000000000000046', 'hex'), Buffer.alloc(100)])],
    ];
    const problems: string[] = [];
    for (let i = 0; i < 200; i++) {
      const [name, bytes] = pick(r, seeds);
      const { op, bytes: mutated } = damage(r, bytes, int(r, 3) === 0 ? 0 : 2);
      problems.push(...(await sweepFile(`file #${i} ${name} (${op})`, name, mutated)));
    }
    expect(problems).toEqual([]);
  }, 120_000);

  it(`${60 * EXPENSIVE} expensive bare-file mutations (PDF, image, zip, Office, SVG) in isolated children`, async () => {
    const r = prng(SEED + 2);
    const jpeg = await sharp({ create: { width: 64, height: 48, channels: 3, background: '#c33' } })
      .withMetadata({ exif: { IFD0: { Copyright: 'secret', ImageDescription: 'gps' } } }).jpeg().toBuffer();
    const png = await sharp({ create: { width: 40, height: 40, channels: 4, background: '#3c3' } }).png().toBuffer();
    const pdfs = [minimalPdf('sweep'), await activePdf()];
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="50" height="50" onload="alert(1)"><script>alert(2)</script><rect width="40" height="40" fill="red"/><image href="http://evil.example/x.png"/></svg>');
    const zip = await zipOf([['a.txt', Buffer.from('hello')], ['b.csv', Buffer.from('=1+1,x')], ['c.exe', Buffer.from('MZ\x90\x00')], ['d.pdf', pdfs[0]!]]);
    const office = corpusPresent ? [readFileSync(corpusFile('office', 'sample-docx.docx'))] : [];
    const plan: [string, Buffer[], number][] = [
      ['doc.pdf', pdfs, 20], ['photo.jpg', [jpeg], 10], ['pic.png', [png], 10], ['bundle.zip', [zip], 10],
      ['report.docx', office, 5], ['draw.svg', [svg], 5],
    ];
    const jobs = plan.flatMap(([name, seeds, n]) => (seeds.length ? Array.from({ length: n * EXPENSIVE }, (_, k) => ({ name, seed: pick(r, seeds), k })) : []))
      .map((j) => ({ ...j, ...damage(r, j.seed, 8) }));
    const problems: string[] = [];
    // Two at a time: the renderer children are the cost, and the machine has two cores.
    let next = 0;
    await Promise.all([0, 1].map(async () => {
      while (next < jobs.length) {
        const j = jobs[next++]!;
        problems.push(...(await sweepFile(`${j.name} #${j.k} (${j.op})`, j.name, j.bytes)));
      }
    }));
    expect(problems).toEqual([]);
  }, 300_000);
});
