// Seeded pseudo-random numbers for fuzz and differential tests: the same seed gives the same inputs,
// so a failure names its seed and iteration and replays exactly.
export type Rand = () => number;

/** mulberry32: small, fast, seeded; returns numbers in [0, 1). */
export function prng(seed: number): Rand {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
