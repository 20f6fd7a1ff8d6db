import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../src/config/schema.js';

const share = { name: 'studio-a', inbox: '/in', output: '/out', failed: '/failed', archive: '/archive' };

test('a minimal config gets every documented default', () => {
  const c = configSchema.parse({ shares: [share] });
  assert.equal(c.shares[0].keepOriginals, 'archive');
  assert.equal(c.shares[0].sessionDepth, 1);
  assert.equal(c.limits.maxPixels, 250_000_000);
  assert.deepEqual(c.plates.patterns, ['*_plate.*', 'plate*.*', '*_bg.*', 'bg_*.*']);
  assert.equal(c.engine.name, 'classical');
  assert.equal(c.engine.neural.refine.mode, 'budget');
  assert.equal(c.engine.classical.highSigma, 5);
  assert.equal(c.outputs.rgbaPng, true);
  assert.equal(c.outputs.composite.background, '#ffffff');
  assert.equal(c.notify.enabled, false);
  assert.equal(c.retention.archiveDays, null);
});

test('every problem is reported with its path', () => {
  const r = configSchema.safeParse({
    shares: [{ ...share, name: 'bad name!' }, { ...share, polling: 'yes' }],
    jobs: { concurrency: 0 },
    unknownKey: 1,
  });
  assert.equal(r.success, false);
  const paths = r.error!.issues.map((i) => i.path.join('.'));
  assert.ok(paths.includes('shares.0.name'), paths.join(','));
  assert.ok(paths.includes('shares.1.polling'), paths.join(','));
  assert.ok(paths.includes('jobs.concurrency'), paths.join(','));
  assert.ok(r.error!.issues.some((i) => i.code === 'unrecognized_keys'));
});

test('cross-field rules: sigma order, one output, smtp when mailing, unique share names', () => {
  const bad = (extra: object) => configSchema.safeParse({ shares: [share], ...extra }).success;
  assert.equal(bad({ engine: { classical: { lowSigma: 5, highSigma: 4 } } }), false);
  assert.equal(bad({ outputs: { rgbaPng: false } }), false);
  assert.equal(bad({ notify: { enabled: true } }), false);
  assert.equal(bad({ notify: { enabled: true, transport: 'file' } }), true);
  assert.equal(configSchema.safeParse({ shares: [share, share] }).success, false);
});

test('glob options are compiled at validation: a bad pattern fails with its path, a good one passes', () => {
  const r = configSchema.safeParse({
    shares: [share],
    watch: { ignore: ['[z-a]*'] },
    plates: { patterns: ['plate*.*', 'bg[z-a].*'] },
    notify: { sessionRecipients: [{ pattern: '[9-0]*', to: ['a@example.com'] }] },
  });
  assert.equal(r.success, false);
  const paths = r.error!.issues.map((i) => i.path.join('.'));
  assert.deepEqual(paths, ['watch.ignore.0', 'plates.patterns.1', 'notify.sessionRecipients.0.pattern']);
  assert.equal(configSchema.safeParse({ shares: [share], watch: { ignore: ['[!.]*', '*~'] } }).success, true);
});
