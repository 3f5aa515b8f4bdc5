import { PDFDocument, StandardFonts, rgb } from 'pdf-lib';
import { assemblePdf } from '../../src/sandboxed/renderer/warmup.js';

/** A one-page PDF written by hand (no library), with `label` as its text. */
export function minimalPdf(label: string): Buffer {
  const content = `BT /F1 24 Tf 72 700 Td (${label.replace(/[()\\]/g, '')}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  return assemblePdf(objects);
}

/** A PDF with JavaScript, an OpenAction, a link, a form field and an attachment: everything flattening must drop. */
export async function activePdf(): Promise<Buffer> {
  const doc = await PDFDocument.create();
  const page = doc.addPage([595, 842]);
  const font = await doc.embedFont(StandardFonts.Helvetica);
  page.drawText('Active content test', { x: 50, y: 780, size: 24, font, color: rgb(0, 0, 0) });
  page.drawRectangle({ x: 50, y: 500, width: 300, height: 200, color: rgb(0.9, 0.2, 0.1) });
  doc.addJavaScript('boom', 'app.alert("hello");');
  const form = doc.getForm();
  form.createTextField('name').addToPage(page, { x: 50, y: 400, width: 200, height: 30 });
  await doc.attach(Buffer.from('secret attachment'), 'secret.txt', { mimeType: 'text/plain' });
  const link = doc.context.obj({ Type: 'Annot', Subtype: 'Link', Rect: [50, 300, 250, 330], A: { S: 'URI', URI: 'https://evil.example/' } });
  page.node.set(doc.context.obj('Annots') as never, doc.context.obj([doc.context.register(link)]));
  return Buffer.from(await doc.save());
}
