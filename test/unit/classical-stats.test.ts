import { test } from 'node:test';
import assert from 'node:assert/strict';
import { colourLuts, fitColour, isIdentityFit } from '../../src/engine/classical/colour.js';
import { loadClassicalCv } from '../../src/engine/classical/cvtypes.js';
import { shadowGain } from '../../src/engine/classical/key.js';
import { EDGE_CONTACT_WARN, edgeContact, mismatchWarnings } from '../../src/engine/classical/mismatch.js';
import { estimateEdgeTolerance, estimateNoise } from '../../src/engine/classical/noise.js';
import { fillCoincidences } from '../../src/engine/classical/regions.js';

function rng(seed: number): () => number {
  let s = seed;
  return () => ((s = (s * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
}

function gauss(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

const clip = (v: number): number => Math.max(0, Math.min(255, Math.round(v)));

test('colour fit recovers gains and offsets with 60% of the frame covered by a subject', () => {
  const r = rng(1);
  const n = 20000;
  const plate = new Uint8Array(n * 3);
  const shot = new Uint8Array(n * 3);
  const gains = [0.9, 1.05, 1.12];
  const offsets = [6, -4, 0];
  for (let i = 0; i < n; i++) {
    const subject = i < 0.6 * n;
    for (let c = 0; c < 3; c++) {
      const b = 30 + r() * 180;
      plate[i * 3 + c] = clip(b);
      shot[i * 3 + c] = subject ? clip(r() * 255) : clip(gains[c] * b + offsets[c] + gauss(r));
    }
  }
  const fit = fitColour(shot, plate);
  for (let c = 0; c < 3; c++) {
    assert.ok(Math.abs(fit.gains[c] - gains[c]) < 0.02, `gain ${c}: ${fit.gains[c]}`);
    assert.ok(Math.abs(fit.offsets[c] - offsets[c]) < 2.5, `offset ${c}: ${fit.offsets[c]}`);
  }
  assert.ok(fit.rmsResidual < 2);
  const luts = colourLuts(fit);
  assert.ok(Math.abs(luts[0][100] - (0.9 * 100 + 6)) <= 2);
  assert.equal(isIdentityFit(fit), false);
  assert.equal(isIdentityFit(fitColour(plate, plate)), true);
});

test('a flat plate gets gains only (no offset can be told from a gain)', () => {
  const r = rng(2);
  const n = 5000;
  const plate = new Uint8Array(n * 3).fill(100);
  const shot = Uint8Array.from(plate, () => clip(110 + gauss(r)));
  const fit = fitColour(shot, plate);
  assert.deepEqual(fit.offsets, [0, 0, 0]);
  for (const g of fit.gains) assert.ok(Math.abs(g - 1.1) < 0.01, `gain ${g}`);
});

test('noise sigma is the difference noise of the background, not of the subject', () => {
  const r = rng(3);
  const w = 400;
  const h = 300;
  const shot = new Uint8Array(w * h * 3);
  const plate = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const subject = x > 80 && x < 320 && y > 40; // ~60% of the frame
      for (let c = 0; c < 3; c++) {
        const i = (y * w + x) * 3 + c;
        const b = 120 + 40 * Math.sin(x / 9 + c) * Math.cos(y / 13);
        plate[i] = clip(b + 2 * gauss(r));
        shot[i] = subject ? clip(r() * 255) : clip(b + 2 * gauss(r));
      }
    }
  }
  const est = estimateNoise(shot, plate, w, h);
  assert.ok(Math.abs(est.sigma - 2 * Math.SQRT2) < 0.4, `sigma ${est.sigma}`);
  // Registered: no edge tolerance needed; the plate shifted by a pixel: about a pixel.
  const mask = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) mask[y * w + x] = x > 70 && x < 330 && y > 30 ? 255 : 0;
  const registered = estimateEdgeTolerance(shot, plate, w, h, est.sigma, { mask, width: w, height: h });
  assert.ok(registered < 0.2, `registered tolerance ${registered}`);
  const shifted = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) shifted.set(plate.subarray((y * w + Math.max(0, x - 1)) * 3, (y * w + Math.max(0, x - 1)) * 3 + 3), (y * w + x) * 3);
  const tol = estimateEdgeTolerance(shot, shifted, w, h, est.sigma, { mask, width: w, height: h });
  assert.ok(tol > 0.5 && tol < 1.5, `tolerance ${tol}`);
});

test('shadow gain forgives darkening with the plate’s chroma inside shadows only', () => {
  const inv = 1 / (3 * 2 * 2);
  // 30% darker, same chroma, inside a shadow (level 0.7): explained.
  assert.ok(Math.abs(shadowGain(140, 105, 70, 200, 150, 100, 0.7, inv, 3) - 0.7) < 1e-9);
  // Same pixel where there is no shadow: nothing forgiven.
  assert.equal(shadowGain(140, 105, 70, 200, 150, 100, 1, inv, 3), 1);
  // Darker but a different colour (a green garment): nothing forgiven.
  assert.equal(shadowGain(60, 140, 40, 200, 150, 100, 0.7, inv, 3), 1);
  // Much darker than the local shadow: only down to the shadow level minus the tolerance.
  assert.ok(Math.abs(shadowGain(40, 30, 20, 200, 150, 100, 0.7, inv, 3) - 0.58) < 1e-9);
});

test('mismatch warnings: differing fraction, failed alignment, frame-edge contact', () => {
  const base = {
    differingFraction: 0.2,
    mismatchWarn: 0.6,
    alignment: 'none' as const,
    alignmentNote: '',
    tracks: 500,
    trackInliers: 400,
    matches: 500,
    matchInliers: 450,
    edges: { top: 0, left: 0, right: 0 },
  };
  assert.deepEqual(mismatchWarnings(base), []);
  assert.match(mismatchWarnings({ ...base, differingFraction: 0.7 })[0], /plate does not match the shot: 70% of the frame differs/);
  assert.match(mismatchWarnings({ ...base, alignment: 'failed', alignmentNote: 'only 3 feature matches' })[0], /could not be aligned \(only 3 feature matches\)/);
  assert.match(mismatchWarnings({ ...base, trackInliers: 20, matchInliers: 10 })[0], /only 20 of 500 tracked points/);
  const edge = mismatchWarnings({ ...base, edges: { top: 0, left: EDGE_CONTACT_WARN + 0.1, right: 0 } });
  assert.match(edge[0], /reaches the left frame edge \(43% of the left edge\)/);
  const alpha = new Uint8Array(10 * 4);
  for (let y = 0; y < 4; y++) alpha[y * 10] = 200;
  alpha[5] = 200;
  assert.deepEqual(edgeContact(alpha, 10, 4, 64), { top: 0.2, left: 1, right: 0 });
});

test('regions that only look like the plate become foreground; real holes and the background do not', async () => {
  const { cv } = await loadClassicalCv();
  const w = 60;
  const h = 40;
  const alpha = new Uint8Array(w * h);
  const energy = new Float32Array(w * h).fill(0.5);
  for (let y = 5; y < 35; y++) {
    for (let x = 10; x < 50; x++) {
      alpha[y * w + x] = 255;
    }
  }
  // Hole A (x 14..22): the shot matches the plate only roughly (z^2 ~ 9): a subject in the plate's colour.
  // Hole B (x 32..40): noise-level match (z^2 ~ 0.5): a real hole showing the background.
  for (let y = 12; y < 24; y++) {
    for (let x = 14; x < 22; x++) {
      alpha[y * w + x] = 0;
      energy[y * w + x] = 9;
    }
    for (let x = 32; x < 40; x++) alpha[y * w + x] = 0;
  }
  // The background itself is noisy but large: never filled.
  const res = fillCoincidences(cv, alpha, energy, w, h);
  assert.equal(res.regions, 1);
  assert.equal(alpha[18 * w + 18], 255, 'coincidental match filled');
  assert.equal(alpha[18 * w + 36], 0, 'real hole kept');
  assert.equal(alpha[2 * w + 2], 0, 'background kept');
});
