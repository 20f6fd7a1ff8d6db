/**
 * The real daemon on real folders when the world changes under a job: a shot
 * replaced or deleted from the inbox while its job runs (before or after it is
 * rendered), a job found
 * running at start-up that has used up its attempts (it crashed the daemon),
 * and a clean stop in the middle of a job (which gives its attempt back).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Catalog } from '../../src/catalog/catalog.js';
import { hashFile } from '../../src/catalog/ingest.js';
import type { Daemon } from '../../src/daemon.js';
import { drop, makeDirs, makePair, startDaemon, testConfig, tree, waitFor } from './harness.js';

const W = 240;
const H = 360;

/** Runs `hook` after each real render, before delivery (the moment a photographer may touch the inbox). */
function afterRender(d: Daemon, hook: (shotPath: string) => Promise<void>): void {
  const pool = (d as unknown as { pool: { render(shot: string, plate: string): Promise<unknown> } }).pool;
  const render = pool.render.bind(pool);
  pool.render = async (shot: string, plate: string) => {
    const rendered = await render(shot, plate);
    await hook(shot);
    return rendered;
  };
}

/** Runs `hook` just before each real render starts (the worker has not read the shot yet). */
function beforeRender(d: Daemon, hook: (shotPath: string) => Promise<void>): void {
  const pool = (d as unknown as { pool: { render(shot: string, plate: string): Promise<unknown> } }).pool;
  const render = pool.render.bind(pool);
  pool.render = async (shot: string, plate: string) => {
    await hook(shot);
    return render(shot, plate);
  };
}

/**
 * Runs `hook` (synchronously) once delivery has reserved the archive path of the file at `location`:
 * the outputs are published, the original not yet moved.
 */
function whenArchiving(d: Daemon, location: string, hook: () => void): void {
  const catalog = d.catalog;
  const reserve = catalog.reserveGroup.bind(catalog);
  let done = false;
  catalog.reserveGroup = (owner, dir, entries, exists) => {
    const rows = reserve(owner, dir, entries, exists);
    if (!done && entries[0]?.kind === 'archive' && owner.fileId !== undefined && catalog.getFile(owner.fileId)?.location === location) {
      done = true;
      hook();
    }
    return rows;
  };
}

async function logText(root: string): Promise<string> {
  const dir = path.join(root, 'log');
  const files = await fs.readdir(dir).catch(() => [] as string[]);
  return (await Promise.all(files.map((f) => fs.readFile(path.join(dir, f), 'utf8')))).join('\n');
}

test('a shot replaced while its job runs is a new version processed by its own job; a deleted one is still done', async (t) => {
  const dirs = makeDirs(t, 'changed');
  const d = await startDaemon(testConfig(dirs));
  try {
    const a = await makePair(W, H, 51);
    const b = await makePair(W, H, 52);
    const c = await makePair(W, H, 53);
    const shot4 = path.join(dirs.inbox, 'sess1', 'shot4.png');
    const shot5 = path.join(dirs.inbox, 'sess1', 'shot5.png');
    const touched = new Set<string>();
    // shot4 is replaced once its outputs are published (replaced earlier, it is not rendered at all: next test).
    whenArchiving(d, shot4, () => {
      writeFileSync(`${shot4}.part`, b.shot); // content C over content D
      renameSync(`${shot4}.part`, shot4);
    });
    afterRender(d, async (shot) => {
      if (touched.has(shot)) return;
      touched.add(shot);
      if (shot === shot5) await fs.rm(shot5);
    });
    await drop(path.join(dirs.inbox, 'sess1', 'sess1_plate.png'), a.plate);
    await drop(shot4, a.shot);
    await waitFor('shot4 done', () => d.catalog.counts().done === 1, 20_000);
    await drop(shot5, c.shot);
    await waitFor('3 jobs finished', () => d.catalog.counts().done + d.catalog.counts().failed === 3, 30_000);
    assert.equal(d.catalog.counts().failed, 0, JSON.stringify(d.catalog.jobs().map((j) => j.last_error)));
    assert.deepEqual(await tree(dirs.failed), []);
    // The new version of shot4 was archived by its own job; nothing was archived for the overwritten one.
    const archived = await tree(path.join(dirs.archive, 'sess1'));
    assert.ok(!archived.includes('shot4.png'), archived.join(', '));
    assert.ok(!archived.includes('shot5.png'), archived.join(', '));
    const newVersion = path.join(dirs.archive, 'sess1', 'shot4 (2).png');
    assert.ok(readFileSync(newVersion).equals(b.shot), 'the archived shot4 is the new version');
    assert.deepEqual(await tree(path.join(dirs.output, 'sess1')), [
      'shot4 (2).alpha.png', 'shot4 (2).json', 'shot4 (2).png',
      'shot4.alpha.png', 'shot4.json', 'shot4.png',
      'shot5.alpha.png', 'shot5.json', 'shot5.png',
    ]);
    await waitFor('said so in the log', async () => /shot4\.png was replaced by a new version/.test(await logText(dirs.root)) && /shot5\.png vanished from the inbox/.test(await logText(dirs.root)), 10_000);
  } finally {
    await d.stop();
  }
});

test('a shot replaced before or while it is rendered is not delivered for the old version, only once for the new one', async (t) => {
  const dirs = makeDirs(t, 'superseded');
  const d = await startDaemon(testConfig(dirs));
  try {
    const a = await makePair(W, H, 61);
    const b = await makePair(W, H, 62);
    const c = await makePair(W, H, 63);
    const e = await makePair(W, H, 64);
    const early = path.join(dirs.inbox, 'sess2', 'early.png'); // replaced just before its render starts
    const late = path.join(dirs.inbox, 'sess2', 'late.png'); // replaced while it renders (before delivery)
    const touched = new Set<string>();
    const replace = async (shot: string, data: Buffer, jobs: number): Promise<void> => {
      touched.add(shot);
      await drop(shot, data);
      await waitFor('the new version catalogued', () => d.catalog.jobs().length === jobs, 15_000);
    };
    beforeRender(d, async (shot) => {
      if (shot === early && !touched.has(shot)) await replace(early, b.shot, 2);
    });
    afterRender(d, async (shot) => {
      if (shot === late && !touched.has(shot)) await replace(late, e.shot, 4);
    });
    await drop(path.join(dirs.inbox, 'sess2', 'sess2_plate.png'), a.plate);
    await drop(early, a.shot);
    await waitFor('early: both versions done', () => d.catalog.counts().done === 2, 30_000);
    await drop(late, c.shot);
    await waitFor('late: both versions done', () => d.catalog.counts().done + d.catalog.counts().failed === 4, 30_000);
    const jobs = d.catalog.jobs();
    assert.equal(d.catalog.counts().failed, 0, JSON.stringify(jobs.map((j) => j.last_error)));
    for (const rel of ['early.png', 'late.png']) {
      const [old, fresh] = jobs.filter((j) => j.rel_path === rel).sort((x, y) => x.id - y.id);
      assert.equal(old.state, 'done');
      const oldResult = JSON.parse(old.result!) as { outputs: string[]; warnings: string[] };
      assert.deepEqual(oldResult.outputs, [], `${rel}: nothing published for the old version`);
      assert.ok(oldResult.warnings.some((w) => w.includes(`${rel} was superseded by a new version`)), oldResult.warnings.join(' | '));
      assert.equal(fresh.state, 'done');
      assert.equal((JSON.parse(fresh.result!) as { outputs: string[] }).outputs.length, 2);
    }
    // Each new version is delivered exactly once, under its own name.
    assert.deepEqual(await tree(path.join(dirs.output, 'sess2')), [
      'early.alpha.png', 'early.json', 'early.png',
      'late.alpha.png', 'late.json', 'late.png',
    ]);
    assert.deepEqual(await tree(dirs.failed), []);
    const archived = path.join(dirs.archive, 'sess2');
    assert.ok(readFileSync(path.join(archived, 'early (2).png')).equals(b.shot), 'the archived early.png is the new version');
    assert.ok(readFileSync(path.join(archived, 'late (2).png')).equals(e.shot), 'the archived late.png is the new version');
    await waitFor('said so in the log', async () => /early\.png was superseded by a new version/.test(await logText(dirs.root)) && /late\.png was superseded by a new version/.test(await logText(dirs.root)), 10_000);
  } finally {
    await d.stop();
  }
});

test('a job found running at start-up that has used up its attempts fails with the reason instead of running again', async (t) => {
  const dirs = makeDirs(t, 'giveup');
  const config = testConfig(dirs); // jobs.maxAttempts: 2
  const p = await makePair(W, H, 54);
  const plate = path.join(dirs.inbox, 'K', 'K_plate.png');
  const shot = path.join(dirs.inbox, 'K', 'look-01.png');
  await drop(plate, p.plate);
  await drop(shot, p.shot);
  // The catalog of a daemon that was killed twice in the middle of this shot (e.g. an OOM kill on a bad file).
  const before = Catalog.open(config.catalog.path);
  for (const [file, kind] of [[plate, 'plate'], [shot, 'shot']] as const) {
    const st = statSync(file);
    before.recordFile({
      share: 'studio', session: 'K', relPath: path.basename(file), kind, size: st.size, mtimeMs: st.mtimeMs,
      hash: await hashFile(file), capturedAt: st.mtimeMs, location: file,
    });
  }
  const job = before.claimNextJob()!;
  assert.deepEqual(before.recoverRunning(2, 'found running at start-up (the daemon stopped mid-job)'), { requeued: [job.id], gaveUp: [] });
  assert.equal(before.claimNextJob()!.attempts, 2);
  before.close();

  const d = await startDaemon(config);
  try {
    await waitFor('error note', () => existsSync(path.join(dirs.failed, 'K', 'look-01.png.error.txt')), 15_000);
    const note = readFileSync(path.join(dirs.failed, 'K', 'look-01.png.error.txt'), 'utf8');
    assert.match(note, /the daemon died during this job 2 times/);
    assert.ok(readFileSync(path.join(dirs.failed, 'K', 'look-01.png')).equals(p.shot));
    const after = d.catalog.getJob(job.id)!;
    assert.equal(after.state, 'failed');
    assert.equal(after.attempts, 2, 'not run a third time');
    assert.deepEqual(await tree(dirs.output), []);
    // The operator can still retry it.
    assert.deepEqual(d.catalog.retry({ jobId: job.id }), [job.id]);
    d.wake();
    await waitFor('retried job done', () => d.catalog.counts().done === 1, 20_000);
  } finally {
    await d.stop();
  }
});

test('a clean stop in the middle of a job re-queues it and gives its attempt back; the next start renders it as attempt 1', async (t) => {
  const dirs = makeDirs(t, 'stopped');
  const config = testConfig(dirs); // jobs.maxAttempts: 2
  const p = await makePair(W, H, 55);
  const first = await startDaemon(config);
  let stopping: Promise<void> | undefined;
  // The operator stops the daemon (SIGTERM, no grace left) while the job is about to render.
  beforeRender(first, async () => {
    stopping ??= first.stop(0);
    await waitFor('the workers closed', () => (first as unknown as { abandoned: boolean }).abandoned, 10_000);
  });
  await drop(path.join(dirs.inbox, 'S', 'S_plate.png'), p.plate);
  await drop(path.join(dirs.inbox, 'S', 'look-01.png'), p.shot);
  await waitFor('stop requested mid-job', () => stopping !== undefined, 20_000);
  await stopping;
  const c = Catalog.open(config.catalog.path);
  let jobId: number;
  try {
    const [job] = c.jobs();
    jobId = job.id;
    assert.equal(job.state, 'queued');
    assert.equal(job.attempts, 0, 'the interrupted attempt is given back');
    const reasons = (c.db.prepare('SELECT reason FROM transitions WHERE job_id = ? ORDER BY id').all(job.id) as { reason: string }[]).map((r) => r.reason);
    assert.deepEqual(reasons, ['plate-found', 'claimed', 'stopped']);
  } finally {
    c.close();
  }
  assert.deepEqual(await tree(dirs.output), []);
  const second = await startDaemon(config);
  try {
    await waitFor('delivered after the restart', () => second.catalog.counts().done === 1, 20_000);
    assert.equal(second.catalog.getJob(jobId)!.attempts, 1);
    assert.match(await logText(dirs.root), /matting S\/look-01\.png \(attempt 1\)/);
  } finally {
    await second.stop();
  }
});
