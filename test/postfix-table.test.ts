import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMailbox } from '../src/domain/mailbox.js';
import { PACKAGE_ROOT } from '../src/paths.js';
import { INVALID, VALID } from './helpers/mailboxes.js';

const TABLE = path.join(PACKAGE_ROOT, 'config', 'postfix', 'recipient-syntax.regexp');
const table = readFileSync(TABLE, 'utf8');

/** `/pattern/ action` lines of a Postfix regexp: table, in order (the first that matches decides). */
const rules = table.split('\n').filter((l) => l.startsWith('/')).map((l) => {
  const m = /^\/(.*)\/\s+(DUNNO|\d{3} \d\.\d\.\d .*)$/.exec(l);
  if (!m) throw new Error(`unparsed table line: ${l}`);
  return { pattern: m[1]!, action: m[2]! };
});

/**
 * The action the table takes for each address (undefined: no rule matched). Postfix compiles regexp:
 * tables as POSIX extended regular expressions, case-insensitive by default; grep -E -i in the C locale
 * is that same engine.
 */
function actions(addresses: string[]): (string | undefined)[] {
  const first: (string | undefined)[] = addresses.map(() => undefined);
  for (const { pattern, action } of rules) {
    let hits = '';
    try {
      hits = execFileSync('grep', ['-E', '-i', '-n', '--', pattern], { input: `${addresses.join('\n')}\n`, env: { LC_ALL: 'C' } }).toString('latin1');
    } catch (err) {
      if ((err as { status?: number }).status !== 1) throw err; // 1 = no line matched
    }
    for (const line of hits.split('\n').filter(Boolean)) {
      const i = Number(line.slice(0, line.indexOf(':'))) - 1;
      first[i] ??= action;
    }
  }
  return first;
}

const refusedBy = (a: string | undefined) => a?.startsWith('5') === true;

/** Postfix matches the internal form of an address: a quoted local part without its quotes. */
function internal(address: string): string {
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  if (local.length >= 2 && local.startsWith('"') && local.endsWith('"')) return `${local.slice(1, -1).replace(/\\(.)/g, '$1')}${address.slice(at)}`;
  return address;
}

describe('Postfix recipient/sender restriction (config/postfix/recipient-syntax.regexp)', () => {
  it('refuses before the queue every address Mukaika would refuse after it (no backscatter)', () => {
    const bad = [...INVALID.map(([a]) => a), 'a,b,c@example.lg.jp', 'root,postmaster,u0@example.lg.jp', 'postmaster(@example.lg.jp', '"a,b"@example.lg.jp'];
    for (const a of bad) if (!a.startsWith('"')) expect(parseMailbox(a), a).toBeUndefined();
    const forms = bad.map(internal);
    const acts = actions(forms);
    expect(forms.filter((_, i) => !refusedBy(acts[i]))).toEqual([]);
  });

  it('lets ordinary addresses through', () => {
    const plain = VALID.map(([a]) => a).filter((a) => /^[\x21-\x7e]+$/.test(a) && !a.startsWith('"'));
    expect(plain.length).toBeGreaterThan(5);
    expect(actions([...plain, '<>'])).toEqual([...plain.map(() => undefined), 'DUNNO']);
  });

  it('answers 501 5.1.3 for every rule, and is the very table README shows', () => {
    expect(rules.length).toBeGreaterThan(10);
    for (const r of rules.slice(1)) expect(r.action).toMatch(/^501 5\.1\.3 Bad address syntax/);
    const readme = readFileSync(path.join(PACKAGE_ROOT, 'README.md'), 'utf8');
    expect(readme).toContain(table.trim());
    expect(readme).toContain('check_recipient_access regexp:/etc/postfix/mukaika-recipient-syntax.regexp');
  });
});
