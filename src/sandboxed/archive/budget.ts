/**
 * The limits one archive expansion runs under, shared by every nesting level (child side), and the
 * stop signal that carries a reason code out of the child.
 */
import { RATIO_FLOOR, type ExpandLimits, type StopCode } from './protocol.js';

export { RATIO_FLOOR, SPECIAL_KINDS, type ExpandLimits, type RawEntry, type SpecialKind, type StopCode } from './protocol.js';

/** Thrown to end expansion with a reason code; only the code crosses the process boundary. */
export class ArchiveStop extends Error {
  constructor(readonly code: StopCode, detail: string) {
    super(detail);
  }
}

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

