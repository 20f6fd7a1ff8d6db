import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../src/config/schema.js';
import type { AlphaImage, RgbImage } from '../../src/image/types.js';
import { CORE_THRESHOLD, dilateBox, fillHoles, haloRadiusFor, haloRule, removeIslands } from '../../src/post/components.js';
import { compositeResidual, decontaminate, solveConfidence, solveForeground, SOLVE_HIGH, SOLVE_LOW } from '../../src/post/decontaminate.js';
import { featherAlpha, featherSigma } from '../../src/post/feather.js';
import { postProcess } from '../../src/post/index.js';

const defaults = configSchema.parse({ shares: [{ name: 's', inbox: 'i', output: 'o', failed: 'f', archive: 'a' }] }).postprocess;

/** Deterministic pseudo-random numbers in [0, 1). */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** Alpha of a filled disc with a linear soft edge `soft` pixels wide (values 0..255). */
function disc(a: Uint8Array, w: number, cx: number, cy: number, radius: number, soft: number): void {
  const h = a.length / w;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const d = Math.hypot(x - cx, y - cy);
      const v = Math.round(255 * Math.min(1, Math.max(0, (radius + soft / 2 - d) / soft)));
      a[y * w + x] = Math.max(a[y * w + x], v);
    }
  }
}

test('dilateBox equals a brute-force square dilation', () => {
  const rand = rng(7);
  for (const [w, h, r] of [
    [13, 9, 1],
    [13, 9, 2],
    [7, 11, 4],
    [5, 5, 9],
    [16, 3, 0],
  ]) {
    const m = new Uint8Array(w * h);
    for (let i = 0; i < m.length; i++) m[i] = rand() < 0.08 ? 1 : 0;
    const got = dilateBox(m, w, h, r);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let want = 0;
        for (let yy = Math.max(0, y - r); yy <= Math.min(h - 1, y + r); yy++)
          for (let xx = Math.max(0, x - r); xx <= Math.min(w - 1, x + r); xx++) if (m[yy * w + xx]) want = 1;
        assert.equal(got[y * w + x], want, `w${w} h${h} r${r} at ${x},${y}`);
      }
    }
  }
});

test('haloRadiusFor scales with the long side', () => {
  assert.equal(haloRadiusFor(4480, 6720), 13);
  assert.equal(haloRadiusFor(60, 40), 2);
});

test('removeIslands: a small soft speck goes completely, the body keeps its soft edge', async () => {
  const w = 80;
  const h = 60;
  const a = new Uint8Array(w * h);
  disc(a, w, 25, 30, 15, 4); // body, ~700 px core
  disc(a, w, 65, 12, 3, 8); // speck, ~28 px core, halo to radius 7 (wider than the 2 px halo rule)
  const body = new Uint8Array(w * h);
  disc(body, w, 25, 30, 15, 4);
  const r = await removeIslands(a, w, h, 100, 2);
  assert.equal(r.count, 1);
  assert.deepEqual(a, body, 'exactly the body remains, soft edge included');
  assert.ok(r.pixels > 28);
  // Threshold below the speck: nothing changes.
  const b = new Uint8Array(w * h);
  disc(b, w, 25, 30, 15, 4);
  disc(b, w, 65, 12, 3, 8);
  const before = b.slice();
  assert.deepEqual(await removeIslands(b, w, h, 20, 2), { count: 0, pixels: 0 });
  assert.deepEqual(b, before);
});

test('removeIslands: a speck tied to the body by faint noise loses its core and nearby halo only', async () => {
  const w = 80;
  const h = 60;
  const a = new Uint8Array(w * h).fill(2); // faint noise everywhere connects everything
  disc(a, w, 25, 30, 15, 4);
  disc(a, w, 65, 12, 3, 4);
  const ref = a.slice();
  await removeIslands(a, w, h, 100, 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const dSpeck = Math.hypot(x - 65, y - 12);
      const dBody = Math.hypot(x - 25, y - 30);
      if (dSpeck <= 5) assert.equal(a[i], 0, `speck pixel ${x},${y} = ${a[i]}`);
      if (dBody <= 20) assert.equal(a[i], ref[i], `body pixel ${x},${y} changed`);
      if (dSpeck > 12 && dBody > 20) assert.equal(a[i], 2, `far noise ${x},${y} changed`);
    }
  }
});

test('haloRule: windowed and whole-image paths agree', () => {
  const w = 70;
  const h = 50;
  const rand = rng(11);
  const values = new Uint8Array(w * h);
  const cls = new Uint8Array(w * h);
  for (let i = 0; i < values.length; i++) {
    values[i] = Math.floor(rand() * 256);
    cls[i] = values[i] >= CORE_THRESHOLD ? (rand() < 0.1 ? 2 : 1) : 0;
  }
  const boxes: number[] = [];
  for (let i = 0; i < cls.length; i++) if (cls[i] === 2) boxes.push(i % w, Math.floor(i / w), 1, 1);
  const a = values.slice();
  const b = values.slice();
  const na = haloRule(a, cls, w, h, boxes, 2);
  const nb = haloRule(b, cls, w, h, [...boxes, 0, 0, w, h, 0, 0, w, h, 0, 0, w, h], 2); // windows too large: whole image
  assert.ok(na > 0);
  assert.equal(na, nb);
  assert.deepEqual(a, b);
});

test('removeIslands: islands touching the border are removed too', async () => {
  const w = 40;
  const h = 30;
  const a = new Uint8Array(w * h);
  disc(a, w, 25, 15, 10, 2);
  for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) a[y * w + x] = 255;
  await removeIslands(a, w, h, 50, 2);
  assert.equal(a[0], 0);
  assert.equal(a[15 * w + 25], 255);
});

test('fillHoles: small enclosed holes fill with their rim; border-touching and large gaps stay', async () => {
  const w = 90;
  const h = 60;
  const a = new Uint8Array(w * h);
  for (let y = 10; y < 50; y++) for (let x = 0; x < 80; x++) a[y * w + x] = 255;
  // small soft hole (core ~12 px)
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const d = Math.hypot(x - 20, y - 30);
      if (d < 4) a[y * w + x] = Math.min(a[y * w + x], Math.round(255 * Math.max(0, Math.min(1, (d - 1) / 3))));
    }
  // large hole: 14x14 = 196 px
  for (let y = 23; y < 37; y++) for (let x = 50; x < 64; x++) a[y * w + x] = 0;
  // small notch touching the left border
  for (let y = 28; y < 31; y++) for (let x = 0; x < 3; x++) a[y * w + x] = 0;
  const r = await fillHoles(a, w, h, 100, 2);
  assert.equal(r.count, 1);
  for (let y = 25; y < 36; y++) for (let x = 15; x < 26; x++) assert.equal(a[y * w + x], 255, `hole pixel ${x},${y}`);
  assert.equal(a[30 * w + 57], 0, 'large hole kept');
  assert.equal(a[29 * w + 1], 0, 'border notch kept');
  assert.equal(a[5 * w + 5], 0, 'outside background kept');
});

test('solve maths on single values', () => {
  // I = aF + (1-a)B exactly
  assert.equal(solveForeground(0.5 * 200 + 0.5 * 40, 40, 0.5), 200);
  assert.equal(solveForeground(10, 200, 0.2), 0, 'clamped at 0');
  assert.equal(solveForeground(250, 0, 0.5), 255, 'clamped at 255');
  assert.equal(solveConfidence(0), 0);
  assert.equal(solveConfidence(SOLVE_LOW), 0);
  assert.equal(solveConfidence(SOLVE_HIGH), 1);
  assert.equal(solveConfidence(1), 1);
  assert.ok(Math.abs(solveConfidence((SOLVE_LOW + SOLVE_HIGH) / 2) - 0.5) < 1e-9);
  assert.equal(compositeResidual([100, 100, 100], [0, 0, 0], [200, 200, 190], 0.5), 5);
});

/** A shot made from foreground `fg`, plate `bg` and alpha, with optional noise. */
function composite(fg: Uint8Array, bg: Uint8Array, alpha: Uint8Array, noise: number, seed = 3): Uint8Array {
  const rand = rng(seed);
  const out = new Uint8Array(fg.length);
  for (let p = 0; p < alpha.length; p++) {
    const a = alpha[p] / 255;
    for (let c = 0; c < 3; c++) {
      const v = a * fg[p * 3 + c] + (1 - a) * bg[p * 3 + c] + (rand() - 0.5) * 2 * noise;
      out[p * 3 + c] = Math.max(0, Math.min(255, Math.round(v)));
    }
  }
  return out;
}

/** Horizontal ramp scene: opaque on the left, soft ramp in the middle, empty on the right. */
function rampScene(w: number, h: number) {
  const alpha = new Uint8Array(w * h);
  const fg = new Uint8Array(w * h * 3);
  const bg = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      const p = y * w + x;
      alpha[p] = Math.round(255 * Math.min(1, Math.max(0, (40 - x) / 20)));
      fg.set([200 + (y % 3) * 10, 40, 60 + (x % 4) * 5], p * 3); // reddish, slightly textured
      bg.set([30, 200, 40], p * 3); // green plate
    }
  return { alpha, fg, bg };
}

test('decontaminate: no plate colour in the edge, even at tiny alpha, with noise', () => {
  const w = 64;
  const h = 24;
  const { alpha, fg, bg } = rampScene(w, h);
  const shot = composite(fg, bg, alpha, 2);
  const { foreground, stats } = decontaminate({ width: w, height: h, data: shot }, { width: w, height: h, data: bg }, { width: w, height: h, data: alpha });
  let worst = 0;
  let worstNaive = 0;
  for (let p = 0; p < w * h; p++) {
    if (alpha[p] === 0) continue;
    // green channel is the plate's signature: foreground green is 40
    worst = Math.max(worst, Math.abs(foreground.data[p * 3 + 1] - 40));
    worstNaive = Math.max(worstNaive, Math.abs(shot[p * 3 + 1] - 40));
  }
  assert.ok(worstNaive > 100, 'the raw shot does show the plate');
  assert.ok(worst <= 12, `worst green error ${worst}`);
  // Fully transparent pixels get nearby foreground colour, not plate colour.
  for (let y = 0; y < h; y++) assert.ok(foreground.data[(y * w + 63) * 3 + 1] < 60, 'fill under alpha 0');
  assert.ok(stats.edgePixels > 0 && stats.filledPixels > 0 && stats.solvedPixels > 0 && stats.blendedPixels > 0, JSON.stringify(stats));
  // Opaque pixels are the shot exactly.
  for (let y = 0; y < h; y++) for (let c = 0; c < 3; c++) assert.equal(foreground.data[(y * w + 2) * 3 + c], shot[(y * w + 2) * 3 + c]);
});

test('decontaminate: an engine foreground is kept where it explains the shot, replaced where it shows the plate', () => {
  const w = 64;
  const h = 24;
  const { alpha, fg, bg } = rampScene(w, h);
  const shot = composite(fg, bg, alpha, 0);
  const engine = fg.slice();
  // Bad engine colours (the plate's green) in the top rows.
  for (let y = 0; y < 6; y++) for (let x = 0; x < w; x++) engine.set([30, 200, 40], (y * w + x) * 3);
  const img = (d: Uint8Array): RgbImage => ({ width: w, height: h, data: d });
  const { foreground, stats } = decontaminate(img(shot), img(bg), { width: w, height: h, data: alpha }, img(engine));
  assert.ok(stats.engineKept > 0 && stats.engineReplaced > 0, JSON.stringify(stats));
  for (let p = 0; p < w * h; p++) {
    if (alpha[p] === 0) continue;
    assert.ok(Math.abs(foreground.data[p * 3 + 1] - 40) <= 8, `pixel ${p}: green ${foreground.data[p * 3 + 1]}`);
  }
  // Where the engine was right, its exact colour is kept (texture included).
  const p = 10 * w + 25; // alpha 0.75
  assert.deepEqual(Array.from(foreground.data.subarray(p * 3, p * 3 + 3)), Array.from(fg.subarray(p * 3, p * 3 + 3)));
});

test('decontaminate: nothing confident anywhere still yields a full image', () => {
  const w = 5;
  const h = 3;
  const zero = new Uint8Array(w * h);
  const rgb = new Uint8Array(w * h * 3).fill(9);
  const { foreground } = decontaminate({ width: w, height: h, data: rgb }, { width: w, height: h, data: rgb }, { width: w, height: h, data: zero });
  assert.equal(foreground.data.length, w * h * 3);
  assert.throws(() => decontaminate({ width: w, height: h, data: rgb }, { width: w, height: h, data: rgb }, { width: 4, height: 3, data: zero.subarray(0, 12) }));
});

test('feather: soft monotone ramp at a hard edge, interior and far background untouched', async () => {
  const w = 60;
  const h = 8;
  const data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < 30; x++) data[y * w + x] = 255;
  const src: AlphaImage = { width: w, height: h, data };
  assert.equal(await featherAlpha(src, 0), src);
  assert.equal(featherSigma(0), 0);
  assert.equal(featherSigma(0.2), 0.3);
  assert.equal(featherSigma(6), 3);
  const f = await featherAlpha(src, 6);
  assert.notEqual(f.data, data);
  assert.equal(data[30], 0, 'input untouched');
  const row = Array.from(f.data.subarray(4 * w, 5 * w));
  assert.equal(row[5], 255);
  assert.equal(row[55], 0);
  for (let x = 1; x < w; x++) assert.ok(row[x] <= row[x - 1], `monotone at ${x}: ${row}`);
  assert.ok(row[29] > 128 && row[29] < 255 && row[30] < 128 && row[30] > 0, `soft around the edge: ${row.slice(24, 36)}`);
  assert.ok(row[26] < 255 && row[33] > 0, 'ramp spans several pixels');
});

test('postProcess: every option off returns the matte unchanged and the shot as foreground', async () => {
  const w = 40;
  const h = 30;
  const alpha = new Uint8Array(w * h);
  disc(alpha, w, 20, 15, 8, 3);
  disc(alpha, w, 36, 3, 1, 1);
  const shot: RgbImage = { width: w, height: h, data: new Uint8Array(w * h * 3).fill(100) };
  const plate: RgbImage = { width: w, height: h, data: new Uint8Array(w * h * 3).fill(50) };
  const before = alpha.slice();
  const off = { minIslandFraction: 0, maxHoleFraction: 0, decontaminate: false, featherPx: 0 };
  const r = await postProcess({ alpha: { width: w, height: h, data: alpha }, shot, plate }, off);
  assert.deepEqual(r.alpha.data, before);
  assert.notEqual(r.alpha.data, alpha, 'a copy, never the input');
  assert.equal(r.foreground, shot);
  const engineFg: RgbImage = { width: w, height: h, data: new Uint8Array(w * h * 3).fill(7) };
  const r2 = await postProcess({ alpha: { width: w, height: h, data: alpha }, shot, plate, foreground: engineFg }, off);
  assert.equal(r2.foreground, engineFg, 'engine foreground used as is without decontamination');
});

test('postProcess with the defaults plus feather: islands gone, holes filled, colours clean, inputs untouched', async () => {
  const w = 120;
  const h = 100;
  const alpha = new Uint8Array(w * h);
  disc(alpha, w, 50, 50, 35, 6);
  disc(alpha, w, 110, 8, 1.5, 2); // island: ~7 px < 0.0005 * 12000 = 6? use explicit fractions below
  for (let y = 48; y < 52; y++) for (let x = 48; x < 52; x++) alpha[y * w + x] = 0; // 16 px hole
  const fg = new Uint8Array(w * h * 3);
  const bg = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) {
    fg.set([220, 30, 30], p * 3);
    bg.set([20, 20, 230], p * 3);
  }
  const shotData = composite(fg, bg, alpha, 1);
  const shot: RgbImage = { width: w, height: h, data: shotData };
  const plate: RgbImage = { width: w, height: h, data: bg };
  const alphaCopy = alpha.slice();
  const shotCopy = shotData.slice();
  const cfg = { ...defaults, minIslandFraction: 0.002, maxHoleFraction: 0.002, featherPx: 2 };
  const r = await postProcess({ alpha: { width: w, height: h, data: alpha }, shot, plate }, cfg);
  assert.deepEqual(alpha, alphaCopy);
  assert.deepEqual(shotData, shotCopy);
  assert.equal(r.stats.islandsRemoved, 1);
  assert.equal(r.stats.holesFilled, 1);
  assert.equal(r.stats.featherSigma, 1);
  for (const k of ['msIslands', 'msHoles', 'msDecontaminate', 'msFeather', 'edgePixels']) assert.equal(typeof r.stats[k], 'number', k);
  assert.equal(r.alpha.data[8 * w + 110], 0, 'island removed');
  assert.equal(r.alpha.data[50 * w + 50], 255, 'hole filled');
  assert.ok(r.alpha.data[50 * w + 50 - 35] > 0 && r.alpha.data[50 * w + 50 - 35] < 255, 'edge soft');
  // Outside the filled hole (which shows what the shot has there), no plate blue.
  for (let p = 0; p < w * h; p++) {
    if (Math.hypot((p % w) - 50, Math.floor(p / w) - 50) < 5) continue;
    if (r.alpha.data[p] >= CORE_THRESHOLD / 8) {
      assert.ok(r.foreground.data[p * 3 + 2] < 60, `blue plate shows at ${p}: ${r.foreground.data.subarray(p * 3, p * 3 + 3)}`);
    }
  }
});
