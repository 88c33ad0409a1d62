// A counting semaphore: at most `max` tasks run at once, the others wait in order, tasks marked
// `first` ahead of the rest. Bounds the binaries hashed at once (attest.ts) and the broker signings
// in flight (svid-cache.ts, where X509-SVIDs, which every workload needs, go ahead of JWT-SVIDs).

/** Runs at most `max` tasks at once; the others wait in order (`first` ones ahead). */
export function createGate(max: number): {
  run<T>(task: () => Promise<T>, first?: boolean): Promise<T>;
  stats(): { active: number; peakActive: number };
} {
  let active = 0;
  let peakActive = 0;
  const waitingFirst: (() => void)[] = [];
  const waiting: (() => void)[] = [];
  return {
    async run(task, first = false) {
      if (active >= max) {
        await new Promise<void>((resolve) => (first ? waitingFirst : waiting).push(resolve));
      } else active++;
      peakActive = Math.max(peakActive, active);
      try {
        return await task();
      } finally {
        // The slot passes straight to the next waiter, so `active` never overshoots.
        const next = waitingFirst.shift() ?? waiting.shift();
        if (next === undefined) active--;
        else next();
      }
    },
    stats: () => ({ active, peakActive }),
  };
}
