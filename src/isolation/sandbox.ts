import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { EVT, type Logger } from '../log.js';
import { PACKAGE_ROOT } from '../paths.js';

/** A path made visible inside the sandbox. Read-only unless `writable`. */
export interface Bind {
  src: string;
  /** Where it appears inside; default: the same path. */
  dest?: string;
  writable?: boolean;
  /** Skip silently when `src` does not exist (e.g. /lib64 on some distros). */
  optional?: boolean;
}

/**
 * How much isolation this machine gives a child (docs/renderer.md, "Isolation achieved"):
 * - `bwrap-userns`: bubblewrap with every namespace (network, pid, ipc, uts, user, cgroup), uid/gid 65534,
 *   no capabilities, no_new_privs, a new session, only the listed paths visible, /tmp a private tmpfs.
 *   A root gateway first drops to 65534 with setpriv, so the user namespace maps 65534 to host uid 65534
 *   (bwrap run as root would map it to host uid 0).
 * - `bwrap`: the same without a user namespace (kernel refuses one). bwrap runs as root keeping only
 *   CAP_SETUID/SETGID/SETPCAP, and setpriv inside the sandbox drops to 65534 before the child's first byte.
 * - `none`: bubblewrap missing or unusable; the child runs as uid 65534 via setpriv when we are root,
 *   in its own process group, with network still reachable. Logged as an error on every spawn.
 */
export type SandboxMode = 'bwrap-userns' | 'bwrap' | 'none';

const MODES: readonly SandboxMode[] = ['bwrap-userns', 'bwrap', 'none'];

export interface SandboxProbe {
  mode: SandboxMode;
  bwrapPath?: string;
  /** Host uid the children run as: 65534 when the gateway is root, else the gateway's own uid. */
  uid: number;
  /** Why a stronger mode was not used (for logs and docs). */
  reason?: string;
  /** True when no mode can run a child without uid 0: every spawn then fails (held), nothing runs as root. */
  refused?: boolean;
}

/** What `/readyz`, the start-up log and `mukaika config print` show. */
export interface SandboxStatus {
  mode: SandboxMode;
  uid: number;
  reason: string | null;
}

/** uid/gid of `nobody`: the child never runs as the gateway's own user when we can avoid it. */
export const SANDBOX_UID = 65534;

const BWRAP_CANDIDATES = ['/usr/bin/bwrap', '/bin/bwrap', '/usr/local/bin/bwrap'];
const SETPRIV = '/usr/bin/setpriv';

/**
 * Drop from root to nobody: real/effective/saved uid and gid, no supplementary groups, no inheritable or
 * bounding capabilities, no_new_privs (a setuid binary reached later cannot regain anything).
 */
export function dropToNobody(): string[] {
  return [SETPRIV, `--reuid=${SANDBOX_UID}`, `--regid=${SANDBOX_UID}`, '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--'];
}

/**
 * What node (and our code) needs to start: system libraries, the node binary, and the package's code.
 * Deliberately not the whole package root: the data dir (`./var`, originals of other messages) may live there.
 */
export function baseBinds(): Bind[] {
  const nodeDir = path.dirname(process.execPath);
  const binds: Bind[] = [
    { src: '/usr' },
    { src: '/lib', optional: true },
    { src: '/lib64', optional: true },
    { src: '/lib32', optional: true },
    { src: '/bin', optional: true },
    { src: '/sbin', optional: true },
    { src: '/etc/ld.so.cache', optional: true },
    { src: '/etc/ld.so.conf', optional: true },
    { src: '/etc/ld.so.conf.d', optional: true },
    { src: '/etc/localtime', optional: true },
  ];
  if (!nodeDir.startsWith('/usr/') && !nodeDir.startsWith('/bin')) binds.push({ src: nodeDir });
  for (const p of ['package.json', 'tsconfig.json', 'node_modules', 'src', 'workers', 'dist']) {
    binds.push({ src: path.join(PACKAGE_ROOT, p), optional: true });
  }
  return binds;
}

/**
 * bwrap arguments (without the bwrap path itself) that run `command` with `binds` visible.
 * `dropInside`: bwrap runs as root without a user namespace, so it keeps just enough capability for setpriv
 * (under /usr, bound) to become nobody as the sandbox's first command.
 * Pure: unit-testable and reusable for any child (renderer, LibreOffice, archive expansion).
 */
export function buildBwrapArgs(
  command: string[],
  opts: { binds: Bind[]; mode: Exclude<SandboxMode, 'none'>; chdir?: string; dropInside?: boolean },
): string[] {
  const args = [
    '--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-cgroup-try',
    '--die-with-parent', '--new-session', '--cap-drop', 'ALL',
  ];
  const dropInside = opts.mode === 'bwrap' && opts.dropInside === true;
  if (dropInside) args.push('--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--cap-add', 'CAP_SETPCAP');
  if (opts.mode === 'bwrap-userns') {
    args.push('--unshare-user', '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_UID));
  }
  // A tmpfs is created 0755 and owned by whoever bwrap is: 1777 so that nobody can write it in every mode.
  args.push('--proc', '/proc', '--dev', '/dev', '--perms', '1777', '--tmpfs', '/tmp', '--perms', '1777', '--tmpfs', '/var/tmp');
  const binds = opts.binds.filter((b) => !b.optional || existsSync(b.src));
  // bwrap run as root creates the parents of a bind 0700, which nobody (after setpriv) cannot pass: make
  // them 0755 first. Only directories on the way to what is bound; their contents stay invisible.
  const parents = new Set<string>();
  for (const b of binds) {
    for (let d = path.dirname(b.dest ?? b.src); d !== '/' && d !== '.'; d = path.dirname(d)) parents.add(d);
  }
  for (const d of [...parents].sort((a, b) => a.split('/').length - b.split('/').length)) args.push('--perms', '0755', '--dir', d);
  for (const b of binds) args.push(b.writable ? '--bind' : '--ro-bind', b.src, b.dest ?? b.src);
  args.push('--setenv', 'HOME', '/tmp', '--setenv', 'TMPDIR', '/tmp', '--chdir', opts.chdir ?? '/tmp', '--');
  return [...args, ...(dropInside ? dropToNobody() : []), ...command];
}

interface Host {
  root: boolean;
  setpriv: boolean;
  bwrapPath?: string;
}

function hostFacts(): Host {
  const bwrapPath = BWRAP_CANDIDATES.find((p) => existsSync(p));
  return { root: process.getuid?.() === 0, setpriv: existsSync(SETPRIV), ...(bwrapPath ? { bwrapPath } : {}) };
}

/**
 * The argv for `command` in `mode`, or undefined when that mode cannot run it without uid 0.
 * The probe runs exactly this, so what it verified is what every child gets.
 */
function wrap(mode: SandboxMode, host: Host, command: string[], binds: Bind[], cwd: string): string[] | undefined {
  if (host.root && !host.setpriv) return undefined;
  const outside = host.root && mode !== 'bwrap' ? dropToNobody() : [];
  if (mode === 'none') return [...outside, ...command];
  if (!host.bwrapPath) return undefined;
  const args = buildBwrapArgs(command, { binds: [...baseBinds(), ...binds], mode, chdir: cwd, dropInside: host.root });
  return [...outside, host.bwrapPath, ...args];
}

/**
 * `MUKAIKA_SANDBOX_MODE=bwrap|none` (test and diagnostics only) caps the probe at that mode: it can only
 * weaken the isolation, never claim a mode the probe did not verify. `MUKAIKA_SANDBOX=none` is the older
 * spelling of `MUKAIKA_SANDBOX_MODE=none`.
 */
function ceiling(env: NodeJS.ProcessEnv): { from: number; note?: string } {
  const v = env.MUKAIKA_SANDBOX_MODE ?? (env.MUKAIKA_SANDBOX === 'none' ? 'none' : undefined);
  if (v === undefined || v === '') return { from: 0 };
  const i = MODES.indexOf(v as SandboxMode);
  if (i < 0) return { from: 0, note: `ignored unknown MUKAIKA_SANDBOX_MODE=${v.slice(0, 40)}` };
  return i === 0 ? { from: 0 } : { from: i, note: `forced by MUKAIKA_SANDBOX_MODE=${v}` };
}

/** Per-process cache (docs/DESIGN.md §9): probing runs bwrap; the answer holds for the process (resetSandboxProbe for tests). */
let cached: SandboxProbe | undefined;

/**
 * What the probe runs: node itself, reporting its uid after reading the package (an install directory or a
 * node binary that nobody cannot read fails here, once, instead of at every part).
 */
function probeCommand(): string[] {
  const pkg = JSON.stringify(path.join(PACKAGE_ROOT, 'package.json'));
  return [process.execPath, '-e', `require('fs').accessSync(${pkg}, 4); process.stdout.write(String(process.getuid()))`];
}

/**
 * Find the strongest isolation that actually works here, by running node under it (a container may
 * ship bwrap but forbid namespaces) and checking the uid the child got. Cached for the life of the process.
 */
export function probeSandbox(): SandboxProbe {
  if (cached) return cached;
  const host = hostFacts();
  const own = process.getuid?.() ?? SANDBOX_UID;
  const { from, note } = ceiling(process.env);
  const reasons: string[] = note ? [note] : [];
  if (host.root && !host.setpriv) reasons.push(`${SETPRIV} missing: refusing to run parsers as root`);
  if (!host.bwrapPath && from < 2) reasons.push('bubblewrap not installed');
  for (const mode of MODES.slice(from)) {
    const argv = wrap(mode, host, probeCommand(), [], '/tmp');
    if (!argv) continue;
    const r = spawnSync(argv[0]!, argv.slice(1), { timeout: 10_000, encoding: 'utf8', env: {} });
    // Inside a user namespace the child always sees 65534; its host uid is ours unless we dropped first.
    const want = mode === 'bwrap-userns' || host.root ? SANDBOX_UID : own;
    const seen = r.status === 0 ? Number(r.stdout.trim()) : NaN;
    if (seen === want) {
      const uid = host.root ? SANDBOX_UID : own;
      cached = { mode, uid, ...(host.bwrapPath ? { bwrapPath: host.bwrapPath } : {}), ...(reasons.length ? { reason: reasons.join('; ') } : {}) };
      return cached;
    }
    const why = r.status === 0 ? `child ran as uid ${r.stdout.trim()}` : (r.stderr || r.error?.message || `exit ${r.status}`).trim();
    reasons.push(`${mode}: ${why.slice(0, 200)}`);
  }
  cached = { mode: 'none', uid: own, refused: true, ...(host.bwrapPath ? { bwrapPath: host.bwrapPath } : {}), reason: [...reasons, 'no mode runs parsers unprivileged: refusing to spawn them'].join('; ') };
  return cached;
}

/** Forget the cached probe (tests). */
export function resetSandboxProbe(): void {
  cached = undefined;
}

/**
 * The mode in use, the uid children run as, and why no stronger mode: for /readyz, logs and `config print`.
 * When `probeSandbox().refused`, no parser runs at all (a /readyz should then say not ready).
 */
export function sandboxStatus(): SandboxStatus {
  const p = probeSandbox();
  return { mode: p.mode, uid: p.uid, reason: p.reason ?? null };
}

/**
 * One line at the start of a role that spawns parsers: what isolation operators actually got.
 * `none` leaves the network reachable (error); `bwrap` lacks the user namespace (warn).
 */
export function logSandboxMode(log: Logger, role: string): SandboxStatus {
  const sandbox = sandboxStatus();
  const level = sandbox.mode === 'none' ? 'error' : sandbox.mode === 'bwrap' ? 'warn' : 'info';
  log[level]({ evt: EVT.SANDBOX_MODE, role, sandbox }, `parsers run in sandbox mode ${sandbox.mode} as uid ${sandbox.uid}`);
  return sandbox;
}

/**
 * The full argv (program first) to run `command` isolated as well as this machine allows, always as an
 * unprivileged uid. When no mode can do that, the argv is a command that fails, so the part is held.
 */
export function sandboxArgv(command: string[], extraBinds: Bind[] = [], cwd = '/tmp'): { argv: string[]; probe: SandboxProbe } {
  const probe = probeSandbox();
  const argv = probe.refused ? undefined : wrap(probe.mode, hostFacts(), command, extraBinds, cwd);
  return { argv: argv ?? ['/bin/sh', '-c', 'echo "mukaika: no sandbox mode avoids uid 0; refusing" >&2; exit 126'], probe };
}
