import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs, statSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CleanplateError } from '../../src/errors.js';
import { moveFileExact, moveFileNoOverwrite, numberedName, removeTempFiles, uniqueTarget, writeFileAtomic, writeFileExact } from '../../src/deliver/atomic.js';

let root: string;
let n = 0;
before(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'cp-atomic-'));
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});
/** A fresh folder per test. */
async function fresh(): Promise<string> {
  const d = path.join(root, `t${++n}`);
  await fs.mkdir(d);
  return d;
}
const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: injected`), { code });
const list = async (d: string) => (await fs.readdir(d)).sort();

async function rejectsCode(p: Promise<unknown>, code: string): Promise<CleanplateError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof CleanplateError, String(err));
    assert.equal(err.code, code, err.message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

test('numberedName puts the number before the last extension', () => {
  assert.equal(numberedName('shot.png', 1), 'shot.png');
  assert.equal(numberedName('shot.png', 2), 'shot (2).png');
  assert.equal(numberedName('shot.alpha.png', 3), 'shot.alpha (3).png');
  assert.equal(numberedName('README', 2), 'README (2)');
  assert.equal(numberedName('.hidden', 2), '.hidden (2)');
});

test('writeFileAtomic creates folders, writes, leaves no temp file', async () => {
  const d = path.join(await fresh(), 'a', 'b');
  const p = await writeFileAtomic(d, 'x.json', '{"ok":true}');
  assert.equal(p, path.join(d, 'x.json'));
  assert.equal(await fs.readFile(p, 'utf8'), '{"ok":true}');
  assert.deepEqual(await list(d), ['x.json']);
});

test('writeFileAtomic never overwrites: taken names get (2), (3)', async () => {
  const d = await fresh();
  await fs.writeFile(path.join(d, 'shot.png'), 'original');
  const p2 = await writeFileAtomic(d, 'shot.png', Buffer.from('second'));
  const p3 = await writeFileAtomic(d, 'shot.png', Buffer.from('third'));
  assert.equal(path.basename(p2), 'shot (2).png');
  assert.equal(path.basename(p3), 'shot (3).png');
  assert.equal(await fs.readFile(path.join(d, 'shot.png'), 'utf8'), 'original');
  assert.equal(await fs.readFile(p2, 'utf8'), 'second');
  assert.equal(await fs.readFile(p3, 'utf8'), 'third');
  assert.deepEqual(await list(d), ['shot (2).png', 'shot (3).png', 'shot.png']);
  assert.equal(await uniqueTarget(d, 'shot.png'), path.join(d, 'shot (4).png'));
  assert.equal(await uniqueTarget(d, 'other.png'), path.join(d, 'other.png'));
});

test('concurrent writers of the same name all survive intact', async () => {
  const d = await fresh();
  const bodies = Array.from({ length: 8 }, (_, i) => Buffer.alloc(200_000 + i, 65 + i));
  const paths = await Promise.all(bodies.map((b) => writeFileAtomic(d, 'same.tif', b)));
  assert.equal(new Set(paths).size, 8);
  for (let i = 0; i < 8; i++) assert.ok((await fs.readFile(paths[i])).equals(bodies[i]), `writer ${i}`);
  assert.equal((await list(d)).length, 8, 'no temp files left');
});

test('failures leave no temp file and map to CleanplateError codes', async () => {
  const d = await fresh();
  const full = await rejectsCode(writeFileAtomic(d, 'a.png', 'x', { link: async () => Promise.reject(errno('ENOSPC')) }), 'disk-full');
  assert.equal(full.retryable, true);
  assert.deepEqual(await list(d), []);
  // Failure while writing the data (disk fills up mid-write).
  const failingOpen = (async (p: string, flags?: string, mode?: number) => {
    const h = await fs.open(p, flags, mode);
    if (!path.basename(p).startsWith('.')) return h;
    return { writeFile: async () => Promise.reject(errno('ENOSPC')), sync: () => h.sync(), close: () => h.close() } as unknown as FileHandle;
  }) as typeof fs.open;
  await rejectsCode(writeFileAtomic(d, 'b.png', 'data', { open: failingOpen }), 'disk-full');
  assert.deepEqual(await list(d), []);
  await rejectsCode(writeFileAtomic(d, 'c.png', 'x', { link: async () => Promise.reject(errno('EIO')) }), 'unreadable');
  assert.deepEqual(await list(d), []);
});

/** Makes `dir` unwritable for this process, or returns a reason why that is impossible here. */
function lockDir(dir: string): { unlock: () => void } | string {
  if (process.getuid?.() !== 0) {
    execFileSync('chmod', ['0555', dir]);
    return { unlock: () => execFileSync('chmod', ['0755', dir]) };
  }
  try {
    execFileSync('chattr', ['+i', dir], { stdio: 'ignore' });
    return { unlock: () => execFileSync('chattr', ['-i', dir], { stdio: 'ignore' }) };
  } catch {
    return 'running as root and chattr +i is not available';
  }
}

test('an unwritable folder gives unwritable (retryable) and no temp file', async (t) => {
  const d = await fresh();
  const lock = lockDir(d);
  if (typeof lock === 'string') return t.skip(lock);
  try {
    const err = await rejectsCode(writeFileAtomic(d, 'x.png', 'data'), 'unwritable');
    assert.equal(err.retryable, true);
    assert.ok(!err.message.includes('\n'));
    await rejectsCode(writeFileAtomic(path.join(d, 'sub'), 'x.png', 'data'), 'unwritable');
  } finally {
    lock.unlock();
  }
  assert.deepEqual(await list(d), []);
});

test('filesystems without hard links: exclusive placeholder + rename, still no overwrite', async () => {
  const d = await fresh();
  const noLink = { link: async () => Promise.reject(errno('EPERM')) };
  await fs.writeFile(path.join(d, 'a.png'), 'original');
  const p = await writeFileAtomic(d, 'a.png', 'new', noLink);
  assert.equal(path.basename(p), 'a (2).png');
  assert.equal(await fs.readFile(p, 'utf8'), 'new');
  assert.equal(await fs.readFile(path.join(d, 'a.png'), 'utf8'), 'original');
  assert.deepEqual(await list(d), ['a (2).png', 'a.png']);
  // Moves too.
  const src = path.join(await fresh(), 'm.jpg');
  await fs.writeFile(src, 'moved');
  const m = await moveFileNoOverwrite(src, d, undefined, noLink);
  assert.equal(await fs.readFile(m, 'utf8'), 'moved');
  await assert.rejects(fs.access(src));
});

test('moveFileNoOverwrite on one filesystem: no overwrite, custom name, source gone', async () => {
  const from = await fresh();
  const to = path.join(await fresh(), 'archive', 'session');
  const a = path.join(from, 'IMG_1.jpg');
  await fs.writeFile(a, 'one');
  const p1 = await moveFileNoOverwrite(a, to);
  assert.equal(p1, path.join(to, 'IMG_1.jpg'));
  await assert.rejects(fs.access(a));
  await fs.writeFile(a, 'two');
  const p2 = await moveFileNoOverwrite(a, to);
  assert.equal(path.basename(p2), 'IMG_1 (2).jpg');
  assert.equal(await fs.readFile(p1, 'utf8'), 'one');
  assert.equal(await fs.readFile(p2, 'utf8'), 'two');
  await fs.writeFile(a, 'three');
  const p3 = await moveFileNoOverwrite(a, to, 'renamed.jpg');
  assert.equal(path.basename(p3), 'renamed.jpg');
  await rejectsCode(moveFileNoOverwrite(path.join(from, 'gone.jpg'), to), 'missing');
});

test('a move whose source cannot be removed is undone (no duplicate)', async () => {
  const from = await fresh();
  const to = await fresh();
  const src = path.join(from, 'x.jpg');
  await fs.writeFile(src, 'data');
  const unlink = (async (p: string) => (p === src ? Promise.reject(errno('EACCES')) : fs.unlink(p))) as typeof fs.unlink;
  await rejectsCode(moveFileNoOverwrite(src, to, undefined, { unlink }), 'unwritable');
  assert.equal(await fs.readFile(src, 'utf8'), 'data');
  assert.deepEqual(await list(to), []);
});

test('EXDEV (injected): copy into the destination, fsync, publish, remove the source', async () => {
  const from = await fresh();
  const to = await fresh();
  const src = path.join(from, 'big.tif');
  const body = Buffer.alloc(300_000, 7);
  await fs.writeFile(src, body);
  const old = new Date('2020-01-02T03:04:05Z');
  await fs.utimes(src, old, old);
  await fs.writeFile(path.join(to, 'big.tif'), 'taken');
  const link = (async (a: string, b: string) => (a === src ? Promise.reject(errno('EXDEV')) : fs.link(a, b))) as typeof fs.link;
  const p = await moveFileNoOverwrite(src, to, undefined, { link });
  assert.equal(path.basename(p), 'big (2).tif');
  assert.ok((await fs.readFile(p)).equals(body));
  assert.equal((await fs.stat(p)).mtime.getTime(), old.getTime(), 'mtime kept');
  await assert.rejects(fs.access(src));
  assert.deepEqual(await list(to), ['big (2).tif', 'big.tif']);
  // A failure during the copy leaves neither temp nor target, and the source in place.
  await fs.writeFile(src, body);
  const copyFile = (async () => Promise.reject(errno('ENOSPC'))) as typeof fs.copyFile;
  await rejectsCode(moveFileNoOverwrite(src, to, undefined, { link, copyFile }), 'disk-full');
  assert.deepEqual(await list(to), ['big (2).tif', 'big.tif']);
  assert.ok((await fs.readFile(src)).equals(body));
});

const shm = '/dev/shm';
function otherDevice(): string | undefined {
  try {
    return statSync(shm).dev !== statSync(os.tmpdir()).dev ? shm : undefined;
  } catch {
    return undefined;
  }
}

test('a real cross-device move (/dev/shm -> os.tmpdir())', { skip: otherDevice() ? false : '/dev/shm missing or on the same device as os.tmpdir()' }, async () => {
  const from = await fs.mkdtemp(path.join(shm, 'cp-atomic-'));
  try {
    const src = path.join(from, 'shot.jpg');
    await fs.writeFile(src, 'cross');
    await assert.rejects(fs.link(src, path.join(root, 'probe')), (e: NodeJS.ErrnoException) => e.code === 'EXDEV');
    const to = await fresh();
    const p = await moveFileNoOverwrite(src, to);
    assert.equal(await fs.readFile(p, 'utf8'), 'cross');
    await assert.rejects(fs.access(src));
    assert.deepEqual(await list(to), ['shot.jpg']);
  } finally {
    await fs.rm(from, { recursive: true, force: true });
  }
});

test('no hard links, killed between the placeholder and the rename: the rerun finishes the write instead of keeping 0 bytes', async () => {
  const d = await fresh();
  const file = path.join(d, 'look-01.png');
  // The first attempt dies inside rename (SIGKILL: no cleanup runs): placeholder + temp file are left.
  const killed = { link: async () => Promise.reject(errno('EPERM')), rename: () => new Promise<void>(() => undefined) };
  void writeFileExact(file, 'the real output', killed);
  await waitUntil(async () => (await list(d)).length === 2);
  assert.equal((await fs.stat(file)).size, 0, 'the placeholder');
  assert.ok((await list(d)).some((f) => /^\.look-01\.png\.\d+\.[0-9a-f]{12}\.tmp$/.test(f)), 'the temp file');
  // The rerun (same reserved path, still no hard links).
  assert.equal(await writeFileExact(file, 'the real output', { link: async () => Promise.reject(errno('EPERM')) }), true);
  assert.equal(await fs.readFile(file, 'utf8'), 'the real output');
  assert.equal(await removeTempFiles(file), 1, 'the killed attempt\'s temp file');
  assert.deepEqual(await list(d), ['look-01.png']);
  // A real (non-empty) file is still never overwritten.
  assert.equal(await writeFileExact(file, 'something else'), false);
  assert.equal(await fs.readFile(file, 'utf8'), 'the real output');

  // Moves: same crash, the rerun moves the source over the placeholder.
  const src = path.join(await fresh(), 'shot.png');
  await fs.writeFile(src, 'the shot');
  const dest = path.join(d, 'archived.png');
  void moveFileExact(src, dest, killed);
  await waitUntil(async () => (await list(d)).includes('archived.png'));
  assert.equal((await fs.stat(dest)).size, 0);
  assert.equal(await moveFileExact(src, dest, { link: async () => Promise.reject(errno('EPERM')) }), true);
  assert.equal(await fs.readFile(dest, 'utf8'), 'the shot');
  await assert.rejects(fs.access(src));
});

test('removeTempFiles removes only the temp files of one name', async () => {
  const d = await fresh();
  const names = ['.a.png.12.0123456789ab.tmp', '.a.png.3.ffffffffffff.tmp', '.a.png.12.0123456789ab.tmp.x', '.b.png.12.0123456789ab.tmp', '.a.png', 'a.png'];
  for (const n of names) await fs.writeFile(path.join(d, n), 'x');
  assert.equal(await removeTempFiles(path.join(d, 'a.png')), 2);
  assert.deepEqual(await list(d), ['.a.png', '.a.png.12.0123456789ab.tmp.x', '.b.png.12.0123456789ab.tmp', 'a.png']);
  assert.equal(await removeTempFiles(path.join(d, 'missing-folder', 'a.png')), 0);
});

async function waitUntil(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail('timed out');
}
