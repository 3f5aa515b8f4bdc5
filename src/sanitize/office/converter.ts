import { chmodSync, chownSync, existsSync, lchownSync, mkdirSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { silentLogger, type Logger } from '../../log.js';
import { PACKAGE_ROOT } from '../../paths.js';
import { probeSandbox, SANDBOX_UID } from '../../isolation/sandbox.js';
import { spawnIsolated, type IsolatedChild } from '../../isolation/spawn.js';
import { profileTainted, saveTemplate, writeProfile } from './profile.js';

/** How one conversion ended, as a code: the pool decides what each means (retry, hold, remove). */
/** REFUSED: the script would not hand the document to soffice (workers/office_links.py, links_removed). */
export type ConvertOutcome = 'ok' | 'REFUSED' | 'LOAD_FAILED' | 'EXPORT_FAILED' | 'TIMEOUT' | 'DIED';

export interface ConverterOptions {
  /** Host directory owned by this converter: `profile/` and `job/` are bound into the sandbox. */
  dir: string;
  /** Initialised profile copied into new converters (cold start ~1.5 s instead of ~5 s). */
  templateDir: string;
  memoryMb: number;
  /** Largest file the sandbox may write (RLIMIT_FSIZE): the job directory is on the host's disk. */
  maxFileBytes: number;
  /** Time allowed for soffice to start and answer. @defaultValue 60000 */
  startTimeoutMs?: number;
  log?: Logger;
}

const SCRIPT = path.join(PACKAGE_ROOT, 'workers', 'office-pool.py');
const PYTHON = '/usr/bin/python3';
const PRLIMIT = '/usr/bin/prlimit';
const TIMED_OUT = Symbol('timed out');
const ENDED = Symbol('ended');

/**
 * One resident LibreOffice (a Python UNO script driving soffice.bin) inside the same sandbox as every other
 * isolated child: no network, uid nobody, a memory cgroup for the whole tree, its own process group.
 * It sees only its profile and one job directory; the trusted side writes the input there and reads the PDF.
 */
export class Converter {
  readonly jobDir: string;
  readonly profileDir: string;
  /** Documents converted by this process (the pool recycles it after N). */
  docs = 0;
  private child?: IsolatedChild;
  private lines?: AsyncIterator<string>;
  private dead = false;
  /** Paths as the script sees them: bind targets inside bubblewrap, host paths without it. */
  private inside = { profile: '/profile', job: '/job', home: '/tmp' };
  private readonly log: Logger;

  constructor(private readonly opts: ConverterOptions) {
    this.jobDir = path.join(opts.dir, 'job');
    this.profileDir = path.join(opts.dir, 'profile');
    this.log = opts.log ?? silentLogger;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get alive(): boolean {
    return !this.dead && this.child !== undefined;
  }

  /** CPU the resident converter has used so far (its cgroup), for charging one document's share. */
  cpuMs(): number | undefined {
    return this.child?.cpuMs();
  }

  /** Start soffice and wait for the script's `{"ready":true}`. Throws when it does not come. */
  async start(): Promise<void> {
    rmSync(this.opts.dir, { recursive: true, force: true });
    mkdirSync(this.jobDir, { recursive: true });
    writeProfile(this.profileDir, this.opts.templateDir);
    const bubblewrapped = probeSandbox().mode !== 'none';
    // Without bubblewrap there are no binds: the script sees the host paths, and a HOME of its own.
    this.inside = bubblewrapped ? { profile: '/profile', job: '/job', home: '/tmp' } : { profile: this.profileDir, job: this.jobDir, home: path.join(this.opts.dir, 'home') };
    if (!bubblewrapped) mkdirSync(this.inside.home);
    // A root gateway runs the sandbox as nobody in every mode (docs/renderer.md): nobody must own the
    // converter's directories and be able to reach them. bwrap-userns resolves its bind sources as nobody and
    // `none` hands soffice host paths, so every directory above ours counts (the pool's own 0700 mkdtemp, a
    // caller's baseDir inside another 0700 mkdtemp, a TMPDIR under a private directory).
    if (process.getuid?.() === 0) {
      allowTraverseUpTo(path.dirname(this.opts.dir));
      chownTree(this.opts.dir);
    }
    const binds = [
      // share/registry and psprint.conf are symlinks into /etc/libreoffice on Debian; fonts need fontconfig.
      { src: '/etc/libreoffice', optional: true },
      { src: '/etc/fonts', optional: true },
      // Without the cache fontconfig rescans every font (Noto CJK is large) at each converter start.
      { src: '/var/cache/fontconfig', optional: true },
      { src: this.profileDir, dest: '/profile', writable: true },
      { src: this.jobDir, dest: '/job', writable: true },
    ];
    // A document that makes LibreOffice write a huge PDF gets SIGXFSZ instead of filling the host's disk.
    const limited = existsSync(PRLIMIT) ? [PRLIMIT, `--fsize=${this.opts.maxFileBytes}`, '--'] : [];
    // The shared spawner (src/isolation/spawn.ts): sandbox, memory cgroup for the whole tree (RSS watchdog
    // without one), own process group. Resident: no wall-clock limit (each document has its own, below), stdin
    // stays open for one JSON line per document.
    // No bytecode cache: the script imports workers/office_links.py, and a converter must not write into the
    // package's code (where a later converter would load what it left).
    const child = spawnIsolated({
      command: limited[0] ?? PYTHON,
      entry: [...limited.slice(1), ...(limited.length ? [PYTHON] : []), SCRIPT, this.inside.profile],
      memoryMb: this.opts.memoryMb,
      timeoutMs: 0,
      deferStart: true,
      routineKill: true,
      graceMs: 0,
      extraBinds: binds,
      cwd: '/tmp',
      env: { PATH: '/usr/bin:/bin', HOME: this.inside.home, TMPDIR: this.inside.home, PYTHONDONTWRITEBYTECODE: '1' },
      log: this.log,
      name: 'office',
    });
    this.child = child;
    child.setRef(true);
    void child.done.then((o) => {
      this.dead = true;
      this.log.debug({ pid: child.pid, end: o.end, code: o.exitCode, sig: o.signal, stderr: o.stderr.slice(-1000) }, 'office converter exited');
    });
    this.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const ready = await this.readLine(this.opts.startTimeoutMs ?? 60_000);
    if (ready !== '{"ready": true}') {
      this.kill();
      const o = await child.done;
      throw new Error(`office converter did not start: ${String(ready)} ${o.stderr.slice(-500)}`);
    }
    saveTemplate(this.profileDir, this.opts.templateDir);
    this.setRef(false);
  }

  /**
   * An idle converter must not keep the gateway (or `mukaika sanitize`) alive; bwrap's --die-with-parent
   * takes the sandbox down when we exit. While a document is in flight it holds the event loop.
   */
  private setRef(on: boolean): void {
    this.child?.setRef(on);
  }

  /**
   * Convert `/job/in.<ext>` to `/job/out.pdf`. The caller has put the input in `jobDir`; this only talks
   * to the script. A timeout kills the process (it may be stuck in a hostile document).
   */
  async convert(inName: string, timeoutMs: number): Promise<ConvertOutcome> {
    if (!this.alive) return 'DIED';
    this.docs++;
    this.setRef(true);
    this.child!.stdin.write(`${JSON.stringify({ in: `${this.inside.job}/${inName}`, out: `${this.inside.job}/out.pdf` })}\n`);
    const line = await this.readLine(timeoutMs);
    this.setRef(false);
    if (line === TIMED_OUT || line === ENDED) {
      this.kill();
      return line === TIMED_OUT ? 'TIMEOUT' : 'DIED';
    }
    let untrustedReply: unknown;
    try {
      untrustedReply = JSON.parse(line);
    } catch {
      this.kill();
      return 'DIED';
    }
    const r = untrustedReply as { ok?: unknown; code?: unknown };
    if (r.ok === true) return 'ok';
    if (r.code === 'REFUSED') return 'REFUSED';
    return r.code === 'EXPORT_FAILED' ? 'EXPORT_FAILED' : 'LOAD_FAILED';
  }

  /** The profile kept state of a document (see `profileTainted`): the converter must not take another one. */
  tainted(): boolean {
    return profileTainted(this.profileDir);
  }

  /** Empty the job directory between documents (nothing of one document is visible to the next). */
  clearJob(): void {
    for (const f of readdirSync(this.jobDir)) rmSync(path.join(this.jobDir, f), { recursive: true, force: true });
  }

  /** Kill the whole sandbox (process group); SIGKILL at once (graceMs 0): there is nothing to save. */
  kill(): void {
    if (!this.dead) this.child?.kill('killed');
    this.dead = true;
  }

  /** Stop and wait for the process to be gone, then delete its directories. */
  async stop(): Promise<void> {
    const c = this.child;
    if (c) {
      this.setRef(true); // wait for the exit even when nothing else keeps the process alive
      c.kill('killed');
      await c.done;
    }
    rmSync(this.opts.dir, { recursive: true, force: true });
  }

  /** Next stdout line, or why there is none. */
  private async readLine(timeoutMs: number): Promise<string | typeof TIMED_OUT | typeof ENDED> {
    if (!this.lines) return ENDED;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<typeof TIMED_OUT>((r) => (timer = setTimeout(() => r(TIMED_OUT), timeoutMs)));
    try {
      const next = await Promise.race([this.lines.next(), timeout]);
      if (next === TIMED_OUT) return TIMED_OUT;
      return next.done ? ENDED : next.value;
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Let nobody pass through `dir` and every directory above it, without listing any of them: search (o+x) is added
 * only where nobody has none (it has no groups after setpriv), never read. The real path is walked, so a
 * symlinked ancestor is judged by its target, which is what the kernel checks.
 */
function allowTraverseUpTo(dir: string): void {
  for (let d = realpathSync(dir); ; d = path.dirname(d)) {
    const st = statSync(d);
    const mode = st.mode & 0o7777;
    const passable = st.uid === SANDBOX_UID ? (mode & 0o100) !== 0 : st.gid === SANDBOX_UID ? (mode & 0o010) !== 0 : (mode & 0o001) !== 0;
    if (!passable) chmodSync(d, mode | 0o001 | (st.uid === SANDBOX_UID ? 0o100 : 0) | (st.gid === SANDBOX_UID ? 0o010 : 0));
    if (d === path.dirname(d)) return;
  }
}

function chownTree(dir: string): void {
  chownSync(dir, SANDBOX_UID, SANDBOX_UID);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) chownTree(p);
    else lchownSync(p, SANDBOX_UID, SANDBOX_UID); // never through a symlink to a host file
  }
}
