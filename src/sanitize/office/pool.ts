import { closeSync, constants, fstatSync, mkdtempSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { silentLogger, type Logger } from '../../log.js';
import { Converter, type ConvertOutcome } from './converter.js';

export interface OfficePoolOptions {
  /** Converters kept warm; each is one soffice (~150 MB resident). @defaultValue 1 */
  size?: number;
  /** A converter is replaced after this many documents (and after any error). @defaultValue 50 */
  maxDocs?: number;
  /** Memory cap of one converter's whole process tree. */
  memoryMb: number;
  /** Largest file a converter may write (its PDF included). @defaultValue 512 MiB */
  maxFileBytes?: number;
  /** Where converter directories live. @defaultValue a new directory under os.tmpdir() */
  baseDir?: string;
  log?: Logger;
  /** Test hook: a document has just been handed to the converter with this pid. */
  onConvertStart?: (pid: number) => void;
}

export type PoolResult =
  | { ok: true; untrustedPdf: Buffer }
  | { ok: false; reason: 'CONVERTER_FAILED' | 'RENDERER_TIMEOUT' | 'TOO_LARGE'; refused?: true };

/** Per-process cache (docs/DESIGN.md §9): every pool of this process, so an exiting process stops its converters. */
const livePools = new Set<OfficePool>();
// `mukaika sanitize` and tests may exit without closing the pool: the sandboxes die with us
// (bwrap --die-with-parent), and this removes their directories (profiles, last job) synchronously.
process.once('exit', () => {
  for (const p of livePools) p.removeNow();
});

interface Slot {
  id: number;
  busy: boolean;
  /** The converter, once started (or the start in progress). */
  converter: Promise<Converter>;
}

/**
 * Warm LibreOffice converters. A document goes to an idle converter; when the converter dies mid-document
 * it is replaced and the document retried once, then held (CONVERTER_FAILED). A converter is recycled
 * after `maxDocs` documents or any error, and its replacement is started at once so the next one is warm.
 */
export class OfficePool {
  private readonly slots: Slot[] = [];
  private readonly waiters: Array<{ resolve: (s: Slot) => void; reject: (e: Error) => void }> = [];
  private readonly baseDir: string;
  private readonly templateDir: string;
  private readonly log: Logger;
  private seq = 0;
  /** Converters started and not yet stopped (for removeNow, which cannot await). */
  private readonly live = new Set<Converter>();
  private closed = false;

  constructor(private readonly opts: OfficePoolOptions) {
    this.baseDir = opts.baseDir ?? mkdtempSync(path.join(os.tmpdir(), 'mukaika-office-'));
    this.templateDir = path.join(this.baseDir, 'template');
    this.log = opts.log ?? silentLogger;
    for (let i = 0; i < (opts.size ?? 1); i++) this.slots.push({ id: i, busy: false, converter: this.startConverter() });
    livePools.add(this);
  }

  /** Last resort at process exit: kill every converter's process group and delete the pool's directory. */
  removeNow(): void {
    for (const c of this.live) c.kill(); // kill() skips a converter that has already exited
    rmSync(this.baseDir, { recursive: true, force: true });
  }

  /** Resolves when every converter is up (benchmarks, start-up); conversions do not need to wait for it. */
  async warm(): Promise<void> {
    await Promise.allSettled(this.slots.map((s) => s.converter));
  }

  /** Pids of the running converters' sandboxes (tests kill them to simulate crashes). */
  async pids(): Promise<number[]> {
    const cs = await Promise.allSettled(this.slots.map((s) => s.converter));
    return cs.flatMap((c) => (c.status === 'fulfilled' && c.value.pid ? [c.value.pid] : []));
  }

  /**
   * Convert one untrusted document to an (equally untrusted) PDF. `ext` is a hint for LibreOffice's type
   * detection, derived from the detected type, never from the sender's file name.
   */
  /** `onCpu` gets the CPU ms the converter used for this document (one document at a time per converter). */
  async convert(untrustedBytes: Buffer, ext: string, timeoutMs: number, maxPdfBytes: number, onCpu?: (ms: number | undefined) => void): Promise<PoolResult> {
    for (let attempt = 1; attempt <= 2; attempt++) {
      const slot = await this.acquire();
      let outcome: ConvertOutcome = 'DIED';
      let pdf: Buffer | undefined;
      let conv: Converter | undefined;
      try {
        conv = await slot.converter;
        conv.clearJob();
        const inName = `in.${/^[a-z0-9]{1,5}$/.test(ext) ? ext : 'bin'}`;
        // The job directory is writable by the sandbox: 'wx' (O_EXCL) refuses to follow a planted symlink.
        writeFileSync(path.join(conv.jobDir, inName), untrustedBytes, { flag: 'wx' });
        if (conv.pid) this.opts.onConvertStart?.(conv.pid);
        const cpuBefore = conv.cpuMs();
        outcome = await conv.convert(inName, timeoutMs);
        const cpuAfter = conv.cpuMs();
        onCpu?.(cpuBefore === undefined || cpuAfter === undefined ? undefined : cpuAfter - cpuBefore);
        if (outcome === 'ok') pdf = readPdf(path.join(conv.jobDir, 'out.pdf'), maxPdfBytes);
        conv.clearJob();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'office converter unavailable');
        outcome = 'DIED';
      }
      // A converter is shared by documents of unrelated senders: one whose profile kept anything of this
      // document is replaced before the next (docs/office-archives.md, "One document cannot change another").
      // A refused document never reached soffice: nothing of it is in the converter to recycle for.
      const clean = outcome === 'ok' || outcome === 'REFUSED';
      const recycle = !clean || !conv || conv.docs >= (this.opts.maxDocs ?? 50) || conv.tainted();
      this.release(slot, recycle);
      if (outcome === 'ok') {
        if (pdf === undefined) return { ok: false, reason: 'CONVERTER_FAILED' };
        if (pdf.length === 0) return { ok: false, reason: 'TOO_LARGE' };
        return { ok: true, untrustedPdf: pdf };
      }
      this.log.warn({ outcome, attempt }, 'office conversion failed');
      if (outcome === 'TIMEOUT') return { ok: false, reason: 'RENDERER_TIMEOUT' };
      // LibreOffice refused the document: retrying the same bytes gives the same answer.
      if (outcome === 'REFUSED' || outcome === 'LOAD_FAILED' || outcome === 'EXPORT_FAILED') return { ok: false, reason: 'CONVERTER_FAILED', refused: true };
    }
    return { ok: false, reason: 'CONVERTER_FAILED' };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.waiters.splice(0)) w.reject(new Error('office pool closed'));
    const cs = await Promise.allSettled(this.slots.map((s) => s.converter));
    await Promise.all(cs.map((c) => (c.status === 'fulfilled' ? c.value.stop() : undefined)));
    rmSync(this.baseDir, { recursive: true, force: true });
    livePools.delete(this);
  }

  private startConverter(): Promise<Converter> {
    const c = new Converter({
      dir: path.join(this.baseDir, `c${this.seq++}`),
      templateDir: this.templateDir,
      memoryMb: this.opts.memoryMb,
      maxFileBytes: this.opts.maxFileBytes ?? 512 * 1024 * 1024,
      log: this.log,
    });
    this.live.add(c);
    const started = c.start().then(() => c);
    started.catch((err: Error) => {
      this.live.delete(c);
      this.log.error({ err: err.message }, 'office converter failed to start');
    });
    return started;
  }

  private acquire(): Promise<Slot> {
    if (this.closed) return Promise.reject(new Error('office pool closed'));
    const free = this.slots.find((s) => !s.busy);
    if (free) {
      free.busy = true;
      return Promise.resolve(free);
    }
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  private release(slot: Slot, recycle: boolean): void {
    if (recycle && !this.closed) {
      const old = slot.converter;
      void old.then(
        (c) => c.stop().finally(() => this.live.delete(c)),
        () => undefined,
      );
      slot.converter = this.startConverter();
    }
    const next = this.waiters.shift();
    if (next) next.resolve(slot);
    else slot.busy = false;
  }
}

/**
 * The PDF if it is one and within the cap; an empty buffer when over the cap; undefined when missing.
 * `out.pdf` was written by the sandbox, so it is opened without following symlinks and must be a regular file:
 * a compromised LibreOffice must not make the gateway read one of its own files.
 */
export function readPdf(file: string, maxBytes: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch {
    return undefined; // missing (LibreOffice can report success and write nothing) or a symlink
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return undefined;
    if (st.size > maxBytes) return Buffer.alloc(0);
    const untrusted = Buffer.alloc(st.size);
    let off = 0;
    while (off < st.size) {
      const n = readSync(fd, untrusted, off, st.size - off, off);
      if (n === 0) break;
      off += n;
    }
    return untrusted.subarray(0, 5).toString('latin1') === '%PDF-' ? untrusted.subarray(0, off) : undefined;
  } finally {
    closeSync(fd);
  }
}
