import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globToRegExp, isPlateName, pickPlate, sessionOf } from '../../src/match/plates.js';
import { configSchema } from '../../src/config/schema.js';

const defaults = configSchema.parse({
  shares: [{ name: 's', inbox: 'i', output: 'o', failed: 'f', archive: 'a' }],
}).plates.patterns;

test('sessionOf: depth 1 and 2, loose files and escapes', () => {
  assert.deepEqual(sessionOf('SS26-knit/IMG_001.jpg', 1), { session: 'SS26-knit', within: 'IMG_001.jpg' });
  assert.deepEqual(sessionOf('client/SS26/sub/a.tif', 2), { session: 'client/SS26', within: 'sub/a.tif' });
  assert.deepEqual(sessionOf('client\\SS26\\a.tif', 2), { session: 'client/SS26', within: 'a.tif' });
  assert.equal(sessionOf('loose.jpg', 1), null);
  assert.equal(sessionOf('client/a.jpg', 2), null);
  assert.equal(sessionOf('../etc/passwd', 1), null);
});

test('default plate patterns recognise the usual studio names, case-insensitively', () => {
  for (const n of ['look12_plate.jpg', 'PLATE.TIF', 'plate-01.jpg', 'set3_BG.png', 'bg_001.jpg', 'sess/x_plate.tiff']) {
    assert.equal(isPlateName(n, defaults), true, n);
  }
  for (const n of ['look12.jpg', 'template.jpg', 'bgx.jpg', 'dress_bgreen.jpg', 'myplate.jpg']) {
    assert.equal(isPlateName(n, defaults), false, n);
  }
});

test('globToRegExp: ?, character classes and literal dots', () => {
  assert.equal(globToRegExp('img_??.jpg').test('IMG_07.JPG'), true);
  assert.equal(globToRegExp('img_??.jpg').test('img_007.jpg'), false);
  assert.equal(globToRegExp('*.[jt]*').test('a.tif'), true);
  assert.equal(globToRegExp('*.[!jt]*').test('a.png'), true);
  assert.equal(globToRegExp('a.b').test('axb'), false);
});

test('pickPlate: latest plate before the shot; earliest when all are later; null without plates', () => {
  const plates = [
    { id: 1, capturedAt: 1000 },
    { id: 2, capturedAt: 5000 }, // lighting changed
  ];
  assert.equal(pickPlate(1500, plates), 1);
  assert.equal(pickPlate(5000, plates), 2);
  assert.equal(pickPlate(9000, plates), 2);
  assert.equal(pickPlate(500, plates), 1);
  assert.equal(pickPlate(500, []), null);
  assert.equal(pickPlate(6000, [...plates, { id: 3, capturedAt: 5000 }]), 3);
});
