/**
 * Retention, the waiting-shot sweep and the heartbeat, on a real SQLite
 * catalog and real files, with a clock that the test moves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Catalog } from '../../src/catalog/catalog.js';
import { ensureNotifySchema, enqueueMail, markSent } from '../../src/notify/outbox.js';
import type { Log, LogFields } from '../../src/notify/types.js';
import { purgeCatalog, runRetention } from '../../src/schedule/retention.js';
import { heartbeat, sweepWaiting } from '../../src/schedule/upkeep.js';
import { tempDir } from '../helpers/tmp.js';

const DAY = 86_400_000;
const MIN = 60_000;

function recorder(): Log & { lines: { level: string; message: string; fields?: LogFields }[] } {
  const lines: { level: string; message: string; fields?: LogFields }[] = [];
  const at = (level: string) => (message: string, fields?: LogFields) => lines.push({ level, message, fields });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

function put(file: string, content = 'x'): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  return file;
}

test('file retention: each kind off by default; archive and outputs deleted only past their age, symlinks left alone', async (t) => {
  const dir = tempDir(t, 'cp-ret-');
  const cat = Catalog.open(path.join(dir, 'c.db'));
  const archive = path.join(dir, 'archive');
  const output = path.join(dir, 'output');
  const a1 = put(path.join(archive, 'S1', 'a.jpg'), 'aaaa');
  const a2 = put(path.join(archive, 'S1', 'sub', 'b.jpg'));
  const o1 = put(path.join(output, 'S1', 'a.png'));
  const outside = put(path.join(dir, 'elsewhere', 'keep.png'));
  symlinkSync(outside, path.join(output, 'S1', 'link.png'));
  const dirs = { archive: [archive], output: [output] };
  const now = Date.now();
  const log = recorder();
  try {
    const off = await runRetention(cat, { archiveDays: null, outputDays: null, catalogDays: null }, dirs, now + 1000 * DAY, log);
    assert.deepEqual(off, { archive: null, output: null, catalog: null });
    assert.ok(existsSync(a1) && existsSync(o1));

    const young = await runRetention(cat, { archiveDays: 30, outputDays: null, catalogDays: null }, dirs, now + 29 * DAY, log);
    assert.equal(young.archive?.files, 0);
    assert.ok(existsSync(a1));

    const old = await runRetention(cat, { archiveDays: 30, outputDays: null, catalogDays: null }, dirs, now + 31 * DAY, log);
    assert.deepEqual(old.archive, { files: 2, bytes: 5, errors: 0 });
    assert.equal(old.output, null);
    assert.ok(!existsSync(a1) && !existsSync(a2));
    assert.ok(!existsSync(path.join(archive, 'S1')), 'emptied session folders go');
    assert.ok(existsSync(archive), 'the archive root stays');
    assert.ok(existsSync(o1), 'outputs untouched while outputDays is off');
    const deleted = log.lines.filter((l) => l.message === 'retention: deleted archived original').map((l) => l.fields?.path);
    assert.deepEqual(new Set(deleted), new Set([a1, a2]), 'each deletion is logged with its path');

    const outs = await runRetention(cat, { archiveDays: null, outputDays: 7, catalogDays: null }, dirs, now + 8 * DAY, log);
    assert.equal(outs.output?.files, 1);
    assert.ok(!existsSync(o1));
    assert.ok(existsSync(path.join(output, 'S1', 'link.png')), 'a symlink is not deleted');
    assert.ok(existsSync(outside), 'nor followed');
    // A missing root is not an error.
    const missing = await runRetention(cat, { archiveDays: 1, outputDays: null, catalogDays: null }, { archive: [path.join(dir, 'nope')], output: [] }, now + 9 * DAY, log);
    assert.deepEqual(missing.archive, { files: 0, bytes: 0, errors: 0 });
  } finally {
    cat.close();
  }
});

test('catalog retention: finished rows older than catalogDays go, in foreign-key order; live work and its plates stay', async (t) => {
  const dir = tempDir(t, 'cp-ret-');
  const T = Date.parse('2030-01-01T00:00:00Z');
  const clock = { t: T };
  const cat = Catalog.open(path.join(dir, 'c.db'), { now: () => clock.t });
  ensureNotifySchema(cat.db);
  let n = 0;
  const rec = (session: string, kind: 'shot' | 'plate', name = `${kind}${++n}.jpg`) => {
    const { file } = cat.recordFile({ share: 's', session, relPath: name, kind, size: 1, mtimeMs: 1, hash: `h${++n}`, capturedAt: n, location: `/in/${session}/${name}` });
    return kind === 'shot' ? (cat.db.prepare('SELECT id FROM jobs WHERE shot_id = ?').get(file.id) as { id: number }).id : file.id;
  };
  const done = (job: number) => {
    cat.transition(job, 'claimed');
    cat.transition(job, 'delivered', undefined, { result: '{"outputs":[]}' });
  };
  const count = (table: string) => (cat.db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  try {
    // S1: finished long ago (one done, one failed).
    rec('S1', 'plate');
    const s1a = rec('S1', 'shot');
    const s1b = rec('S1', 'shot');
    done(s1a);
    cat.transition(s1b, 'claimed');
    cat.transition(s1b, 'gave-up', 'corrupt');
    cat.db.prepare('INSERT INTO session_notice_jobs (job_id, job_updated_at, notice_id) VALUES (?, ?, 1)').run(s1a, T);
    cat.db.prepare('INSERT INTO failure_pending (job_id, failed_at, alerted_at) VALUES (?, ?, ?)').run(s1b, T, T);
    cat.db.prepare('INSERT INTO session_notices (session_id, created_at, outbox_id, jobs, done, failed) VALUES (1, ?, NULL, 2, 1, 1)').run(T);
    // The delivery manifest (catalog migration 2) refers to the job and to its files.
    const addDelivery = cat.db.prepare('INSERT INTO deliveries (job_id, file_id, kind, slot, path, done, created_at) VALUES (?, ?, ?, ?, ?, 1, ?)');
    addDelivery.run(s1a, cat.getJob(s1a)!.shot_id, 'archive', 'a', '/arch/S1/a.jpg', T);
    addDelivery.run(s1a, null, 'output', 'png', '/out/S1/a.png', T);
    addDelivery.run(null, 1, 'archive', 'plate', '/arch/S1/plate.jpg', T);
    const sentMail = enqueueMail(cat.db, { kind: 'digest', dedupeKey: 'old', to: ['a@b.c'], subject: 's', html: 'h', text: 't', attachments: [{ filename: 'x.png', contentType: 'image/png', content: Buffer.from('png') }] }, T)!;
    markSent(cat.db, sentMail, T, '/mail/x.eml');
    enqueueMail(cat.db, { kind: 'digest', dedupeKey: 'unsent', to: ['a@b.c'], subject: 's', html: 'h', text: 't' }, T);
    // S2: an old done shot and a newer queued shot on the same plate.
    const p2 = rec('S2', 'plate');
    const s2old = rec('S2', 'shot');
    done(s2old);
    // S3: a shot waiting for a plate since T (not finished: kept however old).
    const s3 = rec('S3', 'shot');
    clock.t = T + 20 * DAY;
    const s2new = rec('S2', 'shot');
    // S4: finished recently.
    rec('S4', 'plate');
    const s4 = rec('S4', 'shot');
    done(s4);

    // Nothing is old enough yet at T + 29 days.
    assert.deepEqual(purgeCatalog(cat.db, T + 29 * DAY - 30 * DAY), { jobs: 0, transitions: 0, files: 0, sessions: 0, outbox: 0 });

    clock.t = T + 31 * DAY;
    const log = recorder();
    const r = await runRetention(cat, { archiveDays: null, outputDays: null, catalogDays: 30 }, { archive: [], output: [] }, clock.t, log);
    // 3 jobs x (plate-found, claimed, delivered/gave-up); S1's 2 shots + plate + S2's old shot.
    assert.deepEqual(r.catalog, { jobs: 3, transitions: 9, files: 4, sessions: 1, outbox: 1 });
    assert.ok(log.lines.some((l) => /catalog rows older than 30 days deleted/.test(l.message)));
    const jobs = (cat.db.prepare('SELECT id FROM jobs ORDER BY id').all() as { id: number }[]).map((j) => j.id);
    assert.deepEqual(jobs, [s3, s2new, s4].sort((a, b) => a - b));
    assert.equal(cat.getFile(p2)?.kind, 'plate', 'the plate of S2 stays: a queued shot uses it');
    assert.equal(cat.getJob(s2new)?.plate_id, p2);
    const sessions = (cat.db.prepare('SELECT name FROM sessions ORDER BY name').all() as { name: string }[]).map((s) => s.name);
    assert.deepEqual(sessions, ['S2', 'S3', 'S4']);
    assert.equal(count('session_notice_jobs'), 0);
    assert.equal(count('failure_pending'), 0);
    assert.equal(count('session_notices'), 0);
    assert.equal(count('outbox'), 1, 'the unsent email stays');
    assert.equal(count('outbox_attachments'), 0, 'attachments go with their email');
    assert.equal(count('deliveries'), 0, 'manifest rows of deleted jobs and files go first');
    assert.deepEqual(cat.db.pragma('foreign_key_check'), []);
    // Run again: idempotent.
    assert.equal((await runRetention(cat, { archiveDays: null, outputDays: null, catalogDays: 30 }, { archive: [], output: [] }, clock.t)).catalog?.jobs, 0);
    // A re-drop of S1's content after retention is new work again.
    assert.equal(cat.recordFile({ share: 's', session: 'S1', relPath: 'again.jpg', kind: 'shot', size: 1, mtimeMs: 1, hash: 'h2', capturedAt: 1, location: '/in/S1/again.jpg' }).isNew, true);
  } finally {
    cat.close();
  }
});

test('waiting-shot sweep fails shots once they waited plates.waitTimeoutMin, by the moved clock', (t) => {
  const dir = tempDir(t, 'cp-sweep-');
  const T = Date.parse('2030-02-01T08:00:00Z');
  const clock = { t: T };
  const cat = Catalog.open(path.join(dir, 'c.db'), { now: () => clock.t });
  try {
    const rec = (name: string) => {
      const { file } = cat.recordFile({ share: 's', session: 'S', relPath: name, kind: 'shot', size: 1, mtimeMs: 1, hash: name, capturedAt: 1, location: `/in/S/${name}` });
      return (cat.db.prepare('SELECT id FROM jobs WHERE shot_id = ?').get(file.id) as { id: number }).id;
    };
    const early = rec('early.jpg');
    clock.t = T + 60 * MIN;
    const late = rec('late.jpg');
    const failed: number[] = [];
    const log = recorder();
    clock.t = T + 239 * MIN;
    assert.deepEqual(sweepWaiting(cat, 240, { log, onFailed: (id) => failed.push(id) }), []);
    clock.t = T + 241 * MIN;
    assert.deepEqual(sweepWaiting(cat, 240, { log, onFailed: (id) => failed.push(id) }), [early]);
    assert.deepEqual(failed, [early]);
    assert.equal(cat.getJob(early)?.state, 'failed');
    assert.equal(cat.getJob(early)?.last_error, 'no plate arrived within 240 min');
    assert.equal(cat.getJob(late)?.state, 'waiting_for_plate');
    assert.equal(log.lines.filter((l) => l.level === 'warn').length, 1);
    clock.t = T + 301 * MIN;
    assert.deepEqual(sweepWaiting(cat, 240), [late]);
  } finally {
    cat.close();
  }
});

test('heartbeat logs uptime, memory, jobs per state and the outbox', (t) => {
  const dir = tempDir(t, 'cp-hb-');
  const cat = Catalog.open(path.join(dir, 'c.db'));
  try {
    cat.recordFile({ share: 's', session: 'S', relPath: 'a.jpg', kind: 'shot', size: 1, mtimeMs: 1, hash: 'a', capturedAt: 1, location: '/in/S/a.jpg' });
    const log = recorder();
    const f = heartbeat(cat, log, 1_000, 61_000);
    assert.equal(f.uptimeSec, 60);
    assert.equal(f.jobs.waiting_for_plate, 1);
    assert.equal(f.outboxPending, 0, 'no outbox table yet: zero');
    assert.ok(f.rssMb > 0);
    assert.equal(log.lines[0].message, 'heartbeat');
    assert.deepEqual(log.lines[0].fields?.jobs, f.jobs);
  } finally {
    cat.close();
  }
});
