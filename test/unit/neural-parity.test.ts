/**
 * ONNX parity against the PyTorch vectors of the tiny fixture (test/fixtures/bgm-tiny, made by
 * scripts/train/export.py --tiny): base and refiner outputs, the contract's window extraction and
 * the patch selection, all through the engine's own code paths.
 */
import { packageRoot } from '../../src/paths.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { loadModel } from '../../src/engine/neural/model.js';
import { axisMap, cellErrors, extractWindows, gridShape, selectCells } from '../../src/engine/neural/sampling.js';

const FIXTURE = path.join(packageRoot(), 'test', 'fixtures', 'bgm-tiny');

interface TensorSpec {
  file: string;
  shape: number[];
}
interface Parity {
  tolerance: number;
  base: { h: number; w: number; inputs: Record<'shot' | 'plate', TensorSpec>; outputs: Record<'alpha' | 'fgr_res' | 'error' | 'hidden', TensorSpec> };
  patches: { fullH: number; fullW: number; fullShot: TensorSpec; fullPlate: TensorSpec; cells: [number, number][] };
  refiner: { n: number; inputs: { patches: TensorSpec }; outputs: Record<'alpha' | 'fgr_res', TensorSpec> };
  selection: { cellsH: number; cellsW: number; cellError: TensorSpec; pixelBudget: number; k: number; topCells: [number, number][] };
}

const parity = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'parity.json'), 'utf8')) as Parity;

function load(spec: TensorSpec): Float32Array {
  const buf = fs.readFileSync(path.join(FIXTURE, spec.file));
  const n = spec.shape.reduce((a, b) => a * b, 1);
  assert.equal(buf.length, n * 4, `${spec.file} size`);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(i * 4);
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = d; // NaN propagates as a failure
  }
  return m;
}

/** Planar float32 [1,3,H,W] 0..1 to interleaved 8-bit RGB (rounded). */
function planarToRgb8(p: Float32Array, H: number, W: number): Uint8Array {
  const out = new Uint8Array(H * W * 3);
  for (let c = 0; c < 3; c++) for (let i = 0; i < H * W; i++) out[i * 3 + c] = Math.round(p[c * H * W + i] * 255);
  return out;
}

test('parity fixture is the contract format with tolerance 1e-4', () => {
  const model = JSON.parse(fs.readFileSync(path.join(FIXTURE, 'model.json'), 'utf8')) as { format: string };
  assert.equal(model.format, 'cleanplate-bgm/1');
  assert.ok(parity.tolerance <= 1e-4);
});

test('base.onnx and refiner.onnx in onnxruntime-node match the PyTorch outputs (max abs diff < 1e-4)', async () => {
  const m = await loadModel(FIXTURE, 'cpu', 1);
  try {
    assert.equal(m.provider, 'cpu');
    const { h, w } = parity.base;
    const out = await m.base.run({
      shot: new ort.Tensor('float32', load(parity.base.inputs.shot), [1, 3, h, w]),
      plate: new ort.Tensor('float32', load(parity.base.inputs.plate), [1, 3, h, w]),
    });
    for (const name of ['alpha', 'fgr_res', 'error', 'hidden'] as const) {
      const spec = parity.base.outputs[name];
      assert.deepEqual(out[name].dims, spec.shape, `${name} shape`);
      const d = maxAbsDiff(out[name].data as Float32Array, load(spec));
      assert.ok(d < 1e-4, `base ${name}: max abs diff ${d}`);
    }
    const r = parity.refiner;
    const rout = await m.refiner.run({ patches: new ort.Tensor('float32', load(r.inputs.patches), r.inputs.patches.shape) });
    for (const name of ['alpha', 'fgr_res'] as const) {
      assert.deepEqual(rout[name].dims, r.outputs[name].shape, `${name} shape`);
      const d = maxAbsDiff(rout[name].data as Float32Array, load(r.outputs[name]));
      assert.ok(d < 1e-4, `refiner ${name}: max abs diff ${d}`);
    }
  } finally {
    await m.base.release();
    await m.refiner.release();
  }
});

test('extractWindows reproduces parity-patches.bin from the PyTorch base outputs', () => {
  const { fullH: H, fullW: W, cells } = parity.patches;
  const { h, w } = parity.base;
  const fullShot = load(parity.patches.fullShot);
  const fullPlate = load(parity.patches.fullPlate);
  const shot = planarToRgb8(fullShot, H, W);
  const plate = planarToRgb8(fullPlate, H, W);
  const alpha = load(parity.base.outputs.alpha);
  const fgr = load(parity.base.outputs.fgr_res);
  const hidden = load(parity.base.outputs.hidden);
  const hw = h * w;
  const planes = [alpha];
  for (let c = 0; c < 3; c++) planes.push(fgr.subarray(c * hw, (c + 1) * hw));
  for (let c = 0; c < 32; c++) planes.push(hidden.subarray(c * hw, (c + 1) * hw));
  const { cellsX } = gridShape(H, W, 8);
  const idx = Uint32Array.from(cells.map(([cy, cx]) => cy * cellsX + cx));
  const n = idx.length;
  const got = new Float32Array(n * 42 * 256);
  extractWindows({ shot, plate, H, W, planes, h, w, ym: axisMap(H, h), xm: axisMap(W, w), patch: 8, context: 4, cellsX }, idx, 0, n, got);
  const want = load(parity.refiner.inputs.patches);
  assert.equal(got.length, want.length);
  let dImg = 0;
  let dBase = 0;
  for (let p = 0; p < n; p++)
    for (let c = 0; c < 42; c++)
      for (let k = 0; k < 256; k++) {
        const i = (p * 42 + c) * 256 + k;
        const d = Math.abs(got[i] - want[i]);
        if (c < 6) dImg = Math.max(dImg, d);
        else dBase = Math.max(dBase, d);
      }
  // Shot/plate channels: the engine reads 8-bit images, the fixture has float ones (<= half a level).
  assert.ok(dImg <= 0.5 / 255 + 1e-6, `shot/plate channels: ${dImg}`);
  assert.ok(dBase < 1e-5, `upsampled base channels: ${dBase}`);
});

test('cellErrors and budget selection reproduce the PyTorch cell error and top-k cells', () => {
  const { h, w } = parity.base;
  const { fullH: H, fullW: W } = parity.patches;
  const s = parity.selection;
  const { cellsX, cellsY } = gridShape(H, W, 8);
  assert.deepEqual([cellsY, cellsX], [s.cellsH, s.cellsW]);
  const ce = cellErrors(load(parity.base.outputs.error), h, w, cellsY, cellsX);
  const d = maxAbsDiff(ce, load(s.cellError));
  assert.ok(d < 1e-6, `cell error diff ${d}`);
  const sel = selectCells(ce, { mode: 'budget', pixelBudget: s.pixelBudget }, H, W, 8);
  assert.equal(sel.length, s.k);
  const want = s.topCells.map(([cy, cx]) => cy * cellsX + cx).sort((a, b) => a - b);
  assert.deepEqual(Array.from(sel), want);
});
