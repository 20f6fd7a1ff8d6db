/** Pure parts of notify/: escaping, formatting, recipients, job results, templates, the checkerboard. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configSchema } from '../../src/config/schema.js';
import { checkerboard } from '../../src/notify/contact-sheet.js';
import { isPermanentSendError } from '../../src/notify/mailer.js';
import { retryDelayMs } from '../../src/notify/outbox.js';
import { parseJobResult } from '../../src/notify/queries.js';
import { digestRecipients, recipientsForSessions, sessionRecipients } from '../../src/notify/recipients.js';
import {
  digestEmail,
  escapeHtml,
  failureAlertEmail,
  formatDuration,
  sessionCompleteEmail,
  type ShotReport,
} from '../../src/notify/templates.js';

test('escapeHtml escapes the five HTML specials', () => {
  assert.equal(escapeHtml(`<a href="x">Tom & Jerry's</a>`), '&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;');
});

test('formatDuration picks a readable unit', () => {
  assert.equal(formatDuration(400), '0.4 s');
  assert.equal(formatDuration(12_345), '12.3 s');
  assert.equal(formatDuration(246_000), '4 min 6 s');
  assert.equal(formatDuration(7_380_000), '2 h 3 min');
  assert.equal(formatDuration(-1), '?');
});

test('recipients: global, matching session patterns, the share list; no duplicates', () => {
  const cfg = configSchema.parse({
    shares: [
      { name: 'a', inbox: 'i', output: 'o', failed: 'f', archive: 'r', notify: ['art@x.com', 'OPS@x.com'] },
      { name: 'b', inbox: 'i2', output: 'o2', failed: 'f2', archive: 'r2' },
    ],
    notify: { recipients: ['ops@x.com'], sessionRecipients: [{ pattern: 'ss26_*', to: ['buyer@x.com'] }, { pattern: 'AW*', to: ['aw@x.com'] }] },
  });
  assert.deepEqual(sessionRecipients(cfg, 'a', 'SS26_look'), ['ops@x.com', 'buyer@x.com', 'art@x.com']);
  assert.deepEqual(sessionRecipients(cfg, 'b', 'AW25'), ['ops@x.com', 'aw@x.com']);
  assert.deepEqual(sessionRecipients(cfg, 'gone', 'x'), ['ops@x.com']);
  assert.deepEqual(recipientsForSessions(cfg, [{ share: 'b', session: 'AW1' }, { share: 'a', session: 'x' }]), ['ops@x.com', 'aw@x.com', 'art@x.com']);
  assert.deepEqual(digestRecipients(cfg), ['ops@x.com']);
});

test('parseJobResult reads the pipeline contract and survives junk', () => {
  const r = parseJobResult(JSON.stringify({ outputs: ['/o/a.png', 3], sidecar: '/o/a.json', archivedTo: '/r/a.jpg', timingsMs: { total: 812 }, warnings: ['w'] }));
  assert.deepEqual(r, { outputs: ['/o/a.png'], archivedTo: '/r/a.jpg', totalMs: 812, warnings: ['w'] });
  assert.deepEqual(parseJobResult('{not json'), { outputs: [], archivedTo: null, totalMs: null, warnings: [] });
  assert.deepEqual(parseJobResult(null).outputs, []);
  assert.equal(parseJobResult('{"timingsMs":{"total":"5"}}').totalMs, null);
});

const shot = (over: Partial<ShotReport>): ShotReport => ({
  jobId: 1,
  file: 'a.jpg',
  state: 'done',
  processingMs: 1000,
  outputs: ['/out/S/a.png'],
  archivedTo: null,
  warnings: [],
  error: null,
  location: '/in/S/a.jpg',
  attempts: 1,
  finishedAt: 0,
  retried: false,
  ...over,
});

test('session email: every outside string is escaped in HTML, kept verbatim in text', () => {
  const evil = '<script>alert(1)</script>';
  const m = sessionCompleteEmail({
    share: 's',
    session: evil,
    firstSeenAt: 0,
    lastFinishedAt: 90_000,
    shots: [
      shot({ file: `${evil}.jpg`, warnings: [evil] }),
      shot({ jobId: 2, file: 'b.jpg', state: 'failed', processingMs: null, outputs: [], error: evil, location: `/failed/${evil}/b.jpg`, attempts: 3 }),
    ],
    previousNotices: 0,
    previousAt: null,
    contactSheetCid: null,
    contactSheetItems: 0,
  });
  assert.ok(!m.html.includes('<script>'), 'no raw markup from names or errors');
  assert.ok(m.html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'));
  assert.ok(m.text.includes(`${evil}.jpg: delivered in 1.0 s`));
  assert.ok(m.text.includes(`b.jpg: FAILED after 3 attempts: ${evil}`));
  assert.match(m.text, /\(1 min 30 s\)/);
  assert.doesNotMatch(m.html, /cid:/, 'no sheet, no image');
});

test('failure alert and digest render their counts and lists', () => {
  const f = (i: number, session: string) => ({ jobId: i, share: 'a', session, file: `f${i}.jpg`, error: `e${i}`, location: `/failed/${session}/f${i}.jpg`, attempts: 2, failedAt: 0 });
  const alert = failureAlertEmail({ failures: [f(1, 'S1'), f(2, 'S2'), f(3, 'S3'), f(4, 'S4')], previousAlertAt: 0, intervalMin: 15 });
  assert.equal(alert.subject, '[cleanplate] 4 shots failed (a/S1, a/S2, a/S3 and 1 more)');
  assert.match(alert.text, /since the previous alert/);
  assert.match(alert.text, /f4\.jpg: e4/);
  const digest = digestEmail({
    from: 0,
    to: 86_400_000,
    sessions: [{ share: 'a', session: 'S1', done: 3, failed: 1, processingMs: 9000 }],
    failures: [f(1, 'S1')],
    failuresTotal: 3,
    backlog: { waiting_for_plate: 1, queued: 2, running: 1, done: 10, failed: 1 },
    oldestWaitingAt: 1000,
    outbox: { pending: 2, failing: 2, gaveUp: 0, sent: 5, oldestPendingAt: 0, nextAttemptAt: 0, lastError: 'connect ECONNREFUSED', lastSentAt: 0 },
  });
  assert.match(digest.subject, /3 delivered, 1 failed, 4 in progress/);
  assert.match(digest.text, /\.\.\. and 2 more/);
  assert.match(digest.text, /2 emails waiting to be sent \(last error: connect ECONNREFUSED\)/);
  assert.match(digest.text, /Oldest shot waiting for a plate/);
});

test('checkerboard: alternating squares, light first', () => {
  const b = checkerboard(4, 4, 2);
  const at = (x: number, y: number) => b[(y * 4 + x) * 3];
  assert.deepEqual([at(0, 0), at(1, 1), at(2, 0), at(0, 2), at(2, 2), at(3, 3)], [255, 255, 204, 204, 255, 255]);
});

test('send errors: only a 5xx refusal of the message is permanent; outbox backoff doubles up to 1 h', () => {
  assert.equal(isPermanentSendError(Object.assign(new Error('x'), { code: 'EENVELOPE', responseCode: 550 })), true);
  assert.equal(isPermanentSendError(Object.assign(new Error('x'), { code: 'EENVELOPE', responseCode: 451 })), false);
  assert.equal(isPermanentSendError(Object.assign(new Error('x'), { code: 'ECONNECTION' })), false);
  assert.equal(isPermanentSendError(Object.assign(new Error('x'), { code: 'EAUTH', responseCode: 535 })), false);
  assert.deepEqual([1, 2, 3, 10].map(retryDelayMs), [30_000, 60_000, 120_000, 3_600_000]);
});
