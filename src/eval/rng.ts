/**
 * Small deterministic pseudo-random source for the evaluation harness: every
 * random choice (background, crop, noise, misalignment, shadow) draws from a
 * stream keyed by the run's seed and a purpose string, so results repeat
 * exactly for the same seed and do not depend on iteration order.
 */

/** A seeded stream of uniform and normal variates. */
export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** Standard normal variate (Box–Muller). */
  gaussian(): number;
}

/** 32-bit FNV-1a hash of a string (UTF-16 code units). */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * A mulberry32 stream seeded from `seed` and the key parts, e.g.
 * `createRng(7, 'shot-noise', 'GT01', 'jpeg')`.
 */
export function createRng(seed: number, ...parts: string[]): Rng {
  let state = hashString(`${seed}|${parts.join('|')}`);
  let spare: number | null = null;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    uniform: (lo, hi) => lo + (hi - lo) * next(),
    int: (n) => Math.min(n - 1, Math.floor(next() * n)),
    gaussian: () => {
      if (spare !== null) {
        const v = spare;
        spare = null;
        return v;
      }
      let u = next();
      while (u <= 1e-12) u = next();
      const v = next();
      const r = Math.sqrt(-2 * Math.log(u));
      spare = r * Math.sin(2 * Math.PI * v);
      return r * Math.cos(2 * Math.PI * v);
    },
  };
}
