/**
 * Delivery: puts a job's outputs into `output/<session>/`, moves originals to
 * `archive/<session>/` or `failed/<session>/`, exactly once.
 *
 * Every destination is reserved in the catalog's delivery manifest before it
 * is written (see docs/job-lifecycle.md), then published without ever
 * overwriting (temp file in the destination folder, fsync, hard link, fsync of
 * the folder). A restart after a crash re-runs the same steps: a reserved path
 * that already exists was published by the earlier attempt and is kept.
 *
 * An original is moved only while it is still the catalogued file (same size
 * and mtime, or else same content hash): a shot replaced under the same name
 * while its job ran is a new version with its own job and stays in the inbox,
 * and a shot deleted meanwhile counts as archived. Temp files that killed
 * attempts left beside a job's reserved paths are removed when it settles.
 */
import { existsSync, type Stats } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Catalog, DeliveryKind, DeliveryRow, FileRow, JobContext } from '../catalog/catalog.js';
import { hashFile } from '../catalog/ingest.js';
import type { ShareConfig } from '../config/schema.js';
import { CleanplateError, toCleanplateError } from '../errors.js';
import { moveFileExact, removeTempFiles, writeFileExact } from './atomic.js';
import type { EncodedOutput } from './encode.js';

/** What the rendering stage hands to delivery. */
export interface RenderedJob {
  outputs: EncodedOutput[];
  /** Sidecar content (without the output names, which delivery adds), or undefined when sidecars are off. */
  sidecar?: Record<string, unknown>;
  warnings: string[];
  timingsMs: Record<string, number>;
}

/** The JSON stored in `jobs.result` for a done job (read by notifications and `status`). */
export interface JobResult {
  outputs: string[];
  sidecar: string | null;
  archivedTo: string | null;
  timingsMs: Record<string, number>;
  warnings: string[];
}

/** Folder of a session's files under a root (output/, archive/ or failed/), keeping sub-folders of the session. */
export function sessionDir(root: string, session: string, relPath: string): string {
  const dir = path.posix.dirname(relPath.replace(/\\/g, '/'));
  return path.join(root, ...session.split('/'), ...(dir === '.' ? [] : dir.split('/')));
}

/** `a/shot-01.jpg` → { stem: 'shot-01', tail: '.jpg' + extra }: collisions number the stem (`shot-01 (2).jpg`). */
function splitName(relPath: string, extra = ''): { stem: string; tail: string } {
  const base = path.posix.basename(relPath.replace(/\\/g, '/'));
  const ext = path.extname(base);
  return { stem: ext ? base.slice(0, -ext.length) : base, tail: ext + extra };
}

/** Whether a job's outputs were all published by an earlier attempt (so rendering can be skipped). */
export function outputsComplete(catalog: Catalog, jobId: number): boolean {
  const rows = catalog.deliveriesOfJob(jobId, ['output', 'sidecar']);
  return rows.length > 0 && rows.every((r) => r.done === 1);
}

async function publish(catalog: Catalog, row: DeliveryRow, data: Buffer | string): Promise<void> {
  if (row.done) return;
  await writeFileExact(row.path, data);
  catalog.markDelivered(row.id);
}

/** What became of a catalogued file that was to be moved to its reserved path. */
type MoveOutcome =
  /** It is at the reserved path (moved now or by an earlier attempt). */
  | 'moved'
  /** It was gone from its location: nothing to move. */
  | 'vanished'
  /** Its location holds other content now (a new version): left there, nothing moved. */
  | 'replaced';

async function statOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await fs.stat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/**
 * Whether the file at `file.location` is still the catalogued one: same size
 * and mtime (as ingest recognises a known file), or, when only the mtime
 * differs (a cross-device copy keeps whole milliseconds), the same content hash.
 */
export async function locationState(file: FileRow): Promise<'same' | 'vanished' | 'replaced'> {
  const st = await statOrUndefined(file.location);
  if (!st) return 'vanished';
  if (!st.isFile() || st.size !== file.size) return 'replaced';
  if (Math.round(st.mtimeMs) === file.mtime_ms) return 'same';
  return (await hashFile(file.location)) === file.hash ? 'same' : 'replaced';
}

/** Whether two existing paths are the same file: one inode (a hard link), or the same size and content (a copy). */
async function sameFile(a: string, b: string): Promise<boolean> {
  const [sa, sb] = await Promise.all([fs.stat(a), fs.stat(b)]);
  if (sa.dev === sb.dev && sa.ino === sb.ino) return true;
  if (sa.size !== sb.size) return false;
  const [ha, hb] = await Promise.all([hashFile(a), hashFile(b)]);
  return ha === hb;
}

/**
 * Moves a catalogued file to its reserved path exactly once. The file is
 * moved only while its location still holds it (see `locationState`); when it
 * is gone or replaced, there is nothing of it left to move and the step is
 * recorded as done. A reserved path that exists was filled by an earlier
 * attempt (a crash between publishing and removing the source: the source,
 * the same inode or an identical copy, is removed now).
 */
async function moveReserved(catalog: Catalog, row: DeliveryRow, file: FileRow): Promise<MoveOutcome> {
  if (row.done) {
    if (!existsSync(row.path)) return 'vanished'; // an earlier attempt found nothing to move
    catalog.setLocation(file.id, row.path);
    return 'moved';
  }
  const state = await locationState(file);
  if (state === 'same') {
    if (!(await moveFileExact(file.location, row.path))) {
      // A crash between publishing and removing the source: the reserved copy is ours if it is the same file.
      if (!(await sameFile(file.location, row.path))) throw new CleanplateError('internal', `${row.path} exists but is not ${file.location}`);
      await fs.rm(file.location);
    }
  } else if (!existsSync(row.path)) {
    // Deleted by hand, or replaced by a new version (catalogued as its own file and job): this one's content is gone.
    catalog.markDelivered(row.id);
    return state;
  }
  // Moved now, or by an earlier attempt (the source went away after being published at the reserved path).
  catalog.markDelivered(row.id);
  catalog.setLocation(file.id, row.path);
  return 'moved';
}

/** Why an original was not moved, for the log and the job's warnings. */
function notMovedNote(outcome: Exclude<MoveOutcome, 'moved'>, rel: string, location: string, to: string): string {
  return outcome === 'vanished'
    ? `${rel} vanished from the inbox before it could be ${to} (was ${location}); nothing to move`
    : `${rel} was replaced by a new version while this one was processed; the new file stays for its own job and this version's original is not ${to} (it is gone)`;
}

/**
 * Removes temp files that killed attempts left beside the paths a job writes
 * (its outputs, sidecar, error note) or moves its shot to (archive, failed):
 * only `.<name>.<pid>.<random>.tmp` files of those exact names.
 * Call it when no attempt of the job is writing. Best effort: a leftover that
 * cannot be removed now is tried again the next time, and never fails a job.
 */
async function removeLeftoverTemps(catalog: Catalog, ctx: JobContext): Promise<void> {
  const rows = [...catalog.deliveriesOfJob(ctx.job.id), ...catalog.deliveriesOfFile(ctx.shot.id)];
  for (const p of new Set(rows.map((r) => r.path))) await removeTempFiles(p).catch(() => 0);
}

/**
 * Publishes a rendered job: outputs + sidecar into output/<session>/, the
 * original to archive/<session>/ (unless `keepOriginals: leave`), then marks
 * the job done and settled, all idempotently.
 * @param rendered undefined when an earlier attempt already published every output
 */
export async function deliverJob(catalog: Catalog, ctx: JobContext, share: ShareConfig, rendered: RenderedJob | undefined): Promise<JobResult> {
  const outDir = sessionDir(share.output, ctx.session, ctx.shot.rel_path);
  const { stem } = splitName(ctx.shot.rel_path);
  try {
    // A retried job: temps of its killed attempts are not needed any more.
    if (ctx.job.attempts > 1) await removeLeftoverTemps(catalog, ctx);
    let rows = catalog.deliveriesOfJob(ctx.job.id, ['output', 'sidecar']);
    if (rendered) {
      const entries: { kind: DeliveryKind; slot: string; stem: string; tail: string }[] = rendered.outputs.map((o) => ({
        kind: 'output',
        slot: o.kind,
        stem,
        tail: `${o.suffix}${o.ext}`,
      }));
      if (rendered.sidecar) entries.push({ kind: 'sidecar', slot: 'sidecar', stem, tail: '.json' });
      await fs.mkdir(outDir, { recursive: true });
      rows = catalog.reserveGroup({ jobId: ctx.job.id }, outDir, entries, existsSync);
      for (let k = 0; k < rendered.outputs.length; k++) await publish(catalog, rows[k], rendered.outputs[k].data);
      if (rendered.sidecar) {
        const sidecar = {
          ...rendered.sidecar,
          outputs: rows.filter((r) => r.kind === 'output').map((r) => path.basename(r.path)),
        };
        await publish(catalog, rows[rows.length - 1], `${JSON.stringify(sidecar, null, 2)}\n`);
      }
    }
    let archivedTo: string | null = null;
    const warnings = [...(rendered?.warnings ?? [])];
    if (share.keepOriginals === 'archive') {
      const dir = sessionDir(share.archive, ctx.session, ctx.shot.rel_path);
      await fs.mkdir(dir, { recursive: true });
      const [row] = catalog.reserveGroup({ fileId: ctx.shot.id }, dir, [
        { kind: 'archive', slot: 'archive', ...splitName(ctx.shot.rel_path) },
      ], existsSync);
      // The outputs are complete: an original that vanished or was replaced meanwhile does not undo the delivery.
      const outcome = await moveReserved(catalog, row, ctx.shot);
      if (outcome === 'moved') archivedTo = row.path;
      else warnings.push(notMovedNote(outcome, ctx.shot.rel_path, ctx.shot.location, 'archived'));
    }
    const result: JobResult = {
      outputs: rows.filter((r) => r.kind === 'output').map((r) => r.path),
      sidecar: rows.find((r) => r.kind === 'sidecar')?.path ?? null,
      archivedTo,
      timingsMs: rendered?.timingsMs ?? {},
      warnings,
    };
    catalog.db
      .transaction(() => {
        catalog.transition(ctx.job.id, 'delivered', result.outputs.map((p) => path.basename(p)).join(', '), {
          result: JSON.stringify(result),
        });
        catalog.settle(ctx.job.id);
      })
      .immediate();
    await removeLeftoverTemps(catalog, ctx);
    return result;
  } catch (err) {
    throw toCleanplateError(err, `delivering ${ctx.session}/${ctx.shot.rel_path}`);
  }
}

/**
 * Settles a failed job: the shot goes to failed/<session>/ with
 * `<name>.error.txt` beside it saying why. A shot that vanished (or was
 * replaced by a new version, which stays for its own job) still gets its
 * error note. Idempotent like `deliverJob`.
 */
export async function settleFailedJob(catalog: Catalog, ctx: JobContext, share: ShareConfig, reason: string): Promise<string> {
  const dir = sessionDir(share.failed, ctx.session, ctx.shot.rel_path);
  const name = path.posix.basename(ctx.shot.rel_path);
  await fs.mkdir(dir, { recursive: true });
  const [moveRow, noteRow] = catalog.reserveGroup({ jobId: ctx.job.id, fileId: ctx.shot.id }, dir, [
    { kind: 'failed', slot: 'failed', ...splitName(name) },
    { kind: 'error-note', slot: 'error-note', ...splitName(name, '.error.txt') },
  ], existsSync);
  const outcome = await moveReserved(catalog, moveRow, ctx.shot);
  const note = [
    `cleanplate could not process ${ctx.session}/${ctx.shot.rel_path}`,
    `reason: ${reason}`,
    `attempts: ${ctx.job.attempts}`,
    `job: ${ctx.job.id}`,
    `at: ${new Date().toISOString()}`,
    outcome === 'moved'
      ? `file: ${path.basename(moveRow.path)} (beside this note)`
      : outcome === 'vanished'
        ? 'file: it vanished from the inbox before it could be moved'
        : 'file: it was replaced by a new version (processed as its own job) before it could be moved',
    `retry: cleanplate retry ${ctx.job.id}   (or: cleanplate retry ${ctx.session})`,
    '',
  ].join('\n');
  await publish(catalog, noteRow, note);
  catalog.settle(ctx.job.id);
  await removeLeftoverTemps(catalog, ctx);
  return moveRow.path;
}

/** Moves a plate (or any catalogued file) to archive/<session>/ exactly once. */
export async function archiveFile(catalog: Catalog, file: FileRow, session: string, share: ShareConfig): Promise<string> {
  if (share.keepOriginals !== 'archive') return file.location;
  const dir = sessionDir(share.archive, session, file.rel_path);
  await fs.mkdir(dir, { recursive: true });
  const [row] = catalog.reserveGroup({ fileId: file.id }, dir, [
    { kind: 'archive', slot: 'archive', ...splitName(file.rel_path) },
  ], existsSync);
  // Deleted by hand or replaced by a new version: nothing of this file left to move.
  return (await moveReserved(catalog, row, file)) === 'moved' ? row.path : file.location;
}

/**
 * Moves a second copy of an already-catalogued file (same content dropped
 * again) out of the inbox into archive/<session>/, so the inbox empties and
 * nothing is processed twice or lost.
 */
export async function archiveDuplicate(
  catalog: Catalog,
  original: FileRow,
  duplicatePath: string,
  session: string,
  relPath: string,
  share: ShareConfig,
): Promise<string> {
  const dir = sessionDir(share.archive, session, relPath);
  await fs.mkdir(dir, { recursive: true });
  const [row] = catalog.reserveGroup({ fileId: original.id }, dir, [
    { kind: 'duplicate', slot: `duplicate:${relPath}:${Date.now()}`, ...splitName(relPath) },
  ], existsSync);
  if (!(await moveFileExact(duplicatePath, row.path))) {
    throw new CleanplateError('internal', `${row.path} appeared while archiving a duplicate`);
  }
  catalog.markDelivered(row.id);
  return row.path;
}
