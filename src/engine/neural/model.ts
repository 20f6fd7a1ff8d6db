/**
 * Loading a cleanplate-bgm/1 model folder (docs/neural-contract.md): model.json validation, execution-provider
 * choice (CPU / CUDA) and the two ONNX Runtime sessions (base, refiner).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-node';
import { CleanplateError } from '../../errors.js';
import { keepOrtTelemetryOff } from './telemetry.js';

/** The only model.json format this build reads. */
export const MODEL_FORMAT = 'cleanplate-bgm/1';

/** The fields of model.json the engine uses (the rest, e.g. `training`, is kept as-is in `raw`). */
export interface ModelInfo {
  format: typeof MODEL_FORMAT;
  version: string;
  hiddenChannels: number;
  patchSize: number;
  patchContext: number;
  baseMultiple: number;
  trainedBaseLongSide: number | null;
  opset: number | null;
  created: string | null;
  raw: Record<string, unknown>;
}

/** Execution provider actually used by the sessions. */
export type Provider = 'cpu' | 'cuda';

/** Strips ANSI colour codes and keeps the first line of an ONNX Runtime error, at most 300 characters. */
export function ortMessage(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const clean = text.replace(/\u001b\[[0-9;]*m/g, '').trim();
  const first = clean.split('\n').find((l) => l.trim() !== '') ?? clean;
  return first.length > 300 ? `${first.slice(0, 297)}...` : first;
}

/**
 * Parses and validates model.json text. Throws CleanplateError('engine') with a one-line message
 * naming `where` (the file) on invalid JSON, a wrong format or a bad field.
 */
export function parseModelJson(text: string, where: string): ModelInfo {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new CleanplateError('engine', `${where} is not valid JSON: ${ortMessage(err)}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new CleanplateError('engine', `${where} must hold a JSON object`);
  }
  const o = raw as Record<string, unknown>;
  if (o.format !== MODEL_FORMAT) {
    throw new CleanplateError('engine', `${where} has format ${JSON.stringify(o.format)}, expected "${MODEL_FORMAT}"`);
  }
  const int = (key: string, min: number, fallback?: number): number => {
    const v = o[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new CleanplateError('engine', `${where}: "${key}" must be an integer >= ${min} (got ${JSON.stringify(o[key])})`);
    }
    return v;
  };
  const optInt = (key: string): number | null => (o[key] === undefined || o[key] === null ? null : int(key, 1));
  if (typeof o.version !== 'string' || o.version === '') {
    throw new CleanplateError('engine', `${where}: "version" must be a non-empty string`);
  }
  return {
    format: MODEL_FORMAT,
    version: o.version,
    hiddenChannels: int('hiddenChannels', 1),
    patchSize: int('patchSize', 1),
    patchContext: int('patchContext', 0),
    baseMultiple: int('baseMultiple', 1),
    trainedBaseLongSide: optInt('trainedBaseLongSide'),
    opset: optInt('opset'),
    created: typeof o.created === 'string' ? o.created : null,
    raw: o,
  };
}

/** Whether this onnxruntime-node install can run CUDA, and why not. */
export interface CudaProbe {
  available: boolean;
  /** Why CUDA cannot be used (empty when available). */
  reason: string;
}

/**
 * Cheap check, before any session is created, of whether onnxruntime-node has a CUDA provider:
 * the binding must list a `cuda` backend and, when it is not bundled (the npm package downloads it
 * only with `--onnxruntime-node-install=cuda12`), its provider library must sit next to the binding.
 */
export function probeCuda(): CudaProbe {
  let backends: { name: string; bundled: boolean }[];
  try {
    backends = ort.listSupportedBackends();
  } catch (err) {
    return { available: false, reason: `listSupportedBackends failed: ${ortMessage(err)}` };
  }
  const cuda = backends.find((b) => b.name === 'cuda');
  if (!cuda) return { available: false, reason: 'this onnxruntime-node build lists no cuda backend' };
  if (cuda.bundled) return { available: true, reason: '' };
  const lib =
    process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : `libonnxruntime_providers_cuda.so`;
  let dir: string;
  try {
    const main = createRequire(import.meta.url).resolve('onnxruntime-node');
    dir = path.join(path.dirname(main), '..', 'bin', 'napi-v6', process.platform, process.arch);
  } catch {
    return { available: true, reason: '' }; // unknown layout: let session creation decide
  }
  if (!fs.existsSync(path.join(dir, lib))) {
    return {
      available: false,
      reason: `${lib} is not installed in ${dir} (install onnxruntime-node with ONNXRUNTIME_NODE_INSTALL=cuda12 on a machine with CUDA 12 and cuDNN 9)`,
    };
  }
  return { available: true, reason: '' };
}

/**
 * Session options shared by base and refiner. Thread-pool spinning is off: between refiner batches
 * the main thread extracts windows, and spinning ORT workers would steal its cores (measured on the
 * 2-core dev box: window extraction ~40% faster, inference itself no slower). ONNX Runtime's own
 * log goes straight to stderr, past the daemon's logger: only its errors are let through (graph
 * optimisation notices, e.g. one line per folded constant of a quantized model, are not).
 */
export function sessionOptions(provider: Provider, threads: number): InferenceSession.SessionOptions {
  return {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
    enableCpuMemArena: false,
    intraOpNumThreads: threads > 0 ? threads : Math.max(1, os.availableParallelism()),
    interOpNumThreads: 1,
    executionMode: 'sequential',
    logSeverityLevel: 3,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

/** A loaded model: its description and its two sessions. */
export interface LoadedModel {
  dir: string;
  info: ModelInfo;
  provider: Provider;
  threads: number;
  base: InferenceSession;
  refiner: InferenceSession;
  /** Why CUDA was not used (null when it is, or when CPU was asked for). */
  cudaUnavailable: string | null;
}

/** Reads and validates `dir/model.json` and checks that base.onnx and refiner.onnx exist. */
export function readModelDir(dir: string): ModelInfo {
  let stat: fs.Stats;
  try {
    stat = fs.statSync(dir);
  } catch {
    throw new CleanplateError('engine', `neural model folder not found: ${dir} (engine.neural.modelDir)`);
  }
  if (!stat.isDirectory()) throw new CleanplateError('engine', `engine.neural.modelDir is not a folder: ${dir}`);
  const jsonPath = path.join(dir, 'model.json');
  let text: string;
  try {
    text = fs.readFileSync(jsonPath, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CleanplateError(
      'engine',
      code === 'ENOENT' ? `neural model folder ${dir} has no model.json` : `cannot read ${jsonPath}: ${ortMessage(err)}`,
    );
  }
  const info = parseModelJson(text, jsonPath);
  for (const f of ['base.onnx', 'refiner.onnx']) {
    if (!fs.existsSync(path.join(dir, f))) throw new CleanplateError('engine', `neural model folder ${dir} has no ${f}`);
  }
  return info;
}

function checkIo(s: InferenceSession, file: string, inputs: string[], outputs: string[]): void {
  for (const n of inputs) {
    if (!s.inputNames.includes(n)) {
      throw new CleanplateError('engine', `${file} does not follow ${MODEL_FORMAT}: no input "${n}" (has ${s.inputNames.join(', ')})`);
    }
  }
  for (const n of outputs) {
    if (!s.outputNames.includes(n)) {
      throw new CleanplateError('engine', `${file} does not follow ${MODEL_FORMAT}: no output "${n}" (has ${s.outputNames.join(', ')})`);
    }
  }
}

/** The static size of dimension `axis` of input `name`, or null when dynamic/unknown. */
function staticDim(s: InferenceSession, name: string, axis: number): number | null {
  const m = s.inputMetadata.find((x) => x.name === name);
  if (!m || !m.isTensor) return null;
  const d = m.shape[axis];
  return typeof d === 'number' ? d : null;
}

async function createSessions(dir: string, info: ModelInfo, provider: Provider, threads: number) {
  keepOrtTelemetryOff();
  const opts = sessionOptions(provider, threads);
  const open = async (file: string): Promise<InferenceSession> => {
    try {
      return await ort.InferenceSession.create(path.join(dir, file), opts);
    } catch (err) {
      throw new CleanplateError('engine', `cannot load ${path.join(dir, file)} (${provider}): ${ortMessage(err)}`, { cause: err });
    }
  };
  const base = await open('base.onnx');
  let refiner: InferenceSession;
  try {
    refiner = await open('refiner.onnx');
  } catch (err) {
    await base.release();
    throw err;
  }
  try {
    checkIo(base, path.join(dir, 'base.onnx'), ['shot', 'plate'], ['alpha', 'fgr_res', 'error', 'hidden']);
    checkIo(refiner, path.join(dir, 'refiner.onnx'), ['patches'], ['alpha', 'fgr_res']);
    const ch = staticDim(refiner, 'patches', 1);
    const want = 10 + info.hiddenChannels;
    if (ch !== null && ch !== want) {
      throw new CleanplateError(
        'engine',
        `${path.join(dir, 'refiner.onnx')} takes ${ch} channels but model.json hiddenChannels ${info.hiddenChannels} implies ${want}`,
      );
    }
  } catch (err) {
    await base.release();
    await refiner.release();
    throw err;
  }
  return { base, refiner };
}

/**
 * Loads a model folder with the configured execution provider:
 * cpu: CPU only; cuda: CUDA or a CleanplateError('config'); auto: CUDA when onnxruntime-node has
 * it and the sessions open with it, else CPU (the reason is returned in `cudaUnavailable`).
 */
export async function loadModel(dir: string, executionProvider: 'auto' | 'cpu' | 'cuda', threads: number): Promise<LoadedModel> {
  const info = readModelDir(dir);
  const nThreads = threads > 0 ? threads : Math.max(1, os.availableParallelism());
  if (executionProvider === 'cpu') {
    return { dir, info, provider: 'cpu', threads: nThreads, cudaUnavailable: null, ...(await createSessions(dir, info, 'cpu', threads)) };
  }
  const probe = probeCuda();
  let reason = probe.reason;
  if (probe.available) {
    try {
      return { dir, info, provider: 'cuda', threads: nThreads, cudaUnavailable: null, ...(await createSessions(dir, info, 'cuda', threads)) };
    } catch (err) {
      const m = err instanceof CleanplateError ? err.message : ortMessage(err);
      // A model that does not follow the contract fails the same way on CPU: report it as it is.
      if (err instanceof CleanplateError && !m.startsWith('cannot load ')) throw err;
      reason = m;
    }
  }
  if (executionProvider === 'cuda') {
    throw new CleanplateError('config', `engine.neural.executionProvider is cuda but onnxruntime-node has no CUDA provider: ${reason}`);
  }
  return { dir, info, provider: 'cpu', threads: nThreads, cudaUnavailable: reason, ...(await createSessions(dir, info, 'cpu', threads)) };
}
