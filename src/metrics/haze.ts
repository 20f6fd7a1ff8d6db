/**
 * Backdrop haze: how much of a frame a matte leaves faintly on far from
 * anything solid, i.e. grey ghosts on the backdrop that a studio would have to
 * retouch. It needs no ground truth, so it scores the real pairs
 * (`scripts/pairs-sheet.ts`), where a lower MSE elsewhere can hide it.
 */
import type { AlphaImage } from '../image/types.js';
import { dilateBox } from '../post/components.js';

/** Thresholds of {@link backdropHaze}, alpha in 0..1. */
export interface HazeOptions {
  /** Faint: alpha above this... (default 0.03) */
  low?: number;
  /** ...and below this (default 0.6). */
  high?: number;
  /** Solid: alpha above this (default 0.9). */
  solid?: number;
  /** A faint pixel within this many pixels (square neighbourhood) of a solid one is an edge, not haze (default 16). */
  radius?: number;
}

/**
 * Fraction (0..1) of the frame with `low < alpha < high` and no `alpha > solid`
 * pixel within `radius` pixels.
 */
export function backdropHaze(alpha: AlphaImage, options: HazeOptions = {}): number {
  const { low = 0.03, high = 0.6, solid = 0.9, radius = 16 } = options;
  const { width, height, data } = alpha;
  const n = width * height;
  if (n === 0) return 0;
  const solidMask = new Uint8Array(n);
  for (let i = 0; i < n; i++) solidMask[i] = data[i] / 255 > solid ? 1 : 0;
  const near = dilateBox(solidMask, width, height, radius);
  let count = 0;
  for (let i = 0; i < n; i++) {
    const a = data[i] / 255;
    if (a > low && a < high && !near[i]) count++;
  }
  return count / n;
}
