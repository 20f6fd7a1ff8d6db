import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { estimateAlignment, extendIntoUnknown, isAffineOver, plateStructure, validColumns, warpPlate } from '../../src/engine/classical/align.js';
import { loadClassicalCv } from '../../src/engine/classical/cvtypes.js';
import { IDENTITY, apply3, classifyMotion, frameMotion, invert3, mul3, normalise3, rescaleHomography } from '../../src/engine/classical/homography.js';

const close = (a: number, b: number, tol: number, what = ''): void => assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

test('homography maths: inverse, composition, rescaling between scales', () => {
  const h = [1.01, 0.02, 5, -0.015, 0.99, -3, 1e-5, -2e-5, 1];
  const id = normalise3(mul3(h, invert3(h)));
  for (let i = 0; i < 9; i++) close(id[i], IDENTITY[i], 1e-9, `I[${i}]`);
  assert.throws(() => invert3([1, 2, 3, 2, 4, 6, 0, 0, 1]), /singular/);
  // A transform found at quarter scale maps the same scene points at full scale.
  const low = [1, 0, 2.5, 0, 1, -1.25, 0, 0, 1];
  const full = rescaleHomography(low, 4, 4);
  const [u, v] = apply3(full, (10 + 0.5) * 4 - 0.5, (20 + 0.5) * 4 - 0.5);
  const [ul, vl] = apply3(low, 10, 20);
  close(u, (ul + 0.5) * 4 - 0.5, 1e-9, 'u');
  close(v, (vl + 0.5) * 4 - 0.5, 1e-9, 'v');
});

test('motion classification: none below the threshold, translation when a shift explains it, else homography', () => {
  assert.equal(classifyMotion(frameMotion([1, 0, 0.1, 0, 1, -0.2, 0, 0, 1], 4000, 3000), 0.3), 'none');
  assert.equal(classifyMotion(frameMotion([1, 0, 12, 0, 1, 7, 0, 0, 1], 4000, 3000), 0.3), 'translation');
  const rot = 0.2 * (Math.PI / 180);
  const r = [Math.cos(rot), -Math.sin(rot), 0, Math.sin(rot), Math.cos(rot), 0, 0, 0, 1];
  const m = frameMotion(r, 4000, 3000);
  assert.ok(m.nonTranslationPx > 5);
  assert.equal(classifyMotion(m, 0.3), 'homography');
});

test('valid columns and alpha extension into the part the warped plate did not cover', () => {
  const w = 40;
  const h = 30;
  // The plate moved right by 5.4 px and down by 3.2 px: its data starts at x = 6, y = 4.
  const t = [1, 0, 5.4, 0, 1, 3.2, 0, 0, 1];
  const { x0, x1 } = validColumns(t, w, h);
  assert.ok(x0[0] > x1[0], 'row 0 has no plate data');
  assert.equal(x0[10], 6);
  assert.equal(x1[10], w - 1);
  const alpha = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) alpha[y * w + x] = x < 6 || y < 4 ? 200 : x === 6 ? 77 : 0;
  const frac = extendIntoUnknown(alpha, w, h, t);
  close(frac, (4 * w + 26 * 6) / (w * h), 1e-9, 'fraction');
  assert.equal(alpha[10 * w + 0], 77, 'row copies its first measured pixel');
  assert.equal(alpha[0 * w + 20], 0, 'top rows copy the first measured row');
  assert.equal(alpha[0 * w + 2], 77);
});

function rng(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
}

async function texturedGrey(w: number, h: number, seed: number): Promise<Uint8Array> {
  const r = rng(seed);
  const out = new Float32Array(w * h).fill(128);
  for (const [cells, amp] of [
    [8, 60],
    [30, 35],
  ] as const) {
    const gh = Math.max(2, Math.round((cells * h) / w));
    const grid = Buffer.alloc(cells * gh * 3);
    for (let i = 0; i < grid.length; i++) grid[i] = Math.floor(r() * 256);
    const up = await sharp(grid, { raw: { width: cells, height: gh, channels: 3 } }).resize(w, h, { kernel: 'cubic', fit: 'fill' }).raw().toBuffer();
    for (let i = 0; i < w * h; i++) out[i] += ((up[i * 3] - 128) / 128) * amp;
  }
  return Uint8Array.from(out, (v) => Math.max(0, Math.min(255, Math.round(v))));
}

test('a rotated and shifted plate is recovered as a homography; a flat plate is left alone', async () => {
  const { cv } = await loadClassicalCv();
  const w = 400;
  const h = 300;
  const shotGrey = await texturedGrey(w, h, 3);
  // plate = shot warped by a small rotation + shift (plate -> shot is the inverse).
  const a = 0.5 * (Math.PI / 180);
  const m = [Math.cos(a), -Math.sin(a), 4, Math.sin(a), Math.cos(a), -2.5, 0, 0, 1];
  const src = new cv.Mat(h, w, cv.CV_8UC1);
  const dst = new cv.Mat();
  const mm = cv.matFromArray(3, 3, cv.CV_64F, m);
  try {
    src.data.set(shotGrey);
    cv.warpPerspective(src, dst, mm, new cv.Size(w, h), cv.INTER_LINEAR, cv.BORDER_REFLECT, [0, 0, 0, 0]);
    const plateGrey = Uint8Array.from(dst.data.subarray(0, w * h));
    const est = estimateAlignment(cv, { width: w, height: h, channels: 1, data: shotGrey }, { width: w, height: h, channels: 1, data: plateGrey }, w * 2, h * 2, 'auto');
    assert.equal(est.alignment, 'homography', est.note);
    // Full resolution is twice the alignment scale: compare with m^-1 expressed there.
    const truth = rescaleHomography(invert3(m), 2, 2);
    for (const [x, y] of [
      [0, 0],
      [799, 0],
      [0, 599],
      [799, 599],
    ]) {
      const [u, v] = apply3(est.homography, x, y);
      const [ut, vt] = apply3(truth, x, y);
      assert.ok(Math.hypot(u - ut, v - vt) < 1, `corner ${x},${y}: ${u},${v} vs ${ut},${vt}`);
    }
    assert.ok(est.residualPx !== null && est.residualPx < 1);
  } finally {
    src.delete();
    dst.delete();
    mm.delete();
  }
  const flat = { width: w, height: h, channels: 1 as const, data: new Uint8Array(w * h).fill(120) };
  assert.ok(plateStructure(cv, flat) < 0.5);
  assert.ok(plateStructure(cv, { width: w, height: h, channels: 1, data: shotGrey }) > 3);
  const none = estimateAlignment(cv, { width: w, height: h, channels: 1, data: shotGrey }, flat, w, h, 'auto');
  assert.equal(none.alignment, 'none');
  assert.match(none.note, /flat/);
});

test('isAffineOver: exact affines and perspective terms too small to move a pixel are affine', () => {
  assert.equal(isAffineOver([1.001, 0.002, 2.3, -0.001, 0.998, -7.6, 0, 0, 1], 4480, 6720), true);
  assert.equal(isAffineOver([1, 0, 0, 0, 1, 0, 1e-12, -1e-12, 1], 4480, 6720), true);
  // 1e-8 over a 30 MP frame shifts a corner by ~0.5 px: a real homography
  assert.equal(isAffineOver([1, 0, 0, 0, 1, 0, 1e-8, 0, 1], 4480, 6720), false);
  assert.equal(isAffineOver([1, 0, 0, 0, 1, 0, 1e-8, 0, 1], 64, 64), true);
});

for (const [kind, hm] of [
  ['affine (warpAffine)', [1.001, 0.002, 2.3, -0.001, 0.998, -7.6, 0, 0, 1]],
  ['projective (warpPerspective)', [1.001, 0.002, 2.3, -0.001, 0.998, -7.6, 2e-5, -1e-5, 1]],
] as const) test(`the strip-wise warp equals a one-piece warp and applies lookup tables on the way out: ${kind}`, async () => {
  const { cv } = await loadClassicalCv();
  const w = 64;
  const h = 600; // several strips
  const grey = await texturedGrey(w, h, 9);
  const rgb = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) rgb.fill(grey[i], i * 3, i * 3 + 3);
  assert.equal(isAffineOver(invert3([...hm]), w, h), kind.startsWith('affine'));
  const out = new Uint8Array(w * h * 3);
  const invert = Uint8Array.from({ length: 256 }, (_, v) => 255 - v);
  warpPlate(cv, { width: w, height: h, data: rgb }, [...hm], out, [invert, invert, invert]);
  const src = new cv.Mat(h, w, cv.CV_8UC3);
  const dst = new cv.Mat();
  const mm = cv.matFromArray(3, 3, cv.CV_64F, [...hm]);
  try {
    src.data.set(rgb);
    cv.warpPerspective(src, dst, mm, new cv.Size(w, h), cv.INTER_LINEAR, cv.BORDER_REPLICATE, [0, 0, 0, 0]);
    const ref = dst.data;
    let maxDiff = 0;
    for (let i = 0; i < w * h * 3; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i] - (255 - ref[i])));
    assert.ok(maxDiff <= 1, `max difference ${maxDiff}`);
  } finally {
    src.delete();
    dst.delete();
    mm.delete();
  }
});
