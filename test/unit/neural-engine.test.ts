/**
 * End-to-end tests of the neural engine with the tiny random-weight fixture model: matte() against
 * an independent straightforward reference (per-pixel bilinear, per-window extraction, one refiner
 * run), refinement modes, batching, loading errors and execution-provider handling.
 */
import { packageRoot } from '../../src/paths.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import ort from 'onnxruntime-node';
import { createNeuralEngine } from '../../src/engine/neural/index.js';
import { parseModelJson, probeCuda } from '../../src/engine/neural/model.js';
import { keepOrtTelemetryOff } from '../../src/engine/neural/telemetry.js';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CleanplateError } from '../../src/errors.js';
import type { NeuralConfig } from '../../src/config/schema.js';
import type { RgbImage } from '../../src/image/types.js';

const FIXTURE = path.join(packageRoot(), 'test', 'fixtures', 'bgm-tiny');

const NO_GROW = { rounds: 0, minChange: 0.05, maxPatches: 1024 };

function cfg(over: Partial<NeuralConfig> = {}): NeuralConfig {
  return {
    modelDir: FIXTURE,
    executionProvider: 'cpu',
    baseLongSide: 512,
    flipAverage: false,
    guided: { radius: 0, eps: 1e-4 },
    refine: { mode: 'budget', maxPatches: 0, pixelBudget: 0.08, threshold: 0.1, grow: NO_GROW },
    threads: 1,
    ...over,
  };
}

/** A plate with a gradient and texture, and a shot with a coloured, soft-edged ellipse on it. */
function makePair(W: number, H: number): { shot: RgbImage; plate: RgbImage } {
  const plate = new Uint8Array(W * H * 3);
  const shot = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      plate[i] = (40 + (x * 150) / W + ((x * 7 + y * 13) % 11)) | 0;
      plate[i + 1] = (90 + (y * 100) / H) | 0;
      plate[i + 2] = (200 - (x * 3 + y * 5) % 60) | 0;
      const dx = (x - W * 0.5) / (W * 0.3);
      const dy = (y - H * 0.55) / (H * 0.35);
      const a = Math.min(1, Math.max(0, (1 - Math.hypot(dx, dy)) * 4));
      shot[i] = Math.round(a * 220 + (1 - a) * plate[i]);
      shot[i + 1] = Math.round(a * 30 + (1 - a) * plate[i + 1]);
      shot[i + 2] = Math.round(a * 60 + (1 - a) * plate[i + 2]);
    }
  return { shot: { width: W, height: H, data: shot }, plate: { width: W, height: H, data: plate } };
}

// ---- straightforward reference implementation of the contract (independent of sampling.ts) ----

function bil(p: Float32Array, h: number, w: number, y: number, x: number, H: number, W: number): number {
  const sy = Math.min(h - 1, Math.max(0, ((y + 0.5) * h) / H - 0.5));
  const sx = Math.min(w - 1, Math.max(0, ((x + 0.5) * w) / W - 0.5));
  const y0 = Math.floor(sy);
  const x0 = Math.floor(sx);
  const y1 = Math.min(y0 + 1, h - 1);
  const x1 = Math.min(x0 + 1, w - 1);
  const ly = sy - y0;
  const lx = sx - x0;
  const v = (yy: number, xx: number) => p[yy * w + xx];
  return (1 - ly) * ((1 - lx) * v(y0, x0) + lx * v(y0, x1)) + ly * ((1 - lx) * v(y1, x0) + lx * v(y1, x1));
}
const byte = (v: number) => Math.round(Math.min(1, Math.max(0, v)) * 255);

/** Left-right mirror of every row (`bw` values each) of a stack of planes. */
function mirrored(p: Float32Array, bw: number): Float32Array {
  const out = new Float32Array(p.length);
  for (let i = 0; i < p.length; i++) {
    const x = i % bw;
    out[i] = p[i - x + bw - 1 - x];
  }
  return out;
}

async function referenceMatte(
  shot: RgbImage,
  plate: RgbImage,
  bw: number,
  bh: number,
  k: number | 'none' | { threshold: number },
  flipAverage = false,
  grow = NO_GROW,
) {
  const W = shot.width;
  const H = shot.height;
  const small = async (img: RgbImage) => {
    const raw = await sharp(img.data, { raw: { width: W, height: H, channels: 3 } })
      .resize(bw, bh, { fit: 'fill', kernel: 'linear' })
      .raw()
      .toBuffer();
    const f = new Float32Array(3 * bw * bh);
    for (let i = 0; i < bw * bh; i++) for (let c = 0; c < 3; c++) f[c * bw * bh + i] = raw[i * 3 + c] / 255;
    return f;
  };
  keepOrtTelemetryOff(); // as the engine does before its first session
  const opts = { executionProviders: ['cpu'], intraOpNumThreads: 1 };
  const base = await ort.InferenceSession.create(path.join(FIXTURE, 'base.onnx'), opts);
  const refiner = await ort.InferenceSession.create(path.join(FIXTURE, 'refiner.onnx'), opts);
  try {
    const smallShot = await small(shot);
    const smallPlate = await small(plate);
    const out = await base.run({
      shot: new ort.Tensor('float32', smallShot, [1, 3, bh, bw]),
      plate: new ort.Tensor('float32', smallPlate, [1, 3, bh, bw]),
    });
    if (flipAverage) {
      // Base on the mirrored pair; alpha, residual and error become the mean with the mirrored-back outputs.
      const m = await base.run({
        shot: new ort.Tensor('float32', mirrored(smallShot, bw), [1, 3, bh, bw]),
        plate: new ort.Tensor('float32', mirrored(smallPlate, bw), [1, 3, bh, bw]),
      });
      for (const name of ['alpha', 'fgr_res', 'error']) {
        const a = out[name].data as Float32Array;
        const b = mirrored(m[name].data as Float32Array, bw);
        for (let i = 0; i < a.length; i++) a[i] = (a[i] + b[i]) / 2;
      }
    }
    const hw = bh * bw;
    const low = [out.alpha.data as Float32Array];
    const fgr = out.fgr_res.data as Float32Array;
    const hid = out.hidden.data as Float32Array;
    for (let c = 0; c < 3; c++) low.push(fgr.slice(c * hw, (c + 1) * hw));
    for (let c = 0; c < 32; c++) low.push(hid.slice(c * hw, (c + 1) * hw));
    const alpha = new Uint8Array(W * H);
    const fg = new Uint8Array(W * H * 3);
    for (let y = 0; y < H; y++)
      for (let x = 0; x < W; x++) {
        alpha[y * W + x] = byte(bil(low[0], bh, bw, y, x, H, W));
        for (let c = 0; c < 3; c++) fg[(y * W + x) * 3 + c] = byte(shot.data[(y * W + x) * 3 + c] / 255 + bil(low[1 + c], bh, bw, y, x, H, W));
      }
    const gw = Math.ceil(W / 8);
    const gh = Math.ceil(H / 8);
    const err = out.error.data as Float32Array;
    const ce: { i: number; e: number }[] = [];
    for (let y = 0; y < gh; y++) for (let x = 0; x < gw; x++) ce.push({ i: y * gw + x, e: bil(err, bh, bw, y, x, gh, gw) });
    const chosen =
      k === 'none'
        ? []
        : typeof k === 'number'
          ? [...ce].sort((a, b) => b.e - a.e || a.i - b.i).slice(0, k).map((c) => c.i)
          : ce.filter((c) => c.e > k.threshold).map((c) => c.i);
    // Refine `cells` (one refiner run); returns each cell's mean |refined - current| alpha (0..1).
    const refineCells = async (cells: number[]): Promise<number[]> => {
      const win = new Float32Array(cells.length * 42 * 256);
      cells.forEach((cell, n) => {
        const cy = Math.floor(cell / gw);
        const cx = cell % gw;
        for (let i = 0; i < 16; i++)
          for (let j = 0; j < 16; j++) {
            const y = Math.min(H - 1, Math.max(0, cy * 8 - 4 + i));
            const x = Math.min(W - 1, Math.max(0, cx * 8 - 4 + j));
            const q = (y * W + x) * 3;
            const vals = [
              shot.data[q] / 255,
              shot.data[q + 1] / 255,
              shot.data[q + 2] / 255,
              plate.data[q] / 255,
              plate.data[q + 1] / 255,
              plate.data[q + 2] / 255,
              ...low.map((p) => bil(p, bh, bw, y, x, H, W)),
            ];
            vals.forEach((v, c) => (win[((n * 42 + c) * 16 + i) * 16 + j] = v));
          }
      });
      const r = await refiner.run({ patches: new ort.Tensor('float32', win, [cells.length, 42, 16, 16]) });
      const ra = r.alpha.data as Float32Array;
      const rf = r.fgr_res.data as Float32Array;
      return cells.map((cell, n) => {
        const cy = Math.floor(cell / gw);
        const cx = cell % gw;
        let change = 0;
        let count = 0;
        for (let i = 0; i < 8; i++)
          for (let j = 0; j < 8; j++) {
            const y = cy * 8 + i;
            const x = cx * 8 + j;
            if (y >= H || x >= W) continue;
            const a = byte(ra[n * 64 + i * 8 + j]);
            change += Math.abs(a - alpha[y * W + x]);
            count++;
            alpha[y * W + x] = a;
            for (let c = 0; c < 3; c++) fg[(y * W + x) * 3 + c] = byte(shot.data[(y * W + x) * 3 + c] / 255 + rf[(n * 3 + c) * 64 + i * 8 + j]);
          }
        return change / (255 * count);
      });
    };
    const done = new Set(chosen);
    let round = chosen;
    let grown = 0;
    for (let r = 0; round.length > 0; r++) {
      const changes = await refineCells(round);
      if (r >= grow.rounds) break;
      // Next round: unrefined 8-neighbours of the cells changed more than minChange, most changed first.
      const next: number[] = [];
      const order = round.map((cell, n) => ({ cell, c: changes[n] })).filter((o) => o.c > grow.minChange);
      order.sort((a, b) => b.c - a.c || a.cell - b.cell);
      for (const { cell } of order)
        for (const [dy, dx] of [[-1, -1], [-1, 0], [-1, 1], [0, -1], [0, 0], [0, 1], [1, -1], [1, 0], [1, 1]]) {
          const y = Math.floor(cell / gw) + dy;
          const x = (cell % gw) + dx;
          if (y < 0 || x < 0 || y >= gh || x >= gw || done.has(y * gw + x) || grown + next.length >= grow.maxPatches) continue;
          done.add(y * gw + x);
          next.push(y * gw + x);
        }
      grown += next.length;
      round = next.sort((a, b) => a - b);
    }
    // Where the 8-bit alpha is 0 or 255 the foreground is the shot itself.
    for (let i = 0; i < W * H; i++) if (alpha[i] === 0 || alpha[i] === 255) fg.set(shot.data.subarray(i * 3, i * 3 + 3), i * 3);
    return { alpha, fg, chosen, grown, cellCount: gw * gh, cellErrors: ce.map((c) => c.e) };
  } finally {
    await base.release();
    await refiner.release();
  }
}

function diffStats(a: Uint8Array, b: Uint8Array): { max: number; count: number } {
  assert.equal(a.length, b.length);
  let max = 0;
  let count = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (d > 0) count++;
    if (d > max) max = d;
  }
  return { max, count };
}

for (const [W, H] of [
  [70, 45],
  [33, 67],
]) {
  test(`matte() on ${W}x${H} equals the straightforward reference (budget mode)`, async () => {
    const engine = await createNeuralEngine(cfg());
    try {
      const { shot, plate } = makePair(W, H);
      const res = await engine.matte({ shot, plate });
      assert.equal(res.alpha.width, W);
      assert.equal(res.alpha.height, H);
      assert.equal(res.alpha.data.length, W * H);
      assert.ok(res.foreground);
      assert.equal(res.foreground.data.length, W * H * 3);
      assert.equal(res.alignedPlate, plate);
      assert.deepEqual(res.warnings, []);
      const d = res.diagnostics;
      const base = d.baseSize as { width: number; height: number };
      assert.equal(base.width % 16, 0);
      assert.equal(base.height % 16, 0);
      assert.equal(d.alignment, 'none');
      assert.deepEqual(d.homography, [1, 0, 0, 0, 1, 0, 0, 0, 1]);
      assert.equal(d.alignmentResidualPx, null);
      assert.equal(d.provider, 'cpu');
      assert.equal(d.modelVersion, 'tiny-random-20240611');
      const k = Math.round((0.08 * W * H) / 64);
      assert.ok(k > 0);
      assert.equal(d.patchesRefined, k);
      assert.deepEqual(Object.keys(res.timings).sort(), ['base', 'refine', 'resize', 'upsample']);
      for (const v of Object.values(res.timings)) assert.ok(v >= 0);

      const ref = await referenceMatte(shot, plate, base.width, base.height, k);
      const a = diffStats(res.alpha.data, ref.alpha);
      const f = diffStats(res.foreground.data, ref.fg);
      // Identical up to float rounding at exact half levels.
      assert.ok(a.max <= 1 && a.count <= 2, `alpha differs: ${JSON.stringify(a)}`);
      assert.ok(f.max <= 1 && f.count <= 6, `foreground differs: ${JSON.stringify(f)}`);
      let fgPix = 0;
      for (const v of res.alpha.data) if (v >= 128) fgPix++;
      assert.equal(d.foregroundFraction, fgPix / (W * H));

      // The refinement changed the selected cells: the coarse-only reference differs there.
      const coarse = await referenceMatte(shot, plate, base.width, base.height, 'none');
      assert.ok(diffStats(res.alpha.data, coarse.alpha).count > k, 'refiner output must differ from the coarse alpha');
    } finally {
      await engine.close();
    }
  });
}

test('flipAverage: matte() equals the reference with the mirrored base run averaged in, and differs from one run', async () => {
  const { shot, plate } = makePair(70, 45);
  const engine = await createNeuralEngine(cfg({ flipAverage: true }));
  try {
    assert.equal(engine.describe().flipAverage, true);
    const res = await engine.matte({ shot, plate });
    assert.equal(res.diagnostics.flipAverage, true);
    const k = Math.round((0.08 * 70 * 45) / 64);
    assert.equal(res.diagnostics.patchesRefined, k);
    const ref = await referenceMatte(shot, plate, 64, 48, k, true);
    const a = diffStats(res.alpha.data, ref.alpha);
    const f = diffStats(res.foreground?.data ?? new Uint8Array(), ref.fg);
    assert.ok(a.max <= 1 && a.count <= 2, `alpha differs: ${JSON.stringify(a)}`);
    assert.ok(f.max <= 1 && f.count <= 6, `foreground differs: ${JSON.stringify(f)}`);
    const single = await referenceMatte(shot, plate, 64, 48, k, false);
    assert.ok(diffStats(res.alpha.data, single.alpha).count > 100, 'flip averaging must change the matte');
  } finally {
    await engine.close();
  }
});

test('guided upsampling: the engine runs it when guided.radius > 0, changes only the coarse transition band, and reports it', async () => {
  const { shot, plate } = makePair(70, 45);
  const noRefine = { mode: 'budget' as const, maxPatches: 0, pixelBudget: 0, threshold: 0.1, grow: NO_GROW };
  const plain = await createNeuralEngine(cfg({ refine: noRefine }));
  const guided = await createNeuralEngine(cfg({ refine: noRefine, guided: { radius: 3, eps: 1e-4 } }));
  try {
    assert.deepEqual(guided.describe().guided, { radius: 3, eps: 1e-4 });
    const a = await plain.matte({ shot, plate });
    const b = await guided.matte({ shot, plate });
    assert.equal(a.diagnostics.guidedRadius, 0);
    assert.equal(b.diagnostics.guidedRadius, 3);
    assert.ok(typeof b.timings.guided === 'number' && a.timings.guided === undefined);
    let changed = 0;
    for (let i = 0; i < a.alpha.data.length; i++) {
      const v = a.alpha.data[i];
      if (v === 0 || v === 255) assert.equal(b.alpha.data[i], v, `pixel ${i}: clear or solid coarse alpha must stay`);
      else if (b.alpha.data[i] !== v) changed++;
    }
    assert.ok(changed > 0, 'guided upsampling must change the transition band');
  } finally {
    await plain.close();
    await guided.close();
  }
});

test('refine.grow: neighbours of changed patches are refined in further rounds, as the reference does, within grow.maxPatches', async () => {
  const { shot, plate } = makePair(70, 45);
  const k = 3;
  const refine = (grow: NeuralConfig['refine']['grow']): NeuralConfig['refine'] => ({
    mode: 'budget',
    maxPatches: k,
    pixelBudget: 1,
    threshold: 0.1,
    grow,
  });
  for (const grow of [
    { rounds: 2, minChange: 0.02, maxPatches: 1024 },
    { rounds: 5, minChange: 0.02, maxPatches: 11 },
  ]) {
    for (const refineBatch of [1024, 4]) {
      const e = await createNeuralEngine(cfg({ refine: refine(grow) }), { refineBatch });
      try {
        const res = await e.matte({ shot, plate });
        const ref = await referenceMatte(shot, plate, 64, 48, k, false, grow);
        assert.ok(ref.grown > 0, 'the fixture refiner must change some patches by more than minChange');
        assert.equal(res.diagnostics.patchesGrown, ref.grown, JSON.stringify(grow));
        assert.equal(res.diagnostics.patchesRefined, k + ref.grown);
        assert.ok(ref.grown <= grow.maxPatches);
        const a = diffStats(res.alpha.data, ref.alpha);
        const f = diffStats(res.foreground?.data ?? new Uint8Array(), ref.fg);
        assert.ok(a.max <= 1 && a.count <= 2, `alpha differs: ${JSON.stringify(a)}`);
        assert.ok(f.max <= 1 && f.count <= 6, `foreground differs: ${JSON.stringify(f)}`);
      } finally {
        await e.close();
      }
    }
  }
  const capped = await referenceMatte(shot, plate, 64, 48, k, false, { rounds: 5, minChange: 0.02, maxPatches: 11 });
  assert.equal(capped.grown, 11);
  // Growing changes the matte; rounds 0 is exactly the ungrown matte.
  const plain = await referenceMatte(shot, plate, 64, 48, k);
  assert.ok(diffStats(capped.alpha, plain.alpha).count > 64);
  const e0 = await createNeuralEngine(cfg({ refine: refine(NO_GROW) }));
  try {
    const r0 = await e0.matte({ shot, plate });
    assert.equal(r0.diagnostics.patchesGrown, 0);
    assert.ok(diffStats(r0.alpha.data, plain.alpha).max <= 1);
  } finally {
    await e0.close();
  }
});

test('threshold vs budget modes, budget 0, and batching give consistent results', async () => {
  const { shot, plate } = makePair(70, 45);
  const cells = Math.ceil(70 / 8) * Math.ceil(45 / 8);
  const run = async (refine: NeuralConfig['refine'], refineBatch?: number) => {
    const e = await createNeuralEngine(cfg({ refine }), { refineBatch });
    try {
      return await e.matte({ shot, plate });
    } finally {
      await e.close();
    }
  };
  const base = { width: 64, height: 48 };
  const coarse = await referenceMatte(shot, plate, base.width, base.height, 'none');
  // A threshold in the middle of the (partly zero: the fixture's error head clamps) cell errors.
  const positive = coarse.cellErrors.filter((e) => e > 0).sort((a, b) => a - b);
  assert.ok(positive.length > 4, 'fixture error map too flat for this test');
  const m = Math.floor(positive.length / 2);
  const t = (positive[m] + positive[m + 1]) / 2; // between two cells: no float32-vs-double tie
  assert.ok(positive[m] < t && t < positive[m + 1]);
  const expected = coarse.cellErrors.filter((e) => e > t).length;
  assert.ok(expected > 0 && expected < cells);
  const mid = await run({ mode: 'threshold', maxPatches: 0, pixelBudget: 0.08, threshold: t, grow: NO_GROW });
  assert.equal(mid.diagnostics.refineMode, 'threshold');
  assert.equal(mid.diagnostics.patchesRefined, expected);
  const midRef = await referenceMatte(shot, plate, base.width, base.height, { threshold: t });
  const d = diffStats(mid.alpha.data, midRef.alpha);
  assert.ok(d.max <= 1 && d.count <= 2, JSON.stringify(d));

  const none = await run({ mode: 'threshold', maxPatches: 0, pixelBudget: 0.08, threshold: 1, grow: NO_GROW });
  assert.equal(none.diagnostics.patchesRefined, 0);
  const zeroBudget = await run({ mode: 'budget', maxPatches: 0, pixelBudget: 0, threshold: 0, grow: NO_GROW });
  assert.equal(zeroBudget.diagnostics.patchesRefined, 0);
  assert.deepEqual(zeroBudget.alpha.data, none.alpha.data);
  assert.ok(diffStats(none.alpha.data, coarse.alpha).max <= 1);
  // Full budget: round(70*45/64) = 49 of 54 cells; batches of 3 (partial last batch) change nothing.
  const full = await run({ mode: 'budget', maxPatches: 0, pixelBudget: 1, threshold: 0.1, grow: NO_GROW });
  const full3 = await run({ mode: 'budget', maxPatches: 0, pixelBudget: 1, threshold: 0.1, grow: NO_GROW }, 3);
  assert.equal(full.diagnostics.patchesRefined, 49);
  assert.equal(full3.diagnostics.patchesRefined, 49);
  assert.deepEqual(full3.alpha.data, full.alpha.data);
  assert.deepEqual(full3.foreground?.data, full.foreground?.data);
  assert.notDeepEqual(full.alpha.data, none.alpha.data);
  const fullRef = await referenceMatte(shot, plate, base.width, base.height, 49);
  assert.ok(diffStats(full.alpha.data, fullRef.alpha).max <= 1);
  // maxPatches caps either mode at the largest predicted errors: the same as that many by budget.
  const capped = await run({ mode: 'budget', maxPatches: 7, pixelBudget: 1, threshold: 0.1, grow: NO_GROW });
  const capThreshold = await run({ mode: 'threshold', maxPatches: 7, pixelBudget: 1, threshold: 0, grow: NO_GROW });
  const seven = await run({ mode: 'budget', maxPatches: 0, pixelBudget: (7 * 64) / (70 * 45), threshold: 0.1, grow: NO_GROW });
  assert.equal(capped.diagnostics.patchesRefined, 7);
  assert.equal(capThreshold.diagnostics.patchesRefined, 7);
  assert.deepEqual(capped.alpha.data, seven.alpha.data);
  assert.deepEqual(capThreshold.alpha.data, seven.alpha.data);
});

test('tiny images (13x11, 5x3: one base tile of 16x16) and threads 0 work', async () => {
  const e = await createNeuralEngine(cfg({ threads: 0, refine: { mode: 'budget', maxPatches: 0, pixelBudget: 1, threshold: 0, grow: NO_GROW } }));
  try {
    assert.equal(e.describe().threads, os.availableParallelism());
    const small = makePair(13, 11);
    const r = await e.matte(small);
    assert.deepEqual(r.diagnostics.baseSize, { width: 16, height: 16 });
    assert.equal(r.diagnostics.patchesRefined, 2); // round(143 / 64) of 4 cells
    const ref = await referenceMatte(small.shot, small.plate, 16, 16, 2);
    assert.ok(diffStats(r.alpha.data, ref.alpha).max <= 1);
    assert.ok(diffStats(r.foreground?.data ?? new Uint8Array(), ref.fg).max <= 1);
    const tiny = makePair(5, 3);
    const r2 = await e.matte(tiny);
    assert.equal(r2.alpha.data.length, 15);
    assert.equal(r2.diagnostics.patchesRefined, 0); // round(15 / 64) = 0
    assert.ok(diffStats(r2.alpha.data, (await referenceMatte(tiny.shot, tiny.plate, 16, 16, 'none')).alpha).max <= 1);
  } finally {
    await e.close();
  }
});

test('describe() reports model version, provider and sizes; close() is final', async () => {
  const logs: string[] = [];
  const e = await createNeuralEngine(cfg({ baseLongSide: 1000 }), { log: (l, m) => logs.push(`${l}: ${m}`) });
  const d = e.describe();
  assert.equal(e.name, 'neural');
  assert.equal(d.modelVersion, 'tiny-random-20240611');
  assert.equal(d.provider, 'cpu');
  assert.equal(d.baseLongSide, 1000);
  assert.equal(d.patchSize, 8);
  assert.equal(d.patchContext, 4);
  assert.equal(d.hiddenChannels, 32);
  assert.equal(d.threads, 1);
  assert.ok(logs.some((l) => l.startsWith('info: ') && l.includes('CPU')), logs.join('\n'));
  // 1000 is neither a multiple of 16 nor close to the trained 32.
  assert.ok(logs.some((l) => l.startsWith('warn: ') && l.includes('multiple of 16')), logs.join('\n'));
  assert.ok(logs.some((l) => l.startsWith('warn: ') && l.includes('trained 32')), logs.join('\n'));
  const { shot, plate } = makePair(20, 20);
  await assert.rejects(e.matte({ shot, plate: makePair(21, 20).plate }), (err: unknown) => err instanceof CleanplateError && err.code === 'size-mismatch');
  await e.close();
  await e.close();
  await assert.rejects(e.matte({ shot, plate }), /after close/);
});

test('missing or invalid model folders fail with one-line engine errors', async () => {
  const tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cp-neural-'));
  try {
    const isEngineErr = (re: RegExp) => (err: unknown) => {
      assert.ok(err instanceof CleanplateError, String(err));
      assert.equal(err.code, 'engine');
      assert.ok(!err.message.includes('\n'));
      assert.match(err.message, re);
      return true;
    };
    await assert.rejects(createNeuralEngine(cfg({ modelDir: path.join(tmp, 'nope') })), isEngineErr(/model folder not found: .*nope/));
    // Relative modelDir resolves against repoRoot.
    await assert.rejects(createNeuralEngine(cfg({ modelDir: 'nope' }), { repoRoot: tmp }), isEngineErr(new RegExp(`not found: ${tmp}/nope`)));
    const dir = path.join(tmp, 'm');
    await fs.mkdir(dir);
    await assert.rejects(createNeuralEngine(cfg({ modelDir: dir })), isEngineErr(/has no model\.json/));
    await fs.writeFile(path.join(dir, 'model.json'), '{"format": "cleanplate-bgm/2"}');
    await assert.rejects(createNeuralEngine(cfg({ modelDir: dir })), isEngineErr(/format "cleanplate-bgm\/2", expected "cleanplate-bgm\/1"/));
    const good = await fs.readFile(path.join(FIXTURE, 'model.json'), 'utf8');
    await fs.writeFile(path.join(dir, 'model.json'), good);
    await assert.rejects(createNeuralEngine(cfg({ modelDir: dir })), isEngineErr(/has no base\.onnx/));
    await fs.copyFile(path.join(FIXTURE, 'base.onnx'), path.join(dir, 'base.onnx'));
    await fs.writeFile(path.join(dir, 'refiner.onnx'), 'not an onnx file');
    await assert.rejects(createNeuralEngine(cfg({ modelDir: dir })), isEngineErr(/cannot load .*refiner\.onnx \(cpu\)/));
    // Swapped files: the contract's input names are checked.
    await fs.copyFile(path.join(FIXTURE, 'base.onnx'), path.join(dir, 'refiner.onnx'));
    await assert.rejects(createNeuralEngine(cfg({ modelDir: dir })), isEngineErr(/refiner\.onnx does not follow cleanplate-bgm\/1: no input "patches"/));
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
});

test('parseModelJson validates the fields', () => {
  const ok = parseModelJson(
    JSON.stringify({ format: 'cleanplate-bgm/1', version: 'v1', hiddenChannels: 32, patchSize: 8, patchContext: 4, baseMultiple: 16 }),
    'm.json',
  );
  assert.equal(ok.version, 'v1');
  assert.equal(ok.trainedBaseLongSide, null);
  assert.throws(() => parseModelJson('{', 'm.json'), /m\.json is not valid JSON/);
  assert.throws(() => parseModelJson('[]', 'm.json'), /must hold a JSON object/);
  assert.throws(() => parseModelJson('{"format":"cleanplate-bgm/1"}', 'm.json'), /"version" must be a non-empty string/);
  assert.throws(
    () => parseModelJson('{"format":"cleanplate-bgm/1","version":"x","hiddenChannels":32,"patchSize":0,"patchContext":4,"baseMultiple":16}', 'm.json'),
    /"patchSize" must be an integer >= 1/,
  );
});

test("executionProvider 'cuda' without a CUDA provider fails with a config error; 'auto' falls back to CPU", async (t) => {
  const probe = probeCuda();
  if (probe.available) {
    t.skip('this onnxruntime-node has a CUDA provider installed');
    return;
  }
  await assert.rejects(createNeuralEngine(cfg({ executionProvider: 'cuda' })), (err: unknown) => {
    assert.ok(err instanceof CleanplateError);
    assert.equal(err.code, 'config');
    assert.ok(err.message.startsWith('engine.neural.executionProvider is cuda but onnxruntime-node has no CUDA provider: '), err.message);
    assert.ok(err.message.includes(probe.reason));
    assert.ok(!err.message.includes('\n'));
    return true;
  });
  const logs: string[] = [];
  const e = await createNeuralEngine(cfg({ executionProvider: 'auto' }), { log: (l, m) => logs.push(`${l}: ${m}`) });
  try {
    assert.equal(e.describe().provider, 'cpu');
    assert.ok(logs.some((l) => l.includes('on CPU') && l.includes('CUDA not used')), logs.join('\n'));
  } finally {
    await e.close();
  }
});

test('behind plate alignment, the mismatch warning uses the engine foreground fraction (alpha > 0.5)', async () => {
  const { withPlateAlignment } = await import('../../src/engine/aligned.js');
  const [W, H] = [40, 30];
  const alpha = new Uint8Array(W * H);
  alpha.fill(200, 0, 0.3 * W * H); // top 30% of the rows: foreground
  const inner = {
    name: 'neural' as const,
    describe: () => ({}),
    close: async () => undefined,
    matte: async (input: { shot: RgbImage; plate: RgbImage }) => ({
      alpha: { width: W, height: H, data: alpha },
      alignedPlate: input.plate,
      warnings: [],
      diagnostics: { alignment: 'none' as const, homography: [1, 0, 0, 0, 1, 0, 0, 0, 1], alignmentResidualPx: null, foregroundFraction: 0.3 },
      timings: {},
    }),
  };
  const { shot, plate } = makePair(W, H);
  const run = async (mismatchWarn: number) =>
    (await (await withPlateAlignment(inner, { align: 'off', matchColour: false, mismatchWarn })).matte({ shot, plate })).warnings;
  assert.ok((await run(0.2)).some((w) => w.startsWith('plate does not match the shot: 30%')), JSON.stringify(await run(0.2)));
  assert.ok(!(await run(0.4)).some((w) => w.startsWith('plate does not match the shot')));
});

test('onnxruntime telemetry stays off: ORT_DISABLE_TELEMETRY=1 unless the operator set it', async () => {
  const env: NodeJS.ProcessEnv = {};
  keepOrtTelemetryOff(env);
  assert.equal(env.ORT_DISABLE_TELEMETRY, '1');
  const theirs: NodeJS.ProcessEnv = { ORT_DISABLE_TELEMETRY: '0' };
  keepOrtTelemetryOff(theirs);
  assert.equal(theirs.ORT_DISABLE_TELEMETRY, '0');

  // A fresh process that loads the engine and mattes: onnxruntime 1.30 with telemetry on writes
  // /tmp/mat-debug-<pid>.log when its first session starts (checked by hand without the variable).
  const engineUrl = new URL('../../src/engine/neural/index.js', import.meta.url).href;
  const code = `
    const { createNeuralEngine } = await import(${JSON.stringify(engineUrl)});
    const e = await createNeuralEngine(${JSON.stringify(cfg())});
    const px = new Uint8Array(24 * 16 * 3).fill(90);
    await e.matte({ shot: { width: 24, height: 16, data: px }, plate: { width: 24, height: 16, data: px.map((v) => v + 40) } });
    await e.close();
    console.log(JSON.stringify({ pid: process.pid, env: process.env.ORT_DISABLE_TELEMETRY ?? null }));`;
  const childEnv = { ...process.env };
  delete childEnv.ORT_DISABLE_TELEMETRY;
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', code], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const rc = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.equal(rc, 0, err);
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { pid: number; env: string | null };
  assert.equal(r.env, '1');
  assert.equal(existsSync(`/tmp/mat-debug-${r.pid}.log`), false, 'onnxruntime started its telemetry');
});
