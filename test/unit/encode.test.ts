import { test } from 'node:test';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { configSchema } from '../../src/config/schema.js';
import { CleanplateError } from '../../src/errors.js';
import type { AlphaImage, RgbImage, SourceImage } from '../../src/image/types.js';
import {
  compositeOver,
  encodeOutputs,
  interleaveRgba,
  parseHexColour,
  pngWithIcc,
  tiffWithIcc,
  webpWithIcc,
  widenTo16,
} from '../../src/deliver/encode.js';

sharp.cache(false);
const baseConfig = configSchema.parse({ shares: [{ name: 's', inbox: 'i', output: 'o', failed: 'f', archive: 'a' }] }).outputs;
const allOn = { ...baseConfig, rgbaPng: true, tiff16: true, webp: true, alphaPng: true, composite: { enabled: true, background: '#204080' } };

const W = 24;
const H = 16;

/** An ICC profile that is not sRGB (Display P3, as sharp embeds it). */
async function p3Profile(): Promise<Buffer> {
  const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#808080' } }).withIccProfile('p3').png().toBuffer();
  const icc = (await sharp(png).metadata()).icc;
  assert.ok(icc && icc.length > 132);
  return icc;
}

function scene(icc?: Buffer): { shot: SourceImage; alpha: AlphaImage; fg: RgbImage } {
  const n = W * H;
  const a = new Uint8Array(n);
  const f = new Uint8Array(n * 3);
  for (let p = 0; p < n; p++) {
    const x = p % W;
    a[p] = x < 6 ? 0 : x > 17 ? 255 : Math.round(((x - 6) * 255) / 12);
    f[p * 3] = (p * 7) % 256;
    f[p * 3 + 1] = (p * 13 + 5) % 256;
    f[p * 3 + 2] = (p * 29 + 1) % 256;
  }
  const shot: SourceImage = { width: W, height: H, data: new Uint8Array(n * 3).fill(77), icc, sourceBitDepth: 8 };
  return { shot, alpha: { width: W, height: H, data: a }, fg: { width: W, height: H, data: f } };
}

function pngChunks(b: Buffer): string[] {
  const out: string[] = [];
  for (let o = 8; o < b.length; o += 12 + b.readUInt32BE(o)) out.push(b.toString('latin1', o + 4, o + 8));
  return out;
}

/** Reads one SHORT/LONG tag value of IFD0 of a little-endian TIFF. */
function tiffTag(b: Buffer, tag: number): number | undefined {
  const ifd = b.readUInt32LE(4);
  for (let i = 0; i < b.readUInt16LE(ifd); i++) {
    const e = ifd + 2 + i * 12;
    if (b.readUInt16LE(e) === tag) return b.readUInt16LE(e + 2) === 3 ? b.readUInt16LE(e + 8) : b.readUInt32LE(e + 8);
  }
  return undefined;
}

test('every output, lossless, with the ICC profile kept byte for byte and pixels unconverted', async () => {
  const icc = await p3Profile();
  const { shot, alpha, fg } = scene(icc);
  const outs = await encodeOutputs(shot, alpha, fg, allOn);
  assert.deepEqual(
    outs.map((o) => `${o.kind}:${o.suffix}${o.ext}`),
    ['rgba-png:.png', 'tiff16:.tif', 'webp:.webp', 'alpha-png:.alpha.png', 'composite:.composite.png'],
  );
  const byKind = Object.fromEntries(outs.map((o) => [o.kind, o.data]));
  const rgba = interleaveRgba(fg, alpha);

  // RGBA PNG
  const png = byKind['rgba-png'];
  assert.deepEqual(pngChunks(png).slice(0, 2), ['IHDR', 'iCCP']);
  assert.ok(!pngChunks(png).includes('sRGB'));
  const pm = await sharp(png).metadata();
  assert.equal(pm.channels, 4);
  assert.ok(pm.icc?.equals(icc), 'PNG ICC bytes');
  assert.deepEqual(await sharp(png, { ignoreIcc: true }).raw().toBuffer(), rgba);

  // 16-bit TIFF, deflate
  const tif = byKind.tiff16;
  const tm = await sharp(tif).metadata();
  assert.equal(tm.format, 'tiff');
  assert.equal(tm.depth, 'ushort');
  assert.equal(tm.channels, 4);
  assert.ok(tm.hasAlpha);
  assert.ok(tm.icc?.equals(icc), 'TIFF ICC bytes');
  assert.ok([8, 32946].includes(tiffTag(tif, 259) ?? -1), `compression ${tiffTag(tif, 259)}`);
  const t16 = await sharp(tif, { ignoreIcc: true }).toColourspace('rgb16').raw({ depth: 'ushort' }).toBuffer();
  const got16 = new Uint16Array(t16.buffer, t16.byteOffset, t16.length / 2);
  assert.deepEqual(Array.from(got16), Array.from(rgba, (v) => v * 257));

  // Lossless WebP with alpha; exact colours even under alpha 0
  const webp = byKind.webp;
  assert.equal(webp.toString('latin1', 12, 16), 'VP8X');
  assert.equal(webp.toString('latin1', 30, 34), 'ICCP');
  const wm = await sharp(webp).metadata();
  assert.ok(wm.icc?.equals(icc), 'WebP ICC bytes');
  assert.ok(wm.hasAlpha);
  assert.deepEqual(await sharp(webp, { ignoreIcc: true }).raw().toBuffer(), rgba);

  // Grey matte, no profile
  const am = await sharp(byKind['alpha-png']).metadata();
  assert.equal(am.channels, 1);
  assert.equal(am.hasProfile, false);
  assert.deepEqual(await sharp(byKind['alpha-png']).toColourspace('b-w').raw().toBuffer(), Buffer.from(alpha.data));

  // Composite over #204080
  const comp = byKind.composite;
  const cm = await sharp(comp).metadata();
  assert.equal(cm.channels, 3);
  assert.ok(cm.icc?.equals(icc), 'composite ICC bytes');
  const flat = await sharp(comp, { ignoreIcc: true }).raw().toBuffer();
  assert.deepEqual(flat, compositeOver(fg, alpha, [0x20, 0x40, 0x80]));
  assert.deepEqual(Array.from(flat.subarray(0, 3)), [0x20, 0x40, 0x80], 'background where alpha is 0');
});

test('no ICC on the shot: no profile on the outputs; only enabled outputs are made', async () => {
  const { shot, alpha, fg } = scene(undefined);
  const outs = await encodeOutputs(shot, alpha, fg, { ...baseConfig, rgbaPng: true, webp: true });
  assert.deepEqual(outs.map((o) => o.kind), ['rgba-png', 'webp']);
  assert.ok(!pngChunks(outs[0].data).includes('iCCP'));
  assert.equal((await sharp(outs[0].data).metadata()).hasProfile, false);
  assert.equal((await sharp(outs[1].data).metadata()).hasProfile, false);
  const only = await encodeOutputs(shot, alpha, fg, { ...baseConfig, rgbaPng: false, alphaPng: true });
  assert.deepEqual(only.map((o) => o.kind), ['alpha-png']);
  // White composite by default.
  const white = await encodeOutputs(shot, alpha, fg, { ...baseConfig, rgbaPng: false, composite: { enabled: true, background: '#ffffff' } });
  assert.deepEqual(Array.from((await sharp(white[0].data).raw().toBuffer()).subarray(0, 3)), [255, 255, 255]);
});

test('size mismatches and bad colours are refused', async () => {
  const { shot, alpha, fg } = scene(undefined);
  await assert.rejects(encodeOutputs(shot, { width: W - 1, height: H, data: alpha.data.subarray(0, (W - 1) * H) }, fg, baseConfig), CleanplateError);
  assert.throws(() => parseHexColour('white'), (e: unknown) => e instanceof CleanplateError && e.code === 'config');
  assert.deepEqual(parseHexColour('#FF8000'), [255, 128, 0]);
});

test('pure helpers: composite, widening, interleaving', () => {
  const fg: RgbImage = { width: 3, height: 1, data: new Uint8Array([200, 100, 0, 200, 100, 0, 200, 100, 0]) };
  const a: AlphaImage = { width: 3, height: 1, data: new Uint8Array([0, 128, 255]) };
  assert.deepEqual(Array.from(compositeOver(fg, a, [0, 0, 255])), [0, 0, 255, 100, 50, 127, 200, 100, 0]);
  assert.deepEqual(Array.from(widenTo16(new Uint8Array([0, 1, 128, 255]))), [0, 257, 32896, 65535]);
  assert.deepEqual(Array.from(interleaveRgba(fg, a)), [200, 100, 0, 0, 200, 100, 0, 128, 200, 100, 0, 255]);
});

/** A 2x1 uncompressed RGB TIFF written by hand, in either byte order. */
function handTiff(le: boolean): Buffer {
  const entries: [number, number, number, number][] = [
    // tag, type, count, value
    [256, 3, 1, 2],
    [257, 3, 1, 1],
    [258, 3, 3, 0], // value patched: offset of [8,8,8]
    [259, 3, 1, 1],
    [262, 3, 1, 2],
    [273, 4, 1, 0], // value patched: strip offset
    [277, 3, 1, 3],
    [278, 3, 1, 1],
    [279, 4, 1, 6],
  ];
  const ifdOff = 8;
  const ifdLen = 2 + entries.length * 12 + 4;
  const bpsOff = ifdOff + ifdLen;
  const stripOff = bpsOff + 6;
  const b = Buffer.alloc(stripOff + 6);
  const w16 = (v: number, o: number) => (le ? b.writeUInt16LE(v, o) : b.writeUInt16BE(v, o));
  const w32 = (v: number, o: number) => (le ? b.writeUInt32LE(v, o) : b.writeUInt32BE(v, o));
  b.write(le ? 'II' : 'MM', 0, 'latin1');
  w16(42, 2);
  w32(ifdOff, 4);
  w16(entries.length, ifdOff);
  entries.forEach(([tag, type, count, value], i) => {
    const e = ifdOff + 2 + i * 12;
    w16(tag, e);
    w16(type, e + 2);
    w32(count, e + 4);
    if (tag === 258) w32(bpsOff, e + 8);
    else if (tag === 273) w32(stripOff, e + 8);
    else if (type === 3) w16(value, e + 8);
    else w32(value, e + 8);
  });
  w32(0, ifdOff + 2 + entries.length * 12);
  for (let i = 0; i < 3; i++) w16(8, bpsOff + i * 2);
  b.set([10, 20, 30, 40, 50, 60], stripOff);
  return b;
}

test('TIFF profile injection works in both byte orders and replaces an existing profile', async () => {
  const icc = await p3Profile();
  for (const le of [true, false]) {
    const t = tiffWithIcc(handTiff(le), icc);
    const m = await sharp(t).metadata();
    assert.ok(m.icc?.equals(icc), `ICC in ${le ? 'II' : 'MM'} TIFF`);
    assert.deepEqual(Array.from(await sharp(t, { ignoreIcc: true }).raw().toBuffer()), [10, 20, 30, 40, 50, 60]);
    const other = Buffer.from(icc);
    other.write('cleanplate-test', 100, 'latin1'); // still a valid-looking profile, different bytes
    const twice = tiffWithIcc(t, other);
    assert.ok((await sharp(twice).metadata()).icc?.equals(other), 'second injection replaces the first');
  }
});

test('PNG and WebP profile injection replace existing profiles and keep the image', async () => {
  const icc = await p3Profile();
  const withP3 = await sharp({ create: { width: 5, height: 4, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } } })
    .withIccProfile('p3')
    .png()
    .toBuffer();
  const other = Buffer.from(icc);
  other.write('cleanplate-test', 100, 'latin1');
  const png = pngWithIcc(withP3, other);
  assert.equal(pngChunks(png).filter((c) => c === 'iCCP').length, 1);
  assert.ok((await sharp(png).metadata()).icc?.equals(other));
  assert.deepEqual(await sharp(png, { ignoreIcc: true }).raw().toBuffer(), await sharp(withP3, { ignoreIcc: true }).raw().toBuffer());
  // A lossy, opaque, simple-format WebP gets a VP8X header with the right canvas size.
  const lossy = await sharp({ create: { width: 37, height: 21, channels: 3, background: '#336699' } }).webp({ quality: 80 }).toBuffer();
  assert.equal(lossy.toString('latin1', 12, 16), 'VP8 ');
  const lw = webpWithIcc(lossy, icc);
  const lm = await sharp(lw).metadata();
  assert.equal(lm.width, 37);
  assert.equal(lm.height, 21);
  assert.ok(lm.icc?.equals(icc));
  assert.ok(webpWithIcc(lw, other).length === lw.length, 'ICCP replaced, not added');
  assert.ok((await sharp(webpWithIcc(lw, other)).metadata()).icc?.equals(other));
});
