/**
 * The real daemon on real folders: chokidar watching, SQLite catalog, worker
 * threads running the classical engine, atomic delivery.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { drop, makeDirs, makePair, startDaemon, testConfig, tree, waitFor, writeConfigFile } from './harness.js';

const W = 240;
const H = 360;

test('plate first, then shots: every shot delivered once, originals and plate archived', async (t) => {
  const dirs = makeDirs(t, 'first');
  const d = await startDaemon(testConfig(dirs));
  try {
    const a = await makePair(W, H, 1);
    const b = await makePair(W, H, 2);
    await drop(path.join(dirs.inbox, 'S1', 'S1_plate.png'), a.plate);
    await drop(path.join(dirs.inbox, 'S1', 'look-01.png'), a.shot);
    await drop(path.join(dirs.inbox, 'S1', 'look-02.png'), b.shot);
    await waitFor('2 jobs done', () => d.catalog.counts().done === 2);
    assert.deepEqual(await tree(path.join(dirs.output, 'S1')), [
      'look-01.alpha.png', 'look-01.json', 'look-01.png', 'look-02.alpha.png', 'look-02.json', 'look-02.png',
    ]);
    const sidecar = JSON.parse(readFileSync(path.join(dirs.output, 'S1', 'look-01.json'), 'utf8')) as { plate: string; engine: { name: string } };
    assert.equal(sidecar.plate, 'S1_plate.png');
    assert.equal(sidecar.engine.name, 'classical');
    // Plates are archived once the session is settled and quiet.
    await waitFor('plate archived', async () => (await tree(path.join(dirs.archive, 'S1'))).length === 3, 20_000);
    assert.deepEqual(await tree(dirs.inbox), []);
    assert.deepEqual(await tree(dirs.failed), []);
  } finally {
    await d.stop();
  }
});

test('shots before their plate wait; a late plate releases them', async (t) => {
  const dirs = makeDirs(t, 'late');
  const d = await startDaemon(testConfig(dirs));
  try {
    const a = await makePair(W, H, 3);
    await drop(path.join(dirs.inbox, 'S2', 'look-01.png'), a.shot);
    await waitFor('shot waiting', () => d.catalog.counts().waiting_for_plate === 1);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(d.catalog.counts().done, 0);
    await drop(path.join(dirs.inbox, 'S2', 'bg_empty.png'), a.plate);
    await waitFor('job done', () => d.catalog.counts().done === 1);
    assert.ok(existsSync(path.join(dirs.output, 'S2', 'look-01.png')));
  } finally {
    await d.stop();
  }
});

test('two plates in a session: each shot uses the latest plate captured before it', async (t) => {
  const dirs = makeDirs(t, 'two');
  const d = await startDaemon(testConfig(dirs, { plates: { captureTime: 'mtime' } }));
  try {
    const a = await makePair(W, H, 4);
    const b = await makePair(W, H, 5);
    const t0 = Date.now() / 1000 - 3600;
    const put = async (name: string, data: Buffer, t: number): Promise<void> => {
      const file = path.join(dirs.inbox, 'S3', name);
      await fs.mkdir(path.dirname(file), { recursive: true });
      await fs.writeFile(`${file}.part`, data);
      await fs.utimes(`${file}.part`, t, t);
      await fs.rename(`${file}.part`, file);
    };
    await put('morning_plate.png', a.plate, t0);
    await put('look-01.png', a.shot, t0 + 60);
    await put('noon_plate.png', b.plate, t0 + 120);
    await put('look-02.png', b.shot, t0 + 180);
    await waitFor('2 jobs done', () => d.catalog.counts().done === 2);
    const plateOf = (n: string): string => (JSON.parse(readFileSync(path.join(dirs.output, 'S3', `${n}.json`), 'utf8')) as { plate: string }).plate;
    assert.equal(plateOf('look-01'), 'morning_plate.png');
    assert.equal(plateOf('look-02'), 'noon_plate.png');
  } finally {
    await d.stop();
  }
});

test('a shot whose plate never comes fails after the timeout, with the reason beside it', async (t) => {
  const dirs = makeDirs(t, 'noplate');
  const d = await startDaemon(testConfig(dirs, { plates: { waitTimeoutMin: 0.03 } }));
  try {
    const a = await makePair(W, H, 6);
    await drop(path.join(dirs.inbox, 'S4', 'look-01.png'), a.shot);
    await waitFor('error note', () => existsSync(path.join(dirs.failed, 'S4', 'look-01.png.error.txt')), 20_000);
    assert.match(readFileSync(path.join(dirs.failed, 'S4', 'look-01.png.error.txt'), 'utf8'), /no plate arrived within/);
    assert.ok(existsSync(path.join(dirs.failed, 'S4', 'look-01.png')));
    assert.deepEqual(await tree(dirs.inbox), []);
    assert.equal(d.catalog.counts().failed, 1);
  } finally {
    await d.stop();
  }
});

test('the same file dropped twice is processed once; the copy is archived', async (t) => {
  const dirs = makeDirs(t, 'dup');
  const d = await startDaemon(testConfig(dirs));
  try {
    const a = await makePair(W, H, 7);
    await drop(path.join(dirs.inbox, 'S5', 'S5_plate.png'), a.plate);
    await drop(path.join(dirs.inbox, 'S5', 'look-01.png'), a.shot);
    await waitFor('job done', () => d.catalog.counts().done === 1);
    await drop(path.join(dirs.inbox, 'S5', 'look-01.png'), a.shot); // same name again
    await drop(path.join(dirs.inbox, 'S5', 'look-01 copy.png'), a.shot); // same bytes, other name
    await waitFor('inbox emptied of shots', async () => (await tree(path.join(dirs.inbox, 'S5'))).every((f) => f.includes('plate')), 15_000);
    assert.equal(d.catalog.counts().done, 1);
    assert.deepEqual(await tree(path.join(dirs.output, 'S5')), ['look-01.alpha.png', 'look-01.json', 'look-01.png']);
    assert.equal((await tree(path.join(dirs.archive, 'S5'))).filter((f) => f.startsWith('look-01')).length, 3);
  } finally {
    await d.stop();
  }
});

test('corrupt and truncated files go to failed/ with a reason; the daemon keeps working', async (t) => {
  const dirs = makeDirs(t, 'corrupt');
  const d = await startDaemon(testConfig(dirs));
  try {
    const a = await makePair(W, H, 8, 'jpeg');
    await drop(path.join(dirs.inbox, 'S6', 'S6_plate.jpg'), a.plate);
    await drop(path.join(dirs.inbox, 'S6', 'truncated.jpg'), a.shot.subarray(0, a.shot.length >> 1));
    await drop(path.join(dirs.inbox, 'S6', 'notes.jpg'), Buffer.from('this is not an image\n'));
    await drop(path.join(dirs.inbox, 'S6', 'good.jpg'), a.shot);
    await waitFor('good shot done', () => d.catalog.counts().done === 1);
    await waitFor('two error notes', async () => (await tree(path.join(dirs.failed, 'S6'))).filter((f) => f.endsWith('.error.txt')).length === 2, 20_000);
    const failed = await tree(path.join(dirs.failed, 'S6'));
    assert.deepEqual(failed, ['notes.jpg', 'notes.jpg.error.txt', 'truncated.jpg', 'truncated.jpg.error.txt']);
    assert.match(readFileSync(path.join(dirs.failed, 'S6', 'truncated.jpg.error.txt'), 'utf8'), /reason: .+/);
  } finally {
    await d.stop();
  }
});

test('an unwritable output folder: the job fails with the reason, nothing is lost, a retry delivers it', async (t) => {
  const dirs = makeDirs(t, 'unwritable');
  const d = await startDaemon(testConfig(dirs));
  try {
    const a = await makePair(W, H, 9);
    // The output "folder" becomes a file (works even as root, where permissions do not bite).
    rmSync(dirs.output, { recursive: true });
    writeFileSync(dirs.output, 'not a folder');
    await drop(path.join(dirs.inbox, 'S7', 'S7_plate.png'), a.plate);
    await drop(path.join(dirs.inbox, 'S7', 'look-01.png'), a.shot);
    await waitFor('job failed', () => d.catalog.counts().failed === 1, 20_000);
    const note = await waitFor('error note', () => existsSync(path.join(dirs.failed, 'S7', 'look-01.png.error.txt')) && readFileSync(path.join(dirs.failed, 'S7', 'look-01.png.error.txt'), 'utf8'));
    assert.match(note, /not a folder|permission denied/);
    assert.ok(existsSync(path.join(dirs.failed, 'S7', 'look-01.png')));
    // The operator fixes the folder and retries.
    rmSync(dirs.output);
    assert.deepEqual(d.catalog.retry({ session: 'S7' }).length, 1);
    await waitFor('retried job done', () => d.catalog.counts().done === 1, 20_000);
    assert.ok(existsSync(path.join(dirs.output, 'S7', 'look-01.png')));
    assert.ok(existsSync(path.join(dirs.archive, 'S7', 'look-01.png')));
  } finally {
    await d.stop();
  }
});

test('the daemon applies a valid config change live and keeps the old config on an invalid one', async (t) => {
  const dirs = makeDirs(t, 'reload');
  const config = testConfig(dirs, { outputs: { rgbaPng: true, alphaPng: false, sidecar: false } });
  const file = await writeConfigFile(dirs, config);
  const d = await Daemon.start(file, { log: createLogger(config.logging, { console: false }) });
  try {
    const a = await makePair(W, H, 11);
    await drop(path.join(dirs.inbox, 'R', 'R_plate.png'), a.plate);
    await drop(path.join(dirs.inbox, 'R', 'look-01.png'), a.shot);
    await waitFor('first job done', () => d.catalog.counts().done === 1);
    assert.deepEqual(await tree(path.join(dirs.output, 'R')), ['look-01.png']);
    // An invalid edit is rejected; the daemon keeps running on the old config.
    await fs.writeFile(file, stringify({ ...config, jobs: { ...config.jobs, concurrency: 0 } }));
    await new Promise((r) => setTimeout(r, 1500));
    // A valid edit (alpha PNG on) is applied to the next job.
    await fs.writeFile(file, stringify({ ...config, outputs: { ...config.outputs, alphaPng: true } }));
    await waitFor('reload logged', async () => /config changed: .*outputs\.alphaPng/.test(await logText(dirs)), 15_000);
    await drop(path.join(dirs.inbox, 'R', 'look-02.png'), (await makePair(W, H, 12)).shot);
    await waitFor('second job done', () => d.catalog.counts().done === 2, 30_000);
    assert.deepEqual(await tree(path.join(dirs.output, 'R')), ['look-01.png', 'look-02.alpha.png', 'look-02.png']);
    assert.match(await logText(dirs), /config change rejected, keeping the running config: .*jobs\.concurrency/);
  } finally {
    await d.stop();
  }
});

async function logText(dirs: { root: string }): Promise<string> {
  const dir = path.join(dirs.root, 'log');
  const files = await fs.readdir(dir).catch(() => [] as string[]);
  const texts = await Promise.all(files.map((f) => fs.readFile(path.join(dir, f), 'utf8')));
  return texts.join('\n');
}
