import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  alphaToFloat,
  connectivityError,
  gaussGradientKernels,
  gaussGradientMagnitude,
  gradientError,
  largestComponent,
  mattingErrors,
  mse,
  sad,
  trimapUnknownMask,
} from '../../src/metrics/matting.js';
import { CleanplateError } from '../../src/errors.js';

const f32 = (rows: number[][]): Float32Array => new Float32Array(rows.flat());
const close = (actual: number, expected: number, tol: number, what: string): void =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs expected ${expected} (tol ${tol})`);

// gt: a 2x2 block of ones at the top-left and an isolated one at the bottom-right.
const GT = f32([
  [1, 1, 0, 0],
  [1, 1, 0, 0],
  [0, 0, 0, 0],
  [0, 0, 0, 1],
]);

function randomAlpha(n: number, seed: number): Float32Array {
  let s = seed;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const r = s / 4294967296;
    // a mix of exact 0, exact 1 and soft values, like a real matte
    out[i] = r < 0.3 ? 0 : r > 0.7 ? 1 : Math.round(((r - 0.3) / 0.4) * 255) / 255;
  }
  return out;
}

test('SAD and MSE: hand-computed 4x4 cases, /1000 for SAD, whole image and masked', () => {
  // pred1 = GT with the top-left pixel at 0.5: one difference of 0.5.
  const pred1 = GT.slice();
  pred1[0] = 0.5;
  assert.equal(sad(pred1, GT), 0.5 / 1000);
  assert.equal(mse(pred1, GT), 0.25 / 16);
  // pred2 = GT without the isolated pixel: one difference of 1.
  const pred2 = GT.slice();
  pred2[15] = 0;
  assert.equal(sad(pred2, GT), 1 / 1000);
  assert.equal(mse(pred2, GT), 1 / 16);
  // Mask = first row only: pred1's error 0.25 over 4 counted pixels; pred2's error is outside it.
  const row0 = new Uint8Array(16);
  row0.fill(1, 0, 4);
  assert.equal(mse(pred1, GT, row0), 0.25 / 4);
  assert.equal(sad(pred2, GT, row0), 0);
  assert.ok(Number.isNaN(mse(pred1, GT, new Uint8Array(16))), 'empty mask gives NaN like MATLAB 0/0');
});

test('identical inputs give 0 and every metric is symmetric', () => {
  const w = 13;
  const h = 9;
  const a = randomAlpha(w * h, 1);
  const b = randomAlpha(w * h, 2);
  assert.equal(sad(a, a), 0);
  assert.equal(mse(a, a), 0);
  assert.equal(gradientError(a, a, w, h), 0);
  assert.equal(connectivityError(a, a, w, h), 0);
  assert.ok(sad(a, b) > 0 && mse(a, b) > 0 && gradientError(a, b, w, h) > 0 && connectivityError(a, b, w, h) > 0);
  assert.equal(sad(a, b), sad(b, a));
  assert.equal(mse(a, b), mse(b, a));
  close(gradientError(a, b, w, h), gradientError(b, a, w, h), 1e-12, 'grad symmetry');
  close(connectivityError(a, b, w, h), connectivityError(b, a, w, h), 1e-12, 'conn symmetry');
});

test('DIM gradient kernel: half size 4 for sigma 1.4, unit L2 norms, odd derivative', () => {
  const { half, smooth, deriv } = gaussGradientKernels(1.4);
  // h = ceil(1.4 * sqrt(-2 ln(sqrt(2 pi) * 1.4 * 0.01))) = ceil(1.4 * 2.5883) = ceil(3.624) = 4
  assert.equal(half, 4);
  assert.equal(smooth.length, 9);
  close(smooth.reduce((s, v) => s + v * v, 0), 1, 1e-12, '||smooth||');
  close(deriv.reduce((s, v) => s + v * v, 0), 1, 1e-12, '||deriv||');
  for (let k = 0; k < 9; k++) close(deriv[k], -deriv[8 - k], 1e-15, `deriv odd at ${k}`);
  assert.ok(deriv[4] === 0, 'dgauss(0) = 0');
  assert.ok(deriv[3] > 0, 'dgauss(u) = -u g(u) is positive for u < 0');
});

test('gradient error of a vertical step, expanded by hand', () => {
  // step: columns 0-1 are 0, columns 2-3 are 1, rows identical.
  const step = f32([
    [0, 0, 1, 1],
    [0, 0, 1, 1],
    [0, 0, 1, 1],
    [0, 0, 1, 1],
  ]);
  const zeros = new Float32Array(16);
  // Unnormalised g(u) = exp(-u^2/3.92): 1, .774837, .360448, .100669, .016880 (u = 0..4)
  //   ||g|| = sqrt(1 + 2(.600372+.129923+.010134+.000285)) = 1.575255, sum g = 3.505668
  //   -> S = sum(smooth) = 3.505668/1.575255 = 2.225460
  // Unnormalised dg(-u) = u g(u): .774837, .720896, .302007, .067520 (u = 1..4), ||dg|| = 1.559378
  //   normalised D1..D4 = .496889, .462297, .193671, .043299
  // gy = 0 (the derivative kernel sums to 0 down a constant column).
  // gx(x) = S * sum_{k <= x+2} deriv[k] (convolution, replicated edges):
  //   x=0: S(D4+D3+D2) = S*.699267 = 1.556191; x=1,2: S(D4+D3+D2+D1) = S*1.196156 = 2.661997; x=3: 1.556191
  // Grad = 4 rows * (2*1.556191^2 + 2*2.661997^2) / 1000 = 4 * 19.015912 / 1000 = 0.0760636
  const mag = gaussGradientMagnitude(step, 4, 4);
  const expected = [1.556191, 2.661997, 2.661997, 1.556191];
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) close(mag[y * 4 + x], expected[x], 2e-6, `|grad| at ${x},${y}`);
  close(gradientError(step, zeros, 4, 4), 0.0760636, 1e-7, 'grad(step, zeros)');
  // Two different constant mattes have the same (zero) gradient: error 0 (up to float rounding).
  close(gradientError(new Float32Array(16).fill(1), zeros, 4, 4), 0, 1e-20, 'grad(ones, zeros)');
  // Mask: only column 0 counts -> 4 * 1.55632^2 / 1000.
  const col0 = new Uint8Array(16);
  for (let y = 0; y < 4; y++) col0[y * 4] = 1;
  close(gradientError(step, zeros, 4, 4, { mask: col0 }), (4 * 1.556191 ** 2) / 1000, 1e-7, 'masked grad');
});

test('separable gradient equals the direct 2-D MATLAB imfilter(..., "replicate", "conv")', () => {
  const w = 11;
  const h = 7;
  const img = randomAlpha(w * h, 5);
  const sigma = 1.4;
  // The MATLAB kernel built literally: hx(i,j) = gauss(i-h) * dgauss(j-h) / ||.||_2, hy = hx'.
  const half = 4;
  const size = 9;
  const gauss = (x: number): number => Math.exp(-(x * x) / (2 * sigma * sigma)) / (sigma * Math.sqrt(2 * Math.PI));
  const dgauss = (x: number): number => (-x * gauss(x)) / (sigma * sigma);
  const hx: number[][] = [];
  let norm = 0;
  for (let i = 0; i < size; i++) {
    hx.push([]);
    for (let j = 0; j < size; j++) {
      hx[i].push(gauss(i - half) * dgauss(j - half));
      norm += hx[i][j] ** 2;
    }
  }
  norm = Math.sqrt(norm);
  const at = (y: number, x: number): number => img[Math.min(h - 1, Math.max(0, y)) * w + Math.min(w - 1, Math.max(0, x))];
  const mag = gaussGradientMagnitude(img, w, h, sigma);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      let gx = 0;
      let gy = 0;
      for (let i = 0; i < size; i++) {
        for (let j = 0; j < size; j++) {
          // convolution: out(y,x) = sum in(y - (i-h), x - (j-h)) k(i,j)
          gx += (at(y - (i - half), x - (j - half)) * hx[i][j]) / norm;
          gy += (at(y - (i - half), x - (j - half)) * hx[j][i]) / norm;
        }
      }
      close(mag[y * w + x], Math.hypot(gx, gy), 1e-5, `magnitude at ${x},${y}`);
    }
  }
});

test('connectivity error: hand-computed 4x4 cases', () => {
  // pred1 = GT with the top-left pixel at 0.5.
  // Thresholds 0.1..0.5: GT∩pred = block + isolated pixel; the largest 4-connected component is the block.
  // Threshold 0.6: (0,0) drops out, the other three block pixels stay connected -> l(0,0) = 0.5.
  // Block pixels: l = 1; isolated pixel and zeros: l = 0 (never in the largest component).
  // (0,0): d_pred = 0.5-0.5 = 0 -> phi 1; d_gt = 1-0.5 = 0.5 >= 0.15 -> phi 0.5; |diff| = 0.5.
  // Isolated pixel: d = 1 both -> phi 0 both. Everything else phi = 1 both. Conn = 0.5/1000.
  const pred1 = GT.slice();
  pred1[0] = 0.5;
  close(connectivityError(pred1, GT, 4, 4), 0.5 / 1000, 1e-9, 'conn pred1');
  // pred2 = GT without the isolated pixel: l = 0 there; d_pred = 0 -> phi 1, d_gt = 1 -> phi 0. Conn = 1/1000.
  const pred2 = GT.slice();
  pred2[15] = 0;
  close(connectivityError(pred2, GT, 4, 4), 1 / 1000, 1e-9, 'conn pred2');
  // Mask excluding the isolated pixel hides pred2's error.
  const mask = new Uint8Array(16).fill(1);
  mask[15] = 0;
  assert.equal(connectivityError(pred2, GT, 4, 4, { mask }), 0);
});

test('connectivity error: 4-connected by default (DIM bwconncomp(...,4)), 8 on request', () => {
  // Diagonal chain (0,0)-(1,1)-(2,2) joined to a 2x2 block; pred has 0.75 at (0,0).
  const gt = f32([
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 1],
    [0, 0, 1, 1],
  ]);
  const pred = gt.slice();
  pred[0] = 0.75;
  // 4-connected: (0,0) is never in the largest component (the block) -> l = 0.
  //   d_pred = 0.75 -> phi 0.25; d_gt = 1 -> phi 0; |diff| = 0.25 -> 0.25/1000.
  close(connectivityError(pred, gt, 4, 4), 0.25 / 1000, 1e-9, 'conn 4');
  // 8-connected: up to t = 0.7 all six pixels are one component; at 0.8 (0,0) drops out -> l = 0.7.
  //   d_pred = 0.05 < 0.15 -> phi 1; d_gt = 0.3 -> phi 0.7; |diff| = 0.3 -> 0.3/1000.
  close(connectivityError(pred, gt, 4, 4, { connectivity: 8 }), 0.3 / 1000, 1e-9, 'conn 8');
});

test('largestComponent labels 4- and 8-neighbourhoods and handles empty input', () => {
  const bin = new Uint8Array([1, 0, 1, 0, 1, 0, 1, 0, 1]); // 3x3 X pattern
  const out = new Uint8Array(9);
  assert.equal(largestComponent(bin, 3, 3, 4, out), 1);
  assert.deepEqual([...out], [1, 0, 0, 0, 0, 0, 0, 0, 0], 'tie goes to the first component in scan order');
  assert.equal(largestComponent(bin, 3, 3, 8, out), 5);
  assert.deepEqual([...out], [...bin]);
  assert.equal(largestComponent(new Uint8Array(9), 3, 3, 4, out), 0);
  assert.deepEqual([...out], new Array(9).fill(0));
});

test('helpers: 8-bit conversion, trimap unknown band, all-metrics wrapper, size checks', () => {
  const a = { width: 2, height: 2, data: new Uint8Array([0, 51, 255, 128]) };
  assert.deepEqual([...alphaToFloat(a)], [0, Math.fround(51 / 255), 1, Math.fround(128 / 255)]);
  const tri = { width: 2, height: 2, data: new Uint8Array([0, 128, 255, 102]) };
  assert.deepEqual([...trimapUnknownMask(tri)], [0, 1, 0, 1]);
  assert.deepEqual(mattingErrors(a, a), { sad: 0, mse: 0, grad: 0, conn: 0 });
  const b = { width: 2, height: 2, data: new Uint8Array([0, 51, 255, 255]) };
  const e = mattingErrors(b, a);
  close(e.sad, (127 / 255) / 1000, 1e-9, 'wrapper sad');
  close(e.mse, (127 / 255) ** 2 / 4, 1e-7, 'wrapper mse');
  assert.throws(() => sad(new Float32Array(4), new Float32Array(5)), (err: unknown) => err instanceof CleanplateError && err.code === 'size-mismatch');
  assert.throws(() => gradientError(new Float32Array(6), new Float32Array(6), 4, 2), CleanplateError);
  assert.throws(() => mse(new Float32Array(4), new Float32Array(4), new Uint8Array(3)), CleanplateError);
  assert.throws(() => mattingErrors({ width: 1, height: 4, data: new Uint8Array(4) }, a), CleanplateError);
});
