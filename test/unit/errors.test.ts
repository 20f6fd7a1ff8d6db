import { test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { CleanplateError, toCleanplateError } from '../../src/errors.js';

test('messages are always one line', () => {
  const e = new CleanplateError('corrupt', 'bad file\n  truncated at byte 10');
  assert.equal(e.message, 'bad file truncated at byte 10');
  assert.equal(e.retryable, false);
});

test('real fs errors map to codes, with retryability', async () => {
  const missing = await fs.readFile('/nonexistent/cleanplate/x.jpg').catch((err: unknown) => toCleanplateError(err, 'shot'));
  assert.ok(missing instanceof CleanplateError);
  assert.equal(missing.code, 'missing');
  assert.match(missing.message, /^shot: not found/);
  const disk = toCleanplateError(Object.assign(new Error('x'), { code: 'ENOSPC' }));
  assert.equal(disk.code, 'disk-full');
  assert.equal(disk.retryable, true);
});
