/**
 * jobs.timeoutSec with the real daemon and its config file: a live change of
 * the limit applies to the next render (no worker restart), a render over it
 * goes through the normal retry path (retry-later, then gave-up with the
 * timeout in the error note), and the replaced workers go on rendering.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { drop, makeDirs, makePair, testConfig, tree, waitFor, writeConfigFile } from './harness.js';

const built = existsSync(fileURLToPath(new URL('../../src/worker/render-worker.js', import.meta.url)));

async function logText(dirs: { root: string }): Promise<string> {
  const dir = path.join(dirs.root, 'log');
  const files = await fs.readdir(dir).catch(() => [] as string[]);
  const texts = await Promise.all(files.map((f) => fs.readFile(path.join(dir, f), 'utf8')));
  return texts.join('\n');
}

async function waitForLog(dirs: { root: string }, what: string, re: RegExp, timeoutMs = 15_000): Promise<void> {
  try {
    await waitFor(what, async () => re.test(await logText(dirs)), timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; log:\n${await logText(dirs)}`);
  }
}

test(
  'a live jobs.timeoutSec change applies to the next render; a render over it is retried, then fails with the timeout in its note',
  { skip: built ? false : 'render workers need the compiled build (run from dist/)' },
  async (t) => {
    const dirs = makeDirs(t, 'timeout');
    const config = testConfig(dirs, { outputs: { rgbaPng: true, alphaPng: false, sidecar: false } });
    assert.equal(config.jobs.timeoutSec, 600);
    const file = await writeConfigFile(dirs, config);
    const d = await Daemon.start(file, { log: createLogger(config.logging, { console: false }) });
    try {
      await new Promise((r) => setTimeout(r, 1000)); // the config watch's first scan of its folder
      await fs.writeFile(file, stringify({ ...config, jobs: { ...config.jobs, timeoutSec: 0.05 } }));
      await waitForLog(dirs, 'change applied', /config changed: jobs\.timeoutSec/);
      const big = await makePair(1600, 1200, 31);
      await drop(path.join(dirs.inbox, 'T', 'T_plate.png'), big.plate);
      await drop(path.join(dirs.inbox, 'T', 'look-01.png'), big.shot);
      const note = path.join(dirs.failed, 'T', 'look-01.png.error.txt');
      await waitFor('error note', () => existsSync(note), 60_000);
      assert.match(await fs.readFile(note, 'utf8'), /rendering timed out after 0\.05 s/);
      const log = await logText(dirs);
      // maxAttempts 2: the first timeout is retried like any retryable error, the second gives up.
      assert.match(log, /rendering timed out after 0\.05 s .*\(attempt 1; retrying in/);
      assert.match(log, /rendering timed out after 0\.05 s .*\(gave up after 2 attempt\(s\)\)/);
      assert.doesNotMatch(log, /render workers restarted/, 'a timeout change needs no worker restart');
      // Back to a generous limit: the replacement workers render the next shot.
      await fs.writeFile(file, stringify(config));
      await waitForLog(dirs, 'change back applied', /config changed: jobs\.timeoutSec[\s\S]*config changed: jobs\.timeoutSec/);
      const next = await makePair(1600, 1200, 32);
      await drop(path.join(dirs.inbox, 'U', 'U_plate.png'), next.plate);
      await drop(path.join(dirs.inbox, 'U', 'look-02.png'), next.shot);
      await waitFor('second job done', () => d.catalog.counts().done === 1, 60_000);
      assert.deepEqual(await tree(path.join(dirs.output, 'U')), ['look-02.png']);
    } finally {
      await d.stop();
    }
  },
);
