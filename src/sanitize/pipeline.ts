import path from 'node:path';
import type { Manifest, PartManifest, Verdict } from '../domain/manifest.js';
import { verdictOf } from '../domain/manifest.js';
import { EVT } from '../log.js';
import { sha256 } from './hash.js';
import { parseMail } from '../mail/parse.js';
import { buildNoticeMail, encodedBlockItems, type NoticeItem } from '../mail/notice.js';
import { sanitizePart, withBudget } from './parts.js';
import type { PartInput, PartOutput, PartResult, SanitizeContext } from './types.js';

/** A sanitized output with its content address, ready for the sanitized store. */
export interface StoredOutput extends PartOutput {
  sha256: string;
}

export interface MessageResult {
  manifest: Manifest;
  /** The sanitized RFC 5322 mail to forward into LGWAN. */
  mail: Buffer;
  outputs: StoredOutput[];
  originalMessageId: string | null;
}

export interface FileResult {
  manifest: Manifest;
  outputs: StoredOutput[];
}

/** sanitizePart must not throw; if it does anyway, the part is held: an exception never means "passed". */
async function sanitizeOne(input: PartInput, ctx: SanitizeContext): Promise<PartResult> {
  try {
    return await sanitizePart(input, ctx);
  } catch (err) {
    ctx.log.error({ evt: EVT.SANITIZE_FAILED, err, part: input.name }, 'part sanitizer threw');
    return { detectedType: 'application/octet-stream', action: 'held', reason: 'INTERNAL_ERROR' };
  }
}

export function partManifest(input: PartInput, res: PartResult): { part: PartManifest; output?: StoredOutput } {
  const part: PartManifest = {
    name: input.name,
    declaredType: input.declaredType,
    detectedType: res.detectedType,
    size: input.bytes.length,
    sha256: sha256(input.bytes),
    action: res.action,
    reason: res.reason,
  };
  let output: StoredOutput | undefined;
  // An output only counts for actions that produce new bytes; removed/held never carry one through.
  if (res.output && res.action !== 'removed' && res.action !== 'held') {
    output = { ...res.output, sha256: sha256(res.output.bytes) };
    part.output = { name: output.name, type: output.type, size: output.bytes.length, sha256: output.sha256 };
    if (output.pages !== undefined) part.output.pages = output.pages;
  }
  if (res.entries) part.entries = res.entries;
  return output ? { part, output } : { part };
}

/** One notice line per part, archive entries indented under their archive. */
export function noticeItems(parts: PartManifest[], url: (i: number) => string): NoticeItem[] {
  const entries = (ps: PartManifest[], depth: number): NoticeItem[] =>
    ps.flatMap((p) => [{ name: p.name, action: p.action, reason: p.reason, depth }, ...entries(p.entries ?? [], depth + 1)]);
  return parts.flatMap((p, i) => [{ name: p.name, action: p.action, reason: p.reason, url: url(i) }, ...entries(p.entries ?? [], 1)]);
}

/** Raw mail → sanitized mail + manifest. Never throws for bad input: every part gets a verdict. */
export async function sanitizeMessage(id: string, raw: Buffer, outer: SanitizeContext, opts: { password?: string } = {}): Promise<MessageResult> {
  // One work budget for the whole mail: parsing, every part, every archive entry (work-budget.ts).
  const ctx = withBudget(outer);
  const { config } = ctx;
  const s = config.sanitize;
  const parsed = parseMail(raw, { maxDepth: s.maxMimeDepth, maxParts: s.maxMimeParts, maxBodyChars: s.maxBodyChars, links: s.links });
  const parts: PartManifest[] = [];
  const outputs: StoredOutput[] = [];
  for (const att of parsed.attachments) {
    const input: PartInput = { name: att.name, declaredType: att.declaredType, bytes: att.bytes, depth: 0 };
    const { part, output } = partManifest(input, await sanitizeOne(opts.password === undefined ? input : { ...input, password: opts.password }, ctx));
    parts.push(part);
    if (output) outputs.push(output);
    ctx.log.info({ evt: EVT.SANITIZE_PART, id, type: part.detectedType, action: part.action, reason: part.reason }, 'part');
  }
  // A mail cut by the MIME limits is held even when every part it still had was sanitized.
  const ofParts = verdictOf(parts);
  const verdict: Verdict = parsed.truncated && ofParts === 'sanitized' ? 'held' : ofParts;
  const base = config.web.publicUrl.replace(/\/$/, '');
  const items = noticeItems(parts, (i) => `${base}/messages/${id}/parts/${i}`);
  if (parsed.truncated) items.push({ name: '(メール本文・構造)', action: 'held', reason: 'MIME_LIMIT', url: `${base}/messages/${id}` });
  items.push(...encodedBlockItems(parsed.body.encoded ?? []));
  const mail = await buildNoticeMail(config, {
    id, headers: parsed.headers, items, body: `${parsed.body.text}\n`,
    attachments: outputs.map((o) => ({ name: o.name, type: o.type, bytes: o.bytes })), verdict,
  });
  const manifest: Manifest = {
    id, kind: 'message', verdict,
    body: {
      from: parsed.body.from, charset: parsed.body.charset, linksNeutralised: parsed.body.linksNeutralised,
      ...(parsed.body.declaredCharset ? { declaredCharset: parsed.body.declaredCharset } : {}),
      ...(parsed.body.encoded?.length ? { encodedBlocksRemoved: parsed.body.encoded.length } : {}),
    },
    parts,
  };
  return { manifest, mail, outputs, originalMessageId: parsed.headers.messageId ?? null };
}

/** One uploaded or offline file. Verdict: sanitized when an output exists, held when held, else rejected. */
export async function sanitizeFile(
  id: string,
  file: { name: string; declaredType: string; bytes: Buffer; password?: string },
  outer: SanitizeContext,
): Promise<FileResult> {
  const ctx = withBudget(outer);
  const input: PartInput = { name: path.basename(file.name), declaredType: file.declaredType, bytes: file.bytes, depth: 0 };
  if (file.password !== undefined) input.password = file.password;
  const { part, output } = partManifest(input, await sanitizeOne(input, ctx));
  const verdict: Verdict = output ? verdictOf([part]) : part.action === 'held' ? 'held' : 'rejected';
  return { manifest: { id, kind: 'file', verdict, parts: [part] }, outputs: output ? [output] : [] };
}

/** Why a whole message was held: its sanitizing kept failing, or its worker kept dying while running it. */
export type NoticeReason = 'INTERNAL_ERROR' | 'WORKER_CRASHED';

/**
 * When a message cannot be sanitized at all (the sanitizer kept failing), staff still get told: a notice-only
 * mail with the original held. Nothing of the original's content is in it beyond the decoded headers.
 */

export async function noticeOnlyMessage(id: string, raw: Buffer, ctx: SanitizeContext, reason: NoticeReason = 'INTERNAL_ERROR'): Promise<MessageResult> {
  const s = ctx.config.sanitize;
  let headers;
  try {
    headers = parseMail(raw.subarray(0, 256 * 1024), { maxDepth: 1, maxParts: 1, maxBodyChars: 1, links: s.links }).headers;
  } catch {
    headers = { from: [], to: [], cc: [], replyTo: [], subject: '' };
  }
  const base = ctx.config.web.publicUrl.replace(/\/$/, '');
  const items: NoticeItem[] = [{ name: '(メール全体)', action: 'held', reason, url: `${base}/messages/${id}` }];
  const mail = await buildNoticeMail(ctx.config, { id, headers, items, body: 'このメールは無害化できなかったため、原本を保留しています。\n', attachments: [], verdict: 'held' });
  const manifest: Manifest = { id, kind: 'message', verdict: 'held', parts: [] };
  return { manifest, mail, outputs: [], originalMessageId: headers.messageId ?? null };
}
