/**
 * Deterministic random numbers for the sample-session generator: a seeded
 * float PRNG for shapes (mulberry32) and a fast table-driven Gaussian sampler
 * for sensor noise (xorshift32 + a fixed 65,536-entry normal table).
 * Same seed, same numbers, on every platform.
 */

/** Mixes a seed and a salt into one well-spread 32-bit unsigned integer (splitmix-style finaliser). */
export function hashSeed(seed: number, salt = 0): number {
  let h = (Math.imul(seed | 0, 0x9e3779b1) ^ Math.imul((salt | 0) + 0x7f4a7c15, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x21f0aaad) >>> 0;
  h = Math.imul(h ^ (h >>> 15), 0x735a2d97) >>> 0;
  h = (h ^ (h >>> 15)) >>> 0;
  return h === 0 ? 0x6d2b79f5 : h;
}

/** A small seeded PRNG (mulberry32) with helpers for uniform and normal draws. */
export class Rng {
  private state: number;

  /** @param seed any integer; equal seeds give equal sequences */
  constructor(seed: number) {
    this.state = hashSeed(seed, 0x51ed) >>> 0;
  }

  /** Uniform float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform float in [a, b). */
  range(a: number, b: number): number {
    return a + (b - a) * this.next();
  }

  /** Uniform integer in [a, b] (inclusive). */
  int(a: number, b: number): number {
    return a + Math.floor((b - a + 1) * this.next());
  }

  /** Standard normal draw (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
}

let normalTable: Float32Array | null = null;

/**
 * A fixed table of 65,536 standard-normal samples (the same on every run), so
 * that per-pixel noise costs one xorshift step and one lookup.
 */
export function gaussianTable(): Float32Array {
  if (normalTable) return normalTable;
  const rng = new Rng(0x5eed);
  const t = new Float32Array(65536);
  for (let i = 0; i < t.length; i++) t[i] = rng.normal();
  // Normalise to exactly zero mean and unit variance.
  let mean = 0;
  for (let i = 0; i < t.length; i++) mean += t[i];
  mean /= t.length;
  let varSum = 0;
  for (let i = 0; i < t.length; i++) varSum += (t[i] - mean) ** 2;
  const sd = Math.sqrt(varSum / t.length);
  for (let i = 0; i < t.length; i++) t[i] = (t[i] - mean) / sd;
  normalTable = t;
  return t;
}
