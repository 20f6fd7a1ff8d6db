import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadClassicalCv } from '../../src/engine/classical/cvtypes.js';
import { applyGuided, guidedCoefficients } from '../../src/engine/classical/guided.js';

/** A guide with a vertical step at x = 40 (dark | bright) and a noisy input step at the same place. */
function stepPair(w: number, h: number): { guide: Uint8Array; p: Uint8Array } {
  const guide = new Uint8Array(w * h * 3);
  const p = new Uint8Array(w * h);
  let s = 7;
  const rnd = () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff) - 0.5;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = y * w + x;
      const v = x < 40 ? 40 : 200;
      guide[i * 3] = v;
      guide[i * 3 + 1] = v - 10;
      guide[i * 3 + 2] = v + 10;
      p[i] = Math.max(0, Math.min(255, Math.round((x < 40 ? 0 : 255) + 80 * rnd())));
    }
  }
  return { guide, p };
}

test('the guided filter keeps a step edge sharp and smooths the noise around it', async () => {
  const { cv } = await loadClassicalCv();
  const w = 80;
  const h = 40;
  const { guide, p } = stepPair(w, h);
  const coef = guidedCoefficients(cv, guide, p, w, h, 4, 1e-4);
  const out = new Uint8Array(w * h);
  try {
    applyGuided(cv, coef, guide, w, h, out);
  } finally {
    coef.delete();
  }
  for (let y = 2; y < h - 2; y++) {
    // One pixel either side of the guide's edge: fully background / foreground.
    assert.ok(out[y * w + 39] < 40, `left of the edge row ${y}: ${out[y * w + 39]}`);
    assert.ok(out[y * w + 40] > 215, `right of the edge row ${y}: ${out[y * w + 40]}`);
  }
  // Noise in the flat parts is smoothed away.
  const std = (a: Uint8Array): number => {
    let s1 = 0;
    let s2 = 0;
    let n = 0;
    for (let y = 5; y < h - 5; y++) {
      for (let x = 5; x < 30; x++, n++) {
        s1 += a[y * w + x];
        s2 += a[y * w + x] ** 2;
      }
    }
    return Math.sqrt(s2 / n - (s1 / n) ** 2);
  };
  assert.ok(std(out) < std(p) / 3, `flat-part spread ${std(out)} vs input ${std(p)}`);
});

test('the fast path (coefficients at low resolution) applies at full resolution with a sharp edge', async () => {
  const { cv } = await loadClassicalCv();
  const W = 320;
  const H = 160;
  const w = 80;
  const h = 40;
  // Full-resolution guide with the step at x = 160 (= 40 at quarter size).
  const guide = new Uint8Array(W * H * 3);
  for (let i = 0; i < W * H; i++) guide.fill(i % W < 160 ? 40 : 200, i * 3, i * 3 + 3);
  const { guide: gLow, p } = stepPair(w, h);
  const coef = guidedCoefficients(cv, gLow, p, w, h, 2, 1e-4);
  const out = new Uint8Array(W * H);
  try {
    applyGuided(cv, coef, guide, W, H, out);
  } finally {
    coef.delete();
  }
  for (let y = 8; y < H - 8; y += 7) {
    assert.ok(out[y * W + 159] < 40 && out[y * W + 160] > 215, `row ${y}: ${out[y * W + 159]} | ${out[y * W + 160]}`);
  }
  // A larger eps smooths across the edge instead.
  const soft = guidedCoefficients(cv, gLow, p, w, h, 2, 10);
  const out2 = new Uint8Array(W * H);
  try {
    applyGuided(cv, soft, guide, W, H, out2);
  } finally {
    soft.delete();
  }
  assert.ok(out2[80 * W + 159] > out[80 * W + 159] + 20, `eps trades edge preservation for smoothing (${out2[80 * W + 159]})`);
});
