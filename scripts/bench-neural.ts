/**
 * Benchmark of the neural engine on a synthetic full-size shot/plate pair (default 4480x6720, 30 MP).
 *
 *   node --import tsx scripts/bench-neural.ts [--model-dir DIR] [--width 4480] [--height 6720]
 *     [--runs 2] [--provider auto|cpu|cuda] [--threads 0] [--base-long-side 512] [--flip-average on|off] [--guided-radius 0]
 *     [--mode budget|threshold] [--budget 0.08] [--threshold 0.1] [--max-patches 0] [--grow-rounds 0] [--grow-max-patches 1024] [--batch 1024]
 *
 * Default model: the tiny random-weight fixture (test/fixtures/bgm-tiny), which measures the engine's
 * own work (resize, upsampling, window extraction, write-back) more than network cost; pass
 * --model-dir models/cleanplate-bgm for the real model. Prints the wall time of each stage per run,
 * the process CPU time and 1-minute load average (wall times on a shared box are inflated by other
 * work), the longest event-loop stall (onnxruntime-node runs inference on the main thread) and the
 * peak RSS.
 */
import path from 'node:path';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { createNeuralEngine } from '../src/engine/neural/index.js';
import type { NeuralConfig } from '../src/config/schema.js';
import type { RgbImage } from '../src/image/types.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const { values: args } = parseArgs({
  options: {
    'model-dir': { type: 'string', default: path.join(repoRoot, 'test/fixtures/bgm-tiny') },
    width: { type: 'string', default: '4480' },
    height: { type: 'string', default: '6720' },
    runs: { type: 'string', default: '2' },
    provider: { type: 'string', default: 'cpu' },
    threads: { type: 'string', default: '0' },
    'base-long-side': { type: 'string', default: '512' },
    'flip-average': { type: 'string', default: 'on' },
    'guided-radius': { type: 'string', default: '0' },
    mode: { type: 'string', default: 'budget' },
    budget: { type: 'string', default: '0.08' },
    threshold: { type: 'string', default: '0.1' },
    'max-patches': { type: 'string', default: '0' },
    'grow-rounds': { type: 'string', default: '0' },
    'grow-max-patches': { type: 'string', default: '1024' },
    batch: { type: 'string', default: '1024' },
  },
});

/** Synthetic pair: a textured gradient plate and a shot with a large soft-edged "garment" and fine stripes. */
function makePair(W: number, H: number): { shot: RgbImage; plate: RgbImage } {
  const plate = new Uint8Array(W * H * 3);
  const shot = new Uint8Array(W * H * 3);
  const cx = W * 0.5;
  const cy = H * 0.5;
  const rx = W * 0.3;
  const ry = H * 0.38;
  let seed = 12345;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const noise = (seed >>> 24) & 7;
      const i = (y * W + x) * 3;
      const pr = 180 + ((x * 40) / W) + noise;
      const pg = 182 + ((y * 30) / H) + noise;
      const pb = 190 + noise;
      plate[i] = pr;
      plate[i + 1] = pg;
      plate[i + 2] = pb;
      const d = Math.hypot((x - cx) / rx, (y - cy) / ry);
      const a = Math.min(1, Math.max(0, (1 - d) * 60));
      const stripe = ((x >> 3) + (y >> 5)) & 1 ? 40 : 0;
      shot[i] = a * (90 + stripe) + (1 - a) * pr;
      shot[i + 1] = a * (40 + stripe) + (1 - a) * pg;
      shot[i + 2] = a * 50 + (1 - a) * pb;
    }
  }
  return { shot: { width: W, height: H, data: shot }, plate: { width: W, height: H, data: plate } };
}

function onOff(v: string): boolean {
  if (v !== 'on' && v !== 'off') throw new Error(`--flip-average must be on or off, got ${v}`);
  return v === 'on';
}

const mb = (kb: number) => `${(kb / 1024).toFixed(0)} MB`;

async function main(): Promise<void> {
  sharp.cache(false);
  const W = Number(args.width);
  const H = Number(args.height);
  const cfg: NeuralConfig = {
    modelDir: String(args['model-dir']),
    executionProvider: args.provider as NeuralConfig['executionProvider'],
    baseLongSide: Number(args['base-long-side']),
    flipAverage: onOff(String(args['flip-average'])),
    guided: { radius: Number(args['guided-radius']), eps: 1e-4 },
    refine: {
      mode: args.mode as 'budget' | 'threshold',
      pixelBudget: Number(args.budget), threshold: Number(args.threshold), maxPatches: Number(args['max-patches']),
      grow: { rounds: Number(args['grow-rounds']), minChange: 0.05, maxPatches: Number(args['grow-max-patches']) },
    },
    threads: Number(args.threads),
  };
  console.log(`machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), node ${process.version}`);
  const t0 = performance.now();
  const engine = await createNeuralEngine(cfg, { repoRoot, refineBatch: Number(args.batch), log: (l, m) => console.log(`[${l}] ${m}`) });
  console.log(`engine loaded in ${(performance.now() - t0).toFixed(0)} ms:`, JSON.stringify(engine.describe()));
  const t1 = performance.now();
  const pair = makePair(W, H);
  console.log(`synthetic ${W}x${H} pair made in ${(performance.now() - t1).toFixed(0)} ms; RSS now ${mb(process.memoryUsage().rss / 1024)}, peak so far ${mb(process.resourceUsage().maxRSS)}`);
  const lag = monitorEventLoopDelay({ resolution: 10 });
  for (let r = 0; r < Number(args.runs); r++) {
    lag.reset();
    lag.enable();
    const t = performance.now();
    const cpu0 = process.cpuUsage();
    const res = await engine.matte(pair);
    const total = performance.now() - t;
    const cpu = process.cpuUsage(cpu0);
    const load = os.loadavg()[0].toFixed(1);
    lag.disable();
    const stages = Object.entries(res.timings)
      .map(([k, v]) => `${k} ${v.toFixed(0)}`)
      .join(', ');
    console.log(
      `run ${r + 1}: total ${total.toFixed(0)} ms (${stages} ms); process CPU ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms; load avg ${load}; patches ${res.diagnostics.patchesRefined}/${res.diagnostics.patchesTotal}; ` +
        `refine split ${JSON.stringify(res.diagnostics.refineSplitMs)}; base ${JSON.stringify(res.diagnostics.baseSize)}; longest event-loop stall ${(lag.max / 1e6).toFixed(0)} ms; ` +
        `peak RSS ${mb(process.resourceUsage().maxRSS)}`,
    );
  }
  await engine.close();
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
