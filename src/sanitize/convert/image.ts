import { renderIsolated, type RenderedPage } from '../render/renderer.js';
import type { PartResult, SanitizeContext } from '../types.js';
import { imageToJpeg, imageToPng } from './encode.js';

export interface ImageOptions {
  /** Detected MIME type of the input (from classify), which picks the decoder and the output format. */
  mime: string;
  /** Output base name without extension. */
  baseName?: string;
  /** Test hook, see RenderOptions.entry. */
  entry?: string[];
}

/**
 * Re-encode an image from pixels: decoded inside the renderer child (EXIF orientation applied there),
 * pixel limit checked from the header before decoding (child) and again on the frame (reader).
 * JPEG stays JPEG (photos); everything else becomes PNG (lossless, alpha kept). No metadata is written.
 * SVG is rendered to pixels by MuPDF and becomes PNG.
 */
export async function reencodeImage(untrustedBytes: Buffer, ctx: SanitizeContext, opts: ImageOptions): Promise<PartResult> {
  const svg = opts.mime === 'image/svg+xml';
  let first: RenderedPage | undefined;
  const result = await renderIsolated(
    svg ? 'svg' : 'image',
    untrustedBytes,
    ctx,
    async (page) => {
      first ??= page;
    },
    opts.entry ? { entry: opts.entry } : {},
  );
  if (!result.ok) return { detectedType: opts.mime, action: result.action, reason: result.reason };
  if (!first) return { detectedType: opts.mime, action: 'held', reason: 'RENDERER_FAILED' };
  const jpeg = opts.mime === 'image/jpeg';
  const bytes = jpeg ? await imageToJpeg(first) : await imageToPng(first);
  const base = opts.baseName ?? 'image';
  return {
    detectedType: opts.mime,
    action: 'reencoded',
    reason: svg ? 'SVG_RENDERED' : 'IMAGE_REENCODED',
    output: { name: `${base}.${jpeg ? 'jpg' : 'png'}`, type: jpeg ? 'image/jpeg' : 'image/png', bytes },
  };
}
