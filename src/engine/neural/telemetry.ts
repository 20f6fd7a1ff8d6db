/**
 * onnxruntime's usage telemetry, kept off. No onnxruntime import here: the render pool calls this in
 * the main thread before it starts workers, without loading onnxruntime there.
 */

/**
 * Keeps onnxruntime's usage telemetry off. onnxruntime 1.29+ starts Microsoft's 1DS telemetry on
 * Linux and macOS with the first session of a process (a device id on disk, HTTPS uploads, an empty
 * `/tmp/mat-debug-<pid>.log` per process); a daemon handling studios' images makes no network calls
 * but its own SMTP. Sets `ORT_DISABLE_TELEMETRY=1` unless the operator set the variable already
 * (any value: theirs wins). onnxruntime reads it when the first session is created, so this runs
 * before that (the engine's model loader, and the render pool before it starts its worker threads: a
 * worker thread's `process.env` is its own copy and does not reach onnxruntime's `getenv`); it changes
 * nothing once a session exists.
 * @param env the environment to update (default: this process's)
 */
export function keepOrtTelemetryOff(env: NodeJS.ProcessEnv = process.env): void {
  if (env.ORT_DISABLE_TELEMETRY === undefined) env.ORT_DISABLE_TELEMETRY = '1';
}
