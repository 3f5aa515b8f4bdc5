/**
 * Runs INSIDE the isolated renderer child: parses untrusted bytes (MuPDF.js, sharp/libvips) and writes
 * only frames (frames.ts) to stdout. It trusts nothing it reads; the trusted side re-checks everything
 * it writes. Anything else it has to say goes to stderr, which the parent only logs.
 */
import { CHILD_ERROR, encodeDoc, encodeEnd, encodeError, encodeStart } from './protocol.js';
import { repairPageFonts } from './pdf-repair.js';
import { renderImageWithSharp, SHARP_FORMATS } from './image.js';
import { ChildFailure, writePage, type ChildArgs, type Sink } from './common.js';
import { grayIfNeutral, pageSize } from './pixels.js';
import { MutoolGaveUp, renderPdfWithMutool } from './mutool.js';

/**
 * `resume`: native MuPDF already announced `count` pages and sent the first `from` of them (child-mutool.ts);
 * MuPDF.js carries on from there and must agree on the count.
 */
async function renderWithMupdf(input: Uint8Array, password: string, args: ChildArgs, sink: Sink, resume?: { from: number; count?: number }): Promise<void> {
  // Imported here: image-only runs need not pay for loading the WASM module.
  const mupdf = await import('mupdf');
  const magic = args.mode === 'pdf' ? 'application/pdf' : 'image/bmp';
  let doc: InstanceType<typeof mupdf.Document>;
  try {
    doc = mupdf.Document.openDocument(input, magic);
  } catch {
    throw new ChildFailure(CHILD_ERROR.CORRUPT);
  }
  if (doc.needsPassword()) {
    if (!password) throw new ChildFailure(CHILD_ERROR.ENCRYPTED);
    if (!doc.authenticatePassword(password)) throw new ChildFailure(CHILD_ERROR.WRONG_PASSWORD);
  }
  const all = doc.countPages();
  if (all < 1) throw new ChildFailure(CHILD_ERROR.NO_PAGES);
  // Images and SVG are one picture: only the first page (frame) is kept.
  const count = args.mode === 'pdf' ? all : 1;
  if (resume?.count !== undefined) {
    if (resume.count !== count) throw new ChildFailure(CHILD_ERROR.CORRUPT);
  } else await sink.write(encodeDoc(count));
  if (count > args.maxPages) return; // the reader refuses the doc frame; rendering more would be wasted work
  const pdf = args.mode === 'pdf' ? doc.asPDF() : null;
  for (let i = resume?.from ?? 0; i < count; i++) {
    if (pdf) {
      try {
        repairPageFonts(pdf, i);
      } catch {
        /* a repair is best effort; the page renders as MuPDF would without it */
      }
    }
    const page = doc.loadPage(i);
    const bounds = page.getBounds();
    let scale = args.dpi / 72;
    if (args.mode === 'image') {
      // Keep the native pixel count whatever resolution the file claims; orientation is already applied.
      const img = new mupdf.Image(input);
      const side = Math.max(img.getWidth(), img.getHeight());
      if (img.getWidth() * img.getHeight() > args.maxPagePixels || side > args.maxSide) throw new ChildFailure(CHILD_ERROR.LIMIT_PIXELS);
      scale = side / Math.max(bounds[2]! - bounds[0]!, bounds[3]! - bounds[1]!);
    }
    const { width, height } = pageSize(bounds, scale, args);
    const pix = page.toPixmap(mupdf.Matrix.scale(scale, scale), mupdf.ColorSpace.DeviceRGB, false, true);
    const w = pix.getWidth();
    const h = pix.getHeight();
    if (w > width + 1 || h > height + 1) throw new ChildFailure(CHILD_ERROR.INTERNAL);
    const stride = pix.getStride();
    const raw = pix.getPixels();
    let rgb: Uint8Array;
    if (stride === w * 3) rgb = new Uint8Array(raw.buffer, raw.byteOffset, w * h * 3).slice();
    else {
      rgb = new Uint8Array(w * h * 3);
      for (let y = 0; y < h; y++) rgb.set(raw.subarray(y * stride, y * stride + w * 3), y * w * 3);
    }
    pix.destroy();
    page.destroy();
    await writePage(sink, i, grayIfNeutral(rgb, w, h));
  }
  await sink.write(encodeEnd());
}

/**
 * Render `input` per `args`: the whole job of the child. Every failure becomes an error frame with a code;
 * nothing about the input (names, messages, text) is ever written to the data channel.
 */
export async function runChild(args: ChildArgs, stdin: Uint8Array, sink: Sink): Promise<void> {
  await sink.write(encodeStart());
  try {
    if (stdin.length < 4) throw new ChildFailure(CHILD_ERROR.CORRUPT);
    const view = Buffer.from(stdin.buffer, stdin.byteOffset, stdin.byteLength);
    const pwLen = view.readUInt32BE(0);
    if (pwLen > 4096 || 4 + pwLen > view.length) throw new ChildFailure(CHILD_ERROR.INTERNAL);
    const password = view.subarray(4, 4 + pwLen).toString('utf8');
    const input = view.subarray(4 + pwLen);
    // SVG goes to librsvg via sharp: this MuPDF.js build has no SVG document handler. librsvg runs no
    // scripts, and inside the sandbox there is no network and no file worth referencing.
    if (args.mode === 'svg' || (args.mode === 'image' && SHARP_FORMATS.test(input))) await renderImageWithSharp(input, args, sink);
    else if (args.mode === 'pdf' && args.engine === 'mutool') {
      try {
        await renderPdfWithMutool(input, password, args, sink);
      } catch (e) {
        if (!(e instanceof MutoolGaveUp)) throw e;
        console.error(`native MuPDF gave up after ${e.pagesSent} page(s): MuPDF.js renders the rest`);
        await renderWithMupdf(input, password, args, sink, { from: e.pagesSent, ...(e.count !== undefined ? { count: e.count } : {}) });
      }
    } else await renderWithMupdf(input, password, args, sink);
  } catch (e) {
    const code = e instanceof ChildFailure ? e.code : CHILD_ERROR.INTERNAL;
    if (!(e instanceof ChildFailure)) console.error('renderer child error:', e instanceof Error ? e.message : String(e));
    await sink.write(encodeError(code));
  }
}
