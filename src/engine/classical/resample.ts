/**
 * Resolution changes for the classical engine: sharp shrinks full-resolution
 * frames to a working size (bounded memory, libvips), and OpenCV's warpAffine
 * expands smooth low-resolution maps back to full resolution one horizontal
 * strip at a time, so no full-frame float map ever exists.
 */
import sharp from 'sharp';
import type { ClassicalCv, CvMat } from './cvtypes.js';

/** A raw interleaved 8-bit image with any channel count (1 = grey, 3 = RGB). */
export interface RawImage {
  width: number;
  height: number;
  channels: 1 | 3;
  data: Uint8Array;
}

/** Size of a reduced copy whose long side is at most `longSide` (never enlarged). */
export function reducedSize(width: number, height: number, longSide: number): { width: number; height: number } {
  const s = Math.max(width, height) / longSide;
  if (s <= 1) return { width, height };
  return { width: Math.max(1, Math.round(width / s)), height: Math.max(1, Math.round(height / s)) };
}

function asBuffer(data: Uint8Array): Buffer {
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Shrinks `img` to exactly `width` x `height` (area-like averaging, libvips).
 * With `grey`, an RGB input comes back as one luminance channel. Returns the
 * input's own pixels when nothing changes.
 */
export async function shrink(img: RawImage, width: number, height: number, grey = false): Promise<RawImage> {
  if (width === img.width && height === img.height && !(grey && img.channels === 3)) return img;
  let pipe = sharp(asBuffer(img.data), { raw: { width: img.width, height: img.height, channels: img.channels } });
  if (width !== img.width || height !== img.height) pipe = pipe.resize(width, height, { fit: 'fill', kernel: 'linear' });
  // libvips hands single-band raw input back as sRGB unless told to stay grey.
  if (grey || img.channels === 1) pipe = pipe.greyscale();
  const { data, info } = await pipe.raw().toBuffer({ resolveWithObject: true });
  const channels = info.channels === 1 ? 1 : 3;
  if (info.channels !== (grey ? 1 : img.channels)) throw new Error(`shrink: expected ${grey ? 1 : img.channels} channels, got ${info.channels}`);
  return { width: info.width, height: info.height, channels, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/**
 * Expands a low-resolution float map (a CvMat owned by the caller, 1..4
 * channels) to full resolution, strip by strip, with bilinear interpolation
 * and pixel-centre alignment: full pixel x samples low pixel (x + 0.5) / sx - 0.5.
 * `delete()` it when done.
 */
export class StripUpsampler {
  private readonly cv: ClassicalCv;
  private readonly src: CvMat;
  private readonly fullWidth: number;
  private readonly sx: number;
  private readonly sy: number;
  private readonly channels: number;
  private dst: CvMat | undefined;
  private m: CvMat | undefined;
  private rows = 0;
  private buf = new Float32Array(0);

  /** `src` is a CV_32FCn map covering the frame at low resolution. */
  constructor(cv: ClassicalCv, src: CvMat, fullWidth: number, fullHeight: number) {
    this.cv = cv;
    this.src = src;
    this.fullWidth = fullWidth;
    this.sx = fullWidth / src.cols;
    this.sy = fullHeight / src.rows;
    this.channels = src.channels();
  }

  /**
   * Returns the map for full-resolution rows [y0, y0 + rows): a Float32Array of
   * `rows * fullWidth * channels` values, copied out of the WASM heap (so other
   * OpenCV calls cannot invalidate it) into a buffer reused by the next call.
   */
  rowsAt(y0: number, rows: number): Float32Array {
    const cv = this.cv;
    const n = rows * this.fullWidth * this.channels;
    if (this.buf.length < n) this.buf = new Float32Array(n);
    const out = this.buf.subarray(0, n);
    if (this.sx === 1 && this.sy === 1) {
      const start = y0 * this.fullWidth * this.channels;
      out.set(this.src.data32F.subarray(start, start + n));
      return out;
    }
    if (!this.dst || this.rows !== rows) {
      this.dst?.delete();
      this.dst = new cv.Mat(rows, this.fullWidth, cv.CV_32FC1 + (this.channels - 1) * 8);
      this.rows = rows;
    }
    this.m?.delete();
    // Inverse map: full (x, y) -> low ((x + .5) / sx - .5, (y + y0 + .5) / sy - .5).
    this.m = cv.matFromArray(2, 3, cv.CV_64F, [
      1 / this.sx, 0, 0.5 / this.sx - 0.5,
      0, 1 / this.sy, (y0 + 0.5) / this.sy - 0.5,
    ]);
    cv.warpAffine(this.src, this.dst, this.m, new cv.Size(this.fullWidth, rows), cv.INTER_LINEAR | cv.WARP_INVERSE_MAP, cv.BORDER_REPLICATE, [0, 0, 0, 0]);
    out.set(this.dst.data32F.subarray(0, n));
    return out;
  }

  /** Frees the strip buffers (not the source map). */
  delete(): void {
    this.dst?.delete();
    this.m?.delete();
    this.dst = undefined;
    this.m = undefined;
  }
}

/** Copies an 8-bit interleaved image into a new CvMat (CV_8UC1 or CV_8UC3). */
export function matFromRaw(cv: ClassicalCv, img: RawImage): CvMat {
  const mat = new cv.Mat(img.height, img.width, img.channels === 1 ? cv.CV_8UC1 : cv.CV_8UC3);
  mat.data.set(img.data);
  return mat;
}

/** Copies a Float32Array into a new CV_32FCn CvMat. */
export function matFromFloat(cv: ClassicalCv, data: Float32Array, width: number, height: number, channels: number): CvMat {
  const mat = new cv.Mat(height, width, cv.CV_32FC1 + (channels - 1) * 8);
  mat.data32F.set(data);
  return mat;
}
