/**
 * Read-only queries over the catalog (and the notify tables) that gather what
 * the emails say. The job result format is the pipeline's contract:
 * `{ outputs: string[], sidecar, archivedTo, timingsMs: { total }, warnings }`.
 */
import type Database from 'better-sqlite3';
import type { JobState } from '../catalog/states.js';
import type { DigestSession, FailureItem, ShotReport } from './templates.js';

/** The parts of a done job's `result` JSON the emails use. */
export interface JobResultInfo {
  outputs: string[];
  archivedTo: string | null;
  totalMs: number | null;
  warnings: string[];
}

/** Parses a job's `result` column defensively (unknown or broken JSON gives empty values). */
export function parseJobResult(result: string | null): JobResultInfo {
  const empty: JobResultInfo = { outputs: [], archivedTo: null, totalMs: null, warnings: [] };
  if (!result) return empty;
  let v: unknown;
  try {
    v = JSON.parse(result);
  } catch {
    return empty;
  }
  if (!v || typeof v !== 'object') return empty;
  const o = v as Record<string, unknown>;
  const strings = (x: unknown) => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []);
  const timings = o.timingsMs && typeof o.timingsMs === 'object' ? (o.timingsMs as Record<string, unknown>) : {};
  return {
    outputs: strings(o.outputs),
    archivedTo: typeof o.archivedTo === 'string' ? o.archivedTo : null,
    totalMs: typeof timings.total === 'number' && Number.isFinite(timings.total) ? timings.total : null,
    warnings: strings(o.warnings),
  };
}

/** A session whose shots are all finished, quiet, and not all reported yet. */
export interface CompleteSession {
  id: number;
  share: string;
  name: string;
  lastActivityAt: number;
}

/** `EXISTS` clause: the session `s` has a finished job no completion email reported in its current outcome. */
const HAS_UNREPORTED = `EXISTS (
  SELECT 1 FROM files f JOIN jobs j ON j.shot_id = f.id
  LEFT JOIN session_notice_jobs n ON n.job_id = j.id AND n.job_updated_at = j.updated_at
  WHERE f.session_id = s.id AND j.state IN ('done', 'failed') AND n.job_id IS NULL)`;

/**
 * (CROSS JOIN keeps SQLite from scanning every session of the history: the
 * open set is small, the history is not.)
 *
 * Open sessions (notify_open_sessions) that are complete: every shot done or
 * failed, no file recorded for at least the quiet time
 * (`last_activity_at <= quietCutoff`), and at least one finished shot that no
 * completion email has reported in its current outcome.
 */
export function completeSessions(db: Database.Database, quietCutoff: number): CompleteSession[] {
  return db
    .prepare(
      `SELECT s.id, s.share, s.name, s.last_activity_at AS lastActivityAt
       FROM notify_open_sessions o CROSS JOIN sessions s ON s.id = o.session_id
       WHERE s.last_activity_at <= ?
         AND ${HAS_UNREPORTED}
         AND NOT EXISTS (
           SELECT 1 FROM files f JOIN jobs j ON j.shot_id = f.id
           WHERE f.session_id = s.id AND j.state NOT IN ('done', 'failed'))
       ORDER BY s.last_activity_at, s.id`,
    )
    .all(quietCutoff) as CompleteSession[];
}

/** Closes open sessions that have nothing left to report (or no longer exist). */
export function pruneOpenSessions(db: Database.Database): number {
  return db
    .prepare(
      `DELETE FROM notify_open_sessions
       WHERE NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = notify_open_sessions.session_id AND ${HAS_UNREPORTED})`,
    )
    .run().changes;
}

/** A job that reached done or failed, read from the transitions after a mark. */
export interface FinishedTransition {
  id: number;
  jobId: number;
  toState: 'done' | 'failed';
  at: number;
  sessionId: number;
}

/**
 * Transitions into done or failed with an id above `afterId`, oldest first
 * (a range read on the transitions' primary key: cheap however long the history).
 */
export function finishedSince(db: Database.Database, afterId: number): FinishedTransition[] {
  return db
    .prepare(
      `SELECT t.id, t.job_id AS jobId, t.to_state AS toState, t.at, f.session_id AS sessionId
       FROM transitions t JOIN jobs j ON j.id = t.job_id JOIN files f ON f.id = j.shot_id
       WHERE t.id > ? AND t.to_state IN ('done', 'failed')
       ORDER BY t.id`,
    )
    .all(afterId) as FinishedTransition[];
}

/** A finished, not yet reported job of a session, with its version (`updated_at`). */
export interface UnreportedJob extends ShotReport {
  updatedAt: number;
  firstSeenAt: number;
}

/** The finished jobs of a session that no completion email reported in their current outcome, in capture order. */
export function unreportedJobs(db: Database.Database, sessionId: number): UnreportedJob[] {
  const rows = db
    .prepare(
      `SELECT j.id, j.state, j.attempts, j.last_error, j.result, j.updated_at, f.rel_path, f.location, f.first_seen_at,
              EXISTS (SELECT 1 FROM session_notice_jobs p WHERE p.job_id = j.id) AS reported_before
       FROM jobs j JOIN files f ON f.id = j.shot_id
       LEFT JOIN session_notice_jobs n ON n.job_id = j.id AND n.job_updated_at = j.updated_at
       WHERE f.session_id = ? AND j.state IN ('done', 'failed') AND n.job_id IS NULL
       ORDER BY f.captured_at, f.rel_path, j.id`,
    )
    .all(sessionId) as {
    id: number;
    state: 'done' | 'failed';
    attempts: number;
    last_error: string | null;
    result: string | null;
    updated_at: number;
    rel_path: string;
    location: string;
    first_seen_at: number;
    reported_before: number;
  }[];
  return rows.map((r) => {
    const res = parseJobResult(r.result);
    return {
      jobId: r.id,
      file: r.rel_path,
      state: r.state,
      processingMs: r.state === 'done' ? res.totalMs : null,
      outputs: r.state === 'done' ? res.outputs : [],
      archivedTo: r.state === 'done' ? res.archivedTo : null,
      warnings: r.state === 'done' ? res.warnings : [],
      error: r.state === 'failed' ? (r.last_error ?? null) : null,
      location: r.location,
      attempts: r.attempts,
      finishedAt: r.updated_at,
      retried: r.reported_before === 1,
      updatedAt: r.updated_at,
      firstSeenAt: r.first_seen_at,
    };
  });
}

/** A pending failure for the next grouped alert. */
export interface PendingFailure extends FailureItem {
  pendingId: number;
}

/**
 * Failures recorded for an alert and not alerted yet whose job is still
 * failed (a job retried since is left out; one that failed again is listed
 * once, with its latest failure), oldest first.
 */
export function pendingFailures(db: Database.Database): { items: PendingFailure[]; maxPendingId: number | null } {
  const max = db.prepare('SELECT MAX(id) AS m FROM failure_pending WHERE alerted_at IS NULL').get() as { m: number | null };
  const rows = db
    .prepare(
      `SELECT p.id AS pendingId, j.id AS jobId, s.share, s.name AS session, f.rel_path AS file, j.last_error AS error,
              f.location, j.attempts, p.failed_at AS failedAt
       FROM failure_pending p
       CROSS JOIN jobs j ON j.id = p.job_id AND j.state = 'failed' AND j.updated_at >= p.failed_at
       JOIN files f ON f.id = j.shot_id
       JOIN sessions s ON s.id = f.session_id
       WHERE p.alerted_at IS NULL
       ORDER BY p.id`,
    )
    .all() as PendingFailure[];
  const latest = new Map<number, PendingFailure>();
  for (const r of rows) {
    latest.delete(r.jobId);
    latest.set(r.jobId, r);
  }
  return { items: [...latest.values()], maxPendingId: max.m };
}

/** The period a digest covers. */
export interface DigestPeriod {
  /** Start (ms, inclusive): used when `afterTransitionId` is not given. */
  from: number;
  /** End (ms, exclusive). */
  to: number;
  /**
   * Transitions with a larger id than this are the period (the mark the
   * previous digest left): a range read on the primary key instead of a
   * scan of the whole history by time.
   */
  afterTransitionId?: number;
}

/** What finished in a period (jobs moving to done or failed), the backlog now, for the digest. */
export function digestActivity(db: Database.Database, period: DigestPeriod, maxFailures = 50) {
  const byId = period.afterTransitionId !== undefined;
  const rows = db
    .prepare(
      `SELECT t.to_state AS toState, t.at, t.detail, j.id AS jobId, j.result, j.last_error AS lastError, j.attempts,
              f.rel_path AS file, f.location, s.share, s.name AS session
       FROM transitions t
       JOIN jobs j ON j.id = t.job_id
       JOIN files f ON f.id = j.shot_id
       JOIN sessions s ON s.id = f.session_id
       WHERE ${byId ? 't.id > ?' : 't.at >= ?'} AND t.at < ? AND t.to_state IN ('done', 'failed')
       ORDER BY t.id`,
    )
    .all(byId ? period.afterTransitionId : period.from, period.to) as {
    toState: 'done' | 'failed';
    at: number;
    detail: string | null;
    jobId: number;
    result: string | null;
    lastError: string | null;
    attempts: number;
    file: string;
    location: string;
    share: string;
    session: string;
  }[];
  const sessions = new Map<string, DigestSession>();
  const failures: FailureItem[] = [];
  let failuresTotal = 0;
  for (const r of rows) {
    const key = `${r.share}\u0000${r.session}`;
    const s = sessions.get(key) ?? { share: r.share, session: r.session, done: 0, failed: 0, processingMs: 0 };
    if (r.toState === 'done') {
      s.done++;
      s.processingMs += parseJobResult(r.result).totalMs ?? 0;
    } else {
      s.failed++;
      failuresTotal++;
      if (failures.length < maxFailures) {
        failures.push({
          jobId: r.jobId,
          share: r.share,
          session: r.session,
          file: r.file,
          error: r.detail ?? r.lastError,
          location: r.location,
          attempts: r.attempts,
          failedAt: r.at,
        });
      }
    }
    sessions.set(key, s);
  }
  const backlog: Record<JobState, number> = { waiting_for_plate: 0, queued: 0, running: 0, done: 0, failed: 0 };
  for (const r of db.prepare('SELECT state, COUNT(*) AS n FROM jobs GROUP BY state').all() as { state: JobState; n: number }[]) {
    backlog[r.state] = r.n;
  }
  const waiting = db.prepare(`SELECT MIN(created_at) AS t FROM jobs WHERE state = 'waiting_for_plate'`).get() as { t: number | null };
  return { sessions: [...sessions.values()], failures, failuresTotal, backlog, oldestWaitingAt: waiting.t };
}
