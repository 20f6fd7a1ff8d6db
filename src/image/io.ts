/**
 * Decoding source photos with sharp: the one place where files become pixels.
 *
 * Every file is treated the same way: EXIF orientation applied, alpha dropped,
 * grey and CMYK turned into RGB, samples reduced to 8 bits, a full decode with
 * `failOn` so truncated files fail here instead of producing half-grey images.
 * RGB files keep their native colour space (no conversion) and their ICC
 * profile travels with the pixels in `SourceImage.icc`, to be attached to every
 * output; grey and CMYK files are converted to sRGB and carry no profile.
 *
 * Errors users can cause come out as one-line `CleanplateError`s: missing,
 * unreadable, corrupt (truncated, not an image), unsupported (an image format
 * or sample type we do not take), too-large (over `limits.maxPixels`).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import exifReader from 'exif-reader';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { CleanplateError } from '../errors.js';
import type { SourceImage } from './types.js';

/** Formats (as sharp names them after sniffing the content) that cleanplate takes. */
export const SUPPORTED_FORMATS: ReadonlySet<string> = new Set(['jpeg', 'png', 'tiff', 'webp']);

/**
 * sharp's `failOn` level for full decodes: truncated data and decoder errors
 * fail; mere warnings (e.g. extraneous bytes some cameras write) do not.
 */
export const DECODE_FAIL_ON = 'error' as const;

/** Cheap facts about an image file, read from its header only. */
export interface ImageHeader {
  /** Width after EXIF orientation (what `readImage` delivers). */
  width: number;
  /** Height after EXIF orientation (what `readImage` delivers). */
  height: number;
  /** Format sniffed from the content by sharp ('jpeg', 'png', ...), whatever the file name says. */
  format: string;
  /** EXIF orientation tag, 1 (upright) when absent. */
  orientation: number;
}

/** Options of `readImage`. */
export interface ReadImageOptions {
  /** Refuse images with more pixels than this (limits.maxPixels). */
  maxPixels: number;
}

interface HeaderMeta {
  format: string;
  width: number;
  height: number;
  orientation: number;
  depth: string;
  space: string;
  icc?: Buffer;
  exif?: Buffer;
}

/** `"4480x6720 (30.1 MP)"`. */
export function describeSize(width: number, height: number): string {
  return `${width}x${height} (${((width * height) / 1e6).toFixed(1)} MP)`;
}

/** Makes a sharp/libvips message fit on one line and drops its trailing noise. */
function oneLine(message: string): string {
  return message.replace(/\s+/g, ' ').trim().replace(/[.:]+$/, '');
}

/** Magic numbers of image formats that sharp cannot decode but that studios do drop. */
const KNOWN_UNDECODABLE: ReadonlyArray<{ name: string; test: (h: Buffer) => boolean }> = [
  { name: 'Photoshop PSD', test: (h) => h.subarray(0, 4).toString('latin1') === '8BPS' },
  { name: 'BMP', test: (h) => h.subarray(0, 2).toString('latin1') === 'BM' && h.length >= 14 && h.readUInt32LE(2) > 14 },
  { name: 'HEIC', test: (h) => h.subarray(4, 8).toString('latin1') === 'ftyp' && /^(heic|heix|hevc|hevx|mif1|msf1)$/.test(h.subarray(8, 12).toString('latin1')) },
  { name: 'Canon CR3 raw', test: (h) => h.subarray(4, 12).toString('latin1') === 'ftypcrx ' },
  { name: 'Fujifilm RAF raw', test: (h) => h.subarray(0, 15).toString('latin1') === 'FUJIFILMCCD-RAW' },
  { name: 'JPEG XL', test: (h) => (h[0] === 0xff && h[1] === 0x0a) || h.subarray(4, 8).toString('latin1') === 'JXL ' },
];

async function readHead(file: string): Promise<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(32);
    const { bytesRead } = await fh.read(buf, 0, 32, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * Checks that `file` is a readable, non-empty regular file, mapping fs errors
 * to missing / unreadable / unsupported / corrupt.
 */
async function checkFile(file: string): Promise<void> {
  const name = path.basename(file);
  let size: number;
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) throw new CleanplateError('unsupported', `${name}: not a regular file`);
    size = st.size;
    // open() is what reveals a permission problem (and refreshes network attribute caches).
    await (await fs.open(file, 'r')).close();
  } catch (err) {
    throw fsReadError(err, file);
  }
  if (size === 0) throw new CleanplateError('corrupt', `${name}: empty file (0 bytes)`);
}

/** Maps an fs error met while reading a source file. */
function fsReadError(err: unknown, file: string): CleanplateError {
  if (err instanceof CleanplateError) return err;
  const name = path.basename(file);
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
    case 'ENOTDIR':
      return new CleanplateError('missing', `${name}: file not found (${file})`, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new CleanplateError('unreadable', `${name}: permission denied (${file})`, { cause: err, retryable: true });
    case 'EISDIR':
      return new CleanplateError('unsupported', `${name}: is a folder, not an image`, { cause: err });
    default:
      return new CleanplateError('unreadable', `${name}: ${oneLine(e?.message ?? String(err))}`, { cause: err, retryable: true });
  }
}

/**
 * Turns a sharp/libvips failure into the right CleanplateError. Sharp sniffs
 * content, so "unsupported image format" means the bytes are no image we know:
 * corrupt, unless the magic number names a format we know but do not decode.
 */
async function sharpError(err: unknown, file: string, phase: 'header' | 'decode'): Promise<CleanplateError> {
  if (err instanceof CleanplateError) return err;
  const name = path.basename(file);
  const msg = oneLine(err instanceof Error ? err.message : String(err));
  if (/Input file is missing/i.test(msg)) return new CleanplateError('missing', `${name}: file not found (${file})`, { cause: err });
  if (/exceeds pixel limit/i.test(msg)) return new CleanplateError('too-large', `${name}: image is over the pixel limit`, { cause: err });
  if (/unsupported image format|not a known (file|image) format/i.test(msg)) {
    let head: Buffer | undefined;
    try {
      head = await readHead(file);
    } catch (e) {
      return fsReadError(e, file);
    }
    const known = KNOWN_UNDECODABLE.find((k) => k.test(head));
    if (known) return new CleanplateError('unsupported', `${name}: ${known.name} files are not supported (use JPEG, PNG, TIFF or WebP)`, { cause: err });
    return new CleanplateError('corrupt', `${name}: not an image (the content is no known image format)`, { cause: err });
  }
  if (/out of memory|cannot allocate|ENOMEM/i.test(msg)) {
    return new CleanplateError('internal', `${name}: out of memory while decoding`, { cause: err, retryable: true });
  }
  const what = phase === 'decode' && /premature|truncat|end of (stream|file|data)|unexpected end/i.test(msg) ? 'truncated or incomplete image' : 'cannot be decoded';
  return new CleanplateError('corrupt', `${name}: ${what} (${msg})`, { cause: err });
}

async function headerMeta(file: string): Promise<HeaderMeta> {
  await checkFile(file);
  let m: Metadata;
  try {
    m = await sharp(file, { limitInputPixels: false, failOn: DECODE_FAIL_ON }).metadata();
  } catch (err) {
    throw await sharpError(err, file, 'header');
  }
  const orientation = m.orientation && m.orientation >= 1 && m.orientation <= 8 ? m.orientation : 1;
  const swap = orientation >= 5;
  return {
    format: m.format,
    width: m.autoOrient?.width ?? (swap ? m.height : m.width),
    height: m.autoOrient?.height ?? (swap ? m.width : m.height),
    orientation,
    depth: m.depth,
    space: m.space,
    icc: m.icc,
    exif: m.exif,
  };
}

/**
 * Whether an ICC profile is a well-formed RGB profile (header size matches,
 * 'acsp' signature, data colour space 'RGB '), i.e. fit to attach to RGB outputs.
 */
export function isRgbIccProfile(icc: Buffer | undefined): icc is Buffer {
  if (!icc || icc.length < 132) return false;
  return icc.readUInt32BE(0) === icc.length && icc.toString('latin1', 36, 40) === 'acsp' && icc.toString('latin1', 16, 20) === 'RGB ';
}

/**
 * EXIF DateTimeOriginal (plus SubSecTimeOriginal and OffsetTimeOriginal when
 * present) as an instant. Without an offset the camera's wall-clock time is
 * read as local time of this machine, like file mtimes on the same studio
 * network. Returns undefined when the EXIF block or the tag is missing or bad.
 */
export function capturedAtFromExif(exif: Buffer | undefined): Date | undefined {
  if (!exif || exif.length < 8) return undefined;
  let parsed: ReturnType<typeof exifReader>;
  try {
    parsed = exifReader(exif);
  } catch {
    return undefined;
  }
  const photo = parsed.Photo;
  const dto = photo?.DateTimeOriginal ?? photo?.DateTimeDigitized;
  if (!(dto instanceof Date) || Number.isNaN(dto.getTime())) return undefined;
  const subSec = String(photo?.SubSecTimeOriginal ?? '').trim();
  const ms = /^\d+$/.test(subSec) ? Math.round(Number(`0.${subSec}`) * 1000) : 0;
  // exif-reader reads the wall-clock fields as if they were UTC; take them back out.
  const [y, mo, d, h, mi, s] = [dto.getUTCFullYear(), dto.getUTCMonth(), dto.getUTCDate(), dto.getUTCHours(), dto.getUTCMinutes(), dto.getUTCSeconds()];
  const offset = /^([+-])(\d{2}):(\d{2})$/.exec(String(photo?.OffsetTimeOriginal ?? '').trim());
  if (offset) {
    const sign = offset[1] === '-' ? -1 : 1;
    const offsetMin = sign * (Number(offset[2]) * 60 + Number(offset[3]));
    return new Date(Date.UTC(y, mo, d, h, mi, s, ms) - offsetMin * 60_000);
  }
  return new Date(y, mo, d, h, mi, s, ms);
}

/**
 * Cheap header facts (no pixel decode, no pixel limit).
 * @throws CleanplateError missing / unreadable / corrupt / unsupported
 */
export async function readHeader(file: string): Promise<ImageHeader> {
  const m = await headerMeta(file);
  return { width: m.width, height: m.height, format: m.format, orientation: m.orientation };
}

/**
 * Capture time from EXIF (see `capturedAtFromExif`), reading only the header.
 * Never throws: undefined when the file has no usable EXIF date or cannot be read.
 */
export async function capturedAtOf(file: string): Promise<Date | undefined> {
  try {
    return capturedAtFromExif((await headerMeta(file)).exif);
  } catch {
    return undefined;
  }
}

/**
 * Decodes a photo completely: oriented, 8-bit RGB, native colour space (its
 * RGB ICC profile in `icc`), capture time from EXIF.
 * @throws CleanplateError missing / unreadable / corrupt / unsupported / too-large
 */
export async function readImage(file: string, opts: ReadImageOptions): Promise<SourceImage> {
  const name = path.basename(file);
  const m = await headerMeta(file);
  if (!SUPPORTED_FORMATS.has(m.format)) {
    throw new CleanplateError('unsupported', `${name}: ${m.format.toUpperCase()} images are not supported (use JPEG, PNG, TIFF or WebP)`);
  }
  if (m.depth !== 'uchar' && m.depth !== 'ushort' && m.depth !== 'char') {
    throw new CleanplateError('unsupported', `${name}: ${m.depth} samples are not supported (8- or 16-bit integer images only)`);
  }
  if (m.width * m.height > opts.maxPixels) {
    throw new CleanplateError(
      'too-large',
      `${name}: ${describeSize(m.width, m.height)} is over limits.maxPixels (${opts.maxPixels} pixels, ${(opts.maxPixels / 1e6).toFixed(1)} MP)`,
    );
  }
  // RGB with an RGB profile: keep native values and the profile. Anything
  // else (grey, CMYK, odd profiles): let sharp convert to sRGB, carry no profile.
  const keepNative = (m.space === 'srgb' || m.space === 'rgb16' || m.space === 'rgb') && isRgbIccProfile(m.icc);
  let data: Buffer;
  let info: OutputInfo;
  try {
    ({ data, info } = await sharp(file, {
      failOn: DECODE_FAIL_ON,
      limitInputPixels: opts.maxPixels,
      autoOrient: true,
      ignoreIcc: keepNative,
    })
      .removeAlpha()
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true }));
  } catch (err) {
    throw await sharpError(err, file, 'decode');
  }
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new CleanplateError('internal', `${name}: decoder returned ${info.channels} channels, expected 3`);
  }
  return {
    width: info.width,
    height: info.height,
    data,
    icc: keepNative ? m.icc : undefined,
    capturedAt: capturedAtFromExif(m.exif),
    sourceBitDepth: m.depth === 'ushort' ? 16 : 8,
  };
}

/**
 * Shot and plate must have the same oriented size.
 * @throws CleanplateError 'size-mismatch' naming both sizes
 */
export function assertSameSize(shot: { width: number; height: number }, plate: { width: number; height: number }): void {
  if (shot.width !== plate.width || shot.height !== plate.height) {
    const rotated = shot.width === plate.height && shot.height === plate.width ? ' (one is rotated: check the camera orientation)' : '';
    throw new CleanplateError(
      'size-mismatch',
      `shot is ${shot.width}x${shot.height} but plate is ${plate.width}x${plate.height}; they must be the same size${rotated}`,
    );
  }
}
