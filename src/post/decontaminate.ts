/**
 * Edge-colour decontamination: a foreground colour F for every pixel such that
 * no plate colour shows through semi-transparent edges.
 *
 * The shot is a composite I = aF + (1-a)B with B the aligned plate, so where
 * alpha is large enough F = (I - (1-a)B) / a. That estimate amplifies noise and
 * plate mismatch by 1/a, so it is trusted fully from a = SOLVE_HIGH, not at all
 * below SOLVE_LOW, and linearly in between. Where it is not trusted, F comes
 * from nearby confident foreground through a push-pull fill (a pyramid of
 * confidence-weighted colour means, pulled down to 1x1 and pushed back up with
 * bilinear interpolation). Pixels with alpha 0 get the fill too, so resampling
 * the cutout later never drags in a dark or plate-coloured fringe.
 *
 * With a foreground from the engine, its colour is kept wherever it explains
 * the shot (|aF + (1-a)B - I| <= ENGINE_RESIDUAL_TOL in every channel) and the
 * solved colour replaces it elsewhere; the confidence ramp and the fill are the
 * same.
 *
 * Memory: the finest stored level is half resolution (4 float32 per pixel
 * there, i.e. 4 bytes per full-resolution pixel) plus the 3-byte output;
 * full-resolution values are recomputed instead of stored.
 */
import type { AlphaImage, RgbImage } from '../image/types.js';

/** Below this alpha (0..1) the solved colour is not used at all. */
export const SOLVE_LOW = 0.1;
/** From this alpha (0..1) the solved colour is used alone. */
export const SOLVE_HIGH = 0.5;
/** Largest per-channel compositing error (0..255) at which an engine's foreground colour is kept. */
export const ENGINE_RESIDUAL_TOL = 12;

/** Counters reported in the sidecar. */
export interface DecontaminateStats {
  /** Pixels with 0 < alpha < 255. */
  edgePixels: number;
  /** Edge pixels whose colour is the solved (or engine) colour alone. */
  solvedPixels: number;
  /** Edge pixels mixing the solved colour with the fill. */
  blendedPixels: number;
  /** Edge pixels whose colour is the fill alone (alpha below SOLVE_LOW). */
  filledPixels: number;
  /** Confident edge pixels where the engine's colour was kept. */
  engineKept: number;
  /** Confident edge pixels where the engine's colour did not explain the shot and was replaced. */
  engineReplaced: number;
}

/** Trust in the solved colour at alpha `a` (0..1): 0 below SOLVE_LOW, 1 from SOLVE_HIGH, linear between. */
export function solveConfidence(a: number): number {
  if (a <= SOLVE_LOW) return 0;
  if (a >= SOLVE_HIGH) return 1;
  return (a - SOLVE_LOW) / (SOLVE_HIGH - SOLVE_LOW);
}

/**
 * One channel of F from I = aF + (1-a)B, clamped to 0..255.
 * @param a alpha in (0, 1]
 */
export function solveForeground(i: number, b: number, a: number): number {
  const f = (i - (1 - a) * b) / a;
  return f < 0 ? 0 : f > 255 ? 255 : f;
}

/** Largest per-channel |aF + (1-a)B - I| (0..255 scale). */
export function compositeResidual(i: ArrayLike<number>, b: ArrayLike<number>, f: ArrayLike<number>, a: number): number {
  let r = 0;
  for (let c = 0; c < 3; c++) r = Math.max(r, Math.abs(a * f[c] + (1 - a) * b[c] - i[c]));
  return r;
}

/** One pyramid level: per pixel [r, g, b, weight]; colour is the weighted mean, weight min(1, sum). */
interface Level {
  width: number;
  height: number;
  data: Float32Array;
}

/** The confident colour of one full-resolution pixel and its weight. */
class Confident {
  readonly colour = new Float64Array(3);
  engineKept = 0;
  engineReplaced = 0;
  constructor(
    private readonly shot: Uint8Array,
    private readonly plate: Uint8Array,
    private readonly alpha: Uint8Array,
    private readonly engine: Uint8Array | undefined,
  ) {}

  /** Fills `colour` for pixel `p` and returns its weight (0: no confident colour). */
  at(p: number, count: boolean): number {
    const a8 = this.alpha[p];
    if (a8 === 0) return 0;
    const o = p * 3;
    const col = this.colour;
    const shot = this.shot;
    if (a8 === 255) {
      col[0] = shot[o];
      col[1] = shot[o + 1];
      col[2] = shot[o + 2];
      return 1;
    }
    const a = a8 / 255;
    const w = solveConfidence(a);
    if (w === 0) return 0;
    const plate = this.plate;
    const eng = this.engine;
    if (eng) {
      let r = 0;
      for (let c = 0; c < 3; c++) r = Math.max(r, Math.abs(a * eng[o + c] + (1 - a) * plate[o + c] - shot[o + c]));
      if (r <= ENGINE_RESIDUAL_TOL) {
        col[0] = eng[o];
        col[1] = eng[o + 1];
        col[2] = eng[o + 2];
        if (count) this.engineKept++;
        return w;
      }
      if (count) this.engineReplaced++;
    }
    const k = 1 - a;
    for (let c = 0; c < 3; c++) {
      const f = (shot[o + c] - k * plate[o + c]) / a;
      col[c] = f < 0 ? 0 : f > 255 ? 255 : f;
    }
    return w;
  }
}

/** Bilinear source coordinates of a 2x up-sampling along one axis: index pairs and weight of the second. */
function upsampleAxis(fine: number, coarse: number): { i0: Int32Array; i1: Int32Array; f: Float32Array } {
  const i0 = new Int32Array(fine);
  const i1 = new Int32Array(fine);
  const f = new Float32Array(fine);
  for (let x = 0; x < fine; x++) {
    let s = x / 2 - 0.25;
    if (s < 0) s = 0;
    if (s > coarse - 1) s = coarse - 1;
    const a = Math.floor(s);
    i0[x] = a;
    i1[x] = Math.min(a + 1, coarse - 1);
    f[x] = s - a;
  }
  return { i0, i1, f };
}

/** Pulls a stored level down one step (2x2 weighted means). */
function pull(src: Level): Level {
  const width = Math.ceil(src.width / 2);
  const height = Math.ceil(src.height / 2);
  const data = new Float32Array(width * height * 4);
  const s = src.data;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let w = 0;
      for (let dy = 0; dy < 2; dy++) {
        const sy = 2 * y + dy;
        if (sy >= src.height) break;
        for (let dx = 0; dx < 2; dx++) {
          const sx = 2 * x + dx;
          if (sx >= src.width) break;
          const o = (sy * src.width + sx) * 4;
          const cw = s[o + 3];
          if (cw > 0) {
            r += cw * s[o];
            g += cw * s[o + 1];
            b += cw * s[o + 2];
            w += cw;
          }
        }
      }
      const o = (y * width + x) * 4;
      if (w > 0) {
        data[o] = r / w;
        data[o + 1] = g / w;
        data[o + 2] = b / w;
        data[o + 3] = w < 1 ? w : 1;
      }
    }
  }
  return { width, height, data };
}

/**
 * Pushes the final colours of `coarse` into `fine` (in place): colour becomes
 * weight * own colour + (1 - weight) * bilinear(coarse); weight is set to 1.
 */
function push(fine: Level, coarse: Level): void {
  const ax = upsampleAxis(fine.width, coarse.width);
  const ay = upsampleAxis(fine.height, coarse.height);
  const c = coarse.data;
  const d = fine.data;
  const cw = coarse.width;
  for (let y = 0; y < fine.height; y++) {
    const r0 = ay.i0[y] * cw;
    const r1 = ay.i1[y] * cw;
    const fy = ay.f[y];
    for (let x = 0; x < fine.width; x++) {
      const o = (y * fine.width + x) * 4;
      const w = d[o + 3];
      if (w >= 1) continue;
      const fx = ax.f[x];
      const p00 = (r0 + ax.i0[x]) * 4;
      const p01 = (r0 + ax.i1[x]) * 4;
      const p10 = (r1 + ax.i0[x]) * 4;
      const p11 = (r1 + ax.i1[x]) * 4;
      const v = 1 - w;
      const w11 = fx * fy * v;
      const w10 = (fy - fx * fy) * v;
      const w01 = (fx - fx * fy) * v;
      const w00 = v - w01 - w10 - w11;
      d[o] = w * d[o] + w00 * c[p00] + w01 * c[p01] + w10 * c[p10] + w11 * c[p11];
      d[o + 1] = w * d[o + 1] + w00 * c[p00 + 1] + w01 * c[p01 + 1] + w10 * c[p10 + 1] + w11 * c[p11 + 1];
      d[o + 2] = w * d[o + 2] + w00 * c[p00 + 2] + w01 * c[p01 + 2] + w10 * c[p10 + 2] + w11 * c[p11 + 2];
      d[o + 3] = 1;
    }
  }
}

function checkSize(name: string, img: { width: number; height: number; data: Uint8Array }, w: number, h: number, channels: number): void {
  if (img.width !== w || img.height !== h || img.data.length !== w * h * channels) {
    throw new RangeError(`${name} is ${img.width}x${img.height} (${img.data.length} bytes), expected ${w}x${h}x${channels}`);
  }
}

/**
 * Computes a colour-clean foreground (new image; inputs untouched).
 * @param engineForeground the engine's own foreground estimate, if any
 */
export function decontaminate(
  shot: RgbImage,
  plate: RgbImage,
  alpha: AlphaImage,
  engineForeground?: RgbImage,
): { foreground: RgbImage; stats: DecontaminateStats } {
  const { width, height } = alpha;
  checkSize('alpha', alpha, width, height, 1);
  checkSize('shot', shot, width, height, 3);
  checkSize('plate', plate, width, height, 3);
  if (engineForeground) checkSize('engine foreground', engineForeground, width, height, 3);
  const conf = new Confident(shot.data, plate.data, alpha.data, engineForeground?.data);
  const col = conf.colour;
  const A = alpha.data;
  const S = shot.data;

  // Level 1 straight from full resolution (level 0 is never stored).
  const w1 = Math.ceil(width / 2);
  const h1 = Math.ceil(height / 2);
  const l1: Level = { width: w1, height: h1, data: new Float32Array(w1 * h1 * 4) };
  for (let y = 0; y < h1; y++) {
    for (let x = 0; x < w1; x++) {
      let r = 0;
      let g = 0;
      let b = 0;
      let sw = 0;
      for (let dy = 0; dy < 2; dy++) {
        const sy = 2 * y + dy;
        if (sy >= height) break;
        for (let dx = 0; dx < 2; dx++) {
          const sx = 2 * x + dx;
          if (sx >= width) break;
          const p = sy * width + sx;
          const a8 = A[p];
          if (a8 === 0) continue;
          if (a8 === 255) {
            r += S[p * 3];
            g += S[p * 3 + 1];
            b += S[p * 3 + 2];
            sw += 1;
            continue;
          }
          const w = conf.at(p, false);
          if (w > 0) {
            r += w * col[0];
            g += w * col[1];
            b += w * col[2];
            sw += w;
          }
        }
      }
      if (sw > 0) {
        const o = (y * w1 + x) * 4;
        l1.data[o] = r / sw;
        l1.data[o + 1] = g / sw;
        l1.data[o + 2] = b / sw;
        l1.data[o + 3] = sw < 1 ? sw : 1;
      }
    }
  }
  const levels: Level[] = [l1];
  while (levels[levels.length - 1].width > 1 || levels[levels.length - 1].height > 1) levels.push(pull(levels[levels.length - 1]));
  // The coarsest level's colour is the global weighted mean (black when nothing is confident).
  const top = levels[levels.length - 1].data;
  top[3] = 1;
  for (let k = levels.length - 2; k >= 0; k--) {
    push(levels[k], levels[k + 1]);
    if (k > 0) levels.length = k + 1; // let coarser levels go
  }

  // Full resolution: confident colour blended with the pushed fill.
  const out = new Uint8Array(width * height * 3);
  const clamped = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
  const ax = upsampleAxis(width, w1);
  const ay = upsampleAxis(height, h1);
  const c = l1.data;
  const stats: DecontaminateStats = { edgePixels: 0, solvedPixels: 0, blendedPixels: 0, filledPixels: 0, engineKept: 0, engineReplaced: 0 };
  for (let y = 0; y < height; y++) {
    const r0 = ay.i0[y] * w1;
    const r1 = ay.i1[y] * w1;
    const fy = ay.f[y];
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const o = p * 3;
      const a8 = A[p];
      if (a8 === 255) {
        out[o] = S[o];
        out[o + 1] = S[o + 1];
        out[o + 2] = S[o + 2];
        continue;
      }
      const edge = a8 > 0;
      const w = edge ? conf.at(p, true) : 0;
      if (edge) {
        stats.edgePixels++;
        if (w >= 1) stats.solvedPixels++;
        else if (w > 0) stats.blendedPixels++;
        else stats.filledPixels++;
      }
      if (w >= 1) {
        clamped[o] = col[0];
        clamped[o + 1] = col[1];
        clamped[o + 2] = col[2];
        continue;
      }
      const fx = ax.f[x];
      const p00 = (r0 + ax.i0[x]) * 4;
      const p01 = (r0 + ax.i1[x]) * 4;
      const p10 = (r1 + ax.i0[x]) * 4;
      const p11 = (r1 + ax.i1[x]) * 4;
      const v = 1 - w;
      const w11 = fx * fy * v;
      const w10 = (fy - fx * fy) * v;
      const w01 = (fx - fx * fy) * v;
      const w00 = v - w01 - w10 - w11;
      clamped[o] = w * col[0] + w00 * c[p00] + w01 * c[p01] + w10 * c[p10] + w11 * c[p11];
      clamped[o + 1] = w * col[1] + w00 * c[p00 + 1] + w01 * c[p01 + 1] + w10 * c[p10 + 1] + w11 * c[p11 + 1];
      clamped[o + 2] = w * col[2] + w00 * c[p00 + 2] + w01 * c[p01 + 2] + w10 * c[p10 + 2] + w11 * c[p11 + 2];
    }
  }
  stats.engineKept = conf.engineKept;
  stats.engineReplaced = conf.engineReplaced;
  return { foreground: { width, height, data: out }, stats };
}
