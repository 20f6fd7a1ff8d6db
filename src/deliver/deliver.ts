/**
 * Delivery: puts a job's outputs into `output/<session>/`, moves originals to
 * `archive/<session>/` or `failed/<session>/`, exactly once.
 *
 * Every destination is reserved in the catalog's delivery manifest before it
 * is written (see docs/job-lifecycle.md), then published without ever
 * overwriting (temp file in the destination folder, fsync, hard link, fsync of
 * the folder). A restart after a crash re-runs the same steps: a reserved path
 * that already exists was published by the earlier attempt and is kept.
 */
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Catalog, DeliveryKind, DeliveryRow, FileRow, JobContext } from '../catalog/catalog.js';
import type { ShareConfig } from '../config/schema.js';
import { CleanplateError, toCleanplateError } from '../errors.js';
import { moveFileExact, writeFileExact } from './atomic.js';
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

/**
 * Moves a file to its reserved path exactly once. A source that is gone while
 * the destination exists means an earlier attempt already moved it.
 */
async function moveReserved(catalog: Catalog, row: DeliveryRow, file: FileRow): Promise<void> {
  if (!row.done) {
    if (existsSync(file.location)) {
      if (!(await moveFileExact(file.location, row.path))) {
        // A crash between link and unlink: the reserved copy is ours if it is the same file.
        const [a, b] = await Promise.all([fs.stat(file.location), fs.stat(row.path)]);
        if (a.size !== b.size) throw new CleanplateError('internal', `${row.path} exists but is not ${file.location}`);
        await fs.rm(file.location);
      }
    } else if (!existsSync(row.path)) {
      throw new CleanplateError('missing', `${file.rel_path} vanished before it could be moved (was ${file.location})`);
    }
    catalog.markDelivered(row.id);
  }
  catalog.setLocation(file.id, row.path);
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
    if (share.keepOriginals === 'archive') {
      const dir = sessionDir(share.archive, ctx.session, ctx.shot.rel_path);
      await fs.mkdir(dir, { recursive: true });
      const [row] = catalog.reserveGroup({ fileId: ctx.shot.id }, dir, [
        { kind: 'archive', slot: 'archive', ...splitName(ctx.shot.rel_path) },
      ], existsSync);
      await moveReserved(catalog, row, ctx.shot);
      archivedTo = row.path;
    }
    const result: JobResult = {
      outputs: rows.filter((r) => r.kind === 'output').map((r) => r.path),
      sidecar: rows.find((r) => r.kind === 'sidecar')?.path ?? null,
      archivedTo,
      timingsMs: rendered?.timingsMs ?? {},
      warnings: rendered?.warnings ?? [],
    };
    catalog.db
      .transaction(() => {
        catalog.transition(ctx.job.id, 'delivered', result.outputs.map((p) => path.basename(p)).join(', '), {
          result: JSON.stringify(result),
        });
        catalog.settle(ctx.job.id);
      })
      .immediate();
    return result;
  } catch (err) {
    throw toCleanplateError(err, `delivering ${ctx.session}/${ctx.shot.rel_path}`);
  }
}

/**
 * Settles a failed job: the shot goes to failed/<session>/ with
 * `<name>.error.txt` beside it saying why. A shot that vanished still gets
 * its error note. Idempotent like `deliverJob`.
 */
export async function settleFailedJob(catalog: Catalog, ctx: JobContext, share: ShareConfig, reason: string): Promise<string> {
  const dir = sessionDir(share.failed, ctx.session, ctx.shot.rel_path);
  const name = path.posix.basename(ctx.shot.rel_path);
  await fs.mkdir(dir, { recursive: true });
  const [moveRow, noteRow] = catalog.reserveGroup({ jobId: ctx.job.id, fileId: ctx.shot.id }, dir, [
    { kind: 'failed', slot: 'failed', ...splitName(name) },
    { kind: 'error-note', slot: 'error-note', ...splitName(name, '.error.txt') },
  ], existsSync);
  const present = existsSync(ctx.shot.location) || existsSync(moveRow.path);
  if (present) await moveReserved(catalog, moveRow, ctx.shot);
  const note = [
    `cleanplate could not process ${ctx.session}/${ctx.shot.rel_path}`,
    `reason: ${reason}`,
    `attempts: ${ctx.job.attempts}`,
    `job: ${ctx.job.id}`,
    `at: ${new Date().toISOString()}`,
    present ? `file: ${path.basename(moveRow.path)} (beside this note)` : 'file: it vanished from the inbox before it could be moved',
    `retry: cleanplate retry ${ctx.job.id}   (or: cleanplate retry ${ctx.session})`,
    '',
  ].join('\n');
  await publish(catalog, noteRow, note);
  catalog.settle(ctx.job.id);
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
  if (!row.done && !existsSync(file.location) && !existsSync(row.path)) {
    catalog.markDelivered(row.id); // nothing left to move (deleted by hand)
    return file.location;
  }
  await moveReserved(catalog, row, file);
  return row.path;
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
