/**
 * The file transport (what the demo uses): each email becomes one .eml file in
 * notify.fileDir, written atomically, its path reported by the flush and kept
 * in the outbox; plus the contact sheet on its own.
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { Catalog } from '../../src/catalog/catalog.js';
import { configSchema } from '../../src/config/schema.js';
import { makeContactSheet } from '../../src/notify/contact-sheet.js';
import { createMailer, verifySmtp } from '../../src/notify/mailer.js';
import { Notifier } from '../../src/notify/notifier.js';
import { ensureNotifySchema, enqueueMail, outboxSummary, recentOutbox } from '../../src/notify/outbox.js';
import { tempDir } from '../helpers/tmp.js';

const T0 = Date.parse('2030-05-06T10:00:00Z');

async function cutout(file: string, colour: string, w = 60, h = 90): Promise<string> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}"><rect x="10" y="10" width="${w - 20}" height="${h - 20}" fill="${colour}"/></svg>`;
  await sharp(Buffer.from(svg)).png().toFile(file);
  return file;
}

test('file transport: the completion email is written as one .eml file, atomically, and its path is reported', async (t) => {
  const dir = tempDir(t, 'cp-notify-file-');
  const clock = { t: T0 };
  const cat = Catalog.open(path.join(dir, 'c.db'), { now: () => clock.t });
  const mailDir = path.join(dir, 'mail');
  const cfg = configSchema.parse({
    shares: [{ name: 'demo', inbox: `${dir}/in`, output: `${dir}/out`, failed: `${dir}/failed`, archive: `${dir}/arch` }],
    notify: { enabled: true, transport: 'file', fileDir: mailDir, recipients: ['studio@example.com'], sessionQuietMin: 1 },
  });
  const notifier = new Notifier(cat, cfg, { now: () => clock.t });
  try {
    cat.recordFile({ share: 'demo', session: 'D1', relPath: 'bg_plate.jpg', kind: 'plate', size: 1, mtimeMs: 1, hash: 'p', capturedAt: 0, location: `${dir}/in/D1/bg_plate.jpg` });
    const shot = cat.recordFile({ share: 'demo', session: 'D1', relPath: 'look1.jpg', kind: 'shot', size: 1, mtimeMs: 1, hash: 's', capturedAt: 1, location: `${dir}/in/D1/look1.jpg` });
    const jobId = (cat.db.prepare('SELECT id FROM jobs WHERE shot_id = ?').get(shot.file.id) as { id: number }).id;
    await mkdir(`${dir}/out/D1`, { recursive: true });
    const png = await cutout(`${dir}/out/D1/look1.png`, '#2040c0');
    cat.transition(jobId, 'claimed');
    cat.transition(jobId, 'delivered', undefined, {
      result: JSON.stringify({ outputs: [png], sidecar: `${dir}/out/D1/look1.json`, archivedTo: null, timingsMs: { total: 4200 }, warnings: [] }),
    });
    clock.t += 2 * 60_000;
    const r = await notifier.tick();
    assert.equal(r.sent.length, 1);
    const file = r.sent[0].deliveredTo;
    assert.equal(path.dirname(file), mailDir);
    assert.match(path.basename(file), /^\d{8}-\d{6}-session-complete-1\.eml$/);
    assert.deepEqual(readdirSync(mailDir), [path.basename(file)], 'no temporary files left');
    const eml = readFileSync(file, 'utf8');
    assert.match(eml, /\r\n/, 'CRLF line ends, as in a real message');
    assert.match(eml, /^To: studio@example\.com\r?$/m);
    assert.match(eml, /Subject: .*demo\/D1/);
    assert.match(eml, /Content-Type: text\/plain/);
    assert.match(eml, /Content-Type: text\/html/);
    assert.match(eml, /Content-Type: image\/png; name=D1-contact-sheet\.png/);
    assert.equal(recentOutbox(cat.db, { kind: 'session-complete' })[0].deliveredTo, file);
    const s = outboxSummary(cat.db);
    assert.equal(s.sent, 1);
    assert.equal(s.pending, 0);
    assert.equal(s.lastSentAt, clock.t);
  } finally {
    await notifier.close();
    cat.close();
  }
});

test('file transport: a failed write is retried and overwrites the same file name (no duplicate)', async (t) => {
  const dir = tempDir(t, 'cp-notify-file-');
  const clock = { t: T0 };
  const cat = Catalog.open(path.join(dir, 'c.db'), { now: () => clock.t });
  const blocker = path.join(dir, 'mail');
  // A plain file where the mail folder should be: writes fail until it is removed.
  await import('node:fs/promises').then((fs) => fs.writeFile(blocker, 'x'));
  const cfg = configSchema.parse({
    shares: [{ name: 'demo', inbox: `${dir}/in`, output: `${dir}/out`, failed: `${dir}/failed`, archive: `${dir}/arch` }],
    notify: { enabled: true, transport: 'file', fileDir: blocker, recipients: ['a@example.com'] },
  });
  const notifier = new Notifier(cat, cfg, { now: () => clock.t });
  try {
    ensureNotifySchema(cat.db);
    assert.notEqual(enqueueMail(cat.db, { kind: 'digest', dedupeKey: 'k1', to: ['a@example.com'], subject: 'S', html: '<p>h</p>', text: 't' }, clock.t), null);
    assert.equal(enqueueMail(cat.db, { kind: 'digest', dedupeKey: 'k1', to: ['a@example.com'], subject: 'S', html: '<p>h</p>', text: 't' }, clock.t), null, 'same key: ignored');
    let r = await notifier.flush();
    assert.equal(r.failed.length, 1);
    assert.equal(outboxSummary(cat.db).failing, 1);
    await import('node:fs/promises').then((fs) => fs.rm(blocker));
    r = await notifier.flush(clock.t + 31_000);
    assert.equal(r.sent.length, 1);
    assert.deepEqual(readdirSync(blocker).filter((f) => f.endsWith('.eml')).length, 1);
    r = await notifier.flush(clock.t + 3_600_000);
    assert.equal(r.sent.length, 0);
  } finally {
    await notifier.close();
    cat.close();
  }
});

test('verifySmtp with the file transport checks the folder (throws when unwritable); disabled notify reports off', async (t) => {
  const dir = tempDir(t, 'cp-notify-file-');
  const base = configSchema.parse({
    shares: [{ name: 'x', inbox: 'i', output: 'o', failed: 'f', archive: 'a' }],
    notify: { enabled: true, transport: 'file', fileDir: path.join(dir, 'm') },
  }).notify;
  assert.match(await verifySmtp(base), /\.eml files into/);
  assert.deepEqual(readdirSync(path.join(dir, 'm')), [], 'probe removed');
  assert.equal(await verifySmtp({ ...base, enabled: false }), 'notifications are off (notify.enabled: false)');
  const blocked = path.join(dir, 'file');
  await import('node:fs/promises').then((fs) => fs.writeFile(blocked, 'x'));
  await assert.rejects(verifySmtp({ ...base, fileDir: path.join(blocked, 'm') }), /notify\.fileDir .*: /);
  const mailer = createMailer(base);
  assert.equal(mailer.transport, 'file');
  mailer.close();
});

test('contact sheet: thumbnails centred in a grid on a checkerboard, unreadable files skipped, at most maxItems', async (t) => {
  const dir = tempDir(t, 'cp-sheet-');
  const a = await cutout(path.join(dir, 'a.png'), '#ff0000', 200, 100); // landscape
  const b = await cutout(path.join(dir, 'b.png'), '#00ff00', 100, 200); // portrait
  const c = await cutout(path.join(dir, 'c.png'), '#0000ff');
  const sheet = await makeContactSheet([a, path.join(dir, 'missing.png'), b, c], { thumbPx: 100, maxItems: 3, columns: 2, gapPx: 4 });
  assert.ok(sheet);
  assert.equal(sheet.items, 2, 'maxItems counts the first 3 paths; one of them is missing');
  assert.deepEqual(sheet.skipped, [path.join(dir, 'missing.png')]);
  assert.equal(sheet.width, 2 * 100 + 3 * 4);
  assert.equal(sheet.height, 100 + 2 * 4);
  const { data, info } = await sharp(sheet.png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const px = (x: number, y: number) => [...data.subarray((y * info.width + x) * 3, (y * info.width + x) * 3 + 3)];
  // Centre of cell 1 is red, of cell 2 green.
  assert.deepEqual(px(4 + 50, 4 + 50).map((v) => v > 128), [true, false, false]);
  assert.deepEqual(px(4 + 104 + 50, 4 + 50).map((v) => v > 128), [false, true, false]);
  // Transparent parts show the checkerboard: the landscape thumb is 100x50, so the cell's top rows are background.
  const top = px(4 + 50, 4 + 5);
  assert.ok(top.every((v) => v > 190) && top[0] === top[1] && top[1] === top[2], `grey/white checkerboard, got ${top}`);
  assert.equal(await makeContactSheet([path.join(dir, 'nope.png')], { thumbPx: 50, maxItems: 5 }), null);
});

// ---------- lifecycle: switching notify on, off, retries, live config ----------

interface Rig {
  dir: string;
  mailDir: string;
  clock: { t: number };
  cat: Catalog;
  cfg: ReturnType<typeof configSchema.parse>;
  shot(session: string, name: string): number;
  plate(session: string): void;
  deliver(jobId: number): void;
  fail(jobId: number, why: string): void;
  mails(): { file: string; subject: string; to: string; body: string }[];
}

let seq = 0;
function rig(t: TestContext, notify: Record<string, unknown> = {}): Rig {
  const dir = tempDir(t, 'cp-notify-life-');
  const mailDir = path.join(dir, 'mail');
  const clock = { t: T0 };
  const cat = Catalog.open(path.join(dir, 'c.db'), { now: () => clock.t });
  const cfg = configSchema.parse({
    shares: [{ name: 'demo', inbox: `${dir}/in`, output: `${dir}/out`, failed: `${dir}/failed`, archive: `${dir}/arch` }],
    notify: { enabled: true, transport: 'file', fileDir: mailDir, recipients: ['studio@example.com'], sessionQuietMin: 1, contactSheet: { enabled: false }, ...notify },
  });
  const record = (session: string, name: string, kind: 'shot' | 'plate') =>
    cat.recordFile({ share: 'demo', session, relPath: name, kind, size: 1, mtimeMs: 1, hash: `h${++seq}`, capturedAt: 1, location: `${dir}/in/${session}/${name}` }).file;
  return {
    dir,
    mailDir,
    clock,
    cat,
    cfg,
    shot: (session, name) => (cat.db.prepare('SELECT id FROM jobs WHERE shot_id = ?').get(record(session, name, 'shot').id) as { id: number }).id,
    plate: (session) => void record(session, `p${seq}_plate.jpg`, 'plate'),
    deliver: (jobId) => {
      cat.transition(jobId, 'claimed');
      cat.transition(jobId, 'delivered', undefined, { result: JSON.stringify({ outputs: [], sidecar: '', archivedTo: null, timingsMs: { total: 10 }, warnings: [] }) });
    },
    fail: (jobId, why) => {
      cat.transition(jobId, 'claimed');
      cat.transition(jobId, 'gave-up', why);
    },
    mails: () => {
      let files: string[] = [];
      try {
        files = readdirSync(mailDir).filter((f) => f.endsWith('.eml')).sort();
      } catch {
        return [];
      }
      return files.map((f) => {
        const raw = readFileSync(path.join(mailDir, f), 'utf8');
        const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
        // Quoted-printable soft breaks and escapes undone (the tests look at ASCII text).
        const body = raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16)));
        return { file: f, subject: /^Subject: (.*)$/m.exec(head)?.[1] ?? '', to: /^To: (.*)$/m.exec(head)?.[1] ?? '', body };
      });
    },
  };
}

test('switching notify on does not email work finished before; a session in progress is emailed when it completes', async (t) => {
  const r = rig(t);
  const off = new Notifier(r.cat, { ...r.cfg, notify: { ...r.cfg.notify, enabled: false } }, { now: () => r.clock.t });
  r.plate('OLD');
  r.deliver(r.shot('OLD', 'a.jpg'));
  r.plate('RUN');
  const early = r.shot('RUN', 'early.jpg');
  r.deliver(early);
  const late = r.shot('RUN', 'late.jpg');
  r.clock.t += 5 * 60_000;
  assert.deepEqual((await off.tick()).enqueued, [], 'notify off: nothing');
  await off.close();

  const on = new Notifier(r.cat, r.cfg, { now: () => r.clock.t });
  try {
    await on.tick();
    assert.deepEqual(r.mails(), [], 'OLD finished before notify was on: no email');
    r.deliver(late);
    r.clock.t += 2 * 60_000;
    await on.tick();
    const mails = r.mails();
    assert.equal(mails.length, 1);
    assert.match(mails[0].subject, /demo\/RUN complete: 2 delivered, 0 failed/, 'both shots of RUN, also the one finished before');
  } finally {
    await on.close();
    r.cat.close();
  }
});

test('a failed shot retried with `cleanplate retry` and delivered gets an update email marking it retried', async (t) => {
  const r = rig(t, { failureAlert: { enabled: false } });
  const n = new Notifier(r.cat, r.cfg, { now: () => r.clock.t });
  try {
    r.plate('S');
    const a = r.shot('S', 'a.jpg');
    const b = r.shot('S', 'b.jpg');
    r.deliver(a);
    r.fail(b, 'disk-full: no space left on device');
    r.clock.t += 2 * 60_000;
    await n.tick();
    assert.match(r.mails()[0].subject, /complete: 1 delivered, 1 failed/);
    r.clock.t += 60_000;
    r.cat.transition(b, 'manual-retry');
    r.deliver(b);
    await n.tick();
    await n.tick(r.clock.t + 10 * 60_000);
    const mails = r.mails();
    assert.equal(mails.length, 2);
    assert.match(mails[1].subject, /demo\/S update: 1 more shot \(1 delivered, 0 failed\)/);
    assert.match(mails[1].body, /b\.jpg: delivered in 0\.0 s -> \(no outputs listed\) \(retried\)/);
    assert.doesNotMatch(mails[1].body, /a\.jpg/);
  } finally {
    await n.close();
    r.cat.close();
  }
});

test('updateConfig: new recipients apply to the next email; an unusable transport is refused and the old one kept', async (t) => {
  const r = rig(t);
  const n = new Notifier(r.cat, r.cfg, { now: () => r.clock.t });
  try {
    n.updateConfig({ ...r.cfg, notify: { ...r.cfg.notify, recipients: ['new@example.com'] } });
    r.plate('S');
    r.deliver(r.shot('S', 'a.jpg'));
    r.clock.t += 2 * 60_000;
    await n.tick();
    assert.equal(r.mails()[0].to, 'new@example.com');
    assert.throws(
      () => n.updateConfig({ ...r.cfg, notify: { ...r.cfg.notify, transport: 'smtp', smtp: { host: 'h', port: 25, secure: false, requireTLS: false, rejectUnauthorized: true, user: 'u', passwordEnv: 'CP_SURELY_UNSET_VAR' } } }),
      /CP_SURELY_UNSET_VAR/,
    );
    assert.equal(n.enabled, true);
    n.updateConfig({ ...r.cfg, notify: { ...r.cfg.notify, enabled: false } });
    assert.equal(n.enabled, false);
    r.deliver(r.shot('S', 'b.jpg'));
    r.clock.t += 2 * 60_000;
    assert.deepEqual(await n.tick(), { enqueued: [], sent: [], failed: [] }, 'off: nothing');
  } finally {
    await n.close();
    r.cat.close();
  }
});
