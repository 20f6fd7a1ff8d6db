/**
 * Exposure and white-balance matching of the plate to the shot: one gain (and,
 * where the plate has enough tonal range, one offset) per channel, fitted by
 * iteratively trimmed least squares on pixels that are background in both
 * images. The subject and its shadow are outliers: starting from the identity,
 * each round keeps only the fifth of the pixels the current model explains
 * best, so the subject may cover most of the frame without biasing the fit.
 */

/** A per-channel linear colour model: shot ~= gain * plate + offset (0..255 scale). */
export interface ColourFit {
  gains: [number, number, number];
  offsets: [number, number, number];
  /** Pixels used in the final round. */
  samples: number;
  /** RMS residual of those pixels under the model (0..255). */
  rmsResidual: number;
}

/** The identity model (no colour change). */
export const IDENTITY_FIT: ColourFit = { gains: [1, 1, 1], offsets: [0, 0, 0], samples: 0, rmsResidual: 0 };

const ROUNDS = 5;
/**
 * Fraction of usable pixels kept per round (least trimmed squares). Small, so
 * that a subject covering most of the frame still leaves only background in
 * the kept set; 20% of a reduced frame is still ~10^5 pixels.
 */
const KEEP = 0.2;
/** A channel gets an offset only when the kept plate values spread at least this much (std, 0..255). */
const MIN_SPREAD_FOR_OFFSET = 12;
const GAIN_RANGE: [number, number] = [0.3, 3];
const OFFSET_RANGE: [number, number] = [-64, 64];

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

/** Value below which `fraction` of `values` (first `n`) lie, by histogram over [0, maxValue). */
function quantile(values: Float32Array, n: number, fraction: number, maxValue: number): number {
  const bins = 4096;
  const hist = new Uint32Array(bins);
  const k = bins / maxValue;
  for (let i = 0; i < n; i++) hist[Math.min(bins - 1, Math.floor(values[i] * k))]++;
  const target = fraction * n;
  let acc = 0;
  for (let b = 0; b < bins; b++) {
    acc += hist[b];
    if (acc >= target) return (b + 1) / k;
  }
  return maxValue;
}

/**
 * Fits shot ~= gain * plate + offset per channel on interleaved RGB buffers of
 * equal size (typically reduced copies). Clipped pixels (any channel under 4 or
 * over 251 in either image) are ignored. Pure function.
 */
export function fitColour(shot: Uint8Array, plate: Uint8Array): ColourFit {
  const pixels = Math.floor(shot.length / 3);
  // Usable pixel indices.
  const usable = new Uint32Array(pixels);
  let n = 0;
  for (let i = 0; i < pixels; i++) {
    const o = i * 3;
    let ok = true;
    for (let c = 0; c < 3; c++) {
      const s = shot[o + c];
      const p = plate[o + c];
      if (s < 4 || s > 251 || p < 4 || p > 251) ok = false;
    }
    if (ok) usable[n++] = i;
  }
  if (n < 16) return { ...IDENTITY_FIT, gains: [1, 1, 1], offsets: [0, 0, 0] };
  const gains: [number, number, number] = [1, 1, 1];
  const offsets: [number, number, number] = [0, 0, 0];
  const residual = new Float32Array(n);
  let kept = 0;
  let rmsResidual = 0;
  for (let round = 0; round <= ROUNDS; round++) {
    // Residuals under the current model.
    for (let j = 0; j < n; j++) {
      const o = usable[j] * 3;
      let r2 = 0;
      for (let c = 0; c < 3; c++) {
        const e = shot[o + c] - (gains[c] * plate[o + c] + offsets[c]);
        r2 += e * e;
      }
      residual[j] = Math.sqrt(r2 / 3);
    }
    const cut = quantile(residual, n, KEEP, 256);
    if (round === ROUNDS) {
      let s2 = 0;
      kept = 0;
      for (let j = 0; j < n; j++) {
        if (residual[j] <= cut) {
          s2 += residual[j] * residual[j];
          kept++;
        }
      }
      rmsResidual = kept ? Math.sqrt(s2 / kept) : 0;
      break;
    }
    // Least squares per channel on the kept pixels.
    const sx = [0, 0, 0];
    const sy = [0, 0, 0];
    const sxx = [0, 0, 0];
    const sxy = [0, 0, 0];
    kept = 0;
    for (let j = 0; j < n; j++) {
      if (residual[j] > cut) continue;
      kept++;
      const o = usable[j] * 3;
      for (let c = 0; c < 3; c++) {
        const x = plate[o + c];
        const y = shot[o + c];
        sx[c] += x;
        sy[c] += y;
        sxx[c] += x * x;
        sxy[c] += x * y;
      }
    }
    if (kept < 16) break;
    for (let c = 0; c < 3; c++) {
      const mx = sx[c] / kept;
      const my = sy[c] / kept;
      const vx = sxx[c] / kept - mx * mx;
      if (Math.sqrt(Math.max(0, vx)) >= MIN_SPREAD_FOR_OFFSET) {
        const g = (sxy[c] / kept - mx * my) / vx;
        gains[c] = clamp(g, GAIN_RANGE[0], GAIN_RANGE[1]);
        offsets[c] = clamp(my - gains[c] * mx, OFFSET_RANGE[0], OFFSET_RANGE[1]);
      } else {
        gains[c] = sxx[c] > 0 ? clamp(sxy[c] / sxx[c], GAIN_RANGE[0], GAIN_RANGE[1]) : 1;
        offsets[c] = 0;
      }
    }
  }
  return { gains, offsets, samples: kept, rmsResidual };
}

/** One 256-entry lookup table per channel that applies `fit` to 8-bit values (rounded, clipped). */
export function colourLuts(fit: ColourFit): Uint8Array[] {
  return [0, 1, 2].map((c) => {
    const lut = new Uint8Array(256);
    for (let v = 0; v < 256; v++) lut[v] = clamp(Math.round(fit.gains[c] * v + fit.offsets[c]), 0, 255);
    return lut;
  });
}

/** Whether a fit changes nothing (all gains 1, offsets 0 within 8-bit rounding). */
export function isIdentityFit(fit: ColourFit): boolean {
  return fit.gains.every((g, c) => Math.abs(g - 1) * 255 + Math.abs(fit.offsets[c]) < 0.5);
}
