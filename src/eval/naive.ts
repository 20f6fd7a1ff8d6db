/**
 * The baseline row of `cleanplate eval`: a difference key with fixed
 * thresholds and no alignment, colour matching or noise model. Any real
 * engine should beat it on every condition.
 */
import type { AlphaImage, RgbImage } from '../image/types.js';
import type { MatteResult, MattingEngine } from '../engine/types.js';
import { CleanplateError } from '../errors.js';

/** Label under which the baseline appears in eval reports. */
export const NAIVE_KEY_LABEL = 'naive-key';

/** Thresholds of the naive key, as Euclidean RGB distances on the 0..255 scale. */
export interface NaiveKeyOptions {
  /** Distance at and below which alpha is 0 (default 10). */
  low?: number;
  /** Distance at and above which alpha is 1 (default 40). */
  high?: number;
}

/**
 * α = clamp((‖shot − plate‖₂ − low) / (high − low), 0, 1) per pixel, with the
 * distance taken over R, G, B on the 0..255 scale; returned as an 8-bit matte.
 */
export function naiveKeyAlpha(shot: RgbImage, plate: RgbImage, low = 10, high = 40): AlphaImage {
  if (shot.width !== plate.width || shot.height !== plate.height) {
    throw new CleanplateError(
      'size-mismatch',
      `shot is ${shot.width}x${shot.height}, plate ${plate.width}x${plate.height}`,
    );
  }
  if (!(high > low)) throw new CleanplateError('config', `naive key: high (${high}) must exceed low (${low})`);
  const n = shot.width * shot.height;
  const out = new Uint8Array(n);
  const span = high - low;
  for (let p = 0; p < n; p++) {
    const i = p * 3;
    const dr = shot.data[i] - plate.data[i];
    const dg = shot.data[i + 1] - plate.data[i + 1];
    const db = shot.data[i + 2] - plate.data[i + 2];
    const d = Math.sqrt(dr * dr + dg * dg + db * db);
    const a = (d - low) / span;
    out[p] = a <= 0 ? 0 : a >= 1 ? 255 : Math.round(a * 255);
  }
  return { width: shot.width, height: shot.height, data: out };
}

/**
 * The naive colour-distance key as a {@link MattingEngine}. Its `name` is
 * `'classical'` because the engine-name union has no other fitting member;
 * `describe().label` is `'naive-key'`, which `evaluate` uses as its report label.
 */
export function createNaiveKeyEngine(options: NaiveKeyOptions = {}): MattingEngine {
  const low = options.low ?? 10;
  const high = options.high ?? 40;
  return {
    name: 'classical',
    describe: () => ({ label: NAIVE_KEY_LABEL, method: 'rgb-distance-ramp', low, high }),
    matte: async ({ shot, plate }): Promise<MatteResult> => {
      const t0 = performance.now();
      const alpha = naiveKeyAlpha(shot, plate, low, high);
      let fg = 0;
      for (const v of alpha.data) if (v > 127) fg++;
      return {
        alpha,
        alignedPlate: plate,
        warnings: [],
        diagnostics: {
          alignment: 'none',
          homography: [1, 0, 0, 0, 1, 0, 0, 0, 1],
          alignmentResidualPx: null,
          foregroundFraction: fg / alpha.data.length,
        },
        timings: { key: performance.now() - t0 },
      };
    },
    close: async () => {},
  };
}
