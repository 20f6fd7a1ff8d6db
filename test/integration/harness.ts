/**
 * Shared set-up for integration tests: real temp folders, a real config, the
 * real daemon (in-process or as a child process), real images.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { stringify } from 'yaml';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import { createLogger } from '../../src/log.js';
import { Daemon } from '../../src/daemon.js';
import { createRng } from '../../src/eval/rng.js';
import { tempDir, type AfterHook } from '../helpers/tmp.js';

/** Folders of one test's share. */
export interface Dirs {
  root: string;
  inbox: string;
  output: string;
  failed: string;
  archive: string;
}

/**
 * Makes a temp root with share folders, removed (with everything in it) when
 * the test ends. Stop the daemon (or await its process's exit) in the test's
 * `finally`, or in a `t.after` registered before this call, so the removal
 * does not race it.
 * @param t the test's context (its `after` hook removes the root)
 * @param prefix part of the folder's name: `cp-it-<prefix>-XXXXXX`
 */
export function makeDirs(t: AfterHook, prefix: string): Dirs {
  const root = tempDir(t, `cp-it-${prefix}-`);
  return { root, inbox: path.join(root, 'inbox'), output: path.join(root, 'output'), failed: path.join(root, 'failed'), archive: path.join(root, 'archive') };
}

/** A fast test config (classical engine, short stability and timeouts), with overrides. */
export function testConfig(dirs: Dirs, over: Partial<ConfigInput> = {}): Config {
  const input: ConfigInput = {
    catalog: { path: path.join(dirs.root, 'var', 'catalog.db') },
    shares: [{ name: 'studio', inbox: dirs.inbox, output: dirs.output, failed: dirs.failed, archive: dirs.archive }],
    watch: { stableMs: 300, incompleteTimeoutMin: 0.05 },
    plates: { waitTimeoutMin: 60 },
    jobs: { concurrency: 1, maxAttempts: 2, retryBackoffSec: 0.2 },
    engine: { name: 'classical' },
    outputs: { rgbaPng: true, alphaPng: true, sidecar: true },
    logging: { dir: path.join(dirs.root, 'log'), console: false, level: 'debug' },
    notify: { enabled: false, sessionQuietMin: 0.01 },
    schedule: { waitingSweep: '*/1 * * * * *', rescan: '*/2 * * * * *', heartbeat: null, digest: null, retention: null },
    ...over,
  };
  return configSchema.parse(input);
}

/** Writes a config file for child-process daemons. */
export async function writeConfigFile(dirs: Dirs, config: Config): Promise<string> {
  const file = path.join(dirs.root, 'cleanplate.yaml');
  await fs.writeFile(file, stringify(config));
  return file;
}

/** Starts the real daemon in-process with a file-only logger. */
export async function startDaemon(config: Config): Promise<Daemon> {
  return Daemon.start(config, { log: createLogger(config.logging, { console: false }), noConfigWatch: true });
}

/** Deterministic pseudo-random numbers in [0, 1) for test data. */
function rng(seed: number): () => number {
  return createRng(seed, 'test').next;
}

/**
 * A synthetic studio pair: plate = grey backdrop with a soft gradient and a
 * dark mannequin-like ellipse; shot = the same with a textured garment
 * (alpha 1 inside, soft edge) and independent sensor noise.
 * @returns encoded shot and plate (PNG or JPEG) and the true alpha (0..255)
 */
export async function makePair(width: number, height: number, seed = 1, format: 'png' | 'jpeg' = 'png'): Promise<{ shot: Buffer; plate: Buffer; alpha: Uint8Array }> {
  const r = rng(seed);
  const bg = new Float32Array(width * height * 3);
  const alpha = new Uint8Array(width * height);
  const cx = width * (0.45 + 0.1 * r());
  const cy = height * (0.5 + 0.05 * r());
  const ax = width * 0.22;
  const ay = height * 0.3;
  const tint = [40 + 150 * r(), 40 + 150 * r(), 40 + 150 * r()];
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      const g = 200 - 40 * (y / height);
      // mannequin: a darker ellipse in the backdrop (background, to be removed)
      const m = ((x - width * 0.5) / (width * 0.12)) ** 2 + ((y - height * 0.35) / (height * 0.2)) ** 2 < 1 ? 0.7 : 1;
      bg[i * 3] = g * m;
      bg[i * 3 + 1] = g * m;
      bg[i * 3 + 2] = (g + 8) * m;
      const d = Math.sqrt(((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2);
      const a = Math.min(1, Math.max(0, (1 - d) * Math.min(ax, ay) / 2));
      alpha[i] = Math.round(a * 255);
    }
  }
  const noisy = (src: (i: number, c: number) => number): Buffer => {
    const out = Buffer.alloc(width * height * 3);
    for (let i = 0; i < width * height; i++) {
      for (let c = 0; c < 3; c++) out[i * 3 + c] = Math.max(0, Math.min(255, Math.round(src(i, c) + (r() + r() + r() - 1.5) * 3)));
    }
    return out;
  };
  const plate = noisy((i, c) => bg[i * 3 + c]);
  const shot = noisy((i, c) => {
    const a = alpha[i] / 255;
    const x = i % width;
    const y = (i / width) | 0;
    const fg = tint[c] * (0.8 + 0.2 * Math.sin(x * 0.7) * Math.sin(y * 0.5));
    return a * fg + (1 - a) * bg[i * 3 + c];
  });
  const enc = (b: Buffer): Promise<Buffer> => {
    const s = sharp(b, { raw: { width, height, channels: 3 } });
    return (format === 'png' ? s.png({ compressionLevel: 1 }) : s.jpeg({ quality: 92 })).toBuffer();
  };
  return { shot: await enc(shot), plate: await enc(plate), alpha };
}

/** Polls `check` until it returns a value (not undefined/false) or the timeout passes. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** All files under a folder (relative paths, sorted), including dot-files so leftovers are caught. */
export async function tree(dir: string): Promise<string[]> {
  try {
    const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true });
    return entries.filter((e) => e.isFile()).map((e) => path.relative(dir, path.join(e.parentPath, e.name))).sort();
  } catch {
    return [];
  }
}

/** Copies a buffer into place the way photographers' tools do: temp name, then rename. */
export async function drop(file: string, data: Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(`${file}.part`, data);
  await fs.rename(`${file}.part`, file);
}
