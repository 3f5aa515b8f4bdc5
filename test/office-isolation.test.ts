/**
 * One document must not change how another renders (docs/office-archives.md, "One document cannot change
 * another"). The attack: a document embeds a font under a common Japanese name (MS Mincho / ＭＳ 明朝) whose
 * digits are shifted (0 drawn as 1, 1 as 2, …); a later, unrelated invoice in the same resident converter that
 * asks for that font by name must still show its own digits. Pixels are compared on the sanitized output of
 * `convertOffice`, i.e. what staff would see.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { docxPackage, esc, odtPackage } from '../bench/office-docx.js';
import { convertOffice, setOfficePool } from '../src/sanitize/office/index.js';
import { OfficePool } from '../src/sanitize/office/pool.js';
import { sanitizeMessage } from '../src/sanitize/pipeline.js';
import { testContext } from './archive-fixtures.js';

const ODT = 'application/vnd.oasis.opendocument.text';
const DOCX = 'application/vnd.openxmlformats-officedocument.wordprocessingml.document';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mukaika-office-iso-'));
// One converter for the whole file, never recycled by count: every document below goes through the same soffice.
const pool = new OfficePool({ memoryMb: 1024, maxDocs: 1000 });
const ctx = testContext();

/**
 * DejaVu Sans renamed to "MS Mincho" / "ＭＳ 明朝", its cmap rewritten so that each digit shows the next one.
 * Built with fontTools (python3-fonttools) from a font every test machine has.
 */
const SHIFTED_FONT = String.raw`
import sys
from fontTools.ttLib import TTFont
f = TTFont('/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf')
for rec in f['name'].names:
    if rec.nameID in (1, 4, 16): rec.string = 'MS Mincho'
    elif rec.nameID == 6: rec.string = 'MSMincho'
f['name'].setName('ＭＳ 明朝', 1, 3, 1, 0x411)
for t in f['cmap'].tables:
    if not hasattr(t, 'cmap') or 0x30 not in t.cmap: continue
    orig = {c: t.cmap[c] for c in range(0x30, 0x3a)}
    for d in range(10): t.cmap[0x30 + d] = orig[0x30 + (d + 1) % 10]
f.save(sys.argv[1])
`;
let shiftedFont: Buffer;

const INVOICE = ['請求金額 1,234,567円', '口座番号 0987654', '支払期日 2026年12月31日'];

/** ODF and OOXML documents whose text asks for MS Mincho, with or without the shifted font embedded. */
function odt(lines: string[], embed: boolean): Promise<Buffer> {
  const src = embed ? '<svg:font-face-src><svg:font-face-uri xlink:href="Fonts/MSMincho.ttf" xlink:type="simple"><svg:font-face-format svg:string="truetype"/></svg:font-face-uri></svg:font-face-src>' : '';
  const faces = ['MS Mincho', 'ＭＳ 明朝'].map((n) => `<style:font-face style:name="${n}" svg:font-family="'${n}'">${src}</style:font-face>`).join('');
  return odtPackage({
    content:
      `<office:font-face-decls>${faces}</office:font-face-decls><office:automatic-styles>` +
      '<style:style style:name="P1" style:family="paragraph"><style:text-properties style:font-name="MS Mincho" fo:font-size="28pt" style:font-name-asian="ＭＳ 明朝" style:font-size-asian="28pt"/></style:style>' +
      `</office:automatic-styles><office:body><office:text>${lines.map((l) => `<text:p text:style-name="P1">${esc(l)}</text:p>`).join('')}</office:text></office:body>`,
    files: embed ? [['Fonts/MSMincho.ttf', shiftedFont, 'application/x-font-ttf']] : [],
  });
}

function docx(lines: string[], embed: boolean): Promise<Buffer> {
  const run = (l: string): string =>
    `<w:p><w:r><w:rPr><w:rFonts w:ascii="MS Mincho" w:hAnsi="MS Mincho" w:eastAsia="ＭＳ 明朝"/><w:sz w:val="56"/></w:rPr><w:t xml:space="preserve">${esc(l)}</w:t></w:r></w:p>`;
  // No w:fontKey: the obfuscation key is then all zeros, so the font part is the plain TTF.
  const font = (name: string, id: string): string => `<w:font w:name="${name}">${embed ? `<w:embedRegular r:id="${id}"/>` : ''}</w:font>`;
  return docxPackage({
    body: lines.map(run).join(''),
    fontTable: font('MS Mincho', 'rIdF1') + font('ＭＳ 明朝', 'rIdF2'),
    fontRels: embed
      ? ['rIdF1', 'rIdF2'].map((id) => `<Relationship Id="${id}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/font" Target="fonts/${id}.odttf"/>`).join('')
      : '',
    files: embed ? [['word/fonts/rIdF1.odttf', shiftedFont], ['word/fonts/rIdF2.odttf', shiftedFont]] : [],
  });
}

let seq = 0;
/** The sanitized output's first page as 8-bit grey pixels (what staff see), through the real Office path. */
async function pixels(bytes: Buffer, mime: string): Promise<Buffer> {
  const r = await convertOffice({ name: 'doc', declaredType: '', bytes, depth: 0 }, mime, ctx);
  expect(r).toMatchObject({ action: 'converted', reason: 'OFFICE_CONVERTED' });
  return firstPage(r.output!.bytes);
}

function firstPage(pdf: Buffer): Buffer {
  const base = path.join(tmp, `p${seq++}`);
  writeFileSync(`${base}.pdf`, pdf);
  execFileSync('pdftoppm', ['-r', '60', '-gray', '-f', '1', '-l', '1', '-singlefile', `${base}.pdf`, base]);
  return readFileSync(`${base}.pgm`);
}

beforeAll(() => {
  const file = path.join(tmp, 'shifted.ttf');
  execFileSync('/usr/bin/python3', ['-c', SHIFTED_FONT, file]);
  shiftedFont = readFileSync(file);
  setOfficePool(pool);
});

afterAll(async () => {
  setOfficePool(undefined);
  await pool.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('one document cannot change how another renders', () => {
  it('an embedded "MS Mincho" with shifted digits does not reach a later invoice in the same converter', { timeout: 300_000 }, async () => {
    await pool.warm();
    const converter = await pool.pids();
    const aloneOdt = await pixels(await odt(INVOICE, false), ODT);
    const aloneDocx = await pixels(await docx(INVOICE, false), DOCX);
    // The comparison can see one digit change (so equal pixels below mean the digits are the invoice's own).
    const oneDigitOff = await pixels(await odt(['請求金額 1,234,568円', ...INVOICE.slice(1)], false), ODT);
    expect(oneDigitOff.equals(aloneOdt)).toBe(false);

    for (const attacker of [await odt(['0123456789'], true), await docx(['0123456789'], true)]) {
      const r = await convertOffice({ name: 'attack', declaredType: '', bytes: attacker, depth: 0 }, isZipOdf(attacker) ? ODT : DOCX, ctx);
      expect(r.action).toBe('converted');
      expect((await pixels(await odt(INVOICE, false), ODT)).equals(aloneOdt)).toBe(true);
      expect((await pixels(await docx(INVOICE, false), DOCX)).equals(aloneDocx)).toBe(true);
    }
    // Same soffice throughout: a recycled converter would make the comparison pass for the wrong reason.
    expect(await pool.pids()).toEqual(converter);
  });

  it('in one mail: the invoice after an attacker attachment looks as in a mail of its own', { timeout: 300_000 }, async () => {
    const mail = (attachments: Array<[name: string, bytes: Buffer]>): Buffer =>
      Buffer.from(
        [
          'From: sender@example.com', 'To: staff@example.lg.jp', 'Subject: invoice', 'MIME-Version: 1.0', 'Content-Type: multipart/mixed; boundary=b', '',
          '--b', 'Content-Type: text/plain; charset=utf-8', '', 'see attached',
          ...attachments.flatMap(([name, bytes]) => ['--b', `Content-Type: application/octet-stream; name=${name}`, 'Content-Transfer-Encoding: base64', '', bytes.toString('base64')]),
          '--b--', '',
        ].join('\r\n'),
      );
    const invoice = await odt(INVOICE, false);
    // A converter no other test has used: the mail on its own must meet a clean soffice.
    const fresh = new OfficePool({ memoryMb: 1024, maxDocs: 1000 });
    setOfficePool(fresh);
    try {
      await fresh.warm();
      const converter = await fresh.pids();
      const alone = await sanitizeMessage('iso-alone', mail([['invoice.odt', invoice]]), ctx);
      const after = await sanitizeMessage('iso-after', mail([['fonts.odt', await odt(['0123456789'], true)], ['fonts.docx', await docx(['0123456789'], true)], ['invoice.odt', invoice]]), ctx);
      expect(alone.manifest.parts.map((p) => p.action)).toEqual(['converted']);
      expect(after.manifest.parts.map((p) => p.action)).toEqual(['converted', 'converted', 'converted']);
      expect(firstPage(after.outputs[2]!.bytes).equals(firstPage(alone.outputs[0]!.bytes))).toBe(true);
      expect(await fresh.pids()).toEqual(converter);
    } finally {
      setOfficePool(pool);
      await fresh.close();
    }
  });

  it('LibreOffice does not use a document\'s embedded font at all (its PDF names only system fonts)', { timeout: 120_000 }, async () => {
    for (const doc of [await odt(['0123456789'], true), await docx(['0123456789'], true)]) {
      const r = await pool.convert(doc, isZipOdf(doc) ? 'odt' : 'docx', 60_000, 50_000_000);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      const file = path.join(tmp, `lo${seq++}.pdf`);
      writeFileSync(file, r.untrustedPdf);
      const fonts = execFileSync('pdffonts', [file]).toString('utf8');
      expect(fonts).not.toMatch(/MSMincho/); // the shifted font's PostScript name
      expect(fonts).toMatch(/DejaVu|Noto|IPA|Liberation/);
    }
  });

  it('a converter whose profile kept something of a document is replaced before the next document', { timeout: 120_000 }, async () => {
    const base = path.join(tmp, 'tripwire');
    const own = new OfficePool({ memoryMb: 1024, maxDocs: 1000, baseDir: base });
    try {
      await own.warm();
      const first = await own.pids();
      expect((await own.convert(await odt(INVOICE, false), 'odt', 60_000, 50_000_000)).ok).toBe(true);
      expect(await own.pids()).toEqual(first); // an ordinary document leaves nothing: no recycle
      // What a font cache or a temporary font of a document would look like (c0 is the pool's first converter).
      writeFileSync(path.join(base, 'c0', 'profile', 'user', 'temp', 'kept.ttf'), shiftedFont);
      expect((await own.convert(await odt(INVOICE, false), 'odt', 60_000, 50_000_000)).ok).toBe(true);
      const second = await own.pids();
      expect(second).toHaveLength(1);
      expect(second).not.toEqual(first);
    } finally {
      await own.close();
    }
  });
});

/** ODF packages start with the stored `mimetype` entry. */
function isZipOdf(b: Buffer): boolean {
  return b.subarray(30, 38).toString('latin1') === 'mimetype';
}
