import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.js';
import { compileIgnore, InboxWatcher, type InboxWatcherOptions } from '../../src/watch/watcher.js';
import { tempDir } from '../helpers/tmp.js';

sharp.cache(false);

const STABLE_MS = 300;

/** Deterministic high-entropy pixels, so encoded files are a realistic size. */
function noise(w: number, h: number, seed: number): Buffer {
  const raw = Buffer.alloc(w * h * 3);
  for (let i = 0, s = seed; i < raw.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    raw[i] = 64 + ((s >>> 24) >> 1);
  }
  return raw;
}
const jpeg = (seed: number) => sharp(noise(160, 120, seed), { raw: { width: 160, height: 120, channels: 3 } }).jpeg().toBuffer();
const png = (seed: number) => sharp(noise(64, 48, seed), { raw: { width: 64, height: 48, channels: 3 } }).png().toBuffer();
const JPG = await jpeg(1);
const JPG2 = await jpeg(2);
const PNG = await png(3);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function tmpRoot(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'cp-watch-'));
}

function makeConfig(root: string, polling: boolean, shares: string[] = ['a'], watch: ConfigInput['watch'] = {}): Config {
  return configSchema.parse({
    shares: shares.map((name) => ({
      name,
      inbox: path.join(root, name, 'inbox'),
      output: path.join(root, name, 'output'),
      failed: path.join(root, name, 'failed'),
      archive: path.join(root, name, 'archive'),
      polling,
      pollIntervalMs: 100,
    })),
    watch: { stableMs: STABLE_MS, incompleteTimeoutMin: 0.02, ...watch },
  });
}

interface Ev {
  type: 'file' | 'incomplete' | 'removed' | 'error';
  rel: string;
  t: number;
  size?: number;
  mtimeMs?: number;
  share?: string;
  reason?: string;
  emitted?: boolean;
}

/** Starts a watcher over fresh inbox folders and records its events. */
async function harness(root: string, cfg: Config, options: InboxWatcherOptions = {}) {
  for (const s of cfg.shares) await fs.mkdir(s.inbox, { recursive: true });
  const w = new InboxWatcher(cfg, { retryMs: 200, ...options });
  const events: Ev[] = [];
  w.on('file', (f) => events.push({ type: 'file', rel: f.relPath, t: Date.now(), size: f.size, mtimeMs: f.mtimeMs, share: f.share }));
  w.on('incomplete', (f) => events.push({ type: 'incomplete', rel: f.relPath, t: Date.now(), reason: f.reason, share: f.share }));
  w.on('removed', (f) => events.push({ type: 'removed', rel: f.relPath, t: Date.now(), emitted: f.emitted, share: f.share }));
  w.on('error', (e, share) => events.push({ type: 'error', rel: '', t: Date.now(), reason: `${e.code}: ${e.message}`, share }));
  const of = (type: Ev['type'], rel?: string) => events.filter((e) => e.type === type && (rel === undefined || e.rel === rel));
  const waitFor = async (what: string, pred: () => boolean, ms = 10_000) => {
    const end = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > end) assert.fail(`timed out waiting for ${what}; events: ${JSON.stringify(events)}`);
      await sleep(25);
    }
  };
  return { w, events, of, waitFor, inbox: (share = 'a') => cfg.shares.find((s) => s.name === share)!.inbox };
}

async function put(file: string, data: Buffer): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, data);
}

for (const polling of [false, true]) {
  describe(polling ? 'polling mode' : 'native events', () => {
    test('a file written in chunks over ~1.5 s is emitted once, only after it is complete', async () => {
      const root = await tmpRoot();
      const h = await harness(root, makeConfig(root, polling));
      try {
        await h.w.start();
        const file = path.join(h.inbox(), 'S1', 'shot.jpg');
        await fs.mkdir(path.dirname(file));
        const fh = await fs.open(file, 'w');
        const step = Math.ceil(JPG.length / 6);
        let lastWrite = 0;
        for (let i = 0; i < 6; i++) {
          await fh.write(JPG.subarray(i * step, (i + 1) * step));
          lastWrite = Date.now();
          // One pause far longer than stableMs: size and mtime look stable, the end marker is missing.
          await sleep(i === 2 ? STABLE_MS * 3 : 200);
        }
        await fh.close();
        await h.waitFor('shot.jpg', () => h.of('file').length > 0);
        const [ev] = h.of('file');
        assert.equal(ev.rel, 'S1/shot.jpg');
        assert.equal(ev.size, JPG.length);
        assert.ok(ev.t >= lastWrite + STABLE_MS, 'emitted only after stableMs without changes');
        await sleep(STABLE_MS * 3);
        assert.equal(h.of('file').length, 1, 'emitted exactly once');
        assert.equal(h.of('error').length, 0);
      } finally {
        await h.w.close();
        await fs.rm(root, { recursive: true, force: true });
      }
    });

    test('files present before start are found by the initial scan; a half-written one only when finished', async () => {
      const root = await tmpRoot();
      const cfg = makeConfig(root, polling);
      const h = await harness(root, cfg);
      try {
        await put(path.join(h.inbox(), 'S1', 'early.jpg'), JPG);
        await put(path.join(h.inbox(), 'S1', 'half_plate.png'), PNG.subarray(0, PNG.length >> 1));
        await h.w.start();
        await h.waitFor('early.jpg', () => h.of('file', 'S1/early.jpg').length === 1);
        await sleep(STABLE_MS * 3);
        assert.equal(h.of('file', 'S1/half_plate.png').length, 0, 'a half-written file found at start-up is not taken');
        await fs.appendFile(path.join(h.inbox(), 'S1', 'half_plate.png'), PNG.subarray(PNG.length >> 1));
        await h.waitFor('half_plate.png', () => h.of('file', 'S1/half_plate.png').length === 1);
        assert.equal(h.of('file', 'S1/half_plate.png')[0].size, PNG.length);
        await sleep(STABLE_MS * 2);
        assert.equal(h.of('file').length, 2);
      } finally {
        await h.w.close();
        await fs.rm(root, { recursive: true, force: true });
      }
    });

    test('ignored names are not emitted; nested session folders give correct relPaths', async () => {
      const root = await tmpRoot();
      const h = await harness(root, makeConfig(root, polling, ['a'], { ignore: ['*_preview.*'] }));
      try {
        await h.w.start();
        const inbox = h.inbox();
        for (const rel of ['.DS_Store', 'S1/._shot.jpg', 'S1/.shot.jpg.Ab12Cd', 'S1/shot.jpg.part', 'S1/~$shot.jpg', 'S1/notes.txt', 'S1/look_preview.jpg', '.trash/S1/x.jpg']) {
          await put(path.join(inbox, rel), JPG);
        }
        await put(path.join(inbox, 'S1', 'sub', 'deeper', 'look_plate.png'), PNG);
        await put(path.join(inbox, '2024-05-01', 'S2', 'IMG_0001.JPG'), JPG);
        await h.waitFor('nested files', () => h.of('file').length >= 2);
        await sleep(STABLE_MS * 3);
        assert.deepEqual(h.of('file').map((e) => e.rel).sort(), ['2024-05-01/S2/IMG_0001.JPG', 'S1/sub/deeper/look_plate.png']);
        assert.equal(h.of('incomplete').length + h.of('error').length, 0);
      } finally {
        await h.w.close();
        await fs.rm(root, { recursive: true, force: true });
      }
    });

    test('rename within the inbox, moving out (archive) and rewriting give the right events', async () => {
      const root = await tmpRoot();
      const h = await harness(root, makeConfig(root, polling));
      try {
        await h.w.start();
        const inbox = h.inbox();
        await put(path.join(inbox, 'S1', 'a.jpg'), JPG);
        await h.waitFor('a.jpg', () => h.of('file', 'S1/a.jpg').length === 1);
        await fs.rename(path.join(inbox, 'S1', 'a.jpg'), path.join(inbox, 'S1', 'b.jpg'));
        await h.waitFor('rename', () => h.of('removed', 'S1/a.jpg').length === 1 && h.of('file', 'S1/b.jpg').length === 1);
        assert.equal(h.of('removed', 'S1/a.jpg')[0].emitted, true);
        // A new version under the same name is emitted again.
        await fs.writeFile(path.join(inbox, 'S1', 'b.jpg'), JPG2);
        await h.waitFor('b.jpg v2', () => h.of('file', 'S1/b.jpg').length === 2);
        assert.equal(h.of('file', 'S1/b.jpg')[1].size, JPG2.length);
        // The daemon moves the original to archive/ (outside the inbox).
        const archived = path.join(root, 'a', 'archive', 'S1', 'b.jpg');
        await fs.mkdir(path.dirname(archived), { recursive: true });
        await fs.rename(path.join(inbox, 'S1', 'b.jpg'), archived);
        await h.waitFor('archive move', () => h.of('removed', 'S1/b.jpg').length === 1);
        await sleep(STABLE_MS * 2);
        assert.equal(h.of('file').length, 3);
        assert.equal(h.of('error').length, 0, JSON.stringify(h.of('error')));
      } finally {
        await h.w.close();
        await fs.rm(root, { recursive: true, force: true });
      }
    });

    test('a file that never finishes is reported incomplete once', async () => {
      const root = await tmpRoot();
      const h = await harness(root, makeConfig(root, polling));
      try {
        await h.w.start();
        await put(path.join(h.inbox(), 'S1', 'cancelled.jpg'), JPG.subarray(0, JPG.length >> 1));
        const t0 = Date.now();
        await h.waitFor('incomplete', () => h.of('incomplete').length === 1);
        const [ev] = h.of('incomplete');
        assert.equal(ev.rel, 'S1/cancelled.jpg');
        assert.match(ev.reason ?? '', /EOI/);
        assert.ok(ev.t - t0 >= 0.02 * 60_000 - 50, 'not before incompleteTimeoutMin');
        await sleep(STABLE_MS * 3);
        assert.equal(h.of('incomplete').length, 1);
        assert.equal(h.of('file').length, 0);
      } finally {
        await h.w.close();
        await fs.rm(root, { recursive: true, force: true });
      }
    });
  });
}

test('rescan() finds files and removals the watch events missed', async () => {
  const root = await tmpRoot();
  // Scan-only watcher: chokidar is off, so only start() and rescan() see the folder.
  const h = await harness(root, makeConfig(root, false), { watchEvents: false });
  try {
    await put(path.join(h.inbox(), 'S1', 'before.jpg'), JPG);
    await h.w.start();
    await h.waitFor('before.jpg', () => h.of('file', 'S1/before.jpg').length === 1);
    await put(path.join(h.inbox(), 'S1', 'missed.jpg'), JPG);
    await sleep(STABLE_MS * 3);
    assert.equal(h.of('file', 'S1/missed.jpg').length, 0, 'no events without a rescan');
    await h.w.rescan();
    await h.waitFor('missed.jpg', () => h.of('file', 'S1/missed.jpg').length === 1);
    await fs.rm(path.join(h.inbox(), 'S1', 'before.jpg'));
    await h.w.rescan();
    await h.waitFor('removed', () => h.of('removed', 'S1/before.jpg').length === 1);
    await h.w.rescan();
    await sleep(STABLE_MS * 2);
    assert.equal(h.of('file').length, 2, 'rescans do not re-emit unchanged files');
  } finally {
    await h.w.close();
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('a folder deeper than the watched levels is reported once; files above it are found', async () => {
  const root = await tmpRoot();
  // sessionDepth 1 + extraDepth 2: folders down to 3 levels below the inbox are scanned.
  const h = await harness(root, makeConfig(root, false), { watchEvents: false, extraDepth: 2 });
  try {
    await put(path.join(h.inbox(), 'S1', 'a', 'b', 'ok.jpg'), JPG);
    await put(path.join(h.inbox(), 'S1', 'a', 'b', 'c', 'deep.jpg'), JPG);
    await h.w.start();
    await h.waitFor('ok.jpg', () => h.of('file', 'S1/a/b/ok.jpg').length === 1);
    await h.waitFor('too-deep report', () => h.of('error').length === 1);
    assert.match(h.of('error')[0].reason ?? '', /^unsupported: share a: folder S1\/a\/b\/c is more than 3 levels below the inbox; files in it are not watched$/);
    await h.w.rescan();
    await sleep(STABLE_MS * 2);
    assert.equal(h.of('error').length, 1, 'reported once, not on every rescan');
    assert.equal(h.of('file', 'S1/a/b/c/deep.jpg').length, 0);
  } finally {
    await h.w.close();
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('a vanished inbox is reported, the watcher keeps running and picks it up again', async () => {
  for (const polling of [false, true]) {
    const root = await tmpRoot();
    const h = await harness(root, makeConfig(root, polling, ['a', 'b']));
    try {
      await put(path.join(h.inbox('a'), 'S1', 'old.jpg'), JPG);
      await h.w.start();
      await h.waitFor('old.jpg', () => h.of('file', 'S1/old.jpg').length === 1);
      // The share goes away at once (like an unmount): its files are not deleted one by one.
      await fs.rename(h.inbox('a'), `${h.inbox('a')}.offline`);
      await h.waitFor('error', () => h.of('error').length >= 1);
      assert.equal(h.of('error')[0].share, 'a');
      assert.match(h.of('error')[0].reason ?? '', /^missing: share a: inbox .* is not reachable/);
      assert.equal(h.of('removed').length, 0, 'an unreachable share is not a removal of its files');
      await put(path.join(h.inbox('b'), 'S1', 'b.jpg'), JPG);
      await h.waitFor('other share keeps working', () => h.of('file', 'S1/b.jpg').length === 1);
      await put(path.join(h.inbox('a'), 'S9', 'back.jpg'), JPG);
      await h.waitFor('file in the restored inbox', () => h.of('file', 'S9/back.jpg').length === 1);
      await h.waitFor('old.jpg is gone from the restored inbox', () => h.of('removed', 'S1/old.jpg').length === 1);
      assert.equal(h.of('error').length, 1, 'reported once per outage');
    } finally {
      await h.w.close();
      await fs.rm(root, { recursive: true, force: true });
    }
  }
});

test('updateConfig adds and removes shares and switches polling without losing pending files', async () => {
  const root = await tmpRoot();
  const cfg1 = makeConfig(root, false, ['a']);
  const h = await harness(root, cfg1);
  try {
    await h.w.start();
    const halfFile = path.join(h.inbox('a'), 'S1', 'slow.jpg');
    await put(halfFile, JPG.subarray(0, 1000));
    await sleep(STABLE_MS);
    assert.equal(h.w.pendingCount, 1);
    const cfg2 = makeConfig(root, true, ['a', 'b']);
    await fs.mkdir(cfg2.shares[1].inbox, { recursive: true });
    await h.w.updateConfig(cfg2);
    await fs.appendFile(halfFile, JPG.subarray(1000));
    await put(path.join(cfg2.shares[1].inbox, 'S1', 'new-share.jpg'), JPG);
    await h.waitFor('both', () => h.of('file', 'S1/slow.jpg').length === 1 && h.of('file', 'S1/new-share.jpg').length === 1);
    assert.equal(h.of('file', 'S1/new-share.jpg')[0].share, 'b');
    await h.w.updateConfig(makeConfig(root, true, ['a']));
    await put(path.join(cfg2.shares[1].inbox, 'S1', 'after-removal.jpg'), JPG);
    await sleep(STABLE_MS * 4);
    assert.equal(h.of('file', 'S1/after-removal.jpg').length, 0, 'a removed share is no longer watched');
    assert.equal(h.of('file', 'S1/slow.jpg').length, 1);
    assert.equal(h.of('error').length, 0);
  } finally {
    await h.w.close();
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('close() leaves no timers or file watchers behind', async (t) => {
  const watching = () => process.getActiveResourcesInfo().filter((r) => ['Timeout', 'FSEventWrap', 'StatWatcher'].includes(r));
  const before = watching().length;
  for (const polling of [false, true]) {
    const root = tempDir(t, 'cp-watch-');
    const h = await harness(root, makeConfig(root, polling));
    await put(path.join(h.inbox(), 'S1', 'pending.jpg'), JPG.subarray(0, 2000));
    await h.w.start();
    await sleep(STABLE_MS);
    assert.ok(watching().length > before, 'the watcher holds resources while running');
    await h.w.close();
    // chokidar may leave its one-shot 1 s readdir throttle timer after close(); nothing else may remain.
    const end = Date.now() + 1500;
    while (watching().length > before && Date.now() < end) await sleep(25);
    assert.deepEqual(watching().slice(before), [], `${polling ? 'polling' : 'native'}: nothing left after close()`);
  }
});

test('folder ignore rule follows the file rule on names, not extensions', () => {
  const ign = compileIgnore({ extensions: ['.jpg'], ignore: ['*_preview'] });
  assert.equal(ign.dir('S1'), false);
  assert.equal(ign.dir('2024.05.01'), false, 'a dotted folder name is not an extension');
  assert.equal(ign.dir('S1/.thumbs'), true);
  assert.equal(ign.dir('S1/look_preview'), true);
  assert.equal(ign.dir('S1/work.tmp'), true);
  assert.equal(ign.file('S1/a.jpg'), false);
});

test('a folder created while watching (polling) makes the watcher walk the shares once more, once per burst', async (t) => {
  const root = tempDir(t, 'cp-watch-');
  const cfg = makeConfig(root, true);
  let walks = 0;
  class CountingWatcher extends InboxWatcher {
    override rescan(): Promise<void> {
      walks++;
      return super.rescan();
    }
  }
  for (const s of cfg.shares) await fs.mkdir(s.inbox, { recursive: true });
  const w = new CountingWatcher(cfg, { retryMs: 200 });
  const files: string[] = [];
  w.on('file', (f) => files.push(f.relPath));
  try {
    await w.start();
    await sleep(1500);
    assert.equal(walks, 0, 'no walk without a new folder');
    const inbox = cfg.shares[0].inbox;
    // A session folder with a subfolder and a shot, copied in one go.
    await put(path.join(inbox, 'S2', 'looks', 'shot.jpg'), JPG);
    const end = Date.now() + 5000;
    while ((walks === 0 || files.length === 0) && Date.now() < end) await sleep(25);
    assert.equal(walks, 1, 'one walk for the two new folders');
    assert.deepEqual(files, ['S2/looks/shot.jpg']);
    await sleep(1500);
    assert.equal(walks, 1, 'no further walks');
  } finally {
    await w.close();
  }
});
