/**
 * Encoding a job's image outputs (the sidecar JSON is built by the caller).
 *
 * | kind        | file                      | content                                   |
 * | ----------- | ------------------------- | ----------------------------------------- |
 * | `rgba-png`  | `<name>.png`              | 8-bit RGBA: foreground + alpha            |
 * | `tiff16`    | `<name>.tif`              | 16-bit RGBA, deflate + horizontal predictor |
 * | `webp`      | `<name>.webp`             | lossless WebP with alpha (exact colours, effort WEBP_EFFORT) |
 * | `alpha-png` | `<name>.alpha.png`        | 8-bit grey matte                          |
 * | `composite` | `<name>.composite.png`    | foreground flattened on a colour (RGB)    |
 *
 * Everything is lossless. Pixels are in the shot's native colour space, so the
 * shot's RGB ICC profile is attached to every colour output, byte for byte.
 * sharp cannot attach a profile without converting pixels (`withIccProfile`
 * transforms from sRGB; raw input has no profile to keep), so the profile is
 * written into the encoded files here: PNG iCCP chunk, WebP ICCP chunk (with a
 * VP8X header), TIFF tag 34675. The grey matte carries none: an RGB profile is
 * invalid on a greyscale PNG, and a matte is not colour.
 */
import { deflateSync, crc32 } from 'node:zlib';
import sharp from 'sharp';
import type { OutputsConfig } from '../config/schema.js';
import { CleanplateError } from '../errors.js';
import { isRgbIccProfile } from '../image/io.js';
import type { AlphaImage, RgbImage, SourceImage } from '../image/types.js';

/** The image outputs cleanplate writes. */
export type OutputKind = 'rgba-png' | 'tiff16' | 'webp' | 'alpha-png' | 'composite';

/** One encoded output: the file is `<stem><suffix><ext>`. */
export interface EncodedOutput {
  kind: OutputKind;
  /** Inserted between the shot's stem and the extension ('' or e.g. '.alpha'). */
  suffix: string;
  /** Extension with its dot, e.g. '.png'. */
  ext: string;
  data: Buffer;
}

/**
 * libwebp effort for lossless WebP. Still lossless; 0 is ~2x faster than the
 * default 4 on photos (files ~25 % larger) and needs about half the memory
 * (~0.5 GB instead of ~1 GB at 30 MP).
 */
export const WEBP_EFFORT = 0;

/** Largest side lossless WebP can hold. */
export const WEBP_MAX_SIDE = 16383;

/** `#rrggbb` → [r, g, b]. */
export function parseHexColour(hex: string): [number, number, number] {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) throw new CleanplateError('config', `not a colour like #ffffff: ${hex}`);
  return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
}

/** Interleaves foreground RGB and alpha into RGBA (8 bits). */
export function interleaveRgba(foreground: RgbImage, alpha: AlphaImage): Buffer {
  const n = alpha.width * alpha.height;
  const out = Buffer.allocUnsafe(n * 4);
  const f = foreground.data;
  const a = alpha.data;
  for (let p = 0, o = 0, q = 0; p < n; p++, o += 3, q += 4) {
    out[q] = f[o];
    out[q + 1] = f[o + 1];
    out[q + 2] = f[o + 2];
    out[q + 3] = a[p];
  }
  return out;
}

/** Foreground over a solid colour: F * a + C * (1 - a), rounded. */
export function compositeOver(foreground: RgbImage, alpha: AlphaImage, colour: readonly [number, number, number]): Buffer {
  const n = alpha.width * alpha.height;
  const out = Buffer.allocUnsafe(n * 3);
  const clamped = new Uint8ClampedArray(out.buffer, out.byteOffset, out.length);
  const f = foreground.data;
  const a = alpha.data;
  const [r, g, b] = colour;
  for (let p = 0, o = 0; p < n; p++, o += 3) {
    const t = a[p] / 255;
    clamped[o] = r + (f[o] - r) * t;
    clamped[o + 1] = g + (f[o + 1] - g) * t;
    clamped[o + 2] = b + (f[o + 2] - b) * t;
  }
  return out;
}

/** 8-bit RGBA → 16-bit RGBA (v * 257, so 255 maps to 65535). */
export function widenTo16(rgba: Uint8Array): Uint16Array {
  const out = new Uint16Array(rgba.length);
  for (let i = 0; i < rgba.length; i++) out[i] = rgba[i] * 257;
  return out;
}

// ---------------------------------------------------------------- ICC in PNG

function pngChunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(data, crc32(head.subarray(4, 8))) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * Returns the PNG with `icc` in an iCCP chunk right after IHDR (any iCCP or
 * sRGB chunk it had is dropped).
 */
export function pngWithIcc(png: Buffer, icc: Buffer): Buffer {
  if (png.length < 33 || png.readUInt32BE(0) !== 0x89504e47 || png.toString('latin1', 12, 16) !== 'IHDR') {
    throw new CleanplateError('internal', 'pngWithIcc: not a PNG');
  }
  const name = Buffer.from('ICC profile\0\0', 'latin1'); // name, NUL, compression method 0
  const iccp = pngChunk('iCCP', Buffer.concat([name, deflateSync(icc)]));
  const parts: Buffer[] = [png.subarray(0, 33), iccp];
  let o = 33;
  while (o + 12 <= png.length) {
    const len = png.readUInt32BE(o);
    const type = png.toString('latin1', o + 4, o + 8);
    const end = o + 12 + len;
    if (end > png.length) throw new CleanplateError('internal', 'pngWithIcc: truncated chunk');
    if (type !== 'iCCP' && type !== 'sRGB') parts.push(png.subarray(o, end));
    o = end;
  }
  return Buffer.concat(parts);
}

// --------------------------------------------------------------- ICC in WebP

function riffChunk(fourcc: string, payload: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.write(fourcc, 0, 'latin1');
  head.writeUInt32LE(payload.length, 4);
  return Buffer.concat(payload.length % 2 ? [head, payload, Buffer.alloc(1)] : [head, payload]);
}

/** Canvas size and alpha of a simple (non-VP8X) WebP bitstream chunk. */
function bitstreamInfo(fourcc: string, payload: Buffer): { width: number; height: number; alpha: boolean } {
  if (fourcc === 'VP8L' && payload[0] === 0x2f && payload.length >= 5) {
    const bits = payload.readUInt32LE(1);
    return { width: (bits & 0x3fff) + 1, height: ((bits >>> 14) & 0x3fff) + 1, alpha: ((bits >>> 28) & 1) === 1 };
  }
  if (fourcc === 'VP8 ' && payload.length >= 10 && payload[3] === 0x9d && payload[4] === 0x01 && payload[5] === 0x2a) {
    return { width: payload.readUInt16LE(6) & 0x3fff, height: payload.readUInt16LE(8) & 0x3fff, alpha: false };
  }
  throw new CleanplateError('internal', `webpWithIcc: unexpected ${fourcc} chunk`);
}

/**
 * Returns the WebP with `icc` in an ICCP chunk (extended format: a VP8X
 * header is added when the file had none; its ICC flag is set).
 */
export function webpWithIcc(webp: Buffer, icc: Buffer): Buffer {
  if (webp.length < 20 || webp.toString('latin1', 0, 4) !== 'RIFF' || webp.toString('latin1', 8, 12) !== 'WEBP') {
    throw new CleanplateError('internal', 'webpWithIcc: not a WebP file');
  }
  const chunks: { fourcc: string; payload: Buffer }[] = [];
  let o = 12;
  while (o + 8 <= webp.length) {
    const fourcc = webp.toString('latin1', o, o + 4);
    const len = webp.readUInt32LE(o + 4);
    if (o + 8 + len > webp.length) throw new CleanplateError('internal', 'webpWithIcc: truncated chunk');
    chunks.push({ fourcc, payload: webp.subarray(o + 8, o + 8 + len) });
    o += 8 + len + (len % 2);
  }
  let vp8x: Buffer;
  let rest: typeof chunks;
  if (chunks[0]?.fourcc === 'VP8X') {
    vp8x = Buffer.from(chunks[0].payload);
    rest = chunks.slice(1).filter((c) => c.fourcc !== 'ICCP');
  } else if (chunks.length > 0) {
    const info = bitstreamInfo(chunks[0].fourcc, chunks[0].payload);
    vp8x = Buffer.alloc(10);
    vp8x[0] = info.alpha ? 0x10 : 0;
    vp8x.writeUIntLE(info.width - 1, 4, 3);
    vp8x.writeUIntLE(info.height - 1, 7, 3);
    rest = chunks;
  } else {
    throw new CleanplateError('internal', 'webpWithIcc: no image data');
  }
  vp8x[0] |= 0x20; // ICC profile present
  const body = Buffer.concat([riffChunk('VP8X', vp8x), riffChunk('ICCP', icc), ...rest.map((c) => riffChunk(c.fourcc, c.payload))]);
  const head = Buffer.alloc(12);
  head.write('RIFF', 0, 'latin1');
  head.writeUInt32LE(body.length + 4, 4);
  head.write('WEBP', 8, 'latin1');
  return Buffer.concat([head, body]);
}

// --------------------------------------------------------------- ICC in TIFF

/** TIFF tag holding an ICC profile. */
const TIFF_ICC_TAG = 34675;

/**
 * Returns the TIFF with `icc` in tag 34675 of the first IFD: the profile and a
 * rewritten first IFD are appended, the header points to the new IFD (the old
 * one stays as unused bytes). Classic TIFF, either byte order.
 */
export function tiffWithIcc(tiff: Buffer, icc: Buffer): Buffer {
  const order = tiff.toString('latin1', 0, 2);
  if (tiff.length < 8 || (order !== 'II' && order !== 'MM')) throw new CleanplateError('internal', 'tiffWithIcc: not a TIFF');
  const le = order === 'II';
  const u16 = (o: number) => (le ? tiff.readUInt16LE(o) : tiff.readUInt16BE(o));
  const u32 = (o: number) => (le ? tiff.readUInt32LE(o) : tiff.readUInt32BE(o));
  if (u16(2) !== 42) throw new CleanplateError('internal', 'tiffWithIcc: BigTIFF is not supported');
  const ifd = u32(4);
  const count = u16(ifd);
  const entries: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const e = tiff.subarray(ifd + 2 + i * 12, ifd + 14 + i * 12);
    if (u16(ifd + 2 + i * 12) !== TIFF_ICC_TAG) entries.push(e);
  }
  const next = u32(ifd + 2 + count * 12);
  const pad = (n: number) => (n % 2 ? Buffer.alloc(1) : Buffer.alloc(0));
  const pad1 = pad(tiff.length);
  const iccOffset = tiff.length + pad1.length;
  const pad2 = pad(icc.length);
  const newIfd = iccOffset + icc.length + pad2.length;
  if (newIfd + 6 + (entries.length + 1) * 12 > 0xffffffff) throw new CleanplateError('internal', 'tiffWithIcc: file too large for classic TIFF');
  const iccEntry = Buffer.alloc(12);
  const w16 = (b: Buffer, v: number, o: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const w32 = (b: Buffer, v: number, o: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  w16(iccEntry, TIFF_ICC_TAG, 0);
  w16(iccEntry, 7, 2); // UNDEFINED
  w32(iccEntry, icc.length, 4);
  w32(iccEntry, iccOffset, 8);
  entries.push(iccEntry);
  const tagOf = (e: Buffer) => (le ? e.readUInt16LE(0) : e.readUInt16BE(0));
  entries.sort((a, b) => tagOf(a) - tagOf(b));
  const ifdHead = Buffer.alloc(2);
  w16(ifdHead, entries.length, 0);
  const ifdTail = Buffer.alloc(4);
  w32(ifdTail, next, 0);
  const header = Buffer.from(tiff.subarray(0, 8));
  w32(header, newIfd, 4);
  return Buffer.concat([header, tiff.subarray(8), pad1, icc, pad2, ifdHead, ...entries, ifdTail]);
}

// ------------------------------------------------------------------ outputs

function checkSizes(shot: SourceImage, alpha: AlphaImage, foreground: RgbImage): void {
  const { width, height } = shot;
  const bad = (what: string, img: { width: number; height: number; data: Uint8Array }, ch: number) =>
    img.width !== width || img.height !== height || img.data.length !== width * height * ch ? what : null;
  const wrong = bad('alpha', alpha, 1) ?? bad('foreground', foreground, 3);
  if (wrong) throw new CleanplateError('internal', `encode: ${wrong} size does not match the shot (${width}x${height})`);
}

async function encode(kind: OutputKind, run: () => Promise<Buffer>): Promise<Buffer> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof CleanplateError) throw err;
    const msg = (err instanceof Error ? err.message : String(err)).replace(/\s+/g, ' ').trim();
    const oom = /memory|alloc/i.test(msg);
    throw new CleanplateError('internal', `encoding the ${kind} output failed: ${msg}`, { cause: err, retryable: oom });
  }
}

/**
 * Encodes every enabled image output, in the order of the table above.
 * @param shot supplies size and ICC profile
 * @param foreground colour-clean foreground (post-processing's)
 * @throws CleanplateError 'unsupported' (WebP over 16383 px), 'internal' (encoder failures)
 */
export async function encodeOutputs(shot: SourceImage, alpha: AlphaImage, foreground: RgbImage, cfg: OutputsConfig): Promise<EncodedOutput[]> {
  checkSizes(shot, alpha, foreground);
  const { width, height } = shot;
  const icc = isRgbIccProfile(shot.icc) ? shot.icc : undefined;
  if (cfg.webp && (width > WEBP_MAX_SIDE || height > WEBP_MAX_SIDE)) {
    throw new CleanplateError('unsupported', `WebP output is limited to ${WEBP_MAX_SIDE} px per side; the shot is ${width}x${height} (turn outputs.webp off)`);
  }
  const outputs: EncodedOutput[] = [];
  let rgba: Buffer | undefined;
  const rgbaOnce = (): Buffer => (rgba ??= interleaveRgba(foreground, alpha));
  const raw4 = { raw: { width, height, channels: 4 as const } };
  // RGBA for the 8-bit encoders: libvips joins the planes (a JS interleave costs ~0.4 s at 30 MP).
  const rgbaImage = () =>
    sharp(foreground.data, { raw: { width, height, channels: 3 } }).joinChannel(Buffer.from(alpha.data.buffer, alpha.data.byteOffset, alpha.data.byteLength), { raw: { width, height, channels: 1 } });

  if (cfg.rgbaPng) {
    const data = await encode('rgba-png', () => rgbaImage().png().toBuffer());
    outputs.push({ kind: 'rgba-png', suffix: '', ext: '.png', data: icc ? pngWithIcc(data, icc) : data });
  }
  if (cfg.tiff16) {
    const data = await encode('tiff16', () =>
      sharp(widenTo16(rgbaOnce()), raw4).toColourspace('rgb16').tiff({ compression: 'deflate', predictor: 'horizontal' }).toBuffer(),
    );
    outputs.push({ kind: 'tiff16', suffix: '', ext: '.tif', data: icc ? tiffWithIcc(data, icc) : data });
  }
  if (cfg.webp) {
    const data = await encode('webp', () => rgbaImage().webp({ lossless: true, exact: true, effort: WEBP_EFFORT }).toBuffer());
    outputs.push({ kind: 'webp', suffix: '', ext: '.webp', data: icc ? webpWithIcc(data, icc) : data });
  }
  rgba = undefined;
  if (cfg.alphaPng) {
    const data = await encode('alpha-png', () => sharp(alpha.data, { raw: { width, height, channels: 1 } }).toColourspace('b-w').png().toBuffer());
    outputs.push({ kind: 'alpha-png', suffix: '.alpha', ext: '.png', data });
  }
  if (cfg.composite.enabled) {
    const flat = compositeOver(foreground, alpha, parseHexColour(cfg.composite.background));
    const data = await encode('composite', () => sharp(flat, { raw: { width, height, channels: 3 } }).png().toBuffer());
    outputs.push({ kind: 'composite', suffix: '.composite', ext: '.png', data: icc ? pngWithIcc(data, icc) : data });
  }
  return outputs;
}
