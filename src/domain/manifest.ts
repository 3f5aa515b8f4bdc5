import type { ReasonCode } from './reasons.js';

export type Verdict = 'sanitized' | 'held' | 'rejected';
export type PartAction = 'flattened' | 'reencoded' | 'converted' | 'text' | 'removed' | 'held';

export interface OutputInfo {
  name: string;
  type: string;
  size: number;
  sha256: string;
  pages?: number;
}

export interface PartManifest {
  name: string;
  declaredType: string;
  detectedType: string;
  size: number;
  sha256: string;
  action: PartAction;
  reason: ReasonCode;
  output?: OutputInfo;
  /** Inner files of an archive, each with its own verdict. */
  entries?: PartManifest[];
}

export interface BodyManifest {
  from: 'text' | 'html' | 'none';
  /** Charset actually used to decode (may differ from the label when the label lied). */
  charset: string;
  declaredCharset?: string;
  linksNeutralised: number;
  /** Inline-encoded files (uuencode, yEnc, BinHex, base64) cut from the body; absent when none. */
  encodedBlocksRemoved?: number;
}

/** manifest.json (docs/DESIGN.md §5): the CLI, API and web view all show this. */
export interface Manifest {
  id: string;
  kind: 'message' | 'file';
  verdict: Verdict;
  body?: BodyManifest;
  parts: PartManifest[];
}

const everyPart = (ps: PartManifest[]): PartManifest[] => ps.flatMap((p) => [p, ...everyPart(p.entries ?? [])]);

/** Held wins over sanitized: any held part or archive entry, at any depth, means the original must be kept for staff. */
export function verdictOf(parts: PartManifest[]): Verdict {
  return everyPart(parts).some((p) => p.action === 'held') ? 'held' : 'sanitized';
}

/**
 * The action of an archive none of whose entries produced output: held when anything inside is held (staff
 * need the original), removed otherwise, with the first entry's reason (EMPTY when it had none).
 */
export function containerWithoutOutput(entries: PartManifest[]): { action: 'held' | 'removed'; reason: ReasonCode } {
  if (everyPart(entries).some((p) => p.action === 'held')) return { action: 'held', reason: 'ARCHIVE_ENTRIES_HELD' };
  return { action: 'removed', reason: entries[0]?.reason ?? 'EMPTY' };
}
