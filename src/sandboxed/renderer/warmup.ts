/**
 * Runs inside a spare renderer child before it is given a document. MuPDF.js in a fresh process runs
 * baseline-compiled WASM and has empty font and glyph caches: the first document pays 2–3× its warm cost
 * (tracemonkey.pdf: 1.1 s CPU cold, 0.3 s warm). Rendering a small built-in page of our own (Latin and
 * Japanese text, vector art, an image) a few times moves that cost before the document arrives.
 * Nothing from any received document is involved, so this carries no state between documents.
 */
import type * as Mupdf from 'mupdf';

function warmupPdf(): Buffer {
  const img = Array.from({ length: 32 * 32 }, (_v, i) => ((i * 7) % 256).toString(16).padStart(2, '0')).join('');
  const text = Array.from({ length: 30 }, (_v, i) => `BT /F${(i % 2) + 1} ${9 + (i % 5)} Tf 40 ${800 - i * 14} Td (Warm-up line ${i}: The quick brown fox 0123456789) Tj ET`).join('\n');
  const jp = Array.from({ length: 8 }, (_v, i) => `BT /F3 ${10 + i} Tf 40 ${360 - i * 20} Td <65e5672c8a9e30c630ad30b930c830304e0a5e02753a6751> Tj ET`).join('\n');
  const content = `${text}\n${jp}\n0.2 0.4 0.8 rg 300 500 200 100 re f 1 0 0 RG 3 w 300 450 m 500 480 l 350 420 l S\nq 120 0 0 120 400 150 cm /Im1 Do Q`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R /F2 6 0 R /F3 7 0 R >> /XObject << /Im1 10 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
    '<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman >>',
    '<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiMin-W3 /Encoding /UniJIS-UCS2-H /DescendantFonts [8 0 R] >>',
    '<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HeiseiMin-W3 /CIDSystemInfo << /Registry (Adobe) /Ordering (Japan1) /Supplement 2 >> /FontDescriptor 9 0 R >>',
    '<< /Type /FontDescriptor /FontName /HeiseiMin-W3 /Flags 6 /FontBBox [0 -141 1000 859] /ItalicAngle 0 /Ascent 859 /Descent -141 /CapHeight 700 /StemV 80 >>',
    `<< /Type /XObject /Subtype /Image /Width 32 /Height 32 /ColorSpace /DeviceGray /BitsPerComponent 8 /Filter /ASCIIHexDecode /Length ${img.length + 1} >>\nstream\n${img}>\nendstream`,
  ];
  return assemblePdf(objects);
}

/** A PDF file from its objects in order (object 1 is the catalog), with a correct xref table. */
export function assemblePdf(objects: string[]): Buffer {
  let out = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((o, i) => {
    offsets.push(out.length);
    out += `${i + 1} 0 obj\n${o}\nendobj\n`;
  });
  const xref = out.length;
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n${offsets.map((o) => `${String(o).padStart(10, '0')} 00000 n \n`).join('')}`;
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  return Buffer.from(out, 'latin1');
}

/** Render the built-in page `rounds` times at `dpi`; failures are ignored (warm-up is only an optimisation). */
export function warmUp(mupdf: typeof Mupdf, dpi: number, rounds = 3): void {
  try {
    const pdf = warmupPdf();
    for (let i = 0; i < rounds; i++) {
      const doc = mupdf.Document.openDocument(pdf, 'application/pdf');
      const page = doc.loadPage(0);
      const pix = page.toPixmap(mupdf.Matrix.scale(dpi / 72, dpi / 72), mupdf.ColorSpace.DeviceRGB, false, true);
      pix.getPixels();
      pix.destroy();
      page.destroy();
      doc.destroy();
    }
  } catch {
    /* ignore */
  }
}
