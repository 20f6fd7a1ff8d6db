import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { Catalog, type FileInput } from '../../src/catalog/catalog.js';
import { tempDir } from '../helpers/tmp.js';

function fresh(t: TestContext, clock = { t: 1_000_000 }) {
  const dir = tempDir(t, 'cp-cat-');
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

test('a shot waits for its plate; a late plate releases it; the job runs to done once', (t) => {
  const { cat } = fresh(t);
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

test('two plates: each shot takes the latest plate captured before it', (t) => {
  const { cat } = fresh(t);
  const p1 = cat.recordFile(f({ relPath: 'p1_plate.jpg', kind: 'plate', hash: 'p1', capturedAt: 1000 })).file.id;
  const p2 = cat.recordFile(f({ relPath: 'p2_plate.jpg', kind: 'plate', hash: 'p2', capturedAt: 3000 })).file.id;
  const early = cat.recordFile(f({ relPath: 'a.jpg', hash: 'a', capturedAt: 2000 })).file.id;
  const late = cat.recordFile(f({ relPath: 'b.jpg', hash: 'b', capturedAt: 4000 })).file.id;
  const plateOf = (shot: number) => (cat.db.prepare('SELECT plate_id FROM jobs WHERE shot_id = ?').get(shot) as { plate_id: number }).plate_id;
  assert.equal(plateOf(early), p1);
  assert.equal(plateOf(late), p2);
});

test('identity by content: a rename is the same file, a changed re-drop is a new version', (t) => {
  const { cat } = fresh(t);
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

test('state survives reopening; running jobs are re-queued after a crash; waiting shots time out', (t) => {
  const { cat, file, clock } = fresh(t);
  cat.recordFile(f({ relPath: 'p_plate.jpg', kind: 'plate', hash: 'p', capturedAt: 0 }));
  cat.recordFile(f({}));
  const running = cat.claimNextJob()!;
  cat.recordFile(f({ session: 'S2', hash: 'w' })); // no plate in S2
  cat.close(); // "crash"
  const again = Catalog.open(file, { now: () => clock.t });
  assert.deepEqual(again.recoverRunning(3, 'found running at start-up'), { requeued: [running.id], gaveUp: [] });
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

test('delivery manifest: a group shares one free suffix, is reused by a restarted attempt, and skips names on disk', (t) => {
  const { cat } = fresh(t);
  const plate = cat.recordFile(f({ relPath: 'p_plate.jpg', kind: 'plate', hash: 'p', capturedAt: 0 })).file;
  cat.recordFile(f({}));
  const job = cat.claimNextJob()!;
  const onDisk = new Set(['/out/a.json']);
  const entries = [
    { kind: 'output' as const, slot: 'rgba-png', stem: 'a', tail: '.png' },
    { kind: 'sidecar' as const, slot: 'sidecar', stem: 'a', tail: '.json' },
  ];
  const rows = cat.reserveGroup({ jobId: job.id }, '/out', entries, (p) => onDisk.has(p));
  assert.deepEqual(rows.map((r) => r.path), ['/out/a (2).png', '/out/a (2).json']);
  // The same owner asking again (after a crash) gets the same rows, even if the names now exist.
  const again = cat.reserveGroup({ jobId: job.id }, '/out', entries, () => true);
  assert.deepEqual(again.map((r) => r.id), rows.map((r) => r.id));
  // Another owner never gets a reserved path.
  const other = cat.reserveGroup({ fileId: plate.id }, '/out', [{ kind: 'archive', slot: 'archive', stem: 'a (2)', tail: '.png' }], () => false);
  assert.equal(other[0].path, '/out/a (2) (2).png');
  cat.markDelivered(rows[0].id);
  assert.deepEqual(cat.deliveriesOfJob(job.id).map((r) => r.done), [1, 0]);
});

test('retry: a failed job goes back to the queue; without a plate it waits again', (t) => {
  const { cat, clock } = fresh(t);
  cat.recordFile(f({ session: 'S2', hash: 'w' }));
  clock.t += 10 * 60_000;
  const [id] = cat.failWaiting(60_000);
  cat.settle(id);
  cat.reserveGroup({ jobId: id, fileId: cat.getJob(id)!.shot_id }, '/failed', [{ kind: 'failed', slot: 'failed', stem: 'a', tail: '.jpg' }], () => false);
  assert.deepEqual(cat.unsettledFailed(), []);
  assert.deepEqual(cat.retry({ session: 'S2' }), [id]);
  const job = cat.getJob(id)!;
  assert.equal(job.state, 'waiting_for_plate');
  assert.equal(job.settled, 0);
  assert.equal(job.last_error, null);
  assert.deepEqual(cat.deliveriesOfJob(id), []);
  cat.recordFile(f({ session: 'S2', relPath: 'p_plate.jpg', kind: 'plate', hash: 'p2', capturedAt: 0 }));
  assert.equal(cat.getJob(id)!.state, 'queued');
  assert.deepEqual(cat.retry({ jobId: id }), []); // not failed: nothing to retry
});

test('sessions are tidied only when every job is settled and the session has been quiet', (t) => {
  const { cat, clock } = fresh(t);
  cat.recordFile(f({ relPath: 'p_plate.jpg', kind: 'plate', hash: 'p', capturedAt: 0 }));
  cat.recordFile(f({}));
  const job = cat.claimNextJob()!;
  clock.t += 60_000;
  assert.deepEqual(cat.sessionsToTidy(30_000), []);
  cat.transition(job.id, 'delivered');
  assert.deepEqual(cat.sessionsToTidy(30_000), []); // done but not settled
  cat.settle(job.id);
  assert.deepEqual(cat.sessionsToTidy(30_000).map((s) => s.name), ['S1']);
  assert.deepEqual(cat.sessionsToTidy(120_000), []); // not quiet long enough
  cat.markTidied(cat.sessionsToTidy(30_000)[0].id);
  assert.deepEqual(cat.sessionsToTidy(30_000), []);
  assert.equal(cat.sessions()[0].counts.done, 1);
  assert.equal(cat.jobs({ session: 'S1' }).length, 1);
});

test('settle: a queued job waits until its session has had no new file for settleMs', (t) => {
  const { cat, clock } = fresh(t);
  cat.recordFile(f({ relPath: 'p_plate.jpg', kind: 'plate', hash: 'p', capturedAt: 0 }));
  cat.recordFile(f({}));
  assert.equal(cat.claimNextJob(500), undefined);
  assert.equal(cat.nextDueInMs(500), 500);
  clock.t += 300;
  cat.recordFile(f({ relPath: 'b.jpg', hash: 'b', capturedAt: 3000 })); // more files arrive: the wait restarts
  assert.equal(cat.nextDueInMs(500), 500);
  clock.t += 500;
  assert.ok(cat.claimNextJob(500));
  assert.equal(cat.nextDueInMs(), 0);
});

test('recovery: a running job with attempts left is re-queued; one that used them up gives up instead of looping', (t) => {
  const { cat, file, clock } = fresh(t);
  cat.recordFile(f({ relPath: 'p_plate.jpg', kind: 'plate', hash: 'p', capturedAt: 0 }));
  const { file: shot } = cat.recordFile(f({}));
  const jobId = (cat.db.prepare('SELECT id FROM jobs WHERE shot_id = ?').get(shot.id) as { id: number }).id;
  const outcomes: string[] = [];
  let c = cat;
  // Every start finds the job running (the daemon was SIGKILLed / OOM-killed mid-job), maxAttempts 2.
  for (let start = 1; start <= 4; start++) {
    const job = c.getJob(jobId)!;
    if (job.state !== 'queued') break;
    assert.equal(c.claimNextJob()!.id, jobId);
    c.close(); // crash
    c = Catalog.open(file, { now: () => clock.t });
    const r = c.recoverRunning(2, 'found running at start-up');
    outcomes.push(r.gaveUp.includes(jobId) ? 'gave-up' : r.requeued.includes(jobId) ? 'requeued' : '?');
  }
  assert.deepEqual(outcomes, ['requeued', 'gave-up']);
  const job = c.getJob(jobId)!;
  assert.equal(job.state, 'failed');
  assert.equal(job.attempts, 2);
  assert.equal(job.settled, 0, 'settled later through the normal failed/ path');
  assert.match(job.last_error!, /the daemon died during this job 2 times/);
  const reasons = (c.db.prepare('SELECT reason FROM transitions WHERE job_id = ? ORDER BY id').all(jobId) as { reason: string }[]).map((r) => r.reason);
  assert.deepEqual(reasons, ['plate-found', 'claimed', 'interrupted', 'claimed', 'gave-up']);
  assert.deepEqual(c.unsettledFailed().map((j) => j.id), [jobId]);
  // An operator retry gives it a fresh set of attempts.
  c.retry({ jobId });
  assert.equal(c.claimNextJob()!.attempts, 1);
  assert.deepEqual(c.recoverRunning(2, 'x'), { requeued: [jobId], gaveUp: [] });
  c.close();
});

test('a clean stop gives the attempt back (restarts never use up a job); a crash found at start-up counts it', (t) => {
  const { cat, file, clock } = fresh(t);
  cat.recordFile(f({ relPath: 'p_plate.jpg', kind: 'plate', hash: 'p', capturedAt: 0 }));
  const { file: shot } = cat.recordFile(f({}));
  const jobId = (cat.db.prepare('SELECT id FROM jobs WHERE shot_id = ?').get(shot.id) as { id: number }).id;
  for (let i = 0; i < 3; i++) {
    assert.equal(cat.claimNextJob()!.attempts, 1);
    assert.deepEqual(cat.requeueRunning('daemon stopped before the job finished'), [jobId]);
    assert.equal(cat.getJob(jobId)!.attempts, 0);
  }
  assert.equal(cat.claimNextJob()!.attempts, 1);
  cat.close(); // crash
  const again = Catalog.open(file, { now: () => clock.t });
  assert.deepEqual(again.recoverRunning(2, 'found running at start-up'), { requeued: [jobId], gaveUp: [] });
  assert.equal(again.getJob(jobId)!.attempts, 1, 'the crashed attempt counts');
  assert.equal(again.claimNextJob()!.attempts, 2);
  again.close(); // and again: used up; the count names crashes only, not the clean stops
  const last = Catalog.open(file, { now: () => clock.t });
  assert.deepEqual(last.recoverRunning(2, 'found running at start-up'), { requeued: [], gaveUp: [jobId] });
  assert.match(last.getJob(jobId)!.last_error!, /the daemon died during this job 2 times \(2 of 2 attempts used\)/);
  const reasons = (last.db.prepare('SELECT reason FROM transitions WHERE job_id = ? ORDER BY id').all(jobId) as { reason: string }[]).map((r) => r.reason);
  assert.deepEqual(reasons, ['plate-found', 'claimed', 'stopped', 'claimed', 'stopped', 'claimed', 'stopped', 'claimed', 'interrupted', 'claimed', 'gave-up']);
  last.close();
});
