/**
 * Start-up failures of the real daemon in its own process: every failure is
 * one line and a non-zero exit, promptly, also when it happens after the
 * render workers, the inbox watcher and the catalog were opened (a process
 * left hanging never lets systemd's Restart=on-failure fire).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../../src/paths.js';
import { makeDirs, testConfig, writeConfigFile } from './harness.js';

const root = packageRoot();
const bin = path.join(root, 'bin', 'cleanplate');
const built = existsSync(path.join(root, 'dist', 'src', 'cli', 'main.js'));
/** An environment variable no test machine sets. */
const UNSET = 'CLEANPLATE_TEST_UNSET_SMTP_PASSWORD';

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The process had to be killed: it did not exit by itself within the limit. */
  hung: boolean;
}

/**
 * Runs a command and waits up to `limitMs` for it to exit by itself; a
 * process still running then is killed and reported as hung. Register with
 * the test BEFORE `makeDirs`, so a child is gone before its folders are removed.
 */
function runner(t: TestContext): (args: string[], limitMs: number, env?: NodeJS.ProcessEnv) => Promise<Run> {
  const children: ChildProcess[] = [];
  t.after(async () => {
    for (const c of children) {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await gone;
      }
    }
  });
  return (args, limitMs, env = process.env) =>
    new Promise<Run>((resolve) => {
      const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
      children.push(child);
      let stdout = '';
      let stderr = '';
      let hung = false;
      child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      const timer = setTimeout(() => {
        hung = true;
        child.kill('SIGKILL');
      }, limitMs);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr, hung });
      });
    });
}

function envWithout(name: string): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env[name];
  return env;
}

test('start: an SMTP password variable that is not set is one line and exit 1, promptly', { skip: !built && 'needs npm run build' }, async (t) => {
  const run = runner(t);
  const dirs = makeDirs(t, 'start-smtp');
  const config = testConfig(dirs, {
    notify: { enabled: true, transport: 'smtp', smtp: { host: '127.0.0.1', port: 2525, user: 'cleanplate', passwordEnv: UNSET } },
  });
  const file = await writeConfigFile(dirs, config);
  const r = await run([bin, 'start', '--config', file], 30_000, envWithout(UNSET));
  assert.equal(r.hung, false, `the process did not exit by itself; stderr: ${r.stderr}`);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0], new RegExp(`^cleanplate: error: .*${UNSET} \\(notify\\.smtp\\.passwordEnv\\) is not set`));
});

test('a start that fails after the workers, watcher and catalog opened closes them all and the process exits', { skip: !built && 'needs npm run build' }, async (t) => {
  const run = runner(t);
  const dirs = makeDirs(t, 'start-late');
  const config = testConfig(dirs);
  const cfgFile = path.join(dirs.root, 'config.json');
  await fs.writeFile(cfgFile, JSON.stringify(config));
  // The schema would refuse the cron expression; an embedding caller can still pass it, and it
  // fails at the last step of start-up (the schedules), after everything else is running.
  const script = `
    import { readFileSync } from 'node:fs';
    const { Daemon } = await import(${JSON.stringify(pathToFileURL(path.join(root, 'dist', 'src', 'daemon.js')).href)});
    const config = JSON.parse(readFileSync(process.env.CP_TEST_CONFIG, 'utf8'));
    config.schedule.heartbeat = 'every now and then';
    try {
      await Daemon.start(config);
      process.stdout.write('started\\n');
    } catch (err) {
      process.stderr.write('start failed: ' + err.message + '\\n');
      process.exitCode = 3;
    }
  `;
  const scriptFile = path.join(dirs.root, 'start.mjs');
  await fs.writeFile(scriptFile, script);
  const r = await run([scriptFile], 30_000, { ...process.env, CP_TEST_CONFIG: cfgFile });
  assert.equal(r.hung, false, `the process did not exit by itself; stderr: ${r.stderr}`);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /start failed: schedule\.heartbeat: "every now and then" is not a valid cron expression/);
  // It did get past the render workers and the watcher before failing.
  const logDir = path.join(dirs.root, 'log');
  const log = readdirSync(logDir).map((f) => readFileSync(path.join(logDir, f), 'utf8')).join('\n');
  assert.match(log, /"message":"cleanplate starting"/);
  // The catalog was closed cleanly: its write-ahead log was checkpointed and removed.
  assert.ok(existsSync(config.catalog.path));
  assert.equal(existsSync(`${config.catalog.path}-wal`), false, 'catalog left open');
});
