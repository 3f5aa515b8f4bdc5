import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/paths.js';

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Peak resident set of the CLI process (VmHWM, kB), sampled until it exits. */
  peakRssKb: number;
}

/** The built CLI when dist is newer than every source file (as after `npm run build`), else source via tsx. */
export function cliCommand(): string[] {
  const dist = path.join(PACKAGE_ROOT, 'dist', 'src', 'cli.js');
  try {
    const built = statSync(dist).mtimeMs;
    const newest = ['src', 'workers'].flatMap((d) => readdirSync(path.join(PACKAGE_ROOT, d), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.ts')).map((e) => statSync(path.join(e.parentPath, e.name)).mtimeMs));
    if (built >= Math.max(...newest)) return [dist];
  } catch {
    // no build: run from source
  }
  return ['--import', 'tsx', path.join(PACKAGE_ROOT, 'src', 'cli.ts')];
}

/** Runs `mukaika …` as its own process, as a user would, and watches its memory. */
export function runCli(args: string[], env: NodeJS.ProcessEnv = {}, timeoutMs = 120_000): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...cliCommand(), ...args], {
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let peak = 0;
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const sample = () => {
      try {
        const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'));
        if (m) peak = Math.max(peak, Number(m[1]));
      } catch {
        // exited between samples
      }
    };
    const timer = setInterval(sample, 25);
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearInterval(timer);
      clearTimeout(killer);
      resolve({ code, signal, stdout, stderr, peakRssKb: peak });
    });
  });
}
