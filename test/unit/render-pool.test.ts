/**
 * The render pool with real worker threads (the compiled build: run from
 * dist/, skipped under tsx): a worker that dies or overruns the render timeout
 * is never given another job, its job is rejected promptly as retryable,
 * exactly one replacement starts, a replacement that cannot start is retried
 * later while the pool works on with fewer workers, and close() stops every
 * thread (a leaked one would keep the process alive).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import { configSchema, type Config } from '../../src/config/schema.js';
import { CleanplateError } from '../../src/errors.js';
import { RenderPool, type RenderPoolOptions } from '../../src/worker/pool.js';
import { tempDir, type AfterHook } from '../helpers/tmp.js';

const workerJs = fileURLToPath(new URL('../../src/worker/render-worker.js', import.meta.url));
const built = existsSync(workerJs);
const skip = built ? false : 'render workers need the compiled build (run from dist/)';

/** The pool's workers, for killing them from outside as a crash would. */
function workersOf(pool: RenderPool): Worker[] {
  return (pool as unknown as { slots: Array<{ worker: Worker }> }).slots.map((s) => s.worker);
}

/** A render config (classical engine, one PNG output) for a temp folder. */
function settingsFor(dir: string): Config {
  return configSchema.parse({
    shares: [{ name: 's', inbox: dir, output: dir, failed: dir, archive: dir }],
    engine: { name: 'classical' },
    outputs: { rgbaPng: true, sidecar: false },
  });
}

/** Writes a plate and a shot (a dark block on a grey gradient) of the given size. */
async function pair(dir: string, name: string, width: number, height: number): Promise<{ shot: string; plate: string }> {
  const raw = (withBlock: boolean): Buffer => {
    const b = Buffer.alloc(width * height * 3);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * 3;
        const inside = withBlock && x > width * 0.3 && x < width * 0.7 && y > height * 0.2 && y < height * 0.8;
        const g = inside ? 40 + ((x * 7 + y * 3) % 50) : 180 + Math.round((40 * y) / height) + ((x * 13 + y * 7) % 5);
        b[i] = g;
        b[i + 1] = inside ? g + 30 : g;
        b[i + 2] = g;
      }
    }
    return b;
  };
  const shot = path.join(dir, `${name}.png`);
  const plate = path.join(dir, `${name}_plate.png`);
  await sharp(raw(true), { raw: { width, height, channels: 3 } }).png({ compressionLevel: 1 }).toFile(shot);
  await sharp(raw(false), { raw: { width, height, channels: 3 } }).png({ compressionLevel: 1 }).toFile(plate);
  return { shot, plate };
}

/** Starts a pool whose log lines are collected; it is closed when the test ends (registered before any temp folder). */
async function startPool(t: AfterHook, settings: Config, size: number, options: RenderPoolOptions = {}): Promise<{ pool: RenderPool; logs: string[] }> {
  const logs: string[] = [];
  const pool = await RenderPool.start(settings, size, (level, message) => logs.push(`${level}: ${message}`), options);
  t.after(() => pool.close());
  return { pool, logs };
}

/** How a promise settles within `ms`: its value, its error, or 'pending'. */
async function settleWithin<T>(p: Promise<T>, ms: number): Promise<{ ok: T } | { err: unknown } | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((r) => (timer = setTimeout(() => r('pending'), ms)));
  try {
    return await Promise.race([p.then((ok) => ({ ok }), (err: unknown) => ({ err })), pending]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `check` until true or the timeout passes. */
async function until(what: string, check: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function assertRetryableEngineError(outcome: Awaited<ReturnType<typeof settleWithin>>, re: RegExp): void {
  assert.notEqual(outcome, 'pending', 'the render promise must settle promptly');
  assert.ok(typeof outcome === 'object' && 'err' in outcome, 'the render must be rejected');
  const err = outcome.err;
  assert.ok(err instanceof CleanplateError, String(err));
  assert.equal(err.code, 'engine');
  assert.equal(err.retryable, true);
  assert.match(err.message, re);
  assert.doesNotMatch(err.message, /\n/);
}

test('a dead worker is never given a job: the render is rejected at once as retryable, and one replacement takes over', { skip }, async (t) => {
  const dir = tempDir(t, 'cp-pool-dead-');
  const { pool, logs } = await startPool(t, settingsFor(dir), 1);
  const small = await pair(dir, 'a', 64, 48);
  await workersOf(pool)[0].terminate(); // as if it had crashed
  assertRetryableEngineError(await settleWithin(pool.render(small.shot, small.plate), 3000), /render worker/);
  assert.equal(pool.idle, 0, 'a dead worker is not idle');
  await until('the replacement', () => pool.idle === 1);
  const ok = await settleWithin(pool.render(small.shot, small.plate), 60_000);
  assert.ok(typeof ok === 'object' && 'ok' in ok, `the replacement renders: ${JSON.stringify(ok)}`);
  assert.equal(logs.filter((l) => /render worker died/.test(l)).length, 1, logs.join('\n'));
});

test('a worker that dies mid-job (uncaught error: "error" then "exit") fails that job promptly and is replaced exactly once', { skip }, async (t) => {
  const dir = tempDir(t, 'cp-pool-crash-');
  const { pool, logs } = await startPool(t, settingsFor(dir), 1);
  const big = await pair(dir, 'big', 2000, 1400);
  const job = pool.render(big.shot, big.plate);
  await new Promise((r) => setTimeout(r, 50));
  workersOf(pool)[0].postMessage(null); // the worker's message handler throws: an uncaught error
  assertRetryableEngineError(await settleWithin(job, 20_000), /render worker died/);
  await until('the replacement', () => pool.idle === 1);
  await new Promise((r) => setTimeout(r, 3000)); // time for a second (leaked) replacement to load, were one started
  assert.equal(logs.filter((l) => /render worker died/.test(l)).length, 1, logs.join('\n'));
  assert.equal(pool.alive, 1);
});

test('close() after a crash stops every thread: no leaked replacement keeps the process alive', { skip }, async (t) => {
  let child: ChildProcess | undefined;
  t.after(() => void child?.kill('SIGKILL')); // registered before the temp folder, so it runs before the removal
  const dir = tempDir(t, 'cp-pool-leak-');
  const poolJs = pathToFileURL(path.join(path.dirname(workerJs), 'pool.js')).href;
  const schemaJs = pathToFileURL(path.join(path.dirname(workerJs), '..', 'config', 'schema.js')).href;
  const script = `
    const { RenderPool } = await import(${JSON.stringify(poolJs)});
    const { configSchema } = await import(${JSON.stringify(schemaJs)});
    const settings = configSchema.parse({ shares: [{ name: 's', inbox: ${JSON.stringify(dir)}, output: ${JSON.stringify(dir)}, failed: ${JSON.stringify(dir)}, archive: ${JSON.stringify(dir)} }], engine: { name: 'classical' } });
    const pool = await RenderPool.start(settings, 1, () => {});
    pool.slots[0].worker.postMessage(null);
    const end = Date.now() + 30000;
    while (Date.now() < end && !(pool.idle === 1 && pool.slots[0].worker.threadId !== -1 && pool.slots.length === 1 && !pool.slots[0].dead)) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 3000));
    await pool.close();
    console.log('closed');
  `;
  const file = path.join(dir, 'leak.mjs');
  await fs.writeFile(file, script);
  const proc = spawn(process.execPath, [file], { stdio: ['ignore', 'pipe', 'pipe'] });
  child = proc;
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const outcome = await settleWithin(exited, 60_000);
  assert.notEqual(outcome, 'pending', `the process did not exit after close(): a worker thread is still running\n${out}`);
  assert.deepEqual(outcome, { ok: 0 }, out);
  assert.match(out, /closed/);
});

test('a render over the timeout has its worker stopped and replaced, and is rejected as retryable with the limit in one line', { skip }, async (t) => {
  const dir = tempDir(t, 'cp-pool-timeout-');
  const { pool, logs } = await startPool(t, settingsFor(dir), 1, { timeoutSec: 0.2 });
  assert.equal(pool.timeoutSec, 0.2);
  const big = await pair(dir, 'big', 2000, 1400);
  const small = await pair(dir, 'small', 64, 48);
  const started = Date.now();
  assertRetryableEngineError(await settleWithin(pool.render(big.shot, big.plate), 10_000), /^rendering timed out after 0\.2 s\b/);
  assert.ok(Date.now() - started < 5000, `rejected after ${Date.now() - started} ms`);
  assert.equal(pool.idle, 0, 'the stopped worker is out of the pool');
  await until('the replacement', () => pool.idle === 1);
  assert.equal(pool.alive, 1);
  assert.ok(logs.some((l) => /^error: a render ran longer than 0\.2 s/.test(l)), logs.join('\n'));
  // A live change of the limit applies to the next render.
  pool.timeoutSec = 600;
  const ok = await settleWithin(pool.render(small.shot, small.plate), 60_000);
  assert.ok(typeof ok === 'object' && 'ok' in ok, `the replacement renders: ${JSON.stringify(ok)}`);
  assert.throws(() => (pool.timeoutSec = 0), CleanplateError);
});

test('a replacement that cannot start: the pool works on with fewer workers, logs it, and tries again later', { skip }, async (t) => {
  const dir = tempDir(t, 'cp-pool-restart-');
  const settings = settingsFor(dir);
  const { pool, logs } = await startPool(t, settings, 2, { restartDelayMs: 300 });
  const small = await pair(dir, 'a', 64, 48);
  // From now on a new worker cannot load its engine (as if the model folder had gone).
  settings.engine.name = 'neural';
  settings.engine.neural.modelDir = path.join(dir, 'no-such-model');
  await workersOf(pool)[0].terminate();
  await until('a failed restart logged', () => logs.some((l) => /could not restart a render worker: .*no-such-model.*1 of 2 worker\(s\)/.test(l)));
  assert.equal(pool.alive, 1);
  assert.equal(pool.idle, 1, 'only the live worker counts');
  // The live worker takes jobs; with it busy there is no idle worker (not a dead one).
  const job = pool.render(small.shot, small.plate);
  assert.equal(pool.idle, 0);
  const ok = await settleWithin(job, 60_000);
  assert.ok(typeof ok === 'object' && 'ok' in ok, `the live worker renders: ${JSON.stringify(ok)}`);
  await until('a second try', () => logs.filter((l) => /could not restart/.test(l)).length >= 2);
  // The engine can load again: the next try restores the full pool.
  settings.engine.name = 'classical';
  await until('the pool back at full size', () => pool.alive === 2, 60_000);
  assert.ok(logs.some((l) => /render worker restarted; 2 of 2 running/.test(l)), logs.join('\n'));
  assert.equal(pool.idle, 2);
});

test('close() stops a replacement that is still starting, and a closed pool refuses work', { skip }, async (t) => {
  const dir = tempDir(t, 'cp-pool-close-');
  const { pool } = await startPool(t, settingsFor(dir), 1);
  const small = await pair(dir, 'a', 64, 48);
  await workersOf(pool)[0].terminate();
  await pool.close(); // the replacement is loading now
  assert.equal(pool.alive, 0);
  assertRetryableEngineError(await settleWithin(pool.render(small.shot, small.plate), 1000), /closed/);
});

test('jobs.timeoutSec: a positive number of seconds, 600 by default', () => {
  const base = { shares: [{ name: 's', inbox: 'i', output: 'o', failed: 'f', archive: 'a' }] };
  assert.equal(configSchema.parse(base).jobs.timeoutSec, 600);
  assert.equal(configSchema.parse({ ...base, jobs: { timeoutSec: 90.5 } }).jobs.timeoutSec, 90.5);
  for (const bad of [0, -1, '60']) assert.equal(configSchema.safeParse({ ...base, jobs: { timeoutSec: bad } }).success, false, String(bad));
});

test('neural workers start no onnxruntime telemetry: the pool sets ORT_DISABLE_TELEMETRY in the main thread', { skip }, async (t) => {
  let child: ChildProcess | undefined;
  t.after(() => void child?.kill('SIGKILL'));
  const dir = tempDir(t, 'cp-pool-telemetry-');
  const { shot, plate } = await pair(dir, 'tele', 48, 32);
  const poolJs = pathToFileURL(path.join(path.dirname(workerJs), 'pool.js')).href;
  const schemaJs = pathToFileURL(path.join(path.dirname(workerJs), '..', 'config', 'schema.js')).href;
  const model = fileURLToPath(new URL('../../../test/fixtures/bgm-tiny', import.meta.url));
  const script = `
    const { RenderPool } = await import(${JSON.stringify(poolJs)});
    const { configSchema } = await import(${JSON.stringify(schemaJs)});
    const settings = configSchema.parse({
      shares: [{ name: 's', inbox: ${JSON.stringify(dir)}, output: ${JSON.stringify(dir)}, failed: ${JSON.stringify(dir)}, archive: ${JSON.stringify(dir)} }],
      engine: { name: 'neural', neural: { modelDir: ${JSON.stringify(model)}, executionProvider: 'cpu', threads: 1 } },
      outputs: { rgbaPng: true, sidecar: false },
    });
    const pool = await RenderPool.start(settings, 1, () => {});
    await pool.render(${JSON.stringify(shot)}, ${JSON.stringify(plate)});
    await pool.close();
    console.log(JSON.stringify({ pid: process.pid, env: process.env.ORT_DISABLE_TELEMETRY ?? null }));
  `;
  const file = path.join(dir, 'telemetry.mjs');
  await fs.writeFile(file, script);
  const env = { ...process.env };
  delete env.ORT_DISABLE_TELEMETRY;
  const proc = spawn(process.execPath, [file], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  child = proc;
  let out = '';
  let err = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const outcome = await settleWithin(new Promise<number | null>((r) => proc.once('exit', (code) => r(code))), 60_000);
  assert.deepEqual(outcome, { ok: 0 }, err);
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { pid: number; env: string | null };
  assert.equal(r.env, '1');
  // onnxruntime 1.30 writes this file when its telemetry starts (checked by hand with the variable unset).
  assert.equal(existsSync(`/tmp/mat-debug-${r.pid}.log`), false, 'onnxruntime telemetry started in a render worker');
});
