import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { PACKAGE_ROOT } from '../../src/paths.js';
import { ROLE_ENV } from '../../src/runtime/supervisor.js';
import type { Harness } from './harness.js';

/**
 * The real roles as separate processes (`mukaika gateway`, `mukaika worker sanitize|deliver`), sharing the
 * harness's data dir, SQLite file and queue prefix, so the test reads the same records the processes write.
 * Source via tsx: the build may be older than the tree other engineers are editing.
 */
export class RoleProcess {
  readonly proc: ChildProcess;
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly role: string[], env: NodeJS.ProcessEnv) {
    this.proc = spawn(process.execPath, [...(process.env.ROLE_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', path.join(PACKAGE_ROOT, 'src', 'cli.ts'), ...role], {
      // As `mukaika start` runs its roles (supervisor.ts ROLE_ENV).
      cwd: PACKAGE_ROOT, env: { ...ROLE_ENV, ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
    });
    // Keep the tail only: a worker under fault can log a lot.
    this.proc.stderr!.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-8000); });
    this.exited = new Promise((resolve) => this.proc.once('exit', (code, signal) => resolve({ code, signal })));
  }

  get running(): boolean {
    return this.proc.exitCode === null && this.proc.signalCode === null;
  }

  kill(signal: NodeJS.Signals): void {
    if (this.running) this.proc.kill(signal);
  }

  /** SIGTERM, then SIGKILL if it has not exited within `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.kill('SIGTERM');
    const t = setTimeout(() => this.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

export interface RoleEnv {
  env: NodeJS.ProcessEnv;
  smtpPort: number;
}

/** Writes the role config (queue prefix of the harness, short backoff, no disk reserve) and the env for it. */
export async function roleEnv(h: Harness, lgwanUrl: string, extra: Record<string, unknown> = {}): Promise<RoleEnv> {
  const smtpPort = await freePort();
  const file = path.join(h.dir, 'fault-config.yaml');
  writeFileSync(file, stringify({
    smtp: { minFreeBytes: 0, acceptDomains: ['example.lg.jp'] },
    queue: { prefix: h.prefix, attempts: 10, backoffMs: 200, shutdownTimeoutMs: 2000 },
    ...extra,
  }));
  return {
    smtpPort,
    env: {
      MUKAIKA_CONFIG: file, MUKAIKA_DATA_DIR: h.dir, REDIS_URL: h.config.redisUrl, DATABASE_URL: h.config.databaseUrl,
      SMTP_PORT: String(smtpPort), HTTP_PORT: String(await freePort()), WEB_PORT: String(await freePort()),
      LGWAN_SMTP_URL: lgwanUrl, LOG_LEVEL: 'warn',
    },
  };
}

/** Starts `mukaika gateway` and waits until its SMTP port answers. */
export async function startGateway(re: RoleEnv): Promise<RoleProcess> {
  const g = new RoleProcess(['gateway'], re.env);
  for (let i = 0; i < 300; i++) {
    if (!g.running) throw new Error(`gateway exited: ${g.stderr}`);
    if (await canConnect(re.smtpPort)) return g;
    await sleep(100);
  }
  throw new Error('gateway did not listen');
}

export function startWorker(re: RoleEnv, kind: 'sanitize' | 'deliver'): RoleProcess {
  return new RoleProcess(['worker', kind], re.env);
}

export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}
