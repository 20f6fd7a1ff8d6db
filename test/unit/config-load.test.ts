import { test } from 'node:test';
import { packageRoot } from '../../src/paths.js';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, formatPath, loadConfig, parseConfig } from '../../src/config/load.js';
import { CleanplateError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

const good = `shares:
  - name: studio-a
    inbox: in
    output: out
    failed: failed
    archive: archive
`;

test('a valid file loads with paths resolved against its folder', async (t) => {
  const dir = tempDir(t, 'cp-cfg-');
  const file = path.join(dir, 'c.yaml');
  writeFileSync(file, good);
  const c = await loadConfig(file);
  assert.equal(c.shares[0].inbox, path.join(dir, 'in'));
  assert.equal(c.catalog.path, path.join(dir, 'var/cleanplate.db'));
  // The shipped model: not beside this config, so cleanplate's own models/ folder.
  assert.equal(c.engine.neural.modelDir, path.join(packageRoot(), 'models/cleanplate-bgm'));
  mkdirSync(path.join(dir, 'models/cleanplate-bgm'), { recursive: true });
  const beside = await loadConfig(file);
  assert.equal(beside.engine.neural.modelDir, path.join(dir, 'models/cleanplate-bgm'));
});

test('every problem is listed with its path and line', () => {
  const bad = `shares:
  - name: studio-a
    inbox: in
    output: out
    failed: failed
    archive: archive
    polling: sometimes
jobs:
  concurrency: 0
engine:
  name: magic
`;
  assert.throws(
    () => parseConfig(bad, 'c.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const where = e.problems.map((p) => p.where);
      assert.ok(where.includes('shares[0].polling (line 7)'), where.join(' | '));
      assert.ok(where.includes('jobs.concurrency (line 9)'), where.join(' | '));
      assert.ok(where.includes('engine.name (line 11)'), where.join(' | '));
      assert.equal(e.problems.length, 3);
      assert.ok(!e.message.includes('\n'));
      return true;
    },
  );
});

test('missing required keys point at their parent; YAML syntax errors name the line', () => {
  assert.throws(
    () => parseConfig('shares:\n  - name: a\n    inbox: i\n', 'c.yaml'),
    (e: unknown) => e instanceof ConfigError && e.problems.some((p) => p.where === 'shares[0].output (line 2)'),
  );
  assert.throws(
    () => parseConfig('shares: [\n  {name: a\n', 'c.yaml'),
    (e: unknown) => e instanceof ConfigError && /line \d/.test(e.problems[0].where),
  );
});

test('an unreadable file is a one-line "missing" error', async () => {
  await assert.rejects(loadConfig('/nonexistent/cleanplate.yaml'), (e: unknown) => e instanceof CleanplateError && e.code === 'missing');
  assert.equal(formatPath(['shares', 0, 'inbox']), 'shares[0].inbox');
  assert.equal(formatPath([]), '(top level)');
});

test('a glob that cannot be compiled is a config error with its path and line, in every glob option', () => {
  const bad = `${good}watch:
  ignore: ['*.bak', '[z-a]*']
plates:
  patterns: ['*_plate.*', '[9-0]_bg.*']
notify:
  sessionRecipients:
    - pattern: 'ACME-[z-a]'
      to: [orders@example.com]
`;
  assert.throws(
    () => parseConfig(bad, 'c.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      const where = e.problems.map((p) => p.where);
      assert.deepEqual(where, ['watch.ignore[1] (line 8)', 'plates.patterns[1] (line 10)', 'notify.sessionRecipients[0].pattern (line 13)']);
      assert.match(e.message, /"\[z-a\]\*" is not a valid glob pattern \(range out of order in character class\)/);
      assert.ok(!e.message.includes('\n'));
      return true;
    },
  );
  // Valid globs, including classes and negated classes, still load.
  const ok = parseConfig(`${good}watch:\n  ignore: ['[!a-z]*.jpg', 'tmp?_*', '[abc]']\n`, 'c.yaml');
  assert.deepEqual(ok.watch.ignore, ['[!a-z]*.jpg', 'tmp?_*', '[abc]']);
});
