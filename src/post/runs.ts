/**
 * Run-length connected-component labelling (8-connectivity) of a thresholded
 * 8-bit image.
 *
 * Each row is scanned once for horizontal runs of set pixels; a run touches a
 * run of the row above when they overlap or meet diagonally, and touching runs
 * are joined with a union-find over run indices. Memory is proportional to the
 * number of runs (16 bytes per run, up to twice that as the arrays grow by
 * doubling), not to the number of pixels: a 30 MP matte with a few runs per
 * row costs well under a megabyte.
 */

/** Runs of set pixels and their 8-connected components, labels 1..labelCount. */
export interface RunLabels {
  /** Number of runs. */
  runCount: number;
  /** Row of each run (length runCount). Runs are ordered by row, then by start. */
  runRow: Int32Array;
  /** First column of each run (length runCount). */
  runStart: Int32Array;
  /** Column after the last pixel of each run (exclusive; length runCount). */
  runEnd: Int32Array;
  /** Component label of each run, 1..labelCount (length runCount). */
  runLabel: Int32Array;
  /**
   * Index of the first run of each row (length height + 1): the runs of row y
   * are rowFirst[y] .. rowFirst[y + 1] - 1, sorted by start.
   */
  rowFirst: Int32Array;
  /** Number of components. Per-label arrays below have labelCount + 1 entries; entry 0 is unused. */
  labelCount: number;
  /** Pixels per label. */
  area: Float64Array;
  /** Leftmost column per label. */
  left: Int32Array;
  /** Topmost row per label. */
  top: Int32Array;
  /** Column after the rightmost pixel per label (exclusive). */
  right: Int32Array;
  /** Row after the bottom row per label (exclusive). */
  bottom: Int32Array;
  /** Index of the first run (topmost row, leftmost) of each label. */
  firstRun: Int32Array;
}

/** Returns a copy of `a` with room for `capacity` entries. */
function grow(a: Int32Array, capacity: number): Int32Array {
  const b = new Int32Array(capacity);
  b.set(a);
  return b;
}

/**
 * Labels the 8-connected components of the pixels with `values[i] >= threshold`.
 * @param values row-major, width * height entries
 * @param threshold pixels at or above it are set
 * @returns runs, their labels (1..labelCount, numbered in raster order of each
 *   component's first pixel) and per-label area and bounding box
 */
export function labelRuns(values: Uint8Array, width: number, height: number, threshold: number): RunLabels {
  const n = width * height;
  if (values.length !== n) throw new RangeError(`values has ${values.length} entries, expected ${n}`);
  let capacity = Math.max(64, 2 * height);
  let runRow: Int32Array = new Int32Array(capacity);
  let runStart: Int32Array = new Int32Array(capacity);
  let runEnd: Int32Array = new Int32Array(capacity);
  // Union-find parent of each run; always parent[r] <= r, so a root is the
  // smallest run index of its set.
  let parent: Int32Array = new Int32Array(capacity);
  const rowFirst = new Int32Array(height + 1);
  let count = 0;

  const find = (r: number): number => {
    while (parent[r] !== r) {
      const p = parent[parent[r]];
      parent[r] = p; // path halving
      r = p;
    }
    return r;
  };

  let prevFirst = 0; // runs of the previous row: prevFirst .. prevEnd - 1
  let prevEnd = 0;
  for (let y = 0; y < height; y++) {
    rowFirst[y] = count;
    const o = y * width;
    const rowEnd = o + width;
    let j = prevFirst; // first run of the previous row that may touch the current one
    let i = o;
    while (i < rowEnd) {
      while (i < rowEnd && values[i] < threshold) i++;
      if (i === rowEnd) break;
      const start = i;
      while (i < rowEnd && values[i] >= threshold) i++;
      const a = start - o;
      const b = i - o;
      if (count === capacity) {
        capacity *= 2;
        runRow = grow(runRow, capacity);
        runStart = grow(runStart, capacity);
        runEnd = grow(runEnd, capacity);
        parent = grow(parent, capacity);
      }
      const cur = count++;
      runRow[cur] = y;
      runStart[cur] = a;
      runEnd[cur] = b;
      parent[cur] = cur;
      // Runs above that end before a - 1 touch neither this run nor later ones.
      while (j < prevEnd && runEnd[j] < a) j++;
      for (let k = j; k < prevEnd && runStart[k] <= b; k++) {
        const ra = find(k);
        const rb = find(cur);
        if (ra < rb) parent[rb] = ra;
        else if (rb < ra) parent[ra] = rb;
      }
    }
    prevFirst = rowFirst[y];
    prevEnd = count;
  }
  rowFirst[height] = count;

  // Compact labels in run order; parent[r] < r means its label is already known,
  // so parent can be overwritten with labels in place.
  const label = parent;
  let labelCount = 0;
  for (let r = 0; r < count; r++) {
    const p = parent[r];
    label[r] = p === r ? ++labelCount : label[p];
  }
  const area = new Float64Array(labelCount + 1);
  const left = new Int32Array(labelCount + 1).fill(width);
  const top = new Int32Array(labelCount + 1);
  const right = new Int32Array(labelCount + 1);
  const bottom = new Int32Array(labelCount + 1);
  const firstRun = new Int32Array(labelCount + 1);
  let next = 1;
  for (let r = 0; r < count; r++) {
    const l = label[r];
    const a = runStart[r];
    const b = runEnd[r];
    const y = runRow[r];
    if (l === next) {
      firstRun[l] = r;
      top[l] = y;
      next++;
    }
    area[l] += b - a;
    if (a < left[l]) left[l] = a;
    if (b > right[l]) right[l] = b;
    bottom[l] = y + 1; // runs come in row order
  }
  return {
    runCount: count,
    runRow: runRow.subarray(0, count),
    runStart: runStart.subarray(0, count),
    runEnd: runEnd.subarray(0, count),
    runLabel: label.subarray(0, count),
    rowFirst,
    labelCount,
    area,
    left,
    top,
    right,
    bottom,
    firstRun,
  };
}

/**
 * Finds the run of row `y` that contains column `x`.
 * @returns the run index, or -1 when (x, y) is not set
 */
export function runAt(runs: RunLabels, x: number, y: number): number {
  let lo = runs.rowFirst[y];
  let hi = runs.rowFirst[y + 1] - 1;
  // Last run of the row with start <= x.
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    if (runs.runStart[mid] <= x) lo = mid + 1;
    else hi = mid - 1;
  }
  return hi >= runs.rowFirst[y] && x < runs.runEnd[hi] ? hi : -1;
}
