/**
 * Feathering: a Gaussian blur of the whole matte. Opaque interiors and empty
 * background stay 255 and 0; edges get a soft ramp about `featherPx` wide on
 * each side (sigma = featherPx / 2, so the blur reaches ~2 sigma = featherPx).
 * libvips does the convolution (multi-threaded, streaming, no float copy).
 */
import sharp from 'sharp';
import type { AlphaImage } from '../image/types.js';

/** Smallest sigma sharp accepts. */
const MIN_SIGMA = 0.3;

/** Gaussian sigma used for a feather of `featherPx` pixels (0 when feathering is off). */
export function featherSigma(featherPx: number): number {
  if (!(featherPx > 0)) return 0;
  return Math.max(MIN_SIGMA, featherPx / 2);
}

/** Returns a feathered copy of the matte (the input itself when featherPx is 0). */
export async function featherAlpha(alpha: AlphaImage, featherPx: number): Promise<AlphaImage> {
  const sigma = featherSigma(featherPx);
  if (sigma === 0) return alpha;
  const { width, height } = alpha;
  const { data, info } = await sharp(alpha.data, { raw: { width, height, channels: 1 } })
    .blur(sigma)
    .toColourspace('b-w')
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 1 || data.length !== width * height) {
    throw new RangeError(`feather returned ${info.channels} channels for a ${width}x${height} matte`);
  }
  return { width, height, data };
}
