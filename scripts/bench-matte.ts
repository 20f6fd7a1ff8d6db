/**
 * Benchmark: a synthetic 30 MP (4480x6720) shot+plate pair through
 * `bin/cleanplate matte`, end to end (decode, matte, post-process, encode,
 * write), as a separate process. Reports wall time and peak RSS (VmHWM from
 * /proc, Linux) per engine. Not a test: numbers go into docs/benchmarks.md
 * with the machine named.
 *
 *   npm run bench -- [--engines classical,neural] [--width 4480 --height 6720] [--runs 1] [--config FILE]
 *     [--shift DX,DY]
 *
 * --shift moves the camera between plate and shot by DX,DY pixels, so the
 * plate has to be aligned and warped (a locked camera nudged between frames);
 * without it the pair is aligned and the warp is skipped.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { renderSession } from './sample/index.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function peakRssMb(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function runOnce(args: string[]): Promise<{ seconds: number; peakMb: number; out: string }> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [path.join(root, 'bin', 'cleanplate'), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, MALLOC_ARENA_MAX: '2' },
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  let peak = 0;
  const timer = setInterval(() => {
    const v = peakRssMb(child.pid!);
    if (v !== undefined) peak = Math.max(peak, v);
  }, 20);
  const code = await new Promise<number | null>((r) => child.on('exit', r));
  clearInterval(timer);
  if (code !== 0) throw new Error(`matte failed (${code}): ${out}`);
  return { seconds: (performance.now() - t0) / 1000, peakMb: peak, out: out.trim() };
}

/** "DX,DY" (pixels, may be fractional or negative) to a shift; throws on anything else. */
function parseShift(text: string): { dx: number; dy: number } {
  const m = /^(-?\d+(?:\.\d+)?),(-?\d+(?:\.\d+)?)$/.exec(text);
  if (!m) throw new Error(`--shift must be DX,DY in pixels, e.g. 4,-2 (got '${text}')`);
  return { dx: Number(m[1]), dy: Number(m[2]) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      engines: { type: 'string', default: 'classical,neural' },
      width: { type: 'string', default: '4480' },
      height: { type: 'string', default: '6720' },
      runs: { type: 'string', default: '1' },
      config: { type: 'string' },
      shift: { type: 'string' },
    },
  });
  const shift = values.shift === undefined ? undefined : parseShift(values.shift);
  const width = Number(values.width);
  const height = Number(values.height);
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'cp-bench-'));
  const t0 = performance.now();
  const session = await renderSession({ outDir: dir, width, height, seed: 7, shots: [{ kind: 'knit', shift }], groundTruth: false });
  console.log(`synthetic ${width}x${height} pair${shift ? ` (camera shift ${shift.dx},${shift.dy} px)` : ''} generated in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  console.log(`machine: ${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  console.log('| engine | run | wall s | peak RSS MB | stages |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const engine of values.engines.split(',')) {
    for (let r = 1; r <= Number(values.runs); r++) {
      const out = path.join(dir, `${engine}-${r}.png`);
      const config = values.config ? ['--config', path.resolve(values.config)] : [];
      const res = await runOnce(['matte', session.shots[0].path, session.plate.path, '-o', out, '--engine', engine, ...config]);
      const stages = /\((.*)\)/.exec(res.out)?.[1] ?? res.out;
      console.log(`| ${engine} | ${r} | ${res.seconds.toFixed(2)} | ${res.peakMb.toFixed(0)} | ${stages} |`);
    }
  }
  await fs.rm(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(`bench: ${(err as Error).message}`);
  process.exit(1);
});
