/**
 * Synthesises shot/plate pairs with an exact ground-truth alpha for scoring:
 * shot = α·F + (1 − α)·B over a real background photo B, plate = B perturbed
 * the way real captures differ:
 *
 * | condition  | what differs (every condition also has the base sensor noise)              |
 * | ---------- | --------------------------------------------------------------------------- |
 * | `noise`    | Gaussian sensor noise σ = 2/255, drawn independently for shot and plate     |
 * | `exposure` | plate × 1.08 gain × white balance (1.03, 1, 0.96)                            |
 * | `misalign` | plate shifted 1–3 px in a random direction and rotated by up to ±0.5°       |
 * | `shadow`   | shot only: B darkened by up to ~35 % under a blurred, offset copy of α       |
 * | `jpeg`     | shot and plate both stored as JPEG quality 85                               |
 *
 * Every random parameter comes from a seeded {@link Rng}. Resampling, blur,
 * gain and JPEG are done by sharp; compositing and noise by hand.
 */
import sharp from 'sharp';
import type { AlphaImage, RgbImage } from '../image/types.js';
import { CleanplateError } from '../errors.js';
import type { Rng } from './rng.js';

type SharpPipeline = ReturnType<typeof sharp>;

/** The perturbation conditions, in report order. */
export const CONDITION_NAMES = ['noise', 'exposure', 'misalign', 'shadow', 'jpeg'] as const;

/** One perturbation condition of the evaluation. */
export type ConditionName = (typeof CONDITION_NAMES)[number];

/** Standard deviation of the base sensor noise on the 0..255 scale. */
export const BASE_NOISE_SIGMA = 2;
/** Plate gain of the `exposure` condition. */
export const EXPOSURE_GAIN = 1.08;
/** Plate white-balance gains (R, G, B) of the `exposure` condition. */
export const EXPOSURE_WB: readonly [number, number, number] = [1.03, 1, 0.96];
/** Shift range of the `misalign` condition, in pixels. */
export const MISALIGN_SHIFT_PX: readonly [number, number] = [1, 3];
/** Largest rotation of the `misalign` condition, in degrees. */
export const MISALIGN_MAX_DEG = 0.5;
/** Largest darkening of the `shadow` condition (fraction of B). */
export const SHADOW_MAX_STRENGTH = 0.35;
/** JPEG quality of the `jpeg` condition. */
export const JPEG_QUALITY = 85;

/** The parameters one condition was synthesised with (JSON-serialisable, for the report). */
export interface PerturbationParams {
  condition: ConditionName;
  /** Sensor noise σ on the 0..255 scale, applied to shot and plate independently. */
  noiseSigma: number;
  /** Per-channel plate gains (`exposure`). */
  plateGain?: [number, number, number];
  /** Plate translation in pixels, x right / y down (`misalign`). */
  shiftPx?: [number, number];
  /** Plate rotation about the frame centre, degrees, positive = clockwise on screen (`misalign`). */
  rotationDeg?: number;
  /** Shadow offset in pixels, blur σ in pixels and peak darkening (`shadow`). */
  shadow?: { offsetPx: [number, number]; blurSigma: number; strength: number };
  /** JPEG quality used on shot and plate (`jpeg`). */
  jpegQuality?: number;
}

/** A synthesised pair and how it was made. */
export interface SynthPair {
  shot: RgbImage;
  plate: RgbImage;
  params: PerturbationParams;
}

/** What {@link synthesizePair} composes. */
export interface SceneInput {
  /** Foreground colours F (any colour gives a valid composite), W×H. */
  image: RgbImage;
  /** Ground-truth alpha, W×H. */
  alpha: AlphaImage;
  /** Background photo with a `margin`-pixel border on every side: (W+2m)×(H+2m). */
  background: RgbImage;
  /** Border width of `background` in pixels (room for the misalignment warp). */
  margin: number;
}

/**
 * Border needed around a W×H frame so that a plate shifted by up to 3 px and
 * rotated by up to 0.5° about the frame centre still has real pixels everywhere.
 */
export function backgroundMargin(width: number, height: number): number {
  const rot = Math.sin((MISALIGN_MAX_DEG * Math.PI) / 180) * (Math.hypot(width, height) / 2);
  return Math.ceil(MISALIGN_SHIFT_PX[1] + rot) + 4;
}

/** Copies the `w×h` window at (`left`, `top`) out of an RGB image. */
export function cropRgb(img: RgbImage, left: number, top: number, w: number, h: number): RgbImage {
  if (left < 0 || top < 0 || left + w > img.width || top + h > img.height) {
    throw new CleanplateError('internal', `crop ${w}x${h}+${left}+${top} outside ${img.width}x${img.height}`);
  }
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const src = ((top + y) * img.width + left) * 3;
    out.set(img.data.subarray(src, src + w * 3), y * w * 3);
  }
  return { width: w, height: h, data: out };
}

async function toRaw(pipeline: SharpPipeline, channels: 1 | 3): Promise<{ width: number; height: number; data: Uint8Array }> {
  // Some operations (extend with a background, affine) hand one-channel input back as sRGB.
  const p = channels === 1 ? pipeline.extractChannel(0) : pipeline;
  const { data, info } = await p.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== channels) {
    throw new CleanplateError('internal', `sharp returned ${info.channels} channels, expected ${channels}`);
  }
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

function fromRaw(img: { width: number; height: number; data: Uint8Array }, channels: 1 | 3): SharpPipeline {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels } });
}

/** Adds N(0, σ²) to every sample (σ on the 0..255 scale), rounding and clamping; returns a new image. */
export function addNoise(img: RgbImage, sigma: number, rng: Rng): RgbImage {
  const out = new Uint8Array(img.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = Math.round(img.data[i] + sigma * rng.gaussian());
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return { width: img.width, height: img.height, data: out };
}

/** Multiplies each channel by its gain (sharp `linear`), rounding and clamping to 0..255. */
export async function applyGain(img: RgbImage, gains: readonly [number, number, number]): Promise<RgbImage> {
  const raw = await toRaw(fromRaw(img, 3).linear([...gains], [0, 0, 0]), 3);
  return raw;
}

/** Round-trips an image through a JPEG of the given quality (sharp, default 4:2:0 chroma). */
export async function jpegRoundTrip(img: RgbImage, quality: number): Promise<RgbImage> {
  const jpeg = await fromRaw(img, 3).jpeg({ quality }).toBuffer();
  return toRaw(sharp(jpeg), 3);
}

/**
 * Rigid warp with sharp's `affine` (bicubic): the content at p moves to
 * T(p) = R(θ)·(p − c) + c + d, where R rotates by `angleDeg` (clockwise on
 * screen, y down), c = `centre` and d = `shift`, all in pixel-index
 * coordinates. Output has the input's size; pixels with no source are black
 * (callers keep a border so that the part they use is always covered).
 *
 * libvips places the affine output on a canvas whose origin it derives from
 * the transformed bounding box with its own rounding; that integer offset is
 * measured with a probe (a Gaussian dot at the image centre warped the same
 * way) rather than assumed.
 */
export async function warpRigid(
  img: RgbImage,
  angleDeg: number,
  centre: [number, number],
  shift: [number, number],
): Promise<RgbImage> {
  const th = (angleDeg * Math.PI) / 180;
  const c = Math.cos(th);
  const s = Math.sin(th);
  const matrix: [[number, number], [number, number]] = [
    [c, -s],
    [s, c],
  ];
  // output = R·p + od with od = c + d − R·c
  const odx = centre[0] + shift[0] - (c * centre[0] - s * centre[1]);
  const ody = centre[1] + shift[1] - (s * centre[0] + c * centre[1]);
  const { width: w, height: h } = img;

  // Probe: where does a dot at the image centre land on sharp's canvas?
  const px = Math.floor(w / 2);
  const py = Math.floor(h / 2);
  const probe = new Uint8Array(w * h);
  for (let y = Math.max(0, py - 8); y <= Math.min(h - 1, py + 8); y++) {
    for (let x = Math.max(0, px - 8); x <= Math.min(w - 1, px + 8); x++) {
      probe[y * w + x] = Math.round(255 * Math.exp(-((x - px) ** 2 + (y - py) ** 2) / 8));
    }
  }
  // (sharp may hand a one-channel affine back as sRGB: read the first channel.)
  const probeOut = await fromRaw({ width: w, height: h, data: probe }, 1)
    .affine(matrix, { odx, ody })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const pw = probeOut.info.width;
  const pc = probeOut.info.channels;
  let sum = 0;
  let sx = 0;
  let sy = 0;
  for (let y = 0; y < probeOut.info.height; y++) {
    for (let x = 0; x < pw; x++) {
      const v = probeOut.data[(y * pw + x) * pc];
      sum += v;
      sx += v * x;
      sy += v * y;
    }
  }
  if (sum === 0) throw new CleanplateError('internal', 'rigid warp probe vanished');
  const ox = Math.round(sx / sum - (c * px - s * py + odx));
  const oy = Math.round(sy / sum - (s * px + c * py + ody));

  const warped = await toRaw(fromRaw(img, 3).affine(matrix, { odx, ody, background: { r: 0, g: 0, b: 0 } }), 3);
  const out = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    const cy = Math.min(warped.height - 1, Math.max(0, y + oy));
    for (let x = 0; x < w; x++) {
      const cx = Math.min(warped.width - 1, Math.max(0, x + ox));
      const si = (cy * warped.width + cx) * 3;
      const di = (y * w + x) * 3;
      out[di] = warped.data[si];
      out[di + 1] = warped.data[si + 1];
      out[di + 2] = warped.data[si + 2];
    }
  }
  return { width: w, height: h, data: out };
}

/**
 * Shadow map in 0..255: the alpha moved by `offset` pixels (content moves
 * right/down for positive values; sharp `extend` + `extract`) and blurred with
 * a Gaussian of `sigma` pixels (sharp `blur`).
 */
export async function shadowMap(alpha: AlphaImage, offset: [number, number], sigma: number): Promise<Uint8Array> {
  const [dx, dy] = offset;
  const extended = await toRaw(
    fromRaw(alpha, 1).extend({
      left: Math.max(dx, 0),
      right: Math.max(-dx, 0),
      top: Math.max(dy, 0),
      bottom: Math.max(-dy, 0),
      background: { r: 0, g: 0, b: 0 },
    }),
    1,
  );
  let pipeline = fromRaw(extended, 1).extract({
    left: Math.max(-dx, 0),
    top: Math.max(-dy, 0),
    width: alpha.width,
    height: alpha.height,
  });
  if (sigma >= 0.3) pipeline = pipeline.blur(sigma);
  const out = await toRaw(pipeline, 1);
  return out.data;
}

/**
 * Composites shot = α·F + (1 − α)·B·(1 − shade) plus noise, rounded to 8 bits.
 * `shade` (0..1 per pixel, optional) darkens only the background term.
 */
export function compositeShot(
  image: RgbImage,
  alpha: AlphaImage,
  background: RgbImage,
  shade: Float32Array | undefined,
  noiseSigma: number,
  rng: Rng,
): RgbImage {
  const { width, height } = image;
  if (alpha.width !== width || alpha.height !== height || background.width !== width || background.height !== height) {
    throw new CleanplateError('size-mismatch', 'composite: image, alpha and background differ in size');
  }
  const out = new Uint8Array(width * height * 3);
  for (let p = 0; p < width * height; p++) {
    const a = alpha.data[p] / 255;
    const k = shade ? 1 - shade[p] : 1;
    for (let ch = 0; ch < 3; ch++) {
      const i = p * 3 + ch;
      const v = Math.round(a * image.data[i] + (1 - a) * background.data[i] * k + noiseSigma * rng.gaussian());
      out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
    }
  }
  return { width, height, data: out };
}

/** The random streams one pair draws from. */
export interface SynthRngs {
  /** Condition parameters (shift, rotation, shadow offset...). */
  params: Rng;
  /** Shot sensor noise. */
  shotNoise: Rng;
  /** Plate sensor noise. */
  plateNoise: Rng;
}

/**
 * Builds the shot and plate of one scene under one condition (see module doc).
 * Deterministic for given inputs and random streams.
 */
export async function synthesizePair(scene: SceneInput, condition: ConditionName, rngs: SynthRngs): Promise<SynthPair> {
  const { image, alpha, background, margin } = scene;
  const { width: w, height: h } = image;
  if (background.width !== w + 2 * margin || background.height !== h + 2 * margin) {
    throw new CleanplateError(
      'size-mismatch',
      `background is ${background.width}x${background.height}, expected ${w + 2 * margin}x${h + 2 * margin}`,
    );
  }
  const params: PerturbationParams = { condition, noiseSigma: BASE_NOISE_SIGMA };
  const base = cropRgb(background, margin, margin, w, h);
  const longSide = Math.max(w, h);

  let shade: Float32Array | undefined;
  if (condition === 'shadow') {
    const offsetPx: [number, number] = [
      Math.round(rngs.params.uniform(-0.03, 0.03) * longSide),
      Math.round(rngs.params.uniform(0.01, 0.04) * longSide),
    ];
    const blurSigma = Math.max(0.5, Math.round(0.02 * longSide * 10) / 10);
    const strength = Math.round(rngs.params.uniform(0.25, SHADOW_MAX_STRENGTH) * 1000) / 1000;
    params.shadow = { offsetPx, blurSigma, strength };
    const map = await shadowMap(alpha, offsetPx, blurSigma);
    shade = new Float32Array(w * h);
    for (let i = 0; i < shade.length; i++) shade[i] = (strength * map[i]) / 255;
  }
  let shot = compositeShot(image, alpha, base, shade, BASE_NOISE_SIGMA, rngs.shotNoise);

  let plate: RgbImage;
  if (condition === 'exposure') {
    const gains: [number, number, number] = [
      EXPOSURE_GAIN * EXPOSURE_WB[0],
      EXPOSURE_GAIN * EXPOSURE_WB[1],
      EXPOSURE_GAIN * EXPOSURE_WB[2],
    ];
    params.plateGain = gains;
    plate = await applyGain(base, gains);
  } else if (condition === 'misalign') {
    const r = rngs.params.uniform(MISALIGN_SHIFT_PX[0], MISALIGN_SHIFT_PX[1]);
    const dir = rngs.params.uniform(0, 2 * Math.PI);
    const shiftPx: [number, number] = [Math.round(r * Math.cos(dir) * 1000) / 1000, Math.round(r * Math.sin(dir) * 1000) / 1000];
    const rotationDeg = Math.round(rngs.params.uniform(-MISALIGN_MAX_DEG, MISALIGN_MAX_DEG) * 10000) / 10000;
    params.shiftPx = shiftPx;
    params.rotationDeg = rotationDeg;
    const centre: [number, number] = [margin + (w - 1) / 2, margin + (h - 1) / 2];
    const warped = await warpRigid(background, rotationDeg, centre, shiftPx);
    plate = cropRgb(warped, margin, margin, w, h);
  } else {
    plate = base;
  }
  plate = addNoise(plate, BASE_NOISE_SIGMA, rngs.plateNoise);

  if (condition === 'jpeg') {
    params.jpegQuality = JPEG_QUALITY;
    shot = await jpegRoundTrip(shot, JPEG_QUALITY);
    plate = await jpegRoundTrip(plate, JPEG_QUALITY);
  }
  return { shot, plate, params };
}
