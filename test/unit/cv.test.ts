import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCv } from '../../src/image/cv.js';

test('OpenCV.js loads once and computes a homography from exact point pairs', async () => {
  const { cv } = await loadCv();
  const again = await loadCv();
  assert.equal(again.cv, cv);
  // Points shifted by (+3, -2): RANSAC must recover the pure translation.
  const src = [0, 0, 100, 0, 100, 100, 0, 100, 50, 50, 20, 80];
  const dst = src.map((v, i) => (i % 2 === 0 ? v + 3 : v - 2));
  const a = cv.matFromArray(6, 1, cv.CV_32FC2, src);
  const b = cv.matFromArray(6, 1, cv.CV_32FC2, dst);
  const h = cv.findHomography(a, b, cv.RANSAC, 1);
  const m = Array.from(h.data64F as Float64Array);
  a.delete(); b.delete(); h.delete();
  assert.ok(Math.abs(m[2] - 3) < 1e-6, `tx ${m[2]}`);
  assert.ok(Math.abs(m[5] + 2) < 1e-6, `ty ${m[5]}`);
  assert.ok(Math.abs(m[0] - 1) < 1e-6 && Math.abs(m[4] - 1) < 1e-6);
});
