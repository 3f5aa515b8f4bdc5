import { readFileSync, readdirSync } from 'node:fs';

/**
 * Resident memory of a process and all its descendants, from /proc. The trusted side's own measurement:
 * used as the memory cap when no cgroup can be made, and as the peak figure tests assert on.
 * Linux has no cheap "children of" lookup here (/proc/PID/task/TID/children needs CONFIG_PROC_CHILDREN),
 * so this scans /proc once per call; at a 100 ms period that is a few hundred small reads.
 */
export function treeRssBytes(rootPid: number): number {
  const parentOf = new Map<number, number>();
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return 0;
  }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      // Field 4 (ppid) follows the command name, which is parenthesised and may contain spaces.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parentOf.set(Number(e), Number(rest[1]));
    } catch {
      /* exited while scanning */
    }
  }
  const inTree = new Set<number>([rootPid]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of parentOf) {
      if (!inTree.has(pid) && inTree.has(ppid)) {
        inTree.add(pid);
        grew = true;
      }
    }
  }
  let total = 0;
  for (const pid of inTree) total += rssOf(pid);
  return total;
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/** This process's peak RSS (VmHWM), for tests asserting the trusted side stayed bounded too. */
export function selfPeakRssBytes(): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
