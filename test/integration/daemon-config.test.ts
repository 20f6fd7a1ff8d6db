/**
 * The real daemon and its config file: changes it cannot use are refused
 * whole (one log line, the daemon keeps running on its config), settings
 * that need a restart are named in a warning, and the scheduled upkeep
 * (heartbeat, waiting-shot sweep) runs through src/schedule/upkeep.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { stringify } from 'yaml';
import { Daemon } from '../../src/daemon.js';
import { createLogger } from '../../src/log.js';
import { drop, makeDirs, makePair, startDaemon, testConfig, tree, waitFor, writeConfigFile } from './harness.js';

const W = 240;
const H = 360;
/** An environment variable no test machine sets. */
const UNSET = 'CLEANPLATE_TEST_UNSET_SMTP_PASSWORD';

async function logText(dirs: { root: string }): Promise<string> {
  const dir = path.join(dirs.root, 'log');
  const files = await fs.readdir(dir).catch(() => [] as string[]);
  const texts = await Promise.all(files.map((f) => fs.readFile(path.join(dir, f), 'utf8')));
  return texts.join('\n');
}

/** The complete JSON log lines, parsed (a line still being written is skipped). */
async function logLines(dirs: { root: string }): Promise<Array<Record<string, unknown>>> {
  const out: Array<Record<string, unknown>> = [];
  for (const line of (await logText(dirs)).split('\n')) {
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // partial or empty line
    }
  }
  return out;
}

/** Waits for a log line matching `re`; on a timeout the error shows the log. */
async function waitForLog(dirs: { root: string }, what: string, re: RegExp, timeoutMs = 15_000): Promise<void> {
  try {
    await waitFor(what, async () => re.test(await logText(dirs)), timeoutMs);
  } catch (err) {
    throw new Error(`${(err as Error).message}; log:\n${await logText(dirs)}`);
  }
}

test('a config change the daemon cannot use is refused whole and logged; restart-only changes are named in one warning', async (t) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  t.after(() => void process.off('unhandledRejection', onUnhandled));
  const dirs = makeDirs(t, 'refuse');
  delete process.env[UNSET];
  const config = testConfig(dirs, {
    outputs: { rgbaPng: true, alphaPng: false, sidecar: false },
    // SMTP with no recipients: nothing is ever sent, so no server is needed.
    notify: { enabled: true, transport: 'smtp', smtp: { host: '127.0.0.1', port: 2525 }, sessionQuietMin: 60 },
  });
  const file = await writeConfigFile(dirs, config);
  const d = await Daemon.start(file, { log: createLogger(config.logging, { console: false }) });
  try {
    await new Promise((r) => setTimeout(r, 1000)); // the config watch's first scan of its folder
    // 1. An SMTP login whose password variable is not set, saved together with a usable change (alpha PNG on).
    await fs.writeFile(
      file,
      stringify({ ...config, outputs: { ...config.outputs, alphaPng: true }, notify: { ...config.notify, smtp: { ...config.notify.smtp!, user: 'cleanplate', passwordEnv: UNSET } } }),
    );
    await waitForLog(dirs, 'SMTP change refused', new RegExp(`config change rejected, keeping the running config: .*${UNSET}`));
    // 2. An ignore glob that cannot be compiled.
    await fs.writeFile(file, stringify({ ...config, watch: { ...config.watch, ignore: ['[z-a]*'] } }));
    await waitForLog(dirs, 'glob refused', /config change rejected, keeping the running config: .*watch\.ignore\[0\]/);
    // The daemon still runs on its whole old config: no alpha matte, nothing ignored.
    const a = await makePair(W, H, 21);
    await drop(path.join(dirs.inbox, 'C', 'C_plate.png'), a.plate);
    await drop(path.join(dirs.inbox, 'C', 'look-01.png'), a.shot);
    await waitFor('job done', () => d.catalog.counts().done === 1, 30_000);
    assert.deepEqual(await tree(path.join(dirs.output, 'C')), ['look-01.png']);
    assert.doesNotMatch(await logText(dirs), /config changed:/);
    // 3. A restart-only setting with live ones: the live ones apply (the worker pool is resized at once), the other is named once.
    await fs.writeFile(file, stringify({ ...config, logging: { ...config.logging, maxFiles: 3 }, jobs: { ...config.jobs, maxAttempts: 4, concurrency: 2 } }));
    await waitForLog(dirs, 'change applied', /config changed: jobs\.concurrency, jobs\.maxAttempts, logging\.maxFiles/);
    await waitForLog(dirs, 'workers restarted', /render workers restarted with the new settings/, 30_000);
    const warnings = (await logLines(dirs)).filter((l) => /needs a restart/.test(String(l.message)));
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].level, 'warn');
    assert.match(String(warnings[0].message), /: logging\.maxFiles$/);
    assert.deepEqual(unhandled, []);
  } finally {
    await d.stop();
  }
});

test('the heartbeat line is the documented one: uptime, memory, jobs per state and the outbox', async (t) => {
  const dirs = makeDirs(t, 'heartbeat');
  const d = await startDaemon(
    testConfig(dirs, { schedule: { waitingSweep: null, rescan: '*/2 * * * * *', heartbeat: '*/1 * * * * *', digest: null, retention: null } }),
  );
  try {
    const beat = await waitFor('heartbeat', async () => (await logLines(dirs)).find((l) => l.message === 'heartbeat'), 10_000);
    assert.equal(beat.level, 'info');
    assert.equal(typeof beat.uptimeSec, 'number');
    assert.ok(typeof beat.rssMb === 'number' && beat.rssMb > 0, JSON.stringify(beat));
    assert.deepEqual(beat.jobs, d.catalog.counts());
    assert.equal(beat.outboxPending, 0);
    assert.equal(beat.outboxLastError, null);
  } finally {
    await d.stop();
  }
});

test('the waiting sweep runs through the upkeep module: each failed shot is logged with its job, filed and alerted', async (t) => {
  const dirs = makeDirs(t, 'sweep');
  const mailDir = path.join(dirs.root, 'mail');
  const d = await startDaemon(
    testConfig(dirs, {
      plates: { waitTimeoutMin: 0.03 },
      notify: { enabled: true, transport: 'file', fileDir: mailDir, recipients: ['ops@example.com'], sessionQuietMin: 60 },
    }),
  );
  try {
    const a = await makePair(W, H, 22);
    await drop(path.join(dirs.inbox, 'U', 'look-01.png'), a.shot);
    await waitFor('error note', () => existsSync(path.join(dirs.failed, 'U', 'look-01.png.error.txt')), 20_000);
    const sweep = await waitFor('sweep line', async () => (await logLines(dirs)).find((l) => l.message === 'sweep: shot failed, no plate arrived in time'), 10_000);
    assert.equal(sweep.level, 'warn');
    assert.equal(sweep.waitTimeoutMin, 0.03);
    assert.equal(d.catalog.getJob(sweep.jobId as number)?.state, 'failed');
    const mails = await waitFor('failure alert written', () => (existsSync(mailDir) ? readdirSync(mailDir).filter((f) => f.endsWith('.eml')) : []).join() || undefined, 15_000);
    assert.match(mails, /failure/i);
  } finally {
    await d.stop();
  }
});
