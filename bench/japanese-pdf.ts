/**
 * A generated Japanese text-heavy PDF (no corpus needed): A4 pages of dense 明朝 text in a non-embedded
 * Adobe-Japan1 CID font (HeiseiMin-W3, UniJIS-UCS2-H), the way many municipal forms are produced.
 */
import { assemblePdf } from '../src/sandboxed/renderer/warmup.js';

const PARA =
  '地方公共団体における情報セキュリティポリシーに関するガイドラインに基づき、インターネット接続系から' +
  'LGWAN接続系へ取り込むメール及びファイルは、無害化通信により安全を確保したうえで職員へ届ける。' +
  '添付ファイルは画像化して再構成し、本文はテキスト化する。原本はインターネット側に保管する。';

function utf16beHex(s: string): string {
  return Buffer.from(s, 'utf16le').swap16().toString('hex');
}

export function japaneseTextPdf(pageCount = 10): Buffer {
  const objects: string[] = [];
  const add = (o: string): number => objects.push(o);
  add('<< /Type /Catalog /Pages 2 0 R >>');
  add('PAGES');
  add('<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiMin-W3 /Encoding /UniJIS-UCS2-H /DescendantFonts [4 0 R] >>');
  add('<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HeiseiMin-W3 /CIDSystemInfo << /Registry (Adobe) /Ordering (Japan1) /Supplement 2 >> /FontDescriptor 5 0 R /DW 1000 >>');
  add('<< /Type /FontDescriptor /FontName /HeiseiMin-W3 /Flags 6 /FontBBox [0 -141 1000 859] /ItalicAngle 0 /Ascent 859 /Descent -141 /CapHeight 700 /StemV 80 >>');
  const kids: number[] = [];
  for (let p = 0; p < pageCount; p++) {
    let c = 'BT /F1 10.5 Tf 15 TL 56 790 Td\n';
    for (let l = 0; l < 48; l++) {
      const start = (l * 11 + p * 5) % (PARA.length - 45);
      c += `<${utf16beHex(PARA.slice(start, start + 45))}> Tj T*\n`;
    }
    c += 'ET';
    const contents = add(`<< /Length ${Buffer.byteLength(c, 'latin1')} >>\nstream\n${c}\nendstream`);
    kids.push(add(`<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents ${contents} 0 R /Resources << /Font << /F1 3 0 R >> >> >>`));
  }
  objects[1] = `<< /Type /Pages /Kids [${kids.map((k) => `${k} 0 R`).join(' ')}] /Count ${kids.length} >>`;
  return assemblePdf(objects);
}
