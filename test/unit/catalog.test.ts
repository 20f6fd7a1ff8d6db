import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Catalog, type FileInput } from '../../src/catalog/catalog.js';

function fresh(clock = { t: 1_000_000 }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cp-cat-'));
  const file = path.join(dir, 'sub', 'c.db');
  return { file, clock, cat: Catalog.open(file, { now: () => clock.t }) };
}

const f = (over: Partial<FileInput>): FileInput => ({
  share: 's',
  session: 'S1',
  relPath: 'a.jpg',
  kind: 'shot',
  size: 10,
  mtimeMs: 5,
  hash: 'h-a',
  capturedAt: 2000,
  location: '/x/a.jpg',
  ...over,
});

test('a shot waits for its plate; a late plate releases it; the job runs to done once', () => {
  const { cat } = fresh();
  const shot = cat.recordFile(f({}));
  assert.equal(shot.isNew, true);
  const job = cat.db.prepare('SELECT * FROM jobs WHERE shot_id = ?').get(shot.file.id) as { id: number; state: string };
  assert.equal(job.state, 'waiting_for_plate');
  assert.equal(cat.claimNextJob(), undefined);
  const plate = cat.recordFile(f({ relPath: 'x_plate.jpg', kind: 'plate', hash: 'h-p', capturedAt: 1000 }));
  const queued = cat.getJob(job.id)!;
  assert.equal(queued.state, 'queued');
  assert.equal(queued.plate_id, plate.file.id);
  const claimed = cat.claimNextJob()!;
  assert.equal(claimed.id, job.id);
  assert.equal(claimed.attempts, 1);
  cat.transition(job.id, 'delivered', undefined, { result: '{"png":"out/a.png"}' });
  assert.throws(() => cat.transition(job.id, 'delivered'), /illegal/);
  assert.deepEqual(cat.counts(), { waiting_for_plate: 0, queued: 0, running: 0, done: 1, failed: 0 });
});

test('two plates: each shot takes the latest plate captured before it', () => {
  const { cat } = fresh();
  const p1 = cat.recordFile(f({ relPath: 'p1_plate.jpg', kind: 'plate', hash: 'p1', capturedAt: 1000 })).file.id;
  const p2 = cat.recordFile(f({ relPath: 'p2_plate.jpg', kind: 'plate', hash: 'p2', capturedAt: 3000 })).file.id;
  const early = cat.recordFile(f({ relPath: 'a.jpg', hash: 'a', capturedAt: 2000 })).file.id;
  const late = cat.recordFile(f({ relPath: 'b.jpg', hash: 'b', capturedAt: 4000 })).file.id;
  const plateOf = (shot: number) => (cat.db.prepare('SELECT plate_id FROM jobs WHERE shot_id = ?').get(shot) as { plate_id: number }).plate_id;
  assert.equal(plateOf(early), p1);
  assert.equal(plateOf(late), p2);
});

test('identity by content: a rename is the same file, a changed re-drop is a new version', () => {
  const { cat } = fresh();
  const first = cat.recordFile(f({}));
  const renamed = cat.recordFile(f({ relPath: 'renamed.jpg', location: '/x/renamed.jpg' }));
  assert.equal(renamed.isNew, false);
  assert.equal(renamed.file.id, first.file.id);
  assert.equal(cat.findUnchanged('s', 'S1', 'renamed.jpg', 10, 5)?.id, first.file.id);
  const changed = cat.recordFile(f({ relPath: 'renamed.jpg', hash: 'h-a2', mtimeMs: 9 }));
  assert.equal(changed.isNew, true);
  assert.equal(changed.file.version, 2);
  assert.equal((cat.db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n, 2);
});

test('state survives reopening; running jobs are re-queued after a crash; waiting shots time out', () => {
  const { cat, file, clock } = fresh();
  cat.recordFile(f({ relPath: 'p_plate.jpg', kind: 'plate', hash: 'p', capturedAt: 0 }));
  cat.recordFile(f({}));
  const running = cat.claimNextJob()!;
  cat.recordFile(f({ session: 'S2', hash: 'w' })); // no plate in S2
  cat.close(); // "crash"
  const again = Catalog.open(file, { now: () => clock.t });
  assert.deepEqual(again.requeueRunning('found running at start-up'), [running.id]);
  assert.equal(again.getJob(running.id)!.state, 'queued');
  clock.t += 61 * 60_000;
  const timedOut = again.failWaiting(60 * 60_000);
  assert.equal(timedOut.length, 1);
  const failed = again.getJob(timedOut[0])!;
  assert.equal(failed.state, 'failed');
  assert.match(failed.last_error!, /no plate arrived within 60 min/);
  const reasons = (again.db.prepare('SELECT reason FROM transitions ORDER BY id').all() as { reason: string }[]).map((r) => r.reason);
  assert.deepEqual(reasons, ['plate-found', 'claimed', 'interrupted', 'plate-timeout']);
  again.close();
});
