/**
 * Catalog stage: a complete file reported by the watcher becomes a catalogued
 * plate or shot (or is recognised as known, renamed or a duplicate copy).
 *
 * Identity is the content hash within the session: a file whose path, size
 * and mtime are unchanged is known without re-hashing; a moved file keeps its
 * identity; a second copy of processed content is archived, not processed.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import path from 'node:path';
import type { Config, ShareConfig } from '../config/schema.js';
import { capturedAtOf } from '../image/io.js';
import { isPlateName, sessionOf } from '../match/plates.js';
import type { Catalog, FileRow } from './catalog.js';

/** A complete file as the watcher reports it. */
export interface IncomingFile {
  share: string;
  absPath: string;
  /** Path relative to the share's inbox, posix separators. */
  relPath: string;
  size: number;
  mtimeMs: number;
}

/** What ingesting a file did. */
export type IngestOutcome =
  | { action: 'outside-session'; reason: string }
  | { action: 'known'; file: FileRow }
  | { action: 'renamed'; file: FileRow }
  | { action: 'duplicate'; original: FileRow; session: string; within: string }
  | { action: 'new'; file: FileRow; session: string };

/** sha256 of a file's bytes, hex. */
export function hashFile(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => h.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/**
 * Plate or shot, by the configured rule. `first-frame`: the first file of a
 * session to arrive complete is its plate.
 */
export function classify(within: string, sessionHasFiles: boolean, plates: Config['plates']): 'plate' | 'shot' {
  if (plates.mode === 'first-frame') return sessionHasFiles ? 'shot' : 'plate';
  return isPlateName(within, plates.patterns) ? 'plate' : 'shot';
}

/**
 * Catalogues one complete file.
 * @param share the share's config; `config` supplies plate rules
 */
export async function ingestFile(catalog: Catalog, config: Config, share: ShareConfig, ev: IncomingFile): Promise<IngestOutcome> {
  const sp = sessionOf(ev.relPath, share.sessionDepth);
  if (!sp) {
    return {
      action: 'outside-session',
      reason: `${ev.relPath} is not inside a session folder (${share.sessionDepth} level(s) below the inbox); left in place`,
    };
  }
  const known = catalog.findUnchanged(share.name, sp.session, sp.within, ev.size, ev.mtimeMs);
  if (known && known.location === ev.absPath) return { action: 'known', file: known };
  const hash = await hashFile(ev.absPath);
  const same = catalog.findByHash(share.name, sp.session, hash);
  if (same && same.location !== ev.absPath && existsSync(same.location)) {
    return { action: 'duplicate', original: same, session: sp.session, within: sp.within };
  }
  const capturedAt =
    config.plates.captureTime === 'mtime' ? ev.mtimeMs : ((await capturedAtOf(ev.absPath))?.getTime() ?? ev.mtimeMs);
  const kind = same ? same.kind : classify(path.posix.basename(sp.within), catalog.sessionFileCount(share.name, sp.session) > 0, config.plates);
  const { file, isNew } = catalog.recordFile({
    share: share.name,
    session: sp.session,
    relPath: sp.within,
    kind,
    size: ev.size,
    mtimeMs: ev.mtimeMs,
    hash,
    capturedAt,
    location: ev.absPath,
  });
  return isNew ? { action: 'new', file, session: sp.session } : { action: 'renamed', file };
}
