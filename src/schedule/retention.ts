/**
 * Retention: deletes archived originals, delivered outputs and finished
 * catalog rows older than the configured ages. Each kind is off unless its
 * age is set (`retention.archiveDays`, `outputDays`, `catalogDays`); every
 * deleted file is logged.
 *
 * A file's age counts from the later of its mtime and ctime: a rename (the
 * move into archive/) updates ctime, so an original is kept `archiveDays`
 * after it was archived even when it was shot long before.
 */
import type { Dirent } from 'node:fs';
import { lstat, readdir, rmdir, unlink } from 'node:fs/promises';
import path from 'node:path';
import type Database from 'better-sqlite3';
import type { Config } from '../config/schema.js';
import { oneLine, silentLog, type Log } from '../notify/types.js';

/** The retention section of the config. */
export type RetentionConfig = Config['retention'];

/** The folders retention may delete from. */
export interface RetentionDirs {
  /** Archive roots (share.archive). */
  archive: string[];
  /** Output roots (share.output). */
  output: string[];
}

/** The archive and output folders of every share, without duplicates. */
export function retentionDirs(shares: Config['shares']): RetentionDirs {
  return {
    archive: [...new Set(shares.map((s) => path.resolve(s.archive)))],
    output: [...new Set(shares.map((s) => path.resolve(s.output)))],
  };
}

/** Files deleted from one kind of folder. */
export interface FileSweep {
  files: number;
  bytes: number;
  /** Files that could not be deleted (logged). */
  errors: number;
}

/** Catalog rows deleted. */
export interface CatalogSweep {
  jobs: number;
  transitions: number;
  files: number;
  sessions: number;
  outbox: number;
}

/** What one retention run did; null for a kind that is off. */
export interface RetentionResult {
  archive: FileSweep | null;
  output: FileSweep | null;
  catalog: CatalogSweep | null;
}

const DAY_MS = 86_400_000;

/**
 * Deletes regular files under `root` whose age reference is before `cutoff`,
 * then folders that became empty because of it (never `root` itself).
 * Symbolic links are neither followed nor deleted.
 */
async function sweepTree(root: string, cutoff: number, what: string, log: Log): Promise<FileSweep> {
  const out: FileSweep = { files: 0, bytes: 0, errors: 0 };
  const walk = async (dir: string): Promise<void> => {
    let entries: Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        out.errors++;
        log.warn(`retention: cannot read ${what} folder`, { dir, error: oneLine(err) });
      }
      return;
    }
    let deletedHere = 0;
    for (const e of entries) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) {
        await walk(p);
        continue;
      }
      if (!e.isFile()) continue;
      try {
        const st = await lstat(p);
        if (!st.isFile() || Math.max(st.mtimeMs, st.ctimeMs) >= cutoff) continue;
        await unlink(p);
        out.files++;
        out.bytes += st.size;
        deletedHere++;
        log.info(`retention: deleted ${what}`, { path: p, bytes: st.size, modified: new Date(st.mtimeMs).toISOString() });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        out.errors++;
        log.warn(`retention: could not delete ${what}`, { path: p, error: oneLine(err) });
      }
    }
    if (deletedHere > 0 && dir !== root) {
      try {
        await rmdir(dir); // only succeeds when empty
      } catch {
        // not empty: something newer is still there
      }
    }
  };
  await walk(root);
  return out;
}

/** Whether a table exists (the notify tables are created only when notify runs). */
function hasTable(db: Database.Database, name: string): boolean {
  return db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?`).get(name) !== undefined;
}

/**
 * Deletes finished catalog rows older than `cutoff`, in foreign-key order, in
 * one transaction: done/failed jobs last changed before the cutoff with their
 * transitions, delivery-manifest rows and shot files; plates (first seen
 * before the cutoff) of sessions that have no job left; then
 * sessions with no file left and no activity since the cutoff; and the notify
 * rows that referred to them (plus sent outbox emails older than the cutoff).
 * A shot deleted here is processed again if the same content is dropped again.
 */
export function purgeCatalog(db: Database.Database, cutoff: number): CatalogSweep {
  return db
    .transaction((): CatalogSweep => {
      const jobs = db
        .prepare(`SELECT id, shot_id FROM jobs WHERE state IN ('done', 'failed') AND updated_at < ?`)
        .all(cutoff) as { id: number; shot_id: number }[];
      const jobIds = JSON.stringify(jobs.map((j) => j.id));
      const transitions = db.prepare('DELETE FROM transitions WHERE job_id IN (SELECT value FROM json_each(?))').run(jobIds).changes;
      if (hasTable(db, 'session_notice_jobs')) {
        db.prepare('DELETE FROM session_notice_jobs WHERE job_id IN (SELECT value FROM json_each(?))').run(jobIds);
      }
      if (hasTable(db, 'failure_pending')) {
        db.prepare('DELETE FROM failure_pending WHERE job_id IN (SELECT value FROM json_each(?))').run(jobIds);
      }
      // Plates that go: unused by any remaining job, in sessions with no job left.
      const plates = db
        .prepare(
          `SELECT f.id FROM files f WHERE f.kind = 'plate' AND f.first_seen_at < ?
             AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.plate_id = f.id AND j.id NOT IN (SELECT value FROM json_each(?)))
             AND NOT EXISTS (SELECT 1 FROM files s JOIN jobs j ON j.shot_id = s.id
                             WHERE s.session_id = f.session_id AND j.id NOT IN (SELECT value FROM json_each(?)))`,
        )
        .all(cutoff, jobIds, jobIds) as { id: number }[];
      const fileIds = JSON.stringify([...jobs.map((j) => j.shot_id), ...plates.map((p) => p.id)]);
      if (hasTable(db, 'deliveries')) {
        // The delivery manifest refers to jobs and files: its rows go first.
        db.prepare(
          'DELETE FROM deliveries WHERE job_id IN (SELECT value FROM json_each(?)) OR file_id IN (SELECT value FROM json_each(?))',
        ).run(jobIds, fileIds);
      }
      const jobCount = db.prepare('DELETE FROM jobs WHERE id IN (SELECT value FROM json_each(?))').run(jobIds).changes;
      const files = db.prepare('DELETE FROM files WHERE id IN (SELECT value FROM json_each(?))').run(fileIds).changes;
      const sessions = db
        .prepare(`DELETE FROM sessions WHERE last_activity_at < ? AND NOT EXISTS (SELECT 1 FROM files f WHERE f.session_id = sessions.id)`)
        .run(cutoff).changes;
      if (hasTable(db, 'session_notices')) {
        db.prepare('DELETE FROM session_notices WHERE session_id NOT IN (SELECT id FROM sessions)').run();
      }
      if (hasTable(db, 'notify_open_sessions')) {
        db.prepare('DELETE FROM notify_open_sessions WHERE session_id NOT IN (SELECT id FROM sessions)').run();
      }
      let outbox = 0;
      if (hasTable(db, 'outbox')) {
        outbox = db
          .prepare('DELETE FROM outbox WHERE (sent_at IS NOT NULL OR gave_up_at IS NOT NULL) AND created_at < ?')
          .run(cutoff).changes;
      }
      return { jobs: jobCount, transitions, files, sessions, outbox };
    })
    .immediate();
}

/**
 * One retention run. Kinds whose age is null are skipped.
 * @param catalog the catalog (or anything with its `db`)
 * @param cfg config.retention
 * @param dirs archive and output roots (see `retentionDirs`)
 * @param now current time in ms (tests move it)
 */
export async function runRetention(
  catalog: { db: Database.Database },
  cfg: RetentionConfig,
  dirs: RetentionDirs,
  now: number,
  log: Log = silentLog,
): Promise<RetentionResult> {
  const result: RetentionResult = { archive: null, output: null, catalog: null };
  const sweepAll = async (roots: string[], days: number, what: string): Promise<FileSweep> => {
    const total: FileSweep = { files: 0, bytes: 0, errors: 0 };
    for (const root of roots) {
      const r = await sweepTree(root, now - days * DAY_MS, what, log);
      total.files += r.files;
      total.bytes += r.bytes;
      total.errors += r.errors;
    }
    log.info(`retention: ${what}s older than ${days} days`, { deleted: total.files, bytes: total.bytes, errors: total.errors });
    return total;
  };
  if (cfg.archiveDays !== null) result.archive = await sweepAll(dirs.archive, cfg.archiveDays, 'archived original');
  if (cfg.outputDays !== null) result.output = await sweepAll(dirs.output, cfg.outputDays, 'output');
  if (cfg.catalogDays !== null) {
    result.catalog = purgeCatalog(catalog.db, now - cfg.catalogDays * DAY_MS);
    log.info(`retention: catalog rows older than ${cfg.catalogDays} days deleted`, { ...result.catalog });
  }
  if (cfg.archiveDays === null && cfg.outputDays === null && cfg.catalogDays === null) {
    log.info('retention: nothing to do (retention.archiveDays, outputDays and catalogDays are all off)');
  }
  return result;
}
