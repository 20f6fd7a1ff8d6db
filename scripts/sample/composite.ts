/**
 * The physics of a shot: `shot = a*F + (1-a)*B` per channel with the exact
 * 8-bit alpha, then signal-dependent sensor noise. Pure functions on raw
 * buffers; noise is seeded and table-driven (one xorshift step per sample).
 */
import type { AlphaImage, RgbImage } from '../../src/image/types.js';
import { gaussianTable, hashSeed } from './rng.js';

/**
 * One channel of the matting equation with an 8-bit alpha:
 * `round((a*F + (255-a)*B) / 255)`, i.e. `a/255 * F + (1 - a/255) * B`.
 */
export function compositeValue(f: number, a8: number, b: number): number {
  return Math.round((a8 * f + (255 - a8) * b) / 255);
}

/**
 * Composites a straight-colour foreground over a background with an 8-bit
 * alpha: `out = a*F + (1-a)*B` per channel, rounded. Sizes must match.
 * @param out optional destination (may be `bg` or `fg` itself); a new image otherwise
 */
export function composite(fg: RgbImage, alpha: AlphaImage, bg: RgbImage, out?: RgbImage): RgbImage {
  const { width: w, height: h } = bg;
  if (fg.width !== w || fg.height !== h || alpha.width !== w || alpha.height !== h) {
    throw new RangeError(`composite: sizes differ (fg ${fg.width}x${fg.height}, alpha ${alpha.width}x${alpha.height}, bg ${w}x${h})`);
  }
  const dst = out ?? { width: w, height: h, data: new Uint8Array(w * h * 3) };
  const F = fg.data;
  const B = bg.data;
  const A = alpha.data;
  const D = dst.data;
  for (let i = 0, n = w * h; i < n; i++) {
    const a = A[i];
    const j = i * 3;
    if (a === 0) {
      D[j] = B[j];
      D[j + 1] = B[j + 1];
      D[j + 2] = B[j + 2];
    } else if (a === 255) {
      D[j] = F[j];
      D[j + 1] = F[j + 1];
      D[j + 2] = F[j + 2];
    } else {
      const na = 255 - a;
      D[j] = ((a * F[j] + na * B[j] + 127) / 255) | 0;
      D[j + 1] = ((a * F[j + 1] + na * B[j + 1] + 127) / 255) | 0;
      D[j + 2] = ((a * F[j + 2] + na * B[j + 2] + 127) / 255) | 0;
    }
  }
  return dst;
}

/** Sensor-noise model: `sigma(v) = amount * sqrt(read^2 + shot * v)` per channel, with channel gains and a shared luma part. */
export interface NoiseModel {
  /** Overall multiplier (1 = the sample session's default; 0 = no noise). */
  amount: number;
  /** Read-noise sigma at black, in 8-bit levels. */
  read: number;
  /** Shot-noise variance per level of signal. */
  shot: number;
  /** Relative noise of R, G, B (green is cleanest on a Bayer sensor). */
  channel: [number, number, number];
  /** Fraction of the variance shared by all channels (luma-correlated noise after demosaicing). */
  shared: number;
}

/** Mild base-ISO noise: sigma about 1.4 levels on the grey paper. */
export const DEFAULT_NOISE: NoiseModel = { amount: 1, read: 0.7, shot: 0.0075, channel: [1.1, 0.9, 1.25], shared: 0.45 };

/**
 * Adds seeded, signal-dependent Gaussian noise in place and returns the image.
 * Equal `(seed, salt)` give equal noise; different salts give independent
 * noise with the same statistics.
 */
export function addSensorNoise(img: RgbImage, seed: number, salt: number, model: NoiseModel = DEFAULT_NOISE): RgbImage {
  if (model.amount <= 0) return img;
  const table = gaussianTable();
  const sig = [new Float32Array(256), new Float32Array(256), new Float32Array(256)];
  const shared = Math.sqrt(model.shared);
  const own = Math.sqrt(1 - model.shared);
  for (let v = 0; v < 256; v++) {
    const base = model.amount * Math.sqrt(model.read * model.read + model.shot * v);
    for (let c = 0; c < 3; c++) sig[c][v] = base * model.channel[c];
  }
  const [s0, s1, s2] = sig;
  let st = hashSeed(seed, salt) | 0;
  const d = img.data;
  const n = img.width * img.height;
  for (let i = 0; i < n; i++) {
    // xorshift32; two 16-bit table indices per step.
    st ^= st << 13;
    st ^= st >>> 17;
    st ^= st << 5;
    const common = table[st & 0xffff] * shared;
    const g0 = table[(st >>> 16) & 0xffff];
    st ^= st << 13;
    st ^= st >>> 17;
    st ^= st << 5;
    const g1 = table[st & 0xffff];
    const g2 = table[(st >>> 16) & 0xffff];
    const j = i * 3;
    const r = d[j];
    const g = d[j + 1];
    const b = d[j + 2];
    const vr = r + s0[r] * (common + own * g0) + 0.5;
    const vg = g + s1[g] * (common + own * g1) + 0.5;
    const vb = b + s2[b] * (common + own * g2) + 0.5;
    d[j] = vr <= 0 ? 0 : vr >= 255 ? 255 : vr | 0;
    d[j + 1] = vg <= 0 ? 0 : vg >= 255 ? 255 : vg | 0;
    d[j + 2] = vb <= 0 ? 0 : vb >= 255 ? 255 : vb | 0;
  }
  return img;
}
