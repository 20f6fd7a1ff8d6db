import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeIgnore } from '../../src/watch/ignore.js';

const ignored = makeIgnore({ extensions: ['.jpg', '.tif', '.png'], ignore: ['*_preview.*'] });

test('writers\' temporary names and system litter are ignored', () => {
  for (const p of ['S1/a.jpg.part', 'S1/a.jpg.filepart', 'S1/.a.jpg.Xy12Ab', 'S1/._a.jpg', '.DS_Store', 'S1/Thumbs.db', 'S1/~$a.jpg', 'S1/a.tmp', '.hidden/a.jpg']) {
    assert.equal(ignored(p), true, p);
  }
});

test('images in sessions are taken; other extensions and configured globs are not', () => {
  assert.equal(ignored('S1/IMG_0001.JPG'), false);
  assert.equal(ignored('S1/sub/look_plate.tif'), false);
  assert.equal(ignored('S1/notes.txt'), true);
  assert.equal(ignored('S1/IMG_0001.CR3'), true);
  assert.equal(ignored('S1/look_preview.jpg'), true);
});
