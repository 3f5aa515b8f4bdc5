import { PDFDocument, PDFName, concatTransformationMatrix, drawObject, popGraphicsState, pushGraphicsState } from 'pdf-lib';
import type { Bind } from '../../isolation/sandbox.js';
import { renderIsolated, type RenderedPage, type RenderOptions } from '../render/renderer.js';
import type { PartResult, SanitizeContext } from '../types.js';
import { encodePage, type PageImage } from './encode.js';

/** Fixed identity of every PDF we write: nothing (author, dates, tool) is carried over from the source. */
export const PRODUCER = 'Mukaika';

/** Pages encoded on the trusted side while the child renders the next ones (2 cores: more would only queue). */
const ENCODE_AHEAD = 2;

export interface FlattenOptions {
  /** For encrypted PDFs: tried with MuPDF's authenticatePassword inside the child. Never logged. */
  password?: string;
  /** Output file name; default `document.pdf` (the dispatcher sets the real one). */
  name?: string;
  /** Test hook, see RenderOptions.entry. */
  entry?: string[];
  extraBinds?: Bind[];
}

interface EncodedPage {
  image: PageImage;
  widthPt: number;
  heightPt: number;
}

/**
 * Flatten a PDF: every page rendered to pixels in the isolated renderer at `limits.dpi`, re-encoded here,
 * and written into a new PDF that holds only one image per page. No text, scripts, actions, forms,
 * annotations (they are drawn into the pixels), links, attachments or source metadata survive.
 * Reusable for Office documents once LibreOffice has made them a PDF.
 */
export async function flattenPdf(untrustedPdf: Buffer, ctx: SanitizeContext, opts: FlattenOptions = {}): Promise<PartResult> {
  const dpi = ctx.config.sanitize.limits.dpi;
  const encoded: Promise<EncodedPage>[] = [];
  const encodeOne = async (p: RenderedPage): Promise<EncodedPage> => ({
    image: await encodePage(p),
    // The page keeps its size in points: pixels were made at `dpi`, so this inverts the scale.
    widthPt: (p.width * 72) / dpi,
    heightPt: (p.height * 72) / dpi,
  });
  const renderOpts: RenderOptions = {};
  if (opts.password) renderOpts.password = opts.password;
  if (opts.entry) renderOpts.entry = opts.entry;
  if (opts.extraBinds) renderOpts.extraBinds = opts.extraBinds;
  const result = await renderIsolated(
    'pdf',
    untrustedPdf,
    ctx,
    async (page) => {
      const pending = encodeOne(page);
      pending.catch(() => {}); // observed below; this only stops an early rejection counting as unhandled
      encoded.push(pending);
      // Bounded read-ahead: wait for the oldest encode before accepting more raw pages.
      if (encoded.length >= ENCODE_AHEAD) await encoded[encoded.length - ENCODE_AHEAD];
    },
    renderOpts,
  );
  if (!result.ok) {
    // Settle in-flight encodes so none rejects unobserved; their output is discarded.
    await Promise.allSettled(encoded);
    return { detectedType: 'application/pdf', action: result.action, reason: result.reason };
  }
  const pages = await Promise.all(encoded);
  const bytes = await writeImagePdf(pages);
  return {
    detectedType: 'application/pdf',
    action: 'flattened',
    reason: 'PDF_FLATTENED',
    output: { name: opts.name ?? 'document.pdf', type: 'application/pdf', bytes, pages: pages.length },
  };
}

/**
 * A PDF of page images only: one image XObject per page, drawn over the whole page. The encoded bytes
 * are stored as-is (DCTDecode or FlateDecode) so nothing is decoded or recompressed here.
 */
export async function writeImagePdf(pages: EncodedPage[]): Promise<Buffer> {
  const doc = await PDFDocument.create({ updateMetadata: false });
  doc.setProducer(PRODUCER);
  doc.setCreator(PRODUCER);
  for (const p of pages) {
    const img = p.image;
    const dict: Record<string, unknown> = { Type: 'XObject', Subtype: 'Image', Width: img.width, Height: img.height, Filter: img.filter };
    if (img.filter === 'FlateDecode') Object.assign(dict, { BitsPerComponent: img.bits, ColorSpace: img.colorSpace });
    else Object.assign(dict, jpegColour(img.bytes));
    const ref = doc.context.register(doc.context.stream(img.bytes, dict as Parameters<typeof doc.context.stream>[1]));
    const page = doc.addPage([p.widthPt, p.heightPt]);
    const name = page.node.newXObject('Im', ref);
    page.pushOperators(pushGraphicsState(), concatTransformationMatrix(p.widthPt, 0, 0, p.heightPt, 0, 0), drawObject(name), popGraphicsState());
    // pdf-lib starts every page with empty /Annots and /Font entries; an image page needs neither.
    page.node.delete(PDFName.of('Annots'));
    page.node.Resources()?.delete(PDFName.of('Font'));
  }
  return Buffer.from(await doc.save({ useObjectStreams: true }));
}

/** Colour space and depth of a JPEG we encoded ourselves (sharp: 1 or 3 components, 8 bits). */
function jpegColour(jpeg: Buffer): { BitsPerComponent: number; ColorSpace: string } {
  // Walk the markers to the SOF; its component count says gray or RGB.
  let o = 2;
  while (o + 9 < jpeg.length && jpeg[o] === 0xff) {
    const marker = jpeg[o + 1]!;
    const len = jpeg.readUInt16BE(o + 2);
    if (marker >= 0xc0 && marker <= 0xc2) return { BitsPerComponent: 8, ColorSpace: jpeg[o + 9] === 1 ? 'DeviceGray' : 'DeviceRGB' };
    o += 2 + len;
  }
  throw new Error('encoded JPEG without a frame header');
}

