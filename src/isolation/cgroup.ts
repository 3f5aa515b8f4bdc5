import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * A memory cgroup for one child. The kernel enforces it on everything the child maps, WASM heaps included,
 * which `prlimit --as` cannot do without breaking MuPDF.js (WASM reserves huge virtual ranges).
 */
export interface MemoryCgroup {
  version: 'v1' | 'v2';
  dir: string;
  /** Write a pid here to move that process (and its future children) into the group. */
  procsFile: string;
  /**
   * cgroup v1 keeps CPU accounting in its own hierarchy: a twin group under `cpuacct` whose `cgroup.procs`
   * the child joins too. Undefined on v2 (one group has both) or where cpuacct is not mounted.
   */
  cpuProcsFile?: string;
  usageBytes(): number;
  peakBytes(): number;
  /** True when the kernel's OOM killer fired inside this group. */
  oomKilled(): boolean;
  /**
   * CPU time used by everything that ran in the group, in ms (v2 `cpu.stat` usage_usec, kept by the kernel
   * for every group whatever controllers are on; v1 `cpuacct.usage` of the twin group); undefined where it
   * cannot be read (no cpuacct, removed group).
   */
  cpuMs(): number | undefined;
  /** Delete the group; retries while the kernel still sees exiting processes in it. */
  remove(): Promise<void>;
}

interface Flavour {
  version: 'v1' | 'v2';
  parent: string;
  /** v1 only: our folder in the cpuacct hierarchy, when it could be made. */
  cpuParent?: string;
}

/** Per-process cache (docs/DESIGN.md §9): the machine's cgroup support does not change while the process runs. */
let flavour: Flavour | null | undefined;

function tryWrite(file: string, value: string): boolean {
  try {
    writeFileSync(file, value);
    return true;
  } catch {
    return false;
  }
}

function readNumber(file: string): number {
  try {
    const n = Number(readFileSync(file, 'utf8').trim().split(/\s+/)[0]);
    return Number.isFinite(n) ? n : 0;
  } catch {
    return 0;
  }
}

function probe(): Flavour | null {
  // cgroup v2 with the memory controller delegated to us (a unified hierarchy at / or /unified).
  for (const root of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) {
    const controllers = path.join(root, 'cgroup.controllers');
    if (!existsSync(controllers)) continue;
    if (!readFileSync(controllers, 'utf8').split(/\s+/).includes('memory')) continue;
    const parent = path.join(root, 'mukaika');
    try {
      mkdirSync(parent, { recursive: true });
    } catch {
      continue;
    }
    tryWrite(path.join(parent, 'cgroup.subtree_control'), '+memory');
    if (readFileSync(path.join(parent, 'cgroup.subtree_control'), 'utf8').includes('memory')) return { version: 'v2', parent };
  }
  // cgroup v1 memory hierarchy (older hosts, many containers).
  const v1 = '/sys/fs/cgroup/memory';
  if (existsSync(path.join(v1, 'memory.limit_in_bytes'))) {
    const parent = path.join(v1, 'mukaika');
    try {
      mkdirSync(parent, { recursive: true });
      const testDir = path.join(parent, `probe-${process.pid}`);
      mkdirSync(testDir);
      rmdirSync(testDir);
      return { version: 'v1', parent, ...v1CpuParent() };
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * Remove groups left by gateway processes that died before cleaning up (killed test workers, crashes):
 * named `c-<pid>-…`, their creator is gone, and the kernel refuses rmdir while anything still runs inside.
 */
/** Our folder in the v1 cpuacct hierarchy, if it is mounted and we may create groups there. */
function v1CpuParent(): { cpuParent?: string } {
  const root = '/sys/fs/cgroup/cpuacct';
  if (!existsSync(path.join(root, 'cpuacct.usage'))) return {};
  const cpuParent = path.join(root, 'mukaika');
  try {
    mkdirSync(cpuParent, { recursive: true });
    return { cpuParent };
  } catch {
    return {};
  }
}

function sweepStale(parent: string): void {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return;
  }
  for (const n of names) {
    const m = /^c-(\d+)-[0-9a-f]+$/.exec(n);
    if (!m || existsSync(`/proc/${m[1]}`)) continue;
    try {
      rmdirSync(path.join(parent, n));
    } catch {
      /* still in use or already gone */
    }
  }
}

/** Which cgroup version we can create memory groups in, or null. Probed once. */
export function cgroupSupport(): 'v1' | 'v2' | null {
  if (flavour === undefined) {
    flavour = process.env.MUKAIKA_CGROUP === 'none' ? null : probe();
    if (flavour) sweepStale(flavour.parent);
    if (flavour?.cpuParent) sweepStale(flavour.cpuParent);
  }
  return flavour?.version ?? null;
}

/** A fresh memory cgroup limited to `limitBytes`, or undefined when this machine does not allow one. */
export function createMemoryCgroup(limitBytes: number): MemoryCgroup | undefined {
  cgroupSupport();
  if (!flavour) return undefined;
  const { version, parent } = flavour;
  const dir = path.join(parent, `c-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    mkdirSync(dir);
  } catch {
    return undefined;
  }
  const file = (n: string): string => path.join(dir, n);
  const ok =
    version === 'v2'
      ? tryWrite(file('memory.max'), String(limitBytes)) && (tryWrite(file('memory.swap.max'), '0') || true)
      : tryWrite(file('memory.limit_in_bytes'), String(limitBytes)) &&
        (!existsSync(file('memory.memsw.limit_in_bytes')) || tryWrite(file('memory.memsw.limit_in_bytes'), String(limitBytes)) || true);
  if (!ok) {
    try {
      rmdirSync(dir);
    } catch {
      /* best effort */
    }
    return undefined;
  }
  // v1: the CPU twin has the same name in the cpuacct hierarchy; without it CPU is simply not measured.
  let cpuDir: string | undefined;
  if (version === 'v1' && flavour.cpuParent) {
    cpuDir = path.join(flavour.cpuParent, path.basename(dir));
    try {
      mkdirSync(cpuDir);
    } catch {
      cpuDir = undefined;
    }
  }
  const removeDir = async (d: string): Promise<void> => {
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(d);
        return;
      } catch {
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  };
  return {
    version,
    dir,
    procsFile: file('cgroup.procs'),
    ...(cpuDir ? { cpuProcsFile: path.join(cpuDir, 'cgroup.procs') } : {}),
    usageBytes: () => readNumber(file(version === 'v2' ? 'memory.current' : 'memory.usage_in_bytes')),
    peakBytes: () => readNumber(file(version === 'v2' ? 'memory.peak' : 'memory.max_usage_in_bytes')),
    oomKilled: () => {
      try {
        const text = readFileSync(file(version === 'v2' ? 'memory.events' : 'memory.oom_control'), 'utf8');
        const m = /oom_kill (\d+)/.exec(text);
        return m ? Number(m[1]) > 0 : false;
      } catch {
        return false;
      }
    },
    cpuMs: () => {
      try {
        if (version === 'v2') {
          const m = /^usage_usec (\d+)$/m.exec(readFileSync(file('cpu.stat'), 'utf8'));
          return m ? Number(m[1]) / 1000 : undefined;
        }
        // cpuacct.usage is in nanoseconds.
        return cpuDir ? Number(readFileSync(path.join(cpuDir, 'cpuacct.usage'), 'utf8').trim()) / 1e6 : undefined;
      } catch {
        return undefined;
      }
    },
    remove: async () => {
      await removeDir(dir);
      if (cpuDir) await removeDir(cpuDir);
    },
  };
}
