import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  averageMirrored,
  axisMap,
  baseSizeFor,
  bilinearAt,
  cellErrors,
  CoarseUpsampler,
  differenceGuide,
  gridShape,
  growCells,
  mirrorPlanes,
  patchChanges,
  roundHalfEven,
  extractWindows,
  rgbToPlanar,
  selectCells,
  toByte,
  upsampleCoarse,
  upsampleRows,
  writeBackPatches,
} from '../../src/engine/neural/sampling.js';
import { createRng } from '../../src/eval/rng.js';

/** Deterministic pseudo-random numbers in [0, 1) for test data. */
function rng(seed: number): () => number {
  return createRng(seed, 'test').next;
}

function randomPlane(n: number, r: () => number, lo = 0, hi = 1): Float32Array {
  const p = new Float32Array(n);
  for (let i = 0; i < n; i++) p[i] = lo + (hi - lo) * r();
  return p;
}

function randomBytes(n: number, r: () => number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/**
 * Reference: PyTorch's upsample_bilinear2d (align_corners=False) written out per output pixel,
 * straight from its source: src = max(0, (d + 0.5) * in / out - 0.5), i0 = floor(src),
 * i1 = i0 + (i0 < in - 1), l1 = src - i0.
 */
function refBilinear(plane: Float32Array, h: number, w: number, y: number, x: number, H: number, W: number): number {
  const sy = Math.max(0, ((y + 0.5) * h) / H - 0.5);
  const sx = Math.max(0, ((x + 0.5) * w) / W - 0.5);
  const y0 = Math.min(Math.floor(sy), h - 1);
  const x0 = Math.min(Math.floor(sx), w - 1);
  const y1 = y0 + (y0 < h - 1 ? 1 : 0);
  const x1 = x0 + (x0 < w - 1 ? 1 : 0);
  const ly = y0 < h - 1 ? sy - y0 : 0;
  const lx = x0 < w - 1 ? sx - x0 : 0;
  const v = (yy: number, xx: number) => plane[yy * w + xx];
  return (1 - ly) * ((1 - lx) * v(y0, x0) + lx * v(y0, x1)) + ly * ((1 - lx) * v(y1, x0) + lx * v(y1, x1));
}

test('axisMap matches PyTorch bilinear weights (2 -> 4, 4 -> 2, 1 -> 3)', () => {
  const up = axisMap(4, 2);
  assert.deepEqual(Array.from(up.i0), [0, 0, 0, 1]);
  assert.deepEqual(Array.from(up.i1), [1, 1, 1, 1]);
  assert.deepEqual(Array.from(up.w), [0, 0.25, 0.75, 0]);
  const down = axisMap(2, 4);
  assert.deepEqual(Array.from(down.i0), [0, 2]);
  assert.deepEqual(Array.from(down.i1), [1, 3]);
  assert.deepEqual(Array.from(down.w), [0.5, 0.5]);
  const one = axisMap(3, 1);
  assert.deepEqual(Array.from(one.i0), [0, 0, 0]);
  assert.deepEqual(Array.from(one.i1), [0, 0, 0]);
  assert.throws(() => axisMap(0, 3), RangeError);
});

test('upsampleRows equals the per-pixel reference for up- and down-sampling, rows in order', () => {
  const r = rng(1);
  for (const [h, w, H, W] of [
    [3, 5, 13, 22],
    [4, 4, 4, 4],
    [7, 9, 3, 4],
    [1, 1, 5, 2],
    [2, 6, 11, 6],
  ]) {
    const a = randomPlane(h * w, r);
    const b = randomPlane(h * w, r, -1, 1);
    const seen: number[] = [];
    upsampleRows([a, b], h, w, H, W, (y, rows) => {
      seen.push(y);
      assert.equal(rows.length, 2);
      assert.equal(rows[0].length, W);
      for (let x = 0; x < W; x++) {
        assert.ok(Math.abs(rows[0][x] - refBilinear(a, h, w, y, x, H, W)) < 1e-12, `${h}x${w}->${H}x${W} a(${y},${x})`);
        assert.ok(Math.abs(rows[1][x] - refBilinear(b, h, w, y, x, H, W)) < 1e-12, `${h}x${w}->${H}x${W} b(${y},${x})`);
      }
    });
    assert.deepEqual(seen, Array.from({ length: H }, (_, i) => i));
  }
});

test('bilinearAt equals the row-streaming sampler bit for bit (seamless refinement)', () => {
  const r = rng(2);
  const [h, w, H, W] = [5, 7, 37, 45];
  const p = randomPlane(h * w, r);
  const ym = axisMap(H, h);
  const xm = axisMap(W, w);
  upsampleRows([p], h, w, H, W, (y, rows) => {
    for (let x = 0; x < W; x++) assert.equal(bilinearAt(p, w, ym, y, xm, x), rows[0][x]);
  });
});

test('toByte rounds and clamps, NaN to 0', () => {
  assert.equal(toByte(0), 0);
  assert.equal(toByte(1), 255);
  assert.equal(toByte(-0.3), 0);
  assert.equal(toByte(1.7), 255);
  assert.equal(toByte(0.5), 128);
  assert.equal(toByte(100 / 255), 100);
  assert.equal(toByte(Number.NaN), 0);
});

test('roundHalfEven rounds like Python 3', () => {
  assert.deepEqual([0.5, 1.5, 2.5, -1.5, 2.4999, 2.5001, 3].map(roundHalfEven), [0, 2, 2, -2, 2, 3, 3]);
});

test('baseSizeFor mirrors the Python base_size: s = min(1, L/long), each side round(side*s/16)*16 >= 16', () => {
  assert.deepEqual(baseSizeFor(4480, 6720, 512), { width: 336, height: 512 }); // 341.3 -> 336
  assert.deepEqual(baseSizeFor(6720, 4480, 512), { width: 512, height: 336 });
  assert.deepEqual(baseSizeFor(1000, 1000, 500), { width: 496, height: 496 });
  assert.deepEqual(baseSizeFor(70, 45, 512), { width: 64, height: 48 }); // s = 1: not enlarged
  assert.deepEqual(baseSizeFor(5, 3, 512), { width: 16, height: 16 });
  assert.deepEqual(baseSizeFor(4000, 100, 512), { width: 512, height: 16 });
  assert.deepEqual(baseSizeFor(40, 56, 512), { width: 32, height: 64 }); // 2.5 -> 2, 3.5 -> 4 (half to even)
  for (const [w, h, l] of [
    [4480, 6720, 512],
    [3000, 2000, 1024],
    [333, 777, 128],
    [1921, 1079, 512],
  ]) {
    const s = baseSizeFor(w, h, l);
    assert.equal(s.width % 16, 0);
    assert.equal(s.height % 16, 0);
    const k = Math.min(1, l / Math.max(w, h));
    assert.ok(Math.abs(s.width - w * k) <= 8 && Math.abs(s.height - h * k) <= 8, `${w}x${h}`);
  }
});

/** Reference for upsampleCoarse: materialise full-res float planes, then quantise and average. */
function refCoarse(shot: Uint8Array, H: number, W: number, h: number, w: number, planes: Float32Array[]) {
  const up = planes.map((p) => {
    const f = new Float64Array(H * W);
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) f[y * W + x] = refBilinear(p, h, w, y, x, H, W);
    return f;
  });
  const alpha = new Uint8Array(H * W);
  const fg = new Uint8Array(H * W * 3);
  for (let i = 0; i < H * W; i++) {
    alpha[i] = Math.round(Math.min(1, Math.max(0, up[0][i])) * 255);
    for (let c = 0; c < 3; c++) {
      const opaqueOrClear = alpha[i] === 0 || alpha[i] === 255;
      fg[i * 3 + c] = opaqueOrClear ? shot[i * 3 + c] : Math.round(Math.min(1, Math.max(0, shot[i * 3 + c] / 255 + up[1 + c][i])) * 255);
    }
  }
  return { alpha, fg };
}

test('upsampleCoarse: alpha and foreground match a materialised reference', () => {
  const r = rng(3);
  for (const [h, w, H, W] of [
    [4, 6, 45, 70],
    [3, 3, 17, 9],
    [2, 2, 8, 16],
  ]) {
    const planes = [randomPlane(h * w, r, -0.2, 1.2), randomPlane(h * w, r, -1, 1), randomPlane(h * w, r, -1, 1), randomPlane(h * w, r, -1, 1)];
    const shot = randomBytes(H * W * 3, r);
    const got = upsampleCoarse(shot, H, W, { h, w, alpha: planes[0], fgrRes: [planes[1], planes[2], planes[3]] });
    const ref = refCoarse(shot, H, W, h, w, planes);
    let diffA = 0;
    for (let i = 0; i < H * W; i++) diffA = Math.max(diffA, Math.abs(got.alpha[i] - ref.alpha[i]));
    let diffF = 0;
    for (let i = 0; i < H * W * 3; i++) diffF = Math.max(diffF, Math.abs(got.foreground[i] - ref.fg[i]));
    // Rounding at exact .5 boundaries may differ by one level between summation orders.
    assert.ok(diffA <= 1 && diffF <= 1, `alpha ${diffA} fg ${diffF}`);
  }
});

test('CoarseUpsampler in row chunks equals one upsampleCoarse pass', () => {
  const r = rng(6);
  const [h, w, H, W] = [3, 4, 29, 23];
  const planes = [randomPlane(h * w, r), randomPlane(h * w, r, -1, 1), randomPlane(h * w, r, -1, 1), randomPlane(h * w, r, -1, 1)];
  const shot = randomBytes(H * W * 3, r);
  const base = { h, w, alpha: planes[0], fgrRes: [planes[1], planes[2], planes[3]] as const };
  const whole = upsampleCoarse(shot, H, W, base);
  const u = new CoarseUpsampler(shot, H, W, base);
  for (let y = 0; y < H; y += 5) u.rows(y, y + 5); // last chunk runs past H
  assert.deepEqual(u.alpha, whole.alpha);
  assert.deepEqual(u.foreground, whole.foreground);
  assert.throws(() => new CoarseUpsampler(shot.subarray(1), H, W, base), RangeError);
});

test('gridShape and cellErrors: error map resampled to ceil(H/8) x ceil(W/8)', () => {
  assert.deepEqual(gridShape(45, 70, 8), { cellsX: 9, cellsY: 6 });
  assert.deepEqual(gridShape(16, 8, 8), { cellsX: 1, cellsY: 2 });
  const r = rng(5);
  const [h, w] = [3, 5];
  const err = randomPlane(h * w, r);
  const { cellsX, cellsY } = gridShape(45, 70, 8);
  const got = cellErrors(err, h, w, cellsY, cellsX);
  assert.equal(got.length, cellsX * cellsY);
  for (let y = 0; y < cellsY; y++)
    for (let x = 0; x < cellsX; x++) {
      assert.ok(Math.abs(got[y * cellsX + x] - refBilinear(err, h, w, y, x, cellsY, cellsX)) < 1e-6);
    }
  // Downsampling case (grid smaller than the error map).
  const big = randomPlane(20 * 30, r);
  const g2 = cellErrors(big, 20, 30, 4, 5);
  assert.ok(Math.abs(g2[7] - refBilinear(big, 20, 30, 1, 2, 4, 5)) < 1e-6);
});

test('upsampleCoarse: a constant field gives constant outputs and exact foreground arithmetic', () => {
  const [h, w, H, W] = [2, 3, 10, 13];
  const c = (v: number) => new Float32Array(h * w).fill(v);
  const shot = new Uint8Array(H * W * 3).fill(100);
  const got = upsampleCoarse(shot, H, W, { h, w, alpha: c(0.5), fgrRes: [c(0.2), c(-0.5), c(0)] });
  assert.ok(got.alpha.every((v) => v === 128));
  for (let i = 0; i < H * W; i++) {
    assert.equal(got.foreground[i * 3], Math.round((100 / 255 + 0.2) * 255)); // 151
    assert.equal(got.foreground[i * 3 + 1], 0); // clamped
    assert.equal(got.foreground[i * 3 + 2], 100);
  }
  // Opaque (alpha 255) and transparent (alpha 0) pixels take the shot itself, whatever the residual.
  for (const a of [1.2, -0.1]) {
    const flat = upsampleCoarse(shot, H, W, { h, w, alpha: c(a), fgrRes: [c(0.2), c(-0.5), c(0.1)] });
    assert.ok(flat.alpha.every((v) => v === (a > 1 ? 255 : 0)));
    assert.deepEqual(flat.foreground, shot);
  }
});

test('differenceGuide: (shot - plate + 256) >> 1, 128 where the shot shows the plate', () => {
  const shot = new Uint8Array([0, 255, 100, 255, 0, 7]);
  const plate = new Uint8Array([255, 0, 100, 254, 1, 0]);
  assert.deepEqual(Array.from(differenceGuide(shot, plate)), [0, 255, 128, 128, 127, 131]);
});

test('guided upsampling: alpha = a . guide + b inside the coarse transition band; clear, solid and flat stay bilinear', () => {
  const [h, w, H, W] = [2, 3, 10, 13];
  const c = (v: number) => new Float32Array(h * w).fill(v);
  const r = rng(5);
  const shot = new Uint8Array(H * W * 3);
  const plate = new Uint8Array(H * W * 3);
  for (let i = 0; i < shot.length; i++) {
    shot[i] = Math.floor(r() * 256);
    plate[i] = Math.floor(r() * 256);
  }
  const guide = differenceGuide(shot, plate);
  const fgr: [Float32Array, Float32Array, Float32Array] = [c(0), c(0), c(0)];
  // a = (1, 0, -0.5), b = 0.2: alpha follows the guide's red and blue channels, pixel by pixel.
  const coef = [c(1), c(0), c(-0.5), c(0.2)] as const;
  const got = upsampleCoarse(shot, H, W, { h, w, alpha: c(0.5), fgrRes: fgr, guided: { coef, plate } });
  for (let i = 0; i < H * W; i++) {
    // Within one level: the streamed sum blends each constant coefficient as (1 - f) k + f k.
    const want = toByte(guide[i * 3] / 255 - 0.5 * (guide[i * 3 + 2] / 255) + 0.2);
    assert.ok(Math.abs(got.alpha[i] - want) <= 1, `pixel ${i}: ${got.alpha[i]} vs ${want}`);
  }
  assert.ok(new Set(got.alpha).size > 20, 'the guide must show through');
  // Coarse alpha clear or solid: outside the band the coefficients are not used.
  for (const a of [0, 1]) {
    const flat = upsampleCoarse(shot, H, W, { h, w, alpha: c(a), fgrRes: fgr, guided: { coef, plate } });
    assert.ok(flat.alpha.every((v) => v === a * 255));
  }
  // Flat coefficients (a = 0, b = 1): nothing to follow, the bilinear coarse alpha stays.
  const flatCoef = [c(0), c(0), c(0), c(1)] as const;
  const kept = upsampleCoarse(shot, H, W, { h, w, alpha: c(0.5), fgrRes: fgr, guided: { coef: flatCoef, plate } });
  assert.ok(kept.alpha.every((v) => v === 128));
  // The row-chunked form agrees, and a plate of the wrong size is refused.
  const u = new CoarseUpsampler(shot, H, W, { h, w, alpha: c(0.5), fgrRes: fgr, guided: { coef, plate } });
  u.rows(0, 4);
  u.rows(4, H);
  assert.deepEqual(u.alpha, got.alpha);
  assert.throws(() => new CoarseUpsampler(shot, H, W, { h, w, alpha: c(0.5), fgrRes: fgr, guided: { coef, plate: plate.subarray(3) } }), RangeError);
});

test('selectCells budget: top-k by error, k = round(budget * H * W / 64), ties by index, ascending output', () => {
  const err = new Float32Array([0.1, 0.9, 0.3, 0.9, 0.5, 0.0, 0.7, 0.2]);
  // H*W = 8 cells * 64 pixels; budget 3/8 -> k = 3: 0.9 (1), 0.9 (3), 0.7 (6)
  assert.deepEqual(Array.from(selectCells(err, { mode: 'budget', pixelBudget: 3 / 8 }, 16, 32, 8)), [1, 3, 6]);
  // k = 1 with a tie at the top: the lower index wins.
  assert.deepEqual(Array.from(selectCells(err, { mode: 'budget', pixelBudget: 1 / 8 }, 16, 32, 8)), [1]);
  assert.equal(selectCells(err, { mode: 'budget', pixelBudget: 0 }, 16, 32, 8).length, 0);
  assert.equal(selectCells(err, { mode: 'budget', pixelBudget: 1 }, 16, 32, 8).length, 8);
  // Partial cells: k is computed from real pixels, capped at the number of cells.
  assert.equal(selectCells(new Float32Array(4), { mode: 'budget', pixelBudget: 1 }, 9, 9, 8).length, 1); // round(81/64)
  const withNaN = new Float32Array([Number.NaN, 0.5, 0.4]);
  assert.deepEqual(Array.from(selectCells(withNaN, { mode: 'budget', pixelBudget: 1 }, 8, 24, 8)), [1, 2]);
  // Many equal values: exactly k chosen.
  const flat = new Float32Array(100).fill(0.3);
  const sel = selectCells(flat, { mode: 'budget', pixelBudget: 0.1 }, 80, 80, 8);
  assert.deepEqual(Array.from(sel), Array.from({ length: 10 }, (_, i) => i));
});

test('selectCells maxPatches: caps budget and threshold at the largest errors (0: no cap)', () => {
  const err = Float32Array.from([0.1, 0.9, 0.2, 0.8, 0.3, 0.7, NaN, 0.5]);
  assert.deepEqual(Array.from(selectCells(err, { mode: 'budget', pixelBudget: 1, maxPatches: 2 }, 16, 32, 8)), [1, 3]);
  assert.deepEqual(Array.from(selectCells(err, { mode: 'budget', pixelBudget: 1, maxPatches: 0 }, 16, 32, 8)), [0, 1, 2, 3, 4, 5, 7]);
  assert.deepEqual(Array.from(selectCells(err, { mode: 'threshold', threshold: 0.25, maxPatches: 3 }, 16, 32, 8)), [1, 3, 5]);
  // Fewer qualifying cells than the cap: the threshold rule alone.
  assert.deepEqual(Array.from(selectCells(err, { mode: 'threshold', threshold: 0.6, maxPatches: 3 }, 16, 32, 8)), [1, 3, 5]);
  assert.deepEqual(Array.from(selectCells(err, { mode: 'threshold', threshold: 0.75, maxPatches: 3 }, 16, 32, 8)), [1, 3]);
});

test('selectCells threshold: strictly greater than threshold', () => {
  const err = new Float32Array([0.1, 0.9, 0.3, 0.9, 0.5, 0.0, 0.7, 0.2]);
  assert.deepEqual(Array.from(selectCells(err, { mode: 'threshold', threshold: 0.5 }, 16, 32, 8)), [1, 3, 6]);
  assert.deepEqual(Array.from(selectCells(err, { mode: 'threshold', threshold: 0 }, 16, 32, 8)), [0, 1, 2, 3, 4, 6, 7]);
  assert.equal(selectCells(err, { mode: 'threshold', threshold: 1 }, 16, 32, 8).length, 0);
});

test('extractWindows matches a straightforward reference, incl. clamped borders and partial cells', () => {
  const r = rng(4);
  const [H, W, h, w] = [21, 19, 4, 3];
  const patch = 8;
  const context = 4;
  const S = 16;
  const shot = randomBytes(H * W * 3, r);
  const plate = randomBytes(H * W * 3, r);
  const planes = Array.from({ length: 5 }, () => randomPlane(h * w, r, -1, 1));
  const cellsX = Math.ceil(W / patch); // 3
  const cellsY = Math.ceil(H / patch); // 3
  const cells = new Uint32Array([0, 4, 8, 2, 6]); // corners, centre, partial cells
  const C = 6 + planes.length;
  const out = new Float32Array(3 * C * S * S).fill(-99);
  const src = { shot, plate, H, W, planes, h, w, ym: axisMap(H, h), xm: axisMap(W, w), patch, context, cellsX };
  extractWindows(src, cells, 1, 3, out); // cells 4, 8, 2
  for (let n = 0; n < 3; n++) {
    const cell = cells[1 + n];
    const cy = Math.floor(cell / cellsX);
    const cx = cell % cellsX;
    assert.ok(cy < cellsY);
    for (let i = 0; i < S; i++)
      for (let j = 0; j < S; j++) {
        const y = Math.min(H - 1, Math.max(0, cy * patch - context + i));
        const x = Math.min(W - 1, Math.max(0, cx * patch - context + j));
        const at = (c: number) => out[((n * C + c) * S + i) * S + j];
        for (let c = 0; c < 3; c++) {
          assert.ok(Math.abs(at(c) - shot[(y * W + x) * 3 + c] / 255) < 1e-6);
          assert.ok(Math.abs(at(3 + c) - plate[(y * W + x) * 3 + c] / 255) < 1e-6);
        }
        for (let c = 0; c < planes.length; c++) {
          const ref = refBilinear(planes[c], h, w, y, x, H, W);
          assert.ok(Math.abs(at(6 + c) - ref) < 1e-6, `n${n} c${c} (${i},${j}) ${at(6 + c)} vs ${ref}`);
          // Bit-identical to the coarse sampler's expression (seamless write-back).
          assert.equal(at(6 + c), Math.fround(bilinearAt(planes[c], w, src.ym, y, src.xm, x)));
        }
      }
  }
  assert.throws(() => extractWindows(src, cells, 0, 5, out), RangeError);
});

test('writeBackPatches writes only in-image centre pixels of the selected cells', () => {
  const [H, W, patch] = [10, 11, 8];
  const cellsX = 2;
  const alpha = new Uint8Array(H * W).fill(7);
  const foreground = new Uint8Array(H * W * 3).fill(9);
  const shot = new Uint8Array(H * W * 3).fill(51); // 0.2
  const cells = new Uint32Array([3, 0]); // bottom-right partial cell (2x3 in-image), then top-left
  const PP = patch * patch;
  const refAlpha = new Float32Array(2 * PP);
  const refFgr = new Float32Array(2 * 3 * PP);
  for (let k = 0; k < PP; k++) {
    refAlpha[k] = k / 100; // cell 3
    refFgr[k] = 0.1; // R +0.1
    refFgr[PP + k] = -1; // G -> 0
    refFgr[2 * PP + k] = 2; // B -> 255
  }
  writeBackPatches({ alpha, foreground, shot, H, W, patch, cellsX }, cells, 0, 1, refAlpha, refFgr);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const q = y * W + x;
      if (y >= 8 && x >= 8) {
        const k = (y - 8) * patch + (x - 8);
        assert.equal(alpha[q], Math.round((k / 100) * 255));
        // Alpha 0 (k = 0): the shot itself; otherwise shot + residual, clamped.
        const fg = k === 0 ? [51, 51, 51] : [Math.round((0.2 + 0.1) * 255), 0, 255];
        assert.deepEqual(Array.from(foreground.subarray(q * 3, q * 3 + 3)), fg);
      } else {
        assert.equal(alpha[q], 7);
        assert.equal(foreground[q * 3], 9);
      }
    }
  // count/start select the second patch (cell 0), whose data is at index 0 of the batch arrays.
  writeBackPatches({ alpha, foreground, shot, H, W, patch, cellsX }, cells, 1, 1, refAlpha, refFgr);
  assert.equal(alpha[0], 0);
  assert.equal(alpha[7 * W + 7], Math.round(0.63 * 255));
  assert.equal(alpha[8 * W + 0], 7); // outside cell 0
});

test('patchChanges: mean |refined - current| over in-image pixels, written at the batch offset', () => {
  const [H, W, patch] = [10, 11, 8];
  const cellsX = 2;
  const alpha = new Uint8Array(H * W).fill(255);
  const cells = new Uint32Array([0, 3]);
  const PP = patch * patch;
  const refAlpha = new Float32Array(PP).fill(0.5); // one patch per call: index 0 of the batch
  const out = new Float32Array(2).fill(-1);
  patchChanges({ alpha, H, W, patch, cellsX }, cells, 1, 1, refAlpha, out);
  // Cell 3 is the 2x3 bottom-right corner; pixels past the image do not count.
  assert.equal(out[0], -1);
  assert.ok(Math.abs(out[1] - (255 - 128) / 255) < 1e-6);
  alpha.fill(0, 0, W); // first row of cell 0 at 0, the rest at 255
  refAlpha.fill(1);
  patchChanges({ alpha, H, W, patch, cellsX }, cells, 0, 1, refAlpha, out);
  assert.ok(Math.abs(out[0] - 8 / 64) < 1e-6);
});

test('growCells: unrefined 8-neighbours of cells changed more than minChange, most changed first, within limit', () => {
  // 5 x 4 grid of cells, index = y * 5 + x.
  const [cellsX, cellsY] = [5, 4];
  const fresh = (done: number[]) => {
    const r = new Uint8Array(cellsX * cellsY);
    for (const c of done) r[c] = 1;
    return r;
  };
  // Cell 6 (1,1) changed a lot, cell 19 (corner 4,3) a little, cell 0 not enough.
  const cells = new Uint32Array([0, 6, 19]);
  const changes = new Float32Array([0.05, 0.4, 0.1]);
  let refined = fresh([0, 6, 19]);
  const all = growCells(cells, changes, 0.05, refined, cellsX, cellsY, 100);
  // Neighbours of 6: 0 1 2 5 7 10 11 12 (0 already refined); of 19 (corner): 13 14 18.
  assert.deepEqual(Array.from(all), [1, 2, 5, 7, 10, 11, 12, 13, 14, 18]);
  for (const c of all) assert.equal(refined[c], 1, 'returned cells are marked refined');
  assert.equal(refined[3], 0);
  // A second call finds nothing new around the same cells.
  assert.equal(growCells(cells, changes, 0.05, refined, cellsX, cellsY, 100).length, 0);
  // limit: the most changed cell's neighbours first, in row-major neighbour order.
  refined = fresh([0, 6, 19]);
  assert.deepEqual(Array.from(growCells(cells, changes, 0.05, refined, cellsX, cellsY, 3)), [1, 2, 5]);
  assert.equal(refined[7], 0, 'cells past the limit stay unrefined');
  refined = fresh([0, 6, 19]);
  assert.deepEqual(Array.from(growCells(cells, changes, 0.2, refined, cellsX, cellsY, 100)), [1, 2, 5, 7, 10, 11, 12]);
  assert.equal(growCells(cells, changes, 0.5, fresh([0, 6, 19]), cellsX, cellsY, 100).length, 0);
  assert.equal(growCells(cells, changes, 0, fresh([0, 6, 19]), cellsX, cellsY, 0).length, 0);
});

test('rgbToPlanar converts interleaved bytes to NCHW 0..1', () => {
  const p = rgbToPlanar(new Uint8Array([255, 0, 51, 0, 255, 102]), 2, 1);
  assert.deepEqual(Array.from(p).map((v) => Math.round(v * 1000) / 1000), [1, 0, 0, 1, 0.2, 0.4]);
  assert.throws(() => rgbToPlanar(new Uint8Array(5), 2, 1), RangeError);
});

test('mirrorPlanes flips every row of every plane; averageMirrored averages with the mirrored-back map', () => {
  // 2 planes of 2x3: values 0..11
  const src = Float32Array.from({ length: 12 }, (_, i) => i);
  assert.deepEqual(Array.from(mirrorPlanes(src, 2, 2, 3)), [2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9]);
  assert.deepEqual(mirrorPlanes(mirrorPlanes(src, 2, 2, 3), 2, 2, 3), src);
  assert.throws(() => mirrorPlanes(src, 2, 2, 2), RangeError);
  // A network that is exactly mirror-equivariant gives mirror(f(x)) for the mirrored input: the mean is f(x).
  const dst = src.slice();
  averageMirrored(dst, mirrorPlanes(src, 2, 2, 3), 2, 2, 3);
  assert.deepEqual(dst, src);
  // Otherwise the mean of the two predictions, pixel by pixel.
  const a = new Float32Array([0, 0, 1, 1]);
  averageMirrored(a, new Float32Array([1, 0, 0, 0]), 1, 2, 2);
  assert.deepEqual(Array.from(a), [0, 0.5, 0.5, 0.5]);
  assert.throws(() => averageMirrored(a, new Float32Array(3), 1, 2, 2), RangeError);
});
