/**
 * Runs inside the renderer child. Repairs that make MuPDF draw what other viewers draw, so that the
 * flattened pixels show the text the sender saw (文字化け is the failure users complain about most).
 */
import type * as Mupdf from 'mupdf';

type PDFDocument = Mupdf.PDFDocument;
type PDFObject = Mupdf.PDFObject;

/**
 * A Type0 font whose CIDFont has no /FontDescriptor (common in old Japanese PDFs that rely on the viewer's
 * HeiseiMin/HeiseiKakuGo) makes MuPDF give up on the CID font and draw the Shift_JIS bytes with a Latin
 * font ("日本語" becomes "“ú–{Œê"). Adding a minimal, non-embedded descriptor lets MuPDF pick its built-in
 * CJK font for the CIDSystemInfo ordering, as Acrobat and pdf.js do.
 */
function patchType0(pdf: PDFDocument, font: PDFObject): boolean {
  if (!font.isDictionary() || font.get('Subtype').asName() !== 'Type0') return false;
  const cid = font.get('DescendantFonts').get(0).resolve();
  if (!cid.isDictionary() || !cid.get('FontDescriptor').isNull()) return false;
  const fd = pdf.newDictionary();
  fd.put('Type', pdf.newName('FontDescriptor'));
  fd.put('FontName', cid.get('BaseFont').isNull() ? pdf.newName('Unknown') : cid.get('BaseFont'));
  fd.put('Flags', pdf.newInteger(6)); // symbolic + serif: the CID ordering, not Latin, picks glyphs
  const bbox = pdf.newArray();
  for (const v of [0, -120, 1000, 880]) bbox.push(pdf.newInteger(v));
  fd.put('FontBBox', bbox);
  for (const [k, v] of [['ItalicAngle', 0], ['Ascent', 880], ['Descent', -120], ['CapHeight', 700], ['StemV', 80]] as const) fd.put(k, pdf.newInteger(v));
  cid.put('FontDescriptor', pdf.addObject(fd));
  return true;
}

/** Patch the fonts of page `index` (its own or inherited /Resources, and one level of form XObjects). */
export function repairPageFonts(pdf: PDFDocument, index: number): number {
  let patched = 0;
  const visitResources = (res: PDFObject, depth: number): void => {
    if (!res.isDictionary()) return;
    res.get('Font').forEach((f) => {
      if (patchType0(pdf, f.resolve())) patched++;
    });
    if (depth > 0) return;
    res.get('XObject').forEach((x) => {
      const xo = x.resolve();
      if (xo.isDictionary() && xo.get('Subtype').asName() === 'Form') visitResources(xo.get('Resources').resolve(), depth + 1);
    });
  };
  let node: PDFObject = pdf.findPage(index);
  // /Resources may be inherited from the page tree; a few levels are plenty and bound the walk.
  for (let i = 0; i < 8 && node.isDictionary(); i++) {
    const res = node.get('Resources').resolve();
    if (res.isDictionary()) {
      visitResources(res, 0);
      break;
    }
    node = node.get('Parent').resolve();
  }
  return patched;
}
