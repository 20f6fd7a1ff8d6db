/**
 * The procedural ghost-mannequin sample session, as a library for tests.
 *
 * - `renderSession({ outDir, width, height, shots })` writes plate + shots
 *   (+ gt/ alphas); e.g. a 30 MP pair for a slow-copy test:
 *   `renderSession({ outDir, width: 4480, height: 6720, shots: [{ kind: 'knit' }], groundTruth: false })`,
 *   or a fast 300x450 session: `renderSession({ outDir, width: 300, height: 450 })`.
 * - `makeMannequinScene`, `makeGarment`, `composite`, `addSensorNoise` are the
 *   in-memory pieces (`shot = a*F + (1-a)*B`, then noise).
 *
 * The CLI is scripts/sample/generate.ts.
 */
export { addSensorNoise, composite, compositeValue, DEFAULT_NOISE } from './composite.js';
export type { NoiseModel } from './composite.js';
export { fcos, fsin, laceThread, makeGarment } from './garment.js';
export type { Garment, GarmentOptions } from './garment.js';
export { hashSeed, Rng } from './rng.js';
export { lambert, makeMannequinScene, mannequinShadow, vignette } from './scene.js';
export type { CastShadow, SceneOptions } from './scene.js';
export {
  DEFAULT_HEIGHT,
  DEFAULT_SEED,
  DEFAULT_SHOTS,
  DEFAULT_START,
  DEFAULT_WIDTH,
  encodeAlphaPng,
  encodeJpeg,
  exifDate,
  renderCleanShot,
  renderSession,
  shotName,
} from './session.js';
export type { CleanShot, SessionOptions, SessionResult, ShotSpec } from './session.js';
export { DESIGN_HEIGHT, DESIGN_WIDTH, GARMENT_KINDS, garmentShape, makeFrame, MANNEQUIN } from './shapes.js';
export type { Frame, GarmentKind, GarmentShape, Shift } from './shapes.js';
