import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRoot(start: string): string {
  let dir = start;
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`package.json not found above ${start}`);
    dir = up;
  }
  return dir;
}

/** The package root, whether running from src (tsx, vitest) or from dist. */
export const PACKAGE_ROOT = findRoot(path.dirname(fileURLToPath(import.meta.url)));

/** True when this code runs as TypeScript source (tests, tsx), false from the compiled dist. */
export const RUNNING_FROM_SOURCE = import.meta.url.endsWith('.ts');

/**
 * Command line (node args + script) to run one of the thin entries in workers/ as a child process,
 * from source via tsx in development and tests, from dist in production.
 */
export function workerEntry(name: string): string[] {
  if (RUNNING_FROM_SOURCE) {
    return ['--import', 'tsx', path.join(PACKAGE_ROOT, 'workers', `${name}.ts`)];
  }
  return [path.join(PACKAGE_ROOT, 'dist', 'workers', `${name}.js`)];
}
