/**
 * Archives (docs/office-archives.md): expand in the isolated child with limits, sanitize each entry by the same table
 * (recursively, depth + 1), repack the sanitized outputs only into a new ZIP, and list every entry.
 */
import path from 'node:path';
import { containerWithoutOutput, type PartManifest } from '../../domain/manifest.js';
import type { ReasonCode } from '../../domain/reasons.js';
import { sha256 } from '../hash.js';
import type { PartInput, PartResult, SanitizeContext } from '../types.js';
import type { ExpandLimits, SpecialKind } from '../../sandboxed/archive/protocol.js';
import { decodeEntryName, neutraliseName, stem, uniqueName } from './names.js';
import { repackZip, type RepackFile } from './repack.js';
import { runArchiveChild, type RunOptions } from './run.js';

/** The dispatcher's own entry point, passed in (not imported) so that archive/ and parts.ts form no cycle. */
export type SanitizeEntry = (input: PartInput, ctx: SanitizeContext) => Promise<PartResult>;

/** What one archive tree (the attachment and every archive nested in it) may still spend. */
interface TreeBudget {
  entries: number;
  bytes: number;
}

// Keyed by the context handed to nested calls: one budget per attachment, shared by its nested archives.
const budgets = new WeakMap<SanitizeContext, TreeBudget>();

const SPECIAL: Record<SpecialKind, { type: string; reason: ReasonCode }> = {
  symlink: { type: 'inode/symlink', reason: 'ARCHIVE_LINK' },
  hardlink: { type: 'inode/x-hardlink', reason: 'ARCHIVE_LINK' },
  device: { type: 'inode/x-device', reason: 'ARCHIVE_SPECIAL' },
  fifo: { type: 'inode/fifo', reason: 'ARCHIVE_SPECIAL' },
  other: { type: 'application/octet-stream', reason: 'ARCHIVE_SPECIAL' },
};

export async function sanitizeArchive(
  input: PartInput,
  detectedType: string,
  ctx: SanitizeContext,
  sanitizeEntry: SanitizeEntry,
  opts: RunOptions = {},
): Promise<PartResult> {
  const l = ctx.config.sanitize.limits;
  const fail = (action: 'removed' | 'held', reason: PartResult['reason']): PartResult => ({ detectedType, action, reason });
  if (input.depth >= l.archiveDepth) return fail('removed', 'LIMIT_ARCHIVE');
  let budget = budgets.get(ctx);
  let childCtx = ctx;
  if (!budget) {
    budget = { entries: l.archiveEntries, bytes: l.archiveTotalBytes };
    childCtx = { ...ctx };
    budgets.set(childCtx, budget);
  }
  const limits: ExpandLimits = {
    entries: budget.entries,
    totalBytes: budget.bytes,
    entryBytes: l.archiveEntryBytes,
    ratio: l.archiveRatio,
    depth: l.archiveDepth - input.depth - 1,
  };
  if (limits.entries <= 0 || limits.totalBytes <= 0) return fail('removed', 'LIMIT_ARCHIVE');
  const run = await runArchiveChild('expand', input.bytes, limits, ctx, input.password, opts);
  if (!run.ok) return fail(run.action, run.reason);
  budget.entries -= run.entries.length;
  budget.bytes -= run.entries.reduce((n, e) => n + e.untrustedData.length, 0);

  const manifest: PartManifest[] = [];
  const files: RepackFile[] = [];
  const taken = new Set<string>();
  const fallback = input.name.toLowerCase().endsWith('.gz') ? stem(input.name) : 'file';
  for (const [i, e] of run.entries.entries()) {
    const { name } = neutraliseName(decodeEntryName(e), run.entries.length > 1 ? `${fallback}-${i + 1}` : fallback);
    const data = e.untrustedData;
    if (e.special) {
      // Links, devices and FIFOs are never followed or recreated: listed, removed, with what they were.
      const s = SPECIAL[e.special];
      manifest.push({ name, declaredType: s.type, detectedType: s.type, size: 0, sha256: sha256(data), action: 'removed', reason: s.reason });
      continue;
    }
    const result = await sanitizeEntry({ name, declaredType: 'application/octet-stream', bytes: data, depth: input.depth + 1 }, childCtx);
    const m: PartManifest = {
      name,
      declaredType: 'application/octet-stream',
      detectedType: result.detectedType,
      size: data.length,
      sha256: sha256(data),
      action: result.action,
      reason: result.reason,
      ...(result.entries ? { entries: result.entries } : {}),
    };
    // Only fresh converter output is repacked; a removed or held entry never contributes bytes.
    if (result.output && result.action !== 'removed' && result.action !== 'held') {
      const dir = path.posix.dirname(name);
      const out = uniqueName(dir === '.' ? result.output.name : `${dir}/${result.output.name}`, taken);
      files.push({ path: out, bytes: result.output.bytes });
      m.output = {
        name: out,
        type: result.output.type,
        size: result.output.bytes.length,
        sha256: sha256(result.output.bytes),
        ...(result.output.pages !== undefined ? { pages: result.output.pages } : {}),
      };
    }
    manifest.push(m);
  }
  if (files.length === 0) return { detectedType, ...containerWithoutOutput(manifest), entries: manifest };
  const bytes = await repackZip(files);
  return {
    detectedType,
    action: 'converted',
    reason: 'ARCHIVE_REPACKED',
    output: { name: `${stem(input.name)}.zip`, type: 'application/zip', bytes },
    entries: manifest,
  };
}
