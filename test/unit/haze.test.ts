/** backdropHaze: faint alpha far from anything solid counts; edges beside solid pixels and solid or clear pixels do not. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backdropHaze } from '../../src/metrics/haze.js';

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
