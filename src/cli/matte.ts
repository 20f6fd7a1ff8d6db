/**
 * `cleanplate matte SHOT PLATE -o OUT.png [--alpha ALPHA.png] [--engine classical|neural] [--config FILE]`:
 * one pair through the same pipeline as the daemon. OUT's extension picks the
 * format (.png RGBA, .tif/.tiff 16-bit RGBA, .webp lossless); `--alpha`
 * writes an 8-bit grey PNG the size of the shot. Nothing is overwritten.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { createEngine } from '../engine/index.js';
import { renderPair } from '../pipeline.js';
import { assertAbsent, parse, writeNew, UsageError } from './main.js';
import { renderSettings } from './settings.js';

const FORMATS: Record<string, 'rgbaPng' | 'tiff16' | 'webp'> = { '.png': 'rgbaPng', '.tif': 'tiff16', '.tiff': 'tiff16', '.webp': 'webp' };

/** Runs `matte`; returns the exit status. */
export async function cmdMatte(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    output: { type: 'string', short: 'o' },
    alpha: { type: 'string' },
    engine: { type: 'string' },
    config: { type: 'string' },
  });
  if (positionals.length !== 2) throw new UsageError('matte needs SHOT and PLATE');
  if (!values.output) throw new UsageError('matte needs -o OUT.png');
  const format = FORMATS[path.extname(values.output).toLowerCase()];
  if (!format) throw new UsageError(`-o ${values.output}: use .png, .tif, .tiff or .webp`);
  if (values.alpha && path.extname(values.alpha).toLowerCase() !== '.png') throw new UsageError('--alpha must name a .png file');
  if (values.engine && values.engine !== 'classical' && values.engine !== 'neural') throw new UsageError('--engine is classical or neural');
  const [shotPath, platePath] = positionals;
  if (values.alpha && path.resolve(values.alpha) === path.resolve(values.output)) throw new UsageError('-o and --alpha must name different files');
  await assertAbsent(values.output);
  if (values.alpha) await assertAbsent(values.alpha);

  const settings = await renderSettings(values.config);
  const engineName = (values.engine as 'classical' | 'neural' | undefined) ?? settings.engine.name;
  settings.engine = { ...settings.engine, name: engineName };
  settings.outputs = {
    ...settings.outputs,
    rgbaPng: format === 'rgbaPng',
    tiff16: format === 'tiff16',
    webp: format === 'webp',
    alphaPng: values.alpha !== undefined,
    composite: { ...settings.outputs.composite, enabled: false },
    sidecar: false,
  };
  sharp.cache(false);
  const t0 = performance.now();
  // The engine loads (ONNX sessions, OpenCV) while the pair is decoded.
  const loading = createEngine(settings.engine, {
    log: (level, message) => {
      if (level === 'warn') process.stderr.write(`cleanplate: ${message}\n`);
    },
  });
  try {
    const rendered = await renderPair(loading, shotPath, platePath, settings);
    const engine = await loading;
    const image = rendered.outputs.find((o) => o.kind !== 'alpha-png')!;
    await writeNew(values.output, image.data);
    const alpha = rendered.outputs.find((o) => o.kind === 'alpha-png');
    if (values.alpha && alpha) {
      try {
        await writeNew(values.alpha, alpha.data);
      } catch (err) {
        // Both files or neither: the cutout just written goes again.
        await fs.rm(values.output, { force: true });
        throw err;
      }
    }
    for (const w of rendered.warnings) process.stderr.write(`cleanplate: warning: ${w}\n`);
    process.stdout.write(
      `${values.output}${values.alpha ? ` + ${values.alpha}` : ''} (${engine.name}, ${((performance.now() - t0) / 1000).toFixed(2)} s: ` +
        `${Object.entries(rendered.timingsMs).filter(([k]) => k !== 'total').map(([k, v]) => `${k} ${v} ms`).join(', ')})\n`,
    );
    return 0;
  } finally {
    // An engine that failed to load has nothing to close.
    await loading.then(
      (engine) => engine.close(),
      () => undefined,
    );
  }
}
