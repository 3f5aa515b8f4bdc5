import sharp, { type Sharp } from 'sharp';
import type { RenderedPage } from '../render/renderer.js';

/**
 * Re-encoding of checked pixels (trusted side: the input is raw pixels whose size the reader verified,
 * not a file format, so no parser of untrusted data runs here).
 */

/** JPEG quality for photographic content; text-like pages get a little more to keep glyph edges clean. */
export const JPEG_QUALITY_PHOTO = 80;
export const JPEG_QUALITY_TEXT = 85;

/**
 * Cheap "is this a text page" test: share of near-white or near-black pixels, sampled on a sparse grid.
 * Text and line art are almost all paper or ink; photos and gradients are not.
 */
export function looksTextLike(p: RenderedPage): boolean {
  const step = 7;
  let extreme = 0;
  let seen = 0;
  const n = p.width * p.height;
  for (let i = 0; i < n; i += step) {
    const o = i * p.channels;
    const v = p.channels >= 3 ? (p.pixels[o]! + p.pixels[o + 1]! + p.pixels[o + 2]!) / 3 : p.pixels[o]!;
    if (v >= 235 || v <= 25) extreme++;
    seen++;
  }
  return seen > 0 && extreme / seen > 0.9;
}

function raw(p: RenderedPage): Sharp {
  // Explicit limit: the reader already bounded width×height; sharp must not apply its own smaller default.
  return sharp(p.pixels, { raw: { width: p.width, height: p.height, channels: p.channels }, limitInputPixels: false });
}

/** A page as baseline JPEG (pdf-lib embeds JPEG without re-decoding; no mozjpeg: 3–5× slower here). */
export async function pageToJpeg(p: RenderedPage): Promise<Buffer> {
  const quality = looksTextLike(p) ? JPEG_QUALITY_TEXT : JPEG_QUALITY_PHOTO;
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
