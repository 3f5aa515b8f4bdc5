/**
 * Just enough of the ZIP and OLE compound-file layouts to tell what a container holds. Every offset is
 * read from untrusted bytes, so each read is bounds-checked and the walks are capped; these functions
 * look, they never extract.
 */

export interface ZipSummary {
  names: string[];
  /** General-purpose flag bit 0 on any entry (traditional PKWARE or AES encryption). */
  encrypted: boolean;
  /** Name and stored content of a first entry called `mimetype` (ODF, EPUB). */
  mimetype?: string;
}

const MAX_ENTRIES = 10_000;

function u16(b: Buffer, o: number): number {
  return o + 2 <= b.length ? b.readUInt16LE(o) : -1;
}
function u32(b: Buffer, o: number): number {
  return o + 4 <= b.length ? b.readUInt32LE(o) : -1;
}

/** Entries from the central directory; falls back to walking local headers (ZIP64, damaged directories). */
export function summariseZip(b: Buffer): ZipSummary {
  const out: ZipSummary = { names: [], encrypted: false };
  // Local headers first: the mimetype convention (ODF, EPUB) is about the first local entry.
  let o = 0;
  for (let i = 0; i < MAX_ENTRIES && u32(b, o) === 0x04034b50; i++) {
    const flags = u16(b, o + 6);
    const method = u16(b, o + 8);
    const csize = u32(b, o + 18);
    const nameLen = u16(b, o + 26);
    const extraLen = u16(b, o + 28);
    if (flags < 0 || csize < 0 || nameLen < 0 || extraLen < 0) break;
    const name = b.subarray(o + 30, o + 30 + nameLen).toString('utf8');
    out.names.push(name);
    if (flags & 1) out.encrypted = true;
    const data = o + 30 + nameLen + extraLen;
    if (i === 0 && name === 'mimetype' && method === 0 && csize < 200) out.mimetype = b.subarray(data, data + csize).toString('latin1').trim();
    // Bit 3: sizes follow the data; without parsing the data we cannot find the next header.
    if (flags & 8 || csize === 0xffffffff) break;
    o = data + csize;
  }
  const eocd = b.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]), b.length - 22);
  if (eocd < 0 || eocd < b.length - 22 - 65535) return out;
  const count = Math.min(u16(b, eocd + 10), MAX_ENTRIES);
  let c = u32(b, eocd + 16);
  const seen = new Set(out.names);
  for (let i = 0; i < count && c >= 0 && u32(b, c) === 0x02014b50; i++) {
    const flags = u16(b, c + 8);
    const nameLen = u16(b, c + 28);
    const extraLen = u16(b, c + 30);
    const commentLen = u16(b, c + 32);
    if (flags < 0 || nameLen < 0 || extraLen < 0 || commentLen < 0) break;
    const name = b.subarray(c + 46, c + 46 + nameLen).toString('utf8');
    if (!seen.has(name)) out.names.push(name);
    if (flags & 1) out.encrypted = true;
    c += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

/** OOXML application from part names, including macro-enabled variants. */
export function ooxmlType(z: ZipSummary, contentTypesXml: string | undefined): { mime: string; ext: string } | undefined {
  if (!z.names.includes('[Content_Types].xml')) return undefined;
  const macro = z.names.some((n) => /vbaProject\.bin$/i.test(n)) || /macroEnabled/i.test(contentTypesXml ?? '');
  if (z.names.some((n) => n.startsWith('word/'))) {
    return macro ? { mime: 'application/vnd.ms-word.document.macroEnabled.12', ext: 'docm' } : { mime: 'application/vnd.openxmlformats-officedocument.wordprocessingml.document', ext: 'docx' };
  }
  if (z.names.some((n) => n.startsWith('xl/'))) {
    return macro ? { mime: 'application/vnd.ms-excel.sheet.macroEnabled.12', ext: 'xlsm' } : { mime: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', ext: 'xlsx' };
  }
  if (z.names.some((n) => n.startsWith('ppt/'))) {
    return macro ? { mime: 'application/vnd.ms-powerpoint.presentation.macroEnabled.12', ext: 'pptm' } : { mime: 'application/vnd.openxmlformats-officedocument.presentationml.presentation', ext: 'pptx' };
  }
  // XPS and other OPC packages carry [Content_Types].xml too; they are not Office documents we convert.
  return undefined;
}

const utf16 = (s: string): Buffer => Buffer.from(s, 'utf16le');

/**
 * What an OLE compound file (D0CF11E0) holds, from the UTF-16LE stream names in its directory sectors.
 * A name search rather than a FAT walk: a false "encrypted" only holds a file, which fails safe.
 */
export function oleType(b: Buffer): { mime: string; kind: 'office' | 'encrypted-office' | 'unknown' } {
  const has = (name: string): boolean => b.includes(utf16(name));
  if (has('EncryptedPackage') || has('EncryptionInfo')) return { mime: 'application/x-ms-office-encrypted', kind: 'encrypted-office' };
  if (has('WordDocument')) return { mime: 'application/msword', kind: 'office' };
  if (has('Workbook') || has('Book')) return { mime: 'application/vnd.ms-excel', kind: 'office' };
  if (has('PowerPoint Document')) return { mime: 'application/vnd.ms-powerpoint', kind: 'office' };
  if (has('__substg1.0_')) return { mime: 'application/vnd.ms-outlook', kind: 'unknown' };
  return { mime: 'application/x-ole-storage', kind: 'unknown' };
}

/** `/Encrypt` as a trailer key (followed by a reference or a dictionary), anywhere in the file. */
export function pdfLooksEncrypted(b: Buffer): boolean {
  const key = Buffer.from('/Encrypt', 'latin1');
  for (let i = b.indexOf(key); i >= 0; i = b.indexOf(key, i + key.length)) {
    const after = b.subarray(i + key.length, i + key.length + 24).toString('latin1');
    if (/^\s*(\d+\s+\d+\s+R|<<)/.test(after)) return true;
  }
  return false;
}
