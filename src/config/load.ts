/**
 * Reads a YAML config file, validates it against the schema and resolves its
 * folder paths relative to the file. Every problem is reported at once, each
 * with its path in the file and, where the key exists, its line.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { CleanplateError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { configSchema, type Config } from './schema.js';

/** One validation problem: `where` like "shares[0].inbox (line 4)". */
export interface ConfigProblem {
  where: string;
  message: string;
}

/** Thrown when a config file is invalid; `problems` lists every issue found. */
export class ConfigError extends CleanplateError {
  readonly problems: ConfigProblem[];
  constructor(file: string, problems: ConfigProblem[]) {
    const list = problems.map((p) => `${p.where}: ${p.message}`).join('; ');
    super('config', `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}: ${list}`);
    this.problems = problems;
  }
}

/** Formats a schema path as the user wrote it: `shares[0].inbox`. */
export function formatPath(p: readonly PropertyKey[]): string {
  return p.reduce<string>((s, k) => (typeof k === 'number' ? `${s}[${k}]` : s ? `${s}.${String(k)}` : String(k)), '') || '(top level)';
}

/**
 * Parses and validates config text. Relative paths in the result are left as
 * written; `loadConfig` resolves them.
 * @param text YAML source
 * @param file name used in error messages
 * @throws ConfigError listing every problem
 */
export function parseConfig(text: string, file: string): Config {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({ where: `line ${lineCounter.linePos(e.pos[0]).line}`, message: e.message.split('\n')[0] })),
    );
  }
  const result = configSchema.safeParse(doc.toJS() ?? {});
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    // Point at the deepest part of the path that exists in the file.
    let line: number | undefined;
    for (let n = issue.path.length; n >= 0 && line === undefined; n--) {
      const node = doc.getIn(issue.path.slice(0, n), true) as { range?: [number, number, number] } | undefined;
      if (node && Array.isArray(node.range)) line = lineCounter.linePos(node.range[0]).line;
    }
    const where = formatPath(issue.path) + (line !== undefined ? ` (line ${line})` : '');
    return { where, message: issue.message };
  });
  throw new ConfigError(file, problems);
}

/**
 * A relative model folder is looked up beside the config file first, then in
 * cleanplate's own install folder (where the shipped model lives).
 */
export function resolveModelDir(modelDir: string, baseDir: string): string {
  const beside = path.resolve(baseDir, modelDir);
  if (path.isAbsolute(modelDir) || existsSync(beside)) return beside;
  return path.resolve(packageRoot(), modelDir);
}

/** Resolves every path option against `baseDir` (the config file's folder). */
export function resolvePaths(config: Config, baseDir: string): Config {
  const r = (p: string) => path.resolve(baseDir, p);
  return {
    ...config,
    catalog: { ...config.catalog, path: r(config.catalog.path) },
    shares: config.shares.map((s) => ({ ...s, inbox: r(s.inbox), output: r(s.output), failed: r(s.failed), archive: r(s.archive) })),
    engine: { ...config.engine, neural: { ...config.engine.neural, modelDir: resolveModelDir(config.engine.neural.modelDir, baseDir) } },
    logging: { ...config.logging, dir: r(config.logging.dir) },
    notify: { ...config.notify, fileDir: r(config.notify.fileDir) },
  };
}

/**
 * Loads a config file: read, parse, validate, resolve paths relative to the
 * file's folder.
 * @throws CleanplateError('missing') when the file cannot be read, ConfigError when invalid
 */
export async function loadConfig(file: string): Promise<Config> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new CleanplateError('missing', `config file ${file} cannot be read: ${(err as Error).message}`, { cause: err });
  }
  return resolvePaths(parseConfig(text, file), path.dirname(path.resolve(file)));
}
