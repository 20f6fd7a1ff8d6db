/**
 * Post-processing of an engine's matte, in this order:
 * 1. remove foreground islands smaller than `minIslandFraction` of the image;
 * 2. fill holes smaller than `maxHoleFraction` of the image;
 * 3. decontaminate edge colours against the aligned plate (`decontaminate`);
 * 4. feather the alpha (`featherPx`).
 * Decontamination uses the cleaned, unfeathered matte (the one that explains
 * the shot); feathering only changes the delivered alpha. Inputs are never
 * modified.
 */
import type { PostprocessConfig } from '../config/schema.js';
import { CleanplateError } from '../errors.js';
import type { AlphaImage, RgbImage } from '../image/types.js';
import { fillHoles, haloRadiusFor, removeIslands } from './components.js';
import { decontaminate } from './decontaminate.js';
import { featherAlpha, featherSigma } from './feather.js';

/** What post-processing needs: the engine's matte, the shot, the aligned plate, the engine's foreground if any. */
export interface PostInput {
  alpha: AlphaImage;
  shot: RgbImage;
  /** The plate after alignment and colour matching (MatteResult.alignedPlate). */
  plate: RgbImage;
  /** The engine's colour-clean foreground, if it makes one. */
  foreground?: RgbImage;
}

/** Post-processed matte and foreground, with counters and timings for the sidecar. */
export interface PostOutput {
  alpha: AlphaImage;
  /**
   * Foreground colours for the outputs. Without decontamination this is the
   * engine's foreground, or the shot itself (same object) when there is none.
   */
  foreground: RgbImage;
  stats: Record<string, number>;
}

function sameSize(what: string, img: RgbImage | AlphaImage, ref: AlphaImage, channels: number): void {
  if (img.width !== ref.width || img.height !== ref.height || img.data.length !== ref.width * ref.height * channels) {
    throw new CleanplateError('internal', `post-processing: ${what} is ${img.width}x${img.height}, the matte ${ref.width}x${ref.height}`);
  }
}

/** Runs every enabled post-processing step (see the module comment). */
export async function postProcess(input: PostInput, cfg: PostprocessConfig): Promise<PostOutput> {
  const { width, height } = input.alpha;
  sameSize('alpha', input.alpha, input.alpha, 1);
  sameSize('shot', input.shot, input.alpha, 3);
  sameSize('plate', input.plate, input.alpha, 3);
  if (input.foreground) sameSize('engine foreground', input.foreground, input.alpha, 3);
  const area = width * height;
  const halo = haloRadiusFor(width, height);
  const stats: Record<string, number> = {};
  let t = performance.now();
  const lap = (name: string): void => {
    const now = performance.now();
    stats[name] = Math.round(now - t);
    t = now;
  };

  const data = new Uint8Array(input.alpha.data);
  let alpha: AlphaImage = { width, height, data };
  stats.islandsRemoved = 0;
  stats.islandPixels = 0;
  if (cfg.minIslandFraction > 0) {
    const r = await removeIslands(data, width, height, cfg.minIslandFraction * area, halo);
    stats.islandsRemoved = r.count;
    stats.islandPixels = r.pixels;
  }
  lap('msIslands');
  stats.holesFilled = 0;
  stats.holePixels = 0;
  if (cfg.maxHoleFraction > 0) {
    const r = await fillHoles(data, width, height, cfg.maxHoleFraction * area, halo);
    stats.holesFilled = r.count;
    stats.holePixels = r.pixels;
  }
  lap('msHoles');

  let foreground: RgbImage;
  if (cfg.decontaminate) {
    const d = decontaminate(input.shot, input.plate, alpha, input.foreground);
    foreground = d.foreground;
    Object.assign(stats, d.stats);
  } else {
    foreground = input.foreground ?? input.shot;
  }
  lap('msDecontaminate');

  stats.featherSigma = featherSigma(cfg.featherPx);
  if (stats.featherSigma > 0) alpha = await featherAlpha(alpha, cfg.featherPx);
  lap('msFeather');
  return { alpha, foreground, stats };
}
