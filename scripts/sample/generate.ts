/**
 * CLI: writes the synthetic ghost-mannequin sample session.
 *
 *   node --import tsx scripts/sample/generate.ts [--out DIR] [--seed N] [--width W --height H]
 *
 * Defaults: --out test/fixtures/sample-session (from the repository root),
 * --seed 20240514, 1200x1800. Writes plate.jpg, shot-01..04.jpg,
 * gt/shot-NN.alpha.png and README.md.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { DEFAULT_HEIGHT, DEFAULT_SEED, DEFAULT_WIDTH, renderSession } from './session.js';

/** Parsed command line of the generator. */
export interface GenerateArgs {
  out: string;
  seed: number;
  width: number;
  height: number;
}

/** The repository root: the nearest folder above this file with a package.json. */
function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const up = path.dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

/** Parses `--out DIR --seed N --width W --height H` (throws a one-line error on bad input). */
export function parseArgs(argv: readonly string[], root = repoRoot()): GenerateArgs {
  const args: GenerateArgs = { out: path.join(root, 'test/fixtures/sample-session'), seed: DEFAULT_SEED, width: DEFAULT_WIDTH, height: DEFAULT_HEIGHT };
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min) throw new Error(`${flag} needs an integer >= ${min}, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    switch (a) {
      case '--out':
        if (!v) throw new Error('--out needs a folder');
        args.out = path.resolve(v);
        i++;
        break;
      case '--seed':
        args.seed = int(a, v, 0);
        i++;
        break;
      case '--width':
        args.width = int(a, v, 16);
        i++;
        break;
      case '--height':
        args.height = int(a, v, 16);
        i++;
        break;
      case '-h':
      case '--help':
        throw new Error('usage: generate.ts [--out DIR] [--seed N] [--width W --height H]');
      default:
        throw new Error(`unknown argument ${a}`);
    }
  }
  return args;
}

async function main(): Promise<void> {
  sharp.cache(false);
  const root = repoRoot();
  const args = parseArgs(process.argv.slice(2), root);
  const rel = path.relative(root, args.out) || '.';
  const outArg = rel.startsWith('..') ? args.out : rel;
  const t0 = performance.now();
  const res = await renderSession({
    outDir: args.out,
    seed: args.seed,
    width: args.width,
    height: args.height,
    readme: true,
    command: `node --import tsx scripts/sample/generate.ts --out ${outArg} --seed ${args.seed} --width ${args.width} --height ${args.height}`,
  });
  const kb = (n: number | undefined): string => `${((n ?? 0) / 1024).toFixed(0)} KiB`;
  console.log(`${path.relative(root, res.plate.path)}  ${kb(res.plate.bytes)}`);
  for (const s of res.shots) console.log(`${path.relative(root, s.path)}  ${kb(s.bytes)}  (alpha ${kb(s.alphaBytes)})`);
  console.log(`timings ms: ${JSON.stringify(res.timings)}  total ${Math.round(performance.now() - t0)}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(`generate: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  });
}
