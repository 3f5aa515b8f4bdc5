import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from '../context.js';
import type { PartManifest } from '../domain/manifest.js';
import { MukaikaError } from '../errors.js';
import { EVT } from '../log.js';
import { parseMail } from '../mail/parse.js';
import { buildNoticeMail } from '../mail/notice.js';
import { sha256 } from '../sanitize/hash.js';
import { noticeItems, partManifest } from '../sanitize/pipeline.js';
import { sanitizePart } from '../sanitize/parts.js';
import type { PartInput } from '../sanitize/types.js';
import type { UnlockJobData, UnlockJobResult } from '../queue/queues.js';
import { openPassword, type UnlockKey } from '../queue/unlock-seal.js';
import type { MessageRecord } from '../store/records.js';
import type { Unlocks } from '../store/unlocks.js';

export type UnlockResult = UnlockJobResult;

const UNLOCKABLE = new Set(['ENCRYPTED', 'WRONG_PASSWORD']);

/** The held original bytes of part `index`: the n-th attachment of the mail, or the uploaded file itself. */
async function heldPart(ctx: Context, id: string, index: number): Promise<{ rec: MessageRecord; input: Omit<PartInput, 'password'>; mail?: ReturnType<typeof parseMail> }> {
  const rec = await ctx.records.getMessage(id);
  const manifest = rec?.manifest?.parts[index];
  if (!rec || !manifest) throw new MukaikaError('NOT_FOUND', `no part ${index} of ${id}`);
  if (manifest.action !== 'held' || !UNLOCKABLE.has(manifest.reason)) throw new MukaikaError('BAD_REQUEST', 'this part is not held for a password');
  const raw = await ctx.blobs.get('originals', rec.originalSha256);
  if (rec.kind === 'file') return { rec, input: { name: manifest.name, declaredType: manifest.declaredType, bytes: raw, depth: 0 } };
  const s = ctx.config.sanitize;
  const mail = parseMail(raw, { maxDepth: s.maxMimeDepth, maxParts: s.maxMimeParts, maxBodyChars: s.maxBodyChars, links: s.links });
  const att = mail.attachments[index];
  // The parser is deterministic; the hash check makes sure we decrypt exactly the part staff saw listed.
  if (!att || sha256(att.bytes) !== manifest.sha256) throw new MukaikaError('NOT_FOUND', 'held part not found in the original');
  return { rec, input: { name: att.name, declaredType: att.declaredType, bytes: att.bytes, depth: 0 }, mail };
}

async function unlockedResult(unlocks: Unlocks, id: string, index: number): Promise<UnlockResult | undefined> {
  const state = await unlocks.get(id, index);
  return state.status === 'unlocked' && state.manifest ? { part: state.manifest, batch: state.batch } : undefined;
}

/**
 * An unlock job (docs/DESIGN.md, "Unlock through the worker"): the seal is opened and at once removed from
 * the job, so the password is in Redis only as ciphertext and only until a worker takes it. A job whose
 * caller has stopped waiting is not tried: nobody would see its answer, and it would spend an attempt.
 */
export async function processUnlock(ctx: Context, key: UnlockKey, job: { data: UnlockJobData; updateData(d: UnlockJobData): Promise<void> }): Promise<UnlockResult> {
  const { id, part, notAfter, sealed } = job.data;
  if (!sealed) throw new MukaikaError('RECORD_NOT_READY', 'unlock job without its sealed password (already taken)');
  const password = openPassword(key, sealed, id, part, notAfter);
  await job.updateData({ id, part, notAfter, sealed: null });
  if (Date.now() > notAfter) throw new MukaikaError('RECORD_NOT_READY', 'unlock request expired before a worker took it');
  return unlockPart(ctx, id, part, password);
}

/**
 * PPAP: decrypt a held part with the password staff typed, inside the isolated renderer, sanitize it, and
 * send the result as a follow-up mail to the original recipients. Wrong passwords are counted and limited.
 * Runs in a sanitize worker only (processUnlock). The password lives only in this call's memory: never
 * logged or stored, and queued only sealed.
 */
export async function unlockPart(ctx: Context, id: string, index: number, password: string): Promise<UnlockResult> {
  const { unlocks } = ctx;
  const done = await unlockedResult(unlocks, id, index);
  if (done) return done;
  const max = ctx.config.sanitize.unlockMaxAttempts;
  const { rec, input, mail: original } = await heldPart(ctx, id, index);
  // Attempts in flight hold a slot until they are known right or wrong; one of them may unlock the part.
  const attemptMs = ctx.config.sanitize.limits.documentTimeoutMs;
  const deadline = Date.now() + attemptMs;
  for (;;) {
    const slot = await unlocks.reserveAttempt(id, index, max, 2 * attemptMs);
    if (slot === 'reserved') break;
    if (slot === 'locked') throw new MukaikaError('PASSWORD_ATTEMPTS_EXCEEDED', `${max} wrong passwords`);
    if (Date.now() > deadline) throw new MukaikaError('RECORD_NOT_READY', 'other unlock attempts still running');
    await sleep(100);
    const meanwhile = await unlockedResult(unlocks, id, index);
    if (meanwhile) return meanwhile;
  }
  const log = ctx.log.child({ id, part: index });
  let res;
  try {
    res = await sanitizePart({ ...input, password }, { config: ctx.config, log });
  } catch (err) {
    await unlocks.release(id, index);
    throw err;
  }
  // Still encrypted after a password was given is a wrong password too, whichever converter says it.
  if (res.reason === 'WRONG_PASSWORD' || res.reason === 'ENCRYPTED') {
    await unlocks.countWrong(id, index);
    const failures = (await unlocks.get(id, index)).failures;
    log.info({ evt: EVT.UNLOCK_ATTEMPT, ok: false, failures }, 'unlock: wrong password');
    throw new MukaikaError('WRONG_PASSWORD', `wrong password (${Math.max(0, max - failures)} attempts left)`);
  }
  // Right (or decrypted to something else): the slot is given back only once the result is recorded, so
  // requests waiting for it find the part unlocked instead of decrypting it again.
  try {
    // A right password typed twice at once: the first to finish sends the follow-up, the others return it.
    const first = await unlockedResult(unlocks, id, index);
    if (first) return first;
    const { part, output } = partManifest(input, res);
    log.info({ evt: EVT.UNLOCK_ATTEMPT, ok: true, action: part.action, reason: part.reason }, 'unlock: password accepted');
    if (!output) {
      // Decrypted but nothing deliverable (say, only an executable inside): recorded, final. Held again
      // (a converter failed) is not final: the part stays unlockable and staff can try again.
      if (part.action === 'removed') await unlocks.markUnlocked(id, index, null, part);
      return { part, batch: null };
    }
    await ctx.blobs.put('sanitized', output.bytes);
    if (!original) {
      await unlocks.markUnlocked(id, index, null, part);
      return { part, batch: null };
    }
    const batch = await sendFollowUp(ctx, rec, index, original, part, output);
    await unlocks.markUnlocked(id, index, batch, part);
    await ctx.queues.enqueueDeliver(id, batch);
    return { part, batch };
  } finally {
    await unlocks.release(id, index);
  }
}

/** The follow-up mail with the unlocked part, stored with one pending delivery per recipient; its batch. */
async function sendFollowUp(ctx: Context, rec: MessageRecord, index: number, original: ReturnType<typeof parseMail>, part: PartManifest, output: { name: string; type: string; bytes: Buffer }): Promise<number> {
  const { id } = rec;
  const batch = index + 1;
  const base = ctx.config.web.publicUrl.replace(/\/$/, '');
  const items = noticeItems([part], () => `${base}/messages/${id}/parts/${index}`);
  const headers = { ...original.headers, subject: `[解除済] ${original.headers.subject}`.trim() };
  if (original.headers.messageId) headers.inReplyTo = `<${id}@${ctx.config.hostname}>`;
  const mail = await buildNoticeMail(ctx.config, {
    id: `${id}-u${batch}`, headers, items,
    body: `パスワード付きファイルを無害化しました。先にお届けしたメール(${id})で保留していた添付ファイルを、パスワードで開いて無害化しました。\n`,
    attachments: [{ name: output.name, type: output.type, bytes: output.bytes }], verdict: 'sanitized',
  });
  const stored = await ctx.blobs.put('sanitized', mail);
  await ctx.records.addFollowUp(id, batch, stored.sha256, rec.recipients);
  return batch;
}
