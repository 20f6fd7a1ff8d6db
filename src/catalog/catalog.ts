/**
 * The SQLite catalog (better-sqlite3, WAL): sessions, files, jobs and every
 * attempt. It is the daemon's memory across restarts: a file is identified by
 * its content hash within its session, so a renamed file is not processed
 * twice and a changed file under the same name is a new version.
 *
 * All state changes of a job go through `transition`, which enforces
 * src/catalog/states.ts and records the move.
 */
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CleanplateError } from '../errors.js';
import { pickPlate } from '../match/plates.js';
import { nextState, type JobState, type TransitionReason } from './states.js';

/** Filesystems on which SQLite's WAL mode is unsafe. */
const NETWORK_FS = new Set(['nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'fuse.sshfs', '9p', 'afs', 'ceph', 'glusterfs']);

const MIGRATIONS: string[] = [
  `CREATE TABLE sessions (
     id INTEGER PRIMARY KEY,
     share TEXT NOT NULL,
     name TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     last_activity_at INTEGER NOT NULL,
     UNIQUE (share, name)
   );
   CREATE TABLE files (
     id INTEGER PRIMARY KEY,
     session_id INTEGER NOT NULL REFERENCES sessions(id),
     kind TEXT NOT NULL CHECK (kind IN ('shot', 'plate')),
     rel_path TEXT NOT NULL,
     size INTEGER NOT NULL,
     mtime_ms INTEGER NOT NULL,
     hash TEXT NOT NULL,
     version INTEGER NOT NULL,
     captured_at INTEGER NOT NULL,
     location TEXT NOT NULL,
     first_seen_at INTEGER NOT NULL,
     UNIQUE (session_id, hash)
   );
   CREATE INDEX files_by_path ON files (session_id, rel_path);
   CREATE TABLE jobs (
     id INTEGER PRIMARY KEY,
     shot_id INTEGER NOT NULL UNIQUE REFERENCES files(id),
     plate_id INTEGER REFERENCES files(id),
     state TEXT NOT NULL,
     attempts INTEGER NOT NULL DEFAULT 0,
     next_attempt_at INTEGER NOT NULL DEFAULT 0,
     last_error TEXT,
     result TEXT,
     created_at INTEGER NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE INDEX jobs_by_state ON jobs (state, next_attempt_at);
   CREATE TABLE transitions (
     id INTEGER PRIMARY KEY,
     job_id INTEGER NOT NULL REFERENCES jobs(id),
     at INTEGER NOT NULL,
     from_state TEXT NOT NULL,
     to_state TEXT NOT NULL,
     reason TEXT NOT NULL,
     detail TEXT
   );`,
  // 2: the delivery manifest (exactly-once moves and writes) and settling of terminal jobs.
  `ALTER TABLE jobs ADD COLUMN settled INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE deliveries (
     id INTEGER PRIMARY KEY,
     job_id INTEGER REFERENCES jobs(id),
     file_id INTEGER REFERENCES files(id),
     kind TEXT NOT NULL,
     slot TEXT NOT NULL,
     path TEXT NOT NULL UNIQUE,
     done INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX deliveries_by_job ON deliveries (job_id);
   CREATE INDEX deliveries_by_file ON deliveries (file_id);
   ALTER TABLE sessions ADD COLUMN tidied_at INTEGER;`,
];

/** A complete file to record in the catalog (what ingest knows about it). */
export interface FileInput {
  share: string;
  session: string;
  /** Path inside the session folder. */
  relPath: string;
  kind: 'shot' | 'plate';
  size: number;
  mtimeMs: number;
  /** Content hash (hex sha256). */
  hash: string;
  /** Capture time, ms since epoch. */
  capturedAt: number;
  /** Where the file is now (absolute path). */
  location: string;
}

/** A row of the `files` table: a shot or plate of a session (a changed file under the same name is a new `version`). */
export interface FileRow {
  id: number;
  session_id: number;
  kind: 'shot' | 'plate';
  rel_path: string;
  size: number;
  mtime_ms: number;
  hash: string;
  version: number;
  captured_at: number;
  location: string;
}

/** A row of the `jobs` table: one shot's matting job and its state (docs/job-lifecycle.md). */
export interface JobRow {
  id: number;
  shot_id: number;
  plate_id: number | null;
  state: JobState;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  result: string | null;
  created_at: number;
  updated_at: number;
  /** 1 once a terminal job's files are where they belong (outputs written, original archived or moved to failed/). */
  settled: number;
}

/** What a delivery row stands for. */
export type DeliveryKind = 'output' | 'sidecar' | 'archive' | 'failed' | 'error-note' | 'duplicate';

/** One reserved destination path: written/moved exactly once, then `done = 1`. */
export interface DeliveryRow {
  id: number;
  job_id: number | null;
  file_id: number | null;
  kind: DeliveryKind;
  /** Which output of the owner this is ('rgba-png', 'sidecar', 'archive', ...). */
  slot: string;
  path: string;
  done: number;
  created_at: number;
}

/** A job with everything needed to process it. */
export interface JobContext {
  job: JobRow;
  shot: FileRow;
  plate: FileRow | undefined;
  share: string;
  session: string;
  sessionId: number;
}

/** One line of `cleanplate status`. */
export interface SessionSummary {
  id: number;
  share: string;
  name: string;
  lastActivityAt: number;
  plates: number;
  counts: Record<JobState, number>;
}


/** Throws when `file` lives on a network filesystem (per /proc/mounts, Linux only). */
export function assertLocalDisk(file: string): void {
  let mounts: string;
  try {
    mounts = readFileSync('/proc/mounts', 'utf8');
  } catch {
    return; // not Linux: nothing to check against
  }
  const abs = path.resolve(file);
  let best = { mount: '', type: '' };
  for (const line of mounts.split('\n')) {
    const [, mount, type] = line.split(' ');
    if (!mount || !type) continue;
    const m = mount.replace(/\\040/g, ' ');
    if ((abs === m || abs.startsWith(m.endsWith('/') ? m : `${m}/`)) && m.length > best.mount.length) best = { mount: m, type };
  }
  if (NETWORK_FS.has(best.type)) {
    throw new CleanplateError('config', `catalog ${abs} is on a network filesystem (${best.type}); SQLite WAL needs a local disk`);
  }
}

/** The catalog over one SQLite file. */
export class Catalog {
  readonly db: Database.Database;
  private readonly now: () => number;

  private constructor(db: Database.Database, now: () => number) {
    this.db = db;
    this.now = now;
  }

  /**
   * Opens (creating if needed) the catalog: WAL, foreign keys, migrations.
   * @param file SQLite path on a local disk, or ':memory:'
   * @param options.now clock for tests (ms since epoch)
   */
  static open(file: string, options: { now?: () => number } = {}): Catalog {
    if (file !== ':memory:') {
      mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
      assertLocalDisk(file);
    }
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    // FULL: a job's state must survive power loss around irreversible file moves (a few commits per job).
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      db.close();
      throw new CleanplateError('config', `catalog ${file} is from a newer cleanplate (schema ${version})`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) {
      db.transaction(() => {
        db.exec(MIGRATIONS[v]);
        db.pragma(`user_version = ${v + 1}`);
      }).immediate();
    }
    return new Catalog(db, options.now ?? Date.now);
  }

  close(): void {
    this.db.close();
  }

  /** Finds a file already catalogued at this path with this size and mtime (skips re-hashing on rescans). */
  findUnchanged(share: string, session: string, relPath: string, size: number, mtimeMs: number): FileRow | undefined {
    return this.db
      .prepare(
        `SELECT f.* FROM files f JOIN sessions s ON s.id = f.session_id
         WHERE s.share = ? AND s.name = ? AND f.rel_path = ? AND f.size = ? AND f.mtime_ms = ?`,
      )
      .get(share, session, relPath, size, Math.round(mtimeMs)) as FileRow | undefined;
  }

  /** The catalogued file with this content in this session, if any. */
  findByHash(share: string, session: string, hash: string): FileRow | undefined {
    return this.db
      .prepare(`SELECT f.* FROM files f JOIN sessions s ON s.id = f.session_id WHERE s.share = ? AND s.name = ? AND f.hash = ?`)
      .get(share, session, hash) as FileRow | undefined;
  }

  /** Number of files catalogued in a session (0 when the session is new). */
  sessionFileCount(share: string, session: string): number {
    const r = this.db
      .prepare(`SELECT COUNT(*) AS n FROM files f JOIN sessions s ON s.id = f.session_id WHERE s.share = ? AND s.name = ?`)
      .get(share, session) as { n: number };
    return r.n;
  }

  /**
   * Records a complete file. Same content in the same session → the existing
   * row (a rename or a re-drop; path and location updated, nothing new to do).
   * New content → a new row whose version counts earlier files at that path;
   * a shot gets a job (queued when its session has a plate, else waiting),
   * a plate releases or re-matches the session's jobs that have not started.
   */
  recordFile(input: FileInput): { file: FileRow; isNew: boolean } {
    return this.db
      .transaction(() => {
        const t = this.now();
        const { id: sessionId } = this.db
          .prepare(
            `INSERT INTO sessions (share, name, created_at, last_activity_at) VALUES (?, ?, ?, ?)
             ON CONFLICT (share, name) DO UPDATE SET last_activity_at = excluded.last_activity_at
             RETURNING id`,
          )
          .get(input.share, input.session, t, t) as { id: number };
        const existing = this.db
          .prepare('SELECT * FROM files WHERE session_id = ? AND hash = ?')
          .get(sessionId, input.hash) as FileRow | undefined;
        if (existing) {
          this.db
            .prepare('UPDATE files SET rel_path = ?, size = ?, mtime_ms = ?, location = ? WHERE id = ?')
            .run(input.relPath, input.size, Math.round(input.mtimeMs), input.location, existing.id);
          return { file: { ...existing, rel_path: input.relPath, location: input.location }, isNew: false };
        }
        const { n } = this.db
          .prepare('SELECT COUNT(*) AS n FROM files WHERE session_id = ? AND rel_path = ?')
          .get(sessionId, input.relPath) as { n: number };
        const info = this.db
          .prepare(
            `INSERT INTO files (session_id, kind, rel_path, size, mtime_ms, hash, version, captured_at, location, first_seen_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
          )
          .run(sessionId, input.kind, input.relPath, input.size, Math.round(input.mtimeMs), input.hash, n + 1, input.capturedAt, input.location, t);
        const file = this.db.prepare('SELECT * FROM files WHERE id = ?').get(info.lastInsertRowid) as FileRow;
        if (file.kind === 'shot') {
          this.db
            .prepare(`INSERT INTO jobs (shot_id, state, created_at, updated_at) VALUES (?, 'waiting_for_plate', ?, ?)`)
            .run(file.id, t, t);
        }
        this.rematch(sessionId);
        return { file, isNew: true };
      })
      .immediate();
  }

  /** Re-picks plates for a session's jobs that have not started, releasing waiting ones. */
  private rematch(sessionId: number): void {
    const plates = (
      this.db.prepare(`SELECT id, captured_at FROM files WHERE session_id = ? AND kind = 'plate'`).all(sessionId) as {
        id: number;
        captured_at: number;
      }[]
    ).map((p) => ({ id: p.id, capturedAt: p.captured_at }));
    if (plates.length === 0) return;
    const pending = this.db
      .prepare(
        `SELECT j.*, f.captured_at AS shot_time FROM jobs j JOIN files f ON f.id = j.shot_id
         WHERE f.session_id = ? AND j.state IN ('waiting_for_plate', 'queued')`,
      )
      .all(sessionId) as (JobRow & { shot_time: number })[];
    for (const job of pending) {
      const plateId = pickPlate(job.shot_time, plates);
      if (plateId === job.plate_id) continue;
      this.db.prepare('UPDATE jobs SET plate_id = ?, updated_at = ? WHERE id = ?').run(plateId, this.now(), job.id);
      if (job.state === 'waiting_for_plate') this.transition(job.id, 'plate-found', `plate ${plateId}`);
    }
  }

  /**
   * Applies a lifecycle transition (validated by states.ts) and records it.
   * @throws Error on an illegal move
   */
  transition(jobId: number, reason: TransitionReason, detail?: string, extra: { nextAttemptAt?: number; result?: string } = {}): JobRow {
    const job = this.getJob(jobId);
    if (!job) throw new Error(`no job ${jobId}`);
    const to = nextState(job.state, reason);
    const t = this.now();
    // A clean stop gives the attempt back: restarting the daemon must not use up a job's attempts.
    const attempts =
      reason === 'claimed' ? job.attempts + 1 : reason === 'manual-retry' ? 0 : reason === 'stopped' ? Math.max(0, job.attempts - 1) : job.attempts;
    // Failures record their detail as the job's last error; a manual retry clears it.
    const isError = reason === 'retry-later' || reason === 'gave-up' || reason === 'plate-timeout';
    const lastError = isError ? (detail ?? null) : reason === 'manual-retry' ? null : job.last_error;
    this.db
      .prepare(
        `UPDATE jobs SET state = ?, attempts = ?, next_attempt_at = ?, last_error = ?, result = COALESCE(?, result), updated_at = ? WHERE id = ?`,
      )
      .run(to, attempts, extra.nextAttemptAt ?? 0, lastError, extra.result ?? null, t, jobId);
    this.db
      .prepare('INSERT INTO transitions (job_id, at, from_state, to_state, reason, detail) VALUES (?, ?, ?, ?, ?, ?)')
      .run(jobId, t, job.state, to, reason, detail ?? null);
    return this.getJob(jobId)!;
  }

  getJob(id: number): JobRow | undefined {
    return this.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
  }

  getFile(id: number): FileRow | undefined {
    return this.db.prepare('SELECT * FROM files WHERE id = ?').get(id) as FileRow | undefined;
  }

  /**
   * Claims the oldest due queued job (BEGIN IMMEDIATE), moving it to running.
   * @param settleMs a job is due only once its session has had no new file for
   *   this long: files copied together are catalogued in the order they become
   *   complete, so a plate captured before a shot may land just after it, and
   *   the shot must not be matted with an older plate meanwhile
   */
  claimNextJob(settleMs = 0): JobRow | undefined {
    return this.db
      .transaction(() => {
        const t = this.now();
        const job = this.db
          .prepare(
            `SELECT j.id FROM jobs j JOIN files f ON f.id = j.shot_id JOIN sessions s ON s.id = f.session_id
             WHERE j.state = 'queued' AND j.next_attempt_at <= ? AND s.last_activity_at <= ?
             ORDER BY j.next_attempt_at, j.id LIMIT 1`,
          )
          .get(t, t - settleMs) as { id: number } | undefined;
        return job ? this.transition(job.id, 'claimed') : undefined;
      })
      .immediate();
  }

  /** Applies one transition to every job the query selects, in one IMMEDIATE transaction; returns their ids. */
  private transitionAll(selectIds: string, params: unknown[], reason: TransitionReason, detail: string): number[] {
    return this.db
      .transaction(() => {
        const ids = (this.db.prepare(selectIds).all(...params) as { id: number }[]).map((r) => r.id);
        for (const id of ids) this.transition(id, reason, detail);
        return ids;
      })
      .immediate();
  }

  /**
   * A clean shutdown: every running job goes back to the queue (`stopped`),
   * and the attempt it was on is given back.
   * @param why detail recorded with each re-queued job
   */
  requeueRunning(why: string): number[] {
    return this.transitionAll(`SELECT id FROM jobs WHERE state = 'running'`, [], 'stopped', why);
  }

  /**
   * Start-up after a crash: jobs found running go back to the queue (`interrupted`:
   * unlike a clean stop, the attempt counts), except
   * those that have used up `maxAttempts`, which give up (running → failed,
   * settled later through failed/ like any failure). A shot that crashes the
   * daemon (a native crash, an OOM kill) therefore stops being retried
   * instead of taking the daemon down at every restart. One IMMEDIATE transaction.
   * @param maxAttempts config jobs.maxAttempts
   * @param why detail recorded with each re-queued job
   */
  recoverRunning(maxAttempts: number, why: string): { requeued: number[]; gaveUp: number[] } {
    return this.db
      .transaction(() => {
        const out = { requeued: [] as number[], gaveUp: [] as number[] };
        const jobs = this.db.prepare(`SELECT id, attempts FROM jobs WHERE state = 'running' ORDER BY id`).all() as { id: number; attempts: number }[];
        const stops = this.db.prepare(`SELECT COUNT(*) AS n FROM transitions WHERE job_id = ? AND reason = 'interrupted'`);
        for (const job of jobs) {
          if (job.attempts >= maxAttempts) {
            const times = (stops.get(job.id) as { n: number }).n + 1;
            this.transition(
              job.id,
              'gave-up',
              `gave up: the daemon died during this job ${times} times (${job.attempts} of ${maxAttempts} attempts used); the shot may crash the daemon or exhaust its memory`,
            );
            out.gaveUp.push(job.id);
          } else {
            this.transition(job.id, 'interrupted', why);
            out.requeued.push(job.id);
          }
        }
        return out;
      })
      .immediate();
  }

  /** Fails shots that have been waiting for a plate for at least `olderThanMs`. */
  failWaiting(olderThanMs: number): number[] {
    return this.transitionAll(
      `SELECT id FROM jobs WHERE state = 'waiting_for_plate' AND created_at <= ?`,
      [this.now() - olderThanMs],
      'plate-timeout',
      `no plate arrived within ${Math.round(olderThanMs / 60000)} min`,
    );
  }

  /**
   * Reserves destination paths in the delivery manifest, as a group sharing
   * one name suffix: the smallest n such that every `stem (n)tail` in `dir`
   * neither exists on disk nor is reserved (`a.png` + `a.alpha.png` + `a.json`,
   * or `a (2).png` + `a (2).alpha.png` + `a (2).json`). Slots the owner already reserved are reused,
   * so a restarted attempt completes the same paths. Committed before
   * anything is written, so after a crash the same write is completed or
   * recognised instead of producing a second copy.
   */
  reserveGroup(
    owner: { jobId?: number; fileId?: number },
    dir: string,
    entries: { kind: DeliveryKind; slot: string; stem: string; tail: string }[],
    exists: (file: string) => boolean,
  ): DeliveryRow[] {
    return this.db
      .transaction(() => {
        const mine = this.db
          .prepare('SELECT * FROM deliveries WHERE (job_id IS ? AND file_id IS ?) ORDER BY id')
          .all(owner.jobId ?? null, owner.fileId ?? null) as DeliveryRow[];
        const bySlot = new Map(mine.map((r) => [r.slot, r]));
        const missing = entries.filter((e) => !bySlot.has(e.slot));
        if (missing.length > 0) {
          const taken = this.db.prepare('SELECT 1 FROM deliveries WHERE path = ?');
          const insert = this.db.prepare(
            'INSERT INTO deliveries (job_id, file_id, kind, slot, path, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *',
          );
          for (let n = 1; ; n++) {
            const paths = missing.map((e) => path.join(dir, n <= 1 ? `${e.stem}${e.tail}` : `${e.stem} (${n})${e.tail}`));
            if (paths.some((p) => taken.get(p) !== undefined || exists(p))) continue;
            missing.forEach((e, k) => {
              bySlot.set(e.slot, insert.get(owner.jobId ?? null, owner.fileId ?? null, e.kind, e.slot, paths[k], this.now()) as DeliveryRow);
            });
            break;
          }
        }
        return entries.map((e) => bySlot.get(e.slot)!);
      })
      .immediate();
  }

  /** Delivery rows of a job (optionally of some kinds), in reservation order. */
  deliveriesOfJob(jobId: number, kinds?: DeliveryKind[]): DeliveryRow[] {
    const rows = this.db.prepare('SELECT * FROM deliveries WHERE job_id = ? ORDER BY id').all(jobId) as DeliveryRow[];
    return kinds ? rows.filter((r) => kinds.includes(r.kind)) : rows;
  }

  /** Delivery rows that move a file (archive, failed, duplicate), newest last. */
  deliveriesOfFile(fileId: number): DeliveryRow[] {
    return this.db.prepare('SELECT * FROM deliveries WHERE file_id = ? ORDER BY id').all(fileId) as DeliveryRow[];
  }

  /** Marks a reserved path as written/moved. */
  markDelivered(deliveryId: number): void {
    this.db.prepare('UPDATE deliveries SET done = 1 WHERE id = ?').run(deliveryId);
  }

  /** Records where a file is now (after a move to archive/ or failed/). */
  setLocation(fileId: number, location: string): void {
    this.db.prepare('UPDATE files SET location = ? WHERE id = ?').run(location, fileId);
  }

  /** Marks a terminal job's files as handled. */
  settle(jobId: number): void {
    this.db.prepare('UPDATE jobs SET settled = 1 WHERE id = ?').run(jobId);
  }

  /** Failed jobs whose shot has not been moved to failed/ yet (after a timeout sweep or a crash). */
  unsettledFailed(): JobRow[] {
    return this.db.prepare(`SELECT * FROM jobs WHERE state = 'failed' AND settled = 0 ORDER BY id`).all() as JobRow[];
  }

  /** A job joined with its shot, plate and session. */
  jobContext(jobId: number): JobContext | undefined {
    const job = this.getJob(jobId);
    if (!job) return undefined;
    const shot = this.getFile(job.shot_id)!;
    const session = this.db.prepare('SELECT id, share, name FROM sessions WHERE id = ?').get(shot.session_id) as {
      id: number;
      share: string;
      name: string;
    };
    return {
      job,
      shot,
      plate: job.plate_id === null ? undefined : this.getFile(job.plate_id),
      share: session.share,
      session: session.name,
      sessionId: session.id,
    };
  }

  /**
   * Operator retry (`cleanplate retry`): failed jobs of a job id or a session
   * name go back to the queue; their failure moves are forgotten so the shot
   * is read from failed/ and delivered normally. Returns the re-queued ids.
   */
  retry(target: { jobId: number } | { session: string }): number[] {
    return this.db
      .transaction(() => {
        const ids =
          'jobId' in target
            ? (this.db.prepare(`SELECT id FROM jobs WHERE id = ? AND state = 'failed'`).all(target.jobId) as { id: number }[])
            : (this.db
                .prepare(
                  `SELECT j.id FROM jobs j JOIN files f ON f.id = j.shot_id JOIN sessions s ON s.id = f.session_id
                   WHERE s.name = ? AND j.state = 'failed'`,
                )
                .all(target.session) as { id: number }[]);
        for (const { id } of ids) {
          const job = this.transition(id, 'manual-retry', 'operator retry');
          this.db.prepare('UPDATE jobs SET settled = 0 WHERE id = ?').run(id);
          this.db.prepare(`DELETE FROM deliveries WHERE job_id = ? AND kind IN ('failed', 'error-note')`).run(id);
          if (job.plate_id === null) this.rematchSession(job.shot_id);
        }
        return ids.map((r) => r.id);
      })
      .immediate();
  }

  /** Re-runs plate matching for the session of a file (a retried shot that had no plate). */
  private rematchSession(fileId: number): void {
    const f = this.getFile(fileId);
    if (!f) return;
    const job = this.db.prepare('SELECT id, state FROM jobs WHERE shot_id = ?').get(fileId) as { id: number; state: string };
    const plates = this.db.prepare(`SELECT COUNT(*) AS n FROM files WHERE session_id = ? AND kind = 'plate'`).get(f.session_id) as { n: number };
    if (plates.n === 0 && job.state === 'queued') {
      this.transition(job.id, 'plate-missing', 'retried, but the session still has no plate');
      // The plate wait starts again from now.
      this.db.prepare('UPDATE jobs SET created_at = ? WHERE id = ?').run(this.now(), job.id);
    } else {
      this.rematch(f.session_id);
    }
  }

  /**
   * Sessions whose jobs are all terminal and settled and that have been quiet
   * for `quietMs`, not tidied since their last activity: their plates can go
   * to the archive.
   */
  sessionsToTidy(quietMs: number): { id: number; share: string; name: string }[] {
    return this.db
      .prepare(
        `SELECT s.id, s.share, s.name FROM sessions s
         WHERE s.last_activity_at <= ? AND (s.tidied_at IS NULL OR s.tidied_at < s.last_activity_at)
           AND NOT EXISTS (SELECT 1 FROM jobs j JOIN files f ON f.id = j.shot_id
                           WHERE f.session_id = s.id AND (j.state NOT IN ('done', 'failed') OR j.settled = 0))`,
      )
      .all(this.now() - quietMs) as { id: number; share: string; name: string }[];
  }

  /** Plates of a session. */
  platesOf(sessionId: number): FileRow[] {
    return this.db.prepare(`SELECT * FROM files WHERE session_id = ? AND kind = 'plate' ORDER BY id`).all(sessionId) as FileRow[];
  }

  /** Marks a session tidied (plates archived). */
  markTidied(sessionId: number): void {
    this.db.prepare('UPDATE sessions SET tidied_at = ? WHERE id = ?').run(this.now(), sessionId);
  }

  /** The time until the next queued job is due (ms; 0 = now; `settleMs` as in `claimNextJob`), or undefined when none is queued. */
  nextDueInMs(settleMs = 0): number | undefined {
    const r = this.db
      .prepare(
        `SELECT MIN(MAX(j.next_attempt_at, s.last_activity_at + ?)) AS t FROM jobs j
         JOIN files f ON f.id = j.shot_id JOIN sessions s ON s.id = f.session_id WHERE j.state = 'queued'`,
      )
      .get(settleMs) as { t: number | null };
    return r.t === null ? undefined : Math.max(0, r.t - this.now());
  }

  /** Sessions with their job counts, most recent first (for `cleanplate status`). */
  sessions(limit = 50): SessionSummary[] {
    const rows = this.db
      .prepare(
        `SELECT s.id, s.share, s.name, s.last_activity_at,
                (SELECT COUNT(*) FROM files f WHERE f.session_id = s.id AND f.kind = 'plate') AS plates
         FROM sessions s ORDER BY s.last_activity_at DESC, s.id DESC LIMIT ?`,
      )
      .all(limit) as { id: number; share: string; name: string; last_activity_at: number; plates: number }[];
    const count = this.db.prepare(
      `SELECT j.state, COUNT(*) AS n FROM jobs j JOIN files f ON f.id = j.shot_id WHERE f.session_id = ? GROUP BY j.state`,
    );
    return rows.map((r) => {
      const counts: Record<JobState, number> = { waiting_for_plate: 0, queued: 0, running: 0, done: 0, failed: 0 };
      for (const c of count.all(r.id) as { state: JobState; n: number }[]) counts[c.state] = c.n;
      return { id: r.id, share: r.share, name: r.name, lastActivityAt: r.last_activity_at, plates: r.plates, counts };
    });
  }

  /** Jobs of a session (or the most recent ones) with shot paths and errors, for `cleanplate status`. */
  jobs(opts: { session?: string; limit?: number } = {}): (JobRow & { rel_path: string; session: string })[] {
    const where = opts.session === undefined ? '' : 'WHERE s.name = ?';
    const params: unknown[] = opts.session === undefined ? [] : [opts.session];
    return this.db
      .prepare(
        `SELECT j.*, f.rel_path, s.name AS session FROM jobs j JOIN files f ON f.id = j.shot_id
         JOIN sessions s ON s.id = f.session_id ${where} ORDER BY j.id DESC LIMIT ?`,
      )
      .all(...params, opts.limit ?? 200) as (JobRow & { rel_path: string; session: string })[];
  }

  /** Job counts per state. */
  counts(): Record<JobState, number> {
    const out: Record<JobState, number> = { waiting_for_plate: 0, queued: 0, running: 0, done: 0, failed: 0 };
    for (const r of this.db.prepare('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state').all() as { state: JobState; n: number }[]) {
      out[r.state] = r.n;
    }
    return out;
  }
}
