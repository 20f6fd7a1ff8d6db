import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { Catalog } from '../../src/catalog/catalog.js';
import { shareSchema } from '../../src/config/schema.js';
import { deliverJob, outputsComplete, settleFailedJob, type RenderedJob } from '../../src/deliver/deliver.js';
import { moveFileExact, writeFileExact } from '../../src/deliver/atomic.js';
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
  catalog.recordFile({ share: 's', session: 'S1', relPath: 'look-01.jpg', kind: 'shot', size: 10, mtimeMs: 1, hash: 'a', capturedAt: 1, location: shotPath });
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
