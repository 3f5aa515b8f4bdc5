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

/**
 * Where a ZIP's structure is: a local header (or an empty archive's end record) at offset 0, and an end of
 * central directory record near the end whose directory lies inside the file and starts with a central
 * header. Readers find a ZIP by the end record, PDF readers find a PDF by `%PDF-` in the first 1024 bytes:
 * a file with both is two documents at once, and which one a reader sees depends on the reader.
 */
export function zipStructure(b: Buffer): { atStart: boolean; centralDirectory: boolean } {
  const atStart = u32(b, 0) === 0x04034b50 || u32(b, 0) === 0x06054b50;
  const sig = Buffer.from([0x50, 0x4b, 0x05, 0x06]);
  const floor = Math.max(0, b.length - 22 - 65535);
  for (let e = b.lastIndexOf(sig, b.length - 22); e >= floor; e = e > 0 ? b.lastIndexOf(sig, e - 1) : -1) {
    const count = u16(b, e + 10);
    const size = u32(b, e + 12);
    const offset = u32(b, e + 16);
    if (count < 0 || size < 0 || offset < 0) continue;
    if (count === 0 && size === 0) return { atStart, centralDirectory: true };
    // ZIP64 puts 0xffffffff here and the real values in its own record: still a directory at the end.
    // Readers also accept a directory right before the end record whose offsets are off by a prefix.
    const stated = offset + size <= e && u32(b, offset) === 0x02014b50;
    if (offset === 0xffffffff || stated || (size <= e && u32(b, e - size) === 0x02014b50)) return { atStart, centralDirectory: true };
  }
  return { atStart, centralDirectory: false };
}

/** A POSIX/GNU tar header at offset 0: `ustar` magic and a matching header checksum. */
export function tarAtStart(b: Buffer): boolean {
  if (b.length < 512 || b.subarray(257, 262).toString('latin1') !== 'ustar') return false;
  const stored = parseInt(b.subarray(148, 156).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : b[i]!;
  return stored === sum;
}
