/**
 * Pure 3x3 homography maths (row-major arrays of 9 numbers) used by the
 * alignment stage: composition, inversion, change of image scale and how far
 * a transform moves the frame.
 */

/** A 3x3 row-major matrix. */
export type Mat3 = number[];

/** The identity transform. */
export const IDENTITY: Mat3 = [1, 0, 0, 0, 1, 0, 0, 0, 1];

/** a * b (apply b first, then a). */
export function mul3(a: Mat3, b: Mat3): Mat3 {
  const r = new Array<number>(9);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      r[i * 3 + j] = a[i * 3] * b[j] + a[i * 3 + 1] * b[3 + j] + a[i * 3 + 2] * b[6 + j];
    }
  }
  return r;
}

/** Inverse of a 3x3 matrix, normalised so that m[8] = 1 when possible. Throws on a singular matrix. */
export function invert3(m: Mat3): Mat3 {
  const [a, b, c, d, e, f, g, h, i] = m;
  const A = e * i - f * h;
  const B = -(d * i - f * g);
  const C = d * h - e * g;
  const det = a * A + b * B + c * C;
  if (!Number.isFinite(det) || Math.abs(det) < 1e-12) throw new Error('singular homography');
  const inv = [A, -(b * i - c * h), b * f - c * e, B, a * i - c * g, -(a * f - c * d), C, -(a * h - b * g), a * e - b * d].map((v) => v / det);
  return normalise3(inv);
}

/** Scales a homography so that its bottom-right element is 1. */
export function normalise3(m: Mat3): Mat3 {
  const s = m[8];
  return Math.abs(s) > 1e-12 ? m.map((v) => v / s) : m.slice();
}

/** Maps point (x, y) through m. */
export function apply3(m: Mat3, x: number, y: number): [number, number] {
  const w = m[6] * x + m[7] * y + m[8];
  return [(m[0] * x + m[1] * y + m[2]) / w, (m[3] * x + m[4] * y + m[5]) / w];
}

/**
 * Re-expresses a homography estimated on a reduced copy (pixel-centre
 * convention, full = (low + 0.5) * s - 0.5) in full-resolution pixels.
 */
export function rescaleHomography(h: Mat3, sx: number, sy: number): Mat3 {
  const S: Mat3 = [sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5, 0, 0, 1];
  const Sinv: Mat3 = [1 / sx, 0, 0.5 / sx - 0.5, 0, 1 / sy, 0.5 / sy - 0.5, 0, 0, 1];
  return normalise3(mul3(S, mul3(h, Sinv)));
}

/** Sample points (corners, edge midpoints, centre) of a width x height frame. */
function framePoints(width: number, height: number): [number, number][] {
  const xs = [0, (width - 1) / 2, width - 1];
  const ys = [0, (height - 1) / 2, height - 1];
  const pts: [number, number][] = [];
  for (const y of ys) for (const x of xs) pts.push([x, y]);
  return pts;
}

/** How a homography moves a frame: the largest displacement and how far it is from a pure translation. */
export interface Motion {
  /** Largest displacement of a frame point, in pixels. */
  maxShiftPx: number;
  /** Translation of the frame centre. */
  tx: number;
  ty: number;
  /** Largest deviation of a frame point from that pure translation, in pixels. */
  nonTranslationPx: number;
}

/** Measures the motion `h` applies to a width x height frame (corners, edge midpoints, centre). */
export function frameMotion(h: Mat3, width: number, height: number): Motion {
  const pts = framePoints(width, height);
  const [cx, cy] = [(width - 1) / 2, (height - 1) / 2];
  const [mx, my] = apply3(h, cx, cy);
  const tx = mx - cx;
  const ty = my - cy;
  let maxShiftPx = 0;
  let nonTranslationPx = 0;
  for (const [x, y] of pts) {
    const [u, v] = apply3(h, x, y);
    maxShiftPx = Math.max(maxShiftPx, Math.hypot(u - x, v - y));
    nonTranslationPx = Math.max(nonTranslationPx, Math.hypot(u - x - tx, v - y - ty));
  }
  return { maxShiftPx, tx, ty, nonTranslationPx };
}

/** The decision the auto alignment mode makes from a measured motion. */
export type AlignmentModel = 'none' | 'translation' | 'homography';

/**
 * Chooses the model: 'none' when no frame point moves by `minShiftPx` or more,
 * 'translation' when a pure shift explains the motion within `minShiftPx`,
 * else 'homography'.
 */
export function classifyMotion(m: Motion, minShiftPx: number): AlignmentModel {
  if (m.maxShiftPx < minShiftPx) return 'none';
  if (m.nonTranslationPx < minShiftPx) return 'translation';
  return 'homography';
}
