/**
 * Worker-thread entry: loads the engine once, then renders pairs on request.
 * Matting is CPU-heavy and partly synchronous (OpenCV.js, onnxruntime), so it
 * runs here, off the daemon's event loop (watching, SQLite, SMTP stay live).
 * Messages: see src/worker/pool.ts.
 */
import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { createEngine } from '../engine/index.js';
import { toCleanplateError } from '../errors.js';
import { renderPair, type RenderSettings } from '../pipeline.js';
import type { FromWorker, ToWorker } from './pool.js';

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('render-worker must run in a worker thread');
  const post = (m: FromWorker): void => port.postMessage(m);
  const { settings, engineName } = workerData as { settings: RenderSettings; engineName: RenderSettings['engine']['name'] };
  sharp.cache(false);
  let engine;
  try {
    engine = await createEngine(settings.engine, { name: engineName, log: (level, message) => post({ type: 'log', level, message }) });
  } catch (err) {
    const e = toCleanplateError(err, 'loading the engine');
    post({ type: 'fatal', error: { code: e.code, message: e.message, retryable: e.retryable } });
    return;
  }
  const loaded = engine;
  post({ type: 'ready', describe: loaded.describe() });
  port.on('message', (msg: ToWorker) => {
    if (msg.type === 'close') {
      void loaded.close().finally(() => port.close());
      return;
    }
    renderPair(loaded, msg.shotPath, msg.platePath, settings).then(
      (result) => post({ type: 'result', id: msg.id, result }),
      (err: unknown) => {
        const e = toCleanplateError(err);
        post({ type: 'failed', id: msg.id, error: { code: e.code, message: e.message, retryable: e.retryable } });
      },
    );
  });
}

void main();
