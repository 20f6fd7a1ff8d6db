/**
 * A narrow, strictly typed view of the OpenCV.js functions the classical
 * engine uses. The bundled (mirada) typings lack ORB, the matchers' methods and
 * typed pixel views, so the module object is re-typed here through `unknown`
 * instead of sprinkling casts through the maths.
 *
 * As everywhere in the project, the module object is only ever handed around
 * inside a plain wrapper (`{ cv }`), never resolved from a promise.
 */
import { loadCv } from '../../image/cv.js';

/** An OpenCV size (width first). */
export interface CvSize {
  width: number;
  height: number;
}

/** A dense OpenCV matrix living in the WASM heap; `.delete()` it. */
export interface CvMat {
  readonly rows: number;
  readonly cols: number;
  /** Views into the WASM heap: re-read after any allocation (the heap may have grown). */
  readonly data: Uint8Array;
  readonly data32F: Float32Array;
  readonly data64F: Float64Array;
  readonly data32S: Int32Array;
  type(): number;
  channels(): number;
  empty(): boolean;
  delete(): void;
  convertTo(dst: CvMat, rtype: number, alpha?: number, beta?: number): void;
}

/** A std::vector binding (KeyPointVector, DMatchVector, ...). */
export interface CvVector<T> {
  size(): number;
  get(i: number): T;
  delete(): void;
}

/** cv::KeyPoint as bound by OpenCV.js. */
export interface CvKeyPoint {
  pt: { x: number; y: number };
}

/** cv::DMatch as bound by OpenCV.js. */
export interface CvDMatch {
  queryIdx: number;
  trainIdx: number;
  distance: number;
}

/** cv::ORB (a Feature2D). */
export interface CvOrb {
  detectAndCompute(image: CvMat, mask: CvMat, keypoints: CvVector<CvKeyPoint>, descriptors: CvMat): void;
  delete(): void;
}

/** cv::BFMatcher. */
export interface CvBfMatcher {
  knnMatch(query: CvMat, train: CvMat, matches: CvVector<CvVector<CvDMatch>>, k: number): void;
  delete(): void;
}

/** cv::TermCriteria. */
export interface CvTermCriteria {
  type: number;
  maxCount: number;
  epsilon: number;
}

/** The subset of OpenCV.js the classical engine calls. */
export interface ClassicalCv {
  Mat: {
    new (): CvMat;
    new (rows: number, cols: number, type: number): CvMat;
    new (rows: number, cols: number, type: number, scalar: number[]): CvMat;
  };
  Size: new (width: number, height: number) => CvSize;
  Point: new (x: number, y: number) => { x: number; y: number };
  TermCriteria: new (type: number, maxCount: number, epsilon: number) => CvTermCriteria;
  ORB: new (nfeatures: number) => CvOrb;
  BFMatcher: new (normType: number, crossCheck: boolean) => CvBfMatcher;
  KeyPointVector: new () => CvVector<CvKeyPoint>;
  DMatchVectorVector: new () => CvVector<CvVector<CvDMatch>>;
  matFromArray(rows: number, cols: number, type: number, array: ArrayLike<number>): CvMat;
  findHomography(src: CvMat, dst: CvMat, method: number, ransacReprojThreshold: number, mask: CvMat): CvMat;
  estimateAffine2D(
    from: CvMat,
    to: CvMat,
    inliers: CvMat,
    method: number,
    ransacReprojThreshold: number,
    maxIters: number,
    confidence: number,
    refineIters: number,
  ): CvMat;
  goodFeaturesToTrack(
    image: CvMat,
    corners: CvMat,
    maxCorners: number,
    qualityLevel: number,
    minDistance: number,
    mask: CvMat,
    blockSize: number,
    useHarrisDetector: boolean,
    k: number,
  ): void;
  calcOpticalFlowPyrLK(
    prevImg: CvMat,
    nextImg: CvMat,
    prevPts: CvMat,
    nextPts: CvMat,
    status: CvMat,
    err: CvMat,
    winSize: CvSize,
    maxLevel: number,
    criteria: CvTermCriteria,
  ): void;
  warpPerspective(src: CvMat, dst: CvMat, m: CvMat, dsize: CvSize, flags: number, borderMode: number, borderValue: number[]): void;
  warpAffine(src: CvMat, dst: CvMat, m: CvMat, dsize: CvSize, flags: number, borderMode: number, borderValue: number[]): void;
  boxFilter(src: CvMat, dst: CvMat, ddepth: number, ksize: CvSize, anchor: { x: number; y: number }, normalize: boolean, borderType: number): void;
  GaussianBlur(src: CvMat, dst: CvMat, ksize: CvSize, sigmaX: number, sigmaY: number, borderType: number): void;
  erode(src: CvMat, dst: CvMat, kernel: CvMat): void;
  dilate(src: CvMat, dst: CvMat, kernel: CvMat): void;
  getStructuringElement(shape: number, ksize: CvSize): CvMat;
  connectedComponentsWithStats(image: CvMat, labels: CvMat, stats: CvMat, centroids: CvMat, connectivity: number, ltype: number): number;
  CV_8UC1: number;
  CV_8UC3: number;
  CV_32FC1: number;
  CV_32FC2: number;
  CV_32FC4: number;
  CV_32S: number;
  CV_64F: number;
  CV_32F: number;
  NORM_HAMMING: number;
  RANSAC: number;
  INTER_LINEAR: number;
  WARP_INVERSE_MAP: number;
  BORDER_REPLICATE: number;
  BORDER_REFLECT: number;
  MORPH_ELLIPSE: number;
  MORPH_RECT: number;
}

/** Loads OpenCV.js and returns it, re-typed, inside a wrapper object (never the bare thenable module). */
export async function loadClassicalCv(): Promise<{ cv: ClassicalCv }> {
  const { cv } = await loadCv();
  return { cv: cv as unknown as ClassicalCv };
}

/**
 * Runs `fn` with a list that collects Mats (and other embind objects) and
 * deletes every one of them afterwards, whatever happens.
 */
export function withMats<T>(fn: (keep: <M extends { delete(): void }>(m: M) => M) => T): T {
  const owned: { delete(): void }[] = [];
  const keep = <M extends { delete(): void }>(m: M): M => {
    owned.push(m);
    return m;
  };
  try {
    return fn(keep);
  } finally {
    for (let i = owned.length - 1; i >= 0; i--) {
      try {
        owned[i].delete();
      } catch {
        /* already deleted */
      }
    }
  }
}

/** TermCriteria type flags (OpenCV.js names them TermCriteria_COUNT / _EPS; the enum values are 1 and 2). */
export const TERM_COUNT = 1;
/** See TERM_COUNT. */
export const TERM_EPS = 2;

/**
 * Translates an OpenCV.js exception (thrown as a bare number: a pointer) into
 * an Error with OpenCV's message where possible.
 */
export function cvErrorMessage(cv: ClassicalCv, err: unknown): string {
  if (typeof err === 'number') {
    const ex = (cv as unknown as { exceptionFromPtr?: (p: number) => { msg?: string } }).exceptionFromPtr;
    try {
      const msg = ex?.(err)?.msg;
      if (msg) return msg.replace(/\s+/g, ' ').trim();
    } catch {
      /* fall through */
    }
    return `OpenCV exception ${err}`;
  }
  return err instanceof Error ? err.message : String(err);
}
