/**
 * Public surface of the evaluation harness behind `cleanplate eval DATA_DIR`.
 */
export {
  evaluate,
  engineLabel,
  summarize,
  type EvaluateOptions,
  type EvalEngine,
  type LabelledEngine,
  type EvalReport,
  type EvalResult,
  type EvalScores,
  type EvalSummary,
  type EvalCase,
  type EvalItemInfo,
  type EvalEngineInfo,
} from './evaluate.js';
export { formatTable } from './table.js';
export { createNaiveKeyEngine, naiveKeyAlpha, NAIVE_KEY_LABEL, type NaiveKeyOptions } from './naive.js';
export { CONDITION_NAMES, type ConditionName, type PerturbationParams } from './synth.js';
