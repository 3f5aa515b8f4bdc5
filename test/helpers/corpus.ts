import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { PACKAGE_ROOT } from '../../src/paths.js';

/** The shared corpus of real-world hostile files; MUKAIKA_CORPUS overrides the path. */
export const CORPUS_DIR = process.env.MUKAIKA_CORPUS ?? path.resolve(PACKAGE_ROOT, '..', 'shared', 'corpus');

export const corpusPresent = existsSync(path.join(CORPUS_DIR, 'SOURCES.tsv'));

if (!corpusPresent) {
  console.warn(`NOTE: corpus not found at ${CORPUS_DIR}: corpus tests are skipped; generated fixtures still run.`);
}

/** Absolute path of a corpus file, e.g. corpusFile('mail', 'japanese.eml'). */
export function corpusFile(...parts: string[]): string {
  return path.join(CORPUS_DIR, ...parts);
}

/** Sorted file names of one corpus folder; empty when the corpus is absent. */
export function corpusList(folder: string): string[] {
  const dir = path.join(CORPUS_DIR, folder);
  return existsSync(dir) ? readdirSync(dir).filter((f) => !f.startsWith('.')).sort() : [];
}
