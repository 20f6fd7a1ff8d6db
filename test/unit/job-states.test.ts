import { test } from 'node:test';
import assert from 'node:assert/strict';
import { afterFailure, isTerminal, JOB_STATES, nextState } from '../../src/catalog/states.js';

test('the documented happy path and recoveries', () => {
  assert.equal(nextState('waiting_for_plate', 'plate-found'), 'queued');
  assert.equal(nextState('queued', 'claimed'), 'running');
  assert.equal(nextState('running', 'delivered'), 'done');
  assert.equal(nextState('running', 'interrupted'), 'queued');
  assert.equal(nextState('running', 'stopped'), 'queued');
  assert.equal(nextState('running', 'retry-later'), 'queued');
  assert.equal(nextState('waiting_for_plate', 'plate-timeout'), 'failed');
  assert.equal(nextState('failed', 'manual-retry'), 'queued');
});

test('illegal moves are refused: no double delivery, no skipping the queue', () => {
  assert.throws(() => nextState('done', 'delivered'), /illegal job transition: delivered from done/);
  assert.throws(() => nextState('queued', 'delivered'), /illegal/);
  assert.throws(() => nextState('waiting_for_plate', 'claimed'), /illegal/);
  assert.throws(() => nextState('done', 'manual-retry'), /illegal/);
  assert.deepEqual(JOB_STATES.filter(isTerminal), ['done', 'failed']);
});

test('failures back off exponentially, and give up when not retryable or out of attempts', () => {
  assert.deepEqual(afterFailure(1, 3, true, 30), { reason: 'retry-later', delayMs: 30_000 });
  assert.deepEqual(afterFailure(2, 3, true, 30), { reason: 'retry-later', delayMs: 60_000 });
  assert.deepEqual(afterFailure(3, 3, true, 30), { reason: 'gave-up' });
  assert.deepEqual(afterFailure(1, 3, false, 30), { reason: 'gave-up' });
});
