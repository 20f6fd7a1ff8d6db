/**
 * Robust noise estimate of the shot/plate difference: the frame is cut into
 * tiles, each tile's median absolute per-channel difference is measured on a
 * sparse full-resolution sample (no averaging, which would hide the noise),
 * and sigma = 1.4826 x MAD over the pixels of the tiles that differ about as
 * little as the quietest ones (those are background in both images; the subject
 * cannot bias it unless it covers nearly the whole frame).
 */

/** Result of the noise estimate. */
export interface NoiseEstimate {
  /** Noise sigma of one channel of the (colour-matched) difference, 0..255 scale. */
  sigma: number;
  /** Tiles measured and tiles used. */
  tiles: number;
  tilesUsed: number;
}

/** The quietest tiles: this quantile of the tile medians is the reference level. */
export const QUIET_QUANTILE = 0.05;
/** Tiles whose median is within this factor of the reference level are used... */
export const QUIET_FACTOR = 2;
/** ...but never more than this fraction of the tiles. */
export const MAX_TILE_FRACTION = 0.5;
/** The estimate never goes below this (8-bit quantisation alone gives ~0.4). */
export const MIN_SIGMA = 0.5;
const TILES_PER_SIDE = 24;
const SAMPLES_PER_TILE_SIDE = 24;

/** Median of a histogram of integer values 0..255, interpolated within the bin. */
function histMedian(hist: Float64Array | Uint32Array, total: number): number {
  const half = total / 2;
  let acc = 0;
  for (let v = 0; v < hist.length; v++) {
    const h = hist[v];
    if (acc + h >= half && h > 0) {
      // |d| = 0 covers [0, 0.5); |d| = v covers [v - 0.5, v + 0.5).
      const lo = v === 0 ? 0 : v - 0.5;
      const wdt = v === 0 ? 0.5 : 1;
      return lo + ((half - acc) / h) * wdt;
    }
    acc += h;
  }
  return hist.length - 1;
}

/**
 * Estimates the per-channel noise sigma of `shot - plate` (interleaved RGB,
 * `width` x `height`, full resolution). Pure function.
 */
export function estimateNoise(shot: Uint8Array, plate: Uint8Array, width: number, height: number): NoiseEstimate {
  const tw = Math.max(1, Math.ceil(width / TILES_PER_SIDE));
  const th = Math.max(1, Math.ceil(height / TILES_PER_SIDE));
  const nx = Math.ceil(width / tw);
  const ny = Math.ceil(height / th);
  const stepX = Math.max(1, Math.floor(tw / SAMPLES_PER_TILE_SIDE));
  const stepY = Math.max(1, Math.floor(th / SAMPLES_PER_TILE_SIDE));
  const tiles = nx * ny;
  const hists = new Uint32Array(tiles * 256);
  const counts = new Uint32Array(tiles);
  for (let y = 0; y < height; y += stepY) {
    const ty = Math.floor(y / th);
    for (let x = 0; x < width; x += stepX) {
      const t = ty * nx + Math.floor(x / tw);
      const o = (y * width + x) * 3;
      const base = t * 256;
      hists[base + Math.abs(shot[o] - plate[o])]++;
      hists[base + Math.abs(shot[o + 1] - plate[o + 1])]++;
      hists[base + Math.abs(shot[o + 2] - plate[o + 2])]++;
      counts[t] += 3;
    }
  }
  const medians: { t: number; m: number }[] = [];
  for (let t = 0; t < tiles; t++) {
    if (counts[t] === 0) continue;
    medians.push({ t, m: histMedian(hists.subarray(t * 256, t * 256 + 256), counts[t]) });
  }
  medians.sort((a, b) => a.m - b.m);
  const ref = medians[Math.min(medians.length - 1, Math.floor(medians.length * QUIET_QUANTILE))]?.m ?? 0;
  let used = Math.max(1, Math.ceil(medians.length * QUIET_QUANTILE));
  const cap = Math.max(used, Math.floor(medians.length * MAX_TILE_FRACTION));
  while (used < cap && medians[used].m <= QUIET_FACTOR * ref + 0.5) used++;
  const merged = new Float64Array(256);
  let total = 0;
  for (let k = 0; k < used; k++) {
    const t = medians[k].t;
    for (let v = 0; v < 256; v++) merged[v] += hists[t * 256 + v];
    total += counts[t];
  }
  const mad = total > 0 ? histMedian(merged, total) : 0;
  return { sigma: Math.max(MIN_SIGMA, 1.4826 * mad), tiles: medians.length, tilesUsed: used };
}

/** Largest edge tolerance the estimate returns, in pixels. */
export const MAX_EDGE_TOLERANCE_PX = 1.5;
const EDGE_SAMPLES = 200_000;
/** Plate-gradient bins (levels per pixel): [4, 8), [8, 16), [16, 32), [32, 64), [64, inf). */
const GRADIENT_EDGES = [4, 8, 16, 32, 64, Infinity];
const MIN_BIN_SAMPLES = 300;
/** The lower quartile of |e| for a zero-mean Gaussian e is 0.3186 standard deviations. */
const Q25_OF_ABS_GAUSSIAN = 0.3186;

/** Value below which `fraction` of a histogram of integer values lies (interpolated within bins). */
function histQuantile(hist: Uint32Array, total: number, fraction: number): number {
  const target = total * fraction;
  let acc = 0;
  for (let v = 0; v < hist.length; v++) {
    const h = hist[v];
    if (acc + h >= target && h > 0) {
      const lo = v === 0 ? 0 : v - 0.5;
      const wdt = v === 0 ? 0.5 : 1;
      return lo + ((target - acc) / h) * wdt;
    }
    acc += h;
  }
  return hist.length - 1;
}

/**
 * Estimates how much misalignment the difference shows on the plate's edges,
 * in pixels: on an edge with gradient g the background difference has standard
 * deviation sqrt(sigma^2 + (t g)^2), where t collects residual sub-pixel shift,
 * interpolation blur and compression ringing. Pixels are binned by plate
 * gradient; in each bin the lower quartile of |shot - plate| (robust to the
 * subject covering part of the bin) gives the background's spread, and t is
 * the median over the bins. 0 for a perfectly registered pair. Cells set in
 * `exclude` (a reduced mask of the subject and its surroundings) are skipped.
 * Pure function.
 */
export function estimateEdgeTolerance(
  shot: Uint8Array,
  plate: Uint8Array,
  width: number,
  height: number,
  sigma: number,
  exclude?: { mask: Uint8Array; width: number; height: number },
): number {
  const step = Math.max(1, Math.floor(Math.sqrt((width * height) / EDGE_SAMPLES)));
  const bins = GRADIENT_EDGES.length - 1;
  const hists = new Uint32Array(bins * 256);
  const counts = new Uint32Array(bins);
  const g2sum = new Float64Array(bins);
  for (let y = 1; y < height - 1; y += step) {
    const maskRow = exclude ? Math.min(exclude.height - 1, Math.floor((y * exclude.height) / height)) * exclude.width : 0;
    for (let x = 1; x < width - 1; x += step) {
      if (exclude && exclude.mask[maskRow + Math.min(exclude.width - 1, Math.floor((x * exclude.width) / width))]) continue;
      const o = (y * width + x) * 3;
      for (let c = 0; c < 3; c++) {
        const gx = (plate[o + 3 + c] - plate[o - 3 + c]) / 2;
        const gy = (plate[o + width * 3 + c] - plate[o - width * 3 + c]) / 2;
        const g2 = gx * gx + gy * gy;
        const g = Math.sqrt(g2);
        if (g < GRADIENT_EDGES[0]) continue;
        let b = 0;
        while (g >= GRADIENT_EDGES[b + 1]) b++;
        hists[b * 256 + Math.abs(shot[o + c] - plate[o + c])]++;
        counts[b]++;
        g2sum[b] += g2;
      }
    }
  }
  const estimates: number[] = [];
  for (let b = 0; b < bins; b++) {
    if (counts[b] < MIN_BIN_SAMPLES) continue;
    const sd = histQuantile(hists.subarray(b * 256, b * 256 + 256), counts[b], 0.25) / Q25_OF_ABS_GAUSSIAN;
    const excess = sd * sd - sigma * sigma;
    const g2 = g2sum[b] / counts[b];
    estimates.push(excess > 0 ? Math.sqrt(excess / g2) : 0);
  }
  if (estimates.length === 0) return 0;
  estimates.sort((a, b) => a - b);
  return Math.min(MAX_EDGE_TOLERANCE_PX, estimates[estimates.length >> 1]);
}
