/**
 * The image half of a job, the same for the daemon and `cleanplate matte`:
 * decode shot and plate → matte (engine) → post-process → encode outputs.
 * Pure with respect to the catalog and folders: it reads two files and
 * returns buffers; delivery (src/deliver/deliver.ts) decides where they go.
 */
import path from 'node:path';
import type { Config } from './config/schema.js';
import type { RenderedJob } from './deliver/deliver.js';
import { encodeOutputs } from './deliver/encode.js';
import type { MattingEngine } from './engine/types.js';
import { assertSameSize, readImage } from './image/io.js';
import { postProcess } from './post/index.js';

/** The config sections rendering depends on. */
export type RenderSettings = Pick<Config, 'limits' | 'postprocess' | 'outputs'> & { engine: Config['engine'] };

/** Version written into sidecars. */
export const CLEANPLATE_VERSION = '0.1.0';

/**
 * Renders one shot+plate pair with an engine. The engine may still be loading
 * (a promise, as `cleanplate matte` passes it): decoding runs meanwhile.
 * @throws CleanplateError for bad input (missing, corrupt, too large, size mismatch) or engine failures
 */
export async function renderPair(
  engineOrLoading: MattingEngine | Promise<MattingEngine>,
  shotPath: string,
  platePath: string,
  settings: RenderSettings,
): Promise<RenderedJob> {
  const timings: Record<string, number> = {};
  const t0 = performance.now();
  let t = t0;
  const lap = (name: string): void => {
    const now = performance.now();
    timings[name] = Math.round(now - t);
    t = now;
  };
  const [shot, plate, engine] = await Promise.all([
    readImage(shotPath, { maxPixels: settings.limits.maxPixels }),
    readImage(platePath, { maxPixels: settings.limits.maxPixels }),
    engineOrLoading,
  ]);
  assertSameSize(shot, plate);
  lap('decode');
  const matte = await engine.matte({ shot, plate });
  lap('matte');
  const post = await postProcess(
    { alpha: matte.alpha, shot, plate: matte.alignedPlate, foreground: matte.foreground },
    settings.postprocess,
  );
  lap('postprocess');
  const outputs = await encodeOutputs(shot, post.alpha, post.foreground, settings.outputs);
  lap('encode');
  timings.total = Math.round(performance.now() - t0);
  const engineSettings = engine.name === 'classical' ? settings.engine.classical : settings.engine.neural;
  const sidecar = settings.outputs.sidecar
    ? {
        cleanplate: CLEANPLATE_VERSION,
        createdAt: new Date().toISOString(),
        shot: path.basename(shotPath),
        plate: path.basename(platePath),
        size: { width: shot.width, height: shot.height },
        engine: { name: engine.name, ...engine.describe(), settings: engineSettings },
        postprocess: { settings: settings.postprocess, stats: post.stats },
        alignment: {
          method: matte.diagnostics.alignment,
          residualPx: matte.diagnostics.alignmentResidualPx,
          homography: matte.diagnostics.homography,
        },
        diagnostics: matte.diagnostics,
        warnings: matte.warnings,
        timingsMs: { ...timings, engine: matte.timings },
      }
    : undefined;
  return { outputs, sidecar, warnings: matte.warnings, timingsMs: timings };
}
