/**
 * The framed format between the archive child and the gateway.
 *
 * Request (gateway → child, stdin): u32 BE header length, JSON header (operation, limits, and the
 * password when there is one: it never goes into argv, environment or disk), then the untrusted bytes.
 *
 * Response (child → gateway, stdout), a sequence of frames:
 *   'E' u8 flags (bit 0: UTF-8 name; bits 1-3: 0 = regular file, else 1 + index in SPECIAL_KINDS), u16 name length, name bytes, u16 unicode-name length, UTF-8 bytes, u32 data length, data
 *   'X' u8 code length, ASCII code           (exactly one, last; nothing may follow)
 * This file is the only one the trusted side imports from src/sandboxed/archive/ (docs/DESIGN.md); the
 * reader, sanitize/archive/reader.ts, treats every value as untrusted and enforces the limits itself.
 */

export const ENTRY = 0x45;
export const END = 0x58;
export const FLAG_UTF8 = 1;
export const SPECIAL_SHIFT = 1;
export const SPECIAL_MASK = 0b1110;
/** A name longer than this is not a file name; refuse the frame rather than carry it around. */
export const MAX_NAME_BYTES = 4096;

export function encodeRequest(header: object, payload: Uint8Array): Buffer {
  const h = Buffer.from(JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(h.length);
  return Buffer.concat([len, h, payload]);
}

export function decodeRequest<T>(buf: Buffer): { header: T; payload: Buffer } {
  const n = buf.readUInt32BE(0);
  return { header: JSON.parse(buf.subarray(4, 4 + n).toString('utf8')) as T, payload: buf.subarray(4 + n) };
}

/** Child side: frames for one entry (header and data kept separate to avoid a copy). */
export function encodeEntry(e: RawEntry): Buffer[] {
  const name = Buffer.from(e.rawName).subarray(0, MAX_NAME_BYTES);
  const uni = Buffer.from(e.unicodeName ?? '', 'utf8').subarray(0, MAX_NAME_BYTES);
  const head = Buffer.alloc(1 + 1 + 2 + name.length + 2 + uni.length + 4);
  let o = head.writeUInt8(ENTRY, 0);
  const special = e.special ? (SPECIAL_KINDS.indexOf(e.special) + 1) << SPECIAL_SHIFT : 0;
  o = head.writeUInt8((e.utf8 ? FLAG_UTF8 : 0) | special, o);
  o = head.writeUInt16BE(name.length, o);
  o += name.copy(head, o);
  o = head.writeUInt16BE(uni.length, o);
  o += uni.copy(head, o);
  head.writeUInt32BE(e.data.length, o);
  return [head, e.data];
}

export function encodeEnd(code: string): Buffer {
  const c = Buffer.from(code, 'latin1');
  return Buffer.concat([Buffer.from([END, c.length]), c]);
}

export interface ExpandLimits {
  /** Entries in the whole tree (nested archives included). */
  entries: number;
  /** Decompressed bytes in the whole tree. */
  totalBytes: number;
  entryBytes: number;
  /** Uncompressed:compressed, checked per entry and for the tree once sizes pass RATIO_FLOOR. */
  ratio: number;
  /** Archive levels that may still be opened below this one (0: entries are not looked into). */
  depth: number;
}

/** One file from the archive, name still as stored (bytes) for the trusted side to decode and neutralise. */
export interface RawEntry {
  rawName: Uint8Array;
  /** General-purpose flag bit 11 (or a PAX path): the name is UTF-8. */
  utf8: boolean;
  /** Info-ZIP Unicode Path extra field (0x7075) when its CRC matches the stored name. */
  unicodeName?: string;
  data: Buffer;
  /** Not a regular file: listed (removed) with no data, never extracted or followed. */
  special?: SpecialKind;
}

/** Archive members that are not regular files. Directories are not listed: their files are. */
export type SpecialKind = 'symlink' | 'hardlink' | 'device' | 'fifo' | 'other';
export const SPECIAL_KINDS: readonly SpecialKind[] = ['symlink', 'hardlink', 'device', 'fifo', 'other'];

export type StopCode = 'LIMIT_ARCHIVE' | 'ENCRYPTED' | 'WRONG_PASSWORD' | 'CORRUPT';

/** Below this many bytes a high ratio is harmless (a 1 KB run of spaces compresses 100:1). */
export const RATIO_FLOOR = 1024 * 1024;

export interface ChildRequest {
  op: 'expand' | 'office-decrypt';
  limits: ExpandLimits;
  /** Only for encrypted inputs; arrives on stdin, is never logged or written anywhere. */
  password?: string;
}

/**
 * Excel's built-in read password: workbooks "protected" with it open without asking in Excel, so they
 * are not PPAP and are unlocked without staff having to know anything.
 */
export const EXCEL_DEFAULT_PASSWORD = 'VelvetSweatshop';
