/**
 * Geometry of the sample studio scene, in a fixed 1200x1800 "design" space
 * that is scaled uniformly onto any output size: the camera frame, the dress
 * form's silhouette profile, and the garment outlines (polygons) with their
 * strands (SVG paths). Pure: no I/O, no pixels.
 */
import { Rng } from './rng.js';

/** Width of the design space every shape is defined in. */
export const DESIGN_WIDTH = 1200;
/** Height of the design space every shape is defined in. */
export const DESIGN_HEIGHT = 1800;

/** Sub-pixel camera shift of a shot relative to its plate, in output pixels. */
export interface Shift {
  dx: number;
  dy: number;
}

/**
 * Maps design coordinates to output pixels: `x = X * scale + ox`, `y = Y * scale + oy`
 * (pixel centres sit at integer + 0.5). `lensOx/lensOy` is the unshifted
 * placement: the lens (vignette) stays put when the camera shifts.
 */
export interface Frame {
  width: number;
  height: number;
  scale: number;
  ox: number;
  oy: number;
  lensOx: number;
  lensOy: number;
}

/**
 * The design-to-pixel mapping for an output size (uniform scale, centred) and
 * an optional camera shift.
 */
export function makeFrame(width: number, height: number, shift: Shift = { dx: 0, dy: 0 }): Frame {
  const scale = Math.min(width / DESIGN_WIDTH, height / DESIGN_HEIGHT);
  const lensOx = (width - DESIGN_WIDTH * scale) / 2;
  const lensOy = (height - DESIGN_HEIGHT * scale) / 2;
  return { width, height, scale, ox: lensOx + shift.dx, oy: lensOy + shift.dy, lensOx, lensOy };
}

/** A smooth silhouette: half-width as a function of design Y. */
export interface Profile {
  /** First Y with a defined half-width. */
  y0: number;
  /** Last Y with a defined half-width. */
  y1: number;
  /** Half-width at Y (0 outside [y0, y1]). */
  at(y: number): number;
  /** d(half-width)/dY at Y (0 outside). */
  slope(y: number): number;
}

/**
 * Monotone cubic (Fritsch-Carlson) interpolation through `[y, halfWidth]`
 * points sorted by y: smooth, with no overshoot between control points.
 */
export function monotoneProfile(points: ReadonlyArray<readonly [number, number]>): Profile {
  const n = points.length;
  const ys = points.map((p) => p[0]);
  const ws = points.map((p) => p[1]);
  const d: number[] = [];
  for (let i = 0; i < n - 1; i++) d.push((ws[i + 1] - ws[i]) / (ys[i + 1] - ys[i]));
  const m: number[] = new Array<number>(n).fill(0);
  m[0] = d[0];
  m[n - 1] = d[n - 2];
  for (let i = 1; i < n - 1; i++) m[i] = d[i - 1] * d[i] <= 0 ? 0 : (d[i - 1] + d[i]) / 2;
  for (let i = 0; i < n - 1; i++) {
    if (d[i] === 0) {
      m[i] = 0;
      m[i + 1] = 0;
      continue;
    }
    const a = m[i] / d[i];
    const b = m[i + 1] / d[i];
    const s = a * a + b * b;
    if (s > 9) {
      const t = 3 / Math.sqrt(s);
      m[i] = t * a * d[i];
      m[i + 1] = t * b * d[i];
    }
  }
  const seg = (y: number): number => {
    let lo = 0;
    let hi = n - 2;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (ys[mid] <= y) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const y0 = ys[0];
  const y1 = ys[n - 1];
  return {
    y0,
    y1,
    at(y: number): number {
      if (y < y0 || y > y1) return 0;
      const i = seg(y);
      const h = ys[i + 1] - ys[i];
      const t = (y - ys[i]) / h;
      const t2 = t * t;
      const t3 = t2 * t;
      return (
        (2 * t3 - 3 * t2 + 1) * ws[i] + (t3 - 2 * t2 + t) * h * m[i] + (-2 * t3 + 3 * t2) * ws[i + 1] + (t3 - t2) * h * m[i + 1]
      );
    },
    slope(y: number): number {
      if (y < y0 || y > y1) return 0;
      const i = seg(y);
      const h = ys[i + 1] - ys[i];
      const t = (y - ys[i]) / h;
      const t2 = t * t;
      return ((6 * t2 - 6 * t) * ws[i] + (3 * t2 - 4 * t + 1) * h * m[i] + (-6 * t2 + 6 * t) * ws[i + 1] + (3 * t2 - 2 * t) * h * m[i + 1]) / h;
    },
  };
}

/** The dress form (a stand-mounted torso), in design units. */
export const MANNEQUIN = {
  cx: 600,
  /** Torso half-width by Y: neck, sloping shoulders, bust, waist, hips, rounded bottom. */
  torso: monotoneProfile([
    [262, 49],
    [320, 50],
    [352, 54],
    [372, 72],
    [392, 118],
    [412, 170],
    [434, 208],
    [462, 228],
    [520, 233],
    [600, 228],
    [680, 214],
    [760, 186],
    [840, 168],
    [890, 171],
    [960, 194],
    [1040, 216],
    [1100, 217],
    [1138, 200],
    [1160, 166],
    [1172, 110],
    [1178, 0],
  ]),
  /** Wooden neck cap (ellipse seen slightly from above). */
  cap: { cx: 600, cy: 262, rx: 58, ry: 14 },
  /** Knob on top of the cap. */
  knob: { cx: 600, cy: 240, r: 12 },
  /** Chrome pole under the torso. */
  pole: { halfWidth: 11, top: 1150, bottom: 1650 },
  /** Collar where the pole meets the torso. */
  collar: { halfWidth: 26, top: 1168, bottom: 1196 },
  /** Round cast-iron base on the floor. */
  base: { cx: 600, cy: 1652, rx: 168, ry: 19, thickness: 16 },
  /** Where the seamless paper bends from wall to floor. */
  coveY: 1560,
} as const;

/** Y on the shoulder slope where the torso is `dx` wide (bisection on the rising part of the profile). */
export function shoulderY(dx: number): number {
  let lo = 330;
  let hi = 470;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (MANNEQUIN.torso.at(mid) < dx) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** A point in design units. */
export type Pt = [number, number];

/** Samples a cubic Bezier into `n` points (excluding the start point). */
export function cubic(p0: Pt, p1: Pt, p2: Pt, p3: Pt, n: number): Pt[] {
  const out: Pt[] = [];
  for (let i = 1; i <= n; i++) {
    const t = i / n;
    const u = 1 - t;
    out.push([
      u * u * u * p0[0] + 3 * u * u * t * p1[0] + 3 * u * t * t * p2[0] + t * t * t * p3[0],
      u * u * u * p0[1] + 3 * u * u * t * p1[1] + 3 * u * t * t * p2[1] + t * t * t * p3[1],
    ]);
  }
  return out;
}

/** The four garments of the sample session. */
export type GarmentKind = 'knit' | 'lace' | 'fringe' | 'sheer';

/** Every garment kind, in shot order. */
export const GARMENT_KINDS: readonly GarmentKind[] = ['knit', 'lace', 'fringe', 'sheer'];

/** One thin stroke (fibre, strand, eyelash thread) as an SVG path in design units. */
export interface Strand {
  d: string;
  width: number;
  opacity: number;
}

/** The vector outline of one garment, in design units. */
export interface GarmentShape {
  kind: GarmentKind;
  /** Filled polygons of the torso part of the garment. */
  body: Pt[][];
  /** Filled polygons of the sleeves (drawn over the body; empty when sleeves are part of the body). */
  sleeves: Pt[][];
  /** Opaque trims drawn over the body (e.g. lace edge cords), as stroked polylines. */
  cords: { points: Pt[]; width: number }[];
  /** Thin strands over the outline: knit fuzz, fringe, eyelash threads. */
  strands: Strand[];
  /** Design Y of the hem (for texture functions), by design X. */
  hemY(x: number): number;
}

const CX = MANNEQUIN.cx;

/** Mirrors right-side points (x > CX) onto the left side, reversed, for closing a symmetric polygon. */
function mirror(points: Pt[]): Pt[] {
  return points.map(([x, y]) => [2 * CX - x, y] as Pt).reverse();
}

/** Right shoulder top edge from neck half-width `from` to `to`, raised by `lift`. */
function shoulderEdge(from: number, to: number, lift: number): Pt[] {
  const out: Pt[] = [];
  for (let dx = from; dx <= to + 1e-9; dx += 4) out.push([CX + dx, shoulderY(dx) - lift]);
  return out;
}

/** Right side seam from y0 to y1 with half-width `half(y)`. */
function sideEdge(y0: number, y1: number, half: (y: number) => number): Pt[] {
  const out: Pt[] = [];
  const step = y1 > y0 ? 6 : -6;
  for (let y = y0; step > 0 ? y <= y1 : y >= y1; y += step) out.push([CX + half(y), y]);
  return out;
}

/** Smooth maximum (softens the corner where two outlines meet). */
function smax(a: number, b: number, k = 12): number {
  const h = Math.max(k - Math.abs(a - b), 0) / k;
  return Math.max(a, b) + (h * h * k) / 4;
}

/** Fibres sticking out of (and lying across) a closed outline: knit fuzz / mohair halo. */
function fuzzAlong(poly: Pt[], rng: Rng, perUnit: number, inside: (x: number, y: number) => boolean): Strand[] {
  const out: Strand[] = [];
  for (let i = 0; i < poly.length; i++) {
    const a = poly[i];
    const b = poly[(i + 1) % poly.length];
    const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
    if (len < 1e-6) continue;
    const count = Math.floor(len * perUnit + rng.next());
    const tx = (b[0] - a[0]) / len;
    const ty = (b[1] - a[1]) / len;
    // Outward normal: the one whose probe point falls outside the body.
    let nx = ty;
    let ny = -tx;
    const mx = (a[0] + b[0]) / 2;
    const my = (a[1] + b[1]) / 2;
    if (inside(mx + nx * 3, my + ny * 3)) {
      nx = -nx;
      ny = -ny;
    }
    for (let k = 0; k < count; k++) {
      const t = rng.next();
      const px = a[0] + (b[0] - a[0]) * t;
      const py = a[1] + (b[1] - a[1]) * t;
      const start = rng.range(-3, 1.5);
      const ang = rng.normal() * 0.75;
      const c = Math.cos(ang);
      const s = Math.sin(ang);
      const dxn = nx * c - ny * s;
      const dyn = nx * s + ny * c + 0.12; // gravity pulls loose fibres down a little
      const L = 3 + 13 * Math.pow(rng.next(), 1.6);
      const sx = px + nx * start;
      const sy = py + ny * start;
      const ex = sx + dxn * L;
      const ey = sy + dyn * L;
      const bend = rng.normal() * L * 0.3;
      const qx = (sx + ex) / 2 - dyn * bend;
      const qy = (sy + ey) / 2 + dxn * bend;
      out.push({
        d: `M${sx.toFixed(2)} ${sy.toFixed(2)}Q${qx.toFixed(2)} ${qy.toFixed(2)} ${ex.toFixed(2)} ${ey.toFixed(2)}`,
        width: rng.range(0.35, 0.95),
        opacity: rng.range(0.55, 0.95),
      });
    }
  }
  return out;
}

/** Even-odd point-in-polygon test. */
export function insidePoly(poly: Pt[], x: number, y: number): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i];
    const [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Knit crew-neck sweater with long sleeves hanging clear of the body, and fuzz. */
function knitShape(rng: Rng): GarmentShape {
  const torso = MANNEQUIN.torso;
  const hemBase = 1080;
  const half = (y: number): number => smax(torso.at(y) + 12, 216);
  const hemHalf = half(hemBase);
  const hemY = (x: number): number => {
    const t = Math.min(1, Math.abs(x - CX) / hemHalf);
    return hemBase + 7 * (1 - t * t);
  };
  const right: Pt[] = [
    ...shoulderEdge(66, 226, 9),
    [CX + 238, 462],
    ...sideEdge(486, hemBase - 6, half),
  ];
  const h = half(hemBase);
  const hem: Pt[] = [];
  for (let dx = h; dx >= -h; dx -= 8) hem.push([CX + dx, hemY(CX + dx)]);
  const backNeck: Pt[] = [];
  for (let dx = -60; dx <= 60; dx += 10) backNeck.push([CX + dx, 362 + 10 * (dx / 66) ** 2]);
  const body: Pt[] = [...right, ...hem, ...mirror(right), ...backNeck];
  const sleeveR: Pt[] = [
    [CX + 214, 452],
    [CX + 246, 462],
    ...cubic([CX + 246, 462], [CX + 278, 560], [CX + 304, 820], [CX + 318, 1000], 14),
    ...cubic([CX + 318, 1000], [CX + 322, 1040], [CX + 322, 1070], [CX + 322, 1100], 4),
    ...cubic([CX + 322, 1100], [CX + 300, 1105], [CX + 280, 1105], [CX + 260, 1100], 4),
    ...cubic([CX + 260, 1100], [CX + 258, 1000], [CX + 250, 800], [CX + 226, 640], 12),
    ...cubic([CX + 226, 640], [CX + 214, 580], [CX + 204, 520], [CX + 200, 480], 5),
  ];
  const sleeveL = mirror(sleeveR);
  const polys = [body, sleeveR, sleeveL];
  const inside = (x: number, y: number): boolean => polys.some((p) => insidePoly(p, x, y));
  const strands: Strand[] = [];
  for (const p of polys) strands.push(...fuzzAlong(p, rng, 0.85, inside));
  return { kind: 'knit', body: [body], sleeves: [sleeveR, sleeveL], cords: [], strands, hemY };
}

/** Scallops (half-discs bulging downward) along a horizontal edge from x0 to x1 at y(x). */
function scallops(x0: number, x1: number, y: (x: number) => number, radius: number): Pt[] {
  const count = Math.max(1, Math.round(Math.abs(x1 - x0) / (2 * radius)));
  const w = (x1 - x0) / count;
  const out: Pt[] = [];
  for (let i = 0; i < count; i++) {
    for (let k = 0; k <= 10; k++) {
      const t = k / 10;
      const x = x0 + w * (i + t);
      out.push([x, y(x) + Math.abs(w) * 0.5 * Math.sin(Math.PI * t) * 0.9]);
    }
  }
  return out;
}

/** Fitted black lace top: cap sleeves, V-neck, scalloped hem with eyelash threads. */
function laceShape(rng: Rng): GarmentShape {
  const torso = MANNEQUIN.torso;
  const hemBase = 1000;
  const half = (y: number): number => torso.at(y) + 4;
  const hemHalf = half(hemBase);
  const hemY = (x: number): number => {
    const t = Math.min(1, Math.abs(x - CX) / hemHalf);
    return hemBase + 6 * (1 - t * t);
  };
  const top = shoulderEdge(76, 226, 4);
  const sleeveScallops = scallops(CX + 282, CX + 228, (x) => 566 + (282 - (x - CX)) * 0.35, 9);
  const right: Pt[] = [
    ...top,
    ...cubic([CX + 226, shoulderY(226) - 4], [CX + 250, 458], [CX + 272, 478], [CX + 282, 566], 8),
    ...sleeveScallops,
    ...sideEdge(600, hemBase - 4, half),
  ];
  const hem = scallops(CX + half(hemBase), CX - half(hemBase), hemY, 13);
  const vTop = top[0];
  const vNeck: Pt[] = [
    ...cubic([CX - 76, vTop[1]], [CX - 60, 440], [CX - 24, 500], [CX, 540], 10),
    ...cubic([CX, 540], [CX + 24, 500], [CX + 60, 440], [CX + 76, vTop[1]], 10).slice(0, -1),
  ];
  const body: Pt[] = [...right, ...hem, ...mirror(right), ...vNeck];
  const sleeveL = mirror(sleeveScallops);
  const cords = [
    { points: hem, width: 2.2 },
    { points: [...vNeck, vTop], width: 2.4 },
    { points: sleeveScallops, width: 1.8 },
    { points: sleeveL, width: 1.8 },
  ];
  const strands: Strand[] = [];
  const lash = (pts: Pt[], perPoint: number): void => {
    for (const [x, y] of pts) {
      if (rng.next() > perPoint) continue;
      const L = rng.range(5, 15);
      const ex = x + rng.normal() * 3;
      const ey = y + L;
      strands.push({
        d: `M${x.toFixed(2)} ${(y - 1).toFixed(2)}Q${(x + rng.normal() * 2).toFixed(2)} ${(y + L / 2).toFixed(2)} ${ex.toFixed(2)} ${ey.toFixed(2)}`,
        width: rng.range(0.4, 0.8),
        opacity: rng.range(0.7, 1),
      });
    }
  };
  lash(hem, 0.55);
  lash(sleeveScallops, 0.4);
  lash(sleeveL, 0.4);
  return { kind: 'lace', body: [body], sleeves: [], cords, strands, hemY };
}

/** Striped A-line boat-neck top with a suede band and long fringe strands at the hem. */
function fringeShape(rng: Rng): GarmentShape {
  const torso = MANNEQUIN.torso;
  const hemBase = 930;
  const half = (y: number): number => smax(torso.at(y) + 6, 228 + ((y - 590) / (hemBase - 590)) * 26, 10);
  const hemHalf = half(hemBase);
  const hemY = (x: number): number => {
    const t = Math.min(1, Math.abs(x - CX) / hemHalf);
    return hemBase + 8 * (1 - t * t);
  };
  const top = shoulderEdge(120, 226, 6);
  const right: Pt[] = [
    ...top,
    ...cubic([CX + 226, shoulderY(226) - 6], [CX + 252, 460], [CX + 280, 520], [CX + 298, 606], 8),
    ...cubic([CX + 298, 606], [CX + 280, 622], [CX + 262, 630], [CX + 240, 634], 4),
    ...cubic([CX + 240, 634], [CX + 232, 620], [CX + 228, 610], [CX + 226, 600], 3),
    ...sideEdge(606, hemBase - 4, half),
  ];
  const h = half(hemBase);
  const hem: Pt[] = [];
  for (let dx = h; dx >= -h; dx -= 8) hem.push([CX + dx, hemY(CX + dx)]);
  const neck: Pt[] = [];
  for (let dx = -116; dx <= 116; dx += 8) neck.push([CX + dx, top[0][1] + 20 * (1 - (dx / 120) ** 2)]);
  const body: Pt[] = [...right, ...hem, ...mirror(right), ...neck];
  const strands: Strand[] = [];
  for (let x = CX - h + 5; x <= CX + h - 5; x += rng.range(4.2, 6.2)) {
    const y0 = hemY(x) - 4;
    const L = rng.range(200, 300);
    const ex = x + (x - CX) * 0.05 + rng.normal() * 7;
    const ey = y0 + L;
    const c1x = x + rng.normal() * 5;
    const c2x = ex + rng.normal() * 7;
    strands.push({
      d: `M${x.toFixed(2)} ${y0.toFixed(2)}C${c1x.toFixed(2)} ${(y0 + L / 3).toFixed(2)} ${c2x.toFixed(2)} ${(y0 + (2 * L) / 3).toFixed(2)} ${ex.toFixed(2)} ${ey.toFixed(2)}`,
      width: rng.range(1.3, 2.6),
      opacity: 1,
    });
  }
  return { kind: 'fringe', body: [body], sleeves: [], cords: [], strands, hemY };
}

/** Sheer chiffon shirt: pointed collar, placket, billowy long sleeves with cuffs, curved shirt-tail hem. */
function sheerShape(): GarmentShape {
  const torso = MANNEQUIN.torso;
  const half = (y: number): number => smax(torso.at(y) + 16, 236, 14);
  const hemHalf = half(1100);
  const hemY = (x: number): number => {
    const t = Math.min(1, Math.abs(x - CX) / hemHalf);
    const t2 = t * t;
    return 1128 - 58 * t2 * t2;
  };
  const top = shoulderEdge(62, 226, 10);
  const right: Pt[] = [
    ...top,
    [CX + 240, 458],
    ...sideEdge(486, hemY(CX + half(1070)) - 4, half),
  ];
  const h = half(1070);
  const hem: Pt[] = [];
  for (let dx = h; dx >= -h; dx -= 6) hem.push([CX + dx, hemY(CX + dx)]);
  const backNeck: Pt[] = [];
  for (let dx = -56; dx <= 56; dx += 8) backNeck.push([CX + dx, 350 + 10 * (dx / 62) ** 2]);
  const body: Pt[] = [...right, ...hem, ...mirror(right), ...backNeck];
  const sleeveR: Pt[] = [
    [CX + 210, 456],
    [CX + 244, 460],
    ...cubic([CX + 244, 460], [CX + 290, 560], [CX + 336, 820], [CX + 328, 1010], 14),
    ...cubic([CX + 328, 1010], [CX + 324, 1040], [CX + 318, 1060], [CX + 316, 1084], 4),
    ...cubic([CX + 316, 1084], [CX + 300, 1088], [CX + 282, 1088], [CX + 266, 1084], 4),
    ...cubic([CX + 266, 1084], [CX + 262, 1060], [CX + 260, 1040], [CX + 262, 1010], 4),
    ...cubic([CX + 262, 1010], [CX + 256, 880], [CX + 246, 720], [CX + 222, 620], 10),
    ...cubic([CX + 222, 620], [CX + 212, 560], [CX + 204, 520], [CX + 196, 486], 4),
  ];
  return { kind: 'sheer', body: [body], sleeves: [sleeveR, mirror(sleeveR)], cords: [], strands: [], hemY };
}

/** The vector outline of a garment; the seed only moves strands and fibres. */
export function garmentShape(kind: GarmentKind, seed: number): GarmentShape {
  const rng = new Rng(seed);
  switch (kind) {
    case 'knit':
      return knitShape(rng);
    case 'lace':
      return laceShape(rng);
    case 'fringe':
      return fringeShape(rng);
    case 'sheer':
      return sheerShape();
  }
}

/** SVG path data of a closed polygon. */
function polyPath(p: Pt[]): string {
  return `M${p.map(([x, y]) => `${x.toFixed(2)} ${y.toFixed(2)}`).join('L')}Z`;
}

/** SVG path data of an open polyline. */
function linePath(p: Pt[]): string {
  return `M${p.map(([x, y]) => `${x.toFixed(2)} ${y.toFixed(2)}`).join('L')}`;
}

/** A part of a garment that can be drawn into a mask. */
export type GarmentLayer = 'body' | 'sleeves' | 'cords' | 'strands';

/** SVG elements of one layer, in white. */
function layerSvg(shape: GarmentShape, layer: GarmentLayer): string {
  switch (layer) {
    case 'body':
    case 'sleeves': {
      const polys = layer === 'body' ? shape.body : shape.sleeves;
      return polys.map((p) => `<path d="${polyPath(p)}"/>`).join('');
    }
    case 'cords':
      return shape.cords
        .map((c) => `<path d="${linePath(c.points)}" fill="none" stroke="#fff" stroke-width="${c.width}" stroke-linejoin="round" stroke-linecap="round"/>`)
        .join('');
    case 'strands':
      return shape.strands.length === 0
        ? ''
        : `<g fill="none" stroke="#fff" stroke-linecap="round">${shape.strands
            .map((s) => `<path d="${s.d}" stroke-width="${s.width.toFixed(2)}" stroke-opacity="${s.opacity.toFixed(2)}"/>`)
            .join('')}</g>`;
  }
}

/**
 * An SVG of one coverage mask: the given garment layers in white on a
 * transparent canvas (its alpha channel is the exact anti-aliased coverage).
 * The `viewBox` maps design units onto the frame, camera shift included.
 */
export function garmentSvg(shape: GarmentShape, frame: Frame, layers: readonly GarmentLayer[]): string {
  const vx = -frame.ox / frame.scale;
  const vy = -frame.oy / frame.scale;
  const vw = frame.width / frame.scale;
  const vh = frame.height / frame.scale;
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${frame.width}" height="${frame.height}" viewBox="${vx} ${vy} ${vw} ${vh}">` +
    `<g fill="#fff">${layers.map((l) => layerSvg(shape, l)).join('')}</g></svg>`
  );
}

/** Design-space bounding box [x0, y0, x1, y1] of everything a garment draws (control points bound the curves). */
export function shapeBounds(shape: GarmentShape): [number, number, number, number] {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  const add = (x: number, y: number, m: number): void => {
    if (x - m < x0) x0 = x - m;
    if (y - m < y0) y0 = y - m;
    if (x + m > x1) x1 = x + m;
    if (y + m > y1) y1 = y + m;
  };
  for (const p of [...shape.body, ...shape.sleeves]) for (const [x, y] of p) add(x, y, 0);
  for (const c of shape.cords) for (const [x, y] of c.points) add(x, y, c.width);
  for (const s of shape.strands) {
    const n = s.d.match(/-?\d+(?:\.\d+)?/g) ?? [];
    for (let i = 0; i + 1 < n.length; i += 2) add(Number(n[i]), Number(n[i + 1]), s.width);
  }
  return [x0 - 2, y0 - 2, x1 + 2, y1 + 2];
}
