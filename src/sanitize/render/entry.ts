import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PACKAGE_ROOT, RUNNING_FROM_SOURCE, workerEntry } from '../../paths.js';

/** Per-process cache (docs/DESIGN.md §9): the renderer's entry is bundled once per process (below). */
let cached: string[] | undefined;

/**
 * Node arguments that start the renderer child. In production (dist) this is `workerEntry('renderer')`.
 * From source, tsx would transpile the child's modules in every child (about half a second each, and the
 * sandbox's private /tmp keeps no cache), so the entry is bundled once per gateway process with esbuild
 * (tsx's own compiler) into node_modules/.cache, which is what dist gives production. Dependencies stay
 * external (resolved from node_modules as usual). Falls back to tsx if esbuild is unavailable.
 * `MUKAIKA_RENDERER_TSX=1` forces tsx.
 */
export function rendererEntry(): string[] {
  if (!RUNNING_FROM_SOURCE || process.env.MUKAIKA_RENDERER_TSX === '1') return workerEntry('renderer');
  cached ??= bundle() ?? workerEntry('renderer');
  return cached;
}

function bundle(): string[] | undefined {
  try {
    const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
    const built = esbuild.buildSync({
      entryPoints: [path.join(PACKAGE_ROOT, 'workers', 'renderer.ts')],
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      write: false,
      logLevel: 'silent',
    });
    const code = built.outputFiles[0]!.contents;
    // Named by content: processes share one file, a changed source gets a new one, nothing to clean up.
    const dir = path.join(PACKAGE_ROOT, 'node_modules', '.cache', 'mukaika');
    const out = path.join(dir, `renderer-${createHash('sha256').update(code).digest('hex').slice(0, 16)}.mjs`);
    if (!existsSync(out)) {
      mkdirSync(dir, { recursive: true });
      // Written under a temp name and renamed: a child never sees a half-written entry.
      const tmp = `${out}.${process.pid}.tmp`;
      writeFileSync(tmp, code, { mode: 0o644 });
      renameSync(tmp, out);
    }
    return [out];
  } catch {
    return undefined;
  }
}
