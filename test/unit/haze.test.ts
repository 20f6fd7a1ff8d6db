/**
 * backdropHaze: faint alpha far from anything solid counts; edges beside solid pixels and solid or clear pixels do not.
 * interiorTranslucency: see-through pixels inside the subject count; its soft edge beside the backdrop does not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backdropHaze, interiorTranslucency } from '../../src/metrics/haze.js';

function frame(w: number, h: number, paint: (x: number, y: number) => number) {
  const data = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = paint(x, y);
  return { width: w, height: h, data };
}

test('a faint ghost far from the subject is haze; the subject, its soft edge and the clear backdrop are not', () => {
  // 100x50: solid subject in x < 20 with a soft edge x 20..27, a faint (alpha 50/255) 10x10 ghost at x 60..69.
  const a = frame(100, 50, (x, y) => (x < 20 ? 255 : x < 28 ? 100 : x >= 60 && x < 70 && y >= 20 && y < 30 ? 50 : 0));
  assert.equal(backdropHaze(a), 100 / 5000);
  // The same ghost within `radius` of the subject is an edge.
  assert.equal(backdropHaze(a, { radius: 50 }), 0);
  // Too faint or too strong to be haze.
  assert.equal(backdropHaze(frame(10, 10, () => 5)), 0);
  assert.equal(backdropHaze(frame(10, 10, () => 200)), 0);
  assert.equal(backdropHaze(frame(10, 10, () => 100)), 1);
  assert.equal(backdropHaze(frame(0, 0, () => 0)), 0);
});

test('a see-through patch inside the subject is interior translucency; the soft edge and the backdrop are not', () => {
  // 100x50: subject x 20..79 (soft edge alpha 150 on x 20..23 and 76..79), a 10x10 patch at alpha 180 at x 45..54, y 20..29.
  const paint = (x: number, y: number) =>
    x < 20 || x >= 80 ? 0 : x < 24 || x >= 76 ? 150 : x >= 45 && x < 55 && y >= 20 && y < 30 ? 180 : 255;
  const a = frame(100, 50, paint);
  // Inside: x 24..75 (no clear pixel within 4 px), every row: 52 x 50 pixels.
  assert.equal(interiorTranslucency(a), 100 / (52 * 50));
  // With a wider margin the soft edge is still not counted and the inside shrinks to x 28..71.
  assert.equal(interiorTranslucency(a, { radius: 8 }), 100 / (44 * 50));
  // A lower bar for opaque: the patch passes.
  assert.equal(interiorTranslucency(a, { opaque: 0.7 }), 0);
  // No inside at all: an empty frame, or a subject thinner than the margin.
  assert.equal(interiorTranslucency(frame(10, 10, () => 0)), 0);
  assert.equal(interiorTranslucency(frame(20, 20, (x) => (x === 10 ? 255 : 0))), 0);
  assert.equal(interiorTranslucency(frame(0, 0, () => 0)), 0);
});
