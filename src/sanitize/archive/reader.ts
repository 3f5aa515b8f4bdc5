/**
 * Trusted side of the archive child's protocol (src/sandboxed/archive/protocol.ts): reads the child's
 * whole stdout back. Nothing in an entry is checked beyond the frame limits; names say so.
 */
import { END, ENTRY, FLAG_UTF8, MAX_NAME_BYTES, SPECIAL_KINDS, SPECIAL_MASK, SPECIAL_SHIFT, type SpecialKind } from '../../sandboxed/archive/protocol.js';

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
export function readUntrustedEntries(untrusted: Buffer, limits: FrameLimits): { entries: UntrustedEntry[]; untrustedCode: string } {
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
