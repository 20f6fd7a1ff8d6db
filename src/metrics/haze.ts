/**
 * Two matte defects a studio would have to retouch, measured without ground
 * truth, so they score the real pairs (`scripts/pairs-sheet.ts`), where a lower
 * MSE elsewhere can hide them: backdrop haze (grey ghosts far from anything
 * solid) and interior translucency (the backdrop showing through the inside of
 * the subject).
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

/** Thresholds of {@link interiorTranslucency}, alpha in 0..1. */
export interface TranslucencyOptions {
  /** Clear: alpha below this (default 0.05). */
  clear?: number;
  /** A pixel with no clear pixel within this many pixels (square neighbourhood) is inside the subject (default 4). */
  radius?: number;
  /** Inside pixels with alpha below this count (default 0.9). */
  opaque?: number;
}

/**
 * Fraction (0..1) of the subject's inside (pixels with no `alpha < clear` pixel
 * within `radius`) where `alpha < opaque`; 0 when there is no inside. Truly
 * see-through subjects (glass, sheer fabric, loose foliage) score high too, so
 * it compares models on the same pair rather than judging one matte.
 */
export function interiorTranslucency(alpha: AlphaImage, options: TranslucencyOptions = {}): number {
  const { clear = 0.05, radius = 4, opaque = 0.9 } = options;
  const { width, height, data } = alpha;
  const n = width * height;
  const clearMask = new Uint8Array(n);
  for (let i = 0; i < n; i++) clearMask[i] = data[i] / 255 < clear ? 1 : 0;
  const nearClear = dilateBox(clearMask, width, height, radius);
  let inside = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    if (nearClear[i]) continue;
    inside++;
    if (data[i] / 255 < opaque) count++;
  }
  return inside === 0 ? 0 : count / inside;
}
