import { PDFDocument } from 'pdf-lib';
import { renderIsolated, type RenderedPage, type RenderOptions } from '../render/renderer.js';
import type { PartResult, SanitizeContext } from '../types.js';
import { pageToJpeg } from './encode.js';

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
}

interface EncodedPage {
  jpeg: Buffer;
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
  const encodePage = async (p: RenderedPage): Promise<EncodedPage> => ({
    jpeg: await pageToJpeg(p),
    // The page keeps its size in points: pixels were made at `dpi`, so this inverts the scale.
    widthPt: (p.width * 72) / dpi,
    heightPt: (p.height * 72) / dpi,
  });
  const renderOpts: RenderOptions = {};
  if (opts.password) renderOpts.password = opts.password;
  if (opts.entry) renderOpts.entry = opts.entry;
  const result = await renderIsolated(
    'pdf',
    untrustedPdf,
    ctx,
    async (page) => {
      const pending = encodePage(page);
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

/** A PDF of page images only. JPEG is embedded as-is (DCTDecode), which keeps this fast and small. */
export async function writeImagePdf(pages: EncodedPage[]): Promise<Buffer> {
  const doc = await PDFDocument.create({ updateMetadata: false });
  doc.setProducer(PRODUCER);
  doc.setCreator(PRODUCER);
  for (const p of pages) {
    const img = await doc.embedJpg(p.jpeg);
    const page = doc.addPage([p.widthPt, p.heightPt]);
    page.drawImage(img, { x: 0, y: 0, width: p.widthPt, height: p.heightPt });
  }
  return Buffer.from(await doc.save({ useObjectStreams: true }));
}
