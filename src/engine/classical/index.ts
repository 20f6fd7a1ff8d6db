/**
 * The classical matting engine: plate alignment, exposure / white-balance
 * matching, a noise-aware difference key with shadow suppression, and a fast
 * guided filter against the shot. No model files; OpenCV.js and sharp only.
 *
 * Memory at 30 MP stays bounded: the full-resolution buffers are the inputs,
 * the aligned plate (3 bytes/px) and the alpha (1 byte/px); everything that
 * needs neighbourhoods runs on copies of about WORK_LONG_SIDE pixels and is
 * expanded strip by strip.
 */
import type { ClassicalConfig } from '../../config/schema.js';
import { CleanplateError } from '../../errors.js';
import type { AlphaImage, RgbImage } from '../../image/types.js';
import type { MatteDiagnostics, MatteInput, MatteResult, MattingEngine } from '../types.js';
import { ALIGN_LONG_SIDE, type AlignEstimate, applyLuts, estimateAlignment, extendIntoUnknown, unaligned, warpPlate } from './align.js';
import { type ColourFit, IDENTITY_FIT, colourLuts, fitColour, isIdentityFit } from './colour.js';
import { type ClassicalCv, cvErrorMessage, loadClassicalCv, withMats } from './cvtypes.js';
import { guidedCoefficients, applyGuided } from './guided.js';
import { rescaleHomography } from './homography.js';
import { type KeyOptions, type KeyStats, buildKeyMaps, keyFullRes, subjectMask } from './key.js';
import { edgeContact, mismatchWarnings } from './mismatch.js';
import { fillCoincidences } from './regions.js';
import { MAX_EDGE_TOLERANCE_PX, estimateEdgeTolerance, estimateNoise } from './noise.js';
import { reducedSize, shrink } from './resample.js';

/** Long side of the reduced copies the neighbourhood maths runs on (guidedRadius is given at this scale). */
export const WORK_LONG_SIDE = 1000;
/** Alpha (0..255, reduced key) above which a frame-edge pixel counts as differing. */
const EDGE_CONTACT_ALPHA = 64;

/** Round to a few decimals for the sidecar. */
function r4(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

function checkInput(input: MatteInput): void {
  const { shot, plate } = input;
  if (shot.width !== plate.width || shot.height !== plate.height) {
    throw new CleanplateError('size-mismatch', `shot is ${shot.width}x${shot.height} but plate is ${plate.width}x${plate.height}`);
  }
  for (const [name, img] of [
    ['shot', shot],
    ['plate', plate],
  ] as const) {
    if (img.width < 8 || img.height < 8 || img.data.length !== img.width * img.height * 3) {
      throw new CleanplateError('internal', `${name}: expected ${img.width}x${img.height} RGB pixels (${img.width * img.height * 3} bytes), got ${img.data.length}`);
    }
  }
}

/** Checks the options that the schema's refinements also check (the engine may be built without the schema). */
function checkConfig(cfg: ClassicalConfig): void {
  const bad = (msg: string): never => {
    throw new CleanplateError('config', `engine.classical: ${msg}`);
  };
  if (!(cfg.lowSigma > 0)) bad('lowSigma must be positive');
  if (!(cfg.highSigma > cfg.lowSigma)) bad('highSigma must be larger than lowSigma');
  if (!(cfg.guidedRadius >= 1 && Number.isInteger(cfg.guidedRadius))) bad('guidedRadius must be a positive integer');
  if (!(cfg.guidedEps > 0)) bad('guidedEps must be positive');
  if (!(cfg.mismatchWarn >= 0 && cfg.mismatchWarn <= 1)) bad('mismatchWarn must be between 0 and 1');
  if (!['auto', 'homography', 'off'].includes(cfg.align)) bad(`unknown align mode ${String(cfg.align)}`);
}

/** Applies a colour fit, reduced to luminance (Rec. 709 weights), to grey pixels (returns a new array). */
function normaliseGrey(grey: Uint8Array, fit: ColourFit): Uint8Array {
  const w = [0.2126, 0.7152, 0.0722];
  const gain = w[0] * fit.gains[0] + w[1] * fit.gains[1] + w[2] * fit.gains[2];
  const offset = w[0] * fit.offsets[0] + w[1] * fit.offsets[1] + w[2] * fit.offsets[2];
  const lut = colourLuts({ ...fit, gains: [gain, gain, gain], offsets: [offset, offset, offset] })[0];
  const out = new Uint8Array(grey.length);
  for (let i = 0; i < grey.length; i++) out[i] = lut[grey[i]];
  return out;
}

/** The plate brought onto the shot: aligned (if needed) and colour-matched, plus reduced copies for the key. */
export interface PreparedPlate {
  /** Full-resolution aligned, colour-matched plate (RGB). */
  aligned: Uint8Array;
  align: AlignEstimate;
  /** Whether the plate was warped. */
  warp: boolean;
  fit: ColourFit;
  /** Reduced working copies (long side WORK_LONG_SIDE). */
  work: { width: number; height: number };
  shotLow: Uint8Array;
  plateLow: Uint8Array;
}

/**
 * Alignment (ORB + RANSAC, refined by Lucas-Kanade tracks) and exposure /
 * white-balance matching of the plate to the shot. Shared by both engines:
 * the neural engine's base network only absorbs a few pixels of misalignment.
 * @param lap called after each stage ('reduce', 'align', 'colour') for timings
 */
export async function preparePlate(
  cv: ClassicalCv,
  cfg: Pick<ClassicalConfig, 'align' | 'matchColour'>,
  input: MatteInput,
  lap: (stage: string) => void = () => undefined,
): Promise<PreparedPlate> {
  const { shot, plate } = input;
  const { width, height } = shot;
  // Reduced copies, all made from full resolution at once (libvips runs them in parallel).
  const work = reducedSize(width, height, WORK_LONG_SIDE);
  const a = reducedSize(width, height, ALIGN_LONG_SIDE);
  const shotRaw = { width, height, channels: 3 as const, data: shot.data };
  const plateRaw = { width, height, channels: 3 as const, data: plate.data };
  const aligning = cfg.align !== 'off';
  const [shotLow, plateLowIn, shotAlign, plateAlign] = await Promise.all([
    shrink(shotRaw, work.width, work.height),
    shrink(plateRaw, work.width, work.height),
    aligning ? shrink(shotRaw, a.width, a.height) : undefined,
    aligning ? shrink(plateRaw, a.width, a.height) : undefined,
  ]);
  lap('reduce');

  // 1. Alignment.
  let align: AlignEstimate;
  let unwarpedFit: ColourFit | undefined;
  if (!shotAlign || !plateAlign) {
    align = unaligned('alignment off');
  } else {
    // Grey by libvips from the reduced copies (greying 30 MP cost ~0.3 s per image; a plain
    // luma of the 8-bit values tracked measurably worse on `cleanplate eval`'s misalign cases).
    const [shotGrey, plateGrey] = await Promise.all([
      shrink(shotAlign, shotAlign.width, shotAlign.height, true),
      shrink(plateAlign, plateAlign.width, plateAlign.height, true),
    ]);
    // Brightness constancy for the trackers: a first, alignment-free colour fit
    // (robust, so misaligned texture only thins the kept set) brought to grey.
    unwarpedFit = fitColour(shotLow.data, plateLowIn.data);
    const plateGreyMatched = { ...plateGrey, data: normaliseGrey(plateGrey.data, unwarpedFit) };
    try {
      align = estimateAlignment(cv, shotGrey, plateGreyMatched, width, height, cfg.align === 'homography' ? 'homography' : 'auto');
    } catch (err) {
      throw new CleanplateError('engine', `alignment failed: ${cvErrorMessage(cv, err)}`, { cause: err });
    }
  }
  const warp = align.alignment === 'translation' || align.alignment === 'homography';
  // The reduced plate, aligned the same way.
  let plateLow = plateLowIn.data;
  if (warp) {
    const hLow = rescaleHomography(align.homography, work.width / width, work.height / height);
    plateLow = withMats((keep) => {
      const src = keep(new cv.Mat(work.height, work.width, cv.CV_8UC3));
      src.data.set(plateLowIn.data);
      const dst = keep(new cv.Mat());
      const m = keep(cv.matFromArray(3, 3, cv.CV_64F, hLow));
      cv.warpPerspective(src, dst, m, new cv.Size(work.width, work.height), cv.INTER_LINEAR, cv.BORDER_REPLICATE, [0, 0, 0, 0]);
      return Uint8Array.from(dst.data.subarray(0, work.width * work.height * 3));
    });
  }
  lap('align');

  // 2. Colour match (fitted on the reduced copies), applied while producing the full-resolution plate.
  // (Without a warp the reduced plate is unchanged, so the first fit is the same fit.)
  const fit: ColourFit = !cfg.matchColour ? IDENTITY_FIT : !warp && unwarpedFit ? unwarpedFit : fitColour(shotLow.data, plateLow);
  const luts = isIdentityFit(fit) ? undefined : colourLuts(fit);
  if (luts) {
    const matched = new Uint8Array(plateLow.length);
    applyLuts(plateLow, matched, luts);
    plateLow = matched;
  }
  // Nothing to change: the plate itself (read-only from here on) instead of a 90 MB copy at 30 MP.
  let aligned = plate.data;
  if (warp || luts) {
    aligned = new Uint8Array(width * height * 3);
    if (warp) warpPlate(cv, plate, align.homography, aligned, luts);
    else if (luts) applyLuts(plate.data, aligned, luts);
  }
  lap('colour');
  return { aligned, align, warp, fit, work, shotLow: shotLow.data, plateLow };
}

/** Mattes one pair. Exported for tests; the engine's `matte` calls it. */
export async function matteClassical(cv: ClassicalCv, cfg: ClassicalConfig, input: MatteInput): Promise<MatteResult> {
  checkInput(input);
  const { shot, plate } = input;
  const { width, height } = shot;
  const timings: Record<string, number> = {};
  const warnings: string[] = [];
  let t = performance.now();
  const lap = (name: string): void => {
    const now = performance.now();
    timings[name] = Math.round(now - t);
    t = now;
  };
  const tStart = t;

  const { aligned, align, warp, fit, work, shotLow: shotLowData, plateLow } = await preparePlate(cv, cfg, input, lap);
  const shotLow = { width: work.width, height: work.height, data: shotLowData };

  // 3. Noise and key.
  const noise = estimateNoise(shot.data, aligned, width, height);
  // Misalignment the difference shows on the plate's edges, tolerated there.
  // Measured away from the subject (a generous mask from the reduced copies).
  const near = subjectMask(cv, shotLow.data, plateLow, work.width, work.height, noise.sigma, cfg.highSigma, MAX_EDGE_TOLERANCE_PX * (work.width / width), 0.03);
  const edgeTolerancePx = estimateEdgeTolerance(shot.data, aligned, width, height, noise.sigma, { mask: near, width: work.width, height: work.height });
  lap('noise');
  const keyOpt: KeyOptions = {
    sigma: noise.sigma,
    lowSigma: cfg.lowSigma,
    highSigma: cfg.highSigma,
    shadowSuppression: cfg.shadowSuppression,
    edgeTolerancePx,
  };
  const alpha = new Uint8Array(width * height);
  const maps = buildKeyMaps(cv, shotLow.data, plateLow, work.width, work.height, { ...keyOpt, fullWidth: width });
  const { solidFraction, shadowFraction } = maps;
  let stats: KeyStats;
  try {
    stats = keyFullRes(cv, shot.data, aligned, width, height, maps, keyOpt, alpha);
  } finally {
    maps.delete();
  }
  const differing = stats.differing;
  // Where the plate was warped in from outside its frame, the key had no data.
  const unknownFraction = warp ? extendIntoUnknown(alpha, width, height, align.homography) : 0;
  lap('key');

  // 4. Regions that only look like the plate become foreground; then the fast
  // guided filter of the key against the shot.
  const pLow = await shrink({ width, height, channels: 1, data: alpha }, work.width, work.height);
  const fill = fillCoincidences(cv, pLow.data, stats.energy, work.width, work.height);
  const edges = edgeContact(pLow.data, work.width, work.height, EDGE_CONTACT_ALPHA);
  const radius =
    work.width === width && work.height === height
      ? Math.max(1, Math.round((cfg.guidedRadius * Math.max(width, height)) / WORK_LONG_SIDE))
      : cfg.guidedRadius;
  const coef = guidedCoefficients(cv, shotLow.data, pLow.data, work.width, work.height, radius, cfg.guidedEps);
  try {
    applyGuided(cv, coef, shot.data, width, height, alpha);
  } finally {
    coef.delete();
  }
  lap('guided');

  // 5. Diagnostics and the mismatch warning.
  let fg = 0;
  for (let i = 0; i < alpha.length; i++) if (alpha[i] > 127) fg++;
  const pixels = width * height;
  const foregroundFraction = fg / pixels;
  const differingFraction = differing / pixels;
  warnings.push(
    ...mismatchWarnings({
      differingFraction,
      mismatchWarn: cfg.mismatchWarn,
      alignment: align.alignment,
      alignmentNote: align.note,
      tracks: align.tracks,
      trackInliers: align.trackInliers,
      matches: align.matches,
      matchInliers: align.matchInliers,
      edges,
    }),
  );
  const diagnostics: MatteDiagnostics = {
    alignment: align.alignment,
    homography: align.homography.map((v) => Number(v.toPrecision(8))),
    alignmentResidualPx: align.residualPx === null ? null : r4(align.residualPx),
    noiseSigma: r4(noise.sigma),
    foregroundFraction: r4(foregroundFraction),
    differingFraction: r4(differingFraction),
    alignmentModel: align.model,
    alignmentNote: align.note,
    featureMatches: align.matches,
    featureInliers: align.matchInliers,
    tracks: align.tracks,
    trackInliers: align.trackInliers,
    colourGains: fit.gains.map(r4),
    colourOffsets: fit.offsets.map(r4),
    colourResidual: r4(fit.rmsResidual),
    edgeTolerancePx: r4(edgeTolerancePx),
    lowThreshold: r4(cfg.lowSigma * noise.sigma),
    highThreshold: r4(cfg.highSigma * noise.sigma),
    shadowFraction: r4(shadowFraction),
    solidFraction: r4(solidFraction),
    guidedRadiusPx: radius,
    filledRegions: fill.regions,
    filledFraction: r4(fill.fraction),
    backgroundEnergy: r4(fill.backgroundEnergy),
    backgroundDisagreement: r4(fill.backgroundDisagreement),
    unknownFraction: r4(unknownFraction),
    edgeContact: { top: r4(edges.top), left: r4(edges.left), right: r4(edges.right) },
    workSize: [work.width, work.height],
  };
  timings.total = Math.round(performance.now() - tStart);
  const alphaImage: AlphaImage = { width, height, data: alpha };
  const alignedPlate: RgbImage = { width, height, data: aligned };
  return { alpha: alphaImage, alignedPlate, warnings, diagnostics, timings };
}

/**
 * Creates the classical engine for `cfg` (engine.classical of the config).
 * Loads OpenCV.js once; throws CleanplateError('config') for inconsistent options.
 */
export async function createClassicalEngine(cfg: ClassicalConfig): Promise<MattingEngine> {
  checkConfig(cfg);
  const { cv } = await loadClassicalCv();
  const settings = { ...cfg };
  return {
    name: 'classical',
    describe: () => ({ engine: 'classical', opencv: 'OpenCV.js 4.5 (WASM)', workLongSide: WORK_LONG_SIDE, ...settings }),
    matte: (input: MatteInput) => matteClassical(cv, settings, input),
    close: async () => {
      /* nothing native to free: OpenCV.js is shared by the process */
    },
  };
}
