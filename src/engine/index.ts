/**
 * Picks and loads the configured matting engine.
 */
import type { EngineConfig } from '../config/schema.js';
import { withPlateAlignment } from './aligned.js';
import { createClassicalEngine } from './classical/index.js';
import { createNeuralEngine } from './neural/index.js';
import type { MattingEngine } from './types.js';

/** Something that receives engine log lines (the daemon passes its logger). */
export type EngineLog = (level: 'info' | 'warn', message: string) => void;

/**
 * Loads the engine `name` (default: the configured one).
 * @throws CleanplateError('engine' | 'config') when the engine cannot load (missing model, no CUDA...)
 */
export async function createEngine(cfg: EngineConfig, options: { name?: EngineConfig['name']; log?: EngineLog } = {}): Promise<MattingEngine> {
  const name = options.name ?? cfg.name;
  if (name === 'classical') return createClassicalEngine(cfg.classical);
  // The neural engine gets the classical plate alignment, colour match and mismatch warnings in front.
  return withPlateAlignment(await createNeuralEngine(cfg.neural, { log: options.log }), cfg.classical);
}
