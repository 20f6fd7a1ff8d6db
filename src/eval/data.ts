/**
 * Reads an evaluation data folder (the `DATA_DIR` of `cleanplate eval`, e.g. `../shared/data` beside
 * a checkout):
 * - `gt/<item>/image.png` + `alpha.png` (+ optional `trimap.png`): scored items;
 *   folders without both files are skipped;
 * - `pairs/<pair>/plate.*`: real background photos for the composites.
 * Decoding goes through sharp with EXIF auto-orientation (`.rotate()`).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { AlphaImage, RgbImage } from '../image/types.js';
import { CleanplateError, toCleanplateError } from '../errors.js';
import type { Rng } from './rng.js';

/** One scorable item found under `gt/`. */
export interface GtItemRef {
  name: string;
  imagePath: string;
  alphaPath: string;
  trimapPath?: string;
}

/** A background photo found under `pairs/`. */
export interface PlateRef {
  /** Pair folder name, e.g. `whiteboard-aligned`. */
  name: string;
  path: string;
}

/** A decoded item: foreground colours, ground-truth alpha, optional trimap, all the same size. */
export interface GtItem {
  name: string;
  image: RgbImage;
  alpha: AlphaImage;
  trimap?: AlphaImage;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

async function listDirs(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw toCleanplateError(err, `eval data folder ${dir}`);
  }
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/**
 * Lists `dataDir/gt/<name>/` folders holding both `image.png` and `alpha.png`,
 * sorted by name. With `only`, returns exactly those (in the given order) and
 * throws `missing` for a name that is not a scorable item.
 */
export async function findGtItems(dataDir: string, only?: readonly string[]): Promise<GtItemRef[]> {
  const gtDir = path.join(dataDir, 'gt');
  const found: GtItemRef[] = [];
  for (const name of await listDirs(gtDir)) {
    const dir = path.join(gtDir, name);
    const imagePath = path.join(dir, 'image.png');
    const alphaPath = path.join(dir, 'alpha.png');
    if (!(await exists(imagePath)) || !(await exists(alphaPath))) continue;
    const trimapPath = path.join(dir, 'trimap.png');
    found.push({ name, imagePath, alphaPath, ...((await exists(trimapPath)) ? { trimapPath } : {}) });
  }
  if (!only) return found;
  return only.map((name) => {
    const ref = found.find((r) => r.name === name);
    if (!ref) throw new CleanplateError('missing', `eval: no item "${name}" with image.png and alpha.png under ${gtDir}`);
    return ref;
  });
}

/** Lists `dataDir/pairs/<name>/plate.*` files (one per pair folder), sorted by folder name. */
export async function findPlates(dataDir: string): Promise<PlateRef[]> {
  const pairsDir = path.join(dataDir, 'pairs');
  const out: PlateRef[] = [];
  for (const name of await listDirs(pairsDir)) {
    const files = (await fs.readdir(path.join(pairsDir, name))).filter((f) => /^plate\.[^.]+$/i.test(f)).sort();
    if (files.length > 0) out.push({ name, path: path.join(pairsDir, name, files[0]) });
  }
  return out;
}

/**
 * True when a photo is (nearly) one flat colour: every colour channel's
 * standard deviation is below `maxStdev` (0..255 scale). Such a "plate" (e.g.
 * a synthetic flat green) is not a real background photo and makes
 * misalignment invisible, so the harness does not use it.
 */
export async function isFlatPhoto(file: string, maxStdev = 2): Promise<boolean> {
  try {
    const stats = await sharp(file).stats();
    return stats.channels.slice(0, 3).every((c) => c.stdev < maxStdev);
  } catch (err) {
    throw new CleanplateError('corrupt', `${file}: cannot decode (${(err as Error).message})`, { cause: err });
  }
}

/** Decodes any image file to 8-bit sRGB RGB (auto-oriented, alpha channel dropped). */
export async function decodeRgb(file: string): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(file)
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new CleanplateError('corrupt', `${file}: decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (err) {
    if (err instanceof CleanplateError) throw err;
    throw new CleanplateError('corrupt', `${file}: cannot decode (${(err as Error).message})`, { cause: err });
  }
}

/** Decodes a single-channel 8-bit image (matte or trimap), auto-oriented, optionally resized. */
async function decodeGrey(file: string, size?: { width: number; height: number }, nearest = false): Promise<AlphaImage> {
  try {
    let pipeline = sharp(file).rotate().removeAlpha().toColourspace('b-w');
    if (size) pipeline = pipeline.resize(size.width, size.height, { fit: 'fill', kernel: nearest ? 'nearest' : 'lanczos3' });
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 1) throw new CleanplateError('corrupt', `${file}: decoded to ${info.channels} channels`);
    return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
  } catch (err) {
    if (err instanceof CleanplateError) throw err;
    throw new CleanplateError('corrupt', `${file}: cannot decode (${(err as Error).message})`, { cause: err });
  }
}

/**
 * Loads an item; with `maxLongSide`, image, alpha (Lanczos) and trimap
 * (nearest) are downscaled together so the long side is at most that.
 * Throws `size-mismatch` when image and alpha differ in size.
 */
export async function loadGtItem(ref: GtItemRef, maxLongSide?: number): Promise<GtItem> {
  let image = await decodeRgb(ref.imagePath);
  const alphaMeta = await decodeGrey(ref.alphaPath);
  if (alphaMeta.width !== image.width || alphaMeta.height !== image.height) {
    throw new CleanplateError(
      'size-mismatch',
      `eval item ${ref.name}: image is ${image.width}x${image.height}, alpha ${alphaMeta.width}x${alphaMeta.height}`,
    );
  }
  let alpha = alphaMeta;
  let size: { width: number; height: number } | undefined;
  const long = Math.max(image.width, image.height);
  if (maxLongSide !== undefined && long > maxLongSide) {
    const scale = maxLongSide / long;
    size = { width: Math.max(1, Math.round(image.width * scale)), height: Math.max(1, Math.round(image.height * scale)) };
    const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
      .resize(size.width, size.height, { fit: 'fill', kernel: 'lanczos3' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    image = { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
    alpha = await decodeGrey(ref.alphaPath, size);
  }
  let trimap: AlphaImage | undefined;
  if (ref.trimapPath) {
    trimap = await decodeGrey(ref.trimapPath, size ?? { width: image.width, height: image.height }, true);
  }
  return { name: ref.name, image, alpha, ...(trimap ? { trimap } : {}) };
}

/** How a background was cut from a plate photo (for the report). */
export interface BackgroundInfo {
  plate: string;
  /** Scale applied to the photo before cropping. */
  scale: number;
  /** Crop origin in the scaled photo. */
  left: number;
  top: number;
  /** Mirrored left–right. */
  flipped: boolean;
}

/**
 * Cuts a `width×height` background from a decoded photo: scales it to cover
 * the frame times a random factor in [1, 1.25), mirrors it with probability
 * ½, and crops at a random position (sharp `resize` + `extract` + `flop`).
 */
export async function cutBackground(
  photo: RgbImage,
  plateName: string,
  width: number,
  height: number,
  rng: Rng,
): Promise<{ image: RgbImage; info: BackgroundInfo }> {
  const cover = Math.max(width / photo.width, height / photo.height);
  const scale = cover * rng.uniform(1, 1.25);
  const rw = Math.max(width, Math.ceil(photo.width * scale));
  const rh = Math.max(height, Math.ceil(photo.height * scale));
  const left = rng.int(rw - width + 1);
  const top = rng.int(rh - height + 1);
  const flipped = rng.next() < 0.5;
  let pipeline = sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } })
    .resize(rw, rh, { fit: 'fill', kernel: 'lanczos3' })
    .extract({ left, top, width, height });
  if (flipped) pipeline = pipeline.flop();
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.width !== width || info.height !== height || info.channels !== 3) {
    throw new CleanplateError('internal', `background cut returned ${info.width}x${info.height}x${info.channels}`);
  }
  return {
    image: { width, height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) },
    info: { plate: plateName, scale: Math.round(scale * 1e4) / 1e4, left, top, flipped },
  };
}
