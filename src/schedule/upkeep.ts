/**
 * Small upkeep tasks run on a schedule: failing shots that waited too long
 * for a plate, and the heartbeat line.
 */
import type Database from 'better-sqlite3';
import type { Catalog } from '../catalog/catalog.js';
import type { JobState } from '../catalog/states.js';
import { outboxSummary } from '../notify/outbox.js';
import { silentLog, type Log } from '../notify/types.js';

/** Options of `sweepWaiting`. */
export interface SweepOptions {
  log?: Log;
  /** Called for each failed job (the daemon passes `notifier.jobFailed`). */
  onFailed?: (jobId: number) => void;
}

/**
 * Fails every shot that has waited for a plate for `timeoutMin` minutes or
 * more (by the catalog's clock), through `catalog.failWaiting`, so each gets
 * the 'plate-timeout' transition and its reason.
 * @returns ids of the jobs failed
 */
export function sweepWaiting(catalog: Pick<Catalog, 'failWaiting'>, timeoutMin: number, options: SweepOptions = {}): number[] {
  const log = options.log ?? silentLog;
  const ids = catalog.failWaiting(Math.round(timeoutMin * 60_000));
  for (const id of ids) {
    log.warn('sweep: shot failed, no plate arrived in time', { jobId: id, waitTimeoutMin: timeoutMin });
    options.onFailed?.(id);
  }
  return ids;
}

/** What the heartbeat line says. */
export interface HeartbeatFields {
  uptimeSec: number;
  rssMb: number;
  jobs: Record<JobState, number>;
  outboxPending: number;
  outboxLastError: string | null;
}

/**
 * Writes the heartbeat line: uptime, memory, jobs per state and the outbox.
 * @param startedAt when the daemon started (ms)
 * @param now current time (ms)
 */
export function heartbeat(
  catalog: Pick<Catalog, 'counts'> & { db: Database.Database },
  log: Log,
  startedAt: number,
  now: number = Date.now(),
): HeartbeatFields {
  const outbox = outboxSummary(catalog.db);
  const fields: HeartbeatFields = {
    uptimeSec: Math.max(0, Math.round((now - startedAt) / 1000)),
    rssMb: Math.round(process.memoryUsage.rss() / 1_048_576),
    jobs: catalog.counts(),
    outboxPending: outbox.pending,
    outboxLastError: outbox.pending > 0 ? outbox.lastError : null,
  };
  log.info('heartbeat', { ...fields });
  return fields;
}
