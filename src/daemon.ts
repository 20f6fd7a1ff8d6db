/**
 * The hot-folder daemon: one straight pipeline
 *
 *   watch (src/watch) → catalog (src/catalog/ingest) → match (catalog + src/match)
 *   → matte + post-process + encode (src/pipeline, in worker threads)
 *   → deliver (src/deliver) → notify (src/notify)
 *
 * This file only wires the stages together and owns the job loop. The job
 * lifecycle is documented in docs/job-lifecycle.md; every state change goes
 * through the catalog. After a crash, `start` re-queues jobs found running and
 * settles failed ones, so the daemon resumes exactly where it was.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Catalog } from './catalog/catalog.js';
import { ingestFile, type IncomingFile } from './catalog/ingest.js';
import { afterFailure } from './catalog/states.js';
import { loadConfig } from './config/load.js';
import { diffConfig, restartRequired, watchConfigFile } from './config/reload.js';
import type { Config, ShareConfig } from './config/schema.js';
import { archiveDuplicate, archiveFile, deliverJob, locationState, outputsComplete, sessionDir, settleFailedJob, type RenderedJob } from './deliver/deliver.js';
import { moveFileNoOverwrite, writeFileAtomic } from './deliver/atomic.js';
import { CleanplateError, toCleanplateError } from './errors.js';
import { sessionOf } from './match/plates.js';
import { closeLogger, createLogger, type Logger } from './log.js';
import { createMailer } from './notify/mailer.js';
import { Notifier } from './notify/notifier.js';
import { scheduleProblems, startSchedules, type ScheduleHandle } from './schedule/scheduler.js';
import { heartbeat as logHeartbeat, sweepWaiting } from './schedule/upkeep.js';
import { InboxWatcher } from './watch/watcher.js';
import { RenderPool } from './worker/pool.js';

/** Options for tests and embedding. */
export interface DaemonOptions {
  /** Use this logger instead of one built from the config. */
  log?: Logger;
  /** Clock (ms since epoch). */
  now?: () => number;
  /** Do not watch the config file for live changes. */
  noConfigWatch?: boolean;
}

/** A running daemon. */
export class Daemon {
  private readonly running = new Map<number, Promise<void>>();
  /** Set when stop() begins: no new jobs or files are taken. */
  private stopping = false;
  /** Set when the grace period is over: running jobs are abandoned and re-queued. */
  private abandoned = false;
  private wakeTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private pumping = false;
  private ingestChain: Promise<void> = Promise.resolve();
  private configWatch: { close(): Promise<void> } | undefined;
  /** Config changes are applied one at a time, in the order they were saved. */
  private configChain: Promise<void> = Promise.resolve();
  /** Set while the render workers are swapped for new settings: no new job is started. */
  private swappingWorkers = false;
  private schedules: ScheduleHandle | undefined;
  /** When the daemon started (ms), for the heartbeat's uptime. */
  private readonly startedAt: number;
  /** Resolves when the daemon has stopped. */
  readonly stopped: Promise<void>;
  private resolveStopped!: () => void;

  private constructor(
    private config: Config,
    private readonly configFile: string | undefined,
    readonly catalog: Catalog,
    private pool: RenderPool,
    private readonly watcher: InboxWatcher,
    private readonly notifier: Notifier,
    readonly log: Logger,
    private readonly now: () => number,
  ) {
    this.stopped = new Promise((r) => (this.resolveStopped = r));
    this.startedAt = now();
  }

  /**
   * Starts the daemon on a config file (or an already-loaded config).
   *
   * When a step fails, everything opened before it (render workers, inbox
   * watcher, notifier, catalog, schedules, the config watch and, when it was
   * built here, the logger) is closed again before the error is thrown, so a
   * failed start leaves nothing running and the process can exit.
   * @throws CleanplateError when the config is invalid, a folder cannot be created, the notify settings are unusable or the engine cannot load
   */
  static async start(configOrFile: string | Config, options: DaemonOptions = {}): Promise<Daemon> {
    const configFile = typeof configOrFile === 'string' ? path.resolve(configOrFile) : undefined;
    const config = typeof configOrFile === 'string' ? await loadConfig(configOrFile) : configOrFile;
    const log = options.log ?? createLogger(config.logging);
    const now = options.now ?? Date.now;
    /** What has been opened so far; closed in reverse order when a later step fails. */
    const undo: Array<() => unknown> = [];
    try {
      await makeShareDirs(config.shares);
      const catalog = Catalog.open(config.catalog.path, { now });
      undo.push(() => catalog.close());
      // Settings that can be refused (SMTP password variable, ignore globs) are checked before any worker starts.
      const notifier = new Notifier(catalog, config, { log, now });
      undo.push(() => notifier.close());
      const watcher = new InboxWatcher(config);
      undo.push(() => watcher.close());
      const pool = await RenderPool.start(config, config.jobs.concurrency, (level, message) => log.log(level, message), { timeoutSec: config.jobs.timeoutSec });
      undo.push(() => pool.close());
      const d = new Daemon(config, configFile, catalog, pool, watcher, notifier, log, now);
      undo.push(() => d.abortStart());
      log.info('cleanplate starting', { engine: pool.engineInfo, shares: config.shares.map((s) => s.name), catalog: config.catalog.path });
      await d.recover();
      watcher.on('file', (ev: IncomingFile) => d.enqueueIngest(ev));
      watcher.on('incomplete', (ev: IncomingFile & { reason?: string }) => d.enqueueIncomplete(ev));
      watcher.on('error', (err: Error) => log.warn(`watcher: ${err.message}`));
      await watcher.start();
      d.schedules = startSchedules(config.schedule, d.scheduledTasks(), log);
      if (configFile && !options.noConfigWatch) {
        d.configWatch = watchConfigFile(
          configFile,
          config,
          (next) => d.onConfigChange(next),
          (err) => log.error(`config change rejected, keeping the running config: ${err.message}`),
        );
      }
      d.tickTimer = setInterval(() => void d.tick(), 5000);
      d.tickTimer.unref();
      d.wake();
      log.info('cleanplate ready: watching ' + config.shares.map((s) => `${s.name} (${s.inbox}${s.polling ? ', polling' : ''})`).join(', '));
      return d;
    } catch (err) {
      for (const step of undo.reverse()) {
        try {
          await step();
        } catch {
          // Keep closing the rest; the start-up error is the one reported.
        }
      }
      if (!options.log) await closeLogger(log);
      throw err;
    }
  }

  /** Undoes a start that failed after the daemon object was built: timers, schedules, watches, pending cataloguing. */
  private async abortStart(): Promise<void> {
    this.stopping = true;
    this.abandoned = true;
    await this.haltIntake();
    await Promise.allSettled([...this.running.values()]);
  }

  /** Stops everything that brings in new work (timers, schedules, config and inbox watches) and lets pending cataloguing finish. */
  private async haltIntake(): Promise<void> {
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    if (this.tickTimer) clearInterval(this.tickTimer);
    await this.configWatch?.close();
    this.schedules?.stop();
    await this.watcher.close();
    await this.ingestChain;
  }

  /**
   * After a crash or an unclean stop: running jobs go back to the queue, or,
   * when they have used up `jobs.maxAttempts`, fail (moved to failed/ with the
   * reason, and reported); failed ones are settled.
   */
  private async recover(): Promise<void> {
    const { requeued, gaveUp } = this.catalog.recoverRunning(this.config.jobs.maxAttempts, 'found running at start-up (the daemon stopped mid-job)');
    if (requeued.length) this.log.warn(`re-queued ${requeued.length} job(s) interrupted by the last stop`, { jobs: requeued });
    for (const id of gaveUp) {
      const ctx = this.catalog.jobContext(id)!;
      this.log.error(`${ctx.session}/${ctx.shot.rel_path}: ${ctx.job.last_error ?? 'gave up'}`, { job: id });
    }
    await this.settleFailed();
    for (const id of gaveUp) this.notifier.jobFailed(id);
  }

  /** The tasks node-cron runs (src/schedule). */
  private scheduledTasks(): Parameters<typeof startSchedules>[1] {
    return {
      digest: () => this.notifier.digest(this.now()),
      retention: () => this.notifier.retention(this.config),
      waitingSweep: async () => {
        const failed = sweepWaiting(this.catalog, this.config.plates.waitTimeoutMin, { log: this.log });
        if (failed.length === 0) return;
        // Like a job that gave up: the shot moves to failed/ first, so the alert can say where it went.
        await this.settleFailed();
        for (const id of failed) this.notifier.jobFailed(id);
      },
      rescan: () => this.watcher.rescan(),
      heartbeat: () => void logHeartbeat(this.catalog, this.log, this.startedAt, this.now()),
    };
  }

  private shareByName(name: string): ShareConfig | undefined {
    return this.config.shares.find((s) => s.name === name);
  }

  /** Files are catalogued one at a time, in arrival order (plate rules like first-frame depend on it). */
  private enqueueIngest(ev: IncomingFile): void {
    this.ingestChain = this.ingestChain.then(() => this.ingest(ev)).catch((err: unknown) => {
      this.log.error(`cataloguing ${ev.relPath} failed: ${toCleanplateError(err).message}`, { share: ev.share });
    });
  }

  private async ingest(ev: IncomingFile): Promise<void> {
    if (this.stopping) return;
    const share = this.shareByName(ev.share);
    if (!share || !existsSync(ev.absPath)) return;
    const out = await ingestFile(this.catalog, this.config, share, ev);
    switch (out.action) {
      case 'outside-session':
        this.log.warn(out.reason, { share: share.name });
        break;
      case 'duplicate':
        if (share.keepOriginals === 'archive') {
          const to = await archiveDuplicate(this.catalog, out.original, ev.absPath, out.session, out.within, share);
          this.log.info(`${ev.relPath} is a copy of ${out.original.rel_path}, already catalogued; archived to ${to}`);
        } else {
          this.log.info(`${ev.relPath} is a copy of ${out.original.rel_path}, already catalogued; left in place`);
        }
        break;
      case 'renamed':
        this.log.info(`${ev.relPath}: known file (moved or renamed), not processed again`);
        break;
      case 'new':
        this.log.info(`catalogued ${out.file.kind} ${out.session}/${out.file.rel_path}`, { share: share.name, file: out.file.id });
        this.wake();
        break;
      case 'known':
        break;
    }
  }

  /** A file that never became complete/decodable: moved to failed/ with a note. */
  private enqueueIncomplete(ev: IncomingFile & { reason?: string }): void {
    this.ingestChain = this.ingestChain
      .then(async () => {
        const share = this.shareByName(ev.share);
        if (!share || !existsSync(ev.absPath)) return;
        const reason = ev.reason ?? `the file never became complete and decodable within ${this.config.watch.incompleteTimeoutMin} min`;
        const sp = sessionOf(ev.relPath, share.sessionDepth);
        const session = sp?.session ?? '_unsorted';
        const within = sp?.within ?? ev.relPath;
        const dir = sessionDir(share.failed, session, within);
        await fs.mkdir(dir, { recursive: true });
        const target = await moveFileNoOverwrite(ev.absPath, dir);
        await writeFileAtomic(dir, `${path.basename(target)}.error.txt`, `cleanplate could not take ${session}/${within}\nreason: ${reason}\nat: ${new Date(this.now()).toISOString()}\n`);
        this.log.error(`${share.name}/${ev.relPath}: ${reason}; moved to ${target}`);
      })
      .catch((err: unknown) => {
        this.log.error(`moving incomplete ${ev.relPath} failed: ${toCleanplateError(err).message}`);
      });
  }

  /** Asks the job loop to look for work now. */
  wake(): void {
    if (this.stopping) return;
    if (this.wakeTimer) clearTimeout(this.wakeTimer);
    this.wakeTimer = setTimeout(() => void this.pump(), 0);
  }

  private async pump(): Promise<void> {
    if (this.pumping || this.stopping) return;
    this.pumping = true;
    try {
      while (!this.stopping && !this.swappingWorkers && this.running.size < this.pool.capacity && this.pool.idle > 0) {
        const job = this.catalog.claimNextJob(this.config.watch.stableMs);
        if (!job) break;
        const p = this.process(job.id).finally(() => {
          this.running.delete(job.id);
          this.wake();
        });
        this.running.set(job.id, p);
      }
      const due = this.catalog.nextDueInMs(this.config.watch.stableMs);
      if (due !== undefined && due > 0 && !this.stopping) {
        if (this.wakeTimer) clearTimeout(this.wakeTimer);
        this.wakeTimer = setTimeout(() => void this.pump(), Math.min(due + 10, 60_000));
      }
    } finally {
      this.pumping = false;
    }
  }

  private async process(jobId: number): Promise<void> {
    const ctx = this.catalog.jobContext(jobId)!;
    const share = this.shareByName(ctx.share);
    const label = `${ctx.session}/${ctx.shot.rel_path}`;
    const started = this.now();
    try {
      if (!share) throw new CleanplateError('config', `share ${ctx.share} is no longer configured`, { retryable: true });
      if (!ctx.plate) throw new CleanplateError('no-plate', `no plate for ${label}`);
      this.log.info(`matting ${label} (attempt ${ctx.job.attempts})`, { job: jobId, plate: ctx.plate.rel_path });
      let rendered: RenderedJob | undefined;
      let superseded = false;
      if (!outputsComplete(this.catalog, jobId)) {
        // A shot replaced under the same name (a new version with its own job) before or while it was rendered:
        // its outputs would come from the new content, so nothing is published for this version.
        // A vanished shot is left to the render (it fails as `missing`).
        superseded = (await locationState(ctx.shot)) === 'replaced';
        if (!superseded) {
          rendered = await this.pool.render(ctx.shot.location, ctx.plate.location);
          if (!this.abandoned) superseded = (await locationState(ctx.shot)) === 'replaced';
        }
        if (superseded) {
          const note = `${ctx.shot.rel_path} was superseded by a new version before its outputs were published; nothing is published for this version (the new file is processed by its own job)`;
          rendered = { outputs: [], warnings: [note], timingsMs: {} };
        }
      }
      if (this.abandoned) throw new CleanplateError('internal', 'stopping', { retryable: true });
      const result = await deliverJob(this.catalog, ctx, share, rendered);
      for (const w of result.warnings) this.log.warn(`${label}: ${w}`, { job: jobId });
      if (superseded) this.log.info(`ended ${label} without outputs: superseded by a new version`, { job: jobId });
      else
        this.log.info(`delivered ${label} in ${((this.now() - started) / 1000).toFixed(1)} s → ${result.outputs.join(', ')}`, {
          job: jobId,
          timingsMs: result.timingsMs,
        });
    } catch (err) {
      const e = toCleanplateError(err, label);
      const job = this.catalog.getJob(jobId)!;
      if (job.state !== 'running') return; // already delivered
      if (this.abandoned) {
        this.catalog.transition(jobId, 'stopped', 'daemon stopping');
        return;
      }
      const next = afterFailure(job.attempts, this.config.jobs.maxAttempts, e.retryable, this.config.jobs.retryBackoffSec);
      if (next.reason === 'retry-later') {
        this.catalog.transition(jobId, 'retry-later', e.message, { nextAttemptAt: this.now() + next.delayMs });
        this.log.warn(`${e.message} (attempt ${job.attempts}; retrying in ${Math.round(next.delayMs / 1000)} s)`, { job: jobId, code: e.code });
      } else {
        this.catalog.transition(jobId, 'gave-up', e.message);
        this.log.error(`${e.message} (gave up after ${job.attempts} attempt(s))`, { job: jobId, code: e.code });
        await this.settleFailed();
        this.notifier.jobFailed(jobId);
      }
    }
  }

  /** Moves the shots of failed jobs to failed/ with their error notes (idempotent). */
  private async settleFailed(): Promise<void> {
    for (const job of this.catalog.unsettledFailed()) {
      const ctx = this.catalog.jobContext(job.id)!;
      const share = this.shareByName(ctx.share);
      if (!share) continue;
      try {
        const to = await settleFailedJob(this.catalog, ctx, share, job.last_error ?? 'unknown error');
        this.log.info(`moved failed shot ${ctx.session}/${ctx.shot.rel_path} to ${to}`, { job: job.id });
      } catch (err) {
        this.log.error(`could not move failed shot ${ctx.session}/${ctx.shot.rel_path}: ${toCleanplateError(err).message}`, { job: job.id });
      }
    }
  }

  /** Periodic housekeeping: settle failures, archive plates of finished sessions, notifications. */
  private async tick(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.settleFailed();
      await this.tidySessions();
      // Not awaited: a hanging SMTP server or a large contact sheet must not hold up housekeeping.
      void this.notifier.tick(this.now()).catch((err: unknown) => this.log.error(`notifications: ${toCleanplateError(err).message}`));
      this.wake();
    } catch (err) {
      this.log.error(`housekeeping: ${toCleanplateError(err).message}`);
    }
  }

  private async tidySessions(): Promise<void> {
    for (const s of this.catalog.sessionsToTidy(this.config.notify.sessionQuietMin * 60_000)) {
      const share = this.shareByName(s.share);
      if (!share) continue;
      // sessionsToTidy only returns sessions whose jobs are all terminal and settled: no plate is still needed.
      for (const plate of this.catalog.platesOf(s.id)) await archiveFile(this.catalog, plate, s.name, share);
      this.catalog.markTidied(s.id);
    }
  }

  /** Queues a changed config file's settings (from the config watch); never rejects. */
  private onConfigChange(next: Config): Promise<void> {
    this.configChain = this.configChain
      .then(() => this.applyConfig(next))
      .catch((err: unknown) => {
        this.log.error(`config change failed: ${toCleanplateError(err).message}`);
      });
    return this.configChain;
  }

  /**
   * Applies a changed config, diffed against the running one. Everything that
   * can refuse the change (cron expressions, ignore globs, notify transport,
   * new share folders) is checked first: a refused change is logged as one
   * line and nothing of it is applied. Settings that need a restart
   * (`RESTART_REQUIRED`) keep their running values, with one warning naming
   * them.
   */
  private async applyConfig(next: Config): Promise<void> {
    if (this.stopping) return;
    const prev = this.config;
    const changed = diffConfig(prev, next);
    if (changed.length === 0) return;
    const needRestart = restartRequired(changed);
    const candidate = withValuesOf(next, prev, needRestart);
    try {
      await this.checkConfig(candidate, prev);
      // The notifier takes its settings first: it refuses unusable ones before changing anything (checked above too).
      this.notifier.updateConfig(candidate);
    } catch (err) {
      this.log.error(`config change rejected, keeping the running config: ${toCleanplateError(err).message}`);
      return;
    }
    this.log.info(`config changed: ${changed.join(', ')}`);
    if (needRestart.length) this.log.warn(`config change needs a restart to take effect, running with the old values until then: ${needRestart.join(', ')}`);
    const applied = diffConfig(prev, candidate);
    this.config = candidate;
    this.pool.timeoutSec = candidate.jobs.timeoutSec; // the next render's limit; no worker restart needed
    if (applied.length === 0) return;
    this.log.level = candidate.logging.level;
    this.schedules?.stop();
    this.schedules = startSchedules(candidate.schedule, this.scheduledTasks(), this.log);
    try {
      await this.watcher.updateConfig(candidate);
    } catch (err) {
      this.log.error(`watcher: applying the new settings failed: ${toCleanplateError(err).message}`);
    }
    const renderParts = ['engine', 'limits', 'postprocess', 'outputs', 'jobs.concurrency'];
    if (applied.some((c) => renderParts.some((p) => c === p || c.startsWith(`${p}.`)))) await this.restartWorkers(prev);
  }

  /**
   * Checks a new config without applying anything (globs were checked by the
   * schema when the file was loaded).
   * @throws CleanplateError naming what cannot be used
   */
  private async checkConfig(next: Config, prev: Config): Promise<void> {
    const bad = scheduleProblems(next.schedule);
    if (bad.length) throw new CleanplateError('config', bad.join('; '));
    const transport = (c: Config) => JSON.stringify([c.notify.enabled, c.notify.transport, c.notify.smtp, c.notify.fileDir]);
    if (next.notify.enabled && transport(next) !== transport(prev)) createMailer(next.notify).close();
    await makeShareDirs(next.shares, prev.shares);
  }

  /** New engine settings: waits for running jobs (starting none meanwhile), then swaps the render workers. */
  private async restartWorkers(prev: Config): Promise<void> {
    this.swappingWorkers = true;
    try {
      await Promise.allSettled([...this.running.values()]);
      if (this.stopping) return;
      const pool = await RenderPool.start(this.config, this.config.jobs.concurrency, (level, message) => this.log.log(level, message), {
        timeoutSec: this.config.jobs.timeoutSec,
      });
      if (this.stopping) {
        await pool.close();
        return;
      }
      const old = this.pool;
      this.pool = pool;
      await old.close();
      this.log.info('render workers restarted with the new settings', { engine: pool.engineInfo });
    } catch (err) {
      // The old workers keep running: so do their settings.
      const c = this.config;
      this.config = { ...c, engine: prev.engine, limits: prev.limits, postprocess: prev.postprocess, outputs: prev.outputs, jobs: { ...c.jobs, concurrency: prev.jobs.concurrency } };
      await this.watcher.updateConfig(this.config).catch(() => undefined);
      this.log.error(`new engine settings could not load, keeping the old ones: ${toCleanplateError(err).message}`);
    } finally {
      this.swappingWorkers = false;
      this.wake();
    }
  }

  /**
   * Stops cleanly: no new jobs, watchers and schedules closed, running jobs
   * given `graceMs` to finish, then re-queued.
   */
  async stop(graceMs = 30_000): Promise<void> {
    if (this.stopping) return this.stopped;
    this.log.info('cleanplate stopping');
    this.stopping = true;
    await this.haltIntake();
    const finished = Promise.allSettled([...this.running.values()]);
    const timedOut = await Promise.race([finished.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref())]);
    this.abandoned = true;
    await this.pool.close();
    if (timedOut) await finished;
    await this.configChain; // a worker swap under way closes its new workers
    const requeued = this.catalog.requeueRunning('daemon stopped before the job finished');
    if (requeued.length) this.log.warn(`re-queued ${requeued.length} running job(s) for the next start`);
    await this.notifier.close();
    this.catalog.close();
    this.log.info('cleanplate stopped');
    this.resolveStopped();
    await closeLogger(this.log);
  }
}

/** A share's four folders. */
function shareDirs(s: ShareConfig): string[] {
  return [s.inbox, s.output, s.failed, s.archive];
}

/**
 * Creates the folders of `shares`, except those a share of the same name in
 * `running` (the config in use) already has.
 * @throws CleanplateError naming the share and folder that cannot be created
 */
async function makeShareDirs(shares: readonly ShareConfig[], running: readonly ShareConfig[] = []): Promise<void> {
  for (const s of shares) {
    const have = running.find((p) => p.name === s.name);
    for (const dir of shareDirs(s)) {
      if (have && shareDirs(have).includes(dir)) continue;
      await fs.mkdir(dir, { recursive: true }).catch((err: unknown) => {
        throw toCleanplateError(err, `share ${s.name}: cannot create ${dir}`);
      });
    }
  }
}

/**
 * `next` with the values of `prev` at the given dotted paths (settings that
 * need a restart keep their running values). Pure; `next` is not changed.
 */
function withValuesOf(next: Config, prev: Config, paths: readonly string[]): Config {
  if (paths.length === 0) return next;
  const out = structuredClone(next);
  for (const p of paths) {
    const keys = p.split('.');
    let to = out as unknown as Record<string, unknown>;
    let from = prev as unknown as Record<string, unknown>;
    for (const k of keys.slice(0, -1)) {
      to = to[k] as Record<string, unknown>;
      from = from[k] as Record<string, unknown>;
    }
    const last = keys[keys.length - 1];
    to[last] = structuredClone(from[last]);
  }
  return out;
}
