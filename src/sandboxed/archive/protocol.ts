/**
 * The framed format between the archive child and the gateway.
 *
 * Request (gateway → child, stdin): u32 BE header length, JSON header (operation, limits, and the
 * password when there is one: it never goes into argv, environment or disk), then the untrusted bytes.
 *
 * Response (child → gateway, stdout), a sequence of frames:
 *   'E' u8 flags (bit 0: UTF-8 name; bits 1-3: 0 = regular file, else 1 + index in SPECIAL_KINDS), u16 name length, name bytes, u16 unicode-name length, UTF-8 bytes, u32 data length, data
 *   'X' u8 code length, ASCII code           (exactly one, last; nothing may follow)
 * The reader below treats every value as untrusted and enforces the limits itself.
 */
import { SPECIAL_KINDS, type RawEntry, type SpecialKind } from './expand.js';

const ENTRY = 0x45;
const END = 0x58;
const FLAG_UTF8 = 1;
const SPECIAL_SHIFT = 1;
const SPECIAL_MASK = 0b1110;
/** A name longer than this is not a file name; refuse the frame rather than carry it around. */
const MAX_NAME_BYTES = 4096;

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

/** An entry as read back by the gateway: nothing in it has been checked beyond the frame limits. */
export interface UntrustedEntry {
  untrustedRawName: Buffer;
  untrustedUtf8: boolean;
  untrustedUnicodeName?: string;
  untrustedData: Buffer;
  /** Set for a member that is not a regular file (checked: a known kind, and no data). */
  special?: SpecialKind;
}

export interface FrameLimits {
  entries: number;
  entryBytes: number;
  totalBytes: number;
}

export class FrameError extends Error {}

/**
 * Gateway side: parse the child's whole stdout, enforcing every limit again (the child may be compromised
 * by the archive it parsed). Returns the entries and the child's end code, unvalidated: the caller
 * compares the code with the codes it knows.
 */
export function readFrames(untrusted: Buffer, limits: FrameLimits): { entries: UntrustedEntry[]; untrustedCode: string } {
  const entries: UntrustedEntry[] = [];
  let total = 0;
  let o = 0;
  const need = (n: number): void => {
    if (o + n > untrusted.length) throw new FrameError('truncated frame');
  };
  while (o < untrusted.length) {
    need(1);
    const type = untrusted[o++];
    if (type === END) {
      need(1);
      const len = untrusted[o++]!;
      need(len);
      const untrustedCode = untrusted.subarray(o, o + len).toString('latin1');
      o += len;
      if (o !== untrusted.length) throw new FrameError('bytes after the end frame');
      return { entries, untrustedCode };
    }
    if (type !== ENTRY) throw new FrameError(`unknown frame type ${type}`);
    need(3);
    const flags = untrusted[o++]!;
    const nameLen = untrusted.readUInt16BE(o);
    o += 2;
    if (nameLen > MAX_NAME_BYTES) throw new FrameError('name too long');
    need(nameLen + 2);
    const untrustedRawName = Buffer.from(untrusted.subarray(o, o + nameLen));
    o += nameLen;
    const uniLen = untrusted.readUInt16BE(o);
    o += 2;
    if (uniLen > MAX_NAME_BYTES) throw new FrameError('unicode name too long');
    const specialCode = (flags & SPECIAL_MASK) >> SPECIAL_SHIFT;
    if (specialCode > SPECIAL_KINDS.length) throw new FrameError('unknown entry kind');
    need(uniLen + 4);
    const uni = untrusted.subarray(o, o + uniLen).toString('utf8');
    o += uniLen;
    const untrustedSize = untrusted.readUInt32BE(o);
    o += 4;
    if (entries.length + 1 > limits.entries) throw new FrameError('LIMIT_ARCHIVE: entries');
    if (specialCode && untrustedSize !== 0) throw new FrameError('data on a special entry');
    if (untrustedSize > limits.entryBytes) throw new FrameError('LIMIT_ARCHIVE: entry size');
    total += untrustedSize;
    if (total > limits.totalBytes) throw new FrameError('LIMIT_ARCHIVE: total size');
    need(untrustedSize);
    entries.push({
      untrustedRawName,
      untrustedUtf8: (flags & FLAG_UTF8) !== 0,
      ...(uniLen ? { untrustedUnicodeName: uni } : {}),
      untrustedData: untrusted.subarray(o, o + untrustedSize),
      ...(specialCode ? { special: SPECIAL_KINDS[specialCode - 1]! } : {}),
    });
    o += untrustedSize;
  }
  throw new FrameError('no end frame');
}
