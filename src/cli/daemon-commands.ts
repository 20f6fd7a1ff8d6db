/**
 * CLI commands around the daemon and its catalog: start, status, retry, init-config.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { Catalog } from '../catalog/catalog.js';
import { loadConfig } from '../config/load.js';
import { renderExampleConfig } from '../config/example.js';
import { Daemon } from '../daemon.js';
import { CleanplateError } from '../errors.js';
import { outboxSummary } from '../notify/outbox.js';
import { assertAbsent, parse, writeNew, requireConfigPath, UsageError } from './main.js';

/** `start --config FILE`: runs until SIGTERM/SIGINT, then stops cleanly (exit 0). */
export async function cmdStart(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' }, 'grace-sec': { type: 'string' } });
  const file = requireConfigPath(values.config);
  const graceMs = values['grace-sec'] === undefined ? 30_000 : Number(values['grace-sec']) * 1000;
  if (!Number.isFinite(graceMs) || graceMs < 0) throw new UsageError('--grace-sec must be a number of seconds');
  // Signal handlers come first: a SIGTERM while the daemon starts (engine loading, recovery after a crash)
  // stops it as soon as it has started, instead of killing the process half-way.
  let daemon: Daemon | undefined;
  let duringStart: NodeJS.Signals | undefined;
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signals++;
    if (!daemon) {
      duringStart = sig;
      return;
    }
    if (signals > 1) {
      daemon.log.warn(`${sig} again: stopping now, running jobs are re-queued`);
      void daemon.stop(0);
      return;
    }
    daemon.log.info(`${sig}: finishing running jobs (up to ${graceMs / 1000} s), then exiting`);
    void daemon.stop(graceMs);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    daemon = await Daemon.start(file);
  } catch (err) {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    throw err;
  }
  if (duringStart) {
    daemon.log.info(`${duringStart} during start-up: finishing running jobs (up to ${graceMs / 1000} s), then exiting`);
    void daemon.stop(signals > 1 ? 0 : graceMs);
  }
  await daemon.stopped;
  return 0;
}

function fmtTime(ms: number): string {
  return new Date(ms).toISOString().replace('T', ' ').slice(0, 19);
}

/** `status --config FILE [--session NAME]`: sessions, jobs, failures, outbox. */
export async function cmdStatus(args: string[]): Promise<number> {
  const { values } = parse(args, { config: { type: 'string' }, session: { type: 'string' }, json: { type: 'boolean' } });
  const config = await loadConfig(requireConfigPath(values.config));
  const catalog = Catalog.open(config.catalog.path);
  try {
    const sessions = catalog.sessions(values.session ? 1000 : 50).filter((s) => !values.session || s.name === values.session);
    const jobs = catalog.jobs({ session: values.session, limit: values.session ? 1000 : 20 });
    const outbox = outboxSummary(catalog.db);
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ counts: catalog.counts(), sessions, jobs, outbox }, null, 2)}\n`);
      return 0;
    }
    const c = catalog.counts();
    const out: string[] = [];
    out.push(`jobs: ${c.waiting_for_plate} waiting for plate, ${c.queued} queued, ${c.running} running, ${c.done} done, ${c.failed} failed`);
    out.push('', 'sessions (most recent first):');
    out.push(`  ${'share/session'.padEnd(36)} ${'plates'.padStart(6)} ${'wait'.padStart(5)} ${'queue'.padStart(5)} ${'run'.padStart(4)} ${'done'.padStart(5)} ${'fail'.padStart(5)}  last activity`);
    for (const s of sessions) {
      const k = s.counts;
      out.push(
        `  ${`${s.share}/${s.name}`.padEnd(36)} ${String(s.plates).padStart(6)} ${String(k.waiting_for_plate).padStart(5)} ${String(k.queued).padStart(5)} ${String(k.running).padStart(4)} ${String(k.done).padStart(5)} ${String(k.failed).padStart(5)}  ${fmtTime(s.lastActivityAt)}`,
      );
    }
    out.push('', values.session ? `jobs of ${values.session}:` : 'recent jobs:');
    for (const j of jobs) {
      out.push(`  #${String(j.id).padEnd(5)} ${j.state.padEnd(17)} ${`${j.session}/${j.rel_path}`.padEnd(40)} attempts ${j.attempts}${j.last_error ? `  ${j.last_error}` : ''}`);
    }
    out.push('', `email outbox: ${outbox.pending} pending, ${outbox.sent} sent, ${outbox.failing} failing${outbox.lastError ? ` (last error: ${outbox.lastError})` : ''}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return 0;
  } finally {
    catalog.close();
  }
}

/** `retry SESSION|JOB --config FILE`: re-queues failed jobs. */
export async function cmdRetry(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { config: { type: 'string' } });
  if (positionals.length !== 1) throw new UsageError('retry needs one SESSION name or JOB number');
  const config = await loadConfig(requireConfigPath(values.config));
  const catalog = Catalog.open(config.catalog.path);
  try {
    const target = /^\d+$/.test(positionals[0]) ? { jobId: Number(positionals[0]) } : { session: positionals[0] };
    const ids = catalog.retry(target);
    if (ids.length === 0) throw new CleanplateError('missing', `no failed jobs for ${positionals[0]}`);
    process.stdout.write(`re-queued ${ids.length} job(s): ${ids.map((i) => `#${i}`).join(', ')} (a running daemon picks them up)\n`);
    return 0;
  } finally {
    catalog.close();
  }
}

/** `init-config [FILE]`: writes the commented example config. */
export async function cmdInitConfig(args: string[]): Promise<number> {
  const { positionals } = parse(args, {});
  const text = renderExampleConfig();
  if (positionals.length === 0) {
    process.stdout.write(text);
    return 0;
  }
  const file = path.resolve(positionals[0]);
  await assertAbsent(file);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeNew(file, text);
  process.stdout.write(`wrote ${file}; edit the share folders, then: cleanplate doctor --config ${positionals[0]}\n`);
  return 0;
}
