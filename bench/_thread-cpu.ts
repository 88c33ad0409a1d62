// CPU time of this process's threads by kind (the event loop, the CA's signing threads named
// `ecdsa-lane`, the rest), from the scheduler's /proc/self/task/*/schedstat (Linux): for the
// benches that say where an operation's time goes (ca-issue, agent-renewals).
import { readdirSync, readFileSync } from 'node:fs';

export type ThreadKind = 'event loop' | 'signing threads' | 'other threads';

/** CPU nanoseconds so far of this process's threads, by kind (Linux /proc schedstat; else empty). */
export function threadCpuNs(): Map<ThreadKind, number> {
  const byKind = new Map<ThreadKind, number>();
  let tids: string[];
  try {
    tids = readdirSync('/proc/self/task');
  } catch {
    return byKind;
  }
  for (const tid of tids) {
    try {
      const ns = Number(readFileSync(`/proc/self/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      const name = readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').trim();
      const kind: ThreadKind =
        tid === String(process.pid)
          ? 'event loop'
          : name === 'ecdsa-lane'
            ? 'signing threads'
            : 'other threads';
      byKind.set(kind, (byKind.get(kind) ?? 0) + ns);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return byKind;
}

/** Per operation, in µs: the CPU each kind of thread spent between two `threadCpuNs` readings. */
export function threadCpuPerOp(
  before: Map<ThreadKind, number>,
  after: Map<ThreadKind, number>,
  ops: number,
): string {
  return [...after]
    .map(
      ([kind, ns]) =>
        `${kind} ${Math.round((ns - (before.get(kind) ?? 0)) / 1000 / ops).toLocaleString('en-US')}`,
    )
    .join(', ');
}

/** The machine's CPU time so far (all cores, /proc/stat in clock ticks): idle and total; Linux. */
export function machineCpuTicks(): { idle: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n', 1)[0]
      ?.trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    if (fields === undefined || fields.length < 5) return undefined;
    return {
      idle: (fields[3] as number) + (fields[4] as number),
      total: fields.reduce((sum, n) => sum + n, 0),
    };
  } catch {
    return undefined;
  }
}

/** The share of the machine's CPU time left idle (idle and I/O wait) between two readings, in %. */
export function idleShare(
  before: ReturnType<typeof machineCpuTicks>,
  after: ReturnType<typeof machineCpuTicks>,
): string {
  if (before === undefined || after === undefined || after.total === before.total) return '?';
  return ((100 * (after.idle - before.idle)) / (after.total - before.total)).toFixed(0);
}
