/**
 * Office, ODF and RTF (docs/DESIGN.md §6, rules 1-2): LibreOffice makes a PDF inside the sandbox, then the PDF is flattened to
 * page images like any other PDF. Nothing LibreOffice wrote reaches LGWAN: only the renderer's pixels.
 */
import { classify } from '../classify.js';
import { flattenPdf } from '../convert/pdf.js';
import type { PartInput, PartResult, SanitizeContext } from '../types.js';
import { budgetTimeout } from '../work-budget.js';
import { stem } from '../archive/names.js';
import { runArchiveChild } from '../archive/run.js';
import { EXCEL_DEFAULT_PASSWORD } from '../../sandboxed/archive/protocol.js';
import { OfficePool, type OfficePoolOptions } from './pool.js';

/** Extension hints for LibreOffice's type detection, from the detected (never the declared) type. */
const EXT: Record<string, string> = {
  'application/msword': 'doc',
  'application/vnd.ms-excel': 'xls',
  'application/vnd.ms-powerpoint': 'ppt',
  'application/rtf': 'rtf',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'application/vnd.ms-word.document.macroEnabled.12': 'docm',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet': 'xlsx',
  'application/vnd.ms-excel.sheet.macroEnabled.12': 'xlsm',
  'application/vnd.openxmlformats-officedocument.presentationml.presentation': 'pptx',
  'application/vnd.ms-powerpoint.presentation.macroEnabled.12': 'pptm',
  'application/vnd.oasis.opendocument.text': 'odt',
  'application/vnd.oasis.opendocument.spreadsheet': 'ods',
  'application/vnd.oasis.opendocument.presentation': 'odp',
  'application/vnd.oasis.opendocument.graphics': 'odg',
};

/** Per-process cache (docs/DESIGN.md §9): one LibreOffice pool per process, started on first use; its converters are the process's children. */
let shared: OfficePool | undefined;

/**
 * The process's converter pool, started on first use. Workers may call it at start-up to pay the cold
 * start early; `closeOfficePool()` at shutdown. Tests and benchmarks may install their own.
 */
export function officePool(ctx: SanitizeContext, opts: Partial<OfficePoolOptions> = {}): OfficePool {
  const l = ctx.config.sanitize.limits;
  shared ??= new OfficePool({ memoryMb: l.rendererMemoryMb, maxFileBytes: 4 * l.attachmentBytes, log: ctx.log, ...opts });
  return shared;
}

export function setOfficePool(pool: OfficePool | undefined): void {
  shared = pool;
}

export async function closeOfficePool(): Promise<void> {
  const p = shared;
  shared = undefined;
  await p?.close();
}

const isOle = (b: Buffer): boolean => b.subarray(0, 8).toString('hex') === 'd0cf11e0a1b11ae1';

/** Convert one (unencrypted) Office/ODF/RTF document: LibreOffice → PDF → flattened page images. */
export async function convertOffice(input: PartInput, detectedType: string, ctx: SanitizeContext, decrypted = false): Promise<PartResult> {
  const l = ctx.config.sanitize.limits;
  const ext = EXT[detectedType] ?? 'bin';
  // A PDF many times larger than its source is either a bomb (a tiny sheet with a million print pages) or
  // images LibreOffice had to decompress; both are capped.
  const maxPdf = Math.max(l.attachmentBytes, 4 * input.bytes.length);
  const r = await officePool(ctx).convert(input.bytes, ext, budgetTimeout(ctx, l.documentTimeoutMs), maxPdf, (ms) => ctx.budget?.chargeCpu(ms));
  // Legacy .doc/.xls/.ppt encryption (RC4, CryptoAPI) hides in the binary streams, so the classifier calls
  // them plain Office; LibreOffice then refuses them. Ask the decrypting child before giving up.
  if (!r.ok && r.refused && !decrypted && isOle(input.bytes)) return unlockOffice(input, detectedType, ctx, true);
  if (!r.ok) return { detectedType, action: r.reason === 'TOO_LARGE' ? 'removed' : 'held', reason: r.reason === 'TOO_LARGE' ? 'LIMIT_PAGES' : r.reason };
  const flat = await flattenPdf(r.untrustedPdf, ctx, { name: `${stem(input.name)}.pdf` });
  if (flat.action !== 'flattened' || !flat.output) return { ...flat, detectedType };
  return { detectedType, action: 'converted', reason: 'OFFICE_CONVERTED', output: flat.output };
}

/**
 * A password-protected Office file. Without a password it is held (ENCRYPTED) unless Excel's built-in
 * password opens it; with one, it is decrypted inside the isolated child and then converted as usual.
 * A wrong password is WRONG_PASSWORD, distinct from ENCRYPTED, so the web view can say so.
 */
export async function unlockOffice(input: PartInput, detectedType: string, ctx: SanitizeContext, afterRefusal = false): Promise<PartResult> {
  const l = ctx.config.sanitize.limits;
  const password = input.password ?? EXCEL_DEFAULT_PASSWORD;
  // The decrypted package is never larger than its encrypted stream (plus padding).
  const size = input.bytes.length + 65536;
  const limits = { entries: 1, totalBytes: size, entryBytes: size, ratio: l.archiveRatio, depth: 0 };
  const run = await runArchiveChild('office-decrypt', input.bytes, limits, ctx, password);
  if (!run.ok) {
    // Not encrypted after all: LibreOffice's refusal stands.
    if (afterRefusal && run.reason === 'CORRUPT') return { detectedType, action: 'held', reason: 'CONVERTER_FAILED' };
    if (input.password === undefined && (run.reason === 'WRONG_PASSWORD' || run.reason === 'CORRUPT')) {
      return { detectedType, action: 'held', reason: 'ENCRYPTED' };
    }
    return { detectedType, action: run.action === 'removed' ? 'held' : run.action, reason: run.reason };
  }
  const decrypted = run.entries[0]?.untrustedData;
  if (!decrypted) return { detectedType, action: 'held', reason: 'RENDERER_FAILED' };
  const inner = await classify(decrypted, input.name, '');
  if (inner.kind !== 'office' && inner.kind !== 'odf' && inner.kind !== 'rtf') {
    return { detectedType, action: 'removed', reason: inner.kind === 'encrypted-office' ? 'CORRUPT' : 'TYPE_NOT_ALLOWED' };
  }
  return convertOffice({ ...input, bytes: decrypted, password: undefined }, inner.mime, ctx, true);
}
