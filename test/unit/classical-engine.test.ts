import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import type { ClassicalConfig } from '../../src/config/schema.js';
import { CleanplateError } from '../../src/errors.js';
import type { RgbImage } from '../../src/image/types.js';
import { createClassicalEngine } from '../../src/engine/classical/index.js';

const W = 320;
const H = 240;
const MARGIN = 16;

const defaults: ClassicalConfig = {
  align: 'auto',
  matchColour: true,
  lowSigma: 3,
  highSigma: 10,
  shadowSuppression: true,
  guidedRadius: 8,
  guidedEps: 1e-4,
  mismatchWarn: 0.6,
};

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Multi-octave value noise (sharp enlarges small random grids), RGB, (w + 2 MARGIN) x (h + 2 MARGIN). */
async function texture(seed: number, w = W + 2 * MARGIN, h = H + 2 * MARGIN): Promise<Float32Array> {
  const r = rng(seed);
  const out = new Float32Array(w * h * 3).fill(128);
  for (const [cells, amp] of [
    [6, 50],
    [20, 30],
    [60, 18],
  ] as const) {
    const gw = cells;
    const gh = Math.max(2, Math.round((cells * h) / w));
    const grid = Buffer.alloc(gw * gh * 3);
    for (let i = 0; i < grid.length; i++) grid[i] = Math.floor(r() * 256);
    const up = await sharp(grid, { raw: { width: gw, height: gh, channels: 3 } })
      .resize(w, h, { kernel: 'cubic', fit: 'fill' })
      .raw()
      .toBuffer();
    for (let i = 0; i < out.length; i++) out[i] += ((up[i] - 128) / 128) * amp;
  }
  return out;
}

function crop(src: Float32Array, dx: number, dy: number): Float32Array {
  const sw = W + 2 * MARGIN;
  const out = new Float32Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    out.set(src.subarray(((y + MARGIN + dy) * sw + MARGIN + dx) * 3, ((y + MARGIN + dy) * sw + MARGIN + dx + W) * 3), y * W * 3);
  }
  return out;
}

function toImage(f: Float32Array, noise: number, seed: number): RgbImage {
  const r = rng(seed);
  const data = new Uint8Array(f.length);
  for (let i = 0; i < f.length; i++) {
    // Box-Muller Gaussian noise.
    const g = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
    data[i] = Math.max(0, Math.min(255, Math.round(f[i] + noise * g)));
  }
  return { width: W, height: H, data };
}

/** Ground-truth alpha (0..1) of a square with a one-pixel soft rim. */
function squareAlpha(x0 = 120, y0 = 70, size = 90): Float32Array {
  const a = new Float32Array(W * H);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const d = Math.min(x - x0, x0 + size - 1 - x, y - y0, y0 + size - 1 - y);
      a[y * W + x] = d >= 1 ? 1 : d >= 0 ? 0.5 : 0;
    }
  }
  return a;
}

/** shot = alpha * colour + (1 - alpha) * background. */
function composite(bg: Float32Array, alpha: Float32Array, colour: [number, number, number]): Float32Array {
  const out = Float32Array.from(bg);
  for (let i = 0; i < alpha.length; i++) {
    for (let c = 0; c < 3; c++) out[i * 3 + c] = alpha[i] * colour[c] + (1 - alpha[i]) * bg[i * 3 + c];
  }
  return out;
}

function mse(alpha: Uint8Array, truth: Float32Array): number {
  let s = 0;
  for (let i = 0; i < truth.length; i++) s += (alpha[i] / 255 - truth[i]) ** 2;
  return s / truth.length;
}

function meanIn(alpha: Uint8Array, x0: number, y0: number, x1: number, y1: number): number {
  let s = 0;
  let n = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++, n++) s += alpha[y * W + x];
  return s / n / 255;
}

const engineP = createClassicalEngine(defaults);

test('a square on a textured background is keyed with low error', async () => {
  const engine = await engineP;
  const bg = crop(await texture(1), 0, 0);
  const truth = squareAlpha();
  const shot = toImage(composite(bg, truth, [200, 40, 60]), 2, 11);
  const plate = toImage(bg, 2, 12);
  const r = await engine.matte({ shot, plate });
  assert.equal(r.alpha.width, W);
  assert.equal(r.alpha.data.length, W * H);
  const e = mse(r.alpha.data, truth);
  assert.ok(e < 0.004, `MSE ${e}`);
  assert.ok(meanIn(r.alpha.data, 140, 90, 190, 140) > 0.97, 'square interior is foreground');
  assert.ok(meanIn(r.alpha.data, 0, 0, 100, 60) < 0.02, 'background stays background');
  assert.equal(r.diagnostics.alignment, 'none');
  assert.ok(r.diagnostics.noiseSigma !== undefined && Math.abs(r.diagnostics.noiseSigma - 2 * Math.SQRT2) < 0.8, `sigma ${r.diagnostics.noiseSigma}`);
  assert.ok(Math.abs(r.diagnostics.foregroundFraction - (90 * 90) / (W * H)) < 0.01);
  assert.equal(r.foreground, undefined);
  assert.equal(r.alignedPlate.data.length, W * H * 3);
  assert.deepEqual(r.warnings, []);
  for (const k of ['align', 'colour', 'key', 'guided', 'total']) assert.equal(typeof r.timings[k], 'number', k);
});

test('a shifted plate is aligned back (translation, small residual) and keyed', async () => {
  const engine = await engineP;
  const big = await texture(2);
  const bg = crop(big, 0, 0);
  const truth = squareAlpha();
  const shot = toImage(composite(bg, truth, [30, 200, 90]), 2, 21);
  const plate = toImage(crop(big, 3, 2), 2, 22); // plate(x) = bg(x + (3, 2))
  const r = await engine.matte({ shot, plate });
  assert.notEqual(r.diagnostics.alignment, 'none', JSON.stringify(r.diagnostics));
  assert.notEqual(r.diagnostics.alignment, 'failed');
  const h = r.diagnostics.homography;
  assert.ok(Math.abs(h[2] - 3) < 0.3 && Math.abs(h[5] - 2) < 0.3, `homography ${h.join(',')}`);
  assert.ok(r.diagnostics.alignmentResidualPx !== null && r.diagnostics.alignmentResidualPx < 0.6, `residual ${r.diagnostics.alignmentResidualPx}`);
  const e = mse(r.alpha.data, truth);
  assert.ok(e < 0.006, `MSE ${e}`);
  // The aligned plate now matches the background of the shot.
  let d = 0;
  let n = 0;
  for (let y = 10; y < 60; y++) for (let x = 10; x < 100; x++, n++) d += Math.abs(r.alignedPlate.data[(y * W + x) * 3] - shot.data[(y * W + x) * 3]);
  assert.ok(d / n < 4, `aligned plate differs by ${d / n}`);
});

test('exposure and white balance of the plate are matched (gain recovery)', async () => {
  const engine = await engineP;
  const bg = crop(await texture(3), 0, 0);
  const truth = squareAlpha();
  const shot = toImage(composite(bg, truth, [240, 220, 30]), 1.5, 31);
  const gains = [1.1, 1.0, 0.88];
  const plateF = bg.map((v, i) => v * gains[i % 3]);
  const plate = toImage(plateF, 1.5, 32);
  const r = await engine.matte({ shot, plate });
  const fitted = r.diagnostics.colourGains as number[];
  const offsets = r.diagnostics.colourOffsets as number[];
  for (let c = 0; c < 3; c++) {
    // shot = g * plate + o: at a mid-grey the model must undo the plate's gain within 2%.
    const mapped = fitted[c] * 128 * gains[c] + offsets[c];
    assert.ok(Math.abs(mapped - 128) < 2.6, `channel ${c}: ${fitted[c]} * plate + ${offsets[c]}`);
  }
  assert.ok(mse(r.alpha.data, truth) < 0.005);
  assert.ok(meanIn(r.alpha.data, 0, 0, 100, 60) < 0.02, 'background stays background after matching');
});

test('a soft shadow cast next to the subject does not become foreground (and does without suppression)', async () => {
  const bg = crop(await texture(4), 0, 0);
  const truth = squareAlpha(60, 70, 70);
  const shotF = composite(bg, truth, [20, 60, 200]);
  // Soft shadow to the right of the square: darken by up to 35%.
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const d = Math.hypot(x - 200, y - 110);
      const k = 1 - 0.35 * Math.exp(-((d / 40) ** 2));
      if (truth[y * W + x] > 0) continue;
      for (let c = 0; c < 3; c++) shotF[(y * W + x) * 3 + c] *= k;
    }
  }
  const shot = toImage(shotF, 2, 41);
  const plate = toImage(bg, 2, 42);
  const on = await (await engineP).matte({ shot, plate });
  const off = await (await createClassicalEngine({ ...defaults, shadowSuppression: false })).matte({ shot, plate });
  const shadowOn = meanIn(on.alpha.data, 185, 95, 215, 125);
  const shadowOff = meanIn(off.alpha.data, 185, 95, 215, 125);
  assert.ok(shadowOn < 0.05, `shadow alpha with suppression ${shadowOn}`);
  assert.ok(shadowOff > 0.5, `shadow alpha without suppression ${shadowOff}`);
  assert.ok(meanIn(on.alpha.data, 75, 85, 115, 125) > 0.97, 'the subject itself stays foreground');
});

test('an unrelated plate produces a mismatch warning but still a matte', async () => {
  const engine = await engineP;
  const shot = toImage(composite(crop(await texture(5), 0, 0), squareAlpha(), [250, 250, 250]), 2, 51);
  const plate = toImage(crop(await texture(6), 0, 0), 2, 52);
  const r = await engine.matte({ shot, plate });
  assert.ok(r.warnings.length > 0, 'warned');
  assert.ok(r.warnings.some((w) => /plate (does|may) not match/.test(w)), r.warnings.join(' | '));
  assert.equal(r.alpha.data.length, W * H);
});

test('every option changes something observable', async () => {
  const big = await texture(7);
  const bg = crop(big, 0, 0);
  const truth = squareAlpha();
  // A faint square (difference ~11 sigma of the difference) so that the thresholds matter.
  const faint = composite(bg, truth, [0, 0, 0]).map((v, i) => (truth[Math.floor(i / 3)] > 0 ? bg[i] + 16 : v));
  const shot = toImage(faint, 1, 71);
  const shiftedPlate = toImage(crop(big, 2, 1).map((v, i) => v * [1.06, 1, 0.95][i % 3]), 1, 72);
  const plate = toImage(bg, 1, 73);
  const run = async (over: Partial<ClassicalConfig>, p = plate) => (await createClassicalEngine({ ...defaults, ...over })).matte({ shot, plate: p });

  // align
  const auto = await run({}, shiftedPlate);
  const off = await run({ align: 'off' }, shiftedPlate);
  const homog = await run({ align: 'homography' }, shiftedPlate);
  assert.equal(auto.diagnostics.alignment, 'translation');
  assert.equal(off.diagnostics.alignment, 'none');
  assert.equal(off.diagnostics.alignmentResidualPx, null);
  assert.equal(homog.diagnostics.alignment, 'homography');
  // matchColour
  const noMatch = await run({ matchColour: false }, shiftedPlate);
  assert.deepEqual(noMatch.diagnostics.colourGains, [1, 1, 1]);
  assert.notDeepEqual(auto.diagnostics.colourGains, [1, 1, 1]);
  // lowSigma / highSigma: the faint square is keyed with the defaults, not above its difference
  const base = await run({});
  const strict = await run({ lowSigma: 12, highSigma: 20 });
  const inside = (r: { alpha: { data: Uint8Array } }) => meanIn(r.alpha.data, 140, 90, 190, 140);
  assert.ok(inside(base) > 0.9, `default thresholds key the faint square (${inside(base)})`);
  assert.ok(inside(strict) < 0.2, `raised thresholds ignore it (${inside(strict)})`);
  assert.equal(strict.diagnostics.lowThreshold, Math.round(12 * (strict.diagnostics.noiseSigma as number) * 1e4) / 1e4);
  const high = await run({ highSigma: 40 });
  assert.ok(inside(high) < inside(base) - 0.2, 'highSigma sets where the ramp reaches 1');
  // guidedRadius / guidedEps
  const r2 = await run({ guidedRadius: 2 });
  const eps = await run({ guidedEps: 0.5 });
  assert.equal(r2.diagnostics.guidedRadiusPx, 1);
  assert.equal(base.diagnostics.guidedRadiusPx, 3);
  assert.notDeepEqual(Buffer.from(r2.alpha.data), Buffer.from(base.alpha.data));
  assert.notDeepEqual(Buffer.from(eps.alpha.data), Buffer.from(base.alpha.data));
  // mismatchWarn: the square covers ~10% of the frame
  assert.deepEqual(base.warnings, []);
  const warn = await run({ mismatchWarn: 0.05 });
  assert.ok(warn.warnings.some((w) => w.includes('of the frame differs')), warn.warnings.join(' | '));
  // shadowSuppression is exercised by its own test above; describe() reports the settings.
  const engine = await createClassicalEngine({ ...defaults, guidedEps: 0.01 });
  assert.equal(engine.name, 'classical');
  assert.equal(engine.describe().guidedEps, 0.01);
  await engine.close();
});

test('bad input and bad options are refused with CleanplateError', async () => {
  const engine = await engineP;
  const a = { width: 16, height: 16, data: new Uint8Array(16 * 16 * 3) };
  const b = { width: 16, height: 8, data: new Uint8Array(16 * 8 * 3) };
  await assert.rejects(engine.matte({ shot: a, plate: b }), (e: unknown) => e instanceof CleanplateError && e.code === 'size-mismatch');
  await assert.rejects(createClassicalEngine({ ...defaults, lowSigma: 5, highSigma: 4 }), (e: unknown) => e instanceof CleanplateError && e.code === 'config');
});
