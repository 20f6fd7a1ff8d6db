/**
 * The noise-aware difference key.
 *
 * For every pixel, the shot colour C is compared with the colour-matched plate
 * colour B in units of the noise sigma; on the plate's edges the expected
 * difference grows with the gradient times the measured residual misalignment
 * (edge tolerance), so sub-pixel shifts do not light up the plate's texture.
 * Two estimates of alpha are combined:
 *
 * - a ramp: 0 at lowSigma x sigma, 1 at highSigma x sigma (the classical key);
 * - a projection: with F the local foreground colour (propagated from nearby
 *   pixels that are certainly foreground), C = alpha F + (1 - alpha) B gives
 *   alpha = (C - B) . (F - B) / |F - B|^2, the right answer for semi-transparent
 *   edges and hair, used where F is known, far enough from B, and C lies near
 *   the line B -> F.
 *
 * Shadow suppression: a soft shadow cast by the subject makes C a darker copy
 * of B with the same chromaticity (C = k B, k < 1). Each pixel is compared with
 * g B instead of B, where g is the pixel's own darkening ratio clamped to
 * [max(SHADOW_MIN_GAIN, local shadow level - SHADOW_TOLERANCE), 1]. The local
 * shadow level is a smooth map of the ratios of the pixels that look like pure
 * darkening; it keeps dark subject edges (whose neighbours are unshadowed
 * background) from being explained away as shadow.
 *
 * The maps that need neighbourhoods (F, shadow level, solid interior) are built
 * on the reduced copies; the per-pixel key runs at full resolution in strips.
 */
import { type ClassicalCv, type CvMat, withMats } from './cvtypes.js';
import { StripUpsampler, matFromFloat } from './resample.js';

/** Deepest darkening (ratio shot / plate) still treated as shadow. */
export const SHADOW_MIN_GAIN = 0.5;
/** A pixel may be darker than the local shadow level by this much and still count as shadow. */
export const SHADOW_TOLERANCE = 0.12;
/** Largest change of the darkening ratio per pixel (at 1000 px long side) that a soft shadow makes. */
export const SHADOW_MAX_GRADIENT = 0.03;
/** Largest local mean of the residual darkening cannot explain (z^2 units; noise alone gives ~0.5). */
export const SHADOW_MAX_RESIDUAL = 2;
/** Scale (fraction of the long side) of the shadow-level map. */
const SHADOW_SCALE = 0.015;
/** A colour this far from the line B -> F, relative to |F - B|, still follows the projection fully. */
const LINE_TOLERANCE = 0.1;
/** Window (sigma, reduced pixels) of the local shadow statistics. */
const SHADOW_WINDOW_SIGMA = 1.5;

/** Key thresholds and switches (from the classical config). */
export interface KeyOptions {
  /** Noise sigma per channel of the difference (0..255). */
  sigma: number;
  lowSigma: number;
  highSigma: number;
  shadowSuppression: boolean;
  /**
   * Residual misalignment to tolerate, in full-resolution pixels: on an edge of
   * the plate with gradient |dB| the expected difference grows to
   * sqrt(sigma^2 + (tolerance |dB|)^2) (sub-pixel shifts, interpolation, JPEG
   * ringing all live on edges).
   */
  edgeTolerancePx: number;
}

/**
 * z^2 of a difference (er, eg, eb) at plate byte offset `o`: the mean over the
 * channels of e^2 / (sigma^2 + tol^2 |dB|^2), with |dB| from central
 * differences; `up`/`down`/`left`/`right` are the byte steps to the neighbours
 * (0 at the frame border), `s2` = sigma^2 and `t2` = tol^2 / 4.
 */
export function edgeAwareZ2(
  er: number,
  eg: number,
  eb: number,
  plate: Uint8Array,
  o: number,
  up: number,
  down: number,
  left: number,
  right: number,
  s2: number,
  t2: number,
): number {
  const xr = plate[o + right] - plate[o - left];
  const yr = plate[o + down] - plate[o - up];
  const xg = plate[o + right + 1] - plate[o - left + 1];
  const yg = plate[o + down + 1] - plate[o - up + 1];
  const xb = plate[o + right + 2] - plate[o - left + 2];
  const yb = plate[o + down + 2] - plate[o - up + 2];
  return (
    ((er * er) / (s2 + t2 * (xr * xr + yr * yr)) + (eg * eg) / (s2 + t2 * (xg * xg + yg * yg)) + (eb * eb) / (s2 + t2 * (xb * xb + yb * yb))) / 3
  );
}

/** Low-resolution maps the full-resolution key reads (CV_32F Mats; call `delete()`). */
export interface KeyMaps {
  /** [F_r, F_g, F_b, shadow level] (0..255 colours, level 0..1). */
  colour: CvMat;
  /** [solid interior 0..1, F known 0..1]. */
  support: CvMat;
  /** Fraction of reduced pixels that are certainly foreground. */
  solidFraction: number;
  /** Fraction of reduced pixels that looked like shadow (darkened plate). */
  shadowFraction: number;
  delete(): void;
}

function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/**
 * The shadow gain g for a pixel: its darkening ratio k = C.B / B.B, clamped to
 * [lo, 1] where lo = level - SHADOW_TOLERANCE inside shadows (level at most
 * 1 - SHADOW_TOLERANCE), rising to 1 where there is no shadow (level 1), and
 * never below SHADOW_MIN_GAIN. Outside shadows nothing is forgiven, and neither
 * is a pixel whose colour is not a darker copy of the plate's: the gain fades
 * back to 1 as the residual C - k B grows from `perpLimit` to 1.5 x `perpLimit`
 * (`invNorm` = 1 / (3 sigma^2) turns squared differences into z^2).
 */
export function shadowGain(
  cr: number,
  cg: number,
  cb: number,
  br: number,
  bg: number,
  bb: number,
  level: number,
  invNorm: number,
  perpLimit: number,
): number {
  if (level >= 1) return 1;
  const bbn = br * br + bg * bg + bb * bb;
  if (bbn < 1) return 1;
  const k = (cr * br + cg * bg + cb * bb) / bbn;
  if (k >= 1) return 1;
  const depth = Math.min(1, (1 - level) / SHADOW_TOLERANCE);
  const lo = Math.max(SHADOW_MIN_GAIN, level - SHADOW_TOLERANCE * depth);
  const g = k < lo ? lo : k;
  const pr = cr - k * br;
  const pg = cg - k * bg;
  const pb = cb - k * bb;
  const perp = Math.sqrt((pr * pr + pg * pg + pb * pb) * invNorm);
  if (perp <= perpLimit) return g;
  const s = 1 - (perp - perpLimit) / (0.5 * perpLimit);
  return s <= 0 ? 1 : 1 + (g - 1) * s;
}

/**
 * Near-Gaussian blur of a 4-channel float map: three box filters of the width
 * that gives the requested sigma (cost independent of the radius, unlike a
 * wide Gaussian kernel in WASM).
 */
function blur4(cv: ClassicalCv, data: Float32Array, width: number, height: number, sigma: number): Float32Array {
  return withMats((keep) => {
    const a = keep(matFromFloat(cv, data, width, height, 4));
    const b = keep(new cv.Mat());
    // Three passes of a box of width k have variance 3 (k^2 - 1) / 12.
    const k = Math.max(1, 2 * Math.round((Math.sqrt(4 * sigma * sigma + 1) - 1) / 2) + 1);
    const size = new cv.Size(k, k);
    const anchor = new cv.Point(-1, -1);
    cv.boxFilter(a, b, -1, size, anchor, true, cv.BORDER_REPLICATE);
    cv.boxFilter(b, a, -1, size, anchor, true, cv.BORDER_REPLICATE);
    cv.boxFilter(a, b, -1, size, anchor, true, cv.BORDER_REPLICATE);
    return Float32Array.from(b.data32F.subarray(0, width * height * 4));
  });
}

/** Erodes a 0/255 byte mask with an elliptical kernel of the given radius. */
function erodeMask(cv: ClassicalCv, mask: Uint8Array, width: number, height: number, radius: number): Uint8Array {
  if (radius <= 0) return mask.slice();
  return withMats((keep) => {
    const m = keep(new cv.Mat(height, width, cv.CV_8UC1));
    m.data.set(mask);
    const kernel = keep(cv.getStructuringElement(cv.MORPH_ELLIPSE, new cv.Size(2 * radius + 1, 2 * radius + 1)));
    const out = keep(new cv.Mat());
    cv.erode(m, out, kernel);
    return Uint8Array.from(out.data.subarray(0, width * height));
  });
}

/**
 * Builds the low-resolution key maps from reduced copies of the shot and the
 * colour-matched plate (`shot`, `plate`: RGB, `width` x `height`).
 */
export function buildKeyMaps(cv: ClassicalCv, shot: Uint8Array, plate: Uint8Array, width: number, height: number, opt: KeyOptions & { fullWidth: number }): KeyMaps {
  const n = width * height;
  const long = Math.max(width, height);
  // 1. Shadow level: smooth average of the darkening ratio over pixels that look like darkened plate.
  let level = new Float32Array(n).fill(1);
  let shadowPixels = 0;
  if (opt.shadowSuppression) {
    // Per pixel: the darkening ratio k = C.B / B.B and the part of C - B that
    // darkening cannot explain (perpendicular residual, z^2 units). Locally
    // averaged: a cast shadow darkens smoothly and keeps the plate's texture and
    // chroma (small mean residual); a dark subject over the plate makes the
    // ratio jump at its edges and brings its own texture and tint.
    const prods = new Float32Array(n * 4);
    const inv = 1 / (3 * opt.sigma * opt.sigma);
    for (let i = 0; i < n; i++) {
      const o = i * 3;
      const br = plate[o];
      const bg = plate[o + 1];
      const bb = plate[o + 2];
      const cr = shot[o];
      const cg = shot[o + 1];
      const cb = shot[o + 2];
      const cdotb = cr * br + cg * bg + cb * bb;
      const bbn = br * br + bg * bg + bb * bb;
      prods[i * 4] = cdotb;
      prods[i * 4 + 1] = bbn;
      const k = bbn >= 1 ? cdotb / bbn : 1;
      const er = cr - k * br;
      const eg = cg - k * bg;
      const eb = cb - k * bb;
      prods[i * 4 + 2] = (er * er + eg * eg + eb * eb) * inv;
    }
    const sp = blur4(cv, prods, width, height, SHADOW_WINDOW_SIGMA);
    const ks = new Float32Array(n);
    for (let i = 0; i < n; i++) ks[i] = sp[i * 4 + 1] >= 64 ? sp[i * 4] / sp[i * 4 + 1] : 1;
    const maxGrad = SHADOW_MAX_GRADIENT * (1000 / long);
    const acc = new Float32Array(n * 4);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        if (sp[i * 4 + 1] < 64) continue;
        const k = ks[i];
        if (k < SHADOW_MIN_GAIN || k > 1.05) continue;
        if (sp[i * 4 + 2] > SHADOW_MAX_RESIDUAL) continue;
        const gx = ks[x + 1 < width ? i + 1 : i] - ks[x > 0 ? i - 1 : i];
        const gy = ks[y + 1 < height ? i + width : i] - ks[y > 0 ? i - width : i];
        if (Math.sqrt(gx * gx + gy * gy) / 2 > maxGrad) continue;
        acc[i * 4] = Math.min(k, 1);
        acc[i * 4 + 3] = 1;
        if (k < 1 - SHADOW_TOLERANCE) shadowPixels++;
      }
    }
    // Normalised convolution: the shadow level where shadow-like pixels are, 1 far from any.
    const sm = blur4(cv, acc, width, height, Math.max(2, SHADOW_SCALE * long));
    level = new Float32Array(n);
    const w0 = 1e-3;
    for (let i = 0; i < n; i++) level[i] = (sm[i * 4] + w0) / (sm[i * 4 + 3] + w0);
  }
  // 2. Certain foreground: difference (after shadow gain) above highSigma.
  const invNorm = 1 / (3 * opt.sigma * opt.sigma);
  const s2 = opt.sigma * opt.sigma;
  const tolLow = opt.edgeTolerancePx * (width / opt.fullWidth);
  const t2 = (tolLow * tolLow) / 4;
  const high2 = opt.highSigma * opt.highSigma;
  const certain = new Uint8Array(n);
  for (let y = 0; y < height; y++) {
    const up = y > 0 ? width * 3 : 0;
    const down = y < height - 1 ? width * 3 : 0;
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const o = i * 3;
      const br = plate[o];
      const bg = plate[o + 1];
      const bb = plate[o + 2];
      const cr = shot[o];
      const cg = shot[o + 1];
      const cb = shot[o + 2];
      const g = opt.shadowSuppression ? shadowGain(cr, cg, cb, br, bg, bb, level[i], invNorm, opt.lowSigma) : 1;
      const z2 = edgeAwareZ2(cr - g * br, cg - g * bg, cb - g * bb, plate, o, up, down, x > 0 ? 3 : 0, x < width - 1 ? 3 : 0, s2, t2);
      if (z2 > high2) certain[i] = 255;
    }
  }
  // 3. Seeds for the foreground colour (slightly eroded: no mixed edge pixels) and the solid interior.
  const seeds = erodeMask(cv, certain, width, height, 1);
  const interior = erodeMask(cv, certain, width, height, Math.max(2, Math.round(long / 300)));
  // 4. Foreground colour by normalised convolution at three scales (finest wins where it has support).
  const num = new Float32Array(n * 4);
  let solid = 0;
  for (let i = 0; i < n; i++) {
    if (!seeds[i]) continue;
    solid++;
    num[i * 4] = shot[i * 3];
    num[i * 4 + 1] = shot[i * 3 + 1];
    num[i * 4 + 2] = shot[i * 3 + 2];
    num[i * 4 + 3] = 1;
  }
  const scales = [0.004, 0.012, 0.036].map((f) => Math.max(1.5, f * long));
  const weights = [1, 0.03, 0.001];
  const fsum = new Float32Array(n * 4);
  for (let s = 0; s < scales.length; s++) {
    const b = blur4(cv, num, width, height, scales[s]);
    for (let j = 0; j < n * 4; j++) fsum[j] += weights[s] * b[j];
  }
  const colour = new Float32Array(n * 4);
  const support = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    const w = fsum[i * 4 + 3];
    if (w > 1e-6) {
      colour[i * 4] = fsum[i * 4] / w;
      colour[i * 4 + 1] = fsum[i * 4 + 1] / w;
      colour[i * 4 + 2] = fsum[i * 4 + 2] / w;
    }
    colour[i * 4 + 3] = level[i];
    support[i * 2] = interior[i] ? 1 : 0;
    // Full support once the weight is a visible fraction of a seed's own.
    support[i * 2 + 1] = clamp01(w / 0.002);
  }
  const colourMat = matFromFloat(cv, colour, width, height, 4);
  const supportMat = matFromFloat(cv, support, width, height, 2);
  return {
    colour: colourMat,
    support: supportMat,
    solidFraction: solid / n,
    shadowFraction: shadowPixels / n,
    delete() {
      colourMat.delete();
      supportMat.delete();
    },
  };
}

/**
 * A generous mask of the subject on reduced copies (255 = subject or near it):
 * pixels that differ by more than `highSigma` even with the largest edge
 * tolerance, dilated by `marginFraction` of the long side. Used to keep the
 * subject out of background statistics.
 */
export function subjectMask(
  cv: ClassicalCv,
  shot: Uint8Array,
  plate: Uint8Array,
  width: number,
  height: number,
  sigma: number,
  highSigma: number,
  tolerancePx: number,
  marginFraction: number,
): Uint8Array {
  const n = width * height;
  const s2 = sigma * sigma;
  const t2 = (tolerancePx * tolerancePx) / 4;
  const high2 = highSigma * highSigma;
  return withMats((keep) => {
    const m = keep(new cv.Mat(height, width, cv.CV_8UC1));
    const md = m.data;
    for (let y = 0; y < height; y++) {
      const up = y > 0 ? width * 3 : 0;
      const down = y < height - 1 ? width * 3 : 0;
      for (let x = 0; x < width; x++) {
        const i = y * width + x;
        const o = i * 3;
        const z2 = edgeAwareZ2(shot[o] - plate[o], shot[o + 1] - plate[o + 1], shot[o + 2] - plate[o + 2], plate, o, up, down, x > 0 ? 3 : 0, x < width - 1 ? 3 : 0, s2, t2);
        md[i] = z2 > high2 ? 255 : 0;
      }
    }
    const r = Math.max(1, Math.round(marginFraction * Math.max(width, height)));
    // A square kernel: OpenCV dilates with it in time independent of its size.
    const kernel = keep(cv.getStructuringElement(cv.MORPH_RECT, new cv.Size(2 * r + 1, 2 * r + 1)));
    const out = keep(new cv.Mat());
    cv.dilate(m, out, kernel);
    return Uint8Array.from(out.data.subarray(0, n));
  });
}

/** Output rows per strip of the full-resolution key. */
const STRIP_ROWS = 128;

/** What the full-resolution key measured besides alpha. */
export interface KeyStats {
  /** Pixels that differ from the plate by more than lowSigma (after shadow suppression). */
  differing: number;
  /**
   * Mean squared normalised difference z^2 (clipped at highSigma^2) per cell of
   * the reduced grid: ~1 where the shot shows the plate with noise only.
   */
  energy: Float32Array;
}

/**
 * The per-pixel key at full resolution: writes alpha (0..255) of `shot` against
 * the colour-matched, aligned `plate` (both RGB `width` x `height`) into `out`,
 * reading the reduced `maps` through bilinear expansion.
 */
export function keyFullRes(
  cv: ClassicalCv,
  shot: Uint8Array,
  plate: Uint8Array,
  width: number,
  height: number,
  maps: KeyMaps,
  opt: KeyOptions,
  out: Uint8Array,
): KeyStats {
  const lowWidth = maps.colour.cols;
  const lowHeight = maps.colour.rows;
  const energySum = new Float32Array(lowWidth * lowHeight);
  const energyCount = new Uint32Array(lowWidth * lowHeight);
  const cellX = new Uint32Array(width);
  for (let x = 0; x < width; x++) cellX[x] = Math.min(lowWidth - 1, Math.floor((x * lowWidth) / width));
  const zClip = opt.highSigma * opt.highSigma;
  const upC = new StripUpsampler(cv, maps.colour, width, height);
  const upS = new StripUpsampler(cv, maps.support, width, height);
  const { sigma, lowSigma: low, highSigma: high, shadowSuppression } = opt;
  const inv3 = 1 / 3;
  const invNorm = 1 / (3 * sigma * sigma);
  const span = high - low;
  const s2 = sigma * sigma;
  const t2 = (opt.edgeTolerancePx * opt.edgeTolerancePx) / 4;
  let differing = 0;
  try {
    for (let y0 = 0; y0 < height; y0 += STRIP_ROWS) {
      const rows = Math.min(STRIP_ROWS, height - y0);
      const col = upC.rowsAt(y0, rows);
      const sup = upS.rowsAt(y0, rows);
      for (let r = 0; r < rows; r++) {
        const y = y0 + r;
        const up = y > 0 ? width * 3 : 0;
        const down = y < height - 1 ? width * 3 : 0;
        const cellRow = Math.min(lowHeight - 1, Math.floor((y * lowHeight) / height)) * lowWidth;
        for (let x = 0; x < width; x++) {
          const j = r * width + x;
          const o = (y * width + x) * 3;
          const br = plate[o];
          const bg = plate[o + 1];
          const bb = plate[o + 2];
          const cr = shot[o];
          const cg = shot[o + 1];
          const cb = shot[o + 2];
          const g = shadowSuppression ? shadowGain(cr, cg, cb, br, bg, bb, col[j * 4 + 3], invNorm, low) : 1;
          const gr = g * br;
          const gg = g * bg;
          const gb = g * bb;
          const er = cr - gr;
          const eg = cg - gg;
          const eb = cb - gb;
          const z2 = edgeAwareZ2(er, eg, eb, plate, o, up, down, x > 0 ? 3 : 0, x < width - 1 ? 3 : 0, s2, t2);
          const z = Math.sqrt(z2);
          const cell = cellRow + cellX[x];
          energySum[cell] += z2 < zClip ? z2 : zClip;
          energyCount[cell]++;
          const interior = sup[j * 2];
          let a = 0;
          if (z > low) {
            differing++;
            const ramp = z >= high ? 1 : (z - low) / span;
            a = ramp;
            const known = sup[j * 2 + 1];
            if (known > 0) {
              const vr = col[j * 4] - gr;
              const vg = col[j * 4 + 1] - gg;
              const vb = col[j * 4 + 2] - gb;
              const vv = vr * vr + vg * vg + vb * vb;
              const contrast = Math.sqrt(vv * inv3) / sigma;
              if (contrast > high) {
                let ap = (er * vr + eg * vg + eb * vb) / vv;
                ap = ap < 0 ? 0 : ap > 1 ? 1 : ap;
                const pr = er - ap * vr;
                const pg = eg - ap * vg;
                const pb = eb - ap * vb;
                // Trust the projection when F is well separated from B and C lies near the
                // line B -> F: within noise, or within a fraction of |F - B| (F is an estimate).
                const off = Math.sqrt((pr * pr + pg * pg + pb * pb) * inv3) / sigma;
                const offLo = Math.max(low, LINE_TOLERANCE * contrast);
                const offHi = Math.max(high, 3 * LINE_TOLERANCE * contrast);
                const w = known * clamp01((contrast - high) / high) * clamp01(1 - (off - offLo) / (offHi - offLo));
                a = w * ap + (1 - w) * ramp;
              }
            }
          }
          if (interior > a) a = interior;
          out[y * width + x] = Math.round(a * 255);
        }
      }
    }
  } finally {
    upC.delete();
    upS.delete();
  }
  const energy = new Float32Array(lowWidth * lowHeight);
  for (let i = 0; i < energy.length; i++) energy[i] = energyCount[i] ? energySum[i] / energyCount[i] : 0;
  return { differing, energy };
}
