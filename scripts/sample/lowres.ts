/**
 * Coarse maps over the design space (one cell = 8 design units, so a
 * 150x225 grid whatever the output size): blurred silhouettes used for soft
 * cast shadows and for the "pillow" shading of garments. Pure maths on small
 * Float32 grids.
 */
import { DESIGN_HEIGHT, DESIGN_WIDTH } from './shapes.js';

/** Design units per low-resolution cell. */
export const LOWRES_CELL = 8;

/** A Float32 grid over the design space; cell (i, j) is centred at ((i + 0.5) * cell, (j + 0.5) * cell). */
export interface LowResMap {
  width: number;
  height: number;
  cell: number;
  data: Float32Array;
}

/** An empty map covering the design space. */
export function emptyLowRes(): LowResMap {
  const width = Math.ceil(DESIGN_WIDTH / LOWRES_CELL);
  const height = Math.ceil(DESIGN_HEIGHT / LOWRES_CELL);
  return { width, height, cell: LOWRES_CELL, data: new Float32Array(width * height) };
}

/** Separable Gaussian blur (sigma in cells), zero outside the map. Returns a new map. */
export function blurLowRes(map: LowResMap, sigma: number): LowResMap {
  const { width: w, height: h } = map;
  const r = Math.max(1, Math.ceil(sigma * 3));
  const k = new Float32Array(2 * r + 1);
  let ks = 0;
  for (let i = -r; i <= r; i++) {
    k[i + r] = Math.exp(-(i * i) / (2 * sigma * sigma));
    ks += k[i + r];
  }
  for (let i = 0; i < k.length; i++) k[i] /= ks;
  const tmp = new Float32Array(w * h);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) {
        const xx = x + i;
        if (xx >= 0 && xx < w) s += k[i + r] * map.data[y * w + xx];
      }
      tmp[y * w + x] = s;
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let s = 0;
      for (let i = -r; i <= r; i++) {
        const yy = y + i;
        if (yy >= 0 && yy < h) s += k[i + r] * tmp[yy * w + x];
      }
      out[y * w + x] = s;
    }
  }
  return { width: w, height: h, cell: map.cell, data: out };
}

/** Central-difference gradient of a map, per design unit, as two maps (d/dX, d/dY). */
export function gradientLowRes(map: LowResMap): { gx: LowResMap; gy: LowResMap } {
  const { width: w, height: h, cell } = map;
  const gx = new Float32Array(w * h);
  const gy = new Float32Array(w * h);
  const at = (x: number, y: number): number => map.data[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))];
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      gx[y * w + x] = (at(x + 1, y) - at(x - 1, y)) / (2 * cell);
      gy[y * w + x] = (at(x, y + 1) - at(x, y - 1)) / (2 * cell);
    }
  }
  return { gx: { width: w, height: h, cell, data: gx }, gy: { width: w, height: h, cell, data: gy } };
}

/** Builds a map from a coverage function of design coordinates (sampled at 2x2 points per cell). */
export function lowResFrom(coverage: (X: number, Y: number) => number): LowResMap {
  const map = emptyLowRes();
  const c = map.cell;
  for (let j = 0; j < map.height; j++) {
    for (let i = 0; i < map.width; i++) {
      let s = 0;
      for (const oy of [0.25, 0.75]) for (const ox of [0.25, 0.75]) s += coverage((i + ox) * c, (j + oy) * c);
      map.data[j * map.width + i] = s / 4;
    }
  }
  return map;
}
