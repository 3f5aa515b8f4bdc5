/**
 * Linked images are not loaded (docs/office-archives.md, "No macros, no links"): an ODF style or an OOXML
 * relationship that points outside the document (file://, a relative path out of the package, http) draws
 * nothing, whatever the sandbox would let LibreOffice read. The linked picture is a solid red PNG placed where
 * the converter can read it (its profile directory); a red pixel on the sanitized page means it was drawn.
 * The same picture stored inside the package must still be drawn (the check sees red, and nothing is lost).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docxPackage, ODF_NS, odtPackage, zipPackage } from '../bench/office-docx.js';
import { convertOffice, setOfficePool } from '../src/sanitize/office/index.js';
import { OfficePool } from '../src/sanitize/office/pool.js';
import { probeSandbox } from '../src/isolation/sandbox.js';
import { buildZip, testContext } from './archive-fixtures.js';

const ODT = 'application/vnd.oasis.opendocument.text';
const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
const RTF = 'application/rtf';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mukaika-office-links-'));
const base = path.join(tmp, 'pool');
const pool = new OfficePool({ memoryMb: 1024, maxDocs: 1000, baseDir: base });
const ctx = testContext();

/** A solid-colour RGB PNG. */
function png(w: number, h: number, rgb: [number, number, number]): Buffer {
  const row = Buffer.concat([Buffer.from([0]), Buffer.from(Array.from({ length: w }, () => rgb).flat())]);
  const chunk = (type: string, data: Buffer): Buffer => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(td));
    return Buffer.concat([len, td, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from('89504e470d0a1a0a', 'hex'),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.concat(Array.from({ length: h }, () => row)))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
const RED = png(64, 64, [255, 0, 0]);

/** Where the converter reads the planted picture: its profile is bound at /profile inside bubblewrap. */
let linked = '';

/** ODF hrefs to the red picture outside the package, the ways a document can say it. */
const outside = (): string[] => [`file://${linked}`, linked, "../profile/red.png", 'http://127.0.0.1:9/red.png'];

const FRAME = (style: string, inner = ''): string =>
  `<text:p><draw:frame draw:style-name="${style}" draw:name="f" text:anchor-type="paragraph" svg:width="15cm" svg:height="15cm">${inner || '<draw:text-box><text:p>x</text:p></draw:text-box>'}</draw:frame></text:p>`;

/** One ODT per way of linking an image from a style or a frame. `href` is where the picture is. */
const ODF_CASES: Record<string, (href: string) => { content: string; styles?: string }> = {
  'page background (style:background-image)': (href) => ({
    styles:
      `<office:automatic-styles><style:page-layout style:name="pm1"><style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm">` +
      `<style:background-image xlink:href="${href}" xlink:type="simple" xlink:actuate="onLoad" style:repeat="stretch"/></style:page-layout-properties></style:page-layout></office:automatic-styles>` +
      '<office:master-styles><style:master-page style:name="Standard" style:page-layout-name="pm1"/></office:master-styles>',
    content: '<office:body><office:text><text:p>page</text:p></office:text></office:body>',
  }),
  'page bitmap fill (draw:fill-image)': (href) => ({
    styles:
      `<office:styles><draw:fill-image draw:name="Red" xlink:href="${href}" xlink:type="simple" xlink:actuate="onLoad"/></office:styles>` +
      '<office:automatic-styles><style:page-layout style:name="pm1"><style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm"/></style:page-layout>' +
      '<style:style style:family="drawing-page" style:name="dp1"><style:drawing-page-properties draw:fill="bitmap" draw:fill-image-name="Red" style:repeat="stretch"/></style:style></office:automatic-styles>' +
      '<office:master-styles><style:master-page style:name="Standard" style:page-layout-name="pm1" draw:style-name="dp1"/></office:master-styles>',
    content: '<office:body><office:text><text:p>page</text:p></office:text></office:body>',
  }),
  'paragraph background': (href) => ({
    content:
      '<office:automatic-styles><style:style style:name="P1" style:family="paragraph"><style:paragraph-properties>' +
      `<style:background-image xlink:href="${href}" xlink:type="simple" xlink:actuate="onLoad" style:repeat="repeat"/></style:paragraph-properties>` +
      '<style:text-properties fo:font-size="200pt"/></style:style></office:automatic-styles>' +
      '<office:body><office:text><text:p text:style-name="P1">背景</text:p></office:text></office:body>',
  }),
  'table cell background': (href) => ({
    content:
      '<office:automatic-styles><style:style style:name="T1" style:family="table"><style:table-properties style:width="16cm" table:align="left"/></style:style>' +
      '<style:style style:name="C1" style:family="table-cell"><style:table-cell-properties>' +
      `<style:background-image xlink:href="${href}" xlink:type="simple" xlink:actuate="onLoad" style:repeat="stretch"/></style:table-cell-properties></style:style>` +
      '<style:style style:name="P1" style:family="paragraph"><style:text-properties fo:font-size="200pt"/></style:style></office:automatic-styles>' +
      '<office:body><office:text><table:table table:name="t" table:style-name="T1"><table:table-column/><table:table-row>' +
      '<table:table-cell table:style-name="C1"><text:p text:style-name="P1">表</text:p></table:table-cell></table:table-row></table:table></office:text></office:body>',
  }),
  'frame bitmap fill': (href) => ({
    styles: `<office:styles><draw:fill-image draw:name="Red" xlink:href="${href}" xlink:type="simple" xlink:actuate="onLoad"/></office:styles>`,
    content:
      '<office:automatic-styles><style:style style:name="fr1" style:family="graphic"><style:graphic-properties draw:fill="bitmap" draw:fill-image-name="Red" style:repeat="stretch"/></style:style></office:automatic-styles>' +
      `<office:body><office:text>${FRAME('fr1')}</office:text></office:body>`,
  }),
  'image bullet (text:list-level-style-image)': (href) => ({
    content:
      '<office:automatic-styles><text:list-style style:name="L1">' +
      `<text:list-level-style-image text:level="1" xlink:href="${href}" xlink:type="simple" xlink:actuate="onLoad">` +
      '<style:list-level-properties fo:width="12cm" fo:height="12cm"/></text:list-level-style-image></text:list-style></office:automatic-styles>' +
      '<office:body><office:text><text:list text:style-name="L1"><text:list-item><text:p>item</text:p></text:list-item></text:list></office:text></office:body>',
  }),
  'linked picture (draw:image)': (href) => ({
    content:
      '<office:automatic-styles><style:style style:name="fr1" style:family="graphic"/></office:automatic-styles>' +
      `<office:body><office:text>${FRAME('fr1', `<draw:image xlink:href="${href}" xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/>`)}</office:text></office:body>`,
  }),
};

/** A .docx whose only content is a 15 cm picture; `blip` is the a:blip's relationship attribute(s). */
const docxPicture = (blip: string, rel: string, files: Array<[string, Buffer]> = []): Promise<Buffer> =>
  docxPackage({
    body:
      '<w:p><w:r><w:drawing><wp:inline xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing"><wp:extent cx="5400000" cy="5400000"/><wp:docPr id="1" name="p"/>' +
      '<a:graphic xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main"><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture">' +
      '<pic:pic xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:nvPicPr><pic:cNvPr id="1" name="p"/><pic:cNvPicPr/></pic:nvPicPr>' +
      `<pic:blipFill><a:blip ${blip}/><a:stretch><a:fillRect/></a:stretch></pic:blipFill>` +
      '<pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="5400000" cy="5400000"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr></pic:pic>' +
      '</a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p>',
    rels: rel,
    files,
  });
const IMAGE_REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships/image';

let seq = 0;
/** Count of red pixels on every page of the sanitized output (what staff would see). */
async function redPixels(bytes: Buffer, mime: string): Promise<number> {
  const r = await convertOffice({ name: 'doc', declaredType: '', bytes, depth: 0 }, mime, ctx);
  expect(r).toMatchObject({ action: 'converted', reason: 'OFFICE_CONVERTED' });
  const file = path.join(tmp, `o${seq++}`);
  writeFileSync(`${file}.pdf`, r.output!.bytes);
  execFileSync('pdftoppm', ['-r', '20', '-singlefile', `${file}.pdf`, file]);
  const ppm = readFileSync(`${file}.ppm`);
  // P6 header: magic, width, height, maxval, each followed by one whitespace byte.
  let off = 0;
  for (let fields = 0; fields < 4; off++) if (/\s/.test(String.fromCharCode(ppm[off]!))) fields++;
  let red = 0;
  for (let i = off; i + 2 < ppm.length; i += 3) if (ppm[i]! > 200 && ppm[i + 1]! < 80 && ppm[i + 2]! < 80) red++;
  return red;
}

beforeAll(async () => {
  setOfficePool(pool);
  await pool.warm();
  // c0 is the pool's only converter (maxDocs is never reached, and the test asserts it stays the same).
  const host = path.join(base, 'c0', 'profile', 'red.png');
  writeFileSync(host, RED);
  linked = probeSandbox().mode === 'none' ? host : '/profile/red.png';
});

afterAll(async () => {
  setOfficePool(undefined);
  await pool.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('linked images in documents are not loaded', () => {
  it('the red picture stored in the package is drawn (the check can see it)', { timeout: 120_000 }, async () => {
    for (const [label, make] of Object.entries(ODF_CASES)) {
      const doc = await odtPackage({ ...make('Pictures/red.png'), files: [['Pictures/red.png', RED, 'image/png']] });
      expect(await redPixels(doc, ODT), label).toBeGreaterThan(20);
    }
  });

  it('OOXML: the same picture as a package part is drawn', { timeout: 120_000 }, async () => {
    const doc = await docxPicture('r:embed="rIdImg"', `<Relationship Id="rIdImg" Type="${IMAGE_REL}" Target="media/red.png"/>`, [['word/media/red.png', RED]]);
    expect(await redPixels(doc, DOCX)).toBeGreaterThan(20);
  });

  // LibreOffice's own BlockUntrustedRefererLinks (office/profile.ts) already stops these; the relationship is
  // emptied before load as well, and this keeps both layers honest.
  it('OOXML: an external image relationship (r:embed or r:link, TargetMode="External") draws nothing', { timeout: 120_000 }, async () => {
    const seen: Record<string, number> = {};
    for (const target of [`file://${linked}`, linked, 'http://127.0.0.1:9/red.png']) {
      for (const attr of ['r:embed', 'r:link']) {
        const rel = `<Relationship Id="rIdImg" Type="${IMAGE_REL}" Target="${target}" TargetMode="External"/>`;
        seen[`${attr} ${target}`] = await redPixels(await docxPicture(`${attr}="rIdImg"`, rel), DOCX);
      }
    }
    expect(seen).toEqual(Object.fromEntries(Object.keys(seen).map((k) => [k, 0])));
  });

  it('flat ODF (one XML file, no package): every link is outside', { timeout: 120_000 }, async () => {
    const { styles, content } = ODF_CASES['page background (style:background-image)']!(`file://${linked}`);
    const flat = Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?><office:document ${ODF_NS} office:mimetype="application/vnd.oasis.opendocument.text">${styles}${content}</office:document>`,
      'utf8',
    );
    expect(await redPixels(flat, ODT)).toBe(0);
  });

  for (const [label, make] of Object.entries(ODF_CASES)) {
    it(`ODF ${label}: a link outside the package draws nothing`, { timeout: 120_000 }, async () => {
      const pids = await pool.pids();
      const seen: Record<string, number> = {};
      for (const href of outside()) seen[href] = await redPixels(await odtPackage(make(href)), ODT);
      expect(seen).toEqual(Object.fromEntries(outside().map((h) => [h, 0])));
      expect(await pool.pids()).toEqual(pids);
    });
  }

  it('the link is found however it is written: character references, another prefix, a UTF-16 part', { timeout: 120_000 }, async () => {
    const encoded = [...`file://${linked}`].map((c) => `&#x${c.charCodeAt(0).toString(16)};`).join('');
    const page = ODF_CASES['page background (style:background-image)']!;
    const variants: Record<string, Promise<Buffer>> = {
      'character references': odtPackage(page(encoded)),
      'xlink bound to another prefix': odtPackage({
        ...page(`file://${linked}`),
        styles: page(`file://${linked}`).styles!.replace('<office:automatic-styles>', '<office:automatic-styles xmlns:q="http://www.w3.org/1999/xlink">').replace(/xlink:/g, 'q:'),
      }),
    };
    const seen: Record<string, number> = {};
    for (const [label, doc] of Object.entries(variants)) seen[label] = await redPixels(await doc, ODT);
    // styles.xml in UTF-16 with a byte order mark, as some producers write it.
    const { styles, content } = page(`file://${linked}`);
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`<?xml version="1.0" encoding="UTF-16"?><office:document-styles ${ODF_NS}>${styles}</office:document-styles>`, 'utf16le')]);
    const pkg = await zipPackage([
      ['mimetype', 'application/vnd.oasis.opendocument.text'],
      ['content.xml', `<?xml version="1.0" encoding="UTF-8"?><office:document-content ${ODF_NS}>${content}</office:document-content>`],
      ['styles.xml', utf16],
      [
        'META-INF/manifest.xml',
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">' +
          '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>' +
          '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/></manifest:manifest>',
      ],
    ]);
    seen['UTF-16 styles.xml'] = await redPixels(pkg, ODT);
    expect(seen).toEqual({ 'character references': 0, 'xlink bound to another prefix': 0, 'UTF-16 styles.xml': 0 });
  });

  it('a package that cannot be checked is not handed to LibreOffice: held CONVERTER_FAILED', { timeout: 120_000 }, async () => {
    const page = ODF_CASES['page background (style:background-image)']!;
    const good = await odtPackage(page('Pictures/red.png'));
    const { styles } = page(`file://${linked}`);
    const cases: Record<string, Buffer> = {
      // Two entries named styles.xml: readers disagree on which one counts.
      'duplicate entry names': buildZip([
        { name: 'mimetype', data: Buffer.from('application/vnd.oasis.opendocument.text') },
        { name: 'styles.xml', data: Buffer.from(`<office:document-styles ${ODF_NS}>${styles}</office:document-styles>`) },
        { name: 'content.xml', data: Buffer.from(`<office:document-content ${ODF_NS}><office:body><office:text><text:p>x</text:p></office:text></office:body></office:document-content>`) },
        { name: 'styles.xml', data: Buffer.from(`<office:document-styles ${ODF_NS}/>`) },
      ]),
      // An entity declared in a DTD can carry or fetch a link that no attribute shows.
      'a DTD': await zipPackage([
        ['mimetype', 'application/vnd.oasis.opendocument.text'],
        ['content.xml', `<?xml version="1.0" encoding="UTF-8"?><!DOCTYPE x [<!ENTITY u "file://${linked}">]><office:document-content ${ODF_NS}><office:body><office:text><text:p>x</text:p></office:text></office:body></office:document-content>`],
      ]),
      // xml:base would make an href that names a package entry resolve outside the package.
      'xml:base': await odtPackage({ ...page('Pictures/red.png'), styles: page('Pictures/red.png').styles!.replace('<office:automatic-styles>', `<office:automatic-styles xml:base="file://${path.dirname(linked)}/">`), files: [['Pictures/red.png', RED, 'image/png']] }),
      // Bytes before the ZIP: a reader that scans for the central directory still finds the package.
      'a ZIP behind other bytes': Buffer.concat([Buffer.from('MUKAIKA-PREFIX'.repeat(10)), good]),
    };
    const seen: Record<string, unknown> = {};
    const pids = await pool.pids();
    for (const [label, doc] of Object.entries(cases)) {
      const r = await convertOffice({ name: 'doc', declaredType: '', bytes: doc, depth: 0 }, ODT, ctx);
      seen[label] = { action: r.action, reason: r.reason };
    }
    const held = { action: 'held', reason: 'CONVERTER_FAILED' };
    expect(seen).toEqual({ 'duplicate entry names': held, 'a DTD': held, 'xml:base': held, 'a ZIP behind other bytes': held });
    // soffice never saw them, so the converter is kept.
    expect(await pool.pids()).toEqual(pids);
  });

  it('RTF: an INCLUDEPICTURE field does not load its picture; written indirectly, the document is held', { timeout: 120_000 }, async () => {
    const field = (inst: string): Buffer => Buffer.from(`{\\rtf1\\ansi Please include picture IDs.\\par{\\field{\\*\\fldinst ${inst}}{\\fldrslt cached}}\\par}`, 'latin1');
    expect(await redPixels(field(`INCLUDEPICTURE "file://${linked}" \\\\d`), RTF)).toBe(0);
    expect(await redPixels(field(`includePicture "${linked}"`), RTF)).toBe(0);
    const seen: Record<string, unknown> = {};
    for (const inst of [`\\'49NCLUDEPICTURE "${linked}"`, `{\\u73?NCLUDE}{PICTURE} "${linked}"`, `{\\uc2\\u73 XYNCLUDEPICTURE} "${linked}"`]) {
      const r = await convertOffice({ name: 'doc', declaredType: '', bytes: field(inst), depth: 0 }, RTF, ctx);
      seen[inst] = { action: r.action, reason: r.reason };
    }
    expect(Object.values(seen)).toEqual(Array(3).fill({ action: 'held', reason: 'CONVERTER_FAILED' }));
  });
});
