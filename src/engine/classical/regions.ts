/**
 * Region test for "holes" in the key: where the subject happens to have the
 * plate's colour (a white shirt over a white wall, black fur over a tyre) the
 * per-pixel key sees no difference. Such a region can still be told from a real
 * view of the plate: over a whole region, the shot matches the plate only at
 * the noise level when it really is the plate (z^2 ~ 1), while a
 * coincidental colour match leaves systematic differences (z^2 well above 1
 * nearly everywhere in the region). Connected regions of low alpha whose core is inconsistent with the plate
 * are marked as foreground; the background proper (the largest region) never is.
 */
import { type ClassicalCv, withMats } from './cvtypes.js';

/**
 * A region is foreground when the lower quartile of z^2 over its core exceeds
 * this (noise alone gives ~0.4; semi-transparent hair, a mix of strands and
 * clean gaps, stays near 1; a coincidental colour match is high throughout)...
 */
export const FILL_MIN_ENERGY = 4;
/** ...and this multiple of the background region's own lower quartile. */
export const FILL_BACKGROUND_FACTOR = 4;
/** Fraction of a region's core that must be above the threshold (lower quartile). */
const QUANTILE = 0.25;
const BINS = 256;
const BIN_SCALE = 8;
/** Pixels closer than this (reduced pixels) to the subject are left out of a region's core (soft edges). */
const CORE_MARGIN = 2;

/** What the region test did. */
export interface FillResult {
  /** Regions turned into foreground. */
  regions: number;
  /** Fraction of the reduced frame they cover. */
  fraction: number;
  /** Lower quartile of z^2 over the background region's core (~0.4 for a clean, well-aligned plate). */
  backgroundEnergy: number;
  /**
   * Fraction of the background region's core whose z^2 exceeds DISAGREE_ENERGY:
   * background that matches the plate only roughly (moved scenery, changed
   * light, parallax). A few percent for a good pair.
   */
  backgroundDisagreement: number;
}

/** z^2 above which a background pixel does not match the plate at the noise level. */
export const DISAGREE_ENERGY = 4;

/**
 * Tests the low-alpha regions of `alpha` (reduced, 0..255, `width` x
 * `height`) against `energy` (mean z^2 per reduced pixel) and sets the alpha of
 * the regions that are not the plate to 255, in place.
 */
export function fillCoincidences(cv: ClassicalCv, alpha: Uint8Array, energy: Float32Array, width: number, height: number): FillResult {
  const n = width * height;
  return withMats((keep) => {
    const mask = keep(new cv.Mat(height, width, cv.CV_8UC1));
    const md = mask.data;
    for (let i = 0; i < n; i++) md[i] = alpha[i] < 128 ? 255 : 0;
    const core = keep(new cv.Mat());
    const kernel = keep(cv.getStructuringElement(cv.MORPH_ELLIPSE, new cv.Size(2 * CORE_MARGIN + 1, 2 * CORE_MARGIN + 1)));
    cv.erode(mask, core, kernel);
    const labels = keep(new cv.Mat());
    const stats = keep(new cv.Mat());
    const centroids = keep(new cv.Mat());
    const count = cv.connectedComponentsWithStats(mask, labels, stats, centroids, 8, cv.CV_32S);
    const lab = Int32Array.from(labels.data32S.subarray(0, n));
    const cd = Uint8Array.from(core.data.subarray(0, n));
    // Per region: area, and a histogram of the core's energy (bins of 1 / BIN_SCALE).
    const area = new Uint32Array(count);
    const cells = new Uint32Array(count);
    const hist = new Uint32Array(count * BINS);
    for (let i = 0; i < n; i++) {
      const l = lab[i];
      if (l === 0) continue;
      area[l]++;
      if (cd[i]) {
        cells[l]++;
        hist[l * BINS + Math.min(BINS - 1, Math.floor(energy[i] * BIN_SCALE))]++;
      }
    }
    const lowerQuartile = (l: number): number => {
      const target = cells[l] * QUANTILE;
      let acc = 0;
      for (let b = 0; b < BINS; b++) {
        acc += hist[l * BINS + b];
        if (acc >= target) return (b + 0.5) / BIN_SCALE;
      }
      return BINS / BIN_SCALE;
    };
    let main = 0;
    for (let l = 1; l < count; l++) if (main === 0 || area[l] > area[main]) main = l;
    const backgroundEnergy = main && cells[main] ? lowerQuartile(main) : 0;
    let above = 0;
    if (main) {
      for (let b = Math.ceil(DISAGREE_ENERGY * BIN_SCALE); b < BINS; b++) above += hist[main * BINS + b];
    }
    const backgroundDisagreement = main && cells[main] ? above / cells[main] : 0;
    const threshold = Math.max(FILL_MIN_ENERGY, FILL_BACKGROUND_FACTOR * backgroundEnergy);
    const fill = new Uint8Array(count);
    let regions = 0;
    for (let l = 1; l < count; l++) {
      if (l === main || cells[l] === 0) continue;
      if (lowerQuartile(l) > threshold) {
        fill[l] = 1;
        regions++;
      }
    }
    let filled = 0;
    if (regions) {
      for (let i = 0; i < n; i++) {
        if (fill[lab[i]]) {
          alpha[i] = 255;
          filled++;
        }
      }
    }
    return { regions, fraction: filled / n, backgroundEnergy, backgroundDisagreement };
  });
}
