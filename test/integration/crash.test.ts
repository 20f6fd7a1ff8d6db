/**
 * The daemon as a separate process (bin/cleanplate start), killed with
 * SIGKILL in the middle of a job and started again: every shot is delivered
 * exactly once, nothing is lost, no temp files are left. Also SIGTERM: a
 * clean stop that finishes or re-queues the running job.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Catalog } from '../../src/catalog/catalog.js';
import { drop, makeDirs, makePair, testConfig, tree, waitFor, writeConfigFile } from './harness.js';

const root = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();
const bin = path.join(root, 'bin', 'cleanplate');
const built = existsSync(path.join(root, 'dist', 'src', 'cli', 'main.js'));

/** Waits until the catalog (opened read-side by the test) counts `n` done jobs. */
function waitDone(catalogPath: string, n: number): Promise<boolean> {
  return waitFor(`${n} jobs delivered`, () => {
    const c = Catalog.open(catalogPath);
    try {
      return c.counts().done === n;
    } finally {
      c.close();
    }
  }, 120_000);
}

interface Child {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startChild(configFile: string): Child {
  let out = '';
  const child = spawn(process.execPath, [bin, 'start', '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

/**
 * A `startChild` for one test whose daemons are all gone when the test ends:
 * call it BEFORE `makeDirs`, so its `t.after` (hooks run in registration
 * order) kills any daemon a failed test left running and awaits its exit
 * before the temp folders are removed.
 */
function childStarter(t: TestContext): (configFile: string) => Child {
  const started: Child[] = [];
  t.after(async () => {
    for (const c of started) if (c.child.exitCode === null && c.child.signalCode === null) c.child.kill('SIGKILL');
    await Promise.all(started.map((c) => c.exited));
  });
  return (configFile) => {
    const c = startChild(configFile);
    started.push(c);
    return c;
  };
}

test('SIGKILL mid-job, restart: every shot delivered exactly once, nothing lost', { skip: !built && 'needs the compiled CLI (npm run build)' }, async (t) => {
  const start = childStarter(t);
  const dirs = makeDirs(t, 'kill');
  const config = testConfig(dirs, { logging: { dir: path.join(dirs.root, 'log'), console: true, level: 'info' } });
  const file = await writeConfigFile(dirs, config);
  const pairs = await Promise.all([1, 2, 3].map((s) => makePair(1200, 1800, 20 + s)));
  await drop(path.join(dirs.inbox, 'K', 'K_plate.png'), pairs[0].plate);
  for (let i = 0; i < 3; i++) await drop(path.join(dirs.inbox, 'K', `look-0${i + 1}.png`), pairs[i].shot);

  const first = start(file);
  await waitFor('a job running', () => /matting K\/look-0\d/.test(first.output()), 60_000);
  first.child.kill('SIGKILL');
  await first.exited;

  const second = start(file);
  try {
    await waitDone(config.catalog.path, 3);
    assert.match(second.output(), /re-queued 1 job\(s\) interrupted by the last stop/);
    const out = await tree(path.join(dirs.output, 'K'));
    assert.deepEqual(out, [
      'look-01.alpha.png', 'look-01.json', 'look-01.png',
      'look-02.alpha.png', 'look-02.json', 'look-02.png',
      'look-03.alpha.png', 'look-03.json', 'look-03.png',
    ]);
    const archived = await tree(path.join(dirs.archive, 'K'));
    for (const n of ['look-01.png', 'look-02.png', 'look-03.png']) assert.ok(archived.includes(n), `${n} archived`);
    assert.deepEqual(await tree(dirs.failed), []);
  } finally {
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
  }
});

test('a shot that kills the daemon mid-job every time gives up after jobs.maxAttempts instead of looping forever', { skip: !built && 'needs the compiled CLI (npm run build)' }, async (t) => {
  const start = childStarter(t);
  const dirs = makeDirs(t, 'loop');
  const config = testConfig(dirs, { logging: { dir: path.join(dirs.root, 'log'), console: true, level: 'info' } }); // jobs.maxAttempts: 2
  const file = await writeConfigFile(dirs, config);
  const p = await makePair(1200, 1800, 61);
  await drop(path.join(dirs.inbox, 'L', 'L_plate.png'), p.plate);
  await drop(path.join(dirs.inbox, 'L', 'look-01.png'), p.shot);
  // Like a native crash or an OOM kill on one bad file, with systemd's Restart=on-failure starting it again.
  for (let attempt = 1; attempt <= 2; attempt++) {
    const c = start(file);
    await waitFor(`attempt ${attempt} running`, () => new RegExp(`matting L/look-01\\.png \\(attempt ${attempt}\\)`).test(c.output()), 60_000);
    c.child.kill('SIGKILL');
    await c.exited;
  }
  const last = start(file);
  try {
    const note = path.join(dirs.failed, 'L', 'look-01.png.error.txt');
    await waitFor('the shot in failed/ with its note', () => existsSync(note), 30_000);
    assert.match(await readFile(note, 'utf8'), /reason: gave up: the daemon died during this job 2 times/);
    assert.ok(existsSync(path.join(dirs.failed, 'L', 'look-01.png')));
    assert.doesNotMatch(last.output(), /matting L\/look-01/);
    const c = Catalog.open(config.catalog.path);
    try {
      assert.deepEqual({ ...c.counts() }, { waiting_for_plate: 0, queued: 0, running: 0, done: 0, failed: 1 });
    } finally {
      c.close();
    }
  } finally {
    last.child.kill('SIGTERM');
    assert.equal(await last.exited, 0);
  }
});

test('SIGTERM: the daemon stops cleanly and a restart finishes the queue', { skip: !built && 'needs the compiled CLI (npm run build)' }, async (t) => {
  const start = childStarter(t);
  const dirs = makeDirs(t, 'term');
  const config = testConfig(dirs, { logging: { dir: path.join(dirs.root, 'log'), console: true, level: 'info' } });
  const file = await writeConfigFile(dirs, config);
  const p = await makePair(800, 1200, 31);
  await drop(path.join(dirs.inbox, 'T', 'T_plate.png'), p.plate);
  for (let i = 1; i <= 3; i++) await drop(path.join(dirs.inbox, 'T', `look-0${i}.png`), (await makePair(800, 1200, 31 + i)).shot);
  const first = start(file);
  await waitFor('a job running', () => /matting T\/look-0\d/.test(first.output()), 60_000);
  first.child.kill('SIGTERM');
  assert.equal(await first.exited, 0);
  assert.match(first.output(), /cleanplate stopped/);
  const second = start(file);
  try {
    await waitDone(config.catalog.path, 3);
    assert.equal((await tree(path.join(dirs.output, 'T'))).filter((f) => f.endsWith('.png') && !f.includes('alpha')).length, 3);
  } finally {
    second.child.kill('SIGTERM');
    await second.exited;
  }
});
