/**
 * `cleanplate` command line: start | matte | status | retry | doctor | eval | init-config.
 * Every user error ends as one line on stderr and a non-zero exit status
 * (1: the command failed, 2: bad usage).
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { writeFileExact } from '../deliver/atomic.js';
import { CleanplateError } from '../errors.js';

const USAGE = `usage: cleanplate <command> [options]

commands:
  start --config FILE              run the hot-folder daemon (SIGTERM/SIGINT stop it cleanly)
  matte SHOT PLATE -o OUT.png      matte one pair; [--alpha ALPHA.png] [--engine classical|neural] [--config FILE]
  status --config FILE             sessions, jobs, failures and the email outbox
  retry SESSION|JOB --config FILE  re-queue failed jobs of a session (name) or one job (number)
  doctor --config FILE             check config, folders, catalog, engine and SMTP
  eval DATA_DIR                    score the engines on ground-truth composites; [--engines classical,neural,naive-key]
                                   [--conditions noise,exposure,...] [--items a,b] [--json FILE] [--save-dir DIR] [--config FILE]
  init-config [FILE]               write a commented example config (to stdout without FILE)
`;

/** A usage error (exit status 2). */
export class UsageError extends Error {}

/** Parses `args` for a command with the given options (strict: unknown options are errors). */
export function parse<T extends Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Runs the CLI; returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    // Each command loads only its own modules (\`matte\` starts without the daemon's).
    switch (command) {
      case 'start':
        return await (await import('./daemon-commands.js')).cmdStart(rest);
      case 'matte':
        return await (await import('./matte.js')).cmdMatte(rest);
      case 'status':
        return await (await import('./daemon-commands.js')).cmdStatus(rest);
      case 'retry':
        return await (await import('./daemon-commands.js')).cmdRetry(rest);
      case 'doctor':
        return await (await import('./doctor.js')).cmdDoctor(rest);
      case 'eval':
        return await (await import('./eval.js')).cmdEval(rest);
      case 'init-config':
        return await (await import('./daemon-commands.js')).cmdInitConfig(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${command}'`);
    }
  } catch (err) {
    return reportError(err);
  }
}

/** Prints an error as one line (config errors list every problem on that line) and returns the exit status. */
export function reportError(err: unknown): number {
  if (err instanceof UsageError) {
    process.stderr.write(`cleanplate: ${err.message}\n${USAGE}`);
    return 2;
  }
  if (err instanceof CleanplateError) {
    process.stderr.write(`cleanplate: error: ${err.message}\n`);
    return 1;
  }
  const e = err as Error;
  process.stderr.write(`cleanplate: internal error: ${e?.message ?? String(err)}\n`);
  if (process.env.CLEANPLATE_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  return 1;
}

/** Requires `--config FILE` and that it exists. */
export function requireConfigPath(value: string | undefined): string {
  if (!value) throw new UsageError('--config FILE is required');
  if (!existsSync(value)) throw new CleanplateError('missing', `config file ${value} does not exist (create one with: cleanplate init-config ${value})`);
  return path.resolve(value);
}

/** Refuses to overwrite an existing file (outputs are never overwritten). */
export async function assertAbsent(file: string): Promise<void> {
  if (existsSync(file)) throw new CleanplateError('unwritable', `${file} already exists; cleanplate never overwrites files`);
  await fs.mkdir(path.dirname(path.resolve(file)), { recursive: true });
}

/** Writes a new file atomically; fails (one line) if it appeared meanwhile. */
export async function writeNew(file: string, data: Buffer | string): Promise<void> {
  if (!(await writeFileExact(path.resolve(file), data))) {
    throw new CleanplateError('unwritable', `${file} already exists; cleanplate never overwrites files`);
  }
}
