import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import type { AlphaImage, RgbImage } from '../../src/image/types.js';
import type { MattingEngine, MatteResult } from '../../src/engine/types.js';
import { CleanplateError } from '../../src/errors.js';
import {
  CONDITION_NAMES,
  createNaiveKeyEngine,
  evaluate,
  formatTable,
  naiveKeyAlpha,
  type EvalReport,
} from '../../src/eval/index.js';
import { createRng } from '../../src/eval/rng.js';
import { findGtItems, loadGtItem } from '../../src/eval/data.js';
import {
  addNoise,
  applyGain,
  jpegRoundTrip,
  synthesizePair,
  warpRigid,
} from '../../src/eval/synth.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const sharedData = path.resolve(repoRoot, '../shared/data');

let tmp: string;
let dataDir: string;
const gtBySize = new Map<string, AlphaImage>();

/** Smooth colourful texture, like a photo of a wall. */
function texture(w: number, h: number, phase: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      data[i] = 128 + 60 * Math.sin(x / 4 + phase) + 30 * Math.cos(y / 5);
      data[i + 1] = 110 + 50 * Math.cos((x + y) / 6 + phase);
      data[i + 2] = 90 + 40 * Math.sin(y / 3 - phase);
    }
  }
  return { width: w, height: h, data };
}

/** Soft-edged disc matte. */
function disc(w: number, h: number): AlphaImage {
  const data = new Uint8Array(w * h);
  const r = Math.min(w, h) * 0.3;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const d = Math.hypot(x - w / 2, y - h / 2) - r;
      data[y * w + x] = Math.round(255 * Math.min(1, Math.max(0, 0.5 - d / 3)));
    }
  }
  return { width: w, height: h, data };
}

function trimapOf(a: AlphaImage): AlphaImage {
  return { width: a.width, height: a.height, data: a.data.map((v) => (v === 0 ? 0 : v === 255 ? 255 : 128)) };
}

async function writeRgb(file: string, img: RgbImage): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } }).toFile(file);
}

async function writeGrey(file: string, img: AlphaImage): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 1 } }).png().toFile(file);
}

/** Returns the ground truth of the item with the shot's size (the synthetic items differ in size). */
function oracleEngine(): MattingEngine {
  return {
    name: 'neural',
    describe: () => ({ label: 'oracle' }),
    matte: async ({ shot, plate }): Promise<MatteResult> => {
      const gt = gtBySize.get(`${shot.width}x${shot.height}`);
      if (!gt) throw new Error('oracle: unknown size');
      return {
        alpha: { width: gt.width, height: gt.height, data: gt.data.slice() },
        alignedPlate: plate,
        warnings: [],
        diagnostics: { alignment: 'none', homography: [1, 0, 0, 0, 1, 0, 0, 0, 1], alignmentResidualPx: null, foregroundFraction: 0 },
        timings: {},
      };
    },
    close: async () => {},
  };
}

before(async () => {
  tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'cleanplate-eval-'));
  dataDir = path.join(tmp, 'data');
  const items: Array<[string, number, number, boolean]> = [
    ['itemA', 64, 48, true],
    ['itemB', 56, 40, false],
  ];
  for (const [name, w, h, withTrimap] of items) {
    const alpha = disc(w, h);
    gtBySize.set(`${w}x${h}`, alpha);
    // Saturated foreground colours far from the textures, so the naive key can find it.
    const fg = { width: w, height: h, data: new Uint8Array(w * h * 3).map((_, i) => (i % 3 === 0 ? 250 : i % 3 === 1 ? 20 : 240)) };
    await writeRgb(path.join(dataDir, 'gt', name, 'image.png'), fg);
    await writeGrey(path.join(dataDir, 'gt', name, 'alpha.png'), alpha);
    if (withTrimap) await writeGrey(path.join(dataDir, 'gt', name, 'trimap.png'), trimapOf(alpha));
  }
  // Not scorable (no alpha.png): must be skipped.
  await writeRgb(path.join(dataDir, 'gt', 'no-alpha', 'image.png'), texture(16, 16, 0));
  await writeRgb(path.join(dataDir, 'pairs', 'wall', 'plate.jpg'), texture(64, 48, 0.3));
  await writeRgb(path.join(dataDir, 'pairs', 'wall', 'shot.jpg'), texture(64, 48, 0.3));
  await writeRgb(path.join(dataDir, 'pairs', 'room', 'plate.png'), texture(80, 60, 1.7));
  // A flat plate: not a real background photo, must not be used.
  await writeRgb(path.join(dataDir, 'pairs', 'aaa-flat', 'plate.png'), {
    width: 40,
    height: 30,
    data: new Uint8Array(40 * 30 * 3).fill(90),
  });
});

after(async () => {
  await fs.rm(tmp, { recursive: true, force: true });
});

let first: EvalReport;

test('evaluate: naive key and an oracle on a synthetic data folder, report and table shape', async () => {
  const messages: string[] = [];
  const report = await evaluate({
    dataDir,
    engines: [createNaiveKeyEngine(), oracleEngine()],
    seed: 7,
    onProgress: (m) => messages.push(m),
  });
  first = report;
  assert.equal(report.schema, 'cleanplate-eval/1');
  assert.deepEqual(report.conditions, [...CONDITION_NAMES]);
  assert.deepEqual(report.items.map((i) => i.name), ['itemA', 'itemB']);
  assert.deepEqual(report.items.map((i) => [i.width, i.height, i.hasTrimap]), [[64, 48, true], [56, 40, false]]);
  for (const i of report.items) assert.ok(['wall', 'room'].includes(i.background.plate), `flat plate used: ${i.background.plate}`);
  assert.ok(messages.some((m) => m.includes('aaa-flat') && m.includes('flat')));
  assert.deepEqual(report.engines.map((e) => [e.label, e.name]), [['naive-key', 'classical'], ['oracle', 'neural']]);
  assert.equal(report.cases.length, 2 * 5);
  assert.equal(report.results.length, 2 * 5 * 2);
  assert.equal(report.summary.length, 5 * 2);

  for (const r of report.results) {
    assert.equal(r.error, null, `${r.item} ${r.condition} ${r.engine}: ${r.error}`);
    const s = r.scores;
    assert.ok(s && r.timeMs !== null && r.timeMs >= 0);
    if (r.engine === 'oracle') {
      assert.deepEqual(s, { sad: 0, mse: 0, grad: 0, conn: 0, mseUnknown: r.item === 'itemA' ? 0 : null });
    } else {
      assert.ok(s.sad > 0 && s.mse > 0 && s.mse < 1 && s.grad > 0 && s.conn > 0, JSON.stringify(r));
      assert.equal(s.mseUnknown === null, r.item === 'itemB');
    }
  }
  // The naive key has no colour correction: the exposure change must hurt it most.
  const naive = (c: string) => report.summary.find((s) => s.engine === 'naive-key' && s.condition === c);
  assert.ok((naive('exposure')?.mse ?? 0) > (naive('noise')?.mse ?? Infinity));
  // Summary = mean of the per-item results.
  const rows = report.results.filter((r) => r.engine === 'naive-key' && r.condition === 'jpeg');
  const meanSad = rows.reduce((m, r) => m + (r.scores?.sad ?? 0), 0) / rows.length;
  assert.equal(naive('jpeg')?.sad, meanSad);
  assert.equal(naive('jpeg')?.n, 2);
  assert.equal(naive('jpeg')?.failed, 0);

  // Condition parameters are recorded and within the documented ranges.
  for (const c of report.cases) {
    assert.equal(c.params.noiseSigma, 2);
    if (c.condition === 'misalign') {
      const [dx, dy] = c.params.shiftPx ?? [0, 0];
      const r = Math.hypot(dx, dy);
      assert.ok(r >= 0.99 && r <= 3.01, `shift ${r}`);
      assert.ok(Math.abs(c.params.rotationDeg ?? 9) <= 0.5);
    }
    if (c.condition === 'exposure') assert.deepEqual(c.params.plateGain?.map((g) => Math.round(g * 1e4) / 1e4), [1.1124, 1.08, 1.0368]);
    if (c.condition === 'shadow') assert.ok((c.params.shadow?.strength ?? 1) <= 0.35);
    if (c.condition === 'jpeg') assert.equal(c.params.jpegQuality, 85);
  }

  // JSON-serialisable without loss.
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report);

  const table = formatTable(report);
  const lines = table.split('\n');
  assert.equal(lines.filter((l) => l.startsWith('condition: ')).length, 5);
  assert.equal(lines.filter((l) => /^engine\s+SAD\s+MSE\(x1e-3\)\s+Grad\s+Conn\s+time\(ms\)$/.test(l)).length, 5);
  const noiseBlock = lines.slice(lines.indexOf('condition: noise (2 items)'));
  const naiveRow = noiseBlock.find((l) => l.startsWith('naive-key'));
  const oracleRow = noiseBlock.find((l) => l.startsWith('oracle'));
  const ns = naive('noise');
  assert.ok(naiveRow && ns && ns.sad !== null && ns.mse !== null && ns.grad !== null && ns.conn !== null);
  const cells = naiveRow.trim().split(/\s+/);
  assert.deepEqual(cells.slice(0, 5), ['naive-key', ns.sad.toFixed(3), (ns.mse * 1000).toFixed(3), ns.grad.toFixed(3), ns.conn.toFixed(3)]);
  assert.deepEqual(oracleRow?.trim().split(/\s+/).slice(0, 5), ['oracle', '0.000', '0.000', '0.000', '0.000']);
  // Fixed width: every row of a block has the header's length (modulo the failed note).
  const header = noiseBlock[1];
  assert.equal(naiveRow.length, header.length);
});

test('evaluate is deterministic for a seed and changes with it', async () => {
  assert.ok(first, 'needs the first test');
  const again = await evaluate({ dataDir, engines: [createNaiveKeyEngine(), oracleEngine()], seed: 7 });
  assert.deepEqual(again.cases, first.cases);
  assert.deepEqual(again.items, first.items);
  assert.deepEqual(
    again.results.map((r) => r.scores),
    first.results.map((r) => r.scores),
  );
  const other = await evaluate({ dataDir, engines: [createNaiveKeyEngine()], seed: 8, conditions: ['noise', 'misalign'] });
  const firstNaive = first.results.filter((r) => r.engine === 'naive-key' && ['noise', 'misalign'].includes(r.condition));
  assert.notDeepEqual(other.results.map((r) => r.scores), firstNaive.map((r) => r.scores));
});

test('evaluate: items/conditions filters, saved PNGs, failing engines, bad options', async () => {
  const saveDir = path.join(tmp, 'looks');
  let calls = 0;
  const flaky: MattingEngine = {
    name: 'neural',
    describe: () => ({}),
    matte: async () => {
      calls++;
      throw new CleanplateError('engine', 'model exploded');
    },
    close: async () => {},
  };
  const wrongSize = createNaiveKeyEngine();
  const report = await evaluate({
    dataDir,
    engines: [
      { label: 'naive-wide', engine: createNaiveKeyEngine({ low: 5, high: 80 }) },
      flaky,
      {
        label: 'tiny',
        engine: {
          ...wrongSize,
          matte: async (input) => {
            const r = await wrongSize.matte(input);
            return { ...r, alpha: { width: 1, height: 1, data: new Uint8Array(1) } };
          },
        },
      },
    ],
    items: ['itemB'],
    conditions: ['shadow'],
    seed: 3,
    maxLongSide: 28,
    saveDir,
  });
  assert.deepEqual(report.items.map((i) => [i.name, i.width, i.height]), [['itemB', 28, 20]]);
  assert.equal(report.maxLongSide, 28);
  assert.deepEqual(report.engines.map((e) => e.label), ['naive-wide', 'neural', 'tiny']);
  assert.equal(calls, 1);
  const byEngine = (l: string) => report.results.find((r) => r.engine === l);
  assert.ok(byEngine('naive-wide')?.scores);
  assert.equal(byEngine('neural')?.scores, null);
  assert.match(byEngine('neural')?.error ?? '', /model exploded/);
  assert.match(byEngine('tiny')?.error ?? '', /1x1, expected 28x20/);
  const failedRow = report.summary.find((s) => s.engine === 'neural');
  assert.deepEqual([failedRow?.n, failedRow?.failed, failedRow?.sad], [0, 1, null]);
  assert.match(formatTable(report), /neural\s+-\s+-\s+-\s+-\s+-\s+\(1 failed\)/);

  for (const f of ['shot.png', 'plate.png', 'gt.png', 'naive-wide.png']) {
    const meta = await sharp(path.join(saveDir, 'shadow', 'itemB', f)).metadata();
    assert.deepEqual([meta.width, meta.height], [28, 20], f);
  }
  assert.equal(existsSync(path.join(saveDir, 'shadow', 'itemB', 'neural.png')), false);

  const bad = (opts: Partial<Parameters<typeof evaluate>[0]>, code: string) =>
    assert.rejects(
      evaluate({ dataDir, engines: [createNaiveKeyEngine()], ...opts }),
      (e: unknown) => e instanceof CleanplateError && e.code === code,
    );
  await bad({ items: ['nope'] }, 'missing');
  await bad({ items: ['no-alpha'] }, 'missing');
  await bad({ engines: [createNaiveKeyEngine(), createNaiveKeyEngine()] }, 'config');
  await bad({ engines: [] }, 'config');
  await bad({ conditions: ['fog' as never] }, 'config');
  await bad({ dataDir: path.join(tmp, 'absent') }, 'missing');
});

test('naive key: linear ramp 10..40 on the Euclidean RGB distance', () => {
  const shot = { width: 4, height: 1, data: new Uint8Array([0, 0, 0, 6, 8, 0, 25, 0, 0, 100, 100, 100]) };
  const plate = { width: 4, height: 1, data: new Uint8Array(12) };
  // distances 0, 10, 25, 173.2 -> alpha 0, 0, (25-10)/30 = 0.5 -> 128, 1 -> 255
  assert.deepEqual([...naiveKeyAlpha(shot, plate).data], [0, 0, 128, 255]);
  assert.throws(() => naiveKeyAlpha(shot, { width: 2, height: 2, data: new Uint8Array(12) }), CleanplateError);
});

test('perturbations: noise sigma, exposure gains, JPEG, shadow only darkens the background', async () => {
  const w = 64;
  const h = 48;
  const bg = texture(w, h, 0.5);
  const noisy = addNoise(bg, 2, createRng(1, 'n'));
  let s2 = 0;
  for (let i = 0; i < bg.data.length; i++) s2 += (noisy.data[i] - bg.data[i]) ** 2;
  const sd = Math.sqrt(s2 / bg.data.length);
  assert.ok(sd > 1.8 && sd < 2.2, `noise sd ${sd}`);

  const gained = await applyGain(bg, [1.1124, 1.08, 1.0368]);
  const ratio = [0, 1, 2].map((c) => {
    let a = 0;
    let b = 0;
    for (let i = c; i < bg.data.length; i += 3) {
      a += gained.data[i];
      b += bg.data[i];
    }
    return a / b;
  });
  ratio.forEach((r, c) => assert.ok(Math.abs(r - [1.1124, 1.08, 1.0368][c]) < 0.01, `gain ${c}: ${r}`));

  const jpg = await jpegRoundTrip(bg, 85);
  let mad = 0;
  for (let i = 0; i < bg.data.length; i++) mad += Math.abs(jpg.data[i] - bg.data[i]);
  mad /= bg.data.length;
  assert.ok(mad > 0 && mad < 4, `jpeg mean abs diff ${mad}`);

  // Same noise streams: the shadow shot differs from the noise shot only by (1-a)·B·shade.
  const alpha = disc(w, h);
  const image = { width: w, height: h, data: new Uint8Array(w * h * 3).fill(200) };
  const margin = 8;
  const big = texture(w + 2 * margin, h + 2 * margin, 0.5);
  const rngs = () => ({ params: createRng(2, 'p'), shotNoise: createRng(2, 's'), plateNoise: createRng(2, 'q') });
  const plain = await synthesizePair({ image, alpha, background: big, margin }, 'noise', rngs());
  const shadow = await synthesizePair({ image, alpha, background: big, margin }, 'shadow', rngs());
  assert.deepEqual(shadow.plate, plain.plate, 'the plate has no shadow');
  let darker = 0;
  for (let p = 0; p < w * h; p++) {
    for (let c = 0; c < 3; c++) {
      const i = p * 3 + c;
      if (alpha.data[p] === 255) assert.equal(shadow.shot.data[i], plain.shot.data[i], 'foreground untouched');
      assert.ok(shadow.shot.data[i] <= plain.shot.data[i], 'shadow never brightens');
      const b = big.data[((p % w) + margin + (Math.floor(p / w) + margin) * (w + 2 * margin)) * 3 + c];
      assert.ok(shadow.shot.data[i] >= plain.shot.data[i] - 0.35 * b - 1, 'at most 35 % of B darker');
      if (shadow.shot.data[i] < plain.shot.data[i]) darker++;
    }
  }
  assert.ok(darker > w * h * 0.1, `shadow too small: ${darker}`);
});

test('rigid warp with sharp matches a direct bilinear reference warp', async () => {
  const w = 90;
  const h = 70;
  const img = texture(w, h, 0.2);
  const angle = 0.5;
  const shift: [number, number] = [2.4, -1.3];
  const centre: [number, number] = [(w - 1) / 2, (h - 1) / 2];
  const out = await warpRigid(img, angle, centre, shift);
  // Reference: out(q) = img(T^-1 q), T(p) = R(p - c) + c + d.
  const th = (angle * Math.PI) / 180;
  const c = Math.cos(th);
  const s = Math.sin(th);
  const sample = (x: number, y: number, ch: number): number => {
    const x0 = Math.floor(x);
    const y0 = Math.floor(y);
    const fx = x - x0;
    const fy = y - y0;
    const at = (xx: number, yy: number) => img.data[(yy * w + xx) * 3 + ch];
    return (1 - fy) * ((1 - fx) * at(x0, y0) + fx * at(x0 + 1, y0)) + fy * ((1 - fx) * at(x0, y0 + 1) + fx * at(x0 + 1, y0 + 1));
  };
  let err = 0;
  let errOffByOne = 0;
  let n = 0;
  for (let y = 10; y < h - 10; y++) {
    for (let x = 10; x < w - 10; x++) {
      const qx = x - centre[0] - shift[0];
      const qy = y - centre[1] - shift[1];
      const px = c * qx + s * qy + centre[0];
      const py = -s * qx + c * qy + centre[1];
      for (let ch = 0; ch < 3; ch++) {
        err += Math.abs(out.data[(y * w + x) * 3 + ch] - sample(px, py, ch));
        errOffByOne += Math.abs(out.data[(y * w + x + 1) * 3 + ch] - sample(px, py, ch));
        n++;
      }
    }
  }
  assert.ok(err / n < 1.5, `warp mean abs error ${err / n}`);
  assert.ok(errOffByOne / n > 4 * (err / n), `a 1 px error would show: ${errOffByOne / n} vs ${err / n}`);
});

test('real data: naive key and oracle on one alphamatting item (skips without ../shared/data)', async (t) => {
  if (!existsSync(path.join(sharedData, 'gt', 'alphamatting-GT01', 'alpha.png'))) {
    t.skip(`no real data at ${sharedData}`);
    return;
  }
  const [ref] = await findGtItems(sharedData, ['alphamatting-GT01']);
  const item = await loadGtItem(ref, 160);
  gtBySize.set(`${item.alpha.width}x${item.alpha.height}`, item.alpha);
  const report = await evaluate({
    dataDir: sharedData,
    engines: [createNaiveKeyEngine(), oracleEngine()],
    items: ['alphamatting-GT01'],
    conditions: ['noise', 'misalign'],
    maxLongSide: 160,
  });
  assert.equal(report.items[0].width, 160);
  assert.notEqual(report.items[0].background.plate, 'flat-green-plate');
  for (const r of report.results) {
    assert.equal(r.error, null);
    if (r.engine === 'oracle') assert.equal(r.scores?.mse, 0);
    else assert.ok((r.scores?.mse ?? 0) > 0 && (r.scores?.mseUnknown ?? 0) > 0);
  }
});
