/**
 * A small pool of render workers (worker threads running
 * src/worker/render-worker.ts), one job at a time each. A worker that dies
 * mid-job fails that job with a retryable engine error and is replaced.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { RenderedJob } from '../deliver/deliver.js';
import { CleanplateError, type ErrorCode } from '../errors.js';
import type { RenderSettings } from '../pipeline.js';

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

interface Slot {
  worker: Worker;
  busy?: { id: number; resolve: (r: RenderedJob) => void; reject: (e: Error) => void };
}

/** The compiled worker entry, or undefined when running from the TypeScript sources (tsx). */
function workerEntry(): URL | undefined {
  const js = new URL('./render-worker.js', import.meta.url);
  return existsSync(fileURLToPath(js)) ? js : undefined;
}

/** Render workers for the daemon. */
export class RenderPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;
  private closed = false;
  /** What the engine reported when it loaded. */
  engineInfo: Record<string, unknown> = {};

  private constructor(
    private readonly settings: RenderSettings,
    private readonly size: number,
    private readonly onLog: (level: 'info' | 'warn' | 'error', message: string) => void,
  ) {}

  /**
   * Starts `size` workers and waits until each has loaded the engine.
   * @throws CleanplateError when the engine cannot load (e.g. missing model, CUDA asked for but absent)
   */
  static async start(settings: RenderSettings, size: number, onLog: (level: 'info' | 'warn' | 'error', message: string) => void): Promise<RenderPool> {
    const pool = new RenderPool(settings, size, onLog);
    try {
      for (let i = 0; i < size; i++) pool.slots.push(await pool.spawn());
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  private spawn(): Promise<Slot> {
    const url = workerEntry();
    if (!url) return Promise.reject(new CleanplateError('internal', 'render workers need the compiled build (npm run build)'));
    const worker = new Worker(url, { workerData: { settings: this.settings, engineName: this.settings.engine.name } });
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
          const busy = slot.busy;
          slot.busy = undefined;
          if (m.type === 'result') busy.resolve(m.result);
          else busy.reject(new CleanplateError(m.error.code, m.error.message, { retryable: m.error.retryable }));
        }
      });
      const died = (why: string): void => {
        if (!ready) {
          reject(new CleanplateError('engine', `render worker failed to start: ${why}`));
          return;
        }
        const busy = slot.busy;
        slot.busy = undefined;
        if (busy) busy.reject(new CleanplateError('engine', `render worker died: ${why}`, { retryable: true }));
        if (!this.closed) {
          this.onLog('error', `render worker died (${why}); starting a new one`);
          const i = this.slots.indexOf(slot);
          void this.spawn().then(
            (s) => {
              if (i >= 0) this.slots[i] = s;
              if (this.closed) void s.worker.terminate();
            },
            (e: Error) => this.onLog('error', `could not restart a render worker: ${e.message}`),
          );
        }
      };
      worker.on('error', (e) => died(e.message));
      worker.on('exit', (code) => {
        if (!this.closed && code !== 0) died(`exit code ${code}`);
        else if (!ready) reject(new CleanplateError('engine', 'render worker exited during start-up'));
      });
    });
  }

  /** Number of workers without a job. */
  get idle(): number {
    return this.slots.filter((s) => !s.busy).length;
  }

  /**
   * Renders one pair on an idle worker.
   * @throws CleanplateError from decoding, matting or encoding; `engine` + retryable if the worker died
   */
  render(shotPath: string, platePath: string): Promise<RenderedJob> {
    const slot = this.slots.find((s) => !s.busy);
    if (!slot) return Promise.reject(new CleanplateError('internal', 'no idle render worker'));
    const id = this.nextId++;
    return new Promise<RenderedJob>((resolve, reject) => {
      slot.busy = { id, resolve, reject };
      slot.worker.postMessage({ type: 'render', id, shotPath, platePath } satisfies ToWorker);
    });
  }

  /** Stops all workers; a job still running is abandoned (its promise rejects). */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.slots.map(async (s) => {
        if (s.busy) {
          s.busy.reject(new CleanplateError('internal', 'render pool closed', { retryable: true }));
          s.busy = undefined;
        }
        await s.worker.terminate();
      }),
    );
    this.slots.length = 0;
  }

  /** The size this pool was started with. */
  get capacity(): number {
    return this.size;
  }
}
