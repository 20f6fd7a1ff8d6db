/**
 * Publishing files without ever overwriting, and without readers ever seeing
 * a half-written file.
 *
 * - `writeFileAtomic`: the data goes to a temporary dot-file in the
 *   destination folder (ignored by watchers), is fsynced, then hard-linked to
 *   the final name — `link` fails with EEXIST instead of overwriting, so a
 *   taken name moves on to `name (2).ext`, `name (3).ext`... — then the temp
 *   is unlinked and the folder fsynced.
 * - `moveFileNoOverwrite`: within a filesystem, link + unlink (a rename that
 *   cannot overwrite); across filesystems (EXDEV: inbox on a share, archive on
 *   a local disk) a copy published like `writeFileAtomic`, then the source is
 *   removed. A crash between link and unlink leaves both names (never none).
 * - Filesystems without hard links (some SMB/FUSE mounts: EPERM, ENOTSUP...)
 *   fall back to reserving the name with an exclusive create and renaming the
 *   temp over that empty placeholder. A process killed between the two leaves
 *   the empty placeholder: the exact-path functions (`writeFileExact`,
 *   `moveFileExact`, for paths reserved in the delivery manifest) finish such
 *   a write on the rerun instead of taking the empty file as published.
 * - A killed process also leaves its temp file (`.<name>.<pid>.<random>.tmp`);
 *   `removeTempFiles` removes those of one destination name.
 *
 * Folders are created as needed. Errors come out as CleanplateError
 * ('unwritable' for EACCES/EPERM/EROFS, 'disk-full' for ENOSPC/EDQUOT, both
 * retryable; 'missing' when a source vanished). Temp files are removed on
 * every failure.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants, promises as fsp } from 'node:fs';
import path from 'node:path';
import { CleanplateError, toCleanplateError } from '../errors.js';

/** The filesystem calls this module makes; tests may replace some (`deps`). */
export interface AtomicFs {
  link: typeof fsp.link;
  rename: typeof fsp.rename;
  copyFile: typeof fsp.copyFile;
  unlink: typeof fsp.unlink;
  open: typeof fsp.open;
  mkdir: typeof fsp.mkdir;
  lstat: typeof fsp.lstat;
  stat: typeof fsp.stat;
  utimes: typeof fsp.utimes;
  readdir: typeof fsp.readdir;
}

const realFs: AtomicFs = {
  link: fsp.link,
  rename: fsp.rename,
  copyFile: fsp.copyFile,
  unlink: fsp.unlink,
  open: fsp.open,
  mkdir: fsp.mkdir,
  lstat: fsp.lstat,
  stat: fsp.stat,
  utimes: fsp.utimes,
  readdir: fsp.readdir,
};

/** Most numbered names tried before giving up. */
export const MAX_NUMBERED_NAMES = 10_000;

/** errno codes meaning "this filesystem cannot hard-link". */
const NO_LINK_CODES = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EMLINK']);

function codeOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * The n-th candidate for a name: n = 1 is the name itself, then
 * `shot (2).png`, `shot (3).png`... (the number goes before the last extension).
 */
export function numberedName(name: string, n: number): string {
  if (n <= 1) return name;
  const ext = path.extname(name);
  const stem = ext ? name.slice(0, -ext.length) : name;
  return `${stem} (${n})${ext}`;
}

/** The part of a temp file's name that stands for `name`: the name itself, or a shortened one with a hash of the whole. */
function tempStem(name: string): string {
  return name.length > 80 ? `${name.slice(0, 64)}~${createHash('sha256').update(name).digest('hex').slice(0, 12)}` : name;
}

/** Temporary dot-name next to `name` (ignored by the watcher: leading dot and .tmp). */
function tempName(dir: string, name: string): string {
  return path.join(dir, `.${tempStem(name)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
}

/** Whether `entry` (a name in a folder) is a temp file made for `name` by `tempName`, by any process. */
function isTempOf(entry: string, name: string): boolean {
  const stem = `.${tempStem(name)}.`;
  return entry.startsWith(stem) && /^\d+\.[0-9a-f]{12}\.tmp$/.test(entry.slice(stem.length));
}

/**
 * Removes the temp files that writes and moves to `file` left behind when
 * their process was killed (`.<name>.<pid>.<random>.tmp` beside it). Only
 * call it when nothing is writing `file` (a reserved path whose job is not
 * running an attempt). A missing folder counts as nothing to remove.
 * @param deps replacement filesystem calls (tests)
 * @returns how many were removed
 */
export async function removeTempFiles(file: string, deps: Partial<AtomicFs> = {}): Promise<number> {
  const fs: AtomicFs = { ...realFs, ...deps };
  const dir = path.dirname(file);
  const name = path.basename(file);
  let entries: string[];
  try {
    entries = await fs.readdir(dir);
  } catch (err) {
    if (codeOf(err) === 'ENOENT' || codeOf(err) === 'ENOTDIR') return 0;
    throw toCleanplateError(err, `listing ${dir}`);
  }
  let removed = 0;
  for (const entry of entries) {
    if (!isTempOf(entry, name)) continue;
    try {
      await fs.unlink(path.join(dir, entry));
      removed++;
    } catch (err) {
      if (codeOf(err) !== 'ENOENT') throw toCleanplateError(err, `removing ${path.join(dir, entry)}`);
    }
  }
  return removed;
}

/** Whether `file` is an empty regular file: the placeholder of an interrupted no-link publish. */
async function isPlaceholder(file: string, fs: AtomicFs): Promise<boolean> {
  try {
    const st = await fs.lstat(file);
    return st.isFile() && st.size === 0;
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return false;
    throw toCleanplateError(err, `checking ${file}`);
  }
}

/** fsyncs a folder so a new name in it survives a power cut; filesystems that cannot are ignored. */
async function fsyncDir(dir: string, fs: AtomicFs): Promise<void> {
  let h: Awaited<ReturnType<typeof fsp.open>> | undefined;
  try {
    h = await fs.open(dir, 'r');
    await h.sync();
  } catch (err) {
    const c = codeOf(err);
    if (c !== 'EINVAL' && c !== 'ENOTSUP' && c !== 'EOPNOTSUPP' && c !== 'EISDIR' && c !== 'EPERM' && c !== 'EACCES' && c !== 'EBADF') throw err;
  } finally {
    await h?.close().catch(() => undefined);
  }
}

async function fsyncFile(file: string, fs: AtomicFs): Promise<void> {
  const h = await fs.open(file, 'r+');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Creates `tmp` (never an existing file), writes `data` and fsyncs it. */
async function writeDurableTemp(tmp: string, data: Buffer | string, fs: AtomicFs): Promise<void> {
  const h = await fs.open(tmp, 'wx', 0o644);
  try {
    await h.writeFile(data);
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Copies `src` to a new `tmp` (never an existing file) with `src`'s times, and fsyncs it. */
async function copyDurableTemp(src: string, tmp: string, st: Awaited<ReturnType<typeof fsp.stat>>, fs: AtomicFs): Promise<void> {
  await fs.copyFile(src, tmp, fsConstants.COPYFILE_EXCL);
  await fs.utimes(tmp, st.atime, st.mtime);
  await fsyncFile(tmp, fs);
}

async function removeQuietly(file: string, fs: AtomicFs): Promise<void> {
  try {
    await fs.unlink(file);
  } catch {
    // already gone, or nothing more can be done
  }
}

/**
 * Gives `src` the first free numbered name of `name` in `dir`, never
 * replacing an existing file. `src` stays (the caller removes it).
 * @returns the final path
 */
async function linkFirstFree(src: string, dir: string, name: string, fs: AtomicFs, maxN = MAX_NUMBERED_NAMES): Promise<string> {
  for (let n = 1; n <= maxN; n++) {
    const target = path.join(dir, numberedName(name, n));
    try {
      await fs.link(src, target);
      return target;
    } catch (err) {
      const c = codeOf(err);
      if (c === 'EEXIST') continue;
      if (c && NO_LINK_CODES.has(c)) return reserveAndRename(src, dir, name, n, fs, maxN);
      throw err;
    }
  }
  throw new CleanplateError('internal', `no free name for ${name} in ${dir} after ${maxN} tries`, { cause: new ExistsError() });
}

/** Thrown (as the cause) when an exact name is taken. */
class ExistsError extends Error {}

function isTaken(err: unknown): boolean {
  return err instanceof CleanplateError && err.cause instanceof ExistsError;
}

/**
 * Fallback without hard links: create the first free name exclusively (an
 * empty placeholder), then rename `src` over it. `src` is gone afterwards.
 */
async function reserveAndRename(src: string, dir: string, name: string, from: number, fs: AtomicFs, maxN: number): Promise<string> {
  for (let n = from; n <= maxN; n++) {
    const target = path.join(dir, numberedName(name, n));
    try {
      await (await fs.open(target, 'wx')).close();
    } catch (err) {
      if (codeOf(err) === 'EEXIST') continue;
      throw err;
    }
    try {
      await fs.rename(src, target);
    } catch (err) {
      await removeQuietly(target, fs);
      throw err;
    }
    return target;
  }
  throw new CleanplateError('internal', `no free name for ${name} in ${dir} after ${maxN} tries`, { cause: new ExistsError() });
}

/**
 * Writes `data` to `dir/name` atomically and without overwriting: a taken
 * name becomes `name (2).ext`, `name (3).ext`...
 * @param deps replacement filesystem calls (tests)
 * @returns the path written
 * @throws CleanplateError unwritable / disk-full / internal
 */
export async function writeFileAtomic(dir: string, name: string, data: Buffer | string, deps: Partial<AtomicFs> = {}): Promise<string> {
  return writeAndLink(dir, name, data, { ...realFs, ...deps }, MAX_NUMBERED_NAMES);
}

/** Writes a durable temp file in `dir`, then links it to the first free of `maxN` numbered names of `name`. */
async function writeAndLink(dir: string, name: string, data: Buffer | string, fs: AtomicFs, maxN: number): Promise<string> {
  const tmp = tempName(dir, name);
  try {
    await fs.mkdir(dir, { recursive: true });
    await writeDurableTemp(tmp, data, fs);
    const final = await linkFirstFree(tmp, dir, name, fs, maxN);
    await removeQuietly(tmp, fs);
    await fsyncDir(dir, fs);
    return final;
  } catch (err) {
    await removeQuietly(tmp, fs);
    if (isTaken(err)) throw err;
    throw toCleanplateError(err, `writing ${path.join(dir, name)}`);
  }
}

/**
 * Moves `src` into `destDir` (as `name`, default its own name) without
 * overwriting: a taken name becomes `name (2).ext`... Works across
 * filesystems (copy + fsync + publish + remove the source; mtime kept).
 * @param deps replacement filesystem calls (tests)
 * @returns the new path
 * @throws CleanplateError missing / unwritable / disk-full / internal
 */
export async function moveFileNoOverwrite(src: string, destDir: string, name?: string, deps: Partial<AtomicFs> = {}): Promise<string> {
  return moveFile(src, destDir, name ?? path.basename(src), { ...realFs, ...deps }, MAX_NUMBERED_NAMES);
}

async function moveFile(src: string, destDir: string, finalName: string, fs: AtomicFs, maxN: number): Promise<string> {
  const context = `moving ${src} to ${destDir}`;
  let st: Awaited<ReturnType<typeof fsp.stat>>;
  try {
    await fs.mkdir(destDir, { recursive: true });
    st = await fs.stat(src);
  } catch (err) {
    throw toCleanplateError(err, context);
  }
  if (!st.isFile()) throw new CleanplateError('internal', `${context}: not a regular file`);

  // Same filesystem: link + unlink.
  try {
    const final = await linkFirstFree(src, destDir, finalName, fs, maxN);
    await removeSource(src, final, fs);
    await fsyncDir(destDir, fs);
    await fsyncDir(path.dirname(src), fs);
    return final;
  } catch (err) {
    if (isTaken(err)) throw err;
    if (codeOf(err) !== 'EXDEV') throw toCleanplateError(err, context);
  }

  // Across filesystems: copy to a temp in the destination, then publish.
  const tmp = tempName(destDir, finalName);
  try {
    await copyDurableTemp(src, tmp, st, fs);
    const final = await linkFirstFree(tmp, destDir, finalName, fs, maxN);
    await removeQuietly(tmp, fs);
    await removeSource(src, final, fs);
    await fsyncDir(destDir, fs);
    await fsyncDir(path.dirname(src), fs);
    return final;
  } catch (err) {
    await removeQuietly(tmp, fs);
    if (isTaken(err)) throw err;
    throw toCleanplateError(err, context);
  }
}

/**
 * After `src` was published as `final`: unlink `src` (unless the no-link
 * fallback already renamed it away). When the source cannot be removed, the
 * published name is removed again so a failed move leaves no duplicate.
 */
async function removeSource(src: string, final: string, fs: AtomicFs): Promise<void> {
  try {
    await fs.unlink(src);
  } catch (err) {
    if (codeOf(err) === 'ENOENT') {
      // The rename fallback moved it; the final name must exist.
      await fs.lstat(final);
      return;
    }
    await removeQuietly(final, fs);
    throw err;
  }
}

/**
 * The first numbered name of `name` that does not exist in `dir` right now
 * (a preview: only the write/move functions guarantee no overwrite).
 */
export async function uniqueTarget(dir: string, name: string, deps: Partial<AtomicFs> = {}): Promise<string> {
  const fs: AtomicFs = { ...realFs, ...deps };
  for (let n = 1; n <= MAX_NUMBERED_NAMES; n++) {
    const target = path.join(dir, numberedName(name, n));
    try {
      await fs.lstat(target);
    } catch (err) {
      if (codeOf(err) === 'ENOENT') return target;
      throw toCleanplateError(err, `checking ${target}`);
    }
  }
  throw new CleanplateError('internal', `no free name for ${name} in ${dir} after ${MAX_NUMBERED_NAMES} tries`);
}

/**
 * Writes `data` to exactly `file` (a path reserved in the delivery manifest),
 * atomically and durably; never overwrites.
 * An empty file at `file` (the placeholder of a no-link publish that was
 * killed before its rename) is replaced by `data`.
 * @returns true when written now, false when `file` already existed (published by an earlier attempt)
 * @throws CleanplateError unwritable / disk-full / internal
 */
export async function writeFileExact(file: string, data: Buffer | string, deps: Partial<AtomicFs> = {}): Promise<boolean> {
  const fs: AtomicFs = { ...realFs, ...deps };
  try {
    await writeAndLink(path.dirname(file), path.basename(file), data, fs, 1);
    return true;
  } catch (err) {
    if (!isTaken(err)) throw err;
  }
  // Taken. An empty file there is the placeholder of a no-link publish killed before its rename
  // (the path is reserved for this write): finish it. Anything else was published by an earlier attempt.
  if (Buffer.byteLength(data) === 0 || !(await isPlaceholder(file, fs))) return false;
  await writeOver(file, data, fs);
  return true;
}

/** Writes a durable temp file beside `file` and renames it over `file` (an empty placeholder reserved for it). */
async function writeOver(file: string, data: Buffer | string, fs: AtomicFs): Promise<void> {
  const dir = path.dirname(file);
  const tmp = tempName(dir, path.basename(file));
  try {
    await writeDurableTemp(tmp, data, fs);
    await fs.rename(tmp, file);
    await fsyncDir(dir, fs);
  } catch (err) {
    await removeQuietly(tmp, fs);
    throw toCleanplateError(err, `writing ${file}`);
  }
}

/**
 * Moves `src` over `dest`, an empty placeholder reserved for it: a rename, or
 * across filesystems a durable copy renamed over it, then the source removed.
 */
async function moveOver(src: string, dest: string, st: Awaited<ReturnType<typeof fsp.stat>>, fs: AtomicFs): Promise<void> {
  const dir = path.dirname(dest);
  try {
    await fs.rename(src, dest);
  } catch (err) {
    if (codeOf(err) !== 'EXDEV') throw toCleanplateError(err, `moving ${src} to ${dest}`);
    const tmp = tempName(dir, path.basename(dest));
    try {
      await copyDurableTemp(src, tmp, st, fs);
      await fs.rename(tmp, dest);
      await fs.unlink(src);
    } catch (e) {
      await removeQuietly(tmp, fs);
      throw toCleanplateError(e, `moving ${src} to ${dest}`);
    }
  }
  await fsyncDir(dir, fs);
  await fsyncDir(path.dirname(src), fs);
}

/**
 * Moves `src` to exactly `dest` (a reserved path) without overwriting; works
 * across filesystems like `moveFileNoOverwrite`.
 * An empty file at `dest` (the placeholder of a killed no-link move) is
 * replaced by a non-empty `src`.
 * @returns true when moved now, false when `dest` already existed (then `src` is left alone)
 * @throws CleanplateError missing / unwritable / disk-full / internal
 */
export async function moveFileExact(src: string, dest: string, deps: Partial<AtomicFs> = {}): Promise<boolean> {
  const fs: AtomicFs = { ...realFs, ...deps };
  try {
    await moveFile(src, path.dirname(dest), path.basename(dest), fs, 1);
    return true;
  } catch (err) {
    if (!isTaken(err)) throw err;
  }
  // Taken: an empty placeholder left by a no-link move killed before its rename is finished now.
  if (!(await isPlaceholder(dest, fs))) return false;
  let st: Awaited<ReturnType<typeof fsp.stat>>;
  try {
    st = await fs.stat(src);
  } catch (err) {
    throw toCleanplateError(err, `moving ${src} to ${dest}`);
  }
  if (st.size === 0) return false;
  await moveOver(src, dest, st, fs);
  return true;
}
