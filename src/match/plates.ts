/**
 * Pure matching rules: which folder a file's session is, which files are
 * plates, and which plate each shot uses. No I/O here; the catalog calls these.
 */
import path from 'node:path';

/** Where a file sits relative to its share's inbox. */
export interface SessionPath {
  /** Session name: the first `depth` folders below the inbox, joined with '/'. */
  session: string;
  /** The file's path inside its session folder ('/'-separated). */
  within: string;
}

/**
 * Splits an inbox-relative path into session and remainder.
 * Returns null when the file is not at least `depth` folders deep (a file
 * dropped loose in the inbox belongs to no session).
 * @param relPath path relative to the inbox, with '/' or the platform separator
 * @param depth number of folder levels that make up a session name (>= 1)
 */
export function sessionOf(relPath: string, depth: number): SessionPath | null {
  const parts = relPath.split(/[\\/]+/).filter((p) => p !== '' && p !== '.');
  if (parts.some((p) => p === '..')) return null;
  if (parts.length <= depth) return null;
  return { session: parts.slice(0, depth).join('/'), within: parts.slice(depth).join('/') };
}

/** Converts a file-name glob (`*`, `?`, `[abc]`) into an anchored, case-insensitive RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
        re += `[${body.startsWith('!') ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i');
}

/**
 * Why a glob cannot be compiled by {@link globToRegExp} (e.g. a character
 * class with a reversed range, `[z-a]`), or undefined when it is usable. The
 * config schema checks every glob option with this, so a bad pattern is a
 * config error at load instead of a crash when the pattern is first used.
 */
export function globProblem(glob: string): string | undefined {
  try {
    globToRegExp(glob);
    return undefined;
  } catch (err) {
    // "Invalid regular expression: /^[z-a].*$/i: Range out of order in character class": keep the reason.
    const message = err instanceof Error ? err.message : String(err);
    const reason = message.slice(message.lastIndexOf(': ') + 2) || message;
    return reason.charAt(0).toLowerCase() + reason.slice(1);
  }
}

/**
 * Whether a file name marks a plate under the configured patterns
 * (matched against the base name only, case-insensitively).
 */
export function isPlateName(fileName: string, patterns: readonly string[]): boolean {
  const base = path.posix.basename(fileName.replace(/\\/g, '/'));
  return patterns.some((p) => globToRegExp(p).test(base));
}

/** A catalogued plate as the matcher sees it. */
export interface PlateCandidate {
  id: number;
  /** Capture time in ms since the epoch (EXIF DateTimeOriginal, else mtime). */
  capturedAt: number;
}

/**
 * Picks the plate a shot uses: the latest plate captured at or before the shot
 * (lighting may change during a session, so each shot takes the plate shot
 * most recently before it). When every plate was captured after the shot
 * (a plate shot at the end of the session), the earliest plate is used.
 * Ties on capture time go to the plate with the higher id (the newer version).
 * @returns the chosen plate's id, or null when the session has no plate yet
 */
export function pickPlate(shotCapturedAt: number, plates: readonly PlateCandidate[]): number | null {
  if (plates.length === 0) return null;
  let before: PlateCandidate | null = null;
  let earliest: PlateCandidate = plates[0];
  for (const p of plates) {
    if (p.capturedAt <= shotCapturedAt && (!before || p.capturedAt > before.capturedAt || (p.capturedAt === before.capturedAt && p.id > before.id))) {
      before = p;
    }
    if (p.capturedAt < earliest.capturedAt || (p.capturedAt === earliest.capturedAt && p.id > earliest.id)) earliest = p;
  }
  return (before ?? earliest).id;
}
