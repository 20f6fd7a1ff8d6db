/**
 * Garments for the ghost-mannequin sample: exact coverage (alpha) and
 * straight (un-premultiplied) colour F for a knit sweater with fuzz, a black
 * lace top, a striped top with suede fringe and a sheer chiffon shirt.
 * Outlines, cords and strands are rasterised by sharp/librsvg from SVG (one
 * single-channel render per layer, cropped to the garment's bounding box);
 * holes, translucency and cloth texture are per-pixel maths in design units,
 * anti-aliased over one output pixel; shading comes from a blurred silhouette
 * ("pillow" normals) precomputed on a coarse grid.
 */
import sharp from 'sharp';
import type { AlphaImage, RgbImage } from '../../src/image/types.js';
import { blurLowRes, gradientLowRes, LowResMap, LOWRES_CELL } from './lowres.js';
import { clamp01, lambert, smoothstep, VIGNETTE_K1, VIGNETTE_K2 } from './scene.js';
import {
  DESIGN_HEIGHT,
  DESIGN_WIDTH,
  Frame,
  GarmentKind,
  GarmentLayer,
  GarmentShape,
  garmentShape,
  garmentSvg,
  makeFrame,
  MANNEQUIN,
  shapeBounds,
  Shift,
} from './shapes.js';

/** Options of {@link makeGarment}. */
export interface GarmentOptions {
  width: number;
  height: number;
  /** Seed for fibres and strands (default 1). */
  seed?: number;
  /** Camera shift in output pixels (must match the scene it is composited on). */
  shift?: Shift;
  /** Exposure multiplier (must match the scene). */
  gain?: number;
}

/** A rendered garment: exact alpha, straight colour as the camera sees it, and a soft silhouette for cast shadows. */
export interface Garment {
  kind: GarmentKind;
  /** Straight (not premultiplied) colour; 0 where alpha is 0. */
  fg: RgbImage;
  /** Exact coverage, 0..255. */
  alpha: AlphaImage;
  /** Low-resolution blurred opacity in design space (for a shadow on the paper). */
  shadowMap: LowResMap;
}

/** What one pixel of garment evaluates to: coverage and straight linear-ish colour (0..1, before vignette). */
interface PixelOut {
  a: number;
  r: number;
  g: number;
  b: number;
}

/** Per-pixel inputs: design coordinates, SVG mask coverages (0..1), pillow-shading normal, output scale. */
interface PixelIn {
  X: number;
  Y: number;
  /** Whole outline (torso part and sleeves). */
  body: number;
  /** Sleeves only (knit, sheer). */
  sleeve: number;
  /** Torso part only (sheer: counts cloth layers). */
  torso: number;
  /** Edge cords (lace). */
  cord: number;
  /** Strands: fuzz, fringe, eyelash threads. */
  strand: number;
  /** Diffuse studio light on the pillow-shaded surface (about 0.96 facing the camera). */
  light: number;
  /** Z of the surface normal (1 facing the camera, towards 0 at the silhouette). */
  nz: number;
  /** Output pixels per design unit. */
  s: number;
}

type Shader = (p: PixelIn, out: PixelOut) => void;

const CX = MANNEQUIN.cx;

/** Table of sin over one period for {@link fsin} (4096 steps, linear interpolation: error < 1e-6). */
const SIN_N = 4096;
const SIN_TABLE = (() => {
  const t = new Float64Array(SIN_N + 1);
  for (let i = 0; i <= SIN_N; i++) t[i] = Math.sin((2 * Math.PI * i) / SIN_N);
  return t;
})();
const SIN_SCALE = SIN_N / (2 * Math.PI);

/** Fast table sine for texture maths (deterministic; |x| < 1e6). */
export function fsin(x: number): number {
  const f = x * SIN_SCALE;
  const i = Math.floor(f);
  const k = i & (SIN_N - 1);
  return SIN_TABLE[k] + (f - i) * (SIN_TABLE[k + 1] - SIN_TABLE[k]);
}

/** Fast table cosine (see {@link fsin}). */
export function fcos(x: number): number {
  return fsin(x + Math.PI / 2);
}

/** Centres of the six petal holes of a lace flower, relative to its centre (design units). */
const PETAL_HOLES: [number, number][] = Array.from({ length: 6 }, (_, k) => [0.21 * 30 * Math.cos((k * Math.PI) / 3), 0.21 * 30 * Math.sin((k * Math.PI) / 3)]);

/** Fraction of texture contrast to keep for a period of `period` design units at scale `s` (fades detail finer than ~2 px). */
function detail(period: number, s: number): number {
  return clamp01((period * s - 1.6) / 2);
}

/** Anti-aliased coverage of a signed distance `d` (design units, > 0 inside) at scale `s`. */
function cover(d: number, s: number): number {
  return clamp01(0.5 + d * s);
}

/** "Over" of a layer (coverage a, colour c) onto (acc): premultiplied accumulation. */
function layer(acc: PixelOut, a: number, r: number, g: number, b: number): void {
  acc.r = acc.r * (1 - a) + r * a;
  acc.g = acc.g * (1 - a) + g * a;
  acc.b = acc.b * (1 - a) + b * a;
  acc.a = acc.a * (1 - a) + a;
}

/** Turns premultiplied accumulation into straight colour. */
function unpremultiply(acc: PixelOut): void {
  if (acc.a > 1e-6) {
    acc.r /= acc.a;
    acc.g /= acc.a;
    acc.b /= acc.a;
  }
}

/** Cream cable-knit sweater: stockinette, two cables, ribbed hem/cuffs/neck, the inside back neck, fuzz. */
function knitShader(shape: GarmentShape): Shader {
  const cream: [number, number, number] = [0.962, 0.952, 0.925];
  return (p, out) => {
    const { X, Y, s } = p;
    const dx = X - CX;
    const adx = Math.abs(dx);
    let v = p.light;
    // Inside of the back neck, seen over the front neckline.
    let rib = Y > 1042 && Y > shape.hemY(X) - 40 ? 1 : 0;
    if (adx < 70 && Y < 420) {
      const q = (dx / 66) * (dx / 66);
      const frontNeck = 372 + 32 * (1 - Math.min(1, q));
      const backNeck = 362 + 10 * q;
      if (Y < frontNeck) {
        v *= 0.62;
        if (Y < backNeck + 9) rib = 1;
      } else if (Y < frontNeck + 12) rib = 1;
    }
    if (adx > 250 && Y > 1050) rib = 1;
    let tex: number;
    if (rib) {
      const k = detail(6, s);
      const c = fcos((2 * Math.PI * X) / 6);
      tex = 1 - k * 0.16 * (1 - c * c);
    } else {
      const k = detail(6, s);
      const u = X / 7;
      const fu = u - Math.floor(u) - 0.5;
      const wave = 0.5 + 0.5 * fcos(2 * Math.PI * (Y / 6 - 0.9 * Math.abs(fu)));
      const e = 4 * fu * fu;
      tex = 1 - k * (0.1 * (1 - wave) + 0.22 * e * e * e);
      // Two rope cables either side of the centre front.
      for (let side = -1; side <= 1; side += 2) {
        const t = (X - (CX + 74 * side)) / 17;
        if (Math.abs(t) < 1.35) {
          if (Math.abs(t) < 1) {
            const phase = (2 * Math.PI * Y) / 46;
            const rope = fcos((Math.PI * t) / 2) * (0.62 + 0.38 * fsin(phase + t * 2.4));
            tex = 0.8 + 0.22 * rope;
          } else tex *= 1 - 0.14 * detail(4, s);
        }
      }
    }
    v *= tex * (0.985 + 0.015 * fsin(X * 0.031 + fsin(Y * 0.017) * 2));
    out.a = 0;
    out.r = out.g = out.b = 0;
    layer(out, p.body, cream[0] * v, cream[1] * v, cream[2] * v);
    if (p.strand > 0) {
      const f = 0.8 + 0.2 * p.light;
      layer(out, p.strand, cream[0] * f, cream[1] * f, cream[2] * f * 0.99);
    }
    unpremultiply(out);
  };
}

/** Signed distance (> 0 on thread, design units) of the lace pattern at (X, Y): flowers with eyelets and petal holes, rings, bars, open holes. */
export function laceThread(X: number, Y: number): number {
  const P = 30;
  const rowH = P * 0.8660254;
  const j0 = Math.floor(Y / rowH);
  let best = Infinity;
  let ux = 0;
  let uy = 0;
  for (let j = j0 - 1; j <= j0 + 1; j++) {
    const off = j & 1 ? P / 2 : 0;
    const i0 = Math.round((X - off) / P);
    for (let i = i0 - 1; i <= i0 + 1; i++) {
      const dx = X - (i * P + off);
      const dy = Y - (j + 0.5) * rowH;
      const d2 = dx * dx + dy * dy;
      if (d2 < best) {
        best = d2;
        ux = dx;
        uy = dy;
      }
    }
  }
  const r = Math.sqrt(best);
  // |cos(3 theta)| from cos(theta) (Chebyshev T3), no atan2: six rounded petals.
  const c = r > 1e-9 ? ux / r : 1;
  const cos3 = Math.abs((4 * c * c - 3) * c);
  const flower = P * (0.11 + 0.23 * Math.sqrt(cos3)) - r;
  let hole2 = Infinity;
  for (const [hx, hy] of PETAL_HOLES) {
    const d2 = (ux - hx) * (ux - hx) + (uy - hy) * (uy - hy);
    if (d2 < hole2) hole2 = d2;
  }
  const petalHole = 1.3 - Math.sqrt(hole2);
  const eyelet = 0.07 * P - r;
  const ring = 0.9 - Math.abs(r - 0.41 * P);
  let bar = -Infinity;
  if (r > 0.41 * P) {
    // Distances to the lines through the centre at 0, 60 and 120 degrees.
    const d0 = Math.abs(uy);
    const d1 = Math.abs(ux * 0.8660254 - uy * 0.5);
    const d2 = Math.abs(ux * 0.8660254 + uy * 0.5);
    bar = 0.8 - Math.min(d0, d1, d2);
  }
  return Math.min(Math.max(flower, ring, bar), -eyelet, -petalHole);
}

/** Black lace top: thread pattern with holes, opaque edge cords, eyelash threads. */
function laceShader(): Shader {
  const ink: [number, number, number] = [0.085, 0.078, 0.092];
  return (p, out) => {
    const { X, Y, s } = p;
    const v = p.light;
    const thread = cover(laceThread(X, Y), s);
    const q = 0.5 + 0.5 * fsin(X * 0.9 + Y * 0.35);
    const q2 = q * q;
    const sheen = 1 + 0.5 * q2 * q2 * q2 * detail(5, s);
    out.a = 0;
    out.r = out.g = out.b = 0;
    const k = v * sheen;
    layer(out, p.body * thread, ink[0] * k, ink[1] * k, ink[2] * k);
    if (p.cord > 0) layer(out, p.cord, ink[0] * v * 1.25, ink[1] * v * 1.25, ink[2] * v * 1.25);
    if (p.strand > 0) layer(out, p.strand, ink[0] * v, ink[1] * v, ink[2] * v);
    unpremultiply(out);
  };
}

/** Navy/ecru Breton stripes, a tan suede hem band and tan suede fringe strands. */
function fringeShader(shape: GarmentShape): Shader {
  const navy: [number, number, number] = [0.12, 0.15, 0.3];
  const ecru: [number, number, number] = [0.93, 0.91, 0.86];
  const tan: [number, number, number] = [0.66, 0.45, 0.28];
  return (p, out) => {
    const { X, Y, s } = p;
    const v = p.light;
    const hem = shape.hemY(X);
    out.a = 0;
    out.r = out.g = out.b = 0;
    if (p.body > 0) {
      let r: number;
      let g: number;
      let b: number;
      const band = cover(Y - (hem - 18), s);
      // Stripes curve slightly with the body's roundness.
      const sy = (Y + 0.00022 * (X - CX) * (X - CX) - 380) / 36;
      const ph = (sy - Math.floor(sy)) * 36;
      const inNavy = cover(Math.min(ph, 14 - ph), s) + cover(ph - 36, s);
      const jersey = 1 - 0.05 * detail(3.5, s) * (0.5 + 0.5 * fcos((2 * Math.PI * X) / 3.5));
      r = (ecru[0] + inNavy * (navy[0] - ecru[0])) * jersey;
      g = (ecru[1] + inNavy * (navy[1] - ecru[1])) * jersey;
      b = (ecru[2] + inNavy * (navy[2] - ecru[2])) * jersey;
      const nap = 0.92 + 0.08 * fsin(X * 0.21 + fsin(Y * 0.4) * 1.5) * detail(8, s);
      r += band * (tan[0] * nap - r);
      g += band * (tan[1] * nap - g);
      b += band * (tan[2] * nap - b);
      layer(out, p.body, r * v, g * v, b * v);
    }
    if (p.strand > 0) {
      const tone = 0.86 + 0.14 * fsin(X * 1.37) * fsin(X * 0.23);
      const depth = 0.72 + 0.28 * smoothstep(hem, hem + 50, Y);
      const k = tone * depth * (0.95 + 0.05 * fsin(Y * 0.05 + X));
      layer(out, p.strand, tan[0] * k, tan[1] * k, tan[2] * k);
    }
    unpremultiply(out);
  };
}

/** Edges of the collar leaf triangle neck (62, 366) -> inner (8, 404) -> tip (46, 470): [ax, ay, nx, ny] with unit inward normals. */
const COLLAR_EDGES: [number, number, number, number][] = (() => {
  const p: [number, number][] = [
    [62, 366],
    [8, 404],
    [46, 470],
  ];
  return p.map(([ax, ay], k) => {
    const [bx, by] = p[(k + 1) % 3];
    const l = Math.sqrt((bx - ax) * (bx - ax) + (by - ay) * (by - ay));
    return [ax, ay, (by - ay) / l, -(bx - ax) / l] as [number, number, number, number];
  });
})();

/** Pointed shirt collar leaf: signed distance (> 0 inside) at (|dx|, Y). */
function inCollar(adx: number, Y: number): number {
  let d = Infinity;
  for (const [ax, ay, nx, ny] of COLLAR_EDGES) {
    const e = (adx - ax) * nx + (Y - ay) * ny;
    if (e < d) d = e;
  }
  return d;
}

/** Navy chiffon shirt with cream polka dots: single-layer alpha ~0.35-0.5, double at collar/placket/cuffs/hem. */
function sheerShader(shape: GarmentShape): Shader {
  const navy: [number, number, number] = [0.15, 0.18, 0.33];
  const dot: [number, number, number] = [0.94, 0.91, 0.83];
  return (p, out) => {
    const { X, Y, s } = p;
    const dx = X - CX;
    const adx = Math.abs(dx);
    const v = p.light;
    // Soft vertical folds change how much cloth the light crosses.
    const fold = 0.5 + 0.5 * fsin(X / 15 + 2.4 * fsin(Y / 140) + (adx > 250 ? Y / 90 : 0));
    const a0 = 0.33 * (0.92 + 0.2 * fold);
    // Grazing angles see more cloth: (1 - a1) = (1 - a0)^(1/nz); layers multiply the exponent.
    const lnT = Math.log(1 - a0) / Math.max(0.45, p.nz);
    // Cloth layers: torso and sleeve panels overlap where a sleeve hangs in front of the body.
    let layers = (p.torso + p.sleeve) / Math.max(p.body, 1e-3);
    let collar = 0;
    if (Y < 480 && adx < 66) {
      const q = (dx / 62) * (dx / 62);
      const stand = adx < 62 ? cover(Math.min(372 + 26 * (1 - q) - Y, 62 - adx), s) : 0;
      collar = Math.max(stand, cover(inCollar(adx, Y), s));
    }
    const placket = Y > 404 && adx < 13 ? cover(11 - adx, s) : 0;
    const cuff = adx > 250 ? cover(Y - 1030, s) : 0;
    const hemBand = Y > 1050 ? cover(Y - (shape.hemY(X) - 9), s) : 0;
    layers += Math.max(collar, placket, cuff, hemBand) * (1 - p.sleeve * (1 - cuff));
    const aCloth = 1 - Math.exp(lnT * layers);
    // Polka dots (printed, nearly opaque), staggered lattice of period 40.
    const row = Math.floor(Y / 40);
    const u = (X - (row & 1 ? 20 : 0)) / 40;
    const ddx = (u - Math.floor(u) - 0.5) * 40;
    const ddy = (Y / 40 - row - 0.5) * 40;
    const aDot = 0.82 * cover(4.6 - Math.sqrt(ddx * ddx + ddy * ddy), s) * (1 - Math.max(collar, placket));
    // Buttons on the placket.
    let aButton = 0;
    if (adx < 6) {
      const bRow = Math.round((Y - 440) / 95);
      const by = Y - 440 - bRow * 95;
      if (bRow >= 0 && bRow <= 6) aButton = cover(5 - Math.sqrt(dx * dx + by * by), s);
    }
    out.a = 0;
    out.r = out.g = out.b = 0;
    const weave = 1 - 0.04 * detail(2.5, s) * fcos((2 * Math.PI * X) / 2.5) * fcos((2 * Math.PI * Y) / 2.5);
    layer(out, aCloth * weave, navy[0] * v, navy[1] * v, navy[2] * v);
    if (aDot > 0) layer(out, aDot, dot[0] * v, dot[1] * v, dot[2] * v);
    if (aButton > 0) layer(out, aButton * 0.95, 0.2 * v, 0.22 * v, 0.3 * v);
    out.a *= p.body;
    out.r *= p.body;
    out.g *= p.body;
    out.b *= p.body;
    unpremultiply(out);
  };
}

function shaderFor(shape: GarmentShape): Shader {
  switch (shape.kind) {
    case 'knit':
      return knitShader(shape);
    case 'lace':
      return laceShader();
    case 'fringe':
      return fringeShader(shape);
    case 'sheer':
      return sheerShader(shape);
  }
}

/** How opaque each garment is on average, for the depth of its cast shadow. */
const SHADOW_OPACITY: Record<GarmentKind, number> = { knit: 1, lace: 0.55, fringe: 1, sheer: 0.42 };

/** Which layer each mask carries, per kind: whole outline, sleeves, cords, strands, torso part (see PixelIn). */
const MASKS: Record<GarmentKind, Partial<Record<'body' | 'sleeve' | 'cord' | 'strand' | 'torso', readonly GarmentLayer[]>>> = {
  knit: { body: ['body', 'sleeves'], sleeve: ['sleeves'], strand: ['strands'] },
  lace: { body: ['body'], cord: ['cords'], strand: ['strands'] },
  fringe: { body: ['body'], strand: ['strands'] },
  sheer: { body: ['body', 'sleeves'], sleeve: ['sleeves'], torso: ['body'] },
};

/** Rasterises garment layers at a frame's size: one byte of coverage per pixel. */
async function renderMask(shape: GarmentShape, frame: Frame, layers: readonly GarmentLayer[]): Promise<Buffer> {
  const svg = garmentSvg(shape, frame, layers);
  return sharp(Buffer.from(svg), { limitInputPixels: false }).extractChannel(3).raw().toBuffer();
}

/** A coarse map (0..1) from a one-byte-per-cell render. */
function toMap(buf: Buffer, w: number, h: number): LowResMap {
  const data = new Float32Array(w * h);
  for (let i = 0; i < w * h; i++) data[i] = buf[i] / 255;
  return { width: w, height: h, cell: LOWRES_CELL, data };
}

/** Light and normal-z maps of a silhouette seen as a soft pillow (its blurred mask as a height field). */
function pillowLight(map: LowResMap): { light: LowResMap; nz: LowResMap } {
  const { gx, gy } = gradientLowRes(blurLowRes(map, 2.6));
  const K = 95;
  const light = new Float32Array(map.data.length);
  const nzs = new Float32Array(map.data.length);
  for (let i = 0; i < light.length; i++) {
    const hx = -K * gx.data[i];
    const hy = -K * gy.data[i];
    const l = Math.sqrt(hx * hx + hy * hy + 1);
    light[i] = lambert(hx / l, hy / l, 1 / l);
    nzs[i] = 1 / l;
  }
  return { light: { ...map, data: light }, nz: { ...map, data: nzs } };
}

/** Bilinear lookup table along one axis: clamped cell index and weight per output pixel. */
interface Axis {
  i: Int32Array;
  t: Float32Array;
}

function axis(count: number, start: number, toDesign: (k: number) => number, cells: number): Axis {
  const i = new Int32Array(count);
  const t = new Float32Array(count);
  for (let k = 0; k < count; k++) {
    const f = toDesign(start + k) / LOWRES_CELL - 0.5;
    let c = Math.floor(f);
    let w = f - c;
    if (c < 0) {
      c = 0;
      w = 0;
    } else if (c > cells - 2) {
      c = cells - 2;
      w = 1;
    }
    i[k] = c;
    t[k] = w;
  }
  return { i, t };
}

/** Bilinear sample of a coarse map at precomputed row (r0 = j * width, ty) and column (i, tx). */
function bilinear(d: Float32Array, w: number, r0: number, ty: number, i: number, tx: number): number {
  const a = r0 + i;
  return (d[a] * (1 - tx) + d[a + 1] * tx) * (1 - ty) + (d[a + w] * (1 - tx) + d[a + w + 1] * tx) * ty;
}

/**
 * Renders a garment at an output size: exact alpha and straight colour F
 * (vignetted and exposure-scaled like the scene), to be composited with
 * `shot = a*F + (1-a)*B` over {@link makeMannequinScene}'s B. Work and SVG
 * rasterisation are limited to the garment's bounding box.
 */
export async function makeGarment(kind: GarmentKind, opts: GarmentOptions): Promise<Garment> {
  const seed = opts.seed ?? 1;
  const gain = opts.gain ?? 1;
  const shape = garmentShape(kind, seed);
  const frame = makeFrame(opts.width, opts.height, opts.shift);
  const W = frame.width;
  const H = frame.height;
  const s = frame.scale;

  // Coarse masks in design space: shading of torso and sleeves, and the cast shadow.
  const lw = Math.ceil(DESIGN_WIDTH / LOWRES_CELL);
  const lh = Math.ceil(DESIGN_HEIGHT / LOWRES_CELL);
  const lowFrame: Frame = { width: lw, height: lh, scale: 1 / LOWRES_CELL, ox: 0, oy: 0, lensOx: 0, lensOy: 0 };
  const torsoLow = toMap(await renderMask(shape, lowFrame, ['body']), lw, lh);
  const sleeveLow = toMap(await renderMask(shape, lowFrame, ['sleeves']), lw, lh);
  const strandLow = toMap(await renderMask(shape, lowFrame, ['strands']), lw, lh);
  const torsoLight = pillowLight(torsoLow);
  const sleeveLight = pillowLight(sleeveLow);
  const union: LowResMap = { ...torsoLow, data: new Float32Array(lw * lh) };
  for (let i = 0; i < lw * lh; i++) union.data[i] = Math.max(torsoLow.data[i], sleeveLow.data[i], Math.min(1, strandLow.data[i] * 2));
  const shadowMap = blurLowRes(union, 4);
  for (let i = 0; i < shadowMap.data.length; i++) shadowMap.data[i] *= SHADOW_OPACITY[kind];

  const fg = new Uint8Array(W * H * 3);
  const alpha = new Uint8Array(W * H);
  // Output-pixel bounding box of everything the garment draws.
  const [X0, Y0, X1, Y1] = shapeBounds(shape);
  const bx = Math.max(0, Math.floor(X0 * s + frame.ox) - 2);
  const by = Math.max(0, Math.floor(Y0 * s + frame.oy) - 2);
  const bw = Math.min(W, Math.ceil(X1 * s + frame.ox) + 2) - bx;
  const bh = Math.min(H, Math.ceil(Y1 * s + frame.oy) + 2) - by;
  if (bw > 0 && bh > 0) {
    const crop: Frame = { ...frame, width: bw, height: bh, ox: frame.ox - bx, oy: frame.oy - by };
    const spec = MASKS[kind];
    const zero = Buffer.alloc(0);
    const mask = async (k: keyof typeof spec): Promise<Buffer> => {
      const layers = spec[k];
      return layers ? renderMask(shape, crop, layers) : zero;
    };
    const mBody = await mask('body');
    const mSleeve = await mask('sleeve');
    const mCord = await mask('cord');
    const mStrand = await mask('strand');
    const mTorso = await mask('torso');
    const hasSleeve = mSleeve.length > 0;
    const hasCord = mCord.length > 0;
    const hasStrand = mStrand.length > 0;
    const hasTorso = mTorso.length > 0;

    const shader = shaderFor(shape);
    const pin: PixelIn = { X: 0, Y: 0, body: 0, sleeve: 0, torso: 0, cord: 0, strand: 0, light: 1, nz: 1, s };
    const pout: PixelOut = { a: 0, r: 0, g: 0, b: 0 };
    const cols = axis(bw, bx, (x) => (x + 0.5 - frame.ox) / s, lw);
    const rows = axis(bh, by, (y) => (y + 0.5 - frame.oy) / s, lh);
    const hx = W / 2;
    const hy = H / 2;
    const diag2 = hx * hx + hy * hy;
    const lensX2 = new Float32Array(bw);
    for (let k = 0; k < bw; k++) lensX2[k] = (bx + k + 0.5 - hx) ** 2 / diag2;
    const tL = torsoLight.light.data;
    const tZ = torsoLight.nz.data;
    const sL = sleeveLight.light.data;
    const sZ = sleeveLight.nz.data;
    for (let yy = 0; yy < bh; yy++) {
      const y = by + yy;
      const Y = (y + 0.5 - frame.oy) / s;
      const r0 = rows.i[yy] * lw;
      const ty = rows.t[yy];
      const lensY2 = (y + 0.5 - hy) ** 2 / diag2;
      for (let xx = 0; xx < bw; xx++) {
        const k = yy * bw + xx;
        const mb = mBody[k];
        const ms = hasStrand ? mStrand[k] : 0;
        const mc = hasCord ? mCord[k] : 0;
        if (mb === 0 && ms === 0 && mc === 0) continue;
        const ci = cols.i[xx];
        const tx = cols.t[xx];
        const sl = hasSleeve ? mSleeve[k] / 255 : 0;
        let light = bilinear(tL, lw, r0, ty, ci, tx);
        let nz = bilinear(tZ, lw, r0, ty, ci, tx);
        if (sl > 0) {
          light += sl * (bilinear(sL, lw, r0, ty, ci, tx) - light);
          nz += sl * (bilinear(sZ, lw, r0, ty, ci, tx) - nz);
        }
        pin.X = (bx + xx + 0.5 - frame.ox) / s;
        pin.Y = Y;
        pin.body = mb / 255;
        pin.sleeve = sl;
        pin.cord = mc / 255;
        pin.strand = ms / 255;
        pin.torso = hasTorso ? mTorso[k] / 255 : 0;
        pin.light = light;
        pin.nz = nz;
        shader(pin, pout);
        const a8 = Math.round(clamp01(pout.a) * 255);
        if (a8 === 0) continue;
        const i = y * W + bx + xx;
        alpha[i] = a8;
        const r2 = lensX2[xx] + lensY2;
        const f = (1 - VIGNETTE_K1 * r2 - VIGNETTE_K2 * r2 * r2) * gain * 255;
        fg[i * 3] = Math.min(255, Math.max(0, Math.round(pout.r * f)));
        fg[i * 3 + 1] = Math.min(255, Math.max(0, Math.round(pout.g * f)));
        fg[i * 3 + 2] = Math.min(255, Math.max(0, Math.round(pout.b * f)));
      }
    }
  }
  return { kind, fg: { width: W, height: H, data: fg }, alpha: { width: W, height: H, data: alpha }, shadowMap };
}
