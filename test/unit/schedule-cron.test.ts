/** node-cron schedules: validation, null = off, real runs, failures logged, stop(). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { configSchema } from '../../src/config/schema.js';
import { CleanplateError } from '../../src/errors.js';
import type { Log, LogFields } from '../../src/notify/types.js';
import { scheduleProblems, startSchedules } from '../../src/schedule/scheduler.js';

function recorder(): Log & { lines: { level: string; message: string; fields?: LogFields }[] } {
  const lines: { level: string; message: string; fields?: LogFields }[] = [];
  const at = (level: string) => (message: string, fields?: LogFields) => lines.push({ level, message, fields });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

const defaults = () => configSchema.parse({ shares: [{ name: 's', inbox: 'i', output: 'o', failed: 'f', archive: 'a' }] }).schedule;

test('the default schedule is valid; a bad expression is a config error naming its key', () => {
  assert.deepEqual(scheduleProblems(defaults()), []);
  const bad = { ...defaults(), digest: '61 * * * *', rescan: 'every minute' };
  const problems = scheduleProblems(bad);
  assert.equal(problems.length, 2);
  assert.match(problems[0], /^schedule\.digest: "61 \* \* \* \*" is not a valid cron expression/);
  assert.match(problems[1], /^schedule\.rescan:/);
  assert.throws(
    () => startSchedules(bad, { digest: () => undefined }),
    (err: unknown) => err instanceof CleanplateError && err.code === 'config' && /schedule\.digest/.test(err.message),
  );
});

test('null turns a task off, a task without a function is not scheduled, tasks run on time and stop', async () => {
  const log = recorder();
  let beats = 0;
  const handle = startSchedules(
    { ...defaults(), heartbeat: '* * * * * *', digest: null },
    { heartbeat: () => void beats++, digest: () => assert.fail('off'), rescan: () => undefined },
    log,
  );
  try {
    assert.deepEqual(handle.active, ['rescan', 'heartbeat']);
    const next = handle.nextRuns();
    assert.ok(next.heartbeat instanceof Date);
    assert.equal(next.digest, undefined);
    const until = Date.now() + 3000;
    while (beats === 0 && Date.now() < until) await sleep(100);
    assert.ok(beats >= 1, 'the every-second heartbeat ran');
    assert.ok(log.lines.some((l) => l.message === 'schedule: started'));
  } finally {
    handle.stop();
  }
  const after = beats;
  await sleep(1500);
  assert.equal(beats, after, 'no runs after stop()');
});

test('a failing task is logged and does not throw', async () => {
  const log = recorder();
  const handle = startSchedules({ ...defaults() }, {
    retention: async () => {
      throw new Error('disk on fire');
    },
  }, log);
  try {
    await handle.runNow('retention');
    const err = log.lines.find((l) => l.level === 'error');
    assert.equal(err?.message, 'schedule: retention failed');
    assert.equal(err?.fields?.error, 'disk on fire');
    await assert.rejects(handle.runNow('digest'), /not active/);
  } finally {
    handle.stop();
  }
});
