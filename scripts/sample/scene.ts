/**
 * The empty studio scene (the plate): seamless grey paper with a soft
 * hotspot, a darker cove and a lens vignette, and a linen-covered dress form
 * on a chrome pole and cast-iron base, lit by a key light from the upper left
 * and a weaker fill from the right. The smooth backdrop is evaluated on a
 * coarse grid and upsampled by sharp; the form is drawn row by row straight
 * into the 8-bit RGB buffer (no full-frame float copies), so 30 MP stays cheap.
 */
import sharp from 'sharp';
import type { RgbImage } from '../../src/image/types.js';
import { blurLowRes, LowResMap, lowResFrom } from './lowres.js';
import { Frame, MANNEQUIN, makeFrame, Shift } from './shapes.js';

/** Options of {@link makeMannequinScene}. */
export interface SceneOptions {
  width: number;
  height: number;
  /** Camera shift of this frame in output pixels (the lens vignette stays put). */
  shift?: Shift;
  /** Exposure multiplier (1 = the plate's exposure). */
  gain?: number;
  /** An extra soft shadow cast on the paper (e.g. by a garment). */
  castShadow?: CastShadow;
}

/** A soft shadow on the paper: a blurred silhouette map, its offset and its depth. */
export interface CastShadow {
  map: LowResMap;
  /** Offset of the shadow from the silhouette, in design units. */
  dx: number;
  dy: number;
  /** Darkening at full cover (0..1). */
  strength: number;
}

const norm3 = (x: number, y: number, z: number): [number, number, number] => {
  const l = Math.hypot(x, y, z);
  return [x / l, y / l, z / l];
};

/** Direction towards the key light (upper left, in front); screen Y points down. */
export const KEY_LIGHT = norm3(-0.5, -0.6, 0.62);
/** Direction towards the fill light (right, in front). */
export const FILL_LIGHT = norm3(0.7, -0.1, 0.7);

/** Diffuse studio lighting for a unit normal: about 0.96 for a surface facing the camera. */
export function lambert(nx: number, ny: number, nz: number): number {
  const k = nx * KEY_LIGHT[0] + ny * KEY_LIGHT[1] + nz * KEY_LIGHT[2];
  const f = nx * FILL_LIGHT[0] + ny * FILL_LIGHT[1] + nz * FILL_LIGHT[2];
  return 0.45 + 0.62 * Math.max(0, k) + 0.18 * Math.max(0, f);
}

/** Hermite smoothstep. */
export function smoothstep(e0: number, e1: number, x: number): number {
  const t = Math.min(1, Math.max(0, (x - e0) / (e1 - e0)));
  return t * t * (3 - 2 * t);
}

/** Clamp to [0, 1]. */
export function clamp01(v: number): number {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Vignette coefficients: `v = 1 - K1 * r^2 - K2 * r^4`, r = distance from the centre / half-diagonal. */
export const VIGNETTE_K1 = 0.16;
/** See {@link VIGNETTE_K1}. */
export const VIGNETTE_K2 = 0.06;

/** Lens vignette at output pixel (x, y): 1 in the centre, about 0.78 in the corners. */
export function vignette(frame: Frame, x: number, y: number): number {
  const hx = frame.width / 2;
  const hy = frame.height / 2;
  const r2 = ((x + 0.5 - hx) ** 2 + (y + 0.5 - hy) ** 2) / (hx * hx + hy * hy);
  return 1 - VIGNETTE_K1 * r2 - VIGNETTE_K2 * r2 * r2;
}

/** Rough coverage of the dress form in design units (for its cast shadow). */
function mannequinCoverage(X: number, Y: number): number {
  const m = MANNEQUIN;
  const dx = Math.abs(X - m.cx);
  if (dx < m.torso.at(Y)) return 1;
  if (Y >= m.pole.top && Y <= m.pole.bottom && dx < m.pole.halfWidth) return 1;
  if (((X - m.cap.cx) / m.cap.rx) ** 2 + ((Y - m.cap.cy) / m.cap.ry) ** 2 < 1) return 1;
  return 0;
}

let mannequinShadowMap: LowResMap | null = null;

/** The dress form's own soft shadow on the paper (present in plate and shots alike). */
export function mannequinShadow(): CastShadow {
  mannequinShadowMap ??= blurLowRes(lowResFrom(mannequinCoverage), 5);
  return { map: mannequinShadowMap, dx: 46, dy: 30, strength: 0.12 };
}

/** Linen-covered form colour (off-white). */
const LINEN: [number, number, number] = [0.935, 0.918, 0.878];
/** Grey seamless paper. */
const PAPER: [number, number, number] = [0.842, 0.838, 0.835];

/** Per-frame column lookups for bilinear sampling of low-res maps. */
interface ColumnSampler {
  i0: Int32Array;
  t: Float32Array;
}

/** Column lookups at device positions `xs` (continuous coordinates; pixel x has its centre at x + 0.5). */
function columnSampler(frame: Frame, cell: number, dxDesign: number, xs: Float64Array): ColumnSampler {
  const i0 = new Int32Array(xs.length);
  const t = new Float32Array(xs.length);
  for (let x = 0; x < xs.length; x++) {
    const f = ((xs[x] - frame.ox) / frame.scale - dxDesign) / cell - 0.5;
    const i = Math.floor(f);
    i0[x] = i;
    t[x] = f - i;
  }
  return { i0, t };
}

/** Per map row, the first and last column holding a value above 1e-4 (hi < lo when the row is empty). */
const supportCache = new WeakMap<LowResMap, { lo: Int32Array; hi: Int32Array }>();

function support(map: LowResMap): { lo: Int32Array; hi: Int32Array } {
  let s = supportCache.get(map);
  if (!s) {
    const lo = new Int32Array(map.height).fill(map.width);
    const hi = new Int32Array(map.height).fill(-1);
    for (let j = 0; j < map.height; j++) {
      for (let i = 0; i < map.width; i++) {
        if (map.data[j * map.width + i] > 1e-4) {
          if (i < lo[j]) lo[j] = i;
          hi[j] = i;
        }
      }
    }
    s = { lo, hi };
    supportCache.set(map, s);
  }
  return s;
}

/** Max-combines `strength * map(X - dx, Y - dy)` into a row of shadow values (only where the map row is non-zero). */
function shadowRow(s: CastShadow, cols: ColumnSampler, Y: number, out: Float32Array): void {
  const map = s.map;
  const fy = (Y - s.dy) / map.cell - 0.5;
  const j = Math.floor(fy);
  const ty = fy - j;
  if (j < -1 || j >= map.height) return;
  const sup = support(map);
  let lo = map.width;
  let hi = -1;
  for (let jj = j; jj <= j + 1; jj++) {
    if (jj >= 0 && jj < map.height && sup.hi[jj] >= sup.lo[jj]) {
      lo = Math.min(lo, sup.lo[jj]);
      hi = Math.max(hi, sup.hi[jj]);
    }
  }
  if (hi < lo) return;
  // Columns are sorted by position: binary-search the first one that can touch [lo - 1, hi + 1].
  const ci = cols.i0;
  let a = 0;
  let b = ci.length;
  while (a < b) {
    const mid = (a + b) >> 1;
    if (ci[mid] < lo - 1) a = mid + 1;
    else b = mid;
  }
  const w = map.width;
  const d = map.data;
  const r0 = j >= 0 ? j * w : -1;
  const r1 = j + 1 < map.height ? (j + 1) * w : -1;
  for (let x = a; x < ci.length; x++) {
    const i = ci[x];
    if (i > hi) break;
    if (i < -1 || i >= w) continue;
    const tx = cols.t[x];
    const a0 = r0 >= 0 && i >= 0 ? d[r0 + i] : 0;
    const a1 = r0 >= 0 && i + 1 < w ? d[r0 + i + 1] : 0;
    const b0 = r1 >= 0 && i >= 0 ? d[r1 + i] : 0;
    const b1 = r1 >= 0 && i + 1 < w ? d[r1 + i + 1] : 0;
    const v = s.strength * ((a0 * (1 - tx) + a1 * tx) * (1 - ty) + (b0 * (1 - tx) + b1 * tx) * ty);
    if (v > out[x]) out[x] = v;
  }
}

/** Device-pixel x-range [x0, x1) covering design X in [X0, X1] (with a 2-pixel margin). */
function xRange(frame: Frame, X0: number, X1: number): [number, number] {
  const x0 = Math.max(0, Math.floor(X0 * frame.scale + frame.ox) - 2);
  const x1 = Math.min(frame.width, Math.ceil(X1 * frame.scale + frame.ox) + 2);
  return [x0, x1];
}

/** "Over" of colour (r, g, b) with coverage `a` onto row position x. */
function over(row: Float32Array, x: number, a: number, r: number, g: number, b: number): void {
  const i = x * 3;
  row[i] += a * (r - row[i]);
  row[i + 1] += a * (g - row[i + 1]);
  row[i + 2] += a * (b - row[i + 2]);
}

/** Coverage of an ellipse at design point (X, Y), anti-aliased over one output pixel. */
function ellipseCoverage(X: number, Y: number, cx: number, cy: number, rx: number, ry: number, scale: number): number {
  const dx = X - cx;
  const dy = Y - cy;
  const ex = dx / rx;
  const ey = dy / ry;
  const f = ex * ex + ey * ey - 1;
  const gx = ex / rx;
  const gy = ey / ry;
  const g = 2 * Math.sqrt(gx * gx + gy * gy) + 1e-9;
  return clamp01(0.5 - (f / g) * scale);
}

/**
 * Renders the studio scene without noise: paper backdrop plus dress form,
 * camera-shifted, exposure-scaled and vignetted. This is the background term
 * B of `shot = a*F + (1-a)*B`. The backdrop (smooth: light falloff, soft
 * shadows, vignette) is evaluated on a grid about 4 design units apart and
 * upsampled by sharp (bilinear); the dress form is drawn at full resolution.
 */
export async function makeMannequinScene(opts: SceneOptions): Promise<RgbImage> {
  const frame = makeFrame(opts.width, opts.height, opts.shift);
  const { width: W, height: H } = frame;
  const gain = opts.gain ?? 1;
  const shadows = [mannequinShadow(), ...(opts.castShadow ? [opts.castShadow] : [])];
  const f = Math.max(1, Math.round(4 * frame.scale));
  const cw = Math.ceil(W / f);
  const ch = Math.ceil(H / f);
  const xs = new Float64Array(cw);
  const ys = new Float64Array(ch);
  for (let k = 0; k < cw; k++) xs[k] = (k + 0.5) * f;
  for (let k = 0; k < ch; k++) ys[k] = (k + 0.5) * f;
  const grid = backdropGrid(frame, gain, shadows, xs, ys);
  let data: Uint8Array;
  if (f === 1) data = grid;
  else {
    const up = await sharp(grid, { raw: { width: cw, height: ch, channels: 3 }, limitInputPixels: false })
      .resize(cw * f, ch * f, { kernel: 'linear', fit: 'fill' })
      .extract({ left: 0, top: 0, width: W, height: H })
      .raw()
      .toBuffer();
    data = new Uint8Array(up.buffer, up.byteOffset, up.length);
  }
  drawMannequin(frame, gain, data);
  return { width: W, height: H, data };
}

/**
 * The paper backdrop (light, shadows, vignette, exposure) in 8-bit RGB at
 * device positions `xs` x `ys` (continuous coordinates, pixel centres at +0.5).
 */
function backdropGrid(frame: Frame, gain: number, shadows: CastShadow[], xs: Float64Array, ys: Float64Array): Uint8Array {
  const m = MANNEQUIN;
  const s = frame.scale;
  const W = xs.length;
  const out = new Uint8Array(W * ys.length * 3);
  const clamped = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
  const shade = new Float32Array(W);
  const samplers = shadows.map((sh) => columnSampler(frame, sh.map.cell, sh.dx, xs));
  const colHot = new Float32Array(W);
  const lensX2 = new Float32Array(W);
  const colContact = new Float32Array(W);
  const hx = frame.width / 2;
  const hy = frame.height / 2;
  const diag2 = hx * hx + hy * hy;
  for (let x = 0; x < W; x++) {
    const X = (xs[x] - frame.ox) / s;
    colHot[x] = Math.exp(-((X - 600) * (X - 600)) / (2 * 520 * 520));
    lensX2[x] = ((xs[x] - hx) * (xs[x] - hx)) / diag2;
    const c = (X - m.base.cx) / 215;
    colContact[x] = Math.exp(-c * c);
  }
  const g255 = gain * 255;
  for (let y = 0; y < ys.length; y++) {
    const Y = (ys[y] - frame.oy) / s;
    // Illumination: hotspot behind the form, darker cove, brighter floor, slightly darker top.
    const rowHot = 0.1 * Math.exp(-((Y - 760) * (Y - 760)) / (2 * 700 * 700));
    const cv = (Y - m.coveY) / 75;
    const rowBase = 0.93 - 0.055 * Math.exp(-cv * cv) + 0.045 * smoothstep(m.coveY, m.coveY + 140, Y) - 0.02 * smoothstep(200, -200, Y);
    shade.fill(0);
    for (let k = 0; k < shadows.length; k++) shadowRow(shadows[k], samplers[k], Y, shade);
    // Contact shadow of the base on the floor.
    const cy = (Y - (m.base.cy + 12)) / 30;
    const contactRow = Math.abs(cy) < 4 ? 0.38 * Math.exp(-cy * cy) : 0;
    const lensY2 = ((ys[y] - hy) * (ys[y] - hy)) / diag2;
    const base = y * W * 3;
    for (let x = 0; x < W; x++) {
      const sh = contactRow > 0 ? 1 - (1 - shade[x]) * (1 - contactRow * colContact[x]) : shade[x];
      const r2 = lensX2[x] + lensY2;
      const v = (rowBase + rowHot * colHot[x]) * (1 - sh) * (1 - VIGNETTE_K1 * r2 - VIGNETTE_K2 * r2 * r2) * g255;
      const i = base + x * 3;
      // Uint8ClampedArray stores clamp to 0..255 and round to nearest.
      clamped[i] = PAPER[0] * v;
      clamped[i + 1] = PAPER[1] * v;
      clamped[i + 2] = PAPER[2] * v;
    }
  }
  return out;
}

/** Half-width (design units) of everything the dress form draws in design row Y, or 0. */
function mannequinHalfWidth(Y: number): number {
  const m = MANNEQUIN;
  let h = m.torso.at(Y) + 1;
  if (Y >= m.pole.top && Y <= m.pole.bottom + 4) h = Math.max(h, m.pole.halfWidth);
  if (Y >= m.collar.top && Y <= m.collar.bottom) h = Math.max(h, m.collar.halfWidth);
  if (Y >= m.base.cy - m.base.ry - 2 && Y <= m.base.cy + m.base.ry + m.base.thickness + 2) h = Math.max(h, m.base.rx);
  if (Y >= m.cap.cy - m.cap.ry - 30 && Y <= m.cap.cy + m.cap.ry + 12) h = Math.max(h, m.cap.rx);
  return h;
}

/** Draws the dress form over the (vignetted, exposure-scaled) backdrop in `out`, at full resolution. */
function drawMannequin(frame: Frame, gain: number, out: Uint8Array): void {
  const { width: W, height: H, scale: s } = frame;
  const m = MANNEQUIN;
  const row = new Float32Array(W * 3);
  const colX = new Float32Array(W);
  const lensX2 = new Float32Array(W);
  const fac = new Float32Array(W);
  const hx = W / 2;
  const hy = H / 2;
  const diag2 = hx * hx + hy * hy;
  for (let x = 0; x < W; x++) {
    colX[x] = (x + 0.5 - frame.ox) / s;
    lensX2[x] = ((x + 0.5 - hx) * (x + 0.5 - hx)) / diag2;
  }
  const clamped = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
  const torsoTop = m.torso.y0;
  const torsoBottom = m.torso.y1;
  const yTop = Math.max(0, Math.floor((m.cap.cy - m.cap.ry - 30) * s + frame.oy) - 2);
  const yBottom = Math.min(H, Math.ceil((m.base.cy + m.base.ry + m.base.thickness + 2) * s + frame.oy) + 2);
  for (let y = yTop; y < yBottom; y++) {
    const Y = (y + 0.5 - frame.oy) / s;
    const half = mannequinHalfWidth(Y);
    if (half <= 0) continue;
    const [xa, xb] = xRange(frame, m.cx - half, m.cx + half);
    if (xb <= xa) continue;
    // Load the backdrop of this span back into scene units.
    const lensY2 = ((y + 0.5 - hy) * (y + 0.5 - hy)) / diag2;
    const base = y * W * 3;
    for (let x = xa; x < xb; x++) {
      const r2 = lensX2[x] + lensY2;
      const f = (1 - VIGNETTE_K1 * r2 - VIGNETTE_K2 * r2 * r2) * gain * 255;
      fac[x] = f;
      const i = x * 3;
      row[i] = out[base + i] / f;
      row[i + 1] = out[base + i + 1] / f;
      row[i + 2] = out[base + i + 2] / f;
    }

    // Chrome pole.
    if (Y >= m.pole.top && Y <= m.pole.bottom + 4) {
      const hw = m.pole.halfWidth;
      const [x0, x1] = xRange(frame, m.cx - hw, m.cx + hw);
      for (let x = x0; x < x1; x++) {
        const dx = colX[x] - m.cx;
        const a = clamp01(0.5 + (hw - Math.abs(dx)) * s);
        if (a <= 0) continue;
        const nx = Math.max(-1, Math.min(1, dx / hw));
        const v = 0.22 + 0.62 * Math.exp(-(((nx + 0.38) / 0.2) ** 2)) + 0.3 * Math.exp(-(((nx - 0.62) / 0.12) ** 2)) + 0.12 * (1 - Math.abs(nx));
        over(row, x, a, v * 0.97, v * 0.98, v);
      }
    }
    // Collar where pole meets torso.
    if (Y >= m.collar.top && Y <= m.collar.bottom) {
      const hw = m.collar.halfWidth;
      const [x0, x1] = xRange(frame, m.cx - hw, m.cx + hw);
      for (let x = x0; x < x1; x++) {
        const dx = colX[x] - m.cx;
        const a = clamp01(0.5 + (hw - Math.abs(dx)) * s) * clamp01(0.5 + (Y - m.collar.top) * s) * clamp01(0.5 + (m.collar.bottom - Y) * s);
        if (a <= 0) continue;
        const nx = Math.max(-1, Math.min(1, dx / hw));
        const v = 0.09 + 0.2 * Math.exp(-(((nx + 0.4) / 0.25) ** 2));
        over(row, x, a, v, v, v * 1.05);
      }
    }
    // Cast-iron base: top face, then the rim band below it.
    const b = m.base;
    if (Y >= b.cy - b.ry - 2 && Y <= b.cy + b.ry + b.thickness + 2) {
      const [x0, x1] = xRange(frame, b.cx - b.rx, b.cx + b.rx);
      for (let x = x0; x < x1; x++) {
        const X = colX[x];
        const dx = X - b.cx;
        const aBottom = ellipseCoverage(X, Y, b.cx, b.cy + b.thickness, b.rx, b.ry, s);
        const band = Y >= b.cy && Y <= b.cy + b.thickness ? clamp01(0.5 + (b.rx - Math.abs(dx)) * s) : 0;
        const aSide = Math.max(aBottom, band);
        if (aSide > 0) {
          const nx = Math.max(-1, Math.min(1, dx / b.rx));
          const v = 0.1 + 0.16 * lambert(nx, 0, Math.sqrt(1 - nx * nx)) * 0.6;
          over(row, x, aSide, v, v, v * 1.04);
        }
        const aTop = ellipseCoverage(X, Y, b.cx, b.cy, b.rx, b.ry, s);
        if (aTop > 0) {
          const r = Math.hypot(dx / b.rx, (Y - b.cy) / b.ry);
          const v = 0.17 + 0.07 * (1 - r) + 0.06 * Math.exp(-(((dx + 60) / 50) ** 2) - (((Y - b.cy + 6) / 8) ** 2));
          over(row, x, aTop, v, v, v * 1.04);
        }
      }
    }
    // Torso (surface of revolution), with princess seams and a waist tape.
    if (Y >= torsoTop - 1 && Y <= torsoBottom + 1) {
      const w = m.torso.at(Y);
      const wp = m.torso.slope(Y);
      const inv = 1 / Math.sqrt(1 + wp * wp);
      const topCut = clamp01(0.5 + (Y - torsoTop) * s);
      if (w > 0) {
        const [x0, x1] = xRange(frame, m.cx - w, m.cx + w);
        for (let x = x0; x < x1; x++) {
          const X = colX[x];
          const dx = X - m.cx;
          const a = clamp01(0.5 + (w - Math.abs(dx)) * inv * s) * topCut;
          if (a <= 0) continue;
          const nx = Math.max(-1, Math.min(1, dx / w));
          const nz0 = Math.sqrt(1 - nx * nx);
          let v = lambert(nx * inv, -wp * inv, nz0 * inv);
          // Soft occlusion towards the silhouette and under the bust.
          v *= 0.9 + 0.1 * Math.sqrt(nz0);
          // Princess seams at |nx| = 0.42 and side seams at |nx| = 0.93.
          const seamD = Math.min(Math.abs(Math.abs(nx) - 0.42), Math.abs(Math.abs(nx) - 0.93)) * w;
          v *= 1 - 0.07 * clamp01(1.2 - seamD * s * 0.8) * clamp01(nz0 * 3);
          const tapeY = 842 + 7 * nz0;
          const tape = clamp01(0.5 + (4 - Math.abs(Y - tapeY)) * s);
          const r = LINEN[0] * v;
          const g = LINEN[1] * v;
          const bl = LINEN[2] * v;
          const t = 0.16 * v;
          over(row, x, a, r + tape * (t - r), g + tape * (t - g), bl + tape * (t * 1.05 - bl));
        }
      }
    }
    // Wooden neck cap (short cylinder) and knob.
    const c = m.cap;
    if (Y >= c.cy - c.ry - 30 && Y <= c.cy + c.ry + 12) {
      const [x0, x1] = xRange(frame, c.cx - c.rx, c.cx + c.rx);
      for (let x = x0; x < x1; x++) {
        const X = colX[x];
        const dx = X - c.cx;
        const nx = Math.max(-1, Math.min(1, dx / c.rx));
        const aBottom = ellipseCoverage(X, Y, c.cx, c.cy + 8, c.rx, c.ry, s);
        const band = Y >= c.cy && Y <= c.cy + 8 ? clamp01(0.5 + (c.rx - Math.abs(dx)) * s) : 0;
        const aSide = Math.max(aBottom, band);
        if (aSide > 0) {
          const v = lambert(nx, 0, Math.sqrt(1 - nx * nx)) * 0.62;
          over(row, x, aSide, 0.5 * v, 0.34 * v, 0.22 * v);
        }
        const aTop = ellipseCoverage(X, Y, c.cx, c.cy, c.rx, c.ry, s);
        if (aTop > 0) {
          const v = 0.56 + 0.1 * (1 - Math.abs(nx));
          over(row, x, aTop, 0.5 * v, 0.35 * v, 0.23 * v);
        }
        const k = m.knob;
        const kd = Math.hypot(dx, Y - k.cy);
        const aKnob = clamp01(0.5 + (k.r - kd) * s);
        if (aKnob > 0) {
          const kx = dx / k.r;
          const ky = (Y - k.cy) / k.r;
          const kz = Math.sqrt(Math.max(0, 1 - kx * kx - ky * ky));
          const v = lambert(kx, ky, kz) * 0.7 + 0.25 * Math.pow(Math.max(0, kx * -0.45 + ky * -0.55 + kz * 0.7), 30);
          over(row, x, aKnob, 0.48 * v, 0.33 * v, 0.22 * v);
        }
      }
    }
    for (let x = xa; x < xb; x++) {
      const f = fac[x];
      const i = x * 3;
      clamped[base + i] = row[i] * f;
      clamped[base + i + 1] = row[i + 1] * f;
      clamped[base + i + 2] = row[i + 2] * f;
    }
  }
}
