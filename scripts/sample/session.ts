/**
 * Writes a complete ghost-mannequin studio session: plate.jpg (the empty
 * dress form), shot-NN.jpg (dressed), gt/shot-NN.alpha.png (exact alpha),
 * JPEG q92 with sRGB ICC and EXIF DateTimeOriginal (plate first, shots a
 * minute apart; file mtimes match). Deterministic for a seed.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { AlphaImage, RgbImage } from '../../src/image/types.js';
import { addSensorNoise, composite, DEFAULT_NOISE, NoiseModel } from './composite.js';
import { makeGarment } from './garment.js';
import { hashSeed } from './rng.js';
import { CastShadow, makeMannequinScene } from './scene.js';
import { GarmentKind, Shift } from './shapes.js';

/** One shot of a session: which garment, and what changed since the plate. */
export interface ShotSpec {
  kind: GarmentKind;
  /** Camera shift relative to the plate, in output pixels. */
  shift?: Shift;
  /** Exposure multiplier relative to the plate (1.05 = +0.07 EV). */
  gain?: number;
  /** Whether the garment casts a soft shadow on the paper. */
  shadow?: boolean;
}

/** The four shots of the bundled sample session. */
export const DEFAULT_SHOTS: readonly ShotSpec[] = [
  { kind: 'knit', shadow: true },
  { kind: 'lace', shift: { dx: 2, dy: -1 } },
  { kind: 'fringe', gain: 1.05 },
  { kind: 'sheer' },
];

/** Default seed of the bundled sample session. */
export const DEFAULT_SEED = 20240514;
/** Default size (portrait 2:3, like 4480x6720 scaled down). */
export const DEFAULT_WIDTH = 1200;
/** Default height. */
export const DEFAULT_HEIGHT = 1800;
/** Default capture time of the plate (camera clock, written as EXIF local time). */
export const DEFAULT_START = new Date(Date.UTC(2024, 4, 14, 10, 0, 0));

/** Options of {@link renderSession}. */
export interface SessionOptions {
  /** Folder to write into (created if missing). */
  outDir: string;
  seed?: number;
  width?: number;
  height?: number;
  /** Shots to render (default {@link DEFAULT_SHOTS}). */
  shots?: readonly ShotSpec[];
  /** JPEG quality (default 92). */
  quality?: number;
  /** Noise multiplier (default 1; 0 = no noise). */
  noise?: number;
  /** Capture time of the plate (default 2024-05-14 10:00:00). */
  startTime?: Date;
  /** Seconds between consecutive captures (default 60). */
  intervalSec?: number;
  /** Write gt/shot-NN.alpha.png (default true). */
  groundTruth?: boolean;
  /** Write README.md describing the session (default false). */
  readme?: boolean;
  /** The command line to quote in README.md. */
  command?: string;
}

/** What {@link renderSession} wrote. */
export interface SessionResult {
  plate: { path: string; capturedAt: Date; bytes: number };
  shots: { path: string; alphaPath?: string; spec: ShotSpec; capturedAt: Date; bytes: number; alphaBytes?: number }[];
  /** Wall-clock milliseconds per step. */
  timings: Record<string, number>;
}

/** A shot before noise, with its exact alpha and the background it was composited over. */
export interface CleanShot {
  /** `a*F + (1-a)*B`, no noise. */
  image: RgbImage;
  alpha: AlphaImage;
}

/** Formats a capture time as EXIF 'YYYY:MM:DD HH:MM:SS' (the Date's UTC fields = the camera clock). */
export function exifDate(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}:${p(d.getUTCMonth() + 1)}:${p(d.getUTCDate())} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}`;
}

/** File name of shot `index` (0-based): shot-01.jpg, shot-02.jpg, ... */
export function shotName(index: number): string {
  return `shot-${String(index + 1).padStart(2, '0')}`;
}

/**
 * Renders one shot without noise: the scene under the shot's camera
 * (shift, exposure, garment shadow) with the garment composited over it.
 * @param plateScene the unshifted, unscaled, shadow-free scene, reused when the shot changes nothing
 */
export async function renderCleanShot(
  spec: ShotSpec,
  opts: { width: number; height: number; seed: number; index: number },
  plateScene?: RgbImage,
): Promise<CleanShot> {
  const { width, height } = opts;
  const garment = await makeGarment(spec.kind, { width, height, seed: hashSeed(opts.seed, 1000 + opts.index), shift: spec.shift, gain: spec.gain });
  const castShadow: CastShadow | undefined = spec.shadow ? { map: garment.shadowMap, dx: 46, dy: 30, strength: 0.2 } : undefined;
  const plain = !spec.shift && (spec.gain ?? 1) === 1 && !castShadow;
  const bg = plain && plateScene ? plateScene : await makeMannequinScene({ width, height, shift: spec.shift, gain: spec.gain, castShadow });
  // Composite in place over the foreground buffer: F is read before each write.
  const image = composite(garment.fg, garment.alpha, bg, garment.fg);
  return { image, alpha: garment.alpha };
}

/**
 * Encodes a photo as a camera would: JPEG (4:4:4, standard Huffman tables)
 * with the sRGB ICC profile, EXIF DateTimeOriginal = `capturedAt`, and the
 * file's mtime set to it. Huffman optimisation stays off because libjpeg
 * buffers every coefficient for it (+360 MB at 30 MP).
 * @returns the file size in bytes
 */
export async function encodeJpeg(img: RgbImage, file: string, capturedAt: Date, quality = 92): Promise<number> {
  const when = exifDate(capturedAt);
  const info = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false })
    .withIccProfile('srgb')
    .withExif({
      IFD0: { Make: 'cleanplate', Model: 'sample-session generator', Software: 'scripts/sample/generate.ts', DateTime: when },
      IFD2: { DateTimeOriginal: when, DateTimeDigitized: when },
    })
    .jpeg({ quality, chromaSubsampling: '4:4:4', optimiseCoding: false })
    .toFile(file);
  await fs.utimes(file, capturedAt, capturedAt);
  return info.size;
}

/** Writes an 8-bit single-channel grey PNG (read it back with `.extractChannel(0)`: sharp decodes grey to RGB by default). */
export async function encodeAlphaPng(alpha: AlphaImage, file: string): Promise<number> {
  const info = await sharp(alpha.data, { raw: { width: alpha.width, height: alpha.height, channels: 1 }, limitInputPixels: false })
    .toColourspace('b-w')
    .png({ compressionLevel: 9, adaptiveFiltering: true })
    .toFile(file);
  return info.size;
}

const VARIATION = (s: ShotSpec): string => {
  const v: string[] = [];
  if (s.shift) v.push(`camera shift ${s.shift.dx >= 0 ? '+' : ''}${s.shift.dx}/${s.shift.dy >= 0 ? '+' : ''}${s.shift.dy} px (x/y)`);
  if (s.gain !== undefined && s.gain !== 1) v.push(`exposure x${s.gain} (${(Math.log2(s.gain) >= 0 ? '+' : '') + Math.log2(s.gain).toFixed(2)} EV)`);
  if (s.shadow) v.push('soft garment shadow on the paper');
  return v.length ? v.join(', ') : 'none (same camera as the plate)';
};

const GARMENT_TEXT: Record<GarmentKind, string> = {
  knit: 'cream cable-knit sweater with fuzz (fibres sticking out of the outline), sleeves hanging clear of the body; white on an off-white form',
  lace: 'black lace top: open holes, eyelets, scalloped hem and cap sleeves with eyelash threads',
  fringe: 'navy/ecru striped top with a suede band and long fringe strands (1.3-2.6 px wide) hanging over form, pole and paper',
  sheer: 'navy chiffon shirt with cream polka dots: alpha about 0.35-0.55, double layers at collar, placket, cuffs, hem and where sleeves overlap the body',
};

function readmeText(opts: Required<Pick<SessionOptions, 'seed' | 'width' | 'height' | 'quality' | 'noise'>> & { command: string }, res: SessionResult): string {
  const rows = res.shots.map(
    (s, i) => `| ${path.basename(s.path)} | ${exifDate(s.capturedAt)} | ${GARMENT_TEXT[s.spec.kind]} | ${VARIATION(s.spec)} | gt/${shotName(i)}.alpha.png |`,
  );
  return `# Sample session (generated)

A synthetic ghost-mannequin studio session made procedurally by cleanplate
itself: no external images. It is what \`npm run demo\` and the tests use.

- \`plate.jpg\`: the empty set: a linen dress form on a chrome pole and cast-iron
  base, on grey seamless paper (soft hotspot, darker cove, lens vignette), mild
  signal-dependent sensor noise.
- \`shot-01.jpg\` .. \`shot-${String(res.shots.length).padStart(2, '0')}.jpg\`: the same set with a garment on the form. For ghost
  mannequin the **form is background**: wherever the garment does not cover it
  (neck, hips, pole, lace holes, through the sheer shirt) it must be removed.
- \`gt/shot-NN.alpha.png\`: the exact ground-truth alpha of each shot (8-bit
  grey PNG, 255 = garment). Not images to process: keep \`gt/\` out of an inbox.

${opts.width}x${opts.height} px (portrait, like 4480x6720 scaled), JPEG quality ${opts.quality} (4:4:4, standard
Huffman tables like a camera), sRGB ICC profile attached, EXIF DateTimeOriginal:
plate ${exifDate(res.plate.capturedAt)}, shots one minute apart after it (file mtimes match when generated).

| file | DateTimeOriginal | garment | change from the plate | ground truth |
| --- | --- | --- | --- | --- |
| plate.jpg | ${exifDate(res.plate.capturedAt)} | none | - | - |
${rows.join('\n')}

Each shot is composited physically before noise, per channel:
\`shot = a*F + (1-a)*B\` with \`a\` = the 8-bit alpha in \`gt/\` divided by 255, \`F\` the
garment's straight colour and \`B\` the plate's scene under that shot's camera
(shifted, exposure-scaled, or with the garment's shadow on the paper). Sensor
noise is then re-sampled independently for every file with the same statistics
(noise x${opts.noise}).

## How it was generated

\`\`\`
${opts.command}
\`\`\`

Seed ${opts.seed}. Generation is deterministic: the same command gives the same
bytes (with the same sharp/libvips build). The generator lives in
\`scripts/sample/\` and its functions (\`renderSession\`, \`makeMannequinScene\`,
\`makeGarment\`, \`composite\`) make other sizes on the fly for tests.
`;
}

/**
 * Renders and writes a whole session (plate, shots, ground truth, optional
 * README). Images are produced one at a time (the plate last, from the
 * scene buffer the shots were composited over), so memory stays near five
 * full-size 8-bit RGB buffers plus libvips' working set.
 */
export async function renderSession(opts: SessionOptions): Promise<SessionResult> {
  const seed = opts.seed ?? DEFAULT_SEED;
  const width = opts.width ?? DEFAULT_WIDTH;
  const height = opts.height ?? DEFAULT_HEIGHT;
  const shots = opts.shots ?? DEFAULT_SHOTS;
  const quality = opts.quality ?? 92;
  const noiseAmount = opts.noise ?? 1;
  const start = opts.startTime ?? DEFAULT_START;
  const interval = (opts.intervalSec ?? 60) * 1000;
  const groundTruth = opts.groundTruth ?? true;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 16 || height < 16) {
    throw new RangeError(`renderSession: bad size ${width}x${height}`);
  }
  const noise: NoiseModel = { ...DEFAULT_NOISE, amount: noiseAmount };
  const timings: Record<string, number> = {};
  const timed = async <T>(name: string, f: () => T | Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const r = await f();
    timings[name] = Math.round(performance.now() - t0);
    return r;
  };
  await fs.mkdir(opts.outDir, { recursive: true });
  if (groundTruth && shots.length > 0) await fs.mkdir(path.join(opts.outDir, 'gt'), { recursive: true });

  const scene = await timed('scene', () => makeMannequinScene({ width, height }));
  const platePath = path.join(opts.outDir, 'plate.jpg');
  const shotResults: SessionResult['shots'] = [];
  for (let i = 0; i < shots.length; i++) {
    const spec = shots[i];
    const name = shotName(i);
    const capturedAt = new Date(start.getTime() + (i + 1) * interval);
    const file = path.join(opts.outDir, `${name}.jpg`);
    const entry = await timed(name, async () => {
      const clean = await renderCleanShot(spec, { width, height, seed, index: i }, scene);
      let alphaPath: string | undefined;
      let alphaBytes: number | undefined;
      if (groundTruth) {
        alphaPath = path.join(opts.outDir, 'gt', `${name}.alpha.png`);
        alphaBytes = await encodeAlphaPng(clean.alpha, alphaPath);
      }
      addSensorNoise(clean.image, seed, i + 1, noise);
      const bytes = await encodeJpeg(clean.image, file, capturedAt, quality);
      return { path: file, alphaPath, spec, capturedAt, bytes, alphaBytes };
    });
    shotResults.push(entry);
  }
  // The plate last: its noise goes into the scene buffer itself, which the shots no longer need.
  const plateBytes = await timed('plate', () => encodeJpeg(addSensorNoise(scene, seed, 0, noise), platePath, start, quality));
  const result: SessionResult = { plate: { path: platePath, capturedAt: start, bytes: plateBytes }, shots: shotResults, timings };
  if (opts.readme) {
    const command =
      opts.command ??
      `node --import tsx scripts/sample/generate.ts --out ${opts.outDir} --seed ${seed} --width ${width} --height ${height}`;
    await fs.writeFile(path.join(opts.outDir, 'README.md'), readmeText({ seed, width, height, quality, noise: noiseAmount, command }, result));
  }
  return result;
}
