import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../paths.js';

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
 * How much isolation this machine gives a child:
 * - `bwrap-userns`: bubblewrap with every namespace (network, pid, ipc, uts, user, cgroup), uid/gid 65534,
 *   no capabilities, no_new_privs, a new session, only the listed paths visible, /tmp a private tmpfs.
 * - `bwrap`: the same without a user namespace (kernel refuses one); capabilities still dropped.
 * - `none`: bubblewrap missing or unusable; the child runs as uid 65534 via setpriv when we are root,
 *   in its own process group, with network still reachable. Logged as an error on every spawn.
 */
export type SandboxMode = 'bwrap-userns' | 'bwrap' | 'none';

export interface SandboxProbe {
  mode: SandboxMode;
  bwrapPath?: string;
  /** Why a stronger mode was not used (for logs and docs). */
  reason?: string;
}

/** uid/gid of `nobody`: the child never runs as the gateway's own user when we can avoid it. */
export const SANDBOX_UID = 65534;

const BWRAP_CANDIDATES = ['/usr/bin/bwrap', '/bin/bwrap', '/usr/local/bin/bwrap'];

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
 * Pure: unit-testable and reusable for any child (renderer, LibreOffice, archive expansion).
 */
export function buildBwrapArgs(command: string[], opts: { binds: Bind[]; mode: Exclude<SandboxMode, 'none'>; chdir?: string }): string[] {
  const args = [
    '--unshare-ipc', '--unshare-pid', '--unshare-net', '--unshare-uts', '--unshare-cgroup-try',
    '--die-with-parent', '--new-session', '--cap-drop', 'ALL',
  ];
  if (opts.mode === 'bwrap-userns') {
    args.push('--unshare-user', '--uid', String(SANDBOX_UID), '--gid', String(SANDBOX_UID));
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--tmpfs', '/var/tmp');
  for (const b of opts.binds) {
    if (b.optional && !existsSync(b.src)) continue;
    const flag = b.writable ? '--bind' : '--ro-bind';
    args.push(flag, b.src, b.dest ?? b.src);
  }
  args.push('--setenv', 'HOME', '/tmp', '--setenv', 'TMPDIR', '/tmp', '--chdir', opts.chdir ?? '/tmp', '--', ...command);
  return args;
}

let cached: SandboxProbe | undefined;

/**
 * Find the strongest isolation that actually works here, by running `true` under it (a container may
 * ship bwrap but forbid namespaces). Cached for the life of the process.
 * `MUKAIKA_SANDBOX=none` forces the unsandboxed mode (for measuring its cost; never for production).
 */
export function probeSandbox(): SandboxProbe {
  if (cached) return cached;
  if (process.env.MUKAIKA_SANDBOX === 'none') {
    cached = { mode: 'none', reason: 'MUKAIKA_SANDBOX=none' };
    return cached;
  }
  const bwrapPath = BWRAP_CANDIDATES.find((p) => existsSync(p));
  if (!bwrapPath) {
    cached = { mode: 'none', reason: 'bubblewrap not installed' };
    return cached;
  }
  const reasons: string[] = [];
  for (const mode of ['bwrap-userns', 'bwrap'] as const) {
    const args = buildBwrapArgs(['/bin/sh', '-c', 'exit 0'], { binds: baseBinds(), mode });
    const r = spawnSync(bwrapPath, args, { timeout: 10_000, encoding: 'utf8', env: {} });
    if (r.status === 0) {
      cached = { mode, bwrapPath, ...(reasons.length ? { reason: reasons.join('; ') } : {}) };
      return cached;
    }
    reasons.push(`${mode}: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().slice(0, 200)}`);
  }
  cached = { mode: 'none', bwrapPath, reason: reasons.join('; ') };
  return cached;
}

/** Forget the cached probe (tests). */
export function resetSandboxProbe(): void {
  cached = undefined;
}

/**
 * The full argv (program first) to run `command` isolated as well as this machine allows.
 * In `none` mode a root gateway still drops to nobody with setpriv (no groups, no_new_privs).
 */
export function sandboxArgv(command: string[], extraBinds: Bind[] = [], cwd = '/tmp'): { argv: string[]; probe: SandboxProbe } {
  const probe = probeSandbox();
  if (probe.mode !== 'none' && probe.bwrapPath) {
    const args = buildBwrapArgs(command, { binds: [...baseBinds(), ...extraBinds], mode: probe.mode, chdir: cwd });
    return { argv: [probe.bwrapPath, ...args], probe };
  }
  if (process.getuid?.() === 0 && existsSync('/usr/bin/setpriv')) {
    const drop = ['/usr/bin/setpriv', `--reuid=${SANDBOX_UID}`, `--regid=${SANDBOX_UID}`, '--clear-groups', '--no-new-privs', '--'];
    return { argv: [...drop, ...command], probe };
  }
  return { argv: command, probe };
}
