import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { checkComplete, checkEndMarker, type CompleteOptions, type CompleteResult, type Observation } from '../../src/watch/complete.js';

sharp.cache(false);

const opts: CompleteOptions = { stableMs: 1000, incompleteTimeoutMs: 60_000 };
const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cp-complete-'));
test.after(() => fs.rm(dir, { recursive: true, force: true }));

const W = 96;
const H = 64;
// Deterministic noise (sharp's noise generator differs per run).
const raw = Buffer.alloc(W * H * 3);
for (let i = 0, s = 12345; i < raw.length; i++) {
  s = (s * 1103515245 + 12345) >>> 0;
  raw[i] = 64 + ((s >>> 24) >> 1); // camera-like high-entropy data
}
async function encode(fmt: 'jpeg' | 'png' | 'tiff' | 'webp'): Promise<Buffer> {
  const img = sharp(raw, { raw: { width: W, height: H, channels: 3 } });
  if (fmt === 'tiff') return img.tiff({ compression: 'deflate' }).toBuffer();
  return img.toFormat(fmt).toBuffer();
}
const images = {
  jpeg: await encode('jpeg'),
  png: await encode('png'),
  tiff: await encode('tiff'),
  webp: await encode('webp'),
};

let n = 0;
async function put(data: Buffer, ext = '.jpg'): Promise<string> {
  const file = path.join(dir, `f${n++}${ext}`);
  await fs.writeFile(file, data);
  return file;
}

/** First look, then a look `stableMs` later: what a watcher sees for an untouched file. */
async function settle(file: string, o: CompleteOptions = opts): Promise<CompleteResult> {
  const t0 = 1_000_000;
  const first = await checkComplete(file, undefined, t0, o);
  assert.equal(first.state, 'unstable', 'a file seen for the first time is never complete');
  assert.ok('obs' in first);
  const early = await checkComplete(file, first.obs, t0 + o.stableMs - 1, o);
  assert.equal(early.state, 'unstable', 'not stable before stableMs');
  return checkComplete(file, first.obs, t0 + o.stableMs, o);
}

test('complete JPEG, PNG, TIFF and WebP files are complete once stable', async () => {
  for (const [fmt, buf] of Object.entries(images)) {
    const r = await settle(await put(buf, `.${fmt}`));
    assert.equal(r.state, 'complete', fmt);
    assert.equal(r.state === 'complete' && r.format, fmt);
  }
});

test('half-written JPEG and PNG are partial with the missing end marker as reason', async () => {
  const j = await settle(await put(images.jpeg.subarray(0, images.jpeg.length >> 1)));
  assert.equal(j.state, 'partial');
  assert.match(j.state === 'partial' ? j.reason : '', /EOI/);
  const p = await settle(await put(images.png.subarray(0, images.png.length >> 1), '.png'));
  assert.equal(p.state, 'partial');
  assert.match(p.state === 'partial' ? p.reason : '', /IEND/);
});

test('truncated TIFF and WebP fail their structure checks', async () => {
  const t = await settle(await put(images.tiff.subarray(0, Math.floor(images.tiff.length * 0.6)), '.tif'));
  assert.equal(t.state, 'partial');
  const w = await settle(await put(images.webp.subarray(0, Math.floor(images.webp.length * 0.9)), '.webp'));
  assert.equal(w.state, 'partial');
  assert.match(w.state === 'partial' ? w.reason : '', /WebP is \d+ of \d+ bytes/);
});

test('a preallocated JPEG (final size, zero tail) is partial', async () => {
  const half = images.jpeg.subarray(0, images.jpeg.length >> 1);
  const r = await settle(await put(Buffer.concat([half, Buffer.alloc(images.jpeg.length - half.length)])));
  assert.equal(r.state, 'partial');
  const zeros = await settle(await put(Buffer.alloc(5000)));
  assert.equal(zeros.state, 'partial');
  assert.match(zeros.state === 'partial' ? zeros.reason : '', /no image header/);
});

test('JPEG with zero padding or a trailer after EOI is complete', async () => {
  assert.equal((await settle(await put(Buffer.concat([images.jpeg, Buffer.alloc(3000)])))).state, 'complete');
  assert.equal((await settle(await put(Buffer.concat([images.jpeg, Buffer.from('maker trailer data')])))).state, 'complete');
});

test('an EOI inside a header segment (EXIF thumbnail) does not make a cut JPEG look complete', async () => {
  const thumb = Buffer.from([0xff, 0xd8, 0xff, 0xd9, 1, 2, 3, 0xff, 0xd9]);
  const seg = Buffer.concat([Buffer.from([0xff, 0xef, 0, thumb.length + 2]), thumb]);
  const withThumb = Buffer.concat([images.jpeg.subarray(0, 2), seg, images.jpeg.subarray(2)]);
  assert.equal((await settle(await put(withThumb))).state, 'complete', 'the whole file is fine');
  // Cut right after the fake thumbnail's EOI plus a few scan bytes: the last FFD9 is in the header.
  const cut = withThumb.subarray(0, Math.floor(withThumb.length * 0.7));
  const r = await checkEndMarker(await put(cut), cut.length);
  assert.equal(r.ok, false);
});

test('a file whose end marker is present but whose body is broken fails the decode, once', async () => {
  const body = images.jpeg.subarray(0, Math.floor(images.jpeg.length * 0.6));
  const broken = Buffer.concat([body, Buffer.from([0xff, 0xd9])]);
  const file = await put(broken);
  assert.equal((await checkEndMarker(file, broken.length)).ok, true, 'end marker alone is fooled');
  const r = await settle(file);
  assert.equal(r.state, 'partial');
  assert.ok(r.state === 'partial' && r.obs.decodeFailed && /does not decode/.test(r.reason));
  // The cached verdict is reused while the file is unchanged (no second decode)...
  const again = await checkComplete(file, r.obs, 1_000_000 + 5000, opts);
  assert.equal(again.state, 'partial');
  // ...and after the timeout the file is reported incomplete.
  const late = await checkComplete(file, r.obs, 1_000_000 + opts.incompleteTimeoutMs, opts);
  assert.equal(late.state, 'incomplete');
  assert.match(late.state === 'incomplete' ? late.reason : '', /does not decode/);
});

test('a growing file is unstable until it stops changing, then complete', async () => {
  const file = path.join(dir, 'growing.jpg');
  const buf = images.jpeg;
  const step = Math.ceil(buf.length / 4);
  let obs: Observation | undefined;
  let t = 2_000_000;
  for (let off = 0; off < buf.length; off += step) {
    await fs.appendFile(file, buf.subarray(off, off + step));
    const r = await checkComplete(file, obs, t, opts);
    assert.equal(r.state, 'unstable', `after ${off + step} bytes`);
    assert.ok('obs' in r);
    assert.equal(r.obs.since, t, 'a change restarts the stability window');
    obs = r.obs;
    t += opts.stableMs / 2;
  }
  const done = await checkComplete(file, obs, t + opts.stableMs, opts);
  assert.equal(done.state, 'complete');
  assert.equal(done.state === 'complete' && done.obs.size, buf.length);
});

test('a truncated file that never finishes ends incomplete after the timeout', async () => {
  const file = await put(images.png.subarray(0, 1000), '.png');
  const t0 = 3_000_000;
  const first = await checkComplete(file, undefined, t0, opts);
  assert.ok('obs' in first);
  let obs = first.obs;
  const states: string[] = [];
  for (const dt of [opts.stableMs, 10_000, 59_999, 60_000]) {
    const r = await checkComplete(file, obs, t0 + dt, opts);
    states.push(r.state);
    if ('obs' in r) obs = r.obs;
  }
  assert.deepEqual(states, ['partial', 'partial', 'partial', 'incomplete']);
});

test('size-preserving rewrite (only mtime moves) restarts the window; a removed file is gone', async () => {
  const file = await put(images.jpeg);
  const first = await checkComplete(file, undefined, 0, opts);
  assert.ok('obs' in first);
  await fs.utimes(file, new Date(), new Date(Date.now() + 5000));
  const r = await checkComplete(file, first.obs, opts.stableMs, opts);
  assert.equal(r.state, 'unstable');
  await fs.rm(file);
  assert.deepEqual(await checkComplete(file, undefined, 0, opts), { state: 'gone' });
});

test('a TIFF whose directory comes first is checked by its strip extents', async () => {
  // Minimal little-endian 16x16 8-bit grey TIFF: header, IFD0 at 8, one strip after it.
  const entries: Array<[number, number, number]> = [
    [256, 3, 16], // ImageWidth
    [257, 3, 16], // ImageLength
    [258, 3, 8], // BitsPerSample
    [259, 3, 1], // Compression: none
    [262, 3, 1], // Photometric: black is zero
    [273, 4, 0], // StripOffsets (patched below)
    [278, 3, 16], // RowsPerStrip
    [279, 4, 256], // StripByteCounts
  ];
  const ifdSize = 2 + entries.length * 12 + 4;
  const dataOff = 8 + ifdSize;
  const buf = Buffer.alloc(dataOff + 256, 0x80);
  buf.write('II', 0, 'latin1');
  buf.writeUInt16LE(42, 2);
  buf.writeUInt32LE(8, 4);
  buf.writeUInt16LE(entries.length, 8);
  entries.forEach(([tag, type, value], i) => {
    const e = 10 + i * 12;
    buf.writeUInt16LE(tag, e);
    buf.writeUInt16LE(type, e + 2);
    buf.writeUInt32LE(1, e + 4);
    buf.writeUInt32LE(0, e + 8);
    if (type === 3) buf.writeUInt16LE(value, e + 8);
    else buf.writeUInt32LE(tag === 273 ? dataOff : value, e + 8);
  });
  buf.writeUInt32LE(0, 8 + 2 + entries.length * 12);
  const full = await put(buf, '.tif');
  assert.deepEqual(await checkEndMarker(full, buf.length), { format: 'tiff', ok: true });
  assert.equal((await settle(full)).state, 'complete', 'the hand-made TIFF decodes');
  const cut = buf.subarray(0, dataOff + 100);
  const r = await checkEndMarker(await put(cut, '.tif'), cut.length);
  assert.equal(r.ok, false);
  assert.match(r.reason ?? '', /strip 0/);
});

test('a JPEG written out of order (EOI present, zeros in the middle) does not pass the decode', async () => {
  const holed = Buffer.from(images.jpeg);
  holed.fill(0, Math.floor(holed.length * 0.5), Math.floor(holed.length * 0.95));
  const r = await settle(await put(holed));
  assert.equal(r.state, 'partial');
  assert.match(r.state === 'partial' ? r.reason : '', /does not decode: .*(premature end|huffman)/i);
});
