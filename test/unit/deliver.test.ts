import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, linkSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Catalog, type JobContext } from '../../src/catalog/catalog.js';
import { hashFile } from '../../src/catalog/ingest.js';
import { shareSchema } from '../../src/config/schema.js';
import { deliverJob, outputsComplete, settleFailedJob, type RenderedJob } from '../../src/deliver/deliver.js';
import { moveFileExact, writeFileExact } from '../../src/deliver/atomic.js';
import { CleanplateError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

function setup(t: TestContext, keepOriginals: 'archive' | 'leave' = 'archive') {
  const root = tempDir(t, 'cp-deliver-');
  const share = shareSchema.parse({
    name: 's',
    inbox: path.join(root, 'inbox'),
    output: path.join(root, 'output'),
    failed: path.join(root, 'failed'),
    archive: path.join(root, 'archive'),
    keepOriginals,
  });
  mkdirSync(path.join(share.inbox, 'S1'), { recursive: true });
  const shotPath = path.join(share.inbox, 'S1', 'look-01.jpg');
  writeFileSync(shotPath, 'shot-bytes');
  const catalog = Catalog.open(path.join(root, 'c.db'));
  catalog.recordFile({ share: 's', session: 'S1', relPath: 'p_plate.jpg', kind: 'plate', size: 1, mtimeMs: 1, hash: 'p', capturedAt: 0, location: path.join(share.inbox, 'S1', 'p_plate.jpg') });
  // The catalogued row describes the real file (delivery moves an original only while it is still the catalogued one).
  const st = statSync(shotPath);
  const hash = createHash('sha256').update('shot-bytes').digest('hex');
  catalog.recordFile({ share: 's', session: 'S1', relPath: 'look-01.jpg', kind: 'shot', size: st.size, mtimeMs: st.mtimeMs, hash, capturedAt: 1, location: shotPath });
  const job = catalog.claimNextJob()!;
  return { root, share, catalog, shotPath, ctx: () => catalog.jobContext(job.id)! };
}

const rendered = (): RenderedJob => ({
  outputs: [
    { kind: 'rgba-png', suffix: '', ext: '.png', data: Buffer.from('png') },
    { kind: 'alpha-png', suffix: '.alpha', ext: '.png', data: Buffer.from('alpha') },
  ],
  sidecar: { engine: 'test' },
  warnings: ['w1'],
  timingsMs: { total: 5 },
});

test('writeFileExact publishes atomically and never overwrites', async (t) => {
  const dir = tempDir(t, 'cp-exact-');
  const file = path.join(dir, 'a.png');
  assert.equal(await writeFileExact(file, 'one'), true);
  assert.equal(await writeFileExact(file, 'two'), false);
  assert.equal(readFileSync(file, 'utf8'), 'one');
  assert.deepEqual(readdirSync(dir), ['a.png']); // no temp files left
});

test('moveFileExact moves within and across filesystems without overwriting', async (t) => {
  const dir = tempDir(t, 'cp-move-');
  writeFileSync(path.join(dir, 'a'), 'A');
  assert.equal(await moveFileExact(path.join(dir, 'a'), path.join(dir, 'b')), true);
  assert.equal(existsSync(path.join(dir, 'a')), false);
  writeFileSync(path.join(dir, 'c'), 'C');
  assert.equal(await moveFileExact(path.join(dir, 'c'), path.join(dir, 'b')), false);
  assert.equal(readFileSync(path.join(dir, 'b'), 'utf8'), 'A');
  assert.equal(existsSync(path.join(dir, 'c')), true);
  const shm = '/dev/shm';
  if (existsSync(shm) && statSync(shm).dev !== statSync(dir).dev) {
    const other = tempDir(t, 'cp-move-', shm);
    assert.equal(await moveFileExact(path.join(dir, 'c'), path.join(other, 'c')), true); // EXDEV path
    assert.equal(readFileSync(path.join(other, 'c'), 'utf8'), 'C');
    assert.equal(existsSync(path.join(dir, 'c')), false);
    assert.deepEqual(readdirSync(other), ['c']);
  }
});

test('deliverJob writes outputs + sidecar, archives the original, marks the job done once', async (t) => {
  const { share, catalog, shotPath, ctx } = setup(t);
  // An older delivery occupies the plain names: the new one gets a common suffix.
  mkdirSync(path.join(share.output, 'S1'), { recursive: true });
  writeFileSync(path.join(share.output, 'S1', 'look-01.png'), 'old');
  const result = await deliverJob(catalog, ctx(), share, rendered());
  const out = path.join(share.output, 'S1');
  assert.deepEqual(result.outputs, [path.join(out, 'look-01 (2).png'), path.join(out, 'look-01 (2).alpha.png')]);
  assert.equal(readFileSync(path.join(out, 'look-01.png'), 'utf8'), 'old');
  const sidecar = JSON.parse(readFileSync(result.sidecar!, 'utf8')) as { outputs: string[]; engine: string };
  assert.deepEqual(sidecar.outputs, ['look-01 (2).png', 'look-01 (2).alpha.png']);
  assert.equal(existsSync(shotPath), false);
  assert.equal(readFileSync(path.join(share.archive, 'S1', 'look-01.jpg'), 'utf8'), 'shot-bytes');
  const job = catalog.getJob(ctx().job.id)!;
  assert.equal(job.state, 'done');
  assert.equal(job.settled, 1);
  assert.equal(catalog.getFile(job.shot_id)!.location, path.join(share.archive, 'S1', 'look-01.jpg'));
  assert.deepEqual((JSON.parse(job.result!) as { warnings: string[] }).warnings, ['w1']);
});

test('a crash after some outputs were published: the retry completes the same paths, no second copy', async (t) => {
  const { share, catalog, ctx } = setup(t);
  const c = ctx();
  // First attempt: reserved and published the PNG, then "crashed".
  mkdirSync(path.join(share.output, 'S1'), { recursive: true });
  const rows = catalog.reserveGroup({ jobId: c.job.id }, path.join(share.output, 'S1'), [
    { kind: 'output', slot: 'rgba-png', stem: 'look-01', tail: '.png' },
    { kind: 'output', slot: 'alpha-png', stem: 'look-01', tail: '.alpha.png' },
    { kind: 'sidecar', slot: 'sidecar', stem: 'look-01', tail: '.json' },
  ], existsSync);
  await writeFileExact(rows[0].path, 'png');
  assert.equal(outputsComplete(catalog, c.job.id), false);
  await deliverJob(catalog, c, share, rendered());
  assert.deepEqual(readdirSync(path.join(share.output, 'S1')).sort(), ['look-01.alpha.png', 'look-01.json', 'look-01.png']);
  assert.equal(outputsComplete(catalog, c.job.id), true);
});

test('keepOriginals: leave keeps the shot in the inbox', async (t) => {
  const { share, catalog, shotPath, ctx } = setup(t, 'leave');
  const result = await deliverJob(catalog, ctx(), share, rendered());
  assert.equal(result.archivedTo, null);
  assert.equal(existsSync(shotPath), true);
});

test('settleFailedJob moves the shot to failed/ with an error note; idempotent', async (t) => {
  const { share, catalog, shotPath, ctx } = setup(t);
  catalog.transition(ctx().job.id, 'gave-up', 'corrupt: look-01.jpg is truncated');
  const to = await settleFailedJob(catalog, ctx(), share, 'corrupt: look-01.jpg is truncated');
  assert.equal(to, path.join(share.failed, 'S1', 'look-01.jpg'));
  assert.equal(existsSync(shotPath), false);
  const note = readFileSync(`${to}.error.txt`, 'utf8');
  assert.match(note, /reason: corrupt: look-01.jpg is truncated/);
  assert.match(note, /cleanplate retry/);
  await settleFailedJob(catalog, ctx(), share, 'again'); // a second run changes nothing
  assert.deepEqual(readdirSync(path.join(share.failed, 'S1')).sort(), ['look-01.jpg', 'look-01.jpg.error.txt']);
  assert.equal(catalog.getJob(ctx().job.id)!.settled, 1);
});

/** Catalogues the real file at `file` (its real size, mtime and hash) as a shot of S1 and returns its job's context. */
async function catalogueReal(catalog: Catalog, share: { inbox: string }, relPath: string): Promise<() => JobContext> {
  const file = path.join(share.inbox, 'S1', relPath);
  const st = statSync(file);
  const { file: row } = catalog.recordFile({
    share: 's', session: 'S1', relPath, kind: 'shot', size: st.size, mtimeMs: st.mtimeMs, hash: await hashFile(file), capturedAt: 2, location: file,
  });
  const job = catalog.db.prepare('SELECT id FROM jobs WHERE shot_id = ?').get(row.id) as { id: number };
  return () => catalog.jobContext(job.id)!;
}

/** Replaces a file the way copy tools do (temp name, then rename over it). */
function replaceFile(file: string, data: string): void {
  writeFileSync(`${file}.part`, data);
  renameSync(`${file}.part`, file);
}

test('a shot replaced by a new version while its job ran: the new file is left for its own job, which archives it', async (t) => {
  const { share, catalog, shotPath, ctx } = setup(t);
  catalog.transition(ctx().job.id, 'delivered', 'the setup shot is not part of this test');
  writeFileSync(path.join(share.inbox, 'S1', 'shot4.png'), 'version D');
  const v1 = await catalogueReal(catalog, share, 'shot4.png');
  assert.equal(catalog.claimNextJob()!.id, v1().job.id);
  // While job 4 renders, the photographer drops a changed shot4.png: a new version with its own job.
  replaceFile(path.join(share.inbox, 'S1', 'shot4.png'), 'version C (changed)');
  const v2 = await catalogueReal(catalog, share, 'shot4.png');
  assert.equal(v2().shot.version, 2);
  const r1 = await deliverJob(catalog, v1(), share, rendered());
  assert.equal(catalog.getJob(v1().job.id)!.state, 'done');
  assert.equal(r1.archivedTo, null, 'the old version\'s original is gone: nothing archived for it');
  assert.match(r1.warnings.join('\n'), /replaced by a new version/);
  assert.equal(readFileSync(path.join(share.inbox, 'S1', 'shot4.png'), 'utf8'), 'version C (changed)', 'the new version stays in the inbox');
  assert.equal(existsSync(path.join(share.archive, 'S1', 'shot4.png')), false);
  // The new version's job runs normally and archives ITS file.
  assert.equal(catalog.claimNextJob()!.id, v2().job.id);
  const r2 = await deliverJob(catalog, v2(), share, rendered());
  assert.equal(catalog.getJob(v2().job.id)!.state, 'done');
  assert.equal(readFileSync(r2.archivedTo!, 'utf8'), 'version C (changed)');
  assert.equal(existsSync(path.join(share.inbox, 'S1', 'shot4.png')), false);
  assert.ok(existsSync(shotPath), 'unrelated file untouched');
});

test('a reserved archive path taken by another file of the same size: the original is kept, not deleted', async (t) => {
  const { share, catalog, ctx } = setup(t);
  catalog.transition(ctx().job.id, 'delivered', 'the setup shot is not part of this test');
  const src = path.join(share.inbox, 'S1', 'look-02.jpg');
  writeFileSync(src, 'original-02');
  const c = await catalogueReal(catalog, share, 'look-02.jpg');
  catalog.claimNextJob();
  const dir = path.join(share.archive, 'S1');
  mkdirSync(dir, { recursive: true });
  const [row] = catalog.reserveGroup({ fileId: c().shot.id }, dir, [{ kind: 'archive', slot: 'archive', stem: 'look-02', tail: '.jpg' }], existsSync);
  writeFileSync(row.path, 'SOMETHING!!'); // same size, other content, appeared after the reservation
  await assert.rejects(deliverJob(catalog, c(), share, rendered()), (e: unknown) => e instanceof CleanplateError && e.code === 'internal');
  assert.equal(readFileSync(src, 'utf8'), 'original-02', 'the original must not be deleted');
  assert.equal(readFileSync(row.path, 'utf8'), 'SOMETHING!!');
});

test('a crash between publishing and removing the original (link or cross-device copy): the rerun removes the source', async (t) => {
  const { share, catalog, ctx } = setup(t);
  catalog.transition(ctx().job.id, 'delivered', 'the setup shot is not part of this test');
  const dir = path.join(share.archive, 'S1');
  mkdirSync(dir, { recursive: true });
  for (const [name, how] of [['look-03.jpg', 'link'], ['look-04.jpg', 'copy']] as const) {
    const src = path.join(share.inbox, 'S1', name);
    writeFileSync(src, `bytes of ${name}`);
    const c = await catalogueReal(catalog, share, name);
    catalog.claimNextJob();
    const [row] = catalog.reserveGroup({ fileId: c().shot.id }, dir, [{ kind: 'archive', slot: 'archive', ...{ stem: name.slice(0, -4), tail: '.jpg' } }], existsSync);
    if (how === 'link') linkSync(src, row.path);
    else copyFileSync(src, row.path);
    const r = await deliverJob(catalog, c(), share, rendered());
    assert.equal(r.archivedTo, row.path);
    assert.equal(existsSync(src), false, `${how}: source removed`);
    assert.equal(readFileSync(row.path, 'utf8'), `bytes of ${name}`);
  }
});

test('a shot deleted from the inbox after rendering: outputs published, job done (not failed), and it says so', async (t) => {
  const { share, catalog, shotPath, ctx } = setup(t);
  rmSync(shotPath);
  const result = await deliverJob(catalog, ctx(), share, rendered());
  const job = catalog.getJob(ctx().job.id)!;
  assert.equal(job.state, 'done');
  assert.equal(job.settled, 1);
  assert.equal(result.archivedTo, null);
  assert.match(result.warnings.join('\n'), /vanished from the inbox/);
  assert.deepEqual(readdirSync(path.join(share.output, 'S1')).sort(), ['look-01.alpha.png', 'look-01.json', 'look-01.png']);
  assert.equal(existsSync(path.join(share.archive, 'S1', 'look-01.jpg')), false);
});

test('leftover temp files of a crashed attempt are removed when the job is settled; others are kept', async (t) => {
  const { share, catalog, ctx } = setup(t);
  const out = path.join(share.output, 'S1');
  mkdirSync(out, { recursive: true });
  catalog.reserveGroup({ jobId: ctx().job.id }, out, [
    { kind: 'output', slot: 'rgba-png', stem: 'look-01', tail: '.png' },
    { kind: 'output', slot: 'alpha-png', stem: 'look-01', tail: '.alpha.png' },
    { kind: 'sidecar', slot: 'sidecar', stem: 'look-01', tail: '.json' },
  ], existsSync);
  // SIGKILLed attempts of this job left temps; another job's temp and a user's dot-file must stay.
  writeFileSync(path.join(out, '.look-01.png.4242.0123456789ab.tmp'), 'half');
  writeFileSync(path.join(out, '.look-01.json.77.a1b2c3d4e5f6.tmp'), '{');
  writeFileSync(path.join(out, '.look-02.png.4242.0123456789ab.tmp'), 'other job');
  writeFileSync(path.join(out, '.look-01.png.notes'), 'user file');
  await deliverJob(catalog, ctx(), share, rendered());
  assert.deepEqual(readdirSync(out).sort(), ['.look-01.png.notes', '.look-02.png.4242.0123456789ab.tmp', 'look-01.alpha.png', 'look-01.json', 'look-01.png']);
  // And for a failed job: temps left in failed/ by a crashed cross-device move.
  const { share: s2, catalog: c2, ctx: ctx2 } = setup(t);
  const failedDir = path.join(s2.failed, 'S1');
  mkdirSync(failedDir, { recursive: true });
  writeFileSync(path.join(failedDir, '.look-01.jpg.99.fedcba987654.tmp'), 'half a copy');
  c2.transition(ctx2().job.id, 'gave-up', 'corrupt');
  await settleFailedJob(c2, ctx2(), s2, 'corrupt');
  assert.deepEqual(readdirSync(failedDir).sort(), ['look-01.jpg', 'look-01.jpg.error.txt']);
});
