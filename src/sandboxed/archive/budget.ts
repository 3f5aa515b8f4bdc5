/**
 * The limits one archive expansion runs under, shared by every nesting level (child side), and the
 * stop signal that carries a reason code out of the child.
 */
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

/** Thrown to end expansion with a reason code; only the code crosses the process boundary. */
export class ArchiveStop extends Error {
  constructor(readonly code: StopCode, detail: string) {
    super(detail);
  }
}

/** Below this many bytes a high ratio is harmless (a 1 KB run of spaces compresses 100:1). */
export const RATIO_FLOOR = 1024 * 1024;

/** Shared by every level of one expansion: a nested bomb spends the same budget as its parent. */
export class Budget {
  entries = 0;
  bytes = 0;
  constructor(readonly limits: ExpandLimits) {}
  addEntry(): void {
    if (++this.entries > this.limits.entries) throw new ArchiveStop('LIMIT_ARCHIVE', `more than ${this.limits.entries} entries`);
  }
  /** Largest entry that may still be decompressed. */
  room(): number {
    return Math.min(this.limits.entryBytes, this.limits.totalBytes - this.bytes);
  }
  spend(n: number, compressed: number): void {
    this.bytes += n;
    if (this.bytes > this.limits.totalBytes) throw new ArchiveStop('LIMIT_ARCHIVE', 'total size over the limit');
    if (n > this.limits.entryBytes) throw new ArchiveStop('LIMIT_ARCHIVE', 'entry over the size limit');
    if (n > RATIO_FLOOR && n > this.limits.ratio * Math.max(compressed, 1)) throw new ArchiveStop('LIMIT_ARCHIVE', 'compression ratio over the limit');
  }
}

