import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PACKAGE_ROOT } from '../src/paths.js';

// The layering rules of .dependency-cruiser.cjs (docs/DESIGN.md, zones) run by the real dependency-cruiser,
// on a throw-away tree per case, so a rule that stopped matching fails here and not only in review.
const DEPCRUISE = path.join(PACKAGE_ROOT, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruiser.mjs');
const CONFIG = path.join(PACKAGE_ROOT, '.dependency-cruiser.cjs');
const dirs: string[] = [];

afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function cruise(files: Record<string, string>): { status: number | null; out: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-layering-'));
  dirs.push(dir);
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', moduleResolution: 'nodenext', strict: true } }));
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  const r = spawnSync(process.execPath, [DEPCRUISE, '--config', CONFIG, '--output-type', 'err', 'src'], { cwd: dir, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The names of the rules the cruise reported, sorted and de-duplicated. */
function broken(out: string): string[] {
  return [...new Set([...out.matchAll(/^\s*error ([a-z-]+):/gm)].map((m) => m[1]!))].sort();
}

describe('layering rules (dependency-cruiser)', () => {
  it('passes a tree that keeps every rule', () => {
    const r = cruise({
      'src/paths.ts': 'export const ROOT = "/";\n',
      'src/sandboxed/demo/protocol.ts': 'export const MAGIC = 1;\n',
      'src/sandboxed/demo/main.ts': "import { MAGIC } from './protocol.js';\nimport { ROOT } from '../../paths.js';\nexport const x = [MAGIC, ROOT];\n",
      'src/sanitize/demo/reader.ts': "import { MAGIC } from '../../sandboxed/demo/protocol.js';\nexport const y = MAGIC;\n",
      'src/mail/mime/tree.ts': 'export const T = 1;\n',
      'src/mail/body/select.ts': "import { T } from '../mime/tree.js';\nexport const S = T;\n",
    });
    expect(broken(r.out)).toEqual([]);
    expect(r.status).toBe(0);
  });

  it.each([
    ['sanitize-not-roles', { 'src/store/db.ts': 'export const db = 1;\n', 'src/sanitize/x.ts': "import { db } from '../store/db.js';\nexport const x = db;\n" }],
    ['sandboxed-only-own-protocol', { 'src/sanitize/hash.ts': 'export const h = 1;\n', 'src/sandboxed/demo/main.ts': "import { h } from '../../sanitize/hash.js';\nexport const x = h;\n" }],
    ['sandboxed-only-own-protocol', { 'src/sandboxed/other/protocol.ts': 'export const p = 1;\n', 'src/sandboxed/demo/main.ts': "import { p } from '../other/protocol.js';\nexport const x = p;\n" }],
    ['trusted-reads-only-protocol', { 'src/sandboxed/demo/main.ts': 'export const m = 1;\n', 'src/sanitize/x.ts': "import { m } from '../sandboxed/demo/main.js';\nexport const x = m;\n" }],
    ['mime-not-body', { 'src/mail/body/links.ts': 'export const l = 1;\n', 'src/mail/mime/parse.ts': "import { l } from '../body/links.js';\nexport const x = l;\n" }],
    ['body-not-mail-root', { 'src/mail/types.ts': 'export type T = 1;\n', 'src/mail/body/select.ts': "import type { T } from '../types.js';\nexport const x: T = 1;\n" }],
    ['mail-not-converters', { 'src/sanitize/convert/pdf.ts': 'export const c = 1;\n', 'src/mail/parse.ts': "import { c } from '../sanitize/convert/pdf.js';\nexport const x = c;\n" }],
    ['web-not-originals', { 'src/store/blobs.ts': 'export const b = 1;\n', 'src/web/server.ts': "import { b } from '../store/blobs.js';\nexport const x = b;\n" }],
    ['gateway-not-sanitize', {
      'src/sanitize/parts.ts': 'export const p = 1;\n',
      'src/jobs/unlock.ts': "import { p } from '../sanitize/parts.js';\nexport const u = p;\n",
      'src/ingress/http.ts': "import { u } from '../jobs/unlock.js';\nexport const x = u;\n",
    }],
    ['web-not-sanitize', {
      'src/isolation/spawn.ts': 'export const s = 1;\n',
      'src/log.ts': "import { s } from './isolation/spawn.js';\nexport const c = s;\n",
      'src/web/server.ts': "import { c } from '../log.js';\nexport const x = c;\n",
    }],
    ['isolation-is-generic', { 'src/sanitize/parts.ts': 'export const p = 1;\n', 'src/isolation/spawn.ts': "import { p } from '../sanitize/parts.js';\nexport const x = p;\n" }],
    ['domain-is-pure', { 'src/log.ts': 'export const L = 1;\n', 'src/domain/reasons.ts': "import { L } from '../log.js';\nexport const x = L;\n" }],
    ['no-circular', { 'src/a.ts': "import { b } from './b.js';\nexport const a = () => b;\n", 'src/b.ts': "import { a } from './a.js';\nexport const b = () => a;\n" }],
  ])('fails on a broken %s', (rule, files) => {
    const r = cruise(files);
    expect(broken(r.out)).toEqual([rule]);
    expect(r.status).not.toBe(0);
  });

  it('fails `npm run depcruise` (the step in `npm test`) when a copy of the real tree breaks a rule', () => {
    // A copy of the package's code, config and scripts (node_modules linked), so the real tree is never written to.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'mukaika-layering-tree-'));
    dirs.push(dir);
    for (const p of ['src', 'workers', '.dependency-cruiser.cjs', 'tsconfig.json', 'package.json']) cpSync(path.join(PACKAGE_ROOT, p), path.join(dir, p), { recursive: true });
    symlinkSync(path.join(PACKAGE_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
    const npm = (cwd: string) => spawnSync('npm', ['run', '--silent', 'depcruise'], { cwd, encoding: 'utf8' });
    // The tree as committed passes it.
    const clean = npm(dir);
    expect(clean.status, `${clean.stdout}${clean.stderr}`).toBe(0);
    writeFileSync(path.join(dir, 'src', 'sanitize', 'layering-probe.ts'), "import { Unlocks } from '../store/unlocks.js';\nexport const probe = Unlocks;\n");
    const r = npm(dir);
    expect(broken(`${r.stdout}${r.stderr}`)).toEqual(['sanitize-not-roles']);
    expect(r.status).not.toBe(0);
  });
});

/** Every .ts file under `dir`, as paths relative to the package root. */
function sourcesUnder(dir: string): string[] {
  return readdirSync(path.join(PACKAGE_ROOT, dir), { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts')).map((f) => path.join(dir, f)).sort();
}

/** `file:line: text` for every line of `text` that queries the database directly. */
function rawQueries(file: string, text: string): string[] {
  const raw = /\b(selectFrom|updateTable|insertInto|deleteFrom|replaceInto|mergeInto)\s*\(|\bsql\s*`|\bsql\.(raw|ref|table|id|lit|join)\b|\.transaction\(\)|\.database\.db\b|\bfrom\s+'kysely'/;
  return text.split('\n').flatMap((line, i) => (raw.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : []));
}

describe('the store is a boundary (docs/DESIGN.md §6)', () => {
  it('has no query builder, raw SQL or Kysely import outside src/store', () => {
    const found = sourcesUnder('src').filter((f) => !f.startsWith(`src${path.sep}store${path.sep}`))
      .flatMap((f) => rawQueries(f, readFileSync(path.join(PACKAGE_ROOT, f), 'utf8')));
    expect(found).toEqual([]);
  });

  it('the check sees each way of reaching the database', () => {
    expect(rawQueries('x.ts', [
      "await ctx.database.db.selectFrom('messages').selectAll().execute();",
      'await tx.insertInto(\'deliveries\').values(rows).execute();',
      "await db.updateTable('messages').set({ status }).execute();",
      "await db.deleteFrom ('unlocks').execute();",
      'await sql`DELETE FROM messages`.execute(db);',
      "import type { Kysely } from 'kysely';",
      'await ctx.records.addDeliveries(ctx.database.db, id, batch, sha, [to]);',
      'await ctx.records.addFollowUp(id, batch, sha, [to]);',
    ].join('\n'))).toEqual([
      "x.ts:1: await ctx.database.db.selectFrom('messages').selectAll().execute();",
      "x.ts:2: await tx.insertInto('deliveries').values(rows).execute();",
      "x.ts:3: await db.updateTable('messages').set({ status }).execute();",
      "x.ts:4: await db.deleteFrom ('unlocks').execute();",
      'x.ts:5: await sql`DELETE FROM messages`.execute(db);',
      "x.ts:6: import type { Kysely } from 'kysely';",
      'x.ts:7: await ctx.records.addDeliveries(ctx.database.db, id, batch, sha, [to]);',
    ]);
  });
});
