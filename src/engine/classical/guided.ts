/**
 * Fast guided filter (He, Sun & Tang 2013; He & Sun 2015 "Fast Guided Filter")
 * with a colour guide: the linear coefficients (a: 3 per pixel, b) are solved
 * on reduced copies of the guide and the input, box-filtered, then expanded to
 * full resolution strip by strip and applied to the full-resolution guide:
 * q = a . I + b. Memory and time are bounded by the reduced size, whatever the
 * input's resolution.
 */
import { type ClassicalCv, type CvMat, withMats } from './cvtypes.js';
import { StripUpsampler, matFromFloat } from './resample.js';

/**
 * Solves the guided-filter coefficients on a reduced guide (`guide`, RGB) and
 * input (`p`, one channel, 0..255 both) of `width` x `height`, with window
 * radius `radius` and regularisation `eps` (on the 0..1 scale). Returns a
 * CV_32FC4 Mat of box-averaged [a_r, a_g, a_b, b] that the caller deletes.
 */
export function guidedCoefficients(
  cv: ClassicalCv,
  guide: Uint8Array,
  p: Uint8Array,
  width: number,
  height: number,
  radius: number,
  eps: number,
): CvMat {
  const n = width * height;
  const k = 2 * radius + 1;
  const ksize = new cv.Size(k, k);
  const anchor = new cv.Point(-1, -1);
  // Inputs packed as two 4-channel maps: [I_r, I_g, I_b, p] and the products
  // [rr, rg, rb, gg] + [gb, bb, pr, pg] + [pb, 0, 0, 0]... kept in Float32Arrays.
  const f1 = new Float32Array(n * 4); // I_r I_g I_b p
  const f2 = new Float32Array(n * 4); // rr rg rb gg
  const f3 = new Float32Array(n * 4); // gb bb p*r p*g
  const f4 = new Float32Array(n); // p*b
  for (let i = 0; i < n; i++) {
    const r = guide[i * 3] / 255;
    const g = guide[i * 3 + 1] / 255;
    const b = guide[i * 3 + 2] / 255;
    const q = p[i] / 255;
    f1[i * 4] = r;
    f1[i * 4 + 1] = g;
    f1[i * 4 + 2] = b;
    f1[i * 4 + 3] = q;
    f2[i * 4] = r * r;
    f2[i * 4 + 1] = r * g;
    f2[i * 4 + 2] = r * b;
    f2[i * 4 + 3] = g * g;
    f3[i * 4] = g * b;
    f3[i * 4 + 1] = b * b;
    f3[i * 4 + 2] = q * r;
    f3[i * 4 + 3] = q * g;
    f4[i] = q * b;
  }
  const box = (data: Float32Array, channels: number): Float32Array =>
    withMats((keep) => {
      const m = keep(matFromFloat(cv, data, width, height, channels));
      const out = keep(new cv.Mat());
      cv.boxFilter(m, out, -1, ksize, anchor, true, cv.BORDER_REFLECT);
      return Float32Array.from(out.data32F.subarray(0, n * channels));
    });
  const m1 = box(f1, 4);
  const m2 = box(f2, 4);
  const m3 = box(f3, 4);
  const m4 = box(f4, 1);
  // Per-pixel 3x3 solve: (Sigma + eps U) a = cov(I, p); b = mean_p - a . mean_I.
  const coef = f1; // reuse
  for (let i = 0; i < n; i++) {
    const mr = m1[i * 4];
    const mg = m1[i * 4 + 1];
    const mb = m1[i * 4 + 2];
    const mp = m1[i * 4 + 3];
    const srr = m2[i * 4] - mr * mr + eps;
    const srg = m2[i * 4 + 1] - mr * mg;
    const srb = m2[i * 4 + 2] - mr * mb;
    const sgg = m2[i * 4 + 3] - mg * mg + eps;
    const sgb = m3[i * 4] - mg * mb;
    const sbb = m3[i * 4 + 1] - mb * mb + eps;
    const cr = m3[i * 4 + 2] - mr * mp;
    const cg = m3[i * 4 + 3] - mg * mp;
    const cb = m4[i] - mb * mp;
    // Inverse of the symmetric matrix by cofactors.
    const c00 = sgg * sbb - sgb * sgb;
    const c01 = srb * sgb - srg * sbb;
    const c02 = srg * sgb - srb * sgg;
    const c11 = srr * sbb - srb * srb;
    const c12 = srb * srg - srr * sgb;
    const c22 = srr * sgg - srg * srg;
    const det = srr * c00 + srg * c01 + srb * c02;
    let ar = 0;
    let ag = 0;
    let ab = 0;
    if (det > 1e-30) {
      ar = (c00 * cr + c01 * cg + c02 * cb) / det;
      ag = (c01 * cr + c11 * cg + c12 * cb) / det;
      ab = (c02 * cr + c12 * cg + c22 * cb) / det;
    }
    coef[i * 4] = ar;
    coef[i * 4 + 1] = ag;
    coef[i * 4 + 2] = ab;
    coef[i * 4 + 3] = mp - ar * mr - ag * mg - ab * mb;
  }
  const coefMat = matFromFloat(cv, coef, width, height, 4);
  try {
    cv.boxFilter(coefMat, coefMat, -1, ksize, anchor, true, cv.BORDER_REFLECT);
  } catch (err) {
    coefMat.delete();
    throw err;
  }
  return coefMat;
}

/** Output rows per strip when applying the coefficients at full resolution. */
const STRIP_ROWS = 128;

/**
 * Applies reduced coefficients (`coef`, from guidedCoefficients) to the
 * full-resolution guide `guide` (RGB, `width` x `height`) and writes the
 * filtered values, clipped to 0..255, into `out` (one byte per pixel).
 */
export function applyGuided(cv: ClassicalCv, coef: CvMat, guide: Uint8Array, width: number, height: number, out: Uint8Array): void {
  const up = new StripUpsampler(cv, coef, width, height);
  try {
    for (let y0 = 0; y0 < height; y0 += STRIP_ROWS) {
      const rows = Math.min(STRIP_ROWS, height - y0);
      const c = up.rowsAt(y0, rows);
      const base = y0 * width;
      const n = rows * width;
      for (let j = 0; j < n; j++) {
        const o = (base + j) * 3;
        const q = 255 * (c[j * 4] * (guide[o] / 255) + c[j * 4 + 1] * (guide[o + 1] / 255) + c[j * 4 + 2] * (guide[o + 2] / 255) + c[j * 4 + 3]);
        out[base + j] = q <= 0 ? 0 : q >= 255 ? 255 : Math.round(q);
      }
    }
  } finally {
    up.delete();
  }
}
