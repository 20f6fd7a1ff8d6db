import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fillHoles, removeIslands } from '../../src/post/components.js';

/** A 40x30 matte: a solid body with a 2x2 hole and a speck joined to the body only diagonally. */
function matte(): { a: Uint8Array; w: number; h: number } {
  const w = 40;
  const h = 30;
  const a = new Uint8Array(w * h);
  for (let y = 5; y < 25; y++) for (let x = 5; x < 25; x++) a[y * w + x] = 255;
  for (let y = 10; y < 12; y++) for (let x = 10; x < 12; x++) a[y * w + x] = 0; // hole
  a[25 * w + 25] = 255; // touches the body's corner (24,24) diagonally: part of it
  a[2 * w + 35] = 200; // a lone speck
  return { a, w, h };
}

test('removeIslands: 8-connectivity keeps a diagonal neighbour of the body', async () => {
  const { a, w, h } = matte();
  const r = await removeIslands(a, w, h, 10, 2);
  assert.deepEqual(r, { count: 1, pixels: 1 });
  assert.equal(a[2 * w + 35], 0);
  assert.equal(a[25 * w + 25], 255);
});

test('fillHoles works on unaligned views and restores untouched pixels', async () => {
  for (const offset of [0, 1, 2, 3]) {
    const { a, w, h } = matte();
    const buffer = new Uint8Array(a.length + 8);
    const view = buffer.subarray(offset, offset + a.length);
    view.set(a);
    buffer.fill(7, 0, offset);
    buffer.fill(7, offset + a.length);
    const r = await fillHoles(view, w, h, 10, 2);
    assert.deepEqual(r, { count: 1, pixels: 4 }, `offset ${offset}`);
    const want = new Uint8Array(a);
    for (let y = 10; y < 12; y++) for (let x = 10; x < 12; x++) want[y * w + x] = 255;
    assert.deepEqual(view, want, `offset ${offset}`);
    for (let i = 0; i < offset; i++) assert.equal(buffer[i], 7);
    for (let i = offset + a.length; i < buffer.length; i++) assert.equal(buffer[i], 7);
  }
});
