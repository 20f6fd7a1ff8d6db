/**
 * `cleanplate eval DATA_DIR`: scores matting engines on composites with exact
 * ground truth. For every item of `DATA_DIR/gt/` a seeded background is cut
 * from one of the `DATA_DIR/pairs/<pair>/plate.*` photos (flat-colour ones
 * skipped, see `isFlatPhoto`; the same background
 * for every condition of that item), each condition synthesises a shot/plate
 * pair from it (./synth.ts), every engine mattes the pair, and SAD / MSE /
 * Grad / Conn are computed over the whole frame (plus MSE over the trimap's
 * unknown band when the item has a trimap). Engines are used, not closed:
 * the caller owns them.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { MattingEngine } from '../engine/types.js';
import type { AlphaImage, RgbImage } from '../image/types.js';
import { CleanplateError, toCleanplateError } from '../errors.js';
import { alphaToFloat, connectivityError, gradientError, mse, sad, trimapUnknownMask } from '../metrics/matting.js';
import { createRng } from './rng.js';
import {
  cutBackground,
  decodeRgb,
  findGtItems,
  findPlates,
  isFlatPhoto,
  loadGtItem,
  type BackgroundInfo,
  type PlateRef,
} from './data.js';
import { backgroundMargin, CONDITION_NAMES, synthesizePair, type ConditionName, type PerturbationParams } from './synth.js';

/** An engine with the label it gets in the report (engine names are a closed union; labels are free). */
export interface LabelledEngine {
  label: string;
  engine: MattingEngine;
}

/**
 * An engine to evaluate. A bare engine is labelled `describe().label` when
 * that is a string (e.g. `'naive-key'`), else its `name`.
 */
export type EvalEngine = MattingEngine | LabelledEngine;

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Folder with `gt/` and `pairs/` (layout: `src/eval/data.ts`). */
  dataDir: string;
  engines: EvalEngine[];
  /** Item names (folders under `gt/`) to use; default all scorable items. */
  items?: string[];
  /** Conditions to run; default all of {@link CONDITION_NAMES}. */
  conditions?: ConditionName[];
  /** Seed of every random choice (default 1). Same seed, same data, same engines: same numbers. */
  seed?: number;
  /** Downscale items whose long side exceeds this (pixels) before compositing. */
  maxLongSide?: number;
  /**
   * When set, writes `<saveDir>/<condition>/<item>/{shot,plate,gt,<engine label>}.png`
   * for looking at the results.
   */
  saveDir?: string;
  /** Called with one human-readable line per step. */
  onProgress?: (msg: string) => void;
}

/** Errors of one prediction (literature units: SAD, Grad, Conn divided by 1000; MSE raw). */
export interface EvalScores {
  sad: number;
  mse: number;
  grad: number;
  conn: number;
  /** MSE over the trimap's unknown band; null when the item has no trimap (or an empty band). */
  mseUnknown: number | null;
}

/** One engine on one item under one condition. */
export interface EvalResult {
  item: string;
  condition: ConditionName;
  engine: string;
  /** Null when the engine failed (see `error`). */
  scores: EvalScores | null;
  /** Wall time of `engine.matte`, milliseconds; null when it failed. */
  timeMs: number | null;
  warnings: string[];
  error: string | null;
}

/** How one item was composited under one condition. */
export interface EvalCase {
  item: string;
  condition: ConditionName;
  params: PerturbationParams;
}

/** An evaluated item. */
export interface EvalItemInfo {
  name: string;
  width: number;
  height: number;
  hasTrimap: boolean;
  background: BackgroundInfo;
}

/** An evaluated engine. */
export interface EvalEngineInfo {
  label: string;
  name: string;
  description: Record<string, unknown>;
}

/** Means of one engine under one condition over the items it did not fail on. */
export interface EvalSummary {
  condition: ConditionName;
  engine: string;
  /** Items scored. */
  n: number;
  /** Items on which the engine threw or returned a wrong-size matte. */
  failed: number;
  /** Means; null when n = 0. */
  sad: number | null;
  mse: number | null;
  grad: number | null;
  conn: number | null;
  /** Mean over the scored items that have a trimap; null when none. */
  mseUnknown: number | null;
  timeMs: number | null;
}

/** Everything `cleanplate eval` measured; plain data, `JSON.stringify`-safe. */
export interface EvalReport {
  schema: 'cleanplate-eval/1';
  createdAt: string;
  dataDir: string;
  seed: number;
  maxLongSide: number | null;
  conditions: ConditionName[];
  items: EvalItemInfo[];
  engines: EvalEngineInfo[];
  cases: EvalCase[];
  results: EvalResult[];
  summary: EvalSummary[];
}

/** The label an engine gets in reports (see {@link EvalEngine}). */
export function engineLabel(e: EvalEngine): string {
  if ('engine' in e) return e.label;
  const label = e.describe().label;
  return typeof label === 'string' && label.length > 0 ? label : e.name;
}

function unwrap(e: EvalEngine): MattingEngine {
  return 'engine' in e ? e.engine : e;
}

function jsonSafe(value: Record<string, unknown>): Record<string, unknown> {
  try {
    return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
  } catch {
    return { unserialisable: true };
  }
}

function safeFileName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_');
}

async function savePng(file: string, img: RgbImage | AlphaImage, channels: 1 | 3): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await sharp(img.data, { raw: { width: img.width, height: img.height, channels } }).png().toFile(file);
}

function mean(values: number[]): number | null {
  if (values.length === 0) return null;
  let s = 0;
  for (const v of values) s += v;
  return s / values.length;
}

/** Per-condition, per-engine means of a result list, in condition then engine order. */
export function summarize(results: EvalResult[], conditions: ConditionName[], engines: string[]): EvalSummary[] {
  const out: EvalSummary[] = [];
  for (const condition of conditions) {
    for (const engine of engines) {
      const rows = results.filter((r) => r.condition === condition && r.engine === engine);
      const ok = rows.filter((r) => r.scores !== null);
      const scores = ok.map((r) => r.scores as EvalScores);
      out.push({
        condition,
        engine,
        n: ok.length,
        failed: rows.length - ok.length,
        sad: mean(scores.map((s) => s.sad)),
        mse: mean(scores.map((s) => s.mse)),
        grad: mean(scores.map((s) => s.grad)),
        conn: mean(scores.map((s) => s.conn)),
        mseUnknown: mean(scores.filter((s) => s.mseUnknown !== null).map((s) => s.mseUnknown as number)),
        timeMs: mean(ok.map((r) => r.timeMs as number)),
      });
    }
  }
  return out;
}

/**
 * Runs every engine on every item under every condition and returns the
 * report. Throws `missing` when the data folder has no scorable item or no
 * plate photo, `config` for an unknown condition or duplicate engine labels;
 * an engine failing on one case is recorded in that result, not thrown.
 */
export async function evaluate(opts: EvaluateOptions): Promise<EvalReport> {
  const seed = opts.seed ?? 1;
  const conditions = opts.conditions ?? [...CONDITION_NAMES];
  const progress = opts.onProgress ?? (() => {});
  for (const c of conditions) {
    if (!(CONDITION_NAMES as readonly string[]).includes(c)) {
      throw new CleanplateError('config', `eval: unknown condition "${c}" (known: ${CONDITION_NAMES.join(', ')})`);
    }
  }
  if (opts.maxLongSide !== undefined && !(Number.isInteger(opts.maxLongSide) && opts.maxLongSide >= 16)) {
    throw new CleanplateError('config', `eval: maxLongSide must be an integer >= 16, got ${opts.maxLongSide}`);
  }
  if (opts.engines.length === 0) throw new CleanplateError('config', 'eval: no engine to evaluate');
  const labels = opts.engines.map(engineLabel);
  const dup = labels.find((l, i) => labels.indexOf(l) !== i);
  if (dup !== undefined) throw new CleanplateError('config', `eval: two engines share the label "${dup}"`);

  const itemRefs = await findGtItems(opts.dataDir, opts.items);
  if (itemRefs.length === 0) {
    throw new CleanplateError('missing', `eval: no gt/<item>/ with image.png and alpha.png under ${opts.dataDir}`);
  }
  const plateRefs: PlateRef[] = [];
  for (const ref of await findPlates(opts.dataDir)) {
    if (await isFlatPhoto(ref.path)) progress(`plate ${ref.name}: flat colour, not used as a background`);
    else plateRefs.push(ref);
  }
  if (plateRefs.length === 0) {
    throw new CleanplateError('missing', `eval: no textured pairs/<pair>/plate.* photo under ${opts.dataDir}`);
  }
  const plateCache = new Map<string, RgbImage>();
  const plateImage = async (i: number): Promise<RgbImage> => {
    const ref = plateRefs[i];
    let img = plateCache.get(ref.path);
    if (!img) {
      img = await decodeRgb(ref.path);
      plateCache.set(ref.path, img);
    }
    return img;
  };

  const items: EvalItemInfo[] = [];
  const cases: EvalCase[] = [];
  const results: EvalResult[] = [];
  const total = itemRefs.length * conditions.length * opts.engines.length;
  let done = 0;

  for (const ref of itemRefs) {
    const item = await loadGtItem(ref, opts.maxLongSide);
    const { width: w, height: h } = item.image;
    const margin = backgroundMargin(w, h);
    const bgRng = createRng(seed, 'background', item.name);
    const plateIndex = bgRng.int(plateRefs.length);
    const bg = await cutBackground(await plateImage(plateIndex), plateRefs[plateIndex].name, w + 2 * margin, h + 2 * margin, bgRng);
    const unknown = item.trimap ? trimapUnknownMask(item.trimap) : undefined;
    const gt = alphaToFloat(item.alpha);
    items.push({ name: item.name, width: w, height: h, hasTrimap: item.trimap !== undefined, background: bg.info });
    progress(`item ${item.name} ${w}x${h}, background ${bg.info.plate}`);

    for (const condition of conditions) {
      const pair = await synthesizePair(
        { image: item.image, alpha: item.alpha, background: bg.image, margin },
        condition,
        {
          params: createRng(seed, 'params', item.name, condition),
          shotNoise: createRng(seed, 'shot-noise', item.name, condition),
          plateNoise: createRng(seed, 'plate-noise', item.name, condition),
        },
      );
      cases.push({ item: item.name, condition, params: pair.params });
      const saveBase = opts.saveDir
        ? path.join(opts.saveDir, safeFileName(condition), safeFileName(item.name))
        : undefined;
      if (saveBase) {
        try {
          await savePng(path.join(saveBase, 'shot.png'), pair.shot, 3);
          await savePng(path.join(saveBase, 'plate.png'), pair.plate, 3);
          await savePng(path.join(saveBase, 'gt.png'), item.alpha, 1);
        } catch (err) {
          throw toCleanplateError(err, `eval: writing ${saveBase}`);
        }
      }

      for (let e = 0; e < opts.engines.length; e++) {
        const label = labels[e];
        const engine = unwrap(opts.engines[e]);
        const result: EvalResult = {
          item: item.name,
          condition,
          engine: label,
          scores: null,
          timeMs: null,
          warnings: [],
          error: null,
        };
        try {
          const t0 = performance.now();
          const out = await engine.matte({ shot: pair.shot, plate: pair.plate });
          const timeMs = performance.now() - t0;
          result.warnings = [...out.warnings];
          const a = out.alpha;
          if (a.width !== w || a.height !== h || a.data.length !== w * h) {
            throw new CleanplateError('size-mismatch', `matte is ${a.width}x${a.height}, expected ${w}x${h}`);
          }
          const pred = alphaToFloat(a);
          const mu = unknown ? mse(pred, gt, unknown) : Number.NaN;
          result.scores = {
            sad: sad(pred, gt),
            mse: mse(pred, gt),
            grad: gradientError(pred, gt, w, h),
            conn: connectivityError(pred, gt, w, h),
            mseUnknown: Number.isFinite(mu) ? mu : null,
          };
          result.timeMs = Math.round(timeMs * 100) / 100;
          if (saveBase) {
            try {
              await savePng(path.join(saveBase, `${safeFileName(label)}.png`), a, 1);
            } catch (err) {
              throw toCleanplateError(err, `eval: writing ${saveBase}`);
            }
          }
        } catch (err) {
          if (err instanceof CleanplateError && (err.code === 'unwritable' || err.code === 'disk-full')) throw err;
          result.scores = null;
          result.timeMs = null;
          result.error = err instanceof Error ? err.message : String(err);
        }
        results.push(result);
        done++;
        const s = result.scores;
        progress(
          `[${done}/${total}] ${item.name} ${condition} ${label}: ` +
            (s
              ? `SAD ${s.sad.toFixed(3)} MSE ${(s.mse * 1000).toFixed(3)}e-3 Grad ${s.grad.toFixed(3)} Conn ${s.conn.toFixed(3)} ${result.timeMs} ms`
              : `failed: ${result.error}`),
        );
      }
    }
  }

  return {
    schema: 'cleanplate-eval/1',
    createdAt: new Date().toISOString(),
    dataDir: path.resolve(opts.dataDir),
    seed,
    maxLongSide: opts.maxLongSide ?? null,
    conditions,
    items,
    engines: opts.engines.map((e, i) => ({
      label: labels[i],
      name: unwrap(e).name,
      description: jsonSafe(unwrap(e).describe()),
    })),
    cases,
    results,
    summary: summarize(results, conditions, labels),
  };
}
