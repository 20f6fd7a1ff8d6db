/**
 * Notifications end to end against a real SMTP server on loopback
 * (smtp-server): the content of each kind of email, the grouped and
 * rate-limited failure alert, the update email for late shots, and exactly one
 * completion email across an SMTP outage.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import { SMTPServer } from 'smtp-server';
import { Catalog } from '../../src/catalog/catalog.js';
import { configSchema, type Config } from '../../src/config/schema.js';
import { Notifier } from '../../src/notify/notifier.js';
import { verifySmtp } from '../../src/notify/mailer.js';
import { outboxSummary } from '../../src/notify/outbox.js';
import { CleanplateError } from '../../src/errors.js';
import { tempDir } from '../helpers/tmp.js';

// ---------- a minimal MIME reader (mailparser is not installed) ----------

interface Part {
  headers: Record<string, string>;
  contentType: string;
  body: Buffer;
}

/** Decodes RFC 2047 encoded words (=?UTF-8?Q?...?= / =?UTF-8?B?...?=) in a header value. */
function decodeWords(v: string): string {
  return v
    .replace(/(\?=)\s+(=\?)/g, '$1$2')
    .replace(/=\?([^?]+)\?([QqBb])\?([^?]*)\?=/g, (_m, _cs: string, enc: string, data: string) =>
      enc.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQp(data.replace(/_/g, ' ')).toString('utf8'),
    );
}

function splitHead(raw: string): { headers: Record<string, string>; body: string } {
  const m = /\r?\n\r?\n/.exec(raw);
  const head = m ? raw.slice(0, m.index) : raw;
  const body = m ? raw.slice(m.index + m[0].length) : '';
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = decodeWords(line.slice(i + 1).trim());
  }
  return { headers, body };
}

function decodeQp(s: string): Buffer {
  const bytes: number[] = [];
  const t = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < t.length; i++) {
    if (t[i] === '=' && /^[0-9A-Fa-f]{2}$/.test(t.slice(i + 1, i + 3))) {
      bytes.push(parseInt(t.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(t[i], 'utf8'));
  }
  return Buffer.from(bytes);
}

/** Leaf parts of a MIME message, decoded. */
function mimeParts(raw: string): Part[] {
  const { headers, body } = splitHead(raw);
  const ct = headers['content-type'] ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(ct)?.[1];
  if (/^multipart\//i.test(ct) && boundary) {
    const chunks = body.split(`--${boundary}`).slice(1);
    return chunks.filter((c) => !c.startsWith('--')).flatMap((c) => mimeParts(c.replace(/^\r?\n/, '')));
  }
  const cte = (headers['content-transfer-encoding'] ?? '7bit').toLowerCase();
  const decoded =
    cte === 'base64' ? Buffer.from(body.replace(/\s+/g, ''), 'base64') : cte === 'quoted-printable' ? decodeQp(body) : Buffer.from(body, 'utf8');
  return [{ headers, contentType: ct.split(';')[0].trim().toLowerCase(), body: decoded }];
}

interface Mail {
  raw: string;
  headers: Record<string, string>;
  text: string;
  html: string;
  parts: Part[];
  rcpt: string[];
}

function readMail(raw: string, rcpt: string[]): Mail {
  const parts = mimeParts(raw);
  return {
    raw,
    rcpt,
    headers: splitHead(raw).headers,
    text: parts.find((p) => p.contentType === 'text/plain')?.body.toString('utf8') ?? '',
    html: parts.find((p) => p.contentType === 'text/html')?.body.toString('utf8') ?? '',
    parts,
  };
}

// ---------- a real SMTP server on 127.0.0.1 ----------

interface Smtp {
  port: number;
  mails: Mail[];
  close(): Promise<void>;
}

async function startSmtp(port = 0, auth?: { user: string; pass: string }): Promise<Smtp> {
  const mails: Mail[] = [];
  const server = new SMTPServer({
    authOptional: !auth,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 200,
    onAuth(a, _session, cb) {
      if (auth && a.username === auth.user && a.password === auth.pass) cb(null, { user: a.username });
      else cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        mails.push(readMail(Buffer.concat(chunks).toString('utf8'), session.envelope.rcptTo.map((r) => r.address)));
        cb();
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.server.address() as AddressInfo).port;
  return { port: actual, mails, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

// ---------- a catalog driven the way the daemon drives it ----------

const T0 = Date.parse('2030-03-04T09:00:00Z');

interface World {
  dir: string;
  clock: { t: number };
  cat: Catalog;
  cfg: Config;
}

function world(t: TestContext, port: number, notify: Record<string, unknown> = {}): World {
  const dir = tempDir(t, 'cp-notify-');
  const clock = { t: T0 };
  const cat = Catalog.open(path.join(dir, 'catalog.db'), { now: () => clock.t });
  const cfg = configSchema.parse({
    shares: [
      {
        name: 'studio-a',
        inbox: path.join(dir, 'inbox'),
        output: path.join(dir, 'output'),
        failed: path.join(dir, 'failed'),
        archive: path.join(dir, 'archive'),
        notify: ['art@example.com'],
      },
    ],
    notify: {
      enabled: true,
      transport: 'smtp',
      smtp: { host: '127.0.0.1', port, secure: false },
      from: 'cleanplate <cp@example.com>',
      recipients: ['ops@example.com'],
      sessionRecipients: [{ pattern: 'SS26_*', to: ['buyer@example.com'] }],
      sessionQuietMin: 10,
      ...notify,
    },
  });
  return { dir, clock, cat, cfg };
}

/** A small RGBA cutout: an opaque red ellipse on transparency. */
async function cutout(file: string): Promise<string> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="60" height="90"><ellipse cx="30" cy="45" rx="20" ry="35" fill="#d02020"/></svg>`;
  await sharp(Buffer.from(svg)).png().toFile(file);
  return file;
}

let hashSeq = 0;

/** Records a plate and shots in a session; returns the job id of each shot. */
function dropFiles(w: World, session: string, shots: string[], withPlate = true): number[] {
  if (withPlate) {
    w.cat.recordFile({
      share: 'studio-a',
      session,
      relPath: 'plate.jpg',
      kind: 'plate',
      size: 1,
      mtimeMs: w.clock.t,
      hash: `plate-${session}`,
      capturedAt: 0,
      location: path.join(w.dir, 'inbox', session, 'plate.jpg'),
    });
  }
  return shots.map((name) => {
    const { file } = w.cat.recordFile({
      share: 'studio-a',
      session,
      relPath: name,
      kind: 'shot',
      size: 1,
      mtimeMs: w.clock.t,
      hash: `h${++hashSeq}`,
      capturedAt: w.clock.t,
      location: path.join(w.dir, 'inbox', session, name),
    });
    return (w.cat.db.prepare('SELECT id FROM jobs WHERE shot_id = ?').get(file.id) as { id: number }).id;
  });
}

/** Runs a job to done with a pipeline-shaped result. */
async function deliver(w: World, jobId: number, session: string, name: string, totalMs: number, warnings: string[] = []): Promise<void> {
  w.cat.transition(jobId, 'claimed');
  const outDir = path.join(w.dir, 'output', session);
  await import('node:fs/promises').then((fs) => fs.mkdir(outDir, { recursive: true }));
  const base = name.replace(/\.[^.]+$/, '');
  const png = await cutout(path.join(outDir, `${base}.png`));
  const result = {
    outputs: [png, path.join(outDir, `${base}.json`)],
    sidecar: path.join(outDir, `${base}.json`),
    archivedTo: path.join(w.dir, 'archive', session, name),
    timingsMs: { total: totalMs, matte: totalMs - 100 },
    warnings,
  };
  w.cat.transition(jobId, 'delivered', undefined, { result: JSON.stringify(result) });
}

/** Runs a job to failed (as the daemon does after a permanent error), moving the file to failed/. */
function fail(w: World, jobId: number, session: string, name: string, reason: string): void {
  w.cat.transition(jobId, 'claimed');
  const job = w.cat.getJob(jobId)!;
  w.cat.db.prepare('UPDATE files SET location = ? WHERE id = ?').run(path.join(w.dir, 'failed', session, name), job.shot_id);
  w.cat.transition(jobId, 'gave-up', reason);
}

const MIN = 60_000;

// ---------- tests ----------

test('session complete: one email after the quiet time, with counts, times, failures, outputs and a PNG contact sheet', async (t) => {
  const smtp = await startSmtp();
  const w = world(t, smtp.port);
  const notifier = new Notifier(w.cat, w.cfg, { now: () => w.clock.t });
  try {
    const session = 'SS26_look<01>&"co"';
    const [a, b, c] = dropFiles(w, session, ['a.jpg', 'b.jpg', 'c.jpg']);
    w.clock.t += 1000;
    await deliver(w, a, session, 'a.jpg', 1234, ['plate looks shifted']);
    await deliver(w, b, session, 'b.jpg', 65_000);
    fail(w, c, session, 'c.jpg', 'corrupt: JPEG is truncated');

    // Still inside the quiet time: nothing.
    w.clock.t = T0 + 9 * MIN;
    let r = await notifier.tick();
    assert.deepEqual(r.enqueued.filter((e) => e.kind === 'session-complete'), []);
    assert.equal(smtp.mails.filter((m) => /complete/.test(m.headers.subject ?? '')).length, 0);

    w.clock.t = T0 + 11 * MIN;
    r = await notifier.tick();
    assert.equal(r.enqueued.filter((e) => e.kind === 'session-complete').length, 1);
    assert.equal(r.sent.filter((s) => s.kind === 'session-complete').length, 1);
    await notifier.tick(w.clock.t + MIN);
    const mails = smtp.mails.filter((m) => /complete/.test(m.headers.subject ?? ''));
    assert.equal(mails.length, 1, 'exactly one completion email');
    const m = mails[0];
    assert.match(m.headers.subject, /studio-a\/SS26_look<01>&"co" complete: 2 delivered, 1 failed/);
    assert.deepEqual(new Set(m.rcpt), new Set(['ops@example.com', 'buyer@example.com', 'art@example.com']));
    assert.match(m.headers['message-id'] ?? '', /@cleanplate>$/);
    // Plain text: counts, per-shot and total times, failure with reason and where it went, outputs.
    assert.match(m.text, /Shots: 3 \(2 delivered, 1 failed\)/);
    assert.match(m.text, /a\.jpg: delivered in 1\.2 s -> a\.png, a\.json/);
    assert.match(m.text, /b\.jpg: delivered in 1 min 5 s/);
    assert.match(m.text, /Processing: 1 min 6 s in total, 33\.1 s per shot on average/);
    assert.match(m.text, /warning: plate looks shifted/);
    assert.ok(m.text.includes(`c.jpg: corrupt: JPEG is truncated (now at ${path.join(w.dir, 'failed', session, 'c.jpg')})`));
    assert.ok(m.text.includes(`Outputs: ${path.join(w.dir, 'output', session)}`));
    assert.ok(m.text.includes(`Originals archived to: ${path.join(w.dir, 'archive', session)}`));
    // HTML: the same facts, names escaped, the sheet inline.
    assert.ok(m.html.includes('SS26_look&lt;01&gt;&amp;&quot;co&quot;'));
    assert.ok(!m.html.includes('look<01>'), 'session name must be escaped in HTML');
    assert.match(m.html, /corrupt: JPEG is truncated/);
    assert.match(m.html, /<img src="cid:contact-sheet@cleanplate"/);
    // The contact sheet: a PNG of two thumbnails on a checkerboard.
    const sheet = m.parts.find((p) => p.contentType === 'image/png');
    assert.ok(sheet, 'a PNG attachment');
    const meta = await sharp(sheet.body).metadata();
    assert.equal(meta.format, 'png');
    assert.equal(meta.width, 2 * 240 + 3 * 4);
    assert.equal(meta.height, 240 + 2 * 4);
    const { data, info } = await sharp(sheet.body).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const px = (x: number, y: number) => data[(y * info.width + x) * info.channels];
    assert.ok(px(0, 0) > 245, 'light square at the corner');
    assert.ok(Math.abs(px(12, 0) - 204) < 6, 'dark square next to it');
    const cx = 4 + 120;
    const cy = 4 + 120;
    const red = [data[(cy * info.width + cx) * info.channels], data[(cy * info.width + cx) * info.channels + 1]];
    assert.ok(red[0] > 180 && red[1] < 80, `thumbnail in the first cell (got ${red})`);
    assert.equal(outboxSummary(w.cat.db).pending, 0);
    assert.equal(outboxSummary(w.cat.db).sent, 2, 'the completion email and the failure alert for c.jpg');
  } finally {
    await notifier.close();
    w.cat.close();
    await smtp.close();
  }
});

test('a session with a shot still queued or waiting is not complete', async (t) => {
  const smtp = await startSmtp();
  const w = world(t, smtp.port);
  const notifier = new Notifier(w.cat, w.cfg, { now: () => w.clock.t });
  try {
    const [a] = dropFiles(w, 'S1', ['a.jpg', 'b.jpg']);
    await deliver(w, a, 'S1', 'a.jpg', 500);
    dropFiles(w, 'S2', ['lonely.jpg'], false); // waits for a plate
    w.clock.t += 60 * MIN;
    const r = await notifier.tick();
    assert.deepEqual(r.enqueued, []);
    assert.equal(smtp.mails.length, 0);
  } finally {
    await notifier.close();
    w.cat.close();
    await smtp.close();
  }
});

test('late shots after the completion email get one more email about those shots only', async (t) => {
  const smtp = await startSmtp();
  const w = world(t, smtp.port);
  const notifier = new Notifier(w.cat, w.cfg, { now: () => w.clock.t });
  try {
    const [a] = dropFiles(w, 'S1', ['first.jpg']);
    await deliver(w, a, 'S1', 'first.jpg', 800);
    w.clock.t += 11 * MIN;
    await notifier.tick();
    assert.equal(smtp.mails.length, 1);

    w.clock.t += 30 * MIN;
    const [b] = dropFiles(w, 'S1', ['late.jpg'], false);
    await deliver(w, b, 'S1', 'late.jpg', 900);
    w.clock.t += 5 * MIN;
    await notifier.tick();
    assert.equal(smtp.mails.length, 1, 'quiet time counts from the late file');
    w.clock.t += 6 * MIN;
    await notifier.tick();
    await notifier.tick(w.clock.t + 60 * MIN);
    assert.equal(smtp.mails.length, 2);
    const m = smtp.mails[1];
    assert.match(m.headers.subject, /studio-a\/S1 update: 1 more shot \(1 delivered, 0 failed\)/);
    assert.match(m.text, /late\.jpg: delivered/);
    assert.doesNotMatch(m.text, /first\.jpg/);
    assert.match(m.text, /finished after the previous email/);
  } finally {
    await notifier.close();
    w.cat.close();
    await smtp.close();
  }
});

test('SMTP down while a session completes: processing goes on, and exactly one email arrives once it is back', async (t) => {
  const first = await startSmtp();
  const port = first.port;
  await first.close(); // the server is down from here
  const w = world(t, port);
  let notifier = new Notifier(w.cat, w.cfg, { now: () => w.clock.t });
  try {
    const [a, b] = dropFiles(w, 'S9', ['a.jpg', 'b.jpg']);
    await deliver(w, a, 'S9', 'a.jpg', 700);
    await deliver(w, b, 'S9', 'b.jpg', 700);
    w.clock.t += 11 * MIN;
    let r = await notifier.tick();
    assert.equal(r.enqueued.length, 1);
    assert.equal(r.sent.length, 0);
    assert.equal(r.failed.length, 1);
    let s = outboxSummary(w.cat.db);
    assert.equal(s.pending, 1);
    assert.equal(s.failing, 1);
    assert.ok(s.lastError && /ECONNREFUSED|connect/i.test(s.lastError), `error recorded: ${s.lastError}`);
    // Not due again yet (30 s backoff): no attempt.
    r = await notifier.tick(w.clock.t + 10_000);
    assert.equal(r.failed.length, 0);
    // Due again, still down: second failure, backoff doubles.
    r = await notifier.tick(w.clock.t + 31_000);
    assert.equal(r.failed.length, 1);
    const row = w.cat.db.prepare('SELECT attempts, next_attempt_at FROM outbox').get() as { attempts: number; next_attempt_at: number };
    assert.equal(row.attempts, 2);
    assert.equal(row.next_attempt_at, w.clock.t + 31_000 + 60_000);

    // The daemon restarts meanwhile: a new notifier on the same catalog.
    await notifier.close();
    notifier = new Notifier(w.cat, w.cfg, { now: () => w.clock.t });
    const back = await startSmtp(port);
    try {
      w.clock.t += 2 * MIN;
      r = await notifier.tick();
      assert.equal(r.enqueued.length, 0, 'no second email for the same completion');
      assert.equal(r.sent.length, 1);
      for (let i = 1; i <= 5; i++) await notifier.tick(w.clock.t + i * 60 * MIN);
      assert.equal(back.mails.length, 1, 'exactly one completion email');
      assert.match(back.mails[0].headers.subject, /studio-a\/S9 complete: 2 delivered, 0 failed/);
      s = outboxSummary(w.cat.db);
      assert.equal(s.pending, 0);
      assert.equal(s.sent, 1);
      assert.equal(s.lastError, null);
    } finally {
      await back.close();
    }
  } finally {
    await notifier.close();
    w.cat.close();
  }
});

test('failure alerts: the first goes out at once, later ones are grouped and rate-limited', async (t) => {
  const smtp = await startSmtp();
  const w = world(t, smtp.port, { failureAlert: { enabled: true, minIntervalMin: 30 }, sessionQuietMin: 100_000 });
  const notifier = new Notifier(w.cat, w.cfg, { now: () => w.clock.t });
  try {
    const [a, b, c] = dropFiles(w, 'S1', ['a.jpg', 'b.jpg', 'c.jpg']);
    const [d] = dropFiles(w, 'S2', ['d.jpg']);
    fail(w, a, 'S1', 'a.jpg', 'size-mismatch: shot 4480x6720, plate 6720x4480');
    assert.notEqual(notifier.jobFailed(a), null, 'first failure: alert written at once');
    await notifier.flush();
    assert.equal(smtp.mails.length, 1);
    assert.match(smtp.mails[0].headers.subject, /Failed: studio-a\/S1\/a\.jpg/);
    assert.match(smtp.mails[0].text, /size-mismatch: shot 4480x6720, plate 6720x4480/);

    w.clock.t += MIN;
    fail(w, b, 'S1', 'b.jpg', 'corrupt: truncated');
    assert.equal(notifier.jobFailed(b), null, 'inside the interval: grouped');
    assert.equal(notifier.jobFailed(b), null, 'a repeated call records nothing new');
    w.clock.t += MIN;
    fail(w, d, 'S2', 'd.jpg', 'unreadable: EIO');
    notifier.jobFailed(d);
    w.clock.t += 10 * MIN;
    await notifier.tick();
    assert.equal(smtp.mails.length, 1, `still rate-limited: ${smtp.mails.map((m) => m.headers.subject).join(' | ')}`);

    w.clock.t = T0 + 31 * MIN;
    await notifier.tick();
    await notifier.tick(); // sends nothing more
    assert.equal(smtp.mails.length, 2);
    const m = smtp.mails[1];
    assert.match(m.headers.subject, /2 shots failed \(studio-a\/S1, studio-a\/S2\)/);
    assert.match(m.text, /b\.jpg: corrupt: truncated/);
    assert.match(m.text, /d\.jpg: unreadable: EIO/);
    assert.doesNotMatch(m.text, /a\.jpg/);
    assert.match(m.html, /at most one every 30 min/);

    // A failure nobody reported through jobFailed (e.g. the plate-timeout sweep) is still alerted.
    w.clock.t += 31 * MIN;
    fail(w, c, 'S1', 'c.jpg', 'no-plate: none arrived');
    await notifier.tick();
    assert.equal(smtp.mails.length, 3);
    assert.match(smtp.mails[2].text, /c\.jpg: no-plate: none arrived/);
  } finally {
    await notifier.close();
    w.cat.close();
    await smtp.close();
  }
});

test('digest: what finished since the previous digest, the backlog and the outbox; once per run', async (t) => {
  const smtp = await startSmtp();
  const w = world(t, smtp.port, { failureAlert: { enabled: false } });
  const notifier = new Notifier(w.cat, w.cfg, { now: () => w.clock.t });
  try {
    const [a, b] = dropFiles(w, 'S<1>', ['a.jpg', 'b.jpg']);
    await deliver(w, a, 'S<1>', 'a.jpg', 2000);
    fail(w, b, 'S<1>', 'b.jpg', 'corrupt: bad <marker>');
    dropFiles(w, 'S2', ['x.jpg', 'y.jpg']); // queued
    dropFiles(w, 'S3', ['z.jpg'], false); // waiting for a plate
    w.clock.t += 2 * MIN;
    const id = notifier.digest();
    assert.notEqual(id, null);
    assert.equal(notifier.digest(), null, 'a second run in the same minute writes nothing');
    await notifier.flush();
    const digests = smtp.mails.filter((m) => /Digest/.test(m.headers.subject ?? ''));
    assert.equal(digests.length, 1);
    const m = digests[0];
    assert.match(m.headers.subject, /Digest \d{4}-\d\d-\d\d: 1 delivered, 1 failed, 3 in progress/);
    assert.deepEqual(m.rcpt, ['ops@example.com']);
    assert.match(m.text, /studio-a\/S<1>: 1 delivered, 1 failed, processing 2\.0 s/);
    assert.match(m.text, /queued 2, running 0, waiting for a plate 1/);
    assert.match(m.text, /b\.jpg: corrupt: bad <marker>/);
    assert.ok(m.html.includes('corrupt: bad &lt;marker&gt;'));
    assert.ok(m.html.includes('studio-a/S&lt;1&gt;'));
    assert.ok(!m.html.includes('<marker>'));

    // The next digest covers only what happened after this one.
    w.clock.t += 24 * 60 * MIN;
    notifier.digest();
    await notifier.flush();
    const next = smtp.mails.filter((m2) => /Digest/.test(m2.headers.subject ?? ''));
    assert.equal(next.length, 2);
    assert.match(next[1].headers.subject, /0 delivered, 0 failed/);
    assert.match(next[1].text, /No shots finished in this period/);
  } finally {
    await notifier.close();
    w.cat.close();
    await smtp.close();
  }
});

test('SMTP login with the password from notify.smtp.passwordEnv; verifySmtp for doctor', async (t) => {
  const smtp = await startSmtp(0, { user: 'studio', pass: 'pw-123' });
  const w = world(t, smtp.port);
  const cfg: Config = { ...w.cfg, notify: { ...w.cfg.notify, smtp: { ...w.cfg.notify.smtp!, user: 'studio', passwordEnv: 'CP_TEST_SMTP_PW' } } };
  try {
    const good = await verifySmtp(cfg.notify, { env: { CP_TEST_SMTP_PW: 'pw-123' } });
    assert.match(good, /accepts connections and the login as studio/);
    await assert.rejects(verifySmtp(cfg.notify, { env: { CP_TEST_SMTP_PW: 'wrong' } }), (err: unknown) => err instanceof CleanplateError && /^SMTP 127\.0\.0\.1:\d+: .*Invalid/.test(err.message));
    await assert.rejects(verifySmtp(cfg.notify, { env: {} }), (err: unknown) => err instanceof CleanplateError && err.code === 'config' && /CP_TEST_SMTP_PW/.test(err.message));
    await assert.rejects(verifySmtp({ ...cfg.notify, smtp: { ...cfg.notify.smtp!, port: 1 } }, { env: { CP_TEST_SMTP_PW: 'x' } }), /SMTP 127\.0\.0\.1:1: .*ECONNREFUSED/);

    const notifier = new Notifier(w.cat, cfg, { now: () => w.clock.t, mailerOptions: { env: { CP_TEST_SMTP_PW: 'pw-123' } } });
    try {
      const [a] = dropFiles(w, 'S1', ['a.jpg']);
      await deliver(w, a, 'S1', 'a.jpg', 100);
      w.clock.t += 11 * MIN;
      const r = await notifier.tick();
      assert.equal(r.sent.length, 1);
      assert.equal(smtp.mails.length, 1);
    } finally {
      await notifier.close();
    }
  } finally {
    w.cat.close();
    await smtp.close();
  }
});
