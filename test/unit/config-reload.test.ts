import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig, parseConfig } from '../../src/config/load.js';
import { diffConfig, RESTART_REQUIRED, restartRequired, watchConfigFile } from '../../src/config/reload.js';
import type { Config } from '../../src/config/schema.js';
import { tempDir } from '../helpers/tmp.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const yaml = (extra = '', share = 'studio-a', polling = false) => `shares:
  - name: ${share}
    inbox: in
    output: out
    failed: failed
    archive: archive
    polling: ${polling}
${extra}`;

async function waitFor(what: string, pred: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function setup(t: TestContext, text: string) {
  const dir = tempDir(t, 'cp-reload-');
  const file = path.join(dir, 'cleanplate.yaml');
  await fs.writeFile(file, text);
  const initial = await loadConfig(file);
  const changes: Array<{ next: Config; prev: Config }> = [];
  const invalid: ConfigError[] = [];
  const handle = watchConfigFile(file, initial, (next, prev) => changes.push({ next, prev }), (err) => invalid.push(err), { debounceMs: 100 });
  await sleep(150); // let the folder watcher settle
  return { dir, file, initial, changes, invalid, handle };
}

test('a valid change calls onChange once with the new and the previous config', async (t) => {
  const s = await setup(t, yaml());
  try {
    await fs.writeFile(s.file, yaml('watch:\n  stableMs: 5000\n'));
    await waitFor('onChange', () => s.changes.length === 1);
    const [{ next, prev }] = s.changes;
    assert.equal(prev, s.initial);
    assert.equal(next.watch.stableMs, 5000);
    assert.equal(next.shares[0].inbox, path.join(s.dir, 'in'), 'paths are resolved like at start-up');
    assert.deepEqual(diffConfig(prev, next), ['watch.stableMs']);
    await sleep(300);
    assert.equal(s.changes.length, 1, 'one write, one reload');
    assert.equal(s.invalid.length, 0);
  } finally {
    await s.handle.close();
  }
});

test('an invalid change calls onInvalid and keeps the old config; the next valid one diffs against it', async (t) => {
  const s = await setup(t, yaml());
  try {
    await fs.writeFile(s.file, yaml('jobs:\n  concurrency: 0\n'));
    await waitFor('onInvalid', () => s.invalid.length === 1);
    assert.ok(s.invalid[0] instanceof ConfigError);
    assert.match(s.invalid[0].message, /jobs\.concurrency \(line \d+\)/);
    assert.equal(s.changes.length, 0);
    await fs.writeFile(s.file, 'shares: [unclosed\n');
    await waitFor('YAML error', () => s.invalid.length === 2);
    await fs.writeFile(s.file, yaml('jobs:\n  maxAttempts: 5\n'));
    await waitFor('onChange', () => s.changes.length === 1);
    assert.equal(s.changes[0].prev, s.initial, 'invalid versions never became current');
    assert.deepEqual(diffConfig(s.changes[0].prev, s.changes[0].next), ['jobs.maxAttempts']);
  } finally {
    await s.handle.close();
  }
});

test('an editor-style save (temp file renamed over it) is seen; a rewrite without changes is not reported', async (t) => {
  const s = await setup(t, yaml());
  try {
    await fs.writeFile(s.file, `# only a comment added\n${yaml()}`);
    await sleep(500);
    assert.equal(s.changes.length, 0, 'same settings: no onChange');
    const tmp = path.join(s.dir, '.cleanplate.yaml.swp');
    await fs.writeFile(tmp, yaml('', 'studio-a', true));
    await fs.rename(tmp, s.file);
    await waitFor('onChange after rename', () => s.changes.length === 1);
    assert.deepEqual(diffConfig(s.changes[0].prev, s.changes[0].next), ['shares[studio-a].polling']);
    // And the watch survives the rename: a further plain write is seen too.
    await fs.writeFile(s.file, yaml('watch:\n  stableMs: 3000\n', 'studio-a', true));
    await waitFor('second onChange', () => s.changes.length === 2);
    assert.equal(s.invalid.length, 0);
  } finally {
    await s.handle.close();
  }
});

test('close() stops reporting and leaves no timers or watchers', async (t) => {
  const resources = () => process.getActiveResourcesInfo().filter((r) => ['Timeout', 'FSEventWrap', 'StatWatcher'].includes(r)).length;
  const before = resources();
  const s = await setup(t, yaml());
  assert.ok(resources() > before);
  await fs.writeFile(s.file, yaml('watch:\n  stableMs: 999\n'));
  await s.handle.close();
  // chokidar leaves its one-shot 1 s readdir throttle timer running after close(); nothing else may remain.
  await waitFor('resources released', () => resources() <= before, 1500);
  await sleep(300);
  assert.equal(s.changes.length, 0);
});

test('diffConfig lists dotted paths; shares are matched by name; restartRequired picks the rest', () => {
  const base = parseConfig(
    `${yaml()}  - name: studio-b\n    inbox: b/in\n    output: b/out\n    failed: b/failed\n    archive: b/archive\n`,
    'a.yaml',
  );
  const reordered = { ...base, shares: [...base.shares].reverse() };
  assert.deepEqual(diffConfig(base, reordered), [], 'share order does not matter');
  const next: Config = {
    ...base,
    catalog: { path: 'elsewhere.db' },
    shares: [{ ...base.shares[0], pollIntervalMs: 500 }, { ...base.shares[0], name: 'studio-c' }],
    watch: { ...base.watch, extensions: ['.jpg'] },
    engine: { ...base.engine, neural: { ...base.engine.neural, refine: { ...base.engine.neural.refine, threshold: 0.2 } } },
    logging: { ...base.logging, level: 'debug' },
  };
  const changed = diffConfig(base, next);
  assert.deepEqual(changed, [
    'catalog.path',
    'engine.neural.refine.threshold',
    'logging.level',
    'shares[studio-a].pollIntervalMs',
    'shares[studio-b]',
    'shares[studio-c]',
    'watch.extensions',
  ]);
  assert.deepEqual(restartRequired(changed), ['catalog.path'], 'logging.level applies live');
  assert.deepEqual(diffConfig(base, base), []);
});

test('restartRequired: only the catalog path and the log transports need a restart; engine, workers and log level apply live', () => {
  assert.deepEqual([...RESTART_REQUIRED].sort(), ['catalog.path', 'logging.console', 'logging.dir', 'logging.maxFiles', 'logging.maxSize']);
  const changed = [
    'catalog.path',
    'engine.name',
    'engine.neural.executionProvider',
    'engine.neural.modelDir',
    'engine.neural.threads',
    'jobs.concurrency',
    'logging.console',
    'logging.dir',
    'logging.level',
    'logging.maxFiles',
    'logging.maxSize',
    'shares[studio-a].inbox',
  ];
  assert.deepEqual(restartRequired(changed), ['catalog.path', 'logging.console', 'logging.dir', 'logging.maxFiles', 'logging.maxSize']);
});

test('an onChange that returns a rejected promise becomes a process warning, not an unhandled rejection', async (t) => {
  const dir = tempDir(t, 'cp-reload-async-');
  const file = path.join(dir, 'cleanplate.yaml');
  await fs.writeFile(file, yaml());
  const warnings: string[] = [];
  const unhandled: unknown[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('warning', onWarning);
  process.on('unhandledRejection', onUnhandled);
  let calls = 0;
  const handle = watchConfigFile(
    file,
    await loadConfig(file),
    async () => {
      calls++;
      await sleep(10);
      throw new Error('cannot use this change');
    },
    () => assert.fail('the change is valid'),
    { debounceMs: 100 },
  );
  try {
    await sleep(150);
    await fs.writeFile(file, yaml('watch:\n  stableMs: 4000\n'));
    await waitFor('warning', () => warnings.some((w) => w.includes('cannot use this change')));
    await sleep(50);
    assert.equal(calls, 1);
    assert.deepEqual(unhandled, []);
  } finally {
    process.off('warning', onWarning);
    process.off('unhandledRejection', onUnhandled);
    await handle.close();
  }
});
