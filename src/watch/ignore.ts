/**
 * Which files in an inbox the daemon never touches: writers' temporary names
 * and operating-system litter (see shared notes on hot folders), plus
 * configured extra globs and non-image extensions. Pure.
 */
import path from 'node:path';
import { globToRegExp } from '../match/plates.js';

/** Temporary and system names that are always ignored. */
const ALWAYS: RegExp[] = [
  /^\./, // dot-files: .DS_Store, macOS ._name, rsync .name.XXXXXX
  /^~\$/, // Office/Windows lock files
  /^thumbs\.db$/i,
  /^desktop\.ini$/i,
  /\.(part|filepart|partial|crdownload|download|tmp|temp|swp)$/i,
];

/** Compiles the ignore decision for one configuration. */
export function makeIgnore(options: { extensions: readonly string[]; ignore: readonly string[] }): (relPath: string) => boolean {
  const extra = options.ignore.map(globToRegExp);
  const exts = new Set(options.extensions.map((e) => e.toLowerCase()));
  /**
   * @param relPath path relative to the inbox ('/' or platform separators)
   * @returns true when the file (or any folder on its path) must be ignored
   */
  return (relPath: string) => {
    const parts = relPath.split(/[\\/]+/).filter(Boolean);
    if (parts.some((p) => ALWAYS.some((re) => re.test(p)) || extra.some((re) => re.test(p)))) return true;
    const base = parts[parts.length - 1] ?? '';
    return !exts.has(path.extname(base).toLowerCase());
  };
}
