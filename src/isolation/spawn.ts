import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { EVT, silentLogger, type Logger } from '../log.js';
import { PACKAGE_ROOT } from '../paths.js';
import { cgroupSupport, createMemoryCgroup, type MemoryCgroup } from './cgroup.js';
import { treeRssBytes } from './memwatch.js';
import { sandboxArgv, type Bind, type SandboxMode } from './sandbox.js';

export interface RunIsolatedOptions {
  /** Node arguments and script, e.g. `workerEntry('renderer')`; or the program's args when `command` is set. */
  entry: string[];
  /** Extra arguments after `entry`. Only trusted values (never anything derived from input bytes). */
  args?: string[];
  /** Program to run; default: this node binary, with a V8 heap cap derived from `memoryMb`. */
  command?: string;
  /** Written to the child's stdin, which is then closed. */
  input?: Uint8Array;
  /** Wall-clock limit for the whole child. */
  timeoutMs: number;
  /** Killed when `touch()` has not been called for this long (per-page progress); default: off. */
  idleTimeoutMs?: number;
  /** Memory cap for the whole process tree (cgroup when possible, else an RSS watchdog). */
  memoryMb: number;
  /** Paths the child needs besides node and our code (read-only unless `writable`). */
  extraBinds?: Bind[];
  /** Added to a minimal environment (PATH, LANG, HOME, TMPDIR); the gateway's own environment is not passed. */
  env?: Record<string, string>;
  /** Working directory inside the sandbox; default: the package root (so `--import tsx` resolves). */
  cwd?: string;
  /** SIGTERM → this grace → SIGKILL. @defaultValue 500 */
  graceMs?: number;
  log?: Logger;
  signal?: AbortSignal;
  /** For logs only. */
  name?: string;
  /**
   * Spawn now but wait for `start(input)` before writing stdin and starting the timeouts: a warm spare
   * that has already loaded its code (MuPDF's WASM takes most of a second) when the next document comes.
   */
  deferStart?: boolean;
  /**
   * A kill by the caller is routine (a pool recycling a resident child such as LibreOffice): the end is
   * logged at debug, not as an abnormal end.
   */
  routineKill?: boolean;
}

export type ChildEnd = 'exit' | 'timeout' | 'idle-timeout' | 'memory' | 'killed' | 'aborted' | 'spawn-failed';

export interface ChildOutcome {
  /** Why the child ended: `exit` when it ended on its own; anything else means we (or the kernel) stopped it. */
  end: ChildEnd;
  exitCode: number | null;
  signal: string | null;
  /** Last 64 KB of stderr: for logs, never parsed as data. */
  stderr: string;
  /** Highest memory seen for the whole tree (cgroup peak when available, else sampled RSS). */
  peakMemoryBytes: number;
  durationMs: number;
  sandbox: SandboxMode;
  cgroup: 'v1' | 'v2' | null;
  /** CPU time of the whole tree in ms, from its cgroup; undefined without a cgroup v2. */
  cpuMs?: number;
}

export interface IsolatedChild {
  pid: number;
  /** The child's data channel. The caller must consume it (back-pressure would otherwise stall the child). */
  stdout: Readable;
  /**
   * The child's stdin, for a resident child that takes requests line by line (with `deferStart` and no
   * `start()`); otherwise `start()` writes the input and closes it.
   */
  stdin: Writable;
  /** Keep the gateway's event loop alive for this child (`true` while a request is in flight) or not. */
  setRef(on: boolean): void;
  /** Reset the idle timer: the caller saw progress (a complete page, say). */
  touch(): void;
  /** With `deferStart`: give the child its input and start the clocks now. A no-op otherwise. */
  start(input?: Uint8Array, signal?: AbortSignal): void;
  /** False once the child has ended or is being stopped. */
  alive(): boolean;
  /** CPU time the tree has used so far, in ms (cgroup v2), for charging a mail's work budget; else undefined. */
  cpuMs(): number | undefined;
  /** Stop the child's whole group: SIGTERM, then SIGKILL after the grace period. */
  kill(reason?: Exclude<ChildEnd, 'exit' | 'spawn-failed'>): void;
  done: Promise<ChildOutcome>;
}

const STDERR_TAIL = 64 * 1024;
const WATCH_PERIOD_MS = 100;
/** Per-process cache (docs/DESIGN.md §9): this process's children (killed when it exits) and whether it has logged its isolation once. */
const live = new Set<ChildProcess>();
let reportedIsolation = false;

// A gateway that exits must not leave renderers behind (bwrap's --die-with-parent covers the sandboxed case).
process.once('exit', () => {
  for (const c of live) if (c.pid) killGroup(c.pid, 'SIGKILL');
});

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * Start a child isolated as well as this machine allows (see sandbox.ts), in its own process group,
 * under a memory cap and a wall-clock timeout. The one spawner of the renderer, the archive child and the
 * LibreOffice converter (docs/DESIGN.md, zones).
 */
export function spawnIsolated(opts: RunIsolatedOptions): IsolatedChild {
  const log = opts.log ?? silentLogger;
  let startedAt = Date.now();
  const memoryBytes = opts.memoryMb * 1024 * 1024;
  const program = opts.command ?? process.execPath;
  const heapFlags = opts.command ? [] : [`--max-old-space-size=${Math.max(64, Math.floor(opts.memoryMb / 2))}`];
  const inner = [program, ...heapFlags, ...opts.entry, ...(opts.args ?? [])];
  const cwd = opts.cwd ?? PACKAGE_ROOT;
  const { argv, probe } = sandboxArgv(inner, opts.extraBinds ?? [], cwd);
  if (!reportedIsolation) {
    // Once per process: operators must be able to see what isolation they actually got.
    reportedIsolation = true;
    const facts = { child: opts.name, sandbox: probe.mode, cgroup: cgroupSupport(), reason: probe.reason };
    if (probe.mode === 'none') log.error(facts, 'isolated children run WITHOUT bubblewrap: no network/filesystem isolation');
    else log.info(facts, 'isolated children run in bubblewrap');
  }

  const cgroup: MemoryCgroup | undefined = createMemoryCgroup(memoryBytes);
  // The shell joins the cgroup before exec'ing the sandbox, so no byte of the child runs outside the cap.
  // With cgroup v1's CPU twin the shell joins that group too ("$1"; empty without one).
  const full = cgroup
    ? ['/bin/sh', '-c', 'echo $$ > "$0" && { [ -z "$1" ] || echo $$ > "$1"; } && shift && exec "$@"', cgroup.procsFile, cgroup.cpuProcsFile ?? '', ...argv]
    : argv;
  const env: Record<string, string> = { PATH: '/usr/local/bin:/usr/bin:/bin', LANG: 'C.UTF-8', HOME: '/tmp', TMPDIR: '/tmp', ...opts.env };
  const child = spawn(full[0]!, full.slice(1), { cwd, env, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  live.add(child);

  let end: ChildEnd | undefined;
  let stderr = '';
  let peak = 0;
  let killTimer: NodeJS.Timeout | undefined;
  const kill = (reason: Exclude<ChildEnd, 'exit' | 'spawn-failed'> = 'killed'): void => {
    if (end || child.exitCode !== null || child.signalCode !== null || !child.pid) return;
    end = reason;
    killGroup(child.pid, 'SIGTERM');
    killTimer = setTimeout(() => child.pid && killGroup(child.pid, 'SIGKILL'), opts.graceMs ?? 500);
  };

  let total: NodeJS.Timeout | undefined;
  let idle: NodeJS.Timeout | undefined;
  const touch = (): void => {
    if (!opts.idleTimeoutMs || total === undefined) return;
    if (idle) clearTimeout(idle);
    idle = setTimeout(() => kill('idle-timeout'), opts.idleTimeoutMs);
  };
  // The cgroup charges shared pages to whoever touched them first, so its figure can be below the tree's RSS;
  // the /proc scan is dearer, so with a cgroup it runs every 5th tick as a cross-check (and for the peak).
  let tick = 0;
  const watch = setInterval(() => {
    if (!child.pid) return;
    const rss = !cgroup || tick++ % 5 === 0 ? treeRssBytes(child.pid) : 0;
    const used = Math.max(rss, cgroup ? cgroup.usageBytes() : 0);
    peak = Math.max(peak, used);
    if (used > memoryBytes) kill('memory');
  }, WATCH_PERIOD_MS);
  watch.unref();
  const onAbort = (): void => kill('aborted');
  let signal: AbortSignal | undefined;

  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    stderr = (stderr + s).slice(-STDERR_TAIL);
  });
  // A child may exit without reading its input: EPIPE here is expected, not a gateway error.
  child.stdin.on('error', () => {});
  // A spare waits here, unreferenced so that it does not keep the gateway (or a CLI run) alive.
  const handles = [child, child.stdin, child.stdout, child.stderr] as unknown as { ref(): void; unref(): void }[];
  let started = false;
  const start = (input?: Uint8Array, startSignal?: AbortSignal): void => {
    if (started) return;
    started = true;
    for (const h of handles) h.ref();
    startedAt = Date.now();
    total = setTimeout(() => kill('timeout'), opts.timeoutMs);
    touch();
    signal = startSignal;
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) kill('aborted');
    if (input) child.stdin.end(input);
    else child.stdin.end();
  };
  if (opts.deferStart) for (const h of handles) h.unref();
  else start(opts.input, opts.signal);

  const done = new Promise<ChildOutcome>((resolve) => {
    let spawnError: Error | undefined;
    child.once('error', (e) => {
      spawnError = e;
    });
    child.once('close', (code, sig) => {
      if (total) clearTimeout(total);
      if (idle) clearTimeout(idle);
      if (killTimer) clearTimeout(killTimer);
      clearInterval(watch);
      signal?.removeEventListener('abort', onAbort);
      live.delete(child);
      // Anything left in the group (a grandchild that ignored SIGTERM) goes now.
      if (child.pid) killGroup(child.pid, 'SIGKILL');
      const cpuMs = cgroup?.cpuMs();
      if (cgroup) {
        peak = Math.max(peak, cgroup.peakBytes());
        if (!end && cgroup.oomKilled()) end = 'memory';
        // The kernel may take a moment to uncharge an exited group: removing it is not on the caller's path.
        void cgroup.remove();
      }
      const outcome: ChildOutcome = {
        end: spawnError ? 'spawn-failed' : (end ?? 'exit'),
        exitCode: code,
        signal: sig,
        stderr: spawnError ? `${spawnError.message}\n${stderr}` : stderr,
        peakMemoryBytes: peak,
        durationMs: Date.now() - startedAt,
        sandbox: probe.mode,
        cgroup: cgroup ? cgroup.version : null,
        ...(cpuMs !== undefined ? { cpuMs } : {}),
      };
      const logObj = { evt: EVT.RENDERER_KILLED, child: opts.name, end: outcome.end, exitCode: code, signal: sig, peakMb: Math.round(peak / 1048576), ms: outcome.durationMs, sandbox: probe.mode, cgroup: outcome.cgroup, stderr: stderr.slice(-2000) };
      const routine = opts.routineKill === true && outcome.end === 'killed';
      if (!routine && (outcome.end !== 'exit' || code !== 0)) log.warn(logObj, 'isolated child ended abnormally');
      else log.debug(logObj, 'isolated child done');
      resolve(outcome);
    });
  });

  const setRef = (on: boolean): void => {
    for (const h of handles) {
      if (on) h.ref();
      else h.unref();
    }
  };
  return { pid: child.pid ?? -1, stdout: child.stdout, stdin: child.stdin, setRef, touch, kill, done, start,
    alive: () => !end && child.exitCode === null && child.signalCode === null,
    cpuMs: () => cgroup?.cpuMs(),
  };
}

/**
 * Run a child to completion and collect its stdout (at most `maxOutputBytes`; more kills it as `killed`
 * with `truncated: true`). For children whose output is small or a file in a writable bind.
 */
export async function runIsolated(opts: RunIsolatedOptions & { maxOutputBytes?: number }): Promise<ChildOutcome & { stdout: Buffer; truncated: boolean }> {
  const c = spawnIsolated(opts);
  const max = opts.maxOutputBytes ?? 16 * 1024 * 1024;
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  c.stdout.on('data', (b: Buffer) => {
    if (truncated) return;
    size += b.length;
    if (size > max) {
      truncated = true;
      c.kill('killed');
      return;
    }
    chunks.push(b);
    c.touch();
  });
  const outcome = await c.done;
  return { ...outcome, stdout: Buffer.concat(chunks), truncated };
}

/** What the gateway can say about isolation on this machine (logs, docs, `mukaika config print`). */
export function isolationSummary(): { sandbox: SandboxMode; cgroup: 'v1' | 'v2' | null; reason?: string } {
  const { probe } = sandboxArgv(['/bin/true']);
  return { sandbox: probe.mode, cgroup: cgroupSupport(), ...(probe.reason ? { reason: probe.reason } : {}) };
}
