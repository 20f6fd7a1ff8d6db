/**
 * Render settings for one-shot commands (`matte`, `eval`): from `--config FILE`
 * when given, else the schema defaults (the config schema stays the single
 * source of truth for defaults).
 */
import path from 'node:path';
import { loadConfig, resolveModelDir } from '../config/load.js';
import { engineSchema, limitsSchema, outputsSchema, postprocessSchema } from '../config/schema.js';
import type { RenderSettings } from '../pipeline.js';

/** Loads render settings from a config file or the defaults. */
export async function renderSettings(configFile: string | undefined): Promise<RenderSettings> {
  if (configFile) {
    const c = await loadConfig(configFile);
    return { engine: c.engine, limits: c.limits, postprocess: c.postprocess, outputs: c.outputs };
  }
  const engine = engineSchema.parse({});
  return {
    engine: { ...engine, neural: { ...engine.neural, modelDir: resolveModelDir(engine.neural.modelDir, path.resolve('.')) } },
    limits: limitsSchema.parse({}),
    postprocess: postprocessSchema.parse({}),
    outputs: outputsSchema.parse({}),
  };
}
