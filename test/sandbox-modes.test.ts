import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { minimalDocx } from '../bench/office-docx.js';
import { spawnIsolated } from '../src/isolation/spawn.js';
import { OfficePool } from '../src/sanitize/office/pool.js';
import { runCli } from './helpers/run-cli.js';
import { createLogger } from '../src/log.js';
import { buildBwrapArgs, logSandboxMode, probeSandbox, resetSandboxProbe, sandboxStatus, type SandboxMode } from '../src/isolation/sandbox.js';

/**
 * Every sandbox mode runs the child as an unprivileged uid (docs/renderer.md, "Isolation achieved"). The
 * machine's own mode is bwrap-userns; MUKAIKA_SANDBOX_MODE forces the weaker ones so each is tested here.
 */
const root = process.getuid?.() === 0;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'mukaika-sandbox-modes-'));

function force(mode: SandboxMode | undefined): void {
  if (mode) process.env.MUKAIKA_SANDBOX_MODE = mode;
  else delete process.env.MUKAIKA_SANDBOX_MODE;
  resetSandboxProbe();
}

afterEach(() => force(undefined));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Host-side view of a process: its uid line and its children, read from the gateway's /proc. */
function hostStatus(pid: number): { uid: string; caps: string } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { uid: /^Uid:\s+(.*)$/m.exec(s)![1]!.replace(/\s+/g, ' '), caps: /^CapEff:\s+(.*)$/m.exec(s)![1]! };
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  let kids: string[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
  } catch {
    return out;
  }
  for (const k of kids) out.push(Number(k), ...descendants(Number(k)));
  return out;
}

/** The child reports its own uid lines and prints READY, then waits so the host can inspect the tree. */
const REPORT = `
  const s = require('fs').readFileSync('/proc/self/status', 'utf8');
  const line = (k) => new RegExp('^' + k + ':[ \\\\t]*(.*)$', 'm').exec(s)[1].trim().replace(/\\s+/g, ' ');
  process.stdout.write(JSON.stringify({ uid: process.getuid(), gid: process.getgid(), Uid: line('Uid'), Groups: line('Groups'), CapEff: line('CapEff'), CapPrm: line('CapPrm'), CapBnd: line('CapBnd'), CapAmb: line('CapAmb'), NoNewPrivs: line('NoNewPrivs') }) + '\\n');
  setTimeout(() => {}, 30000);`;

async function inspect(): Promise<{ inside: Record<string, unknown>; hostNode: Array<{ uid: string; caps: string }> }> {
  const c = spawnIsolated({ entry: ['-e', REPORT], timeoutMs: 30_000, memoryMb: 256, name: 'uid-probe' });
  let text = '';
  await new Promise<void>((resolve, reject) => {
    c.stdout.on('data', (b: Buffer) => {
      text += b.toString();
      if (text.includes('\n')) resolve();
    });
    void c.done.then((o) => reject(new Error(`child ended: ${o.end} ${o.stderr}`)));
  });
  // Every process of the tree that runs node (the child itself), seen from outside any namespace. By its
  // executable, not its comm: Node 24 names its main thread "MainThread".
  const hostNode = [c.pid, ...descendants(c.pid)]
    .filter((p) => {
      try {
        return path.basename(readlinkSync(`/proc/${p}/exe`)) === path.basename(process.execPath);
      } catch {
        return false;
      }
    })
    .map(hostStatus);
  c.kill();
  await c.done;
  return { inside: JSON.parse(text) as Record<string, unknown>, hostNode };
}

describe.runIf(root)('sandbox modes, gateway running as root', () => {
  for (const mode of ['bwrap-userns', 'bwrap', 'none'] as const) {
    it(`${mode}: the child is uid/gid 65534 inside and on the host, no groups, no capabilities`, async () => {
      force(mode === 'bwrap-userns' ? undefined : mode);
      expect(sandboxStatus()).toEqual({ mode, uid: 65534, reason: mode === 'bwrap-userns' ? null : `forced by MUKAIKA_SANDBOX_MODE=${mode}` });
      const { inside, hostNode } = await inspect();
      const none = '0000000000000000';
      expect(inside).toEqual({ uid: 65534, gid: 65534, Uid: '65534 65534 65534 65534', Groups: '', CapEff: none, CapPrm: none, CapBnd: none, CapAmb: none, NoNewPrivs: '1' });
      // In bwrap-userns the namespace's 65534 must not be the host's root: the host sees 65534 too.
      expect(hostNode).toEqual([{ uid: '65534 65534 65534 65534', caps: '0000000000000000' }]);
    });
  }

  it('the override only weakens: an unknown value is ignored and the probed mode stays', () => {
    force('bogus' as SandboxMode);
    expect(sandboxStatus()).toEqual({ mode: 'bwrap-userns', uid: 65534, reason: 'ignored unknown MUKAIKA_SANDBOX_MODE=bogus' });
    force('bwrap');
    expect(probeSandbox().mode).toBe('bwrap');
  });

  it('bwrap without a user namespace keeps only what setpriv needs, and setpriv runs first inside', () => {
    const argv = buildBwrapArgs(['/usr/bin/node', 'x.js'], { binds: [], mode: 'bwrap', dropInside: true });
    expect(argv.join(' ')).toContain('--cap-drop ALL --cap-add CAP_SETUID --cap-add CAP_SETGID --cap-add CAP_SETPCAP');
    expect(argv).not.toContain('--unshare-user');
    expect(argv.slice(argv.indexOf('--') + 1)).toEqual([
      '/usr/bin/setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--no-new-privs', '--',
      '/usr/bin/node', 'x.js',
    ]);
  });

  for (const mode of ['bwrap-userns', 'bwrap', 'none'] as const) {
    it(`${mode}: LibreOffice starts as nobody (on the host too) and converts a .docx`, async () => {
      force(mode === 'bwrap-userns' ? undefined : mode);
      const pool = new OfficePool({ memoryMb: 1024, maxDocs: 3 });
      try {
        const r = await pool.convert(await minimalDocx(['御見積書', `mode ${mode}`]), 'docx', 90_000, 50_000_000);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        const file = path.join(tmp, `${mode}.pdf`);
        writeFileSync(file, r.untrustedPdf);
        expect(execFileSync('pdftotext', ['-enc', 'UTF-8', file, '-']).toString('utf8').trim()).toBe(`御見積書\nmode ${mode}`);
        for (const pid of await pool.pids()) {
          const soffice = descendants(pid).filter((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'soffice.bin');
          expect(soffice.length).toBe(1);
          expect(soffice.map(hostStatus)).toEqual([{ uid: '65534 65534 65534 65534', caps: '0000000000000000' }]);
        }
      } finally {
        await pool.close();
      }
    }, 120_000);

    // The pool's directory may sit below directories nobody cannot pass (a caller's 0700 mkdtemp, a TMPDIR in a
    // private directory): bwrap-userns resolves its binds as nobody and `none` hands soffice host paths.
    it.runIf(root)(`${mode}: a pool below two 0700 directories still converts, and they only gain search for others`, async () => {
      force(mode === 'bwrap-userns' ? undefined : mode);
      const outer = path.join(tmp, `private-${mode}`);
      const inner = path.join(outer, 'inner');
      mkdirSync(inner, { recursive: true, mode: 0o700 });
      chmodSync(outer, 0o700);
      chmodSync(inner, 0o700);
      const pool = new OfficePool({ memoryMb: 1024, maxDocs: 3, baseDir: path.join(inner, 'pool') });
      try {
        const r = await pool.convert(await minimalDocx(['御見積書', `below ${mode}`]), 'docx', 90_000, 50_000_000);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        const file = path.join(tmp, `below-${mode}.pdf`);
        writeFileSync(file, r.untrustedPdf);
        expect(execFileSync('pdftotext', ['-enc', 'UTF-8', file, '-']).toString('utf8').trim()).toBe(`御見積書\nbelow ${mode}`);
        expect([statSync(outer).mode & 0o777, statSync(inner).mode & 0o777]).toEqual([0o701, 0o701]);
      } finally {
        await pool.close();
      }
    }, 120_000);
  }
});

describe('sandbox status', () => {
  it.runIf(root)('`mukaika config print` shows the mode in use, forced or probed', async () => {
    const forced = await runCli(['config', 'print'], { MUKAIKA_SANDBOX_MODE: 'none' });
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('\nsandbox:\n  mode: none\n  uid: 65534\n  reason: forced by MUKAIKA_SANDBOX_MODE=none\n');
    const probed = await runCli(['config', 'print'], { MUKAIKA_SANDBOX_MODE: '' });
    expect(probed.stdout).toContain('\nsandbox:\n  mode: bwrap-userns\n  uid: 65534\n  reason: null\n');
  });

  it.runIf(root)('the start-up line names mode and uid, at error level without bubblewrap', () => {
    const lines: string[] = [];
    const log = createLogger('info', { write: (l: string) => lines.push(l) } as unknown as NodeJS.WritableStream);
    force('none');
    logSandboxMode(log, 'worker sanitize');
    force(undefined);
    logSandboxMode(log, 'worker sanitize');
    const seen = lines.map((l) => JSON.parse(l) as Record<string, unknown>).map(({ level, evt, role, sandbox, msg }) => ({ level, evt, role, sandbox, msg }));
    expect(seen).toEqual([
      { level: 50, evt: 'MK211', role: 'worker sanitize', sandbox: { mode: 'none', uid: 65534, reason: 'forced by MUKAIKA_SANDBOX_MODE=none' }, msg: 'parsers run in sandbox mode none as uid 65534' },
      { level: 30, evt: 'MK211', role: 'worker sanitize', sandbox: { mode: 'bwrap-userns', uid: 65534, reason: null }, msg: 'parsers run in sandbox mode bwrap-userns as uid 65534' },
    ]);
  });

  it('names the mode, the uid children run as, and never uid 0', () => {
    const s = sandboxStatus();
    expect(['bwrap-userns', 'bwrap', 'none']).toContain(s.mode);
    expect(s.uid).toBe(root ? 65534 : process.getuid?.());
  });
});
