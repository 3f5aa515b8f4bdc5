import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { silentLogger } from '../src/log.js';
import { sanitizePart } from '../src/sanitize/parts.js';
import { stopRendererSpares } from '../src/sanitize/render/renderer.js';
import type { PartResult } from '../src/sanitize/types.js';
import { corpusFile, corpusList, corpusPresent } from './helpers/corpus.js';
import { metadataMarkers } from './helpers/output-checks.js';

const config = loadConfig({ env: {}, overrides: {} });
const ctx = { config, log: silentLogger };
afterAll(() => stopRendererSpares());

const part = (name: string, bytes: Buffer, declaredType = 'application/octet-stream'): Promise<PartResult> => sanitizePart({ name, declaredType, bytes, depth: 0 }, ctx);

/** No metadata by sharp's reading and by a byte scan (EXIF, XMP, GPS, ICC, PNG text chunks, JPEG COM/APPn). */
async function expectNoMetadata(img: Buffer): Promise<void> {
  const m = await sharp(img).metadata();
  expect(m.exif).toBeUndefined();
  expect(m.xmp).toBeUndefined();
  expect(m.icc).toBeUndefined();
  expect(m.iptc).toBeUndefined();
  expect(m.comments ?? []).toEqual([]);
  expect(m.orientation ?? 1).toBe(1);
  expect(metadataMarkers(img)).toEqual([]);
}

/** A 60×30 photo-like JPEG (left red, right blue) carrying EXIF orientation 6, GPS, an ICC profile and XMP. */
async function taggedJpeg(): Promise<Buffer> {
  const left = await sharp({ create: { width: 30, height: 30, channels: 3, background: '#ff0000' } }).png().toBuffer();
  return sharp({ create: { width: 60, height: 30, channels: 3, background: '#0000ff' } })
    .composite([{ input: left, left: 0, top: 0 }])
    .withIccProfile('p3')
    .withExif({ IFD0: { Copyright: 'secret' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '35/1 41/1 0/1' } })
    .withMetadata({ orientation: 6 })
    .withXmp('<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="secret"/></rdf:RDF></x:xmpmeta>')
    .jpeg()
    .toBuffer();
}

describe('image re-encoding (generated fixtures)', () => {
  it('applies EXIF orientation and strips EXIF, GPS, ICC and XMP from a JPEG', async () => {
    const input = await taggedJpeg();
    expect(metadataMarkers(input)).toEqual(expect.arrayContaining(['Exif', 'XMP', 'ICC_PROFILE']));
    expect((await sharp(input).metadata()).orientation).toBe(6);
    const r = await part('photo.jpeg', input);
    expect(r).toMatchObject({ detectedType: 'image/jpeg', action: 'reencoded', reason: 'IMAGE_REENCODED' });
    expect(r.output).toMatchObject({ name: 'photo.jpg', type: 'image/jpeg' });
    const out = r.output!.bytes;
    await expectNoMetadata(out);
    // Orientation 6 = rotate 90° clockwise: 60×30 becomes 30×60, red (left) on top.
    const { data, info } = await sharp(out).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([30, 60]);
    expect(data[0]).toBeGreaterThan(200); // top-left red
    expect(data[(59 * 30) * 3 + 2]).toBeGreaterThan(200); // bottom-left blue
  });

  it('strips PNG text chunks and keeps alpha; a BMP named .bmp becomes .png', async () => {
    const png = await sharp({ create: { width: 20, height: 10, channels: 4, background: { r: 0, g: 128, b: 0, alpha: 0.5 } } })
      .png()
      .withMetadata({ exif: { IFD0: { ImageDescription: 'secret' } } })
      .toBuffer();
    const r = await part('a.png', png);
    expect(r.output?.type).toBe('image/png');
    await expectNoMetadata(r.output!.bytes);
    expect((await sharp(r.output!.bytes).metadata()).hasAlpha).toBe(true);
  });

  it('renders SVG to PNG in the child, without scripts or external references surviving', async () => {
    const svg = Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><script>alert(1)</script><rect width="40" height="20" fill="#f00"/><image href="file:///etc/passwd" width="1" height="1"/></svg>');
    const r = await part('logo.svg', svg, 'image/svg+xml');
    expect(r).toMatchObject({ detectedType: 'image/svg+xml', action: 'reencoded', reason: 'SVG_RENDERED' });
    expect(r.output?.name).toBe('logo.png');
    await expectNoMetadata(r.output!.bytes);
    const { data } = await sharp(r.output!.bytes).raw().toBuffer({ resolveWithObject: true });
    expect(data[0]).toBeGreaterThan(200);
  });

  it('a truncated image is removed CORRUPT, never passed', async () => {
    const jpg = await taggedJpeg();
    const r = await part('broken.jpg', jpg.subarray(0, 200));
    expect(r.action === 'removed' || r.action === 'held').toBe(true);
    expect(r.output).toBeUndefined();
  });
});

describe.skipIf(!corpusPresent)('image corpus: every file gets a verdict, every output is clean', () => {
  for (const name of corpusList('images')) {
    it(name, async () => {
      const bytes = readFileSync(corpusFile('images', name));
      const r = await part(name, bytes);
      expect(r).toMatchObject({ action: 'reencoded', reason: 'IMAGE_REENCODED' });
      const out = r.output!.bytes;
      expect(out.equals(bytes)).toBe(false);
      await expectNoMetadata(out);
      const outMeta = await sharp(out).metadata();
      // libvips has no BMP loader: read its size from the header (width, height at 18 and 22; negative = top-down).
      const inSize = name.endsWith('.bmp') ? [bytes.readInt32LE(18), Math.abs(bytes.readInt32LE(22))] : await sharp(bytes).metadata().then((m) => [m.width, m.height]);
      expect([outMeta.width, outMeta.height]).toEqual(inSize);
      if (name.endsWith('.bmp')) expect(r.output!.name).toBe(name.replace(/\.bmp$/, '.png'));
    });
  }
});
