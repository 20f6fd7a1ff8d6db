/**
 * Alpha-matte error metrics as defined by the Deep Image Matting (DIM, Xu et
 * al. 2017) evaluation code (`compute_sad_loss.m`, `compute_mse_loss.m`,
 * `compute_gradient_loss.m`, `compute_connectivity_error.m`, Ning Xu 2018) and
 * its Python ports (GCA-Matting, MatteFormer `utils/evaluate.py`).
 *
 * Inputs are Float32Array alphas in 0..1, row-major, `width * height` long.
 * An optional `mask` (same length, non-zero = counted) restricts every sum to
 * a region — the DIM code counts only the trimap's unknown pixels; without a
 * mask the whole image counts (what background-matting papers report).
 *
 * Units, as reported in the literature:
 * - SAD  = Σ |p − g| / 1000
 * - MSE  = Σ (p − g)² / N            (raw; tables usually print it ×1e3)
 * - Grad = Σ (|∇G_σ p| − |∇G_σ g|)² / 1000, σ = 1.4
 * - Conn = Σ |φ(p) − φ(g)| / 1000, step 0.1, θ = 0.15
 *
 * All functions are pure; they allocate at most a few Float32 / Uint8
 * full-frame buffers.
 */
import type { AlphaImage } from '../image/types.js';
import { CleanplateError } from '../errors.js';

/** The four standard matting errors of one prediction, in literature units (see module doc). */
export interface MattingErrors {
  /** Sum of absolute differences / 1000. */
  sad: number;
  /** Mean squared error over the counted pixels (0..1 alpha scale, not multiplied). */
  mse: number;
  /** Gradient error / 1000 (DIM definition, σ = 1.4). */
  grad: number;
  /** Connectivity error / 1000 (DIM definition, step 0.1, θ = 0.15, 4-connected components). */
  conn: number;
}

/** Options of {@link gradientError}. */
export interface GradientErrorOptions {
  /** Pixels to count (non-zero = counted); default all. */
  mask?: Uint8Array;
  /** Standard deviation of the Gaussian derivative filters; DIM uses 1.4. */
  sigma?: number;
}

/** Options of {@link connectivityError}. */
export interface ConnectivityErrorOptions {
  /** Pixels to count (non-zero = counted); default all. */
  mask?: Uint8Array;
  /** Threshold step of the sweep; DIM uses 0.1. */
  step?: number;
  /** Minimum distance to l(p) for a pixel to be penalised; DIM uses 0.15. */
  theta?: number;
  /**
   * Neighbourhood of the connected components. The DIM MATLAB code calls
   * `bwconncomp(..., 4)` and the Python ports `skimage.measure.label(..., connectivity=1)`:
   * both 4-connected, the default here. 8 is offered for comparison.
   */
  connectivity?: 4 | 8;
}

function checkPair(pred: Float32Array, gt: Float32Array, mask: Uint8Array | undefined, what: string): void {
  if (pred.length !== gt.length) {
    throw new CleanplateError('size-mismatch', `${what}: prediction has ${pred.length} pixels, ground truth ${gt.length}`);
  }
  if (mask && mask.length !== gt.length) {
    throw new CleanplateError('size-mismatch', `${what}: mask has ${mask.length} pixels, alpha ${gt.length}`);
  }
}

function checkDims(n: number, width: number, height: number, what: string): void {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0 || width * height !== n) {
    throw new CleanplateError('size-mismatch', `${what}: ${width}x${height} does not match ${n} pixels`);
  }
}

/**
 * Sum of absolute differences, reported /1000: `Σ_mask |pred − gt| / 1000`
 * (DIM `compute_sad_loss.m`: `sum(abs(pred - target) .* (trimap == 128)) / 1000`).
 * Symmetric; 0 for identical inputs.
 */
export function sad(pred: Float32Array, gt: Float32Array, mask?: Uint8Array): number {
  checkPair(pred, gt, mask, 'SAD');
  let s = 0;
  for (let i = 0; i < pred.length; i++) {
    if (mask && mask[i] === 0) continue;
    s += Math.abs(pred[i] - gt[i]);
  }
  return s / 1000;
}

/**
 * Mean squared error `Σ_mask (pred − gt)² / |mask|` (DIM `compute_mse_loss.m`),
 * over the whole image when no mask is given. Returns NaN for an empty mask
 * (as the MATLAB code's 0/0). Symmetric; 0 for identical inputs.
 */
export function mse(pred: Float32Array, gt: Float32Array, mask?: Uint8Array): number {
  checkPair(pred, gt, mask, 'MSE');
  let s = 0;
  let n = 0;
  for (let i = 0; i < pred.length; i++) {
    if (mask && mask[i] === 0) continue;
    const d = pred[i] - gt[i];
    s += d * d;
    n++;
  }
  return n === 0 ? Number.NaN : s / n;
}

/**
 * The 1-D factors of the DIM `gaussgradient` kernel. The MATLAB code builds
 * `hx(i,j) = gauss(u_i) · dgauss(u_j)` for u = −h..h with
 * `gauss(x) = exp(−x²/2σ²) / (σ√(2π))`, `dgauss(x) = −x·gauss(x)/σ²`,
 * `h = ceil(σ·sqrt(−2·ln(√(2π)·σ·ε)))`, ε = 0.01 (h = 4 for σ = 1.4), and
 * divides by the kernel's L2 norm. That kernel is the outer product of
 * `smooth = gauss/‖gauss‖` (down the rows) and `deriv = dgauss/‖dgauss‖`
 * (along the columns), so it is applied separably here; `hy = hxᵀ`.
 */
export function gaussGradientKernels(sigma: number): { half: number; smooth: Float64Array; deriv: Float64Array } {
  if (!(sigma > 0)) throw new CleanplateError('internal', `gaussian gradient: sigma must be > 0, got ${sigma}`);
  const epsilon = 1e-2;
  const half = Math.ceil(sigma * Math.sqrt(-2 * Math.log(Math.sqrt(2 * Math.PI) * sigma * epsilon)));
  const size = 2 * half + 1;
  const smooth = new Float64Array(size);
  const deriv = new Float64Array(size);
  let ns = 0;
  let nd = 0;
  for (let k = 0; k < size; k++) {
    const u = k - half;
    const g = Math.exp(-(u * u) / (2 * sigma * sigma)) / (sigma * Math.sqrt(2 * Math.PI));
    smooth[k] = g;
    deriv[k] = (-u * g) / (sigma * sigma);
    ns += g * g;
    nd += deriv[k] * deriv[k];
  }
  ns = Math.sqrt(ns);
  nd = Math.sqrt(nd);
  for (let k = 0; k < size; k++) {
    smooth[k] /= ns;
    deriv[k] /= nd;
  }
  return { half, smooth, deriv };
}

/**
 * Gradient magnitude `sqrt(gx² + gy²)` of an image filtered with the DIM
 * Gaussian first-derivative kernels, as MATLAB `imfilter(IM, hx, 'replicate', 'conv')`
 * (true convolution, edge pixels replicated). Exported for tests and tools.
 */
export function gaussGradientMagnitude(img: Float32Array, width: number, height: number, sigma = 1.4): Float32Array {
  checkDims(img.length, width, height, 'gaussian gradient');
  const { half, smooth, deriv } = gaussGradientKernels(sigma);
  const size = 2 * half + 1;
  const n = width * height;
  // Horizontal pass: convolve each row with deriv (for gx) and with smooth (for gy).
  const hDeriv = new Float32Array(n);
  const hSmooth = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    const row = y * width;
    for (let x = 0; x < width; x++) {
      let sd = 0;
      let ss = 0;
      for (let k = 0; k < size; k++) {
        // convolution: out(x) = Σ_k in(x − (k − half)) · h(k)
        let xx = x - (k - half);
        if (xx < 0) xx = 0;
        else if (xx >= width) xx = width - 1;
        const v = img[row + xx];
        sd += v * deriv[k];
        ss += v * smooth[k];
      }
      hDeriv[row + x] = sd;
      hSmooth[row + x] = ss;
    }
  }
  // Vertical pass: gx = smooth down the columns of hDeriv, gy = deriv down the columns of hSmooth.
  const out = new Float32Array(n);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let gx = 0;
      let gy = 0;
      for (let k = 0; k < size; k++) {
        let yy = y - (k - half);
        if (yy < 0) yy = 0;
        else if (yy >= height) yy = height - 1;
        const o = yy * width + x;
        gx += hDeriv[o] * smooth[k];
        gy += hSmooth[o] * deriv[k];
      }
      out[y * width + x] = Math.sqrt(gx * gx + gy * gy);
    }
  }
  return out;
}

/**
 * Gradient error, reported /1000 (DIM `compute_gradient_loss.m` and its Python ports):
 * `Σ_mask (|∇G_σ pred| − |∇G_σ gt|)² / 1000` with σ = 1.4, where ∇G_σ is the
 * pair of Gaussian first-derivative filters of {@link gaussGradientKernels}.
 *
 * Alphas are used as given (0..1), like the Python ports' `alpha / 255`; the
 * MATLAB original's `mat2gray` would additionally min–max stretch a matte whose
 * values do not span 0..1. Symmetric; 0 for identical inputs (and, up to
 * rounding, for any two constant mattes).
 */
export function gradientError(
  pred: Float32Array,
  gt: Float32Array,
  width: number,
  height: number,
  options: GradientErrorOptions = {},
): number {
  checkPair(pred, gt, options.mask, 'gradient error');
  checkDims(gt.length, width, height, 'gradient error');
  const sigma = options.sigma ?? 1.4;
  const gp = gaussGradientMagnitude(pred, width, height, sigma);
  const gg = gaussGradientMagnitude(gt, width, height, sigma);
  const mask = options.mask;
  let s = 0;
  for (let i = 0; i < gp.length; i++) {
    if (mask && mask[i] === 0) continue;
    const d = gp[i] - gg[i];
    s += d * d;
  }
  return s / 1000;
}

/**
 * Marks the largest connected component of a binary image (non-zero = set) in
 * `out` (1 = in it, 0 = not). Ties go to the component found first in
 * row-major scan order. Returns the component's size (0 when the image is empty).
 */
export function largestComponent(
  bin: Uint8Array,
  width: number,
  height: number,
  connectivity: 4 | 8,
  out: Uint8Array,
  labels: Int32Array = new Int32Array(width * height),
): number {
  const n = width * height;
  labels.fill(0);
  const stack = new Int32Array(n);
  let next = 0;
  let bestLabel = 0;
  let bestSize = 0;
  for (let start = 0; start < n; start++) {
    if (bin[start] === 0 || labels[start] !== 0) continue;
    const label = ++next;
    let top = 0;
    stack[top++] = start;
    labels[start] = label;
    let count = 0;
    while (top > 0) {
      const p = stack[--top];
      count++;
      const px = p % width;
      const py = (p - px) / width;
      for (let dy = -1; dy <= 1; dy++) {
        const qy = py + dy;
        if (qy < 0 || qy >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          if (dx === 0 && dy === 0) continue;
          if (connectivity === 4 && dx !== 0 && dy !== 0) continue;
          const qx = px + dx;
          if (qx < 0 || qx >= width) continue;
          const q = qy * width + qx;
          if (bin[q] !== 0 && labels[q] === 0) {
            labels[q] = label;
            stack[top++] = q;
          }
        }
      }
    }
    if (count > bestSize) {
      bestSize = count;
      bestLabel = label;
    }
  }
  for (let i = 0; i < n; i++) out[i] = bestLabel !== 0 && labels[i] === bestLabel ? 1 : 0;
  return bestSize;
}

/**
 * Connectivity error, reported /1000 (DIM `compute_connectivity_error.m`):
 *
 * 1. For t_i = i·step, i = 1..1/step: Ω_i = largest connected component of
 *    {pred ≥ t_i} ∩ {gt ≥ t_i}.
 * 2. l(p) = t_{i−1} for the first i with p ∉ Ω_i (t_0 = 0); l(p) = 1 when p is in every Ω_i.
 * 3. d = α − l, φ(α) = 1 − d·[d ≥ θ] for pred and gt alike.
 * 4. Conn = Σ_mask |φ(pred) − φ(gt)| / 1000.
 *
 * Like the MATLAB code (`pred = single(pred)/255`), thresholds, d and φ are
 * evaluated in single precision. When some Ω_i is empty, no pixel is in it
 * (MATLAB would fail on the empty `max`; the Python ports' `bincount` variant
 * would pick the background as the "component"). Symmetric; 0 for identical inputs.
 */
export function connectivityError(
  pred: Float32Array,
  gt: Float32Array,
  width: number,
  height: number,
  options: ConnectivityErrorOptions = {},
): number {
  checkPair(pred, gt, options.mask, 'connectivity error');
  checkDims(gt.length, width, height, 'connectivity error');
  const step = options.step ?? 0.1;
  const theta = Math.fround(options.theta ?? 0.15);
  const connectivity = options.connectivity ?? 4;
  if (!(step > 0 && step <= 1)) throw new CleanplateError('internal', `connectivity error: step must be in (0, 1], got ${step}`);
  const n = gt.length;
  const steps = Math.floor(1 / step + 1e-9);
  const lMap = new Float32Array(n).fill(-1);
  const bin = new Uint8Array(n);
  const omega = new Uint8Array(n);
  const labels = new Int32Array(n);
  for (let i = 1; i <= steps; i++) {
    const t = Math.fround(i * step);
    const prev = Math.fround((i - 1) * step);
    for (let p = 0; p < n; p++) bin[p] = pred[p] >= t && gt[p] >= t ? 1 : 0;
    largestComponent(bin, width, height, connectivity, omega, labels);
    for (let p = 0; p < n; p++) if (lMap[p] === -1 && omega[p] === 0) lMap[p] = prev;
  }
  const mask = options.mask;
  let s = 0;
  for (let p = 0; p < n; p++) {
    if (mask && mask[p] === 0) continue;
    const l = lMap[p] === -1 ? 1 : lMap[p];
    const dp = Math.fround(pred[p] - l);
    const dg = Math.fround(gt[p] - l);
    const phiP = Math.fround(1 - (dp >= theta ? dp : 0));
    const phiG = Math.fround(1 - (dg >= theta ? dg : 0));
    s += Math.abs(phiP - phiG);
  }
  return s / 1000;
}

/** 8-bit matte (0..255) to a Float32Array alpha in 0..1. */
export function alphaToFloat(img: AlphaImage): Float32Array {
  const out = new Float32Array(img.width * img.height);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i] / 255;
  return out;
}

/**
 * Unknown-region mask of an 8-bit trimap: 1 where the trimap is neither 0
 * (background) nor 255 (foreground). The DIM code tests `trimap == 128`; this
 * also accepts trimaps that use another grey (e.g. 102).
 */
export function trimapUnknownMask(trimap: AlphaImage): Uint8Array {
  const out = new Uint8Array(trimap.width * trimap.height);
  for (let i = 0; i < out.length; i++) {
    const v = trimap.data[i];
    out[i] = v !== 0 && v !== 255 ? 1 : 0;
  }
  return out;
}

/**
 * SAD, MSE, Grad and Conn of an 8-bit predicted matte against an 8-bit
 * ground truth of the same size, over `mask` (default: whole image).
 */
export function mattingErrors(pred: AlphaImage, gt: AlphaImage, mask?: Uint8Array): MattingErrors {
  if (pred.width !== gt.width || pred.height !== gt.height) {
    throw new CleanplateError(
      'size-mismatch',
      `matting errors: prediction is ${pred.width}x${pred.height}, ground truth ${gt.width}x${gt.height}`,
    );
  }
  const p = alphaToFloat(pred);
  const g = alphaToFloat(gt);
  return {
    sad: sad(p, g, mask),
    mse: mse(p, g, mask),
    grad: gradientError(p, g, gt.width, gt.height, { mask }),
    conn: connectivityError(p, g, gt.width, gt.height, { mask }),
  };
}
