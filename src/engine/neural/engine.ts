/**
 * The neural matting engine: BGMv2-style base network at low resolution plus a patch refiner at
 * full resolution, both ONNX (contract: cleanplate-bgm/1, see model.ts and sampling.ts).
 *
 * matte(): (1) shot and plate resized with sharp to the base size, run base (with `flipAverage`
 * also on the mirrored pair, alpha / residual / error averaged with the mirrored-back outputs;
 * the hidden features stay those of the unmirrored run); (2) one streaming
 * bilinear pass writes 8-bit coarse alpha/foreground; (3) the worst cells by predicted error
 * (budget or threshold) are cut into [N, 10+hidden, 16, 16] windows, refined in batches and their
 * 8x8 centres written back, then (`refine.grow`) the unrefined neighbours of the patches the refiner
 * changed most, for a few rounds; (4) a MatteResult with diagnostics and stage timings.
 *
 * Note: onnxruntime-node's `session.run` executes synchronously on the main thread (it is only
 * deferred by setImmediate), so each base run and each refiner batch blocks the event loop for its
 * duration; refiner batches are kept moderate and the full-resolution pass yields every few
 * million pixels so other work (watchers, timers) interleaves.
 */
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import sharp from 'sharp';
import ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import type { NeuralConfig } from '../../config/schema.js';
import type { RgbImage } from '../../image/types.js';
import type { MatteInput, MatteResult, MattingEngine } from '../types.js';
import { CleanplateError } from '../../errors.js';
import { loadModel, ortMessage, type LoadedModel } from './model.js';
import { loadClassicalCv, type ClassicalCv } from '../classical/cvtypes.js';
import { guidedCoefficients } from '../classical/guided.js';
import {
  axisMap,
  baseSizeFor,
  cellErrors,
  extractWindows,
  gridShape,
  CoarseUpsampler,
  averageMirrored,
  mirrorPlanes,
  rgbToPlanar,
  selectCells,
  writeBackPatches,
  patchChanges,
  growCells,
  toByte,
  differenceGuide,
  type BaseSize,
  type SelectionRule,
} from './sampling.js';

/** Options of {@link createNeuralEngine}. */
export interface NeuralEngineOptions {
  /** Receives one-line load-time messages (provider choice, settings that look wrong). */
  log?: (level: 'info' | 'warn', msg: string) => void;
  /** Folder a relative `modelDir` is resolved against (default: the current directory). */
  repoRoot?: string;
  /** Refiner patches per ONNX run (default {@link DEFAULT_REFINE_BATCH}); smaller values bound memory and event-loop stalls. */
  refineBatch?: number;
}

/**
 * Default number of patches per refiner run: [1024, 42, 16, 16] float32 is 44 MB. ONNX Runtime is
 * as fast per patch at 512..2048 (measured), and a smaller batch shortens each event-loop stall.
 */
export const DEFAULT_REFINE_BATCH = 1024;

/** Full-resolution pixels upsampled between two yields to the event loop (~0.1 s of work). */
const UPSAMPLE_CHUNK_PIXELS = 4_000_000;

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

const IDENTITY = [1, 0, 0, 0, 1, 0, 0, 0, 1];

/** `img` resized to the base size (sharp, aspect not kept), interleaved RGB bytes. */
async function resizeRaw(img: RgbImage, size: BaseSize): Promise<Uint8Array> {
  if (img.width === size.width && img.height === size.height) return img.data;
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 }, limitInputPixels: false })
    // 'linear' is within ~0.3-0.5 levels (mean) of the Python reference's antialiased bilinear.
    .resize(size.width, size.height, { fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
}

/**
 * Guided-upsampling coefficients at the base size: the fast guided filter's [a_r, a_g, a_b, b] planes
 * for the coarse alpha (0..1) against `guide` (base size, interleaved RGB bytes: sampling.ts
 * differenceGuide), window radius `radius` and regularisation `eps` (classical/guided.ts, the same
 * solver as the classical engine's last step).
 */
function guidedPlanes(
  cv: ClassicalCv,
  guide: Uint8Array,
  alpha: Float32Array,
  w: number,
  h: number,
  radius: number,
  eps: number,
): [Float32Array, Float32Array, Float32Array, Float32Array] {
  const n = w * h;
  const p = new Uint8Array(n);
  for (let i = 0; i < n; i++) p[i] = toByte(alpha[i]);
  const mat = guidedCoefficients(cv, guide, p, w, h, radius, eps);
  try {
    const c = mat.data32F;
    const out: [Float32Array, Float32Array, Float32Array, Float32Array] = [
      new Float32Array(n),
      new Float32Array(n),
      new Float32Array(n),
      new Float32Array(n),
    ];
    for (let i = 0; i < n; i++) {
      out[0][i] = c[i * 4];
      out[1][i] = c[i * 4 + 1];
      out[2][i] = c[i * 4 + 2];
      out[3][i] = c[i * 4 + 3];
    }
    return out;
  } finally {
    mat.delete();
  }
}

function expectDims(t: ort.Tensor | undefined, dims: number[], what: string): Float32Array {
  if (!t || t.type !== 'float32') throw new CleanplateError('engine', `${what}: missing or not float32`);
  const ok = t.dims.length === dims.length && t.dims.every((d, i) => d === dims[i]);
  if (!ok) throw new CleanplateError('engine', `${what} has shape [${t.dims.join(',')}], expected [${dims.join(',')}]`);
  return t.data as Float32Array;
}

async function run(session: InferenceSession, feeds: Record<string, ort.Tensor>, what: string): Promise<InferenceSession.ReturnType> {
  try {
    return await session.run(feeds);
  } catch (err) {
    throw new CleanplateError('engine', `${what} failed: ${ortMessage(err)}`, { cause: err });
  }
}

/**
 * Loads the model folder `cfg.modelDir` (base.onnx, refiner.onnx, model.json) and returns the
 * neural MattingEngine. Throws CleanplateError('engine') for a missing or invalid model folder and
 * CleanplateError('config') when `executionProvider` is 'cuda' and CUDA is unavailable.
 */
export async function createNeuralEngine(cfg: NeuralConfig, opts: NeuralEngineOptions = {}): Promise<MattingEngine> {
  const log = opts.log ?? (() => {});
  const dir = path.resolve(opts.repoRoot ?? process.cwd(), cfg.modelDir);
  const batch = Math.max(1, Math.floor(opts.refineBatch ?? DEFAULT_REFINE_BATCH));
  const model: LoadedModel = await loadModel(dir, cfg.executionProvider, cfg.threads);
  const { info } = model;
  const cv = cfg.guided.radius > 0 ? (await loadClassicalCv()).cv : null;
  const rule: SelectionRule =
    cfg.refine.mode === 'budget'
      ? { mode: 'budget', pixelBudget: cfg.refine.pixelBudget, maxPatches: cfg.refine.maxPatches }
      : { mode: 'threshold', threshold: cfg.refine.threshold, maxPatches: cfg.refine.maxPatches };

  if (model.provider === 'cuda') log('info', `neural engine: model ${info.version} on CUDA`);
  else if (cfg.executionProvider === 'auto') log('info', `neural engine: model ${info.version} on CPU (${model.threads} threads); CUDA not used: ${model.cudaUnavailable}`);
  else log('info', `neural engine: model ${info.version} on CPU (${model.threads} threads)`);
  if (cfg.baseLongSide % info.baseMultiple !== 0) {
    log('warn', `engine.neural.baseLongSide ${cfg.baseLongSide} is rounded to a multiple of ${info.baseMultiple}`);
  }
  if (info.trainedBaseLongSide !== null && Math.abs(cfg.baseLongSide / info.trainedBaseLongSide - 1) > 0.5) {
    log('warn', `engine.neural.baseLongSide ${cfg.baseLongSide} is far from the model's trained ${info.trainedBaseLongSide}; quality may drop`);
  }

  let closed = false;
  const P = info.patchSize;
  const K = info.patchContext;
  const S = P + 2 * K;
  const hidden = info.hiddenChannels;
  const C = 10 + hidden;

  async function matte({ shot, plate }: MatteInput): Promise<MatteResult> {
    if (closed) throw new CleanplateError('internal', 'neural engine used after close()');
    const H = shot.height;
    const W = shot.width;
    if (plate.width !== W || plate.height !== H) {
      throw new CleanplateError('size-mismatch', `plate is ${plate.width}x${plate.height}, shot is ${W}x${H}`);
    }
    if (shot.data.length !== W * H * 3 || plate.data.length !== W * H * 3) {
      throw new CleanplateError('internal', `neural engine: RGB buffers do not match ${W}x${H}x3`);
    }
    const timings: Record<string, number> = {};
    let t = performance.now();
    const lap = (name: string) => {
      const now = performance.now();
      timings[name] = Math.round((now - t) * 10) / 10;
      t = now;
    };

    // (1) base network at low resolution
    const bs = baseSizeFor(W, H, cfg.baseLongSide, info.baseMultiple);
    const [shotRaw, plateRaw] = await Promise.all([resizeRaw(shot, bs), resizeRaw(plate, bs)]);
    const { width: w, height: h } = bs;
    const shotSmall = rgbToPlanar(shotRaw, w, h);
    const plateSmall = rgbToPlanar(plateRaw, w, h);
    lap('resize');
    const baseOut = await run(
      model.base,
      { shot: new ort.Tensor('float32', shotSmall, [1, 3, h, w]), plate: new ort.Tensor('float32', plateSmall, [1, 3, h, w]) },
      'base network',
    );
    const bAlpha = expectDims(baseOut.alpha, [1, 1, h, w], 'base output alpha');
    const bFgr = expectDims(baseOut.fgr_res, [1, 3, h, w], 'base output fgr_res');
    const bErr = expectDims(baseOut.error, [1, 1, h, w], 'base output error');
    const bHidden = expectDims(baseOut.hidden, [1, hidden, h, w], 'base output hidden');
    if (cfg.flipAverage) {
      const mirroredOut = await run(
        model.base,
        {
          shot: new ort.Tensor('float32', mirrorPlanes(shotSmall, 3, h, w), [1, 3, h, w]),
          plate: new ort.Tensor('float32', mirrorPlanes(plateSmall, 3, h, w), [1, 3, h, w]),
        },
        'base network (mirrored)',
      );
      averageMirrored(bAlpha, expectDims(mirroredOut.alpha, [1, 1, h, w], 'base output alpha'), 1, h, w);
      averageMirrored(bFgr, expectDims(mirroredOut.fgr_res, [1, 3, h, w], 'base output fgr_res'), 3, h, w);
      averageMirrored(bErr, expectDims(mirroredOut.error, [1, 1, h, w], 'base output error'), 1, h, w);
    }
    lap('base');

    // (2) coarse full-resolution alpha / foreground, streamed row by row in chunks
    const hw = h * w;
    const fgrPlanes = [bFgr.subarray(0, hw), bFgr.subarray(hw, 2 * hw), bFgr.subarray(2 * hw, 3 * hw)] as const;
    const maps = { ym: axisMap(H, h), xm: axisMap(W, w) };
    const guided = cv
      ? { coef: guidedPlanes(cv, differenceGuide(shotRaw, plateRaw), bAlpha, w, h, cfg.guided.radius, cfg.guided.eps), plate: plate.data }
      : undefined;
    if (guided) lap('guided');
    const coarse = new CoarseUpsampler(shot.data, H, W, { h, w, alpha: bAlpha, fgrRes: fgrPlanes, guided }, maps);
    const chunk = Math.max(1, Math.floor(UPSAMPLE_CHUNK_PIXELS / W));
    for (let y = 0; y < H; y += chunk) {
      coarse.rows(y, y + chunk);
      if (y + chunk < H) await yieldToEventLoop();
    }
    lap('upsample');

    // (3) refine the selected patches at full resolution
    const { cellsX, cellsY } = gridShape(H, W, P);
    const cellError = cellErrors(bErr, h, w, cellsY, cellsX);
    const cells = selectCells(cellError, rule, H, W, P);
    const split = { select: performance.now() - t, extract: 0, run: 0, writeBack: 0 };
    const grow = cfg.refine.grow;
    let grown = 0;
    if (cells.length > 0) {
      const planes: Float32Array[] = [bAlpha, ...fgrPlanes];
      for (let c = 0; c < hidden; c++) planes.push(bHidden.subarray(c * hw, (c + 1) * hw));
      const src = { shot: shot.data, plate: plate.data, H, W, planes, h, w, ym: maps.ym, xm: maps.xm, patch: P, context: K, cellsX };
      const target = { alpha: coarse.alpha, foreground: coarse.foreground, shot: shot.data, H, W, patch: P, cellsX };
      const buf = new Float32Array(Math.min(batch, Math.max(cells.length, grow.rounds > 0 ? grow.maxPatches : 0)) * C * S * S);
      const refined = new Uint8Array(cellsX * cellsY);
      for (const c of cells) refined[c] = 1;
      // Round 0 refines the selected cells; each further round the unrefined neighbours of the
      // cells the previous round changed by more than grow.minChange (sampling.ts growCells).
      let round = cells;
      for (let r = 0; round.length > 0; r++) {
        const changes = new Float32Array(round.length);
        for (let start = 0; start < round.length; start += batch) {
          const n = Math.min(batch, round.length - start);
          const input = buf.subarray(0, n * C * S * S);
          let t0 = performance.now();
          extractWindows(src, round, start, n, input);
          let t1 = performance.now();
          split.extract += t1 - t0;
          const out = await run(model.refiner, { patches: new ort.Tensor('float32', input, [n, C, S, S]) }, 'refiner network');
          t0 = performance.now();
          split.run += t0 - t1;
          const rAlpha = expectDims(out.alpha, [n, 1, P, P], 'refiner output alpha');
          const rFgr = expectDims(out.fgr_res, [n, 3, P, P], 'refiner output fgr_res');
          patchChanges(target, round, start, n, rAlpha, changes);
          writeBackPatches(target, round, start, n, rAlpha, rFgr);
          t1 = performance.now();
          split.writeBack += t1 - t0;
        }
        if (r >= grow.rounds) break;
        round = growCells(round, changes, grow.minChange, refined, cellsX, cellsY, grow.maxPatches - grown);
        grown += round.length;
      }
    }
    lap('refine');

    let fgCount = 0;
    for (let i = 0; i < coarse.alpha.length; i++) if (coarse.alpha[i] >= 128) fgCount++;
    let errSum = 0;
    for (const e of cellError) errSum += e;

    return {
      alpha: { width: W, height: H, data: coarse.alpha },
      foreground: { width: W, height: H, data: coarse.foreground },
      alignedPlate: plate,
      warnings: [],
      diagnostics: {
        alignment: 'none',
        homography: IDENTITY.slice(),
        alignmentResidualPx: null,
        foregroundFraction: fgCount / (W * H),
        modelVersion: info.version,
        provider: model.provider,
        baseSize: { width: w, height: h },
        flipAverage: cfg.flipAverage,
        guidedRadius: cfg.guided.radius,
        refineMode: rule.mode,
        patchesRefined: cells.length + grown,
        patchesGrown: grown,
        patchesTotal: cellError.length,
        meanPredictedError: errSum / cellError.length,
        refineSplitMs: Object.fromEntries(Object.entries(split).map(([k, v]) => [k, Math.round(v * 10) / 10])),
      },
      timings,
    };
  }

  return {
    name: 'neural',
    describe: () => ({
      engine: 'neural',
      modelFormat: info.format,
      modelVersion: info.version,
      modelDir: dir,
      provider: model.provider,
      threads: model.threads,
      baseLongSide: cfg.baseLongSide,
      flipAverage: cfg.flipAverage,
      guided: { ...cfg.guided },
      trainedBaseLongSide: info.trainedBaseLongSide,
      baseMultiple: info.baseMultiple,
      patchSize: P,
      patchContext: K,
      hiddenChannels: hidden,
      refine: { ...cfg.refine },
      refineBatch: batch,
    }),
    matte,
    close: async () => {
      if (closed) return;
      closed = true;
      await model.base.release();
      await model.refiner.release();
    },
  };
}
