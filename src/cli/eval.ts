/**
 * `cleanplate eval DATA_DIR`: scores the engines on ground-truth composites
 * (src/eval) and prints a table per plate condition; `--json FILE` keeps the
 * full report. Each engine is scored as the daemon runs it: engine +
 * post-processing from the config (or the defaults).
 */
import path from 'node:path';
import sharp from 'sharp';
import type { Config } from '../config/schema.js';
import { createEngine } from '../engine/index.js';
import type { MattingEngine } from '../engine/types.js';
import { CleanplateError } from '../errors.js';
import { CONDITION_NAMES, createNaiveKeyEngine, evaluate, formatTable, type ConditionName, type LabelledEngine } from '../eval/index.js';
import { postProcess } from '../post/index.js';
import { assertAbsent, parse, writeNew, UsageError } from './main.js';
import { renderSettings } from './settings.js';

/** Wraps an engine so its alpha goes through the configured post-processing, as in the daemon. */
export function withPostprocess(engine: MattingEngine, post: Config['postprocess']): MattingEngine {
  return {
    name: engine.name,
    describe: () => engine.describe(),
    close: () => engine.close(),
    matte: async (input) => {
      const r = await engine.matte(input);
      const p = await postProcess({ alpha: r.alpha, shot: input.shot, plate: r.alignedPlate, foreground: r.foreground }, post);
      return { ...r, alpha: p.alpha, foreground: p.foreground };
    },
  };
}

/** Runs `eval`; returns the exit status. */
export async function cmdEval(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    engines: { type: 'string' },
    conditions: { type: 'string' },
    items: { type: 'string' },
    json: { type: 'string' },
    'save-dir': { type: 'string' },
    seed: { type: 'string' },
    config: { type: 'string' },
    quiet: { type: 'boolean' },
  });
  if (positionals.length !== 1) throw new UsageError('eval needs DATA_DIR (a folder with gt/ and pairs/)');
  const names = (values.engines ?? 'naive-key,classical,neural').split(',').map((s) => s.trim());
  for (const n of names) if (!['naive-key', 'classical', 'neural'].includes(n)) throw new UsageError(`unknown engine '${n}'`);
  const conditions = values.conditions?.split(',').map((s) => s.trim()) as ConditionName[] | undefined;
  for (const c of conditions ?? []) if (!CONDITION_NAMES.includes(c)) throw new UsageError(`unknown condition '${c}' (${CONDITION_NAMES.join(', ')})`);
  const seed = values.seed === undefined ? 1 : Number(values.seed);
  if (!Number.isSafeInteger(seed) || seed < 0) throw new UsageError(`--seed must be a whole number >= 0, got '${values.seed}'`);
  if (values.json) await assertAbsent(values.json);
  const settings = await renderSettings(values.config);
  sharp.cache(false);
  const engines: LabelledEngine[] = [];
  try {
    for (const n of names) {
      const engine = n === 'naive-key' ? createNaiveKeyEngine() : withPostprocess(await createEngine(settings.engine, { name: n as 'classical' | 'neural' }), settings.postprocess);
      engines.push({ label: n, engine });
    }
    const report = await evaluate({
      dataDir: path.resolve(positionals[0]),
      engines,
      items: values.items?.split(',').map((s) => s.trim()),
      conditions,
      seed,
      saveDir: values['save-dir'],
      onProgress: values.quiet ? undefined : (m) => process.stderr.write(`${m}\n`),
    });
    if (report.results.length === 0) throw new CleanplateError('missing', `no scorable items in ${positionals[0]}/gt (need image.png + alpha.png)`);
    process.stdout.write(`${formatTable(report)}\n`);
    if (values.json) {
      await writeNew(values.json, `${JSON.stringify(report, null, 2)}\n`);
      process.stdout.write(`report: ${values.json}\n`);
    }
    return 0;
  } finally {
    for (const e of engines) await e.engine.close();
  }
}
