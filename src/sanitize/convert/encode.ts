import { promisify } from 'node:util';
import { deflate } from 'node:zlib';
import sharp, { type Sharp } from 'sharp';
import type { RenderedPage } from '../render/renderer.js';
import { looksTextLike, packSamples, TEXT_BITS } from './pixels.js';

/**
 * Re-encoding of checked pixels (trusted side: the input is raw pixels whose size the reader verified,
 * not a file format, so no parser of untrusted data runs here).
 */

/** JPEG quality for photographic content; text-like pages get a little more to keep glyph edges clean. */
export const JPEG_QUALITY_PHOTO = 80;
export const JPEG_QUALITY_TEXT = 85;

function raw(p: RenderedPage): Sharp {
  // Explicit limit: the reader already bounded width×height; sharp must not apply its own smaller default.
  return sharp(p.pixels, { raw: { width: p.width, height: p.height, channels: p.channels }, limitInputPixels: false });
}

const deflateAsync = promisify(deflate);

/** How one page image is stored in the output PDF. */
export type PageImage =
  | { filter: 'DCTDecode'; bytes: Buffer; width: number; height: number }
  | { filter: 'FlateDecode'; bytes: Buffer; width: number; height: number; bits: number; colorSpace: 'DeviceGray' | 'DeviceRGB' };

/**
 * Text-like pages (mostly paper and ink) → TEXT_BITS-per-sample Flate, lossless enough and small;
 * everything else (photos, scans, gradients) → baseline JPEG.
 */
export async function encodePage(p: RenderedPage): Promise<PageImage> {
  const textLike = looksTextLike(p);
  if ((p.channels === 1 || p.channels === 3) && textLike) {
    // zlib runs on the libuv pool, so this overlaps with reading the next page from the renderer.
    const bytes = await deflateAsync(packSamples(p), { level: 6 });
    return { filter: 'FlateDecode', bytes, width: p.width, height: p.height, bits: TEXT_BITS, colorSpace: p.channels === 1 ? 'DeviceGray' : 'DeviceRGB' };
  }
  return { filter: 'DCTDecode', bytes: await pageToJpeg(p, textLike), width: p.width, height: p.height };
}

/** A page as baseline JPEG (pdf-lib embeds JPEG without re-decoding; no mozjpeg: 3–5× slower here). */
export async function pageToJpeg(p: RenderedPage, textLike: boolean): Promise<Buffer> {
  const quality = textLike ? JPEG_QUALITY_TEXT : JPEG_QUALITY_PHOTO;
  let img = raw(p);
  if (p.channels === 2 || p.channels === 4) img = img.flatten({ background: '#ffffff' });
  if (p.channels <= 2) img = img.toColourspace('b-w');
  return img.jpeg({ quality, mozjpeg: false, optimiseCoding: false, chromaSubsampling: '4:2:0' }).toBuffer();
}

/** An image as PNG (lossless; keeps alpha). sharp writes no text chunks, EXIF or ICC unless asked to. */
export async function imageToPng(p: RenderedPage): Promise<Buffer> {
  return raw(p).png({ compressionLevel: 6, adaptiveFiltering: false }).toBuffer();
}

/** An image as JPEG (photos), alpha flattened on white. */
export async function imageToJpeg(p: RenderedPage): Promise<Buffer> {
  let img = raw(p);
  if (p.channels === 2 || p.channels === 4) img = img.flatten({ background: '#ffffff' });
  return img.jpeg({ quality: 85, mozjpeg: false, chromaSubsampling: '4:2:0' }).toBuffer();
}
