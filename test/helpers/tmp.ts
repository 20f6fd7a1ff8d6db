/**
 * Temp folders for tests that clean up after themselves: a folder made with
 * {@link tempDir} is deleted, with everything in it, when the test that made
 * it ends, whether it passed or failed. A test suite must not litter the
 * machine it runs on (CI runners, studio machines running `npm test`).
 *
 * node:test runs a test's `after` hooks in the order they were registered,
 * once the test function (including its `finally` blocks) has settled. A test
 * that starts something still writing into the folder (a child process, a
 * watcher) must stop it in its own `finally`, or in a `t.after` registered
 * BEFORE calling {@link tempDir}, so that the removal does not race it.
 */
import { mkdtempSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/**
 * Whatever can run a function when a test (or a whole test file) ends: a
 * test's context `t` from `test('...', (t) => ...)`, or `{ after }` with
 * `after` imported from node:test for a folder shared by a file's tests.
 */
export interface AfterHook {
  /** Registers `fn` to run (and be awaited) once the test or file has ended. */
  after(fn: () => unknown): void;
}

/**
 * Removes a folder and everything in it; no error if it is already gone.
 * Retries briefly on EBUSY/ENOTEMPTY (something closing a file in it).
 * @param dir the folder to remove
 */
export async function removeDir(dir: string): Promise<void> {
  await fs.rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 });
}

/**
 * Makes a fresh, empty folder `<parent>/<prefix>XXXXXX` now and registers its
 * recursive removal with `hook.after`, so it is gone when the test ends.
 * @param hook the test's context `t` (or `{ after }` from node:test for a file-wide folder)
 * @param prefix start of the folder's name, e.g. `'cp-cat-'`
 * @param parent where to make it; defaults to `os.tmpdir()`
 * @returns the new folder's absolute path
 */
export function tempDir(hook: AfterHook, prefix: string, parent: string = os.tmpdir()): string {
  const dir = mkdtempSync(path.join(parent, prefix));
  hook.after(() => removeDir(dir));
  return dir;
}
