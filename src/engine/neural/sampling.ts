/**
 * Pure image maths of the neural engine (docs/neural-contract.md, the ONNX contract):
 *
 * - the base-input size (long side ~ baseLongSide, both sides multiples of 16), as the Python
 *   reference scripts/train/cleanplate_train/infer.py computes it;
 * - bilinear upsampling with half-pixel centres (PyTorch `interpolate(mode='bilinear',
 *   align_corners=False)`), as a separable, row-streaming sampler that writes 8-bit alpha and
 *   foreground directly;
 * - the per-cell error (error map resampled to the patch grid) and patch selection (budget /
 *   threshold);
 * - extraction of the refiner's [N, 6+C, S, S] windows;
 * - write-back of the refined patch centres;
 * - mirroring of planar maps, for the flip-averaged base run (test-time augmentation).
 *
 * Every full-resolution value of a base output, wherever it is needed (the coarse alpha and
 * foreground, the refiner windows), comes from {@link bilinearAt}'s exact expression on the same
 * {@link AxisMap} tables, so refined patches sit seamlessly among coarse pixels.
 *
 * No I/O, no ONNX: everything here works on typed arrays and is unit-tested on tiny inputs.
 */

/**
 * Per-output-index bilinear sampling table along one axis: output index `d` reads source
 * indices `i0[d]` and `i1[d]` with weight `1 - w[d]` and `w[d]`.
 */
export interface AxisMap {
  /** Lower source index (clamped to the source). */
  i0: Int32Array;
  /** Upper source index (`min(i0 + 1, src - 1)`). */
  i1: Int32Array;
  /** Weight of `i1`, in [0, 1). */
  w: Float64Array;
}

/**
 * Builds the half-pixel-centre sampling table for resampling `src` samples to `dst` samples:
 * source coordinate `s = (d + 0.5) * src / dst - 0.5`, clamped to `[0, src - 1]`.
 */
export function axisMap(dst: number, src: number): AxisMap {
  if (!(dst >= 1 && src >= 1)) throw new RangeError(`axisMap: sizes must be >= 1 (dst ${dst}, src ${src})`);
  const i0 = new Int32Array(dst);
  const i1 = new Int32Array(dst);
  const w = new Float64Array(dst);
  const scale = src / dst;
  for (let d = 0; d < dst; d++) {
    let s = (d + 0.5) * scale - 0.5;
    if (s < 0) s = 0;
    if (s > src - 1) s = src - 1;
    const a = Math.floor(s);
    i0[d] = a;
    i1[d] = a < src - 1 ? a + 1 : a;
    w[d] = s - a;
  }
  return { i0, i1, w };
}

/**
 * The bilinear value of `plane` (`srcW` wide) at the output position described by entry `y` of
 * `ym` and entry `x` of `xm`. Horizontal first, then vertical (PyTorch's order); the row-streaming
 * sampler computes exactly this expression, so both agree to the last bit.
 */
export function bilinearAt(plane: Float32Array, srcW: number, ym: AxisMap, y: number, xm: AxisMap, x: number): number {
  const r0 = ym.i0[y] * srcW;
  const r1 = ym.i1[y] * srcW;
  const x0 = xm.i0[x];
  const x1 = xm.i1[x];
  const wx = xm.w[x];
  const wy = ym.w[y];
  const top = (1 - wx) * plane[r0 + x0] + wx * plane[r0 + x1];
  const bottom = (1 - wx) * plane[r1 + x0] + wx * plane[r1 + x1];
  return (1 - wy) * top + wy * bottom;
}

/** `k / 255` for every byte value k. */
const BYTE_TO_UNIT = Float64Array.from({ length: 256 }, (_, k) => k / 255);

/** A 0..1 value to 0..255, rounded, clamped. */
export function toByte(v: number): number {
  if (!(v > 0)) return 0; // also NaN
  if (v >= 1) return 255;
  return Math.round(v * 255);
}

/** Width and height of the base network's input. */
export interface BaseSize {
  width: number;
  height: number;
}

/** Rounds half to even, like Python 3's `round()`. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/**
 * The base network's input size for a `width` x `height` image, exactly as the Python reference
 * (scripts/train/cleanplate_train/infer.py `base_size`): `s = min(1, longSide / max(W, H))`, then
 * each side becomes `max(multiple, round(side * s / multiple) * multiple)` (Python rounding). So the
 * long side is ~longSide, both sides are multiples of `multiple`, the aspect is kept as closely as the
 * grid allows and small images are never enlarged beyond the nearest multiple.
 */
export function baseSizeFor(width: number, height: number, longSide: number, multiple = 16): BaseSize {
  if (!(width >= 1 && height >= 1)) throw new RangeError(`baseSizeFor: bad image size ${width}x${height}`);
  const s = Math.min(1, longSide / Math.max(width, height));
  const side = (n: number) => Math.max(multiple, roundHalfEven((n * s) / multiple) * multiple);
  return { width: side(width), height: side(height) };
}

/**
 * Horizontal half of the separable sampler: for output row `y`, `prepare(y)` makes sure the two
 * source rows it blends are resampled to `W` columns, and returns their buffers (one Float64Array
 * per plane each) and the vertical weight. Holds two resampled rows per plane.
 */
export class RowSampler {
  private readonly slots: Float64Array[][];
  private readonly slotRow = [-1, -1];
  /** Per plane: the resampled upper source row of the last prepared output row. */
  top: Float64Array[] = [];
  /** Per plane: the resampled lower source row of the last prepared output row. */
  bottom: Float64Array[] = [];
  /** Weight of `bottom` for the last prepared output row. */
  weight = 0;

  /** @param planes source planes, `h * w` each; `ym`/`xm` = `axisMap(H, h)` / `axisMap(W, w)`. */
  constructor(
    private readonly planes: readonly Float32Array[],
    private readonly w: number,
    readonly ym: AxisMap,
    readonly xm: AxisMap,
  ) {
    const W = xm.w.length;
    this.slots = [planes.map(() => new Float64Array(W)), planes.map(() => new Float64Array(W))];
  }

  private fill(slot: number, r: number): void {
    const { i0, i1, w: xw } = this.xm;
    const W = xw.length;
    const base = r * this.w;
    for (let c = 0; c < this.planes.length; c++) {
      const p = this.planes[c];
      const dst = this.slots[slot][c];
      for (let x = 0; x < W; x++) {
        const f = xw[x];
        dst[x] = (1 - f) * p[base + i0[x]] + f * p[base + i1[x]];
      }
    }
    this.slotRow[slot] = r;
  }

  private slotFor(r: number, avoid: number): number {
    if (this.slotRow[0] === r) return 0;
    if (this.slotRow[1] === r) return 1;
    const s = avoid === 0 ? 1 : 0;
    this.fill(s, r);
    return s;
  }

  /** Prepares output row `y`: afterwards value = `(1 - weight) * top[c][x] + weight * bottom[c][x]`. */
  prepare(y: number): void {
    const s0 = this.slotFor(this.ym.i0[y], -1);
    const s1 = this.slotFor(this.ym.i1[y], s0);
    this.top = this.slots[s0];
    this.bottom = this.slots[s1];
    this.weight = this.ym.w[y];
  }
}

/**
 * Streams the bilinear upsampling of several same-sized planes (`h` x `w`) to `H` x `W`, one output
 * row at a time: `onRow(y, rows)` gets, for every plane, a reused Float64Array of `W` values. Memory:
 * two horizontally resampled source rows per plane. Rows come in order 0..H-1.
 */
export function upsampleRows(
  planes: readonly Float32Array[],
  h: number,
  w: number,
  H: number,
  W: number,
  onRow: (y: number, rows: readonly Float64Array[]) => void,
  maps?: { ym: AxisMap; xm: AxisMap },
): void {
  for (const p of planes) {
    if (p.length < h * w) throw new RangeError(`upsampleRows: plane has ${p.length} values, expected ${h * w}`);
  }
  const sampler = new RowSampler(planes, w, maps?.ym ?? axisMap(H, h), maps?.xm ?? axisMap(W, w));
  const out = planes.map(() => new Float64Array(W));
  for (let y = 0; y < H; y++) {
    sampler.prepare(y);
    const f = sampler.weight;
    for (let c = 0; c < planes.length; c++) {
      const a = sampler.top[c];
      const b = sampler.bottom[c];
      const o = out[c];
      for (let x = 0; x < W; x++) o[x] = (1 - f) * a[x] + f * b[x];
    }
    onRow(y, out);
  }
}

/** Coarse full-resolution outputs of {@link upsampleCoarse}. */
export interface CoarseOutputs {
  /** 8-bit alpha, `H * W`. */
  alpha: Uint8Array;
  /** 8-bit RGB foreground `clamp(shot + fgr_res)` (the shot itself where the 8-bit alpha is 0 or 255), `H * W * 3`. */
  foreground: Uint8Array;
}

/** The base outputs {@link CoarseUpsampler} reads, all `h` x `w` planes. */
export interface CoarseBase {
  h: number;
  w: number;
  /** Coarse alpha, 0..1. */
  alpha: Float32Array;
  /** Foreground residual over the shot, per channel. */
  fgrRes: readonly [Float32Array, Float32Array, Float32Array];
  /**
   * Guided upsampling: coefficients [a_r, a_g, a_b, b] solved at this size against the guide
   * {@link differenceGuide} (shot minus plate), and the full-resolution plate. Full-resolution
   * alpha is then `a . guide + b` with the coefficients upsampled bilinearly (the fast guided
   * filter's last step) instead of the upsampled coarse alpha.
   */
  guided?: { coef: readonly [Float32Array, Float32Array, Float32Array, Float32Array]; plate: Uint8Array };
}

/**
 * The guide of guided upsampling, per channel the byte `(shot - plate + 256) >> 1` (128 where the
 * shot shows the plate). Compositing makes `shot - plate = alpha * (F - plate)`, linear in alpha
 * wherever foreground and plate colours are locally constant, which is the guided filter's local
 * model; and a background that matches its plate is flat in this guide, so its texture cannot leak
 * into alpha the way it does with the shot itself as guide.
 */
export function differenceGuide(shot: Uint8Array, plate: Uint8Array, out = new Uint8Array(shot.length)): Uint8Array {
  for (let i = 0; i < shot.length; i++) out[i] = (shot[i] - plate[i] + 256) >> 1;
  return out;
}

/** DIFF_TO_GUIDE[255 + shot - plate] = the full-resolution value of {@link differenceGuide}'s byte / 255. */
const DIFF_TO_GUIDE = Float64Array.from({ length: 511 }, (_, d) => ((d + 1) >> 1) / 255);

/** Coarse alpha at or beyond this of 0 or 1 (half an 8-bit level) is outside the transition band. */
const BAND = 0.5 / 255;

/** Guided coefficients within this of flat (a = 0, b = 0 or 1) change an 8-bit alpha by < 0.03 levels. */
const FLAT = 1e-4;

/**
 * Resumable form of {@link upsampleCoarse}: `rows(y0, y1)` writes output rows `[y0, y1)` (call in
 * order), so a caller can yield to the event loop between chunks of a 30 MP frame.
 */
export class CoarseUpsampler {
  /** 8-bit alpha, `H * W`. */
  readonly alpha: Uint8Array;
  /** 8-bit RGB foreground, `H * W * 3`. */
  readonly foreground: Uint8Array;
  private readonly sampler: RowSampler;
  /**
   * Guided upsampling only: per base pixel, 1 where the coefficients can differ from plain bilinear
   * alpha (any a_c != 0, or b strictly between 0 and 1); elsewhere a . I + b = b = the flat coarse
   * alpha, so the cheaper bilinear value is used. `activeX` caches the output columns touching an
   * active base pixel for the source rows `activeRow` and the one below it (ym.i1 follows from ym.i0).
   */
  private readonly active: Uint8Array | null = null;
  private readonly activeX: Uint8Array;
  private activeRow = -1;
  private readonly baseW: number;
  private readonly plate: Uint8Array | null;

  constructor(
    private readonly shot: Uint8Array,
    readonly H: number,
    readonly W: number,
    base: CoarseBase,
    maps?: { ym: AxisMap; xm: AxisMap },
  ) {
    if (shot.length !== H * W * 3) throw new RangeError(`upsampleCoarse: shot has ${shot.length} bytes, expected ${H * W * 3}`);
    const planes = [base.alpha, base.fgrRes[0], base.fgrRes[1], base.fgrRes[2], ...(base.guided?.coef ?? [])];
    this.baseW = base.w;
    this.activeX = new Uint8Array(base.guided ? W : 0);
    this.plate = base.guided?.plate ?? null;
    if (this.plate !== null && this.plate.length !== H * W * 3) {
      throw new RangeError(`upsampleCoarse: plate has ${this.plate.length} bytes, expected ${H * W * 3}`);
    }
    if (base.guided) {
      const [kr, kg, kb, k0] = base.guided.coef;
      const n = base.h * base.w;
      const active = new Uint8Array(n);
      for (let i = 0; i < n; i++) {
        const b = k0[i];
        active[i] = Math.abs(kr[i]) + Math.abs(kg[i]) + Math.abs(kb[i]) > FLAT || (b > FLAT && b < 1 - FLAT) ? 1 : 0;
      }
      this.active = active;
    }
    for (const p of planes) {
      if (p.length < base.h * base.w) throw new RangeError(`upsampleCoarse: plane has ${p.length} values, expected ${base.h * base.w}`);
    }
    this.alpha = new Uint8Array(H * W);
    this.foreground = new Uint8Array(H * W * 3);
    this.sampler = new RowSampler(planes, base.w, maps?.ym ?? axisMap(H, base.h), maps?.xm ?? axisMap(W, base.w));
  }

  /** Writes output rows `y0 .. y1-1`. */
  rows(y0: number, y1: number): void {
    const { alpha, foreground, shot, W, sampler } = this;
    const plate = this.plate ?? shot;
    const diff = DIFF_TO_GUIDE;
    // Vertical blend fused with quantisation: byte(v) below is toByte(v) inlined (for 0 < v < 1,
    // Math.round(v * 255) === (v * 255 + 0.5) | 0), and LUT[k] === k / 255.
    const lut = BYTE_TO_UNIT;
    for (let y = y0; y < Math.min(y1, this.H); y++) {
      sampler.prepare(y);
      const f = sampler.weight;
      const g = 1 - f;
      const [at, rt, gt, bt, kRt, kGt, kBt, kt] = sampler.top;
      const [ab, rb, gb, bb, kRb, kGb, kBb, kb] = sampler.bottom;
      const rowA = y * W;
      const act = this.activeColumns(y);
      for (let x = 0; x < W; x++) {
        const i = (rowA + x) * 3;
        const coarse = g * at[x] + f * ab[x];
        // Guided only inside the coarse transition band: where the upsampled coarse alpha is clear or
        // solid it stays so (the filter's window averaging would otherwise halo faint alpha around
        // the subject); inside the band, edges, holes and strands follow the guide.
        const a = act !== null && act[x] === 1 && coarse > BAND && coarse < 1 - BAND
          ? (g * kRt[x] + f * kRb[x]) * diff[255 + shot[i] - plate[i]] +
            (g * kGt[x] + f * kGb[x]) * diff[255 + shot[i + 1] - plate[i + 1]] +
            (g * kBt[x] + f * kBb[x]) * diff[255 + shot[i + 2] - plate[i + 2]] +
            (g * kt[x] + f * kb[x])
          : coarse;
        const a8 = a > 0 ? (a >= 1 ? 255 : (a * 255 + 0.5) | 0) : 0;
        alpha[rowA + x] = a8;
        if (a8 === 0 || a8 === 255) {
          // Opaque: the shot is the foreground (I = F at alpha 1); transparent: F is undefined.
          foreground[i] = shot[i];
          foreground[i + 1] = shot[i + 1];
          foreground[i + 2] = shot[i + 2];
          continue;
        }
        const r = lut[shot[i]] + (g * rt[x] + f * rb[x]);
        foreground[i] = r > 0 ? (r >= 1 ? 255 : (r * 255 + 0.5) | 0) : 0;
        const gg = lut[shot[i + 1]] + (g * gt[x] + f * gb[x]);
        foreground[i + 1] = gg > 0 ? (gg >= 1 ? 255 : (gg * 255 + 0.5) | 0) : 0;
        const b = lut[shot[i + 2]] + (g * bt[x] + f * bb[x]);
        foreground[i + 2] = b > 0 ? (b >= 1 ? 255 : (b * 255 + 0.5) | 0) : 0;
      }
    }
  }

  /** Guided upsampling: the output columns of row `y` that read an active base pixel (null: not guided). */
  private activeColumns(y: number): Uint8Array | null {
    const active = this.active;
    if (active === null) return null;
    const { ym, xm } = this.sampler;
    const r0 = ym.i0[y] * this.baseW;
    const r1 = ym.i1[y] * this.baseW;
    if (ym.i0[y] !== this.activeRow) {
      const out = this.activeX;
      const { i0, i1 } = xm;
      for (let x = 0; x < out.length; x++) out[x] = active[r0 + i0[x]] | active[r0 + i1[x]] | active[r1 + i0[x]] | active[r1 + i1[x]];
      this.activeRow = ym.i0[y];
    }
    return this.activeX;
  }
}

/**
 * One streaming pass from base resolution to full resolution: writes 8-bit alpha and foreground
 * (`shot/255 + fgr_res`, clamped; the shot itself where the 8-bit alpha is 0 or 255: an opaque pixel's
 * foreground is what the camera saw, a transparent one's is undefined). Never holds a full-resolution
 * float plane.
 *
 * @param shot full-resolution RGB, `H * W * 3` bytes.
 * @param base the base outputs at `h` x `w`: alpha and the three fgr_res channels.
 */
export function upsampleCoarse(
  shot: Uint8Array,
  H: number,
  W: number,
  base: CoarseBase,
  maps?: { ym: AxisMap; xm: AxisMap },
): CoarseOutputs {
  const u = new CoarseUpsampler(shot, H, W, base, maps);
  u.rows(0, H);
  return { alpha: u.alpha, foreground: u.foreground };
}

/** Patch-grid size for an `H` x `W` image: `ceil(W / patch)` x `ceil(H / patch)` cells from (0, 0). */
export function gridShape(H: number, W: number, patch: number): { cellsX: number; cellsY: number } {
  return { cellsX: Math.ceil(W / patch), cellsY: Math.ceil(H / patch) };
}

/**
 * Per-cell error: the base error map (`h` x `w`) bilinearly resampled (half-pixel centres) to the
 * patch grid, `cellsY * cellsX` row-major, as the Python reference (`patches.cell_error`) does.
 */
export function cellErrors(error: Float32Array, h: number, w: number, cellsY: number, cellsX: number): Float32Array {
  const out = new Float32Array(cellsY * cellsX);
  upsampleRows([error], h, w, cellsY, cellsX, (y, rows) => out.set(rows[0], y * cellsX));
  return out;
}

/**
 * How patches are chosen (docs/neural-contract.md, "Patch grid, selection and write-back"). `maxPatches` (optional, 0 or absent: no cap)
 * bounds the count in either mode; when more cells qualify, the ones with the largest error win.
 */
export type SelectionRule =
  | { mode: 'budget'; pixelBudget: number; maxPatches?: number }
  | { mode: 'threshold'; threshold: number; maxPatches?: number };

/**
 * Cells to refine, as ascending row-major cell indices.
 * budget: the `k = round(pixelBudget * H * W / patch^2)` cells with the largest error (ties: lower
 * index first), at most all cells; threshold: every cell whose mean error is greater than threshold.
 * Either way at most `maxPatches` cells (the largest errors) when that is set. NaN errors are never
 * selected.
 */
export function selectCells(cellError: Float32Array, rule: SelectionRule, H: number, W: number, patch: number): Uint32Array {
  const n = cellError.length;
  const cap = rule.maxPatches && rule.maxPatches > 0 ? Math.floor(rule.maxPatches) : Infinity;
  if (rule.mode === 'threshold') {
    let count = 0;
    for (let i = 0; i < n; i++) if (cellError[i] > rule.threshold) count++;
    if (count > cap) return largestCells(cellError, cap);
    const out = new Uint32Array(count);
    for (let i = 0, j = 0; i < n; i++) if (cellError[i] > rule.threshold) out[j++] = i;
    return out;
  }
  return largestCells(cellError, Math.min(cap, Math.max(0, Math.round((rule.pixelBudget * H * W) / (patch * patch)))));
}

/** The `k` cells with the largest error (ties: lower index first; NaN never), ascending indices. */
function largestCells(cellError: Float32Array, k: number): Uint32Array {
  const n = cellError.length;
  let valid = 0;
  for (let i = 0; i < n; i++) if (!Number.isNaN(cellError[i])) valid++;
  k = Math.min(valid, k);
  if (k === 0) return new Uint32Array(0);
  // k-th largest value by a native numeric sort of a copy; then take all above it and, in index
  // order, as many equal to it as fit.
  const sorted = Float32Array.from(cellError).sort(); // ascending, NaN last
  const kth = sorted[valid - k];
  let above = 0;
  for (let i = 0; i < n; i++) if (cellError[i] > kth) above++;
  let ties = k - above;
  const out = new Uint32Array(k);
  let j = 0;
  for (let i = 0; i < n; i++) {
    const v = cellError[i];
    if (v > kth) out[j++] = i;
    else if (v === kth && ties > 0) {
      out[j++] = i;
      ties--;
    }
  }
  return out;
}

/** Everything {@link extractWindows} reads. */
export interface WindowSource {
  /** Full-resolution RGB shot and plate, `H * W * 3` bytes each. */
  shot: Uint8Array;
  plate: Uint8Array;
  H: number;
  W: number;
  /** Base outputs at `h` x `w`, in refiner channel order: alpha, fgr_res (3), hidden (C). */
  planes: readonly Float32Array[];
  h: number;
  w: number;
  /** Full-res <- base sampling tables (`axisMap(H, h)`, `axisMap(W, w)`). */
  ym: AxisMap;
  xm: AxisMap;
  /** Patch size (8) and context (4): windows are `patch + 2 * context` square. */
  patch: number;
  context: number;
  /** Width of the patch grid, `ceil(W / patch)`. */
  cellsX: number;
}

/**
 * Writes the refiner input for `cells[start .. start+count)` into `out` ([count, 6 + planes, S, S],
 * S = patch + 2*context, NCHW float32): shot RGB and plate RGB as 0..1, then the upsampled base
 * planes, all sampled at the window's full-res pixel positions clamped to the image.
 */
export function extractWindows(src: WindowSource, cells: Uint32Array, start: number, count: number, out: Float32Array): void {
  const { shot, plate, H, W, planes, w, ym, xm, patch, context, cellsX } = src;
  const S = patch + 2 * context;
  const SS = S * S;
  const C = 6 + planes.length;
  if (out.length < count * C * SS) throw new RangeError(`extractWindows: out holds ${out.length} values, needs ${count * C * SS}`);
  const ys = new Int32Array(S);
  const xs = new Int32Array(S);
  // Per window: base columns/weights of its S columns, and for its S rows the two slots (into the
  // list of distinct base rows it touches) and the weight. A window spans few base rows, so each
  // plane is first resampled horizontally on those rows only, then blended vertically: the same
  // expression as bilinearAt / upsampleRows, hence bit-identical values.
  const x0 = new Int32Array(S);
  const x1 = new Int32Array(S);
  const wx = new Float64Array(S);
  const slotA = new Int32Array(S);
  const slotB = new Int32Array(S);
  const wy = new Float64Array(S);
  const rowOf = new Int32Array(2 * S); // distinct base rows of the window
  const hrow = new Float64Array(2 * S * S);
  const inv = 1 / 255;
  for (let n = 0; n < count; n++) {
    const cell = cells[start + n];
    const cy = Math.floor(cell / cellsX);
    const cx = cell - cy * cellsX;
    const top = cy * patch - context;
    const left = cx * patch - context;
    for (let i = 0; i < S; i++) {
      const y = top + i;
      ys[i] = y < 0 ? 0 : y >= H ? H - 1 : y;
      const x = left + i;
      const xc = x < 0 ? 0 : x >= W ? W - 1 : x;
      xs[i] = xc;
      x0[i] = xm.i0[xc];
      x1[i] = xm.i1[xc];
      wx[i] = xm.w[xc];
    }
    let rows = 0;
    const slotOf = (r: number): number => {
      for (let k = rows - 1; k >= 0; k--) if (rowOf[k] === r) return k;
      rowOf[rows] = r;
      return rows++;
    };
    for (let i = 0; i < S; i++) {
      const y = ys[i];
      slotA[i] = slotOf(ym.i0[y]);
      slotB[i] = slotOf(ym.i1[y]);
      wy[i] = ym.w[y];
    }
    const o = n * C * SS;
    for (let i = 0; i < S; i++) {
      const rowOff = ys[i] * W;
      for (let j = 0; j < S; j++) {
        const p = (rowOff + xs[j]) * 3;
        const k = i * S + j;
        out[o + k] = shot[p] * inv;
        out[o + SS + k] = shot[p + 1] * inv;
        out[o + 2 * SS + k] = shot[p + 2] * inv;
        out[o + 3 * SS + k] = plate[p] * inv;
        out[o + 4 * SS + k] = plate[p + 1] * inv;
        out[o + 5 * SS + k] = plate[p + 2] * inv;
      }
    }
    for (let c = 0; c < planes.length; c++) {
      const plane = planes[c];
      for (let r = 0; r < rows; r++) {
        const base = rowOf[r] * w;
        const hr = r * S;
        for (let j = 0; j < S; j++) {
          const f = wx[j];
          hrow[hr + j] = (1 - f) * plane[base + x0[j]] + f * plane[base + x1[j]];
        }
      }
      const oc = o + (6 + c) * SS;
      for (let i = 0; i < S; i++) {
        const a = slotA[i] * S;
        const b = slotB[i] * S;
        const f = wy[i];
        const oi = oc + i * S;
        for (let j = 0; j < S; j++) out[oi + j] = (1 - f) * hrow[a + j] + f * hrow[b + j];
      }
    }
  }
}

/** The in-image pixels of patch cell `cell` (row-major on a grid `cellsX` wide): top-left corner and size. */
export function patchRect(cell: number, cellsX: number, patch: number, H: number, W: number): { y0: number; x0: number; rows: number; cols: number } {
  const cy = Math.floor(cell / cellsX);
  const y0 = cy * patch;
  const x0 = (cell - cy * cellsX) * patch;
  return { y0, x0, rows: Math.min(patch, H - y0), cols: Math.min(patch, W - x0) };
}

/**
 * Writes refined patch centres back into the full-resolution 8-bit alpha and foreground (in-image
 * pixels only). `refAlpha` is [count, 1, patch, patch], `refFgr` [count, 3, patch, patch], for
 * `cells[start .. start+count)`; foreground = `clamp(shot/255 + fgr_res)`, or the shot where the 8-bit alpha
 * is 0 or 255 (as in {@link upsampleCoarse}).
 */
export function writeBackPatches(
  target: { alpha: Uint8Array; foreground: Uint8Array; shot: Uint8Array; H: number; W: number; patch: number; cellsX: number },
  cells: Uint32Array,
  start: number,
  count: number,
  refAlpha: Float32Array,
  refFgr: Float32Array,
): void {
  const { alpha, foreground, shot, H, W, patch, cellsX } = target;
  const PP = patch * patch;
  for (let n = 0; n < count; n++) {
    const { y0, x0, rows, cols } = patchRect(cells[start + n], cellsX, patch, H, W);
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        const q = (y0 + i) * W + x0 + j;
        const k = i * patch + j;
        const a8 = toByte(refAlpha[n * PP + k]);
        alpha[q] = a8;
        const f = n * 3 * PP + k;
        const p = q * 3;
        if (a8 === 0 || a8 === 255) {
          foreground[p] = shot[p];
          foreground[p + 1] = shot[p + 1];
          foreground[p + 2] = shot[p + 2];
          continue;
        }
        foreground[p] = toByte(shot[p] / 255 + refFgr[f]);
        foreground[p + 1] = toByte(shot[p + 1] / 255 + refFgr[f + PP]);
        foreground[p + 2] = toByte(shot[p + 2] / 255 + refFgr[f + 2 * PP]);
      }
    }
  }
}

/** Converts interleaved 8-bit RGB (`w * h * 3`) to planar float32 NCHW 0..1 (`3 * h * w`). */
export function rgbToPlanar(rgb: Uint8Array, w: number, h: number, out = new Float32Array(3 * w * h)): Float32Array {
  const n = w * h;
  if (rgb.length !== n * 3) throw new RangeError(`rgbToPlanar: ${rgb.length} bytes for ${w}x${h}`);
  for (let i = 0; i < n; i++) {
    out[i] = rgb[i * 3] / 255;
    out[n + i] = rgb[i * 3 + 1] / 255;
    out[2 * n + i] = rgb[i * 3 + 2] / 255;
  }
  return out;
}

/**
 * Mirrors `channels` planes of `h * w` values left-right into `out` (a new array by default).
 * `src` and `out` must not overlap.
 */
export function mirrorPlanes(src: Float32Array, channels: number, h: number, w: number, out = new Float32Array(channels * h * w)): Float32Array {
  if (src.length !== channels * h * w || out.length !== src.length) {
    throw new RangeError(`mirrorPlanes: ${src.length} values for ${channels}x${h}x${w}`);
  }
  for (let r = 0; r < channels * h; r++) {
    const row = r * w;
    for (let x = 0; x < w; x++) out[row + x] = src[row + w - 1 - x];
  }
  return out;
}

/**
 * Flip averaging of base outputs, in place: `dst = (dst + mirror(mirrored)) / 2`, where `mirrored`
 * is the network's output for the mirrored input (`channels` planes of `h * w`).
 */
export function averageMirrored(dst: Float32Array, mirrored: Float32Array, channels: number, h: number, w: number): void {
  if (dst.length !== channels * h * w || mirrored.length !== dst.length) {
    throw new RangeError(`averageMirrored: ${dst.length} and ${mirrored.length} values for ${channels}x${h}x${w}`);
  }
  for (let r = 0; r < channels * h; r++) {
    const row = r * w;
    for (let x = 0; x < w; x++) dst[row + x] = (dst[row + x] + mirrored[row + w - 1 - x]) * 0.5;
  }
}

/**
 * How much refinement changed each patch: the mean absolute difference (0..1) between the refined
 * alpha and the 8-bit alpha currently in `alpha` over the patch's in-image pixels, for
 * `cells[start .. start+count)`, written to `out[start .. start+count)`. Call before
 * {@link writeBackPatches} overwrites the coarse values.
 */
export function patchChanges(
  target: { alpha: Uint8Array; H: number; W: number; patch: number; cellsX: number },
  cells: Uint32Array,
  start: number,
  count: number,
  refAlpha: Float32Array,
  out: Float32Array,
): void {
  const { alpha, H, W, patch, cellsX } = target;
  const PP = patch * patch;
  for (let n = 0; n < count; n++) {
    const { y0, x0, rows, cols } = patchRect(cells[start + n], cellsX, patch, H, W);
    let sum = 0;
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        sum += Math.abs(toByte(refAlpha[n * PP + i * patch + j]) - alpha[(y0 + i) * W + x0 + j]);
      }
    }
    out[start + n] = sum / (255 * rows * cols);
  }
}

/**
 * The next round of refinement: the not yet refined 8-neighbours of every cell whose refinement
 * changed it by more than `minChange` (see {@link patchChanges}), ascending indices, at most
 * `limit` (neighbours of the most changed cells first). Marks the returned cells in `refined`.
 * Where the refiner corrected a patch a lot, the coarse alpha around it is likely wrong too, and a
 * corrected patch beside an uncorrected one is a visible seam.
 */
export function growCells(
  cells: Uint32Array,
  changes: Float32Array,
  minChange: number,
  refined: Uint8Array,
  cellsX: number,
  cellsY: number,
  limit: number,
): Uint32Array {
  const order = Array.from(cells.keys()).filter((i) => changes[i] > minChange);
  order.sort((a, b) => changes[b] - changes[a] || cells[a] - cells[b]);
  const picked: number[] = [];
  for (const i of order) {
    if (picked.length >= limit) break;
    const cy = Math.floor(cells[i] / cellsX);
    const cx = cells[i] - cy * cellsX;
    for (let dy = -1; dy <= 1 && picked.length < limit; dy++) {
      for (let dx = -1; dx <= 1 && picked.length < limit; dx++) {
        const y = cy + dy;
        const x = cx + dx;
        if (y < 0 || x < 0 || y >= cellsY || x >= cellsX) continue;
        const c = y * cellsX + x;
        if (refined[c]) continue;
        refined[c] = 1;
        picked.push(c);
      }
    }
  }
  return Uint32Array.from(picked.sort((a, b) => a - b));
}
