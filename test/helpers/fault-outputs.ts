import { createHash } from 'node:crypto';
import { simpleParser } from 'mailparser';
import sharp from 'sharp';
import type { MessageResult } from '../../src/sanitize/pipeline.js';
import type { PartOutput } from '../../src/sanitize/types.js';
import { unzipSync } from '../archive-zip-read.js';
import { inspectPdf, metadataMarkers } from './output-checks.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** What the sanitizer may emit (docs/DESIGN.md §3, door 3): page-image PDFs, re-encoded images, UTF-8 text, and zips of those. */
const ALLOWED = /^(application\/pdf|image\/png|image\/jpeg|text\/plain|text\/csv|text\/tab-separated-values|application\/zip)(;|$)/i;

/** Tallies of what the independent checks looked at, printed by the sweeps. */
export const checked = { pdf: 0, image: 0, text: 0, zip: 0 };

const ENTRY_TYPES: Record<string, string> = {
  pdf: 'application/pdf', png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', txt: 'text/plain',
  csv: 'text/csv', tsv: 'text/tab-separated-values', zip: 'application/zip',
};

/**
 * Independent checks of one sanitized output (not the sanitizer's own code): qpdf's object graph for PDFs,
 * the bytes and sharp's metadata for images, UTF-8 and formula cells for text. Returns the problems found.
 */
export async function outputProblems(o: PartOutput): Promise<string[]> {
  const p: string[] = [];
  if (!ALLOWED.test(o.type)) return [`unexpected output type ${o.type}`];
  if (/^application\/pdf/i.test(o.type)) {
    checked.pdf++;
    if (o.bytes.subarray(0, 5).toString('latin1') !== '%PDF-') p.push('pdf output without a PDF header');
    else {
      const { names } = inspectPdf(o.bytes);
      if (names.length) p.push(`pdf output has ${names.join(' ')}`);
    }
  } else if (/^image\//i.test(o.type)) {
    checked.image++;
    const markers = metadataMarkers(o.bytes);
    if (markers.length) p.push(`image output keeps ${markers.join(' ')}`);
    const m = await sharp(o.bytes).metadata().catch((e: unknown) => ({ error: String(e) }));
    if ('error' in m) p.push(`image output does not decode: ${m.error}`);
    else if (m.exif || m.icc || m.xmp || m.iptc) p.push('image output carries exif/icc/xmp/iptc');
  } else if (/^text\//i.test(o.type)) {
    checked.text++;
    if (Buffer.from(o.bytes.toString('utf8'), 'utf8').compare(o.bytes) !== 0) p.push('text output is not valid UTF-8');
    if (/^text\/(csv|tab-separated-values)/i.test(o.type)) {
      const sep = /csv/i.test(o.type) ? ',' : '\t';
      const bad = o.bytes.toString('utf8').replace(/^\uFEFF/, '').split(/\r?\n/)
        .flatMap((line) => line.split(sep)).find((cell) => /^"?[=+\-@]/.test(cell) && !/^"?[=+\-@][0-9.]*"?$/.test(cell));
      if (bad !== undefined) p.push(`formula cell survives: ${bad.slice(0, 40)}`);
    }
  } else {
    // A repacked archive: each entry must itself be an allowed, inert output (type from its extension).
    checked.zip++;
    for (const e of unzipSync(o.bytes)) {
      if (e.encrypted) p.push(`zip entry ${e.name} is encrypted`);
      const type = ENTRY_TYPES[/\.([a-z0-9]+)$/i.exec(e.name)?.[1]?.toLowerCase() ?? ''];
      if (!type) p.push(`zip entry ${e.name} has an unexpected extension`);
      else p.push(...(await outputProblems({ name: e.name, type, bytes: e.data })).map((x) => `${e.name}: ${x}`));
    }
  }
  return p;
}

/**
 * A whole sanitized message: only text/plain for the body, attachments exactly the sanitizer's fresh outputs
 * (never an input part's bytes, except text that was already clean UTF-8), each passing outputProblems.
 */
export async function messageProblems(res: MessageResult): Promise<string[]> {
  const p: string[] = [];
  if (!['sanitized', 'held', 'rejected'].includes(res.manifest.verdict)) p.push(`bad verdict ${res.manifest.verdict}`);
  const inputs = new Set(res.manifest.parts.map((x) => x.sha256));
  for (const part of res.manifest.parts) {
    if (!part.action || !part.reason) p.push(`part ${part.name} without action/reason`);
  }
  for (const o of res.outputs) {
    // Clean UTF-8 text decodes to itself; for any other type, identical bytes mean the input went through.
    if (inputs.has(o.sha256) && !/^text\//i.test(o.type)) p.push(`output ${o.name} is an input part's bytes`);
    p.push(...(await outputProblems(o)));
  }
  const parsed = await simpleParser(res.mail);
  if (parsed.html) p.push('sanitized mail has an HTML body');
  const outs = new Set(res.outputs.map((o) => o.sha256));
  for (const a of parsed.attachments) {
    if (!outs.has(sha(a.content))) p.push(`mail carries ${a.filename ?? a.contentType} that the sanitizer did not produce`);
  }
  if (parsed.attachments.length !== res.outputs.length) p.push(`mail has ${parsed.attachments.length} attachments, sanitizer made ${res.outputs.length}`);
  return p;
}
