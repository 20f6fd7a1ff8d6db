/**
 * A small pool of render workers (worker threads running
 * src/worker/render-worker.ts), one job at a time each.
 *
 * A worker that dies (crash, uncaught error, out of memory) or overruns the
 * render timeout is taken out of the pool at once: it is never given another
 * job, the job it was running is rejected with a retryable `engine` error (the
 * daemon's retry path takes it from there), and exactly one replacement is
 * started. A replacement that fails to start is logged and tried again later
 * with a growing delay; meanwhile the pool works on with the workers it has
 * ({@link RenderPool.idle} and {@link RenderPool.alive} count only live ones).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RenderedJob } from '../deliver/deliver.js';
import { CleanplateError, type ErrorCode } from '../errors.js';
import type { RenderSettings } from '../pipeline.js';
import { keepOrtTelemetryOff } from '../engine/neural/telemetry.js';

/** A serialised CleanplateError. */
export interface WireError {
  code: ErrorCode;
  message: string;
  retryable: boolean;
}

/** Messages to a worker. */
export type ToWorker = { type: 'render'; id: number; shotPath: string; platePath: string } | { type: 'close' };

/** Messages from a worker. */
export type FromWorker =
  | { type: 'ready'; describe: Record<string, unknown> }
  | { type: 'fatal'; error: WireError }
  | { type: 'log'; level: 'info' | 'warn'; message: string }
  | { type: 'result'; id: number; result: RenderedJob }
  | { type: 'failed'; id: number; error: WireError };

/** Options of {@link RenderPool.start}. */
export interface RenderPoolOptions {
  /**
   * Longest a render may take, in seconds (`jobs.timeoutSec`); a render that
   * overruns it has its worker stopped and replaced, and its job rejected with
   * a retryable error. Default: no limit.
   */
  timeoutSec?: number;
  /** Delay before the first new try when a replacement worker fails to start; doubled per failure, up to 5 min. Default 5000. */
  restartDelayMs?: number;
}

/** The job a worker is running. */
interface Busy {
  id: number;
  resolve: (r: RenderedJob) => void;
  reject: (e: Error) => void;
  timer?: NodeJS.Timeout;
}

interface Slot {
  worker: Worker;
  /** Set once the worker has died, timed out or been stopped: the slot is out of the pool for good. */
  dead?: boolean;
  busy?: Busy;
}

/** The most a failed restart waits before the next try. */
const MAX_RESTART_DELAY_MS = 5 * 60_000;

/** The compiled worker entry, or undefined when running from the TypeScript sources (tsx). */
function workerEntry(): URL | undefined {
  const js = new URL('./render-worker.js', import.meta.url);
  return existsSync(fileURLToPath(js)) ? js : undefined;
}

/** Render workers for the daemon. */
export class RenderPool {
  /** Live workers that have loaded the engine; a dead one is removed at once. */
  private readonly slots: Slot[] = [];
  /** Every worker thread not yet exited (loaded or still starting), so that close() can stop them all. */
  private readonly threads = new Set<Worker>();
  /** Replacements being started now. */
  private starting = 0;
  /** Replacements that failed to start in a row (for the retry delay). */
  private restartFailures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private closed = false;
  /** Longest a render may take, in ms (Infinity: no limit). */
  private timeoutMs = Infinity;
  private readonly restartDelayMs: number;
  /** What the engine reported when it loaded. */
  engineInfo: Record<string, unknown> = {};

  private constructor(
    private readonly settings: RenderSettings,
    private readonly size: number,
    private readonly onLog: (level: 'info' | 'warn' | 'error', message: string) => void,
    options: RenderPoolOptions,
  ) {
    this.restartDelayMs = options.restartDelayMs ?? 5000;
    if (options.timeoutSec !== undefined) this.timeoutSec = options.timeoutSec;
  }

  /**
   * Starts `size` workers and waits until each has loaded the engine.
   * @param settings what the workers render with
   * @param size how many workers (`jobs.concurrency`)
   * @param onLog receives the pool's and the engines' log lines
   * @param options render timeout, restart delay
   * @throws CleanplateError when the engine cannot load (e.g. missing model, CUDA asked for but absent)
   */
  static async start(
    settings: RenderSettings,
    size: number,
    onLog: (level: 'info' | 'warn' | 'error', message: string) => void,
    options: RenderPoolOptions = {},
  ): Promise<RenderPool> {
    // In this (main) thread: a worker thread's process.env is its own copy, which onnxruntime never reads.
    keepOrtTelemetryOff();
    const pool = new RenderPool(settings, size, onLog, options);
    try {
      for (let i = 0; i < size; i++) pool.slots.push(await pool.spawn());
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  /**
   * Longest a render may take, in seconds (Infinity: no limit). Setting it
   * (a live `jobs.timeoutSec` change) applies to renders started afterwards.
   */
  get timeoutSec(): number {
    return this.timeoutMs / 1000;
  }

  set timeoutSec(sec: number) {
    if (!(sec > 0)) throw new CleanplateError('config', `render timeout must be a positive number of seconds, not ${sec}`);
    this.timeoutMs = sec * 1000;
  }

  /** Starts one worker; resolves once it has loaded the engine. */
  private spawn(): Promise<Slot> {
    const url = workerEntry();
    if (!url) return Promise.reject(new CleanplateError('internal', 'render workers need the compiled build (npm run build)'));
    const worker = new Worker(url, { workerData: { settings: this.settings, engineName: this.settings.engine.name } });
    this.threads.add(worker);
    const slot: Slot = { worker };
    return new Promise<Slot>((resolve, reject) => {
      let ready = false;
      worker.on('message', (m: FromWorker) => {
        if (m.type === 'ready') {
          ready = true;
          this.engineInfo = m.describe;
          resolve(slot);
        } else if (m.type === 'fatal') {
          reject(new CleanplateError(m.error.code, m.error.message));
          void worker.terminate();
        } else if (m.type === 'log') {
          this.onLog(m.level, m.message);
        } else if (slot.busy && slot.busy.id === m.id) {
          const busy = this.release(slot)!;
          if (m.type === 'result') busy.resolve(m.result);
          else busy.reject(new CleanplateError(m.error.code, m.error.message, { retryable: m.error.retryable }));
        }
      });
      // An uncaught throw in the worker fires 'error' and then 'exit': the slot's `dead` flag makes the second a no-op.
      const died = (why: string): void => {
        if (!ready) {
          reject(new CleanplateError('engine', `render worker failed to start: ${why}`));
          return;
        }
        if (slot.dead) return;
        this.retire(slot, new CleanplateError('engine', `render worker died: ${why}`, { retryable: true }));
        if (!this.closed) {
          this.onLog('error', `render worker died (${why}); starting a new one`);
          this.refill();
        }
      };
      worker.on('error', (e) => died(e.message));
      worker.on('exit', (code) => {
        this.threads.delete(worker);
        if (!ready) reject(new CleanplateError('engine', `render worker exited during start-up (exit code ${code})`));
        else if (!this.closed) died(`exit code ${code}`);
      });
    });
  }

  /** Marks a slot busy no more and stops its timeout; returns the job it had. */
  private release(slot: Slot): Busy | undefined {
    const busy = slot.busy;
    slot.busy = undefined;
    if (busy?.timer) clearTimeout(busy.timer);
    return busy;
  }

  /** Takes a slot out of the pool for good, rejecting its job (if any) with `why`. */
  private retire(slot: Slot, why: Error): void {
    slot.dead = true;
    const i = this.slots.indexOf(slot);
    if (i >= 0) this.slots.splice(i, 1);
    this.release(slot)?.reject(why);
  }

  /** Starts replacements until live + starting workers make up the pool's size again. */
  private refill(): void {
    if (this.closed || this.restartTimer) return;
    while (this.slots.length + this.starting < this.size) {
      this.starting++;
      this.spawn().then(
        (s) => {
          this.starting--;
          if (this.closed) {
            void s.worker.terminate();
            return;
          }
          this.slots.push(s);
          if (this.restartFailures > 0) this.onLog('info', `render worker restarted; ${this.slots.length} of ${this.size} running`);
          this.restartFailures = 0;
        },
        (e: Error) => {
          this.starting--;
          if (this.closed) return;
          this.restartFailures++;
          const delay = Math.min(this.restartDelayMs * 2 ** (this.restartFailures - 1), MAX_RESTART_DELAY_MS);
          this.onLog(
            'error',
            `could not restart a render worker: ${e.message}; running with ${this.slots.length} of ${this.size} worker(s), ` +
              `trying again in ${Math.round(delay / 100) / 10} s`,
          );
          if (!this.restartTimer) {
            this.restartTimer = setTimeout(() => {
              this.restartTimer = undefined;
              this.refill();
            }, delay);
            this.restartTimer.unref();
          }
        },
      );
    }
  }

  /** Stops a worker whose render overran the timeout; its job is rejected and a replacement started. */
  private timedOut(slot: Slot): void {
    if (slot.dead || this.closed) return;
    const sec = this.timeoutSec;
    this.retire(
      slot,
      new CleanplateError('engine', `rendering timed out after ${sec} s (jobs.timeoutSec); the render worker was stopped`, { retryable: true }),
    );
    this.onLog('error', `a render ran longer than ${sec} s (jobs.timeoutSec): stopping its worker and starting a new one`);
    void slot.worker.terminate();
    this.refill();
  }

  /** Number of live workers without a job. */
  get idle(): number {
    return this.slots.filter((s) => !s.busy).length;
  }

  /** Number of live workers (loaded, busy or not); below {@link capacity} while replacements start or fail to start. */
  get alive(): number {
    return this.slots.length;
  }

  /**
   * Renders one pair on an idle worker.
   * @throws CleanplateError from decoding, matting or encoding; `engine` + retryable if the worker died, the
   *   render timed out (`jobs.timeoutSec`) or no live worker is idle
   */
  render(shotPath: string, platePath: string): Promise<RenderedJob> {
    const slot = this.slots.find((s) => !s.busy && !s.dead);
    if (!slot) {
      const why = this.closed ? 'render pool closed' : this.slots.length === 0 ? 'no render worker is running (restarting)' : 'no idle render worker';
      return Promise.reject(new CleanplateError('engine', why, { retryable: true }));
    }
    const id = this.nextId++;
    return new Promise<RenderedJob>((resolve, reject) => {
      const busy: Busy = { id, resolve, reject };
      slot.busy = busy;
      if (Number.isFinite(this.timeoutMs)) busy.timer = setTimeout(() => this.timedOut(slot), this.timeoutMs);
      slot.worker.postMessage({ type: 'render', id, shotPath, platePath } satisfies ToWorker);
    });
  }

  /** Stops all workers, including replacements still starting; a job still running is abandoned (its promise rejects). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    for (const s of [...this.slots]) this.retire(s, new CleanplateError('internal', 'render pool closed', { retryable: true }));
    await Promise.all([...this.threads].map((w) => w.terminate()));
    this.threads.clear();
  }

  /** The size this pool was started with (`jobs.concurrency`); {@link alive} says how many workers run now. */
  get capacity(): number {
    return this.size;
  }
}
