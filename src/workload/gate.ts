// A counting semaphore: at most `max` tasks run at once, the others wait in order. Bounds the
// binaries hashed at once (attest.ts) and the broker signings in flight (svid-cache.ts).

/** Runs at most `max` tasks at once; the others wait in order. */
export function createGate(max: number): {
  run<T>(task: () => Promise<T>): Promise<T>;
  stats(): { active: number; peakActive: number };
} {
  let active = 0;
  let peakActive = 0;
  const waiting: (() => void)[] = [];
  return {
    async run(task) {
      if (active >= max) await new Promise<void>((resolve) => waiting.push(resolve));
      else active++;
      peakActive = Math.max(peakActive, active);
      try {
        return await task();
      } finally {
        // The slot passes straight to the next waiter, so `active` never overshoots.
        const next = waiting.shift();
        if (next === undefined) active--;
        else next();
      }
    },
    stats: () => ({ active, peakActive }),
  };
}
