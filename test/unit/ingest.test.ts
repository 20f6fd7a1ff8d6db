import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Catalog } from '../../src/catalog/catalog.js';
import { classify, ingestFile, type IncomingFile } from '../../src/catalog/ingest.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { tempDir } from '../helpers/tmp.js';

function setup(t: TestContext, plates: Config['plates']['mode'] = 'pattern') {
  const root = tempDir(t, 'cp-ingest-');
  const config = configSchema.parse({
    shares: [{ name: 's', inbox: path.join(root, 'in'), output: 'o', failed: 'f', archive: 'a', sessionDepth: 2 }],
    plates: { mode: plates, captureTime: 'mtime' },
  });
  const catalog = Catalog.open(path.join(root, 'c.db'));
  const put = (rel: string, body: string, mtimeMs = 1000): IncomingFile => {
    const abs = path.join(root, 'in', rel);
    mkdirSync(path.dirname(abs), { recursive: true });
    writeFileSync(abs, body);
    return { share: 's', absPath: abs, relPath: rel, size: body.length, mtimeMs };
  };
  return { root, config, catalog, put, share: config.shares[0] };
}

test('classify: plate patterns (case-insensitive), or the first frame of a session', () => {
  const patterns = configSchema.parse({ shares: [{ name: 's', inbox: 'i', output: 'o', failed: 'f', archive: 'a' }] }).plates;
  assert.equal(classify('Look_PLATE.JPG', true, patterns), 'plate');
  assert.equal(classify('bg_1.png', true, patterns), 'plate');
  assert.equal(classify('look-01.jpg', false, patterns), 'shot');
  const first = { ...patterns, mode: 'first-frame' as const };
  assert.equal(classify('look-01.jpg', false, first), 'plate');
  assert.equal(classify('look_plate.jpg', true, first), 'shot');
});

test('ingest: sessions at a configured depth, known files skip hashing, renames keep identity, copies are duplicates', async (t) => {
  const { config, catalog, put, share } = setup(t);
  assert.equal((await ingestFile(catalog, config, share, put('client/only-one-level.jpg', 'x'))).action, 'outside-session');
  const plate = await ingestFile(catalog, config, share, put('client/S1/S1_plate.jpg', 'plate'));
  assert.equal(plate.action, 'new');
  const ev = put('client/S1/look-01.jpg', 'shot-a');
  const shot = await ingestFile(catalog, config, share, ev);
  assert.ok(shot.action === 'new' && shot.session === 'client/S1' && shot.file.kind === 'shot');
  assert.equal((await ingestFile(catalog, config, share, ev)).action, 'known');
  // Renamed inside the session: same content, same file, no new job.
  const moved = path.join(path.dirname(ev.absPath), 'renamed.jpg');
  renameSync(ev.absPath, moved);
  const renamed = await ingestFile(catalog, config, share, { ...ev, absPath: moved, relPath: 'client/S1/renamed.jpg' });
  assert.equal(renamed.action, 'renamed');
  // A second copy while the first still exists: a duplicate, not a new job.
  const dup = await ingestFile(catalog, config, share, put('client/S1/copy.jpg', 'shot-a'));
  assert.equal(dup.action, 'duplicate');
  assert.equal((catalog.db.prepare('SELECT COUNT(*) AS n FROM jobs').get() as { n: number }).n, 1);
  assert.equal(catalog.counts().queued, 1);
});

test('ingest in first-frame mode: the first file of each session is its plate', async (t) => {
  const { config, catalog, put, share } = setup(t, 'first-frame');
  const a = await ingestFile(catalog, config, share, put('c/S1/0001.jpg', 'one'));
  const b = await ingestFile(catalog, config, share, put('c/S1/0002.jpg', 'two'));
  assert.ok(a.action === 'new' && a.file.kind === 'plate');
  assert.ok(b.action === 'new' && b.file.kind === 'shot');
  assert.equal(catalog.counts().queued, 1);
});
