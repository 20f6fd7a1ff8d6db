/**
 * Loads OpenCV (the WebAssembly build from @techstark/opencv-js) once per
 * process. Nothing happens at import time; the first `loadCv()` call pays the
 * ~0.3 s WASM start-up.
 *
 * The Emscripten module object is itself a "thenable": resolving a promise
 * with it makes the promise adopt it forever (a busy hang). So the module is
 * always handed out inside a plain wrapper object, never as a promise value.
 */
import { createRequire } from 'node:module';

/** The OpenCV.js module object, typed by the package's bundled (mirada) typings. */
export type CV = typeof import('@techstark/opencv-js');

let loading: Promise<{ cv: CV }> | undefined;

/** Returns `{ cv }`, the initialised OpenCV.js module (memoised). */
export function loadCv(): Promise<{ cv: CV }> {
  loading ??= new Promise<{ cv: CV }>((resolve) => {
    const require = createRequire(import.meta.url);
    const mod = require('@techstark/opencv-js') as CV & { onRuntimeInitialized?: () => void };
    if (typeof mod.Mat === 'function') resolve({ cv: mod });
    else mod.onRuntimeInitialized = () => resolve({ cv: mod });
  });
  return loading;
}
