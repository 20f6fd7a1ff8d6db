import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import exifReader from 'exif-reader';
import sharp from 'sharp';
import {
  composite,
  compositeValue,
  DEFAULT_SEED,
  DEFAULT_SHOTS,
  makeGarment,
  makeMannequinScene,
  renderCleanShot,
  renderSession,
} from '../../scripts/sample/index.js';
import { parseArgs } from '../../scripts/sample/generate.js';

sharp.cache(false);

/** The repository root: the nearest folder above this file with a package.json (works from test/ and dist/test/). */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
}

const FIXTURE = path.join(repoRoot(), 'test/fixtures/sample-session');

async function tmpDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'cleanplate-sample-'));
}

/** Decodes a grey PNG to one byte per pixel (sharp decodes grey to RGB unless told). */
async function readAlpha(file: string): Promise<{ data: Buffer; width: number; height: number }> {
  const { data, info } = await sharp(file).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listFiles(p)).map((f) => path.join(e.name, f)));
    else out.push(e.name);
  }
  return out.sort();
}

test('compositeValue and composite implement a*F + (1-a)*B with an 8-bit alpha', () => {
  assert.equal(compositeValue(200, 0, 40), 40);
  assert.equal(compositeValue(200, 255, 40), 200);
  assert.equal(compositeValue(200, 51, 40), 72); // 0.2*200 + 0.8*40
  assert.equal(compositeValue(10, 128, 250), Math.round((128 / 255) * 10 + (127 / 255) * 250));
  const w = 4;
  const h = 1;
  const fg = { width: w, height: h, data: Uint8Array.from([255, 0, 10, 200, 100, 50, 0, 0, 0, 9, 99, 199]) };
  const bg = { width: w, height: h, data: Uint8Array.from([0, 255, 250, 40, 60, 80, 7, 8, 9, 255, 255, 255]) };
  const alpha = { width: w, height: h, data: Uint8Array.from([128, 51, 0, 255]) };
  const out = composite(fg, alpha, bg);
  for (let i = 0; i < w; i++) {
    for (let c = 0; c < 3; c++) {
      const a = alpha.data[i] / 255;
      const exact = a * fg.data[i * 3 + c] + (1 - a) * bg.data[i * 3 + c];
      assert.ok(Math.abs(out.data[i * 3 + c] - exact) <= 0.5, `pixel ${i} channel ${c}: ${out.data[i * 3 + c]} vs ${exact}`);
      assert.equal(out.data[i * 3 + c], compositeValue(fg.data[i * 3 + c], alpha.data[i], bg.data[i * 3 + c]));
    }
  }
  assert.throws(() => composite(fg, { width: 3, height: 1, data: new Uint8Array(3) }, bg), /sizes differ/);
});

test('a rendered shot before noise is exactly a*F + (1-a)*B of its garment and scene', async () => {
  const width = 240;
  const height = 360;
  for (const kind of ['fringe', 'sheer'] as const) {
    const garment = await makeGarment(kind, { width, height, seed: 5 });
    const scene = await makeMannequinScene({ width, height });
    const clean = await renderCleanShot({ kind }, { width, height, seed: 5, index: 0 }, scene);
    // The pure composite on real garment data (F, a) and scene (B) agrees with the float formula everywhere.
    const shot = composite(garment.fg, garment.alpha, scene);
    let partial = 0;
    for (let i = 0; i < width * height; i++) {
      const a = garment.alpha.data[i];
      if (a > 0 && a < 255) partial++;
      for (let c = 0; c < 3; c++) {
        const j = i * 3 + c;
        const exact = (a / 255) * garment.fg.data[j] + (1 - a / 255) * scene.data[j];
        assert.ok(Math.abs(shot.data[j] - exact) <= 0.5);
      }
    }
    assert.ok(partial > 100, `${kind}: ${partial} partial-alpha pixels`);
    // Where the clean shot's alpha is 0 it shows the plate's scene untouched.
    let bgPixels = 0;
    for (let i = 0; i < width * height; i++) {
      if (clean.alpha.data[i] !== 0) continue;
      bgPixels++;
      for (let c = 0; c < 3; c++) assert.equal(clean.image.data[i * 3 + c], scene.data[i * 3 + c]);
    }
    assert.ok(bgPixels > (width * height) / 2);
  }
});

test('camera shift moves the scene by whole pixels; exposure gain scales it', async () => {
  const width = 300;
  const height = 450;
  const plate = await makeMannequinScene({ width, height });
  const shifted = await makeMannequinScene({ width, height, shift: { dx: 2, dy: -1 } });
  const brighter = await makeMannequinScene({ width, height, gain: 1.05 });
  // The pole is a sharp vertical edge: find its left edge on a row below the torso.
  const edge = (img: { data: Uint8Array }, y: number): number => {
    let best = 0;
    let at = -1;
    for (let x = 100; x < 200; x++) {
      const d = img.data[(y * width + x) * 3] - img.data[(y * width + x + 1) * 3];
      if (Math.abs(d) > best) {
        best = Math.abs(d);
        at = x;
      }
    }
    return at;
  };
  const y = 350;
  assert.equal(edge(shifted, y - 1), edge(plate, y) + 2);
  // Flat paper, top left: the ratio follows the gain.
  let sp = 0;
  let sb = 0;
  for (let yy = 20; yy < 60; yy++) for (let x = 20; x < 60; x++) {
    sp += plate.data[(yy * width + x) * 3 + 1];
    sb += brighter.data[(yy * width + x) * 3 + 1];
  }
  assert.ok(Math.abs(sb / sp - 1.05) < 0.01, `gain ratio ${sb / sp}`);
});

test('renderSession is deterministic for a seed and changes with the seed', async () => {
  const a = await tmpDir();
  const b = await tmpDir();
  const c = await tmpDir();
  try {
    const opts = { width: 150, height: 225, seed: 11 };
    const ra = await renderSession({ ...opts, outDir: a });
    await renderSession({ ...opts, outDir: b });
    await renderSession({ ...opts, seed: 12, outDir: c });
    const files = await listFiles(a);
    assert.deepEqual(files, ['gt/shot-01.alpha.png', 'gt/shot-02.alpha.png', 'gt/shot-03.alpha.png', 'gt/shot-04.alpha.png', 'plate.jpg', 'shot-01.jpg', 'shot-02.jpg', 'shot-03.jpg', 'shot-04.jpg']);
    assert.deepEqual(await listFiles(b), files);
    let differs = 0;
    for (const f of files) {
      const x = await fs.readFile(path.join(a, f));
      assert.ok(x.equals(await fs.readFile(path.join(b, f))), `${f} differs between equal seeds`);
      if (!x.equals(await fs.readFile(path.join(c, f)))) differs++;
    }
    assert.ok(differs >= 5, `only ${differs} files changed with the seed`);
    assert.equal(ra.shots.length, DEFAULT_SHOTS.length);
    const meta = await sharp(path.join(a, 'plate.jpg')).metadata();
    assert.equal(meta.width, 150);
    assert.equal(meta.height, 225);
    // File mtimes follow the capture times (first-frame plate mode by mtime works too).
    const m0 = (await fs.stat(path.join(a, 'plate.jpg'))).mtimeMs;
    const m1 = (await fs.stat(path.join(a, 'shot-01.jpg'))).mtimeMs;
    assert.equal(m1 - m0, 60_000);
  } finally {
    for (const d of [a, b, c]) await fs.rm(d, { recursive: true, force: true });
  }
});

test('the committed fixture: sizes, sRGB ICC, EXIF capture times in order, under 3 MB', async () => {
  const names = ['plate.jpg', 'shot-01.jpg', 'shot-02.jpg', 'shot-03.jpg', 'shot-04.jpg'];
  const times: number[] = [];
  let total = 0;
  for (const n of names) {
    const file = path.join(FIXTURE, n);
    total += (await fs.stat(file)).size;
    const meta = await sharp(file).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.width, 1200);
    assert.equal(meta.height, 1800);
    assert.ok(meta.icc && meta.icc.length > 0, `${n} has no ICC profile`);
    assert.ok(meta.exif, `${n} has no EXIF`);
    const exif = exifReader(meta.exif);
    const when = exif.Photo?.DateTimeOriginal;
    assert.ok(when instanceof Date, `${n} has no DateTimeOriginal`);
    times.push(when.getTime());
  }
  for (let i = 1; i < times.length; i++) assert.equal(times[i] - times[i - 1], 60_000, `capture ${i} not a minute after ${i - 1}`);
  for (const f of await listFiles(path.join(FIXTURE, 'gt'))) total += (await fs.stat(path.join(FIXTURE, 'gt', f))).size;
  total += (await fs.stat(path.join(FIXTURE, 'README.md'))).size;
  assert.ok(total < 3 * 1024 * 1024, `fixture is ${total} bytes`);
  const readme = await fs.readFile(path.join(FIXTURE, 'README.md'), 'utf8');
  assert.match(readme, new RegExp(`--seed ${DEFAULT_SEED}`));
});

test('the fixture ground truth: 0, 255 and partial alpha; lace holes; 1-3 px fringe strands; sheer 0.3-0.6', async () => {
  const stats = [];
  for (let i = 1; i <= 4; i++) {
    const a = await readAlpha(path.join(FIXTURE, 'gt', `shot-0${i}.alpha.png`));
    assert.equal(a.width, 1200);
    assert.equal(a.height, 1800);
    assert.equal(a.data.length, 1200 * 1800);
    let zero = 0;
    let full = 0;
    let mid = 0;
    let partial = 0;
    for (const v of a.data) {
      if (v === 0) zero++;
      else if (v === 255) full++;
      else partial++;
      if (v >= 77 && v <= 153) mid++;
    }
    stats.push({ a, zero, full, partial, mid });
    assert.ok(zero > 0 && partial > 1000, `shot ${i}: zero ${zero}, partial ${partial}`);
  }
  const [knit, lace, fringe, sheer] = stats;
  for (const [name, s] of [['knit', knit], ['lace', lace], ['fringe', fringe]] as const) assert.ok(s.full > 10_000, `${name}: ${s.full} opaque pixels`);
  // Knit fuzz: many partial pixels around a large opaque body.
  assert.ok(knit.partial > 10_000);
  // Lace: inside the garment, holes (alpha 0) surrounded by thread.
  const W = 1200;
  let holes = 0;
  for (let y = 600; y < 800; y++) for (let x = 540; x < 660; x++) if (lace.a.data[y * W + x] === 0) holes++;
  assert.ok(holes > 2000 && holes < 120 * 200 * 0.8, `lace holes in the chest: ${holes}`);
  // Fringe: below the hem, separate strands whose effective width (sum of alpha) is 1-3 px.
  let thin = 0;
  for (const y of [1120, 1160, 1200]) {
    for (let x = 0; x < W; ) {
      if (fringe.a.data[y * W + x] === 0) {
        x++;
        continue;
      }
      let sum = 0;
      while (x < W && fringe.a.data[y * W + x] > 0) sum += fringe.a.data[y * W + x++];
      if (sum / 255 >= 1 && sum / 255 <= 3) thin++;
    }
  }
  assert.ok(thin >= 40, `${thin} fringe strands 1-3 px wide`);
  // Sheer: no opaque pixel, and most of the shirt at 0.3-0.6.
  assert.equal(sheer.full, 0);
  assert.ok(sheer.mid / (sheer.partial + sheer.full) > 0.7, `sheer in 0.3-0.6: ${sheer.mid} of ${sheer.partial}`);
});

test('the fixture matches the generator: same alpha, shots = composite + mild noise', async () => {
  // Regenerate the clean (noise-free) shot 4 and compare: alpha exactly, pixels within noise.
  const index = 3;
  const clean = await renderCleanShot(DEFAULT_SHOTS[index], { width: 1200, height: 1800, seed: DEFAULT_SEED, index });
  const gt = await readAlpha(path.join(FIXTURE, 'gt', 'shot-04.alpha.png'));
  let diff = 0;
  for (let i = 0; i < gt.data.length; i++) diff += Math.abs(gt.data[i] - clean.alpha.data[i]);
  assert.ok(diff / gt.data.length < 0.05, `alpha differs from the generator by ${diff / gt.data.length} on average`);
  const { data } = await sharp(path.join(FIXTURE, 'shot-04.jpg')).raw().toBuffer({ resolveWithObject: true });
  let sum = 0;
  let sum2 = 0;
  for (let i = 0; i < data.length; i++) {
    const d = data[i] - clean.image.data[i];
    sum += d;
    sum2 += d * d;
  }
  const mean = sum / data.length;
  const sd = Math.sqrt(sum2 / data.length - mean * mean);
  assert.ok(Math.abs(mean) < 1 && sd > 0.5 && sd < 4, `noise+JPEG residual mean ${mean}, sd ${sd}`);
});

test('generate.ts parses its arguments and rejects bad ones', () => {
  const a = parseArgs(['--out', '/tmp/x', '--seed', '3', '--width', '300', '--height', '450'], '/repo');
  assert.deepEqual(a, { out: '/tmp/x', seed: 3, width: 300, height: 450 });
  const d = parseArgs([], '/repo');
  assert.equal(d.out, path.join('/repo', 'test/fixtures/sample-session'));
  assert.equal(d.seed, DEFAULT_SEED);
  assert.throws(() => parseArgs(['--width', 'big'], '/repo'), /--width needs an integer/);
  assert.throws(() => parseArgs(['--frobnicate'], '/repo'), /unknown argument/);
});
