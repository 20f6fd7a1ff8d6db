/**
 * Plate-to-shot alignment on reduced grey copies, then a strip-wise warp at
 * full resolution.
 *
 * 1. Coarse: ORB features, brute-force Hamming k-NN matching with Lowe's ratio
 *    test, RANSAC homography. Matches on the subject (absent from the plate) are
 *    outliers and cannot dominate. Handles large hand-held offsets.
 * 2. Fine: corners of the coarsely warped plate are tracked into the shot with
 *    pyramidal Lucas-Kanade (sub-pixel), and an affine and a homography are fitted
 *    with RANSAC; the homography is kept only when it explains clearly more of
 *    the tracks. This replaces an ECC refinement, which in OpenCV.js (WASM, no
 *    SIMD) costs 1-15 s per pair against ~0.5 s here, at similar accuracy
 *    (0.05-0.2 px at the alignment scale on the synthetic benchmark).
 */
import type { RgbImage } from '../../image/types.js';
import { type ClassicalCv, type CvMat, TERM_COUNT, TERM_EPS, cvErrorMessage, withMats } from './cvtypes.js';
import {
  IDENTITY,
  type Mat3,
  type Motion,
  apply3,
  classifyMotion,
  frameMotion,
  invert3,
  mul3,
  normalise3,
  rescaleHomography,
} from './homography.js';
import { type RawImage, matFromRaw } from './resample.js';

/** Long side of the grey copies alignment works on. */
export const ALIGN_LONG_SIDE = 1280;
/** Below this frame motion (full-resolution pixels) the plate is left as it is (align: auto). */
export const MIN_SHIFT_PX = 0.3;
/** Below this plate structure (levels per pixel, see plateStructure) misalignment cannot matter and cannot be measured. */
export const MIN_STRUCTURE = 1.5;
/** Blur (pixels at the alignment scale) applied before measuring structure. */
const STRUCTURE_BLUR = 1.5;
/** A transform needs at least this many inliers to be trusted. */
export const MIN_INLIERS = 20;
const ORB_FEATURES = 4000;
const RATIO = 0.8;
/** RANSAC thresholds at the alignment scale, in pixels. */
const RANSAC_COARSE_PX = 3;
const RANSAC_FINE_PX = 1;
const MAX_TRACKS = 2000;

/** What the alignment stage decided and measured. */
export interface AlignEstimate {
  /** 'none': plate left as is; 'failed': it could not be aligned (plate left as is). */
  alignment: 'none' | 'translation' | 'homography' | 'failed';
  /** The fitted model behind 'homography' (an affine is a homography without perspective). */
  model: 'none' | 'translation' | 'affine' | 'homography';
  /** Full-resolution transform plate -> shot that is applied (identity for none / failed). */
  homography: Mat3;
  /** RMS reprojection error of the inliers under the applied transform, full-resolution pixels. */
  residualPx: number | null;
  /** ORB ratio-test matches and their RANSAC inliers. */
  matches: number;
  matchInliers: number;
  /** Lucas-Kanade tracks and their inliers under the fine fit. */
  tracks: number;
  trackInliers: number;
  /** Motion of the estimated transform over the frame (full resolution), when one was estimated. */
  motion: Motion | null;
  /** Why the result is what it is, for the sidecar and log. */
  note: string;
}

interface Pairs {
  /** Interleaved x, y in the plate (source) and shot (destination). */
  src: Float32Array;
  dst: Float32Array;
  count: number;
  /** Per pair: mean absolute grey difference of the tracked patches (Lucas-Kanade tracks only). */
  err?: Float32Array;
}

function orbMatches(cv: ClassicalCv, shot: CvMat, plate: CvMat): Pairs {
  return withMats((keep) => {
    const orb = keep(new cv.ORB(ORB_FEATURES));
    const kpS = keep(new cv.KeyPointVector());
    const kpP = keep(new cv.KeyPointVector());
    const desS = keep(new cv.Mat());
    const desP = keep(new cv.Mat());
    const noMask = keep(new cv.Mat());
    orb.detectAndCompute(shot, noMask, kpS, desS);
    orb.detectAndCompute(plate, noMask, kpP, desP);
    const empty = { src: new Float32Array(0), dst: new Float32Array(0), count: 0 };
    if (kpS.size() < 2 || kpP.size() < 2) return empty;
    const bf = keep(new cv.BFMatcher(cv.NORM_HAMMING, false));
    const knn = keep(new cv.DMatchVectorVector());
    bf.knnMatch(desP, desS, knn, 2);
    const p: number[] = [];
    const s: number[] = [];
    const usedTrain = new Set<number>();
    for (let i = 0; i < knn.size(); i++) {
      const pair = knn.get(i);
      try {
        if (pair.size() < 2) continue;
        const m0 = pair.get(0);
        const m1 = pair.get(1);
        if (m0.distance >= RATIO * m1.distance || usedTrain.has(m0.trainIdx)) continue;
        usedTrain.add(m0.trainIdx);
        const a = kpP.get(m0.queryIdx).pt;
        const b = kpS.get(m0.trainIdx).pt;
        p.push(a.x, a.y);
        s.push(b.x, b.y);
      } finally {
        pair.delete();
      }
    }
    return { src: Float32Array.from(p), dst: Float32Array.from(s), count: p.length / 2 };
  });
}

/** Result of a RANSAC fit: the model (3x3) and its inlier flags. */
interface Fit {
  h: Mat3;
  inlier: Uint8Array;
  inliers: number;
}

function countFlags(mask: CvMat, n: number): { inlier: Uint8Array; inliers: number } {
  const inlier = Uint8Array.from(mask.data.subarray(0, n));
  let inliers = 0;
  for (let i = 0; i < n; i++) if (inlier[i]) inliers++;
  return { inlier, inliers };
}

function fitHomography(cv: ClassicalCv, pairs: Pairs, thresholdPx: number): Fit | undefined {
  if (pairs.count < 4) return undefined;
  return withMats((keep) => {
    const src = keep(cv.matFromArray(pairs.count, 1, cv.CV_32FC2, pairs.src));
    const dst = keep(cv.matFromArray(pairs.count, 1, cv.CV_32FC2, pairs.dst));
    const mask = keep(new cv.Mat());
    try {
      const hm = keep(cv.findHomography(src, dst, cv.RANSAC, thresholdPx, mask));
      if (hm.empty()) return undefined;
      const h = normalise3(Array.from(hm.data64F).slice(0, 9));
      if (!h.every(Number.isFinite)) return undefined;
      invert3(h); // throws when singular
      return { h, ...countFlags(mask, pairs.count) };
    } catch {
      return undefined;
    }
  });
}

function fitAffine(cv: ClassicalCv, pairs: Pairs, thresholdPx: number): Fit | undefined {
  if (pairs.count < 3) return undefined;
  return withMats((keep) => {
    const src = keep(cv.matFromArray(pairs.count, 1, cv.CV_32FC2, pairs.src));
    const dst = keep(cv.matFromArray(pairs.count, 1, cv.CV_32FC2, pairs.dst));
    const mask = keep(new cv.Mat());
    try {
      const am = keep(cv.estimateAffine2D(src, dst, mask, cv.RANSAC, thresholdPx, 2000, 0.995, 10));
      if (am.empty()) return undefined;
      const a = Array.from(am.data64F).slice(0, 6);
      const h = [...a, 0, 0, 1];
      if (!h.every(Number.isFinite)) return undefined;
      invert3(h);
      return { h, ...countFlags(mask, pairs.count) };
    } catch {
      return undefined;
    }
  });
}

/** Tracks corners of `plate` (already coarsely aligned) into `shot` with pyramidal Lucas-Kanade. */
function lkTracks(cv: ClassicalCv, shot: CvMat, plate: CvMat): Pairs {
  return withMats((keep) => {
    const corners = keep(new cv.Mat());
    const noMask = keep(new cv.Mat());
    const minDist = Math.max(4, Math.round(Math.max(shot.cols, shot.rows) / 150));
    cv.goodFeaturesToTrack(plate, corners, MAX_TRACKS, 0.005, minDist, noMask, 7, false, 0.04);
    const n = corners.rows;
    if (n < 4) return { src: new Float32Array(0), dst: new Float32Array(0), count: 0 };
    const next = keep(new cv.Mat());
    const status = keep(new cv.Mat());
    const err = keep(new cv.Mat());
    cv.calcOpticalFlowPyrLK(plate, shot, corners, next, status, err, new cv.Size(21, 21), 3, new cv.TermCriteria(TERM_COUNT + TERM_EPS, 30, 0.01));
    const p: number[] = [];
    const q: number[] = [];
    const e: number[] = [];
    const c = corners.data32F;
    const d = next.data32F;
    const st = status.data;
    const er = err.data32F;
    for (let i = 0; i < n; i++) {
      if (!st[i] || !Number.isFinite(d[2 * i]) || !Number.isFinite(d[2 * i + 1])) continue;
      p.push(c[2 * i], c[2 * i + 1]);
      q.push(d[2 * i], d[2 * i + 1]);
      e.push(er[i]);
    }
    return { src: Float32Array.from(p), dst: Float32Array.from(q), count: p.length / 2, err: Float32Array.from(e) };
  });
}

function rms(h: Mat3, pairs: Pairs, inlier: Uint8Array): number {
  let sum = 0;
  let n = 0;
  for (let i = 0; i < pairs.count; i++) {
    if (!inlier[i]) continue;
    const [u, v] = apply3(h, pairs.src[2 * i], pairs.src[2 * i + 1]);
    sum += (u - pairs.dst[2 * i]) ** 2 + (v - pairs.dst[2 * i + 1]) ** 2;
    n++;
  }
  return n ? Math.sqrt(sum / n) : Number.NaN;
}

/** Maps the source points of `pairs` through `h` (so tracks on a pre-warped plate refer to the original plate). */
function mapSources(h: Mat3, pairs: Pairs): Pairs {
  const src = new Float32Array(pairs.src.length);
  for (let i = 0; i < pairs.count; i++) {
    const [u, v] = apply3(h, pairs.src[2 * i], pairs.src[2 * i + 1]);
    src[2 * i] = u;
    src[2 * i + 1] = v;
  }
  return { src, dst: pairs.dst, count: pairs.count, err: pairs.err };
}

/**
 * How much structure the plate has for misalignment to show on: the 99th
 * percentile of the gradient magnitude (grey levels per pixel) after a Gaussian
 * blur of STRUCTURE_BLUR pixels, which removes sensor noise (noise of sigma 2
 * leaves ~0.7) but keeps the gentle texture of a wrinkled backdrop (2-5).
 */
export function plateStructure(cv: ClassicalCv, plateGrey: RawImage): number {
  const { width: w, height: h } = plateGrey;
  if (w < 3 || h < 3) return 0;
  const d = withMats((keep) => {
    const m = keep(matFromRaw(cv, plateGrey));
    const f = keep(new cv.Mat());
    m.convertTo(f, cv.CV_32F, 1, 0);
    const b = keep(new cv.Mat());
    cv.GaussianBlur(f, b, new cv.Size(0, 0), STRUCTURE_BLUR, STRUCTURE_BLUR, cv.BORDER_REPLICATE);
    return Float32Array.from(b.data32F.subarray(0, w * h));
  });
  const bins = 1024;
  const scale = 8; // histogram resolution: 1/8 level per pixel
  const hist = new Uint32Array(bins);
  let n = 0;
  for (let y = 1; y < h - 1; y++) {
    for (let x = 1; x < w - 1; x++) {
      const i = y * w + x;
      const g = Math.hypot(d[i + 1] - d[i - 1], d[i + w] - d[i - w]) / 2;
      hist[Math.min(bins - 1, Math.floor(g * scale))]++;
      n++;
    }
  }
  let acc = 0;
  for (let k = 0; k < bins; k++) {
    acc += hist[k];
    if (acc >= 0.99 * n) return (k + 1) / scale;
  }
  return bins / scale;
}

/** The estimate for a plate used as it is (identity), with the reason in `note`. */
export function unaligned(note: string): AlignEstimate {
  return {
    alignment: 'none',
    model: 'none',
    homography: IDENTITY.slice(),
    residualPx: null,
    matches: 0,
    matchInliers: 0,
    tracks: 0,
    trackInliers: 0,
    motion: null,
    note,
  };
}

/**
 * Estimates the plate -> shot transform from reduced grey copies (`shotGrey`,
 * `plateGrey`, same size) of a `fullWidth` x `fullHeight` pair.
 * `mode` 'auto' skips motions under MIN_SHIFT_PX and uses a pure translation
 * when that explains the motion; 'homography' always applies the fitted transform.
 */
export function estimateAlignment(
  cv: ClassicalCv,
  shotGrey: RawImage,
  plateGrey: RawImage,
  fullWidth: number,
  fullHeight: number,
  mode: 'auto' | 'homography',
): AlignEstimate {
  const sx = fullWidth / shotGrey.width;
  const sy = fullHeight / shotGrey.height;
  const scale = Math.sqrt(sx * sy);
  const structure = plateStructure(cv, plateGrey);
  if (structure < MIN_STRUCTURE) {
    return unaligned(`plate is flat (gradients up to ${structure.toFixed(2)} levels/px): nothing to align on, and misalignment cannot show; left as is`);
  }
  return withMats((keep) => {
    const shot = keep(matFromRaw(cv, shotGrey));
    const plate = keep(matFromRaw(cv, plateGrey));
    // 1. Coarse: ORB + RANSAC homography.
    const orb = orbMatches(cv, shot, plate);
    const coarse = orb.count >= MIN_INLIERS ? fitHomography(cv, orb, RANSAC_COARSE_PX) : undefined;
    const locked = coarse !== undefined && coarse.inliers >= MIN_INLIERS;
    const h0 = locked ? coarse.h : IDENTITY.slice();
    // 2. Fine: LK tracks on the coarsely aligned plate.
    let warped = plate;
    if (locked) {
      warped = keep(new cv.Mat());
      const hm = keep(cv.matFromArray(3, 3, cv.CV_64F, h0));
      cv.warpPerspective(plate, warped, hm, new cv.Size(shot.cols, shot.rows), cv.INTER_LINEAR, cv.BORDER_REPLICATE, [0, 0, 0, 0]);
    }
    const tracksOnWarped = lkTracks(cv, shot, warped);
    // Tracks start on the warped plate; refer them back to the original plate's coordinates.
    const tracks = mapSources(invert3(h0), tracksOnWarped);
    const affine = fitAffine(cv, tracks, RANSAC_FINE_PX);
    const homog = fitHomography(cv, tracks, RANSAC_FINE_PX);
    let fine: Fit | undefined;
    let model: 'affine' | 'homography' = 'affine';
    if (affine && homog && homog.inliers > 1.15 * affine.inliers && homog.inliers >= MIN_INLIERS) {
      fine = homog;
      model = 'homography';
    } else fine = affine ?? homog;
    if (fine === homog && homog) model = 'homography';
    const base = {
      matches: orb.count,
      matchInliers: coarse?.inliers ?? 0,
      tracks: tracks.count,
      trackInliers: fine?.inliers ?? 0,
    };
    let h: Mat3;
    let inlierPairs: Pairs;
    let inlierFlags: Uint8Array;
    if (fine && fine.inliers >= MIN_INLIERS) {
      h = fine.h;
      inlierPairs = tracks;
      inlierFlags = fine.inlier;
    } else if (locked) {
      h = coarse.h;
      model = 'homography';
      inlierPairs = orb;
      inlierFlags = coarse.inlier;
    } else {
      return {
        ...base,
        alignment: 'failed',
        model: 'none',
        homography: IDENTITY.slice(),
        residualPx: null,
        motion: null,
        note: `could not align the plate: ${orb.count} feature matches, ${coarse?.inliers ?? 0} consistent; ${fine?.inliers ?? 0} of ${tracks.count} tracks consistent`,
      };
    }
    const full = rescaleHomography(h, sx, sy);
    const motion = frameMotion(full, fullWidth, fullHeight);
    const chosen = mode === 'homography' ? 'homography' : classifyMotion(motion, MIN_SHIFT_PX);
    let applied: Mat3;
    if (chosen === 'none') applied = IDENTITY.slice();
    else if (chosen === 'translation') applied = [1, 0, motion.tx, 0, 1, motion.ty, 0, 0, 1];
    else applied = full;
    const residualPx = rms(rescaleHomography(applied, 1 / sx, 1 / sy), inlierPairs, inlierFlags) * scale;
    const note =
      chosen === 'none'
        ? `camera did not move (largest shift ${motion.maxShiftPx.toFixed(2)} px)`
        : `${chosen === 'translation' ? 'translation' : model}: shift up to ${motion.maxShiftPx.toFixed(1)} px`;
    return {
      ...base,
      alignment: chosen,
      model: chosen === 'homography' ? model : chosen,
      homography: applied,
      residualPx,
      motion,
      note,
    };
  });
}

/** Rows of output warped per OpenCV call (bounds the WASM heap at 30 MP). */
const WARP_STRIP_ROWS = 256;

/** Largest departure (px) from an affine map that still counts as affine when warping. */
const AFFINE_TOLERANCE_PX = 1e-3;

/**
 * Whether the homography `m` (normalised: m[8] = 1) is affine to within
 * AFFINE_TOLERANCE_PX over a width x height frame: its perspective terms
 * scale each mapped coordinate by 1 / (1 + m6 x + m7 y). Pure function.
 */
export function isAffineOver(m: Mat3, width: number, height: number): boolean {
  return (Math.abs(m[6]) * width + Math.abs(m[7]) * height) * Math.max(width, height) < AFFINE_TOLERANCE_PX;
}

/**
 * Warps `plate` by `h` (plate -> shot, full resolution) into the shot's frame,
 * bilinear with replicated borders, one strip of output rows at a time: each
 * strip copies only the source rows its quadrilateral reaches into the WASM
 * heap. An affine `h` (translation and affine alignments, the common case
 * with a locked camera) goes through OpenCV's warpAffine, ~35 % faster at
 * 30 MP than warpPerspective. When `luts` (one 256-entry table per channel)
 * are given they are applied to every output byte on the way out (the colour
 * match).
 */
export function warpPlate(cv: ClassicalCv, plate: RgbImage, h: Mat3, out: Uint8Array, luts?: Uint8Array[]): void {
  const { width, height } = plate;
  const inv0 = invert3(h);
  const inv = inv0[8] !== 0 ? inv0.map((v) => v / inv0[8]) : inv0;
  const affine = inv0[8] !== 0 && isAffineOver(inv, width, height);
  const rowBytes = width * 3;
  withMats((keep) => {
    let src: CvMat | undefined;
    let srcRows = 0;
    const dst = keep(new cv.Mat(WARP_STRIP_ROWS, width, cv.CV_8UC3));
    try {
      for (let y0 = 0; y0 < height; y0 += WARP_STRIP_ROWS) {
        const rows = Math.min(WARP_STRIP_ROWS, height - y0);
        // Source rows this strip reaches: a homography maps the strip to a quadrilateral.
        let vMin = Infinity;
        let vMax = -Infinity;
        for (const [x, y] of [
          [0, y0],
          [width - 1, y0],
          [0, y0 + WARP_STRIP_ROWS - 1],
          [width - 1, y0 + WARP_STRIP_ROWS - 1],
        ]) {
          const [, v] = apply3(inv, x, y);
          vMin = Math.min(vMin, v);
          vMax = Math.max(vMax, v);
        }
        const v0 = Math.max(0, Math.min(height - 1, Math.floor(vMin) - 2));
        const v1 = Math.max(v0 + 1, Math.min(height, Math.ceil(vMax) + 3));
        const n = v1 - v0;
        if (!src || srcRows !== n) {
          src?.delete();
          src = new cv.Mat(n, width, cv.CV_8UC3);
          srcRows = n;
        }
        src.data.set(plate.data.subarray(v0 * rowBytes, v1 * rowBytes));
        // dst(x, y') = src(T(-v0) * inv * T(+y0) * (x, y')).
        const m = mul3(mul3([1, 0, 0, 0, 1, -v0, 0, 0, 1], inv), [1, 0, 0, 0, 1, y0, 0, 0, 1]);
        const mm = affine ? cv.matFromArray(2, 3, cv.CV_64F, m.slice(0, 6)) : cv.matFromArray(3, 3, cv.CV_64F, m);
        try {
          const size = new cv.Size(width, WARP_STRIP_ROWS);
          const flags = cv.INTER_LINEAR | cv.WARP_INVERSE_MAP;
          if (affine) cv.warpAffine(src, dst, mm, size, flags, cv.BORDER_REPLICATE, [0, 0, 0, 0]);
          else cv.warpPerspective(src, dst, mm, size, flags, cv.BORDER_REPLICATE, [0, 0, 0, 0]);
        } finally {
          mm.delete();
        }
        const o = dst.data.subarray(0, rows * rowBytes);
        const target = out.subarray(y0 * rowBytes, (y0 + rows) * rowBytes);
        if (luts) applyLuts(o, target, luts);
        else target.set(o);
      }
    } catch (err) {
      throw new Error(`plate warp failed: ${cvErrorMessage(cv, err)}`);
    } finally {
      src?.delete();
    }
  });
}

/** Copies interleaved RGB bytes from `src` to `dst` through one lookup table per channel. */
export function applyLuts(src: Uint8Array, dst: Uint8Array, luts: Uint8Array[]): void {
  const [r, g, b] = luts;
  for (let i = 0; i < src.length; i += 3) {
    dst[i] = r[src[i]];
    dst[i + 1] = g[src[i + 1]];
    dst[i + 2] = b[src[i + 2]];
  }
}

/**
 * For each row of a `width` x `height` frame, the range of columns [x0, x1]
 * whose plate pixel exists after warping by `h` (plate -> shot): the image of
 * the plate rectangle is a convex quadrilateral, so each row meets it in one
 * interval (x0 > x1: the row has none). Pure function.
 */
export function validColumns(h: Mat3, width: number, height: number): { x0: Int32Array; x1: Int32Array } {
  const x0 = new Int32Array(height);
  const x1 = new Int32Array(height);
  const quad = [
    apply3(h, 0, 0),
    apply3(h, width - 1, 0),
    apply3(h, width - 1, height - 1),
    apply3(h, 0, height - 1),
  ];
  for (let y = 0; y < height; y++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let k = 0; k < 4; k++) {
      const [ax, ay] = quad[k];
      const [bx, by] = quad[(k + 1) % 4];
      if ((y < ay && y < by) || (y > ay && y > by)) continue;
      if (ay === by) {
        lo = Math.min(lo, ax, bx);
        hi = Math.max(hi, ax, bx);
      } else {
        const x = ax + ((y - ay) / (by - ay)) * (bx - ax);
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
      }
    }
    if (!(lo <= hi)) {
      x0[y] = 1;
      x1[y] = 0;
      continue;
    }
    x0[y] = Math.max(0, Math.min(width, Math.ceil(lo)));
    x1[y] = Math.min(width - 1, Math.max(-1, Math.floor(hi)));
  }
  return { x0, x1 };
}

/**
 * Where the warped plate has no data (outside the plate's image, filled by
 * border replication), the key compared the shot with a guess. Replaces the
 * alpha there by the nearest alpha that was measured: along the row, or from
 * the nearest row that has measured pixels. In place; returns the fraction of
 * the frame replaced.
 */
export function extendIntoUnknown(alpha: Uint8Array, width: number, height: number, h: Mat3): number {
  const { x0, x1 } = validColumns(h, width, height);
  let first = -1;
  let last = -1;
  for (let y = 0; y < height; y++) {
    if (x0[y] <= x1[y]) {
      if (first < 0) first = y;
      last = y;
    }
  }
  if (first < 0) return 0;
  let replaced = (first + (height - 1 - last)) * width;
  for (let y = first; y <= last; y++) {
    const row = y * width;
    const a = x0[y];
    const b = x1[y];
    if (a > b) {
      // A row inside the span with no measured pixel (only at extreme perspective): copy the one above.
      alpha.copyWithin(row, row - width, row);
      replaced += width;
      continue;
    }
    if (a > 0) alpha.fill(alpha[row + a], row, row + a);
    if (b < width - 1) alpha.fill(alpha[row + b], row + b + 1, row + width);
    replaced += a + (width - 1 - b);
  }
  // Rows with no measured pixel copy the nearest measured row.
  for (let y = 0; y < first; y++) alpha.copyWithin(y * width, first * width, first * width + width);
  for (let y = last + 1; y < height; y++) alpha.copyWithin(y * width, last * width, last * width + width);
  return replaced / (width * height);
}
