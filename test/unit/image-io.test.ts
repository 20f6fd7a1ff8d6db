import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { CleanplateError } from '../../src/errors.js';
import { assertSameSize, capturedAtFromExif, capturedAtOf, isRgbIccProfile, readHeader, readImage } from '../../src/image/io.js';

sharp.cache(false);
const LIMIT = { maxPixels: 10_000_000 };
let dir: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cp-io-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** A w x h RGB gradient with a distinct value at every pixel. */
function gradient(w: number, h: number): Buffer {
  const b = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 3;
      b[i] = (x * 255) / (w - 1);
      b[i + 1] = (y * 255) / (h - 1);
      b[i + 2] = 90;
    }
  }
  return b;
}

async function write(name: string, data: Buffer | string): Promise<string> {
  const p = path.join(dir, name);
  await fs.writeFile(p, data);
  return p;
}

async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp): Promise<CleanplateError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CleanplateError, `expected CleanplateError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(!err.message.includes('\n'));
    if (re) assert.match(err.message, re);
    return err;
  }
  assert.fail(`expected a '${code}' error`);
}

test('PNG decodes to exact 8-bit RGB; RGBA drops alpha; grey becomes RGB', async () => {
  const raw = gradient(40, 30);
  const png = await write('a.png', await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } }).png().toBuffer());
  const img = await readImage(png, LIMIT);
  assert.equal(img.width, 40);
  assert.equal(img.height, 30);
  assert.equal(img.sourceBitDepth, 8);
  assert.equal(img.icc, undefined);
  assert.deepEqual(Buffer.from(img.data), raw);

  const rgba = await write('rgba.png', await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } }).ensureAlpha(0.2).png().toBuffer());
  const a = await readImage(rgba, LIMIT);
  assert.equal(a.data.length, 40 * 30 * 3);
  assert.deepEqual(Buffer.from(a.data), raw, 'colour kept, alpha removed (not flattened)');

  const grey = await write('g.png', await sharp(raw, { raw: { width: 40, height: 30, channels: 3 } }).toColourspace('b-w').png().toBuffer());
  assert.equal((await sharp(grey).metadata()).channels, 1);
  const g = await readImage(grey, LIMIT);
  assert.equal(g.data.length, 40 * 30 * 3);
  for (let i = 0; i < g.data.length; i += 3) assert.ok(g.data[i] === g.data[i + 1] && g.data[i] === g.data[i + 2]);
});

test('content is sniffed: a PNG named .jpg works, a text file named .jpg is corrupt', async () => {
  const raw = gradient(16, 8);
  const p = await write('really-a-png.jpg', await sharp(raw, { raw: { width: 16, height: 8, channels: 3 } }).png().toBuffer());
  assert.deepEqual(Buffer.from((await readImage(p, LIMIT)).data), raw);
  assert.equal((await readHeader(p)).format, 'png');
  const txt = await write('notes.jpg', 'this is not an image, just a text file\n');
  await rejectsWith(readImage(txt, LIMIT), 'corrupt', /^notes\.jpg: not an image/);
  await rejectsWith(readHeader(txt), 'corrupt');
});

test('truncated PNG and JPEG fail as corrupt (full decode, not just the header)', async () => {
  const raw = gradient(200, 150);
  const img = sharp(raw, { raw: { width: 200, height: 150, channels: 3 } });
  const png = await img.clone().png().toBuffer();
  const jpg = await img.clone().jpeg({ quality: 95 }).toBuffer();
  const cutPng = await write('cut.png', png.subarray(0, Math.floor(png.length * 0.6)));
  const cutJpg = await write('cut.jpg', jpg.subarray(0, Math.floor(jpg.length * 0.6)));
  // The header still reads: only decoding reveals the damage.
  assert.equal((await readHeader(cutJpg)).width, 200);
  await rejectsWith(readImage(cutPng, LIMIT), 'corrupt', /^cut\.png: /);
  await rejectsWith(readImage(cutJpg, LIMIT), 'corrupt', /truncated/);
  const stub = await write('stub.jpg', jpg.subarray(0, 40));
  await rejectsWith(readImage(stub, LIMIT), 'corrupt');
  await rejectsWith(readImage(await write('empty.png', Buffer.alloc(0)), LIMIT), 'corrupt', /empty/);
});

test('over maxPixels: too-large naming the size and the limit, before decoding', async () => {
  const p = await write('big.png', await sharp({ create: { width: 300, height: 200, channels: 3, background: '#808080' } }).png().toBuffer());
  const err = await rejectsWith(readImage(p, { maxPixels: 50_000 }), 'too-large');
  assert.match(err.message, /300x200/);
  assert.match(err.message, /50000/);
  assert.equal((await readImage(p, { maxPixels: 60_000 })).width, 300);
});

test('EXIF orientation 6 is applied: size swapped, pixels rotated 90 degrees clockwise', async () => {
  // 64x48, a red 16x16 block at the top-left corner, the rest dark grey.
  const raw = Buffer.alloc(64 * 48 * 3, 40);
  for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) raw.set([255, 0, 0], (y * 64 + x) * 3);
  const jpg = await sharp(raw, { raw: { width: 64, height: 48, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
  const p = await write('rot.jpg', jpg);
  assert.deepEqual(await readHeader(p), { width: 48, height: 64, format: 'jpeg', orientation: 6 });
  const img = await readImage(p, LIMIT);
  assert.equal(img.width, 48);
  assert.equal(img.height, 64);
  const px = (x: number, y: number) => Array.from(img.data.subarray((y * 48 + x) * 3, (y * 48 + x) * 3 + 3));
  // Rotating clockwise moves the top-left block to the top-right.
  assert.ok(px(40, 8)[0] > 200 && px(40, 8)[1] < 60, `top-right ${px(40, 8)}`);
  assert.ok(px(8, 8)[0] < 80, `top-left ${px(8, 8)}`);
});

test('an RGB ICC profile is kept byte for byte and pixels stay in the native space', async () => {
  const raw = gradient(32, 24);
  const p3png = await sharp(raw, { raw: { width: 32, height: 24, channels: 3 } }).withIccProfile('p3').png().toBuffer();
  const p = await write('p3.png', p3png);
  const meta = await sharp(p3png).metadata();
  assert.ok(meta.icc && isRgbIccProfile(meta.icc));
  const img = await readImage(p, LIMIT);
  assert.ok(img.icc);
  assert.ok(img.icc.equals(meta.icc), 'ICC bytes identical');
  const native = await sharp(p3png, { ignoreIcc: true }).raw().toBuffer();
  assert.deepEqual(Buffer.from(img.data), native, 'no colour conversion');
  const converted = await sharp(p3png).raw().toBuffer();
  assert.notDeepEqual(native, converted, 'the test profile is not sRGB-like');
});

test('CMYK is converted to sRGB and carries no profile', async () => {
  const raw = gradient(32, 24);
  const p = await write('cmyk.jpg', await sharp(raw, { raw: { width: 32, height: 24, channels: 3 } }).toColourspace('cmyk').jpeg().toBuffer());
  const img = await readImage(p, LIMIT);
  assert.equal(img.icc, undefined);
  assert.equal(img.data.length, 32 * 24 * 3);
  // Roughly the same colours after the round trip through CMYK.
  let err = 0;
  for (let i = 0; i < raw.length; i++) err += Math.abs(img.data[i] - raw[i]);
  assert.ok(err / raw.length < 40, `mean error ${err / raw.length}`);
});

test('16-bit sources decode to 8-bit pixels and report sourceBitDepth 16', async () => {
  const w = 8;
  const h = 4;
  const u16 = new Uint16Array(w * h * 3);
  for (let i = 0; i < u16.length; i++) u16[i] = (i * 2111) % 65536;
  const p = await write('deep.png', await sharp(u16, { raw: { width: w, height: h, channels: 3 } }).toColourspace('rgb16').png().toBuffer());
  assert.equal((await sharp(p).metadata()).depth, 'ushort');
  const img = await readImage(p, LIMIT);
  assert.equal(img.sourceBitDepth, 16);
  for (let i = 0; i < u16.length; i++) assert.ok(Math.abs(img.data[i] - u16[i] / 257) <= 1, `sample ${i}: ${img.data[i]} vs ${u16[i]}`);
});

test('missing, folder, unsupported formats', async () => {
  await rejectsWith(readImage(path.join(dir, 'nope.jpg'), LIMIT), 'missing', /nope\.jpg: file not found/);
  await rejectsWith(readHeader(path.join(dir, 'nope.jpg')), 'missing');
  await rejectsWith(readImage(dir, LIMIT), 'unsupported', /not a regular file/);
  const gif = await write('anim.gif', await sharp({ create: { width: 8, height: 8, channels: 3, background: '#ff0000' } }).gif().toBuffer());
  await rejectsWith(readImage(gif, LIMIT), 'unsupported', /GIF/);
  const psd = await write('layered.tif', Buffer.concat([Buffer.from('8BPS'), Buffer.alloc(60, 1)]));
  await rejectsWith(readImage(psd, LIMIT), 'unsupported', /PSD/);
});

test('unreadable file (permission denied)', { skip: process.getuid?.() === 0 ? 'running as root: permissions do not apply' : false }, async () => {
  const p = await write('locked.png', await sharp({ create: { width: 4, height: 4, channels: 3, background: '#000' } }).png().toBuffer());
  await fs.chmod(p, 0o000);
  try {
    const err = await rejectsWith(readImage(p, LIMIT), 'unreadable');
    assert.equal(err.retryable, true);
  } finally {
    await fs.chmod(p, 0o644);
  }
});

test('capture time from EXIF DateTimeOriginal, with sub-seconds and offset', async () => {
  const base = sharp({ create: { width: 8, height: 8, channels: 3, background: '#336699' } });
  const local = await write(
    'local.jpg',
    await base.clone().jpeg().withExif({ IFD0: { Make: 'Test' }, IFD2: { DateTimeOriginal: '2024:05:06 07:08:09', SubSecTimeOriginal: '25' } }).toBuffer(),
  );
  const img = await readImage(local, LIMIT);
  assert.equal(img.capturedAt?.getTime(), new Date(2024, 4, 6, 7, 8, 9, 250).getTime());
  assert.equal((await capturedAtOf(local))?.getTime(), img.capturedAt?.getTime());

  const zoned = await write(
    'zoned.jpg',
    await base.clone().jpeg().withExif({ IFD2: { DateTimeOriginal: '2024:05:06 07:08:09', OffsetTimeOriginal: '+02:00' } }).toBuffer(),
  );
  assert.equal((await capturedAtOf(zoned))?.toISOString(), '2024-05-06T05:08:09.000Z');

  const none = await write('none.png', await base.clone().png().toBuffer());
  assert.equal(await capturedAtOf(none), undefined);
  assert.equal((await readImage(none, LIMIT)).capturedAt, undefined);
  assert.equal(await capturedAtOf(path.join(dir, 'missing.jpg')), undefined, 'never throws');
  assert.equal(capturedAtFromExif(Buffer.from('garbage garbage')), undefined);
});

test('assertSameSize names both sizes and hints at rotation', () => {
  assert.doesNotThrow(() => assertSameSize({ width: 10, height: 20 }, { width: 10, height: 20 }));
  assert.throws(
    () => assertSameSize({ width: 4480, height: 6720 }, { width: 6720, height: 4480 }),
    (e: unknown) => e instanceof CleanplateError && e.code === 'size-mismatch' && /4480x6720/.test(e.message) && /6720x4480/.test(e.message) && /rotated/.test(e.message),
  );
  assert.throws(
    () => assertSameSize({ width: 100, height: 100 }, { width: 90, height: 100 }),
    (e: unknown) => e instanceof CleanplateError && e.code === 'size-mismatch' && !/rotated/.test(e.message),
  );
});
