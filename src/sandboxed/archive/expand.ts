/**
 * Child side of archive expansion: runs inside the isolated child (workers/archive.ts), never in the
 * gateway. Parses ZIP, tar and gzip with every limit enforced while decompressing, so a bomb stops
 * after at most `limits` bytes of work. The gateway (run.ts, frame.ts) checks all of it again.
 */
import { gunzipSync } from 'node:zlib';
import { configure, Uint8ArrayReader, Writer, ZipReader, type Entry } from '@zip.js/zip.js';
import { ArchiveStop, Budget, RATIO_FLOOR, type RawEntry } from './budget.js';
import { expandTar } from './tar.js';

export { ArchiveStop, Budget, RATIO_FLOOR, SPECIAL_KINDS, type ExpandLimits, type RawEntry, type SpecialKind, type StopCode } from './budget.js';

export type ArchiveKind = 'zip' | 'tar' | 'gzip';

/** By content only. ODF/OOXML are ZIPs too: the caller decides, by detected type, what to expand. */
export function archiveKind(b: Uint8Array): ArchiveKind | undefined {
  if (b.length >= 4 && b[0] === 0x50 && b[1] === 0x4b && (b[2] === 3 || b[2] === 5) && (b[3] === 4 || b[3] === 6)) return 'zip';
  if (b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b) return 'gzip';
  if (b.length >= 262 && Buffer.from(b.subarray(257, 262)).toString('latin1') === 'ustar') return 'tar';
  return undefined;
}

/** zip.js writer that stops decompression the moment the budget is exceeded (bounded memory and time). */
class CappedWriter extends Writer<Buffer> {
  private parts: Buffer[] = [];
  private written = 0;
  constructor(private readonly cap: number) {
    super();
  }
  override async writeUint8Array(array: Uint8Array): Promise<void> {
    this.written += array.length;
    if (this.written > this.cap) throw new ArchiveStop('LIMIT_ARCHIVE', 'entry larger than declared or than the budget');
    this.parts.push(Buffer.from(array));
  }
  override async getData(): Promise<Buffer> {
    return Buffer.concat(this.parts);
  }
}

configure({ useWebWorkers: false });

async function expandZip(bytes: Uint8Array, budget: Budget, password: string | undefined): Promise<RawEntry[]> {
  const reader = new ZipReader(new Uint8ArrayReader(bytes), { checkOverlappingEntry: true, checkSignature: true });
  let entries: Entry[];
  try {
    // Names are neutralised by the gateway (names.ts), which keeps the entry and reports what it did.
    entries = await reader.getEntries({ filenameValidation: 'tolerant' });
  } catch (e) {
    throw new ArchiveStop('CORRUPT', `zip directory: ${(e as Error).message}`);
  }
  const files = entries.filter((e) => !e.directory);
  // Every check that needs no decompression first: a bomb is refused before any inflate runs.
  if (budget.entries + files.length > budget.limits.entries) throw new ArchiveStop('LIMIT_ARCHIVE', 'too many entries');
  const declared = files.reduce((n, e) => n + e.uncompressedSize, 0);
  if (budget.bytes + declared > budget.limits.totalBytes) throw new ArchiveStop('LIMIT_ARCHIVE', 'declared size over the limit');
  for (const e of files) budgetCheckDeclared(budget, e.uncompressedSize, e.compressedSize);
  checkOverlap(files);
  if (files.some((e) => e.encrypted) && password === undefined) throw new ArchiveStop('ENCRYPTED', 'encrypted entries');
  const out: RawEntry[] = [];
  for (const e of files) {
    budget.addEntry();
    const uni = e.extraFieldUnicodePath;
    const name = { rawName: e.rawFilename, utf8: e.filenameUTF8, ...(uni?.valid && uni.filename ? { unicodeName: uni.filename } : {}) };
    // A symlink's data is its target path: listed as a link (removed), never read as a file.
    if (e.symlink) {
      out.push({ ...name, data: Buffer.alloc(0), special: 'symlink' });
      continue;
    }
    let data: Buffer;
    try {
      // Never inflate more than the entry declared (which passed the ratio check): a lying header stops here.
      const cap = Math.min(budget.room(), e.uncompressedSize);
      data = await e.getData!(new CappedWriter(cap), e.encrypted ? { password: password ?? '' } : {});
    } catch (err) {
      if (err instanceof ArchiveStop) throw err;
      const msg = (err as Error).message ?? '';
      // With traditional PKWARE encryption a wrong password and damaged data look alike (bad check byte or
      // CRC); for an encrypted entry both mean "this password does not open it".
      if (e.encrypted) throw new ArchiveStop('WRONG_PASSWORD', msg);
      if (/overlapping/i.test(msg)) throw new ArchiveStop('LIMIT_ARCHIVE', msg);
      throw new ArchiveStop('CORRUPT', msg);
    }
    budget.spend(data.length, e.compressedSize);
    out.push({ ...name, data });
  }
  await reader.close();
  return out;
}

function budgetCheckDeclared(budget: Budget, size: number, compressed: number): void {
  if (size > budget.limits.entryBytes) throw new ArchiveStop('LIMIT_ARCHIVE', 'declared entry size over the limit');
  if (size > RATIO_FLOOR && size > budget.limits.ratio * Math.max(compressed, 1)) throw new ArchiveStop('LIMIT_ARCHIVE', 'declared ratio over the limit');
}

/** Overlapping entries (one compressed stream referenced many times) are the "better zip bomb". */
function checkOverlap(files: Entry[]): void {
  const spans = files.map((e) => [e.offset, e.offset + 30 + e.compressedSize] as const).sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i]![0] < spans[i - 1]![1]) throw new ArchiveStop('LIMIT_ARCHIVE', 'overlapping entries');
  }
}

/**
 * Expand one archive level and look (without keeping the data) into nested archives down to
 * `limits.depth`, so that a nested bomb (42.zip) fails here in one child instead of thousands.
 */
export async function expandArchive(bytes: Uint8Array, budget: Budget, password?: string): Promise<RawEntry[]> {
  const entries = await expandOne(bytes, budget, password);
  for (const e of entries) await preflight(e.data, budget, budget.limits.depth);
  return entries;
}

async function preflight(bytes: Uint8Array, budget: Budget, levels: number): Promise<void> {
  const kind = archiveKind(bytes);
  if (!kind || levels <= 0 || isOfficeZip(bytes)) return;
  let inner: RawEntry[];
  try {
    inner = await expandOne(bytes, budget, undefined);
  } catch (e) {
    // Only budget overruns matter here; an inner archive that is encrypted or broken gets its own verdict later.
    if (e instanceof ArchiveStop && e.code === 'LIMIT_ARCHIVE') throw e;
    return;
  }
  for (const e of inner) await preflight(e.data, budget, levels - 1);
}

/** OOXML/ODF packages are documents, not archives to recurse into (LibreOffice gets them whole). */
function isOfficeZip(b: Uint8Array): boolean {
  const head = Buffer.from(b.subarray(0, Math.min(b.length, 4096))).toString('latin1');
  return head.includes('[Content_Types].xml') || head.includes('mimetypeapplication/vnd.oasis.opendocument');
}

async function expandOne(bytes: Uint8Array, budget: Budget, password: string | undefined): Promise<RawEntry[]> {
  switch (archiveKind(bytes)) {
    case 'zip':
      return expandZip(bytes, budget, password);
    case 'tar':
      return expandTar(bytes, budget);
    case 'gzip': {
      let data: Buffer;
      try {
        data = gunzipSync(bytes, { maxOutputLength: Math.max(1, budget.room()) });
      } catch (e) {
        const code = (e as { code?: string }).code;
        if (code === 'ERR_BUFFER_TOO_LARGE') throw new ArchiveStop('LIMIT_ARCHIVE', 'gzip larger than the budget');
        throw new ArchiveStop('CORRUPT', `gzip: ${(e as Error).message}`);
      }
      if (archiveKind(data) === 'tar') {
        // A .tar.gz is one level: the tar's entries are the archive's entries.
        budget.spend(data.length, bytes.length);
        budget.bytes -= data.length; // the tar bytes themselves are not kept; its entries are counted instead
        return expandTar(data, budget);
      }
      budget.addEntry();
      budget.spend(data.length, bytes.length);
      return [{ rawName: new Uint8Array(0), utf8: true, data }];
    }
    default:
      throw new ArchiveStop('CORRUPT', 'not an archive');
  }
}
