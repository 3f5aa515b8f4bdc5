/** A minimal one-page .docx (and ODT packages) built in code, for the Office benchmark and tests. */
import { ZipFile } from 'yazl';

export const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A ZIP of the given entries in order; `mimetype` (ODF's first entry) is stored uncompressed. */
export async function zipPackage(entries: Array<[name: string, data: string | Buffer]>): Promise<Buffer> {
  const z = new ZipFile();
  for (const [name, data] of entries) z.addBuffer(typeof data === 'string' ? Buffer.from(data, 'utf8') : data, name, { compress: name !== 'mimetype' });
  z.end();
  const chunks: Buffer[] = [];
  for await (const c of z.outputStream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** Namespace declarations of an ODF document's root element. */
export const ODF_NS =
  'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" ' +
  'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" ' +
  'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" ' +
  'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.3"';

/**
 * An ODT package: `content` and `styles` are the inner XML of office:document-content / office:document-styles
 * (without the root element); `files` are further entries (fonts, pictures), listed in the manifest.
 */
export function odtPackage(parts: { content: string; styles?: string; files?: Array<[name: string, data: Buffer, mediaType: string]> }): Promise<Buffer> {
  const files = parts.files ?? [];
  const manifest =
    '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">' +
    '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>' +
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>' +
    (parts.styles !== undefined ? '<manifest:file-entry manifest:full-path="styles.xml" manifest:media-type="text/xml"/>' : '') +
    files.map(([name, , type]) => `<manifest:file-entry manifest:full-path="${esc(name)}" manifest:media-type="${type}"/>`).join('') +
    '</manifest:manifest>';
  return zipPackage([
    ['mimetype', 'application/vnd.oasis.opendocument.text'],
    ['content.xml', `<?xml version="1.0" encoding="UTF-8"?><office:document-content ${ODF_NS}>${parts.content}</office:document-content>`],
    ...(parts.styles !== undefined ? [['styles.xml', `<?xml version="1.0" encoding="UTF-8"?><office:document-styles ${ODF_NS}>${parts.styles}</office:document-styles>`] as [string, string]] : []),
    ['META-INF/manifest.xml', manifest],
    ...files.map(([name, data]) => [name, data] as [string, Buffer]),
  ]);
}

export async function minimalDocx(paragraphs: string[]): Promise<Buffer> {
  const files: Array<[string, string]> = [
    [
      '[Content_Types].xml',
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>' +
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>',
    ],
    [
      '_rels/.rels',
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>',
    ],
    [
      'word/document.xml',
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>' +
        paragraphs.map((p) => `<w:p><w:r><w:t xml:space="preserve">${esc(p)}</w:t></w:r></w:p>`).join('') +
        '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440"/></w:sectPr></w:body></w:document>',
    ],
  ];
  return zipPackage(files);
}

/** A flat ODF text document (one XML file): LibreOffice's own format, no zip needed. */
export function flatOdt(paragraphs: string[]): Buffer {
  return Buffer.from(
    '<?xml version="1.0" encoding="UTF-8"?><office:document xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" ' +
      'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2" office:mimetype="application/vnd.oasis.opendocument.text">' +
      `<office:body><office:text>${paragraphs.map((p) => `<text:p>${esc(p)}</text:p>`).join('')}</office:text></office:body></office:document>`,
    'utf8',
  );
}

const W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"';
const REL = 'http://schemas.openxmlformats.org/officeDocument/2006/relationships';

/**
 * A .docx package: `body` is the inner XML of w:body; `rels` extra Relationship elements of document.xml;
 * `fontTable` the inner XML of w:fonts with `fontRels` its relationships; `files` further parts.
 */
export function docxPackage(parts: { body: string; rels?: string; fontTable?: string; fontRels?: string; files?: Array<[name: string, data: Buffer]> }): Promise<Buffer> {
  const hasFonts = parts.fontTable !== undefined;
  return zipPackage([
    [
      '[Content_Types].xml',
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">' +
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>' +
        '<Default Extension="odttf" ContentType="application/vnd.openxmlformats-officedocument.obfuscatedFont"/><Default Extension="png" ContentType="image/png"/>' +
        '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>' +
        (hasFonts ? '<Override PartName="/word/fontTable.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.fontTable+xml"/>' : '') +
        '</Types>',
    ],
    [
      '_rels/.rels',
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="${REL}/officeDocument" Target="word/document.xml"/></Relationships>`,
    ],
    [
      'word/_rels/document.xml.rels',
      '<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">' +
        (hasFonts ? `<Relationship Id="rIdFonts" Type="${REL}/fontTable" Target="fontTable.xml"/>` : '') +
        `${parts.rels ?? ''}</Relationships>`,
    ],
    [
      'word/document.xml',
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document ${W_NS}><w:body>${parts.body}` +
        '<w:sectPr><w:pgSz w:w="11906" w:h="16838"/><w:pgMar w:top="1440" w:right="1440" w:bottom="1440" w:left="1440"/></w:sectPr></w:body></w:document>',
    ],
    ...(hasFonts
      ? ([
          ['word/fontTable.xml', `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:fonts ${W_NS}>${parts.fontTable}</w:fonts>`],
          ['word/_rels/fontTable.xml.rels', `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">${parts.fontRels ?? ''}</Relationships>`],
        ] as Array<[string, string]>)
      : []),
    ...(parts.files ?? []),
  ]);
}
