import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EVT, type Logger } from '../log.js';

const ROLES: string[][] = [['gateway'], ['worker', 'sanitize'], ['worker', 'deliver'], ['web']];

/**
 * Environment every role process starts with. Blob writes fsync on libuv's threadpool; its default of 4
 * threads caps concurrent SMTP sessions' fsyncs (measured 142 → 246 accepted/s at 32). An operator's own
 * setting wins.
 */
export const ROLE_ENV = { UV_THREADPOOL_SIZE: '32' } as const;

export interface SuperviseOptions {
  /** Roles to run, as CLI arguments. @defaultValue gateway, worker sanitize, worker deliver, web */
  roles?: string[][];
  /** Node arguments that run the mukaika CLI. @defaultValue this process's execArgv and the CLI next to this module */
  command?: string[];
  /** Pause before the first restart of a role; doubled on each further exit. @defaultValue 1000 */
  initialBackoffMs?: number;
  /** The pause never grows past this. @defaultValue 30000 */
  maxBackoffMs?: number;
  /** A role that was up this long before it exited starts again at initialBackoffMs. @defaultValue 60000 */
  resetAfterMs?: number;
}

export interface RoleTree {
  /** Resolves once every role has reported ready (listening or running) at least once. */
  ready: Promise<void>;
  /** How many times each role has been started again. */
  restarts(): Record<string, number>;
  /** The process id of each role that is running now. */
  pids(): Record<string, number | undefined>;
  stop(): Promise<void>;
}

/**
 * `mukaika start`: one child process per role, so a crash in one (say a worker) never takes the SMTP
 * listener with it. A role reports readiness over IPC once it listens; a role that exits (a port in use
 * makes it exit 1) is logged with its status (MK004) and started again after a capped exponential pause.
 * SIGTERM is passed on and waited for.
 */
export function superviseRoles(log: Logger, env: NodeJS.ProcessEnv, graceMs: number, opts: SuperviseOptions = {}): RoleTree {
  const cli = fileURLToPath(new URL('../cli.' + (import.meta.url.endsWith('.ts') ? 'ts' : 'js'), import.meta.url));
  const { roles = ROLES, command = [...process.execArgv, cli], initialBackoffMs = 1000, maxBackoffMs = 30_000, resetAfterMs = 60_000 } = opts;
  const children = new Map<string, ChildProcess>();
  const timers = new Set<NodeJS.Timeout>();
  const restarts: Record<string, number> = {};
  const failures: Record<string, number> = {};
  const readyOnce = new Set<string>();
  let allReady!: () => void;
  const ready = new Promise<void>((resolve) => { allReady = resolve; });
  let stopping = false;

  const launch = (role: string[]) => {
    const name = role.join(' ');
    const childEnv = { ...ROLE_ENV, ...env };
    const child = spawn(process.execPath, [...command, ...role], { env: childEnv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.set(name, child);
    let readyAt: number | undefined;
    child.on('message', (m: { type?: string }) => {
      if (m?.type !== 'ready' || readyAt !== undefined) return;
      readyAt = Date.now();
      if (readyOnce.has(name)) {
        log.info({ evt: EVT.STARTED, role: name, restarts: restarts[name] }, 'role running again');
        return;
      }
      readyOnce.add(name);
      if (readyOnce.size === roles.length) allReady();
    });
    child.on('exit', (code, signal) => {
      children.delete(name);
      if (stopping) return;
      if (readyAt !== undefined && Date.now() - readyAt >= resetAfterMs) failures[name] = 0;
      failures[name] = (failures[name] ?? 0) + 1;
      const delayMs = Math.min(maxBackoffMs, initialBackoffMs * 2 ** (failures[name] - 1));
      restarts[name] = (restarts[name] ?? 0) + 1;
      log.error({ evt: EVT.ROLE_EXITED, role: name, code, signal, restarts: restarts[name], delayMs }, `role ${name} exited; restarting in ${delayMs} ms`);
      const t = setTimeout(() => {
        timers.delete(t);
        if (!stopping) launch(role);
      }, delayMs);
      timers.add(t);
    });
  };
  for (const role of roles) launch(role);

  return {
    ready,
    restarts: () => ({ ...restarts }),
    pids: () => Object.fromEntries([...children].map(([name, c]) => [name, c.pid])),
    async stop() {
      stopping = true;
      for (const t of timers) clearTimeout(t);
      const all = [...children.values()];
      const exits = all.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r))));
      for (const c of all) c.kill('SIGTERM');
      const timer = setTimeout(() => { for (const c of all) c.kill('SIGKILL'); }, graceMs);
      await Promise.all(exits);
      clearTimeout(timer);
    },
  };
}
