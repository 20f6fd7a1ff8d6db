/**
 * Publishing to an exact, reserved path without ever overwriting: the
 * primitives behind the delivery manifest (src/deliver/deliver.ts).
 *
 * - `writeFileExact`: temp file in the destination folder (a dot-name that the
 *   watcher ignores), fsync, hard link to the final name (fails instead of
 *   overwriting), unlink the temp, fsync the folder.
 * - `moveFileExact`: hard link + unlink within a filesystem; across
 *   filesystems (EXDEV, e.g. inbox on a share, archive on a local disk) a
 *   copy published like `writeFileExact`, then the source is removed.
 *
 * If the destination already exists, both treat it as published by an
 * earlier attempt of the same reservation and return without touching it.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

async function fsyncDir(dir: string): Promise<void> {
  const h = await fs.open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

function tempNameIn(dir: string, final: string): string {
  return path.join(dir, `.${path.basename(final)}.${randomBytes(4).toString('hex')}.cptmp`);
}

/** Links `tmp` to `final` unless `final` exists; always removes `tmp`. Returns whether it published. */
async function linkNoOverwrite(tmp: string, final: string): Promise<boolean> {
  try {
    await fs.link(tmp, final);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/**
 * Writes `data` to exactly `file`, durably and atomically; never overwrites.
 * @returns true when written now, false when `file` already existed
 */
export async function writeFileExact(file: string, data: Buffer | string): Promise<boolean> {
  const dir = path.dirname(file);
  const tmp = tempNameIn(dir, file);
  const h = await fs.open(tmp, 'wx');
  try {
    await h.writeFile(data);
    await h.sync();
  } catch (err) {
    await h.close();
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await h.close();
  const published = await linkNoOverwrite(tmp, file);
  await fsyncDir(dir);
  return published;
}

/**
 * Moves `src` to exactly `dest` without overwriting; works across filesystems.
 * @returns true when moved now, false when `dest` already existed (then `src` is left alone)
 */
export async function moveFileExact(src: string, dest: string): Promise<boolean> {
  const dir = path.dirname(dest);
  try {
    await fs.link(src, dest);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'ENOTSUP') throw err;
    // Different filesystem (or no hard links there, e.g. some SMB mounts): copy, publish, remove.
    const tmp = tempNameIn(dir, dest);
    await fs.copyFile(src, tmp, fs.constants.COPYFILE_EXCL);
    const h = await fs.open(tmp, 'r+');
    try {
      await h.sync();
    } finally {
      await h.close();
    }
    if (!(await linkNoOverwrite(tmp, dest))) return false;
  }
  await fsyncDir(dir);
  await fs.rm(src, { force: true });
  await fsyncDir(path.dirname(src)).catch(() => undefined);
  return true;
}
