/**
 * Small foreground islands and small holes in the matte.
 *
 * Both are the same operation: an island is a small 8-connected component of
 * the thresholded matte (alpha >= 128) and is set to 0; a hole is a small
 * component of the thresholded background (alpha < 128) that does not touch
 * the image border and is set to 255 — i.e. an island of the inverted matte.
 *
 * Soft edges: the semi-transparent halo around a removed core goes with it,
 * while the soft edges of kept regions stay untouched:
 * - a halo whose support (8-connected pixels with any opacity) contains no kept
 *   core is removed completely;
 * - where faint noise connects a removed core to kept regions, only
 *   semi-transparent pixels within `haloPx` of the removed core and farther
 *   than `haloPx` from every kept core are removed.
 *
 * Labelling is run-length (./runs.ts, 8-connectivity): one scan of the matte
 * per threshold, memory proportional to the number of runs. The rest is plain
 * typed-array code: 1 byte per pixel (`cls`, only when something is removed;
 * up to 5 when the halo rule needs whole-image dilations) plus 16-32 bytes per
 * run.
 */
import { labelRuns, runAt } from './runs.js';

/** Alpha at or above this is the "core" of the foreground. */
export const CORE_THRESHOLD = 128;

/** What removing components did. */
export interface ComponentStats {
  /** Components removed (islands) or filled (holes). */
  count: number;
  /** Pixels whose alpha changed. */
  pixels: number;
}

/**
 * Radius of the soft halo that goes with a removed island or hole, in pixels:
 * 0.2 % of the long side, at least 2 (13 px at 6720 px).
 */
export function haloRadiusFor(width: number, height: number): number {
  return Math.max(2, Math.round(Math.max(width, height) / 500));
}

/**
 * Binary dilation with a (2r+1) x (2r+1) square, O(pixels) whatever r.
 * @param mask 0/1 per pixel (other values are not allowed), row-major
 * @returns a new 0/1 mask
 */
export function dilateBox(mask: Uint8Array, width: number, height: number, r: number): Uint8Array {
  const out = new Uint8Array(width * height);
  if (r <= 0) {
    out.set(mask);
    return out;
  }
  const rows = new Uint8Array(width * height);
  // Rows: running count of set pixels in [x - r, x + r].
  for (let y = 0; y < height; y++) {
    const o = y * width;
    let count = 0;
    const head = Math.min(r, width);
    for (let x = 0; x < head; x++) count += mask[o + x];
    for (let x = 0; x < width; x++) {
      if (x + r < width) count += mask[o + x + r];
      if (x > r) count -= mask[o + x - r - 1];
      rows[o + x] = count > 0 ? 1 : 0;
    }
  }
  // Columns, one running count per column so memory is read row by row.
  const counts = new Int32Array(width);
  for (let y = 0; y < Math.min(r, height); y++) {
    const o = y * width;
    for (let x = 0; x < width; x++) counts[x] += rows[o + x];
  }
  for (let y = 0; y < height; y++) {
    if (y + r < height) {
      const o = (y + r) * width;
      for (let x = 0; x < width; x++) counts[x] += rows[o + x];
    }
    if (y > r) {
      const o = (y - r - 1) * width;
      for (let x = 0; x < width; x++) counts[x] -= rows[o + x];
    }
    const o = y * width;
    for (let x = 0; x < width; x++) out[o + x] = counts[x] > 0 ? 1 : 0;
  }
  return out;
}

/**
 * Zeroes removed cores (cls 2) and the semi-transparent pixels within `r`
 * (Chebyshev) of them that are farther than `r` from every kept core (cls 1).
 * Works in windows around the removed cores' boxes; falls back to whole-image
 * dilations when the windows would cover more than the image twice.
 * @returns pixels changed
 */
export function haloRule(values: Uint8Array, cls: Uint8Array, width: number, height: number, boxes: readonly number[], r: number): number {
  let pixels = 0;
  const apply = (i: number, nearRemoved: number, nearKept: number): void => {
    const v = values[i];
    if (v !== 0 && (cls[i] === 2 || (v < CORE_THRESHOLD && nearRemoved && !nearKept))) {
      values[i] = 0;
      pixels++;
    }
  };
  let windowArea = 0;
  for (let b = 0; b < boxes.length; b += 4) windowArea += (boxes[b + 2] + 4 * r) * (boxes[b + 3] + 4 * r);
  if (windowArea > 2 * width * height) {
    const m = new Uint8Array(width * height);
    for (let i = 0; i < m.length; i++) m[i] = cls[i] === 2 ? 1 : 0;
    const nearRemoved = dilateBox(m, width, height, r);
    for (let i = 0; i < m.length; i++) m[i] = cls[i] === 1 ? 1 : 0;
    const nearKept = dilateBox(m, width, height, r);
    for (let i = 0; i < m.length; i++) apply(i, nearRemoved[i], nearKept[i]);
    return pixels;
  }
  for (let b = 0; b < boxes.length; b += 4) {
    // Window: the box grown by 2r (what the dilations read); applied to the box grown by r.
    const x0 = Math.max(0, boxes[b] - 2 * r);
    const y0 = Math.max(0, boxes[b + 1] - 2 * r);
    const x1 = Math.min(width, boxes[b] + boxes[b + 2] + 2 * r);
    const y1 = Math.min(height, boxes[b + 1] + boxes[b + 3] + 2 * r);
    const ww = x1 - x0;
    const wh = y1 - y0;
    const removed = new Uint8Array(ww * wh);
    const kept = new Uint8Array(ww * wh);
    let any = false;
    for (let y = 0; y < wh; y++) {
      for (let x = 0; x < ww; x++) {
        const c = cls[(y0 + y) * width + x0 + x];
        if (c === 2) {
          removed[y * ww + x] = 1;
          any = true;
        } else if (c === 1) kept[y * ww + x] = 1;
      }
    }
    if (!any) continue; // already removed with its whole support
    const nearRemoved = dilateBox(removed, ww, wh, r);
    const nearKept = dilateBox(kept, ww, wh, r);
    const ax0 = Math.max(0, boxes[b] - r);
    const ay0 = Math.max(0, boxes[b + 1] - r);
    const ax1 = Math.min(width, boxes[b] + boxes[b + 2] + r);
    const ay1 = Math.min(height, boxes[b + 1] + boxes[b + 3] + r);
    for (let y = ay0; y < ay1; y++) {
      for (let x = ax0; x < ax1; x++) {
        const l = (y - y0) * ww + (x - x0);
        apply(y * width + x, nearRemoved[l], nearKept[l]);
      }
    }
  }
  return pixels;
}

/**
 * Sets to 0 every core component (values >= 128, 8-connected) smaller than
 * `minArea` pixels, with its soft halo (see the module comment). In place.
 * @param keepBorder components touching the image border are always kept
 */
export async function suppressSmallComponents(
  values: Uint8Array,
  width: number,
  height: number,
  minArea: number,
  options: { keepBorder: boolean; haloPx: number },
): Promise<ComponentStats> {
  const n = width * height;
  if (values.length !== n) throw new RangeError(`values has ${values.length} entries, expected ${n}`);
  if (minArea <= 1 || n === 0) return { count: 0, pixels: 0 };

  // 1. Cores: kept (1) or removed (2) per pixel.
  const core = labelRuns(values, width, height, CORE_THRESHOLD);
  const removed = new Uint8Array(core.labelCount + 1);
  let count = 0;
  const boxes: number[] = []; // left, top, width, height of removed cores
  for (let l = 1; l <= core.labelCount; l++) {
    const x0 = core.left[l];
    const y0 = core.top[l];
    const x1 = core.right[l];
    const y1 = core.bottom[l];
    const touches = x0 === 0 || y0 === 0 || x1 === width || y1 === height;
    if (core.area[l] < minArea && !(options.keepBorder && touches)) {
      removed[l] = 1;
      boxes.push(x0, y0, x1 - x0, y1 - y0);
      count++;
    }
  }
  if (count === 0) return { count: 0, pixels: 0 };
  const cls = new Uint8Array(n);
  for (let r = 0; r < core.runCount; r++) {
    const o = core.runRow[r] * width;
    cls.fill(removed[core.runLabel[r]] ? 2 : 1, o + core.runStart[r], o + core.runEnd[r]);
  }

  // 2. Supports (any opacity): drop those that hold removed cores and no kept core.
  // Each core component lies inside one support component: the one holding its first run.
  const support = labelRuns(values, width, height, 1);
  const hasKept = new Uint8Array(support.labelCount + 1);
  const hasRemoved = new Uint8Array(support.labelCount + 1);
  for (let l = 1; l <= core.labelCount; l++) {
    const first = core.firstRun[l];
    const s = support.runLabel[runAt(support, core.runStart[first], core.runRow[first])];
    if (removed[l]) hasRemoved[s] = 1;
    else hasKept[s] = 1;
  }
  let pixels = 0;
  let attached = false;
  for (let s = 1; s <= support.labelCount; s++) if (hasRemoved[s] && hasKept[s]) attached = true;
  for (let r = 0; r < support.runCount; r++) {
    const s = support.runLabel[r];
    if (!hasRemoved[s] || hasKept[s]) continue;
    const o = support.runRow[r] * width;
    const a = o + support.runStart[r];
    const b = o + support.runEnd[r];
    values.fill(0, a, b);
    cls.fill(0, a, b);
    pixels += b - a;
  }

  // 3. Removed cores tied to kept regions by faint pixels: local halo rule.
  if (attached) pixels += haloRule(values, cls, width, height, boxes, Math.max(0, Math.round(options.haloPx)));
  return { count, pixels };
}

/** Removes foreground islands smaller than `minArea` pixels (with their soft halo). In place. */
export function removeIslands(alpha: Uint8Array, width: number, height: number, minArea: number, haloPx = haloRadiusFor(width, height)): Promise<ComponentStats> {
  return suppressSmallComponents(alpha, width, height, minArea, { keepBorder: false, haloPx });
}

/**
 * Fills holes (background enclosed by foreground, not touching the border)
 * smaller than `maxArea` pixels, with their soft rim, to 255. In place.
 */
export async function fillHoles(alpha: Uint8Array, width: number, height: number, maxArea: number, haloPx = haloRadiusFor(width, height)): Promise<ComponentStats> {
  invert(alpha);
  try {
    return await suppressSmallComponents(alpha, width, height, maxArea, { keepBorder: true, haloPx });
  } finally {
    invert(alpha);
  }
}

/** a[i] = 255 - a[i] in place, four bytes at a time where aligned. */
function invert(a: Uint8Array): void {
  const head = Math.min(a.length, (4 - (a.byteOffset & 3)) & 3);
  const words = (a.length - head) >>> 2;
  for (let i = 0; i < head; i++) a[i] ^= 0xff;
  if (words > 0) {
    const w = new Uint32Array(a.buffer, a.byteOffset + head, words);
    for (let i = 0; i < words; i++) w[i] = ~w[i];
  }
  for (let i = head + 4 * words; i < a.length; i++) a[i] ^= 0xff;
}
