/**
 * A 30 MP shot copied slowly in chunks, with a pause longer than the
 * stability window in the middle (as an SMB copy stalls): the daemon must
 * never take the half-written file, and must deliver it once complete.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { hashFile } from '../../src/catalog/ingest.js';
import { drop, makeDirs, makePair, startDaemon, testConfig, tree, waitFor } from './harness.js';

test('a 30 MP file copied slowly in chunks is taken only when complete', { timeout: 600_000 }, async (t) => {
  const dirs = makeDirs(t, 'slow');
  const d = await startDaemon(testConfig(dirs, { outputs: { rgbaPng: true, alphaPng: false, sidecar: true } }));
  try {
    const { shot, plate } = await makePair(4480, 6720, 41, 'jpeg');
    await drop(path.join(dirs.inbox, 'BIG', 'BIG_plate.jpg'), plate);
    const target = path.join(dirs.inbox, 'BIG', 'look-01.jpg');
    const h = await fs.open(target, 'w');
    const chunk = Math.ceil(shot.length / 12);
    for (let i = 0, k = 0; i < shot.length; i += chunk, k++) {
      await h.write(shot.subarray(i, Math.min(shot.length, i + chunk)));
      await h.sync();
      // One stall longer than watch.stableMs (300 ms) half-way: size and mtime look stable, the file is not complete.
      await new Promise((r) => setTimeout(r, k === 6 ? 1500 : 120));
      assert.equal(d.catalog.counts().queued + d.catalog.counts().running + d.catalog.counts().done, 0, 'half-written shot was taken');
    }
    await h.close();
    await waitFor('30 MP job done', () => d.catalog.counts().done === 1 || d.catalog.counts().failed === 1, 500_000);
    assert.equal(d.catalog.counts().done, 1, `job failed: ${d.catalog.jobs()[0]?.last_error}`);
    const shotRow = d.catalog.db.prepare(`SELECT hash, size FROM files WHERE kind = 'shot'`).all() as { hash: string; size: number }[];
    assert.equal(shotRow.length, 1, 'exactly one version catalogued');
    assert.equal(shotRow[0].size, shot.length);
    assert.equal(shotRow[0].hash, await hashFile(path.join(dirs.archive, 'BIG', 'look-01.jpg')));
    const meta = await sharp(path.join(dirs.output, 'BIG', 'look-01.png')).metadata();
    assert.equal(meta.width, 4480);
    assert.equal(meta.height, 6720);
    assert.equal(meta.channels, 4);
    assert.deepEqual(await tree(dirs.failed), []);
  } finally {
    await d.stop();
  }
});
