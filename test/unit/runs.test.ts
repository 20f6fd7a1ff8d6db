import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labelRuns, runAt, type RunLabels } from '../../src/post/runs.js';

/** Image from rows of '#' (255) and '.' (0). */
function img(rows: string[]): { values: Uint8Array; width: number; height: number } {
  const width = rows[0]?.length ?? 0;
  const height = rows.length;
  const values = new Uint8Array(width * height);
  rows.forEach((r, y) => {
    for (let x = 0; x < width; x++) values[y * width + x] = r[x] === '#' ? 255 : 0;
  });
  return { values, width, height };
}

/** Label per pixel (0 = unset) rebuilt from the runs. */
function pixelLabels(r: RunLabels, width: number, height: number): Int32Array {
  const out = new Int32Array(width * height);
  for (let k = 0; k < r.runCount; k++) out.fill(r.runLabel[k], r.runRow[k] * width + r.runStart[k], r.runRow[k] * width + r.runEnd[k]);
  return out;
}

/** Reference: flood fill (8-connectivity), labels in raster order of each component's first pixel. */
function floodLabels(values: Uint8Array, width: number, height: number, threshold: number): { labels: Int32Array; n: number } {
  const labels = new Int32Array(width * height);
  let n = 0;
  const stack: number[] = [];
  for (let i = 0; i < labels.length; i++) {
    if (values[i] < threshold || labels[i]) continue;
    labels[i] = ++n;
    stack.push(i);
    while (stack.length) {
      const p = stack.pop()!;
      const px = p % width;
      const py = (p - px) / width;
      for (let dy = -1; dy <= 1; dy++) {
        for (let dx = -1; dx <= 1; dx++) {
          const x = px + dx;
          const y = py + dy;
          if (x < 0 || y < 0 || x >= width || y >= height) continue;
          const q = y * width + x;
          if (values[q] >= threshold && !labels[q]) {
            labels[q] = n;
            stack.push(q);
          }
        }
      }
    }
  }
  return { labels, n };
}

test('labelRuns: empty and full images', () => {
  const e = labelRuns(new Uint8Array(12), 4, 3, 1);
  assert.equal(e.runCount, 0);
  assert.equal(e.labelCount, 0);
  assert.deepEqual([...e.rowFirst], [0, 0, 0, 0]);

  const f = labelRuns(new Uint8Array(12).fill(200), 4, 3, 128);
  assert.equal(f.runCount, 3);
  assert.equal(f.labelCount, 1);
  assert.deepEqual([...f.runLabel], [1, 1, 1]);
  assert.deepEqual([...f.rowFirst], [0, 1, 2, 3]);
  assert.deepEqual([f.area[1], f.left[1], f.top[1], f.right[1], f.bottom[1], f.firstRun[1]], [12, 0, 0, 4, 3, 0]);

  const z = labelRuns(new Uint8Array(0), 0, 0, 1);
  assert.equal(z.runCount, 0);
  assert.equal(z.labelCount, 0);
});

test('labelRuns: 1-pixel images and the threshold', () => {
  for (const [v, threshold, want] of [
    [0, 1, 0],
    [1, 1, 1],
    [127, 128, 0],
    [128, 128, 1],
    [255, 128, 1],
    [0, 0, 1],
  ]) {
    const r = labelRuns(new Uint8Array([v]), 1, 1, threshold);
    assert.equal(r.labelCount, want, `value ${v} threshold ${threshold}`);
    if (want) assert.deepEqual([r.area[1], r.left[1], r.top[1], r.right[1], r.bottom[1]], [1, 0, 0, 1, 1]);
  }
});

test('labelRuns: diagonal neighbours join (8-connectivity), gaps do not', () => {
  const diag = img(['#...', '.#..', '..#.', '...#']);
  assert.equal(labelRuns(diag.values, diag.width, diag.height, 128).labelCount, 1);
  const anti = img(['...#', '..#.', '.#..', '#...']);
  assert.equal(labelRuns(anti.values, anti.width, anti.height, 128).labelCount, 1);

  // Run [0,2) above, run [2,3) below: they meet at a corner.
  const corner = img(['##...', '..#..']);
  assert.equal(labelRuns(corner.values, corner.width, corner.height, 1).labelCount, 1);
  // One pixel further: separate.
  const gap = img(['##...', '...#.']);
  const g = labelRuns(gap.values, gap.width, gap.height, 1);
  assert.equal(g.labelCount, 2);
  assert.deepEqual([...g.runLabel], [1, 2]);

  // A checkerboard is one component, and has more runs than the initial capacity.
  const w = 200;
  const h = 3;
  const cb = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) cb[y * w + x] = (x + y) % 2 ? 255 : 0;
  const c = labelRuns(cb, w, h, 1);
  assert.equal(c.runCount, 300);
  assert.equal(c.labelCount, 1);
  assert.equal(c.area[1], 300);
  assert.deepEqual([c.left[1], c.top[1], c.right[1], c.bottom[1]], [0, 0, w, h]);
});

test('labelRuns: U-shapes that merge late get one label, with area and box', () => {
  const u = img([
    '#..#..#.....',
    '#..#..#..##.',
    '#..#..#.....',
    '#..#..#....#',
    '#######...#.',
  ]);
  const r = labelRuns(u.values, u.width, u.height, 128);
  assert.equal(r.labelCount, 3);
  const labels = pixelLabels(r, u.width, u.height);
  assert.equal(labels[0], 1); // the "W", first pixel at (0,0)
  assert.equal(labels[1 * u.width + 9], 2); // the bar at (9,1)
  assert.equal(labels[3 * u.width + 11], 3); // the diagonal pair
  assert.deepEqual([r.area[1], r.left[1], r.top[1], r.right[1], r.bottom[1]], [7 + 4 * 3, 0, 0, 7, 5]);
  assert.deepEqual([r.area[2], r.left[2], r.top[2], r.right[2], r.bottom[2]], [2, 9, 1, 11, 2]);
  assert.deepEqual([r.area[3], r.left[3], r.top[3], r.right[3], r.bottom[3]], [2, 10, 3, 12, 5]);
  assert.deepEqual([...r.firstRun], [0, 0, 6, 13]);

  // Spiral: the two arms only meet on the last row.
  const s = img(['#.#.#.#', '#.#.#.#', '#.#.#.#', '#######']);
  const rs = labelRuns(s.values, s.width, s.height, 1);
  assert.equal(rs.labelCount, 1);
  assert.equal(rs.area[1], 4 * 3 + 7);
});

test('labelRuns: rowFirst and runAt find the run under a pixel', () => {
  const m = img(['.##..###', '........', '#......#']);
  const r = labelRuns(m.values, m.width, m.height, 1);
  assert.deepEqual([...r.rowFirst], [0, 2, 2, 4]);
  assert.deepEqual([...r.runStart], [1, 5, 0, 7]);
  assert.deepEqual([...r.runEnd], [3, 8, 1, 8]);
  assert.deepEqual([...r.runRow], [0, 0, 2, 2]);
  assert.equal(runAt(r, 0, 0), -1);
  assert.equal(runAt(r, 1, 0), 0);
  assert.equal(runAt(r, 2, 0), 0);
  assert.equal(runAt(r, 3, 0), -1);
  assert.equal(runAt(r, 7, 0), 1);
  assert.equal(runAt(r, 4, 1), -1);
  assert.equal(runAt(r, 0, 2), 2);
  assert.equal(runAt(r, 7, 2), 3);
});

test('labelRuns: matches a flood fill on random images', () => {
  let seed = 12345;
  const rand = (): number => (seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32;
  for (const [w, h] of [
    [1, 1],
    [1, 40],
    [40, 1],
    [7, 5],
    [33, 21],
    [64, 64],
  ]) {
    for (const density of [0.1, 0.4, 0.6, 0.9]) {
      const values = new Uint8Array(w * h);
      for (let i = 0; i < values.length; i++) values[i] = rand() < density ? 1 + Math.floor(rand() * 255) : 0;
      for (const threshold of [1, 128]) {
        const r = labelRuns(values, w, h, threshold);
        const ref = floodLabels(values, w, h, threshold);
        const what = `${w}x${h} density ${density} threshold ${threshold}`;
        assert.equal(r.labelCount, ref.n, what);
        assert.deepEqual(pixelLabels(r, w, h), ref.labels, what);
        for (let l = 1; l <= ref.n; l++) {
          let area = 0;
          let x0 = w;
          let y0 = h;
          let x1 = 0;
          let y1 = 0;
          for (let i = 0; i < ref.labels.length; i++) {
            if (ref.labels[i] !== l) continue;
            const x = i % w;
            const y = (i - x) / w;
            area++;
            x0 = Math.min(x0, x);
            y0 = Math.min(y0, y);
            x1 = Math.max(x1, x + 1);
            y1 = Math.max(y1, y + 1);
          }
          assert.deepEqual([r.area[l], r.left[l], r.top[l], r.right[l], r.bottom[l]], [area, x0, y0, x1, y1], `${what} label ${l}`);
          assert.equal(r.runLabel[r.firstRun[l]], l);
        }
      }
    }
  }
});

test('labelRuns: rejects a wrong number of values', () => {
  assert.throws(() => labelRuns(new Uint8Array(5), 2, 3, 1), RangeError);
});
