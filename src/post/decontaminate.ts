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
 * full-resolution values are recomputed instead of stored. The pushed colours
 * are produced row by row as the finer level needs them (three rows per
 * level), not written back into the levels; pages of a level that only ever
 * hold weight 0 (no alpha there) are never touched.
 *
 * Speed: the work is per pixel at full and half resolution, so the loops
 * avoid what they can (all-0 and all-255 blocks, rows outside the alpha's
 * extent) and share taps between the column pairs of the 2x up-sampling.
 * Every value that ends up in the output is the same float64 expression,
 * evaluated in the same order and stored at the same precision, as in the
 * straightforward formulation, so the result does not depend on these paths.
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

/**
 * One pyramid level: per pixel [r, g, b, weight]; colour is the weighted mean,
 * weight min(1, sum). Per row, every pixel with a weight lies in the columns
 * lo..hi (lo > hi: none), so the empty parts of big levels are never touched.
 */
interface Level {
  width: number;
  height: number;
  data: Float32Array;
  lo: Int32Array;
  hi: Int32Array;
}

/** The confident colour of one full-resolution pixel and its weight. */
class Confident {
  readonly colour = new Float64Array(3);
  engineKept = 0;
  engineReplaced = 0;
  constructor(
    readonly shot: Uint8Array,
    readonly plate: Uint8Array,
    readonly alpha: Uint8Array,
    readonly engine: Uint8Array | undefined,
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

/** Per fine index along one axis of a 2x up-sampling: the two bilinear taps (as offsets) and the fraction of the second. */
interface Axis {
  o0: Int32Array;
  o1: Int32Array;
  f: Float32Array;
}

/**
 * Bilinear source coordinates of a 2x up-sampling along one axis, the tap
 * indices multiplied by `stride` (the row length or channel count).
 *
 * Away from the borders, fine indices come in pairs 2k + 1 and 2k + 2 that
 * share the taps k and k + 1, with fractions 0.25 and 0.75; the row loops
 * below rely on this for the pairs 1 .. (fine - 1) >> 1 and use the tables
 * for the rest (index 0 and, for an even `fine`, the last one).
 */
function upsampleAxis(fine: number, coarse: number, stride: number): Axis {
  const o0 = new Int32Array(fine);
  const o1 = new Int32Array(fine);
  const f = new Float32Array(fine);
  for (let x = 0; x < fine; x++) {
    let s = x / 2 - 0.25;
    if (s < 0) s = 0;
    if (s > coarse - 1) s = coarse - 1;
    const a = Math.floor(s);
    o0[x] = a * stride;
    o1[x] = Math.min(a + 1, coarse - 1) * stride;
    f[x] = s - a;
  }
  return { o0, o1, f };
}

/**
 * Level 1 of the pyramid straight from full resolution (level 0 is never
 * stored): 2x2 means of the confident colours, weighted by confidence. Its
 * row ranges (lo..hi) also bound the blocks with any alpha > 0.
 */
function buildLevel1(conf: Confident, width: number, height: number): Level {
  const A = conf.alpha;
  const S = conf.shot;
  const col = conf.colour;
  const w1 = Math.ceil(width / 2);
  const h1 = Math.ceil(height / 2);
  const d = new Float32Array(w1 * h1 * 4);
  const lo = new Int32Array(h1);
  const hi = new Int32Array(h1);
  for (let y = 0; y < h1; y++) {
    const fullRows = 2 * y + 1 < height;
    let first = w1;
    let last = -1;
    let o = y * w1 * 4;
    for (let x = 0; x < w1; x++, o += 4) {
      const p = 2 * y * width + 2 * x;
      if (fullRows && 2 * x + 1 < width) {
        // Fast paths for whole 2x2 blocks that are all alpha 0 (nothing
        // confident: the level keeps weight 0) or all alpha 255 (weight 1
        // each, so the plain mean of the shot; integer sums, exact).
        const q = p + width;
        const a00 = A[p];
        const a01 = A[p + 1];
        const a10 = A[q];
        const a11 = A[q + 1];
        if ((a00 | a01 | a10 | a11) === 0) continue;
        if (first > x) first = x;
        last = x;
        if ((a00 & a01 & a10 & a11) === 255) {
          const s0 = p * 3;
          const s1 = q * 3;
          d[o] = (S[s0] + S[s0 + 3] + S[s1] + S[s1 + 3]) / 4;
          d[o + 1] = (S[s0 + 1] + S[s0 + 4] + S[s1 + 1] + S[s1 + 4]) / 4;
          d[o + 2] = (S[s0 + 2] + S[s0 + 5] + S[s1 + 2] + S[s1 + 5]) / 4;
          d[o + 3] = 1;
          continue;
        }
      }
      // Mixed blocks, and the blocks cut short by an odd width or height.
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
          const ps = sy * width + sx;
          const a8 = A[ps];
          if (a8 === 0) continue;
          if (first > x) first = x;
          last = x;
          if (a8 === 255) {
            r += S[ps * 3];
            g += S[ps * 3 + 1];
            b += S[ps * 3 + 2];
            sw += 1;
            continue;
          }
          const w = conf.at(ps, false);
          if (w > 0) {
            r += w * col[0];
            g += w * col[1];
            b += w * col[2];
            sw += w;
          }
        }
      }
      if (sw > 0) {
        d[o] = r / sw;
        d[o + 1] = g / sw;
        d[o + 2] = b / sw;
        d[o + 3] = sw < 1 ? sw : 1;
      }
    }
    lo[y] = first;
    hi[y] = last;
  }
  return { width: w1, height: h1, data: d, lo, hi };
}

/** Pulls a stored level down one step (2x2 weighted means), within the row ranges of `src`. */
function pull(src: Level): Level {
  const sw = src.width;
  const sh = src.height;
  const width = Math.ceil(sw / 2);
  const height = Math.ceil(sh / 2);
  const data = new Float32Array(width * height * 4);
  const lo = new Int32Array(height);
  const hi = new Int32Array(height);
  const s = src.data;
  for (let y = 0; y < height; y++) {
    const rows = 2 * y + 1 < sh ? 2 : 1;
    const srcLo = rows === 2 ? Math.min(src.lo[2 * y], src.lo[2 * y + 1]) : src.lo[2 * y];
    const srcHi = rows === 2 ? Math.max(src.hi[2 * y], src.hi[2 * y + 1]) : src.hi[2 * y];
    if (srcLo > srcHi) {
      lo[y] = width;
      hi[y] = -1;
      continue;
    }
    lo[y] = srcLo >> 1;
    hi[y] = srcHi >> 1;
    let o = (y * width + lo[y]) * 4;
    for (let x = lo[y]; x <= hi[y]; x++, o += 4) {
      const cols = 2 * x + 1 < sw ? 2 : 1;
      let r = 0;
      let g = 0;
      let b = 0;
      let w = 0;
      for (let dy = 0; dy < rows; dy++) {
        let so = ((2 * y + dy) * sw + 2 * x) * 4;
        for (let dx = 0; dx < cols; dx++, so += 4) {
          const cw = s[so + 3];
          if (cw > 0) {
            r += cw * s[so];
            g += cw * s[so + 1];
            b += cw * s[so + 2];
            w += cw;
          }
        }
      }
      if (w > 0) {
        data[o] = r / w;
        data[o + 1] = g / w;
        data[o + 2] = b / w;
        data[o + 3] = w < 1 ? w : 1;
      }
    }
  }
  return { width, height, data, lo, hi };
}

/*
 * The plain fill of a row: the bilinear 2x up-sampling of two rows of pushed
 * colours (`c0`, `c1`: 3 per pixel; `fy` the fraction of `c1`), over the
 * columns xs .. xe - 1. Every pixel gets the expression of the general blend
 * (see `PushedLevel.compute`) with weight 0: 0 * own colour + x is exactly x,
 * and the tap weights are the same products times v = 1.
 *
 * The column pairs (see `upsampleAxis`) share their two taps and the row's
 * weights: `fillRow`'s pair loop loads each tap once and carries the right
 * taps over to the next pair. Columns not in a whole pair go through
 * `fillColumns`. The same code fills a row of pushed colours (float32) and
 * rounds into the output (a Uint8ClampedArray store rounds half to even).
 */

/** The plain fill, one pixel at a time with the axis tables, of the columns xs .. xe - 1 into out[o + 3 * x ..]. */
function fillColumns(out: Float32Array | Uint8ClampedArray, o: number, c0: Float32Array, c1: Float32Array, fy: number, ax: Axis, xs: number, xe: number): void {
  for (let x = xs; x < xe; x++) {
    const fx = ax.f[x];
    const t0 = ax.o0[x];
    const t1 = ax.o1[x];
    const w11 = fx * fy;
    const w10 = fy - fx * fy;
    const w01 = fx - fx * fy;
    const w00 = 1 - w01 - w10 - w11;
    const ox = o + 3 * x;
    out[ox] = w00 * c0[t0] + w01 * c0[t1] + w10 * c1[t0] + w11 * c1[t1];
    out[ox + 1] = w00 * c0[t0 + 1] + w01 * c0[t1 + 1] + w10 * c1[t0 + 1] + w11 * c1[t1 + 1];
    out[ox + 2] = w00 * c0[t0 + 2] + w01 * c0[t1 + 2] + w10 * c1[t0 + 2] + w11 * c1[t1 + 2];
  }
}

/**
 * Fills, with `fillColumns`, the columns of xs .. xe - 1 outside the whole
 * column pairs in that range, and returns those pairs as k0 .. k1 - 1 (pair k:
 * columns 2k + 1 and 2k + 2; k1 <= k0 when there are none).
 */
function fillAroundPairs(out: Float32Array | Uint8ClampedArray, o: number, c0: Float32Array, c1: Float32Array, fy: number, ax: Axis, xs: number, xe: number): [number, number] {
  const k0 = xs >> 1;
  const k1 = Math.min((ax.f.length - 1) >> 1, (xe - 1) >> 1);
  if (k1 <= k0) {
    fillColumns(out, o, c0, c1, fy, ax, xs, xe);
  } else {
    fillColumns(out, o, c0, c1, fy, ax, xs, 2 * k0 + 1);
    fillColumns(out, o, c0, c1, fy, ax, 2 * k1 + 1, xe);
  }
  return [k0, k1];
}

/**
 * The fill weights [w00, w01, w10, w11] of the columns 2k + 1 (fx = 0.25,
 * entries 0..3) and 2k + 2 (fx = 0.75, entries 4..7) at row fraction fy, as
 * `fillColumns` computes them. Returns a shared scratch array.
 */
function pairWeights(fy: number): Float64Array {
  const pw = PAIR_WEIGHTS;
  for (let j = 0; j < 2; j++) {
    const fx = j === 0 ? 0.25 : 0.75;
    const w11 = fx * fy;
    const w10 = fy - fx * fy;
    const w01 = fx - fx * fy;
    pw[4 * j] = 1 - w01 - w10 - w11;
    pw[4 * j + 1] = w01;
    pw[4 * j + 2] = w10;
    pw[4 * j + 3] = w11;
  }
  return pw;
}
const PAIR_WEIGHTS = new Float64Array(8);

/**
 * The plain fill of the columns xs .. xe - 1 of a row starting at out[o]: a
 * row of pushed colours (Float32Array) or output bytes (Uint8ClampedArray).
 */
function fillRow(out: Float32Array | Uint8ClampedArray, o: number, c0: Float32Array, c1: Float32Array, fy: number, ax: Axis, xs: number, xe: number): void {
  const [k0, k1] = fillAroundPairs(out, o, c0, c1, fy, ax, xs, xe);
  if (k1 <= k0) return;
  const pw = pairWeights(fy);
  const [a00, a01, a10, a11, b00, b01, b10, b11] = pw;
  // Left (L) and right (R) taps in the rows c0 (..0) and c1 (..1).
  let t = 3 * k0;
  let rL0 = c0[t];
  let gL0 = c0[t + 1];
  let bL0 = c0[t + 2];
  let rL1 = c1[t];
  let gL1 = c1[t + 1];
  let bL1 = c1[t + 2];
  for (let k = k0, ok = o + 6 * k0 + 3; k < k1; k++, ok += 6) {
    t += 3;
    const rR0 = c0[t];
    const gR0 = c0[t + 1];
    const bR0 = c0[t + 2];
    const rR1 = c1[t];
    const gR1 = c1[t + 1];
    const bR1 = c1[t + 2];
    out[ok] = a00 * rL0 + a01 * rR0 + a10 * rL1 + a11 * rR1;
    out[ok + 1] = a00 * gL0 + a01 * gR0 + a10 * gL1 + a11 * gR1;
    out[ok + 2] = a00 * bL0 + a01 * bR0 + a10 * bL1 + a11 * bR1;
    out[ok + 3] = b00 * rL0 + b01 * rR0 + b10 * rL1 + b11 * rR1;
    out[ok + 4] = b00 * gL0 + b01 * gR0 + b10 * gL1 + b11 * gR1;
    out[ok + 5] = b00 * bL0 + b01 * bR0 + b10 * bL1 + b11 * bR1;
    rL0 = rR0;
    gL0 = gR0;
    bL0 = bR0;
    rL1 = rR1;
    gL1 = gR1;
    bL1 = bR1;
  }
}

/** Rows of pushed colours kept per level: the two a finer row reads plus the one being written. */
const RING = 3;

/**
 * The pushed (final) colours of one pyramid level, computed row by row on
 * demand instead of in place, so that the full-size levels are never written
 * twice: the pixel's colour becomes weight * own colour + (1 - weight) *
 * bilinear(pushed coarser level). The coarsest level is pushed as it is (its
 * weight is taken as 1: black when nothing is confident anywhere).
 *
 * Rows must be asked for in non-decreasing order (as 2x up-sampling does); the
 * returned row (3 float32 per pixel) stays valid until two newer rows have
 * been computed.
 */
class PushedLevel {
  private readonly ring: Float32Array[] = [];
  private next = 0;
  private readonly ax: Axis;
  private readonly ay: Axis;

  constructor(
    readonly level: Level,
    private readonly coarser: PushedLevel | undefined,
  ) {
    for (let i = 0; i < RING; i++) this.ring.push(new Float32Array(level.width * 3));
    this.ax = upsampleAxis(level.width, coarser?.width ?? 1, 3);
    this.ay = upsampleAxis(level.height, coarser?.height ?? 1, 1);
  }

  /** The pyramid from `finest` down to 1x1, pushed lazily; returns the finest level. */
  static pyramid(finest: Level): PushedLevel {
    const levels = [finest];
    while (levels[levels.length - 1].width > 1 || levels[levels.length - 1].height > 1) levels.push(pull(levels[levels.length - 1]));
    let pushed: PushedLevel | undefined;
    for (let k = levels.length - 1; k >= 0; k--) pushed = new PushedLevel(levels[k], pushed);
    return pushed!;
  }

  get width(): number {
    return this.level.width;
  }

  get height(): number {
    return this.level.height;
  }

  /** Pushed row `y`: 3 float32 per pixel. */
  row(y: number): Float32Array {
    while (this.next <= y) this.compute(this.next++);
    return this.ring[y % RING];
  }

  private compute(y: number): void {
    const { width, data: d, lo, hi } = this.level;
    const out = this.ring[y % RING];
    const row = y * width * 4;
    const coarser = this.coarser;
    if (!coarser) {
      for (let x = 0, o = row; x < width; x++, o += 4) {
        out[3 * x] = d[o];
        out[3 * x + 1] = d[o + 1];
        out[3 * x + 2] = d[o + 2];
      }
      return;
    }
    const ax = this.ax;
    const c0 = coarser.row(this.ay.o0[y]);
    const c1 = coarser.row(this.ay.o1[y]);
    const fy = this.ay.f[y];
    // The plain fill outside the columns with weight; the blend inside.
    const xs = Math.min(lo[y], width);
    const xe = Math.max(hi[y] + 1, xs);
    fillRow(out, 0, c0, c1, fy, ax, 0, xs);
    fillRow(out, 0, c0, c1, fy, ax, xe, width);
    for (let x = xs, o = row + 4 * xs; x < xe; x++, o += 4) {
      const ox = 3 * x;
      const w = d[o + 3];
      if (w >= 1) {
        out[ox] = d[o];
        out[ox + 1] = d[o + 1];
        out[ox + 2] = d[o + 2];
        continue;
      }
      const fx = ax.f[x];
      const t0 = ax.o0[x];
      const t1 = ax.o1[x];
      const v = 1 - w;
      const w11 = fx * fy * v;
      const w10 = (fy - fx * fy) * v;
      const w01 = (fx - fx * fy) * v;
      const w00 = v - w01 - w10 - w11;
      out[ox] = w * d[o] + w00 * c0[t0] + w01 * c0[t1] + w10 * c1[t0] + w11 * c1[t1];
      out[ox + 1] = w * d[o + 1] + w00 * c0[t0 + 1] + w01 * c0[t1 + 1] + w10 * c1[t0 + 1] + w11 * c1[t1 + 1];
      out[ox + 2] = w * d[o + 2] + w00 * c0[t0 + 2] + w01 * c0[t1 + 2] + w10 * c1[t0 + 2] + w11 * c1[t1 + 2];
    }
  }
}

/**
 * The full-resolution foreground: each pixel's confident colour blended with
 * the bilinear up-sampling of the pushed level 1 by its confidence. Outside
 * the level-1 blocks with alpha > 0 that is the plain fill (`fillRow`);
 * inside, pixel by pixel: the shot where alpha is 255, else the blend.
 */
function compose(conf: Confident, width: number, height: number, l1: PushedLevel): { data: Uint8Array; stats: DecontaminateStats } {
  const { lo, hi } = l1.level;
  const A = conf.alpha;
  const S = conf.shot;
  const col = conf.colour;
  const out = new Uint8Array(width * height * 3);
  const clamped = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
  const ax = upsampleAxis(width, l1.width, 3);
  const ay = upsampleAxis(height, l1.height, 1);
  let edgePixels = 0;
  let solvedPixels = 0;
  let blendedPixels = 0;
  let filledPixels = 0;
  for (let y = 0; y < height; y++) {
    const c0 = l1.row(ay.o0[y]);
    const c1 = l1.row(ay.o1[y]);
    const fy = ay.f[y];
    const row = y * width;
    // Columns 2 lo .. 2 hi + 1 of the level-1 block row.
    const xs = Math.min(2 * lo[y >> 1], width);
    const xe = Math.max(Math.min(2 * hi[y >> 1] + 2, width), xs);
    fillRow(clamped, row * 3, c0, c1, fy, ax, 0, xs);
    fillRow(clamped, row * 3, c0, c1, fy, ax, xe, width);
    for (let x = xs; x < xe; x++) {
      const p = row + x;
      const o = p * 3;
      const a8 = A[p];
      if (a8 === 255) {
        out[o] = S[o];
        out[o + 1] = S[o + 1];
        out[o + 2] = S[o + 2];
        continue;
      }
      let w = 0;
      if (a8 > 0) {
        edgePixels++;
        w = conf.at(p, true);
        if (w >= 1) {
          solvedPixels++;
          clamped[o] = col[0];
          clamped[o + 1] = col[1];
          clamped[o + 2] = col[2];
          continue;
        }
        if (w > 0) blendedPixels++;
        else filledPixels++;
      }
      const fx = ax.f[x];
      const t0 = ax.o0[x];
      const t1 = ax.o1[x];
      const v = 1 - w;
      const w11 = fx * fy * v;
      const w10 = (fy - fx * fy) * v;
      const w01 = (fx - fx * fy) * v;
      const w00 = v - w01 - w10 - w11;
      clamped[o] = w * col[0] + w00 * c0[t0] + w01 * c0[t1] + w10 * c1[t0] + w11 * c1[t1];
      clamped[o + 1] = w * col[1] + w00 * c0[t0 + 1] + w01 * c0[t1 + 1] + w10 * c1[t0 + 1] + w11 * c1[t1 + 1];
      clamped[o + 2] = w * col[2] + w00 * c0[t0 + 2] + w01 * c0[t1 + 2] + w10 * c1[t0 + 2] + w11 * c1[t1 + 2];
    }
  }
  const stats: DecontaminateStats = {
    edgePixels,
    solvedPixels,
    blendedPixels,
    filledPixels,
    engineKept: conf.engineKept,
    engineReplaced: conf.engineReplaced,
  };
  return { data: out, stats };
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
  const l1 = PushedLevel.pyramid(buildLevel1(conf, width, height));
  const { data, stats } = compose(conf, width, height, l1);
  return { foreground: { width, height, data }, stats };
}
