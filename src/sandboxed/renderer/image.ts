/**
 * Image decoding inside the renderer child with sharp/libvips (JPEG, PNG, WebP, GIF, TIFF, and SVG through
 * librsvg). MuPDF handles BMP (libvips has no BMP loader; this MuPDF.js build has no WebP or SVG handler). Decoding happens here, not in the gateway,
 * so a decoder bug costs one sandboxed child.
 */
import type { Metadata, OutputInfo } from 'sharp';
import { CHILD_ERROR, encodeDoc, encodeEnd } from './protocol.js';
import { ChildFailure, writePage, type ChildArgs, type Sink } from './common.js';

/** Magic numbers of the formats sent to sharp; anything else goes to MuPDF. */
export const SHARP_FORMATS = {
  test(b: Uint8Array): boolean {
    const s = (n: number): string => Buffer.from(b.subarray(0, n)).toString('latin1');
    return (
      (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) ||
      s(8) === '\x89PNG\r\n\x1a\n' ||
      s(6) === 'GIF87a' || s(6) === 'GIF89a' ||
      (s(4) === 'RIFF' && Buffer.from(b.subarray(8, 12)).toString('latin1') === 'WEBP') ||
      s(4) === 'II*\0' || s(4) === 'MM\0*'
    );
  },
};

export async function renderImageWithSharp(input: Buffer, args: ChildArgs, sink: Sink): Promise<void> {
  // Loaded on demand: a PDF child never pays for libvips.
  const { default: sharp } = await import('sharp');
  // limitInputPixels makes libvips refuse from the header, before it allocates a decoded image.
  const opts = { limitInputPixels: args.maxPagePixels, failOn: 'error' as const, animated: false, sequentialRead: true };
  let meta: Metadata;
  try {
    meta = await sharp(input, { ...opts, limitInputPixels: false }).metadata();
  } catch {
    throw new ChildFailure(CHILD_ERROR.CORRUPT);
  }
  const w = meta.width ?? 0;
  const h = meta.pageHeight ?? meta.height ?? 0;
  if (w < 1 || h < 1) throw new ChildFailure(CHILD_ERROR.CORRUPT);
  if (w * h > args.maxPagePixels || w > args.maxSide || h > args.maxSide) throw new ChildFailure(CHILD_ERROR.LIMIT_PIXELS);
  await sink.write(encodeDoc(1));
  let out: { data: Buffer; info: OutputInfo };
  try {
    let img = sharp(input, opts).rotate(); // applies EXIF orientation, then the tag is gone with the metadata
    img = meta.space === 'b-w' ? img : img.toColourspace('srgb');
    out = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
  } catch {
    throw new ChildFailure(CHILD_ERROR.CORRUPT);
  }
  const { width, height, channels } = out.info;
  if (channels < 1 || channels > 4 || out.data.length !== width * height * channels) throw new ChildFailure(CHILD_ERROR.INTERNAL);
  await writePage(sink, 0, { width, height, channels: channels as 1 | 2 | 3 | 4, pixels: out.data });
  await sink.write(encodeEnd());
}
