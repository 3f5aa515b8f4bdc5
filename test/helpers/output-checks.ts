import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';

/** PDF names that mean active or hidden content; none may appear in a flattened PDF. */
export const FORBIDDEN_PDF_NAMES = ['/JS', '/JavaScript', '/OpenAction', '/AA', '/Launch', '/EmbeddedFile', '/EmbeddedFiles', '/URI', '/AcroForm', '/XFA', '/RichMedia', '/Annots', '/Font'];

/**
 * Inspect a PDF with independent tools (qpdf, poppler): the object graph without stream data, and the text
 * pdftotext can extract. Returns what was found so tests can assert on it.
 */
export function inspectPdf(pdf: Buffer): { names: string[]; text: string; pages: number; info: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mk-inspect-'));
  try {
    const file = path.join(dir, 'out.pdf');
    writeFileSync(file, pdf);
    const json = execFileSync('qpdf', ['--json', '--json-stream-data=none', file], { maxBuffer: 64 << 20 }).toString();
    const names = FORBIDDEN_PDF_NAMES.filter((n) => new RegExp(`"${n.replace('/', '\\/')}"`).test(json));
    const text = execFileSync('pdftotext', ['-q', file, '-'], { maxBuffer: 64 << 20 }).toString();
    const pages = Number(/Pages:\s+(\d+)/.exec(execFileSync('pdfinfo', [file]).toString())?.[1] ?? 0);
    const info = execFileSync('pdfinfo', [file]).toString();
    return { names, text, pages, info };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One page of a PDF rasterised by poppler (independent of MuPDF), as 8-bit gray. */
export async function popplerGray(pdf: Buffer, page: number, dpi: number): Promise<{ data: Buffer; width: number; height: number }> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mk-ppm-'));
  try {
    const file = path.join(dir, 'in.pdf');
    writeFileSync(file, pdf);
    execFileSync('pdftoppm', ['-png', '-gray', '-r', String(dpi), '-f', String(page), '-l', String(page), '-singlefile', file, path.join(dir, 'p')]);
    const pgm = readFileSync(path.join(dir, 'p.png'));
    const { data, info } = await sharp(pgm).greyscale().raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Metadata markers that must not survive re-encoding, found by scanning the bytes themselves. */
export function metadataMarkers(img: Buffer): string[] {
  const found: string[] = [];
  const markers: [string, Buffer][] = [
    ['Exif', Buffer.from('Exif\0', 'latin1')],
    ['XMP', Buffer.from('http://ns.adobe.com/xap', 'latin1')],
    ['ICC_PROFILE', Buffer.from('ICC_PROFILE', 'latin1')],
    ['iCCP', Buffer.from('iCCP', 'latin1')],
    ['tEXt', Buffer.from('tEXt', 'latin1')],
    ['iTXt', Buffer.from('iTXt', 'latin1')],
    ['zTXt', Buffer.from('zTXt', 'latin1')],
    ['eXIf', Buffer.from('eXIf', 'latin1')],
    ['GPS', Buffer.from('GPS', 'latin1')],
  ];
  for (const [name, m] of markers) if (img.includes(m)) found.push(name);
  // JPEG COM segments (FF FE) and APP1..APP15 (EXIF, XMP, ICC live there); APP0 (JFIF) is allowed.
  if (img[0] === 0xff && img[1] === 0xd8) {
    let o = 2;
    while (o + 4 <= img.length && img[o] === 0xff) {
      const marker = img[o + 1]!;
      if (marker === 0xda) break;
      if (marker === 0xfe) found.push('COM');
      if (marker >= 0xe1 && marker <= 0xef) found.push(`APP${marker - 0xe0}`);
      o += 2 + img.readUInt16BE(o + 2);
    }
  }
  return found;
}
