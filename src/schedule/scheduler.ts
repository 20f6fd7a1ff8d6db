/**
 * Scheduled upkeep with node-cron: the digest, retention, the waiting-shot
 * sweep, an extra inbox rescan and a heartbeat, each on the cron expression of
 * `config.schedule` (null turns a task off). A task never overlaps itself, and
 * a failing task is logged, never fatal.
 */
import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../config/schema.js';
import { CleanplateError } from '../errors.js';
import { oneLine, silentLog, type Log } from '../notify/types.js';

/** The schedule section of the config. */
export type ScheduleConfig = Config['schedule'];

/** Names of the scheduled tasks (the keys of `config.schedule`). */
export type ScheduleName = keyof ScheduleConfig;

/** Every scheduled task, in a stable order. */
export const SCHEDULE_NAMES: readonly ScheduleName[] = ['digest', 'retention', 'waitingSweep', 'rescan', 'heartbeat'];

/** The work behind a task. */
export type ScheduledFn = () => unknown;

/** Running schedules, as returned by `startSchedules`. */
export interface ScheduleHandle {
  /** Tasks that are scheduled (expression set and a function given). */
  readonly active: ScheduleName[];
  /** The next run of each active task. */
  nextRuns(): Partial<Record<ScheduleName, Date | null>>;
  /** Runs a task now, as the schedule would (errors logged, not thrown). */
  runNow(name: ScheduleName): Promise<void>;
  /** Stops every task (call on shutdown and before re-starting with a new config); runs already started finish on their own. */
  stop(): void;
}

/**
 * Checks every cron expression of the schedule.
 * @returns one problem per invalid expression ('schedule.digest: ...'), empty when all are valid
 */
export function scheduleProblems(cfg: ScheduleConfig): string[] {
  const problems: string[] = [];
  for (const name of SCHEDULE_NAMES) {
    const expr = cfg[name];
    if (expr === null) continue;
    const v = cron.validateDetailed(expr);
    if (!v.valid) {
      const why = v.errors.map((e) => `${e.field}: ${e.message}`).join('; ') || 'invalid';
      problems.push(`schedule.${name}: "${expr}" is not a valid cron expression (${why})`);
    }
  }
  return problems;
}

/**
 * Starts the scheduled tasks.
 * @param cfg config.schedule (null: off)
 * @param tasks the function of each task; a task with no function is not scheduled
 * @param log where runs, durations and failures are logged
 * @param options.timezone IANA zone for the expressions (default: the process's)
 * @throws CleanplateError('config') naming every invalid expression
 */
export function startSchedules(
  cfg: ScheduleConfig,
  tasks: Partial<Record<ScheduleName, ScheduledFn>>,
  log: Log = silentLog,
  options: { timezone?: string } = {},
): ScheduleHandle {
  const problems = scheduleProblems(cfg);
  if (problems.length > 0) throw new CleanplateError('config', problems.join('; '));
  const running = new Map<ScheduleName, ScheduledTask>();
  const wrapped = new Map<ScheduleName, () => Promise<void>>();
  const cronLogger = {
    info: () => undefined,
    debug: () => undefined,
    warn: (message: string) => log.warn(`schedule: ${message}`),
    error: (message: string | Error, err?: Error) => log.error(`schedule: ${oneLine(message)}`, err ? { error: oneLine(err) } : undefined),
  };
  for (const name of SCHEDULE_NAMES) {
    const expr = cfg[name];
    const fn = tasks[name];
    if (expr === null || !fn) continue;
    const run = async () => {
      const t0 = Date.now();
      try {
        await fn();
      } catch (err) {
        log.error(`schedule: ${name} failed`, { task: name, error: oneLine(err) });
        return;
      }
      if (name !== 'heartbeat' && name !== 'rescan') log.info(`schedule: ${name} done`, { task: name, ms: Date.now() - t0 });
    };
    wrapped.set(name, run);
    running.set(
      name,
      cron.schedule(expr, run, { name: `cleanplate-${name}`, noOverlap: true, logger: cronLogger, ...(options.timezone ? { timezone: options.timezone } : {}) }),
    );
  }
  const active = [...running.keys()];
  if (active.length > 0) log.info('schedule: started', Object.fromEntries(active.map((n) => [n, cfg[n]])));
  return {
    active,
    nextRuns() {
      return Object.fromEntries([...running].map(([n, t]) => [n, t.getNextRun()]));
    },
    async runNow(name) {
      const run = wrapped.get(name);
      if (!run) throw new Error(`schedule ${name} is not active`);
      await run();
    },
    stop() {
      for (const [name, t] of running) {
        void Promise.resolve(t.destroy()).catch((err: unknown) => log.warn(`schedule: could not stop ${name}`, { error: oneLine(err) }));
      }
      running.clear();
    },
  };
}
