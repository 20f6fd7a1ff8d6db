/**
 * Live reload of the config file: watch it, re-validate on change, hand a
 * valid new config to the daemon with the list of changed settings, keep the
 * old one when the new text is invalid.
 *
 * Settings the daemon applies live: shares (InboxWatcher.updateConfig),
 * watch.*, plates.*, jobs.*, limits.*, engine.*, postprocess.* and outputs.*
 * (changes to engine, limits, postprocess, outputs and jobs.concurrency
 * restart the render workers between jobs; jobs.timeoutSec applies to the
 * next render without a restart), notify.*, schedule.*,
 * retention.*, logging.level. The ones in {@link RESTART_REQUIRED} need a
 * restart (the daemon logs a warning naming them and keeps running with the
 * old values).
 */
import path from 'node:path';
import { watch } from 'chokidar';
import { CleanplateError } from '../errors.js';
import { ConfigError, loadConfig } from './load.js';
import type { Config } from './schema.js';

/**
 * Settings (dotted path prefixes) that take effect only after a restart:
 * - `catalog.path`: the SQLite writer holds the database open;
 * - `logging.dir`, `logging.maxSize`, `logging.maxFiles`, `logging.console`:
 *   the log transports are created at start-up (`logging.level` applies live).
 */
export const RESTART_REQUIRED: readonly string[] = ['catalog.path', 'logging.dir', 'logging.maxSize', 'logging.maxFiles', 'logging.console'];

/** The changed paths (from {@link diffConfig}) that need a restart to take effect. */
export function restartRequired(changed: readonly string[]): string[] {
  return changed.filter((p) => RESTART_REQUIRED.some((r) => p === r || p.startsWith(`${r}.`) || p.startsWith(`${r}[`)));
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => deepEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
    for (const k of keys) if (!deepEqual(a[k], b[k])) return false;
    return true;
  }
  return false;
}

function diffInto(a: unknown, b: unknown, at: string, out: string[]): void {
  if (at === 'shares' && Array.isArray(a) && Array.isArray(b)) {
    // Shares are identified by name, not position: reordering is no change.
    const byName = (list: unknown[]) =>
      new Map(list.filter(isPlainObject).map((s) => [String(s.name), s] as const));
    const pa = byName(a);
    const pb = byName(b);
    for (const name of new Set([...pa.keys(), ...pb.keys()])) {
      const sa = pa.get(name);
      const sb = pb.get(name);
      if (!sa || !sb) out.push(`shares[${name}]`);
      else diffInto(sa, sb, `shares[${name}]`, out);
    }
    return;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) diffInto(a[k], b[k], at ? `${at}.${k}` : k, out);
    return;
  }
  if (!deepEqual(a, b)) out.push(at || '(top level)');
}

/**
 * Lists the settings that differ between two configs as dotted paths, e.g.
 * `watch.stableMs`, `shares[studio-a].polling`, `shares[studio-b]` (a share
 * added or removed). Lists are compared whole (`watch.extensions`). Sorted.
 */
export function diffConfig(prev: Config, next: Config): string[] {
  const out: string[] = [];
  diffInto(prev, next, '', out);
  return out.sort();
}

/** Options of {@link watchConfigFile}. */
export interface WatchConfigOptions {
  /** Quiet time after the last change before the file is read (default 300 ms; editors write in steps). */
  debounceMs?: number;
  /** Poll the file instead of using inotify (a config on a network mount). Default false. */
  polling?: boolean;
  /** Polling interval (default 1000 ms). */
  pollIntervalMs?: number;
}

/** Handle returned by {@link watchConfigFile}. */
export interface ConfigWatch {
  /** Stops watching; resolves when the file watcher and timers are gone. */
  close(): Promise<void>;
}

/**
 * Watches a config file. On every (debounced) change the file is loaded and
 * validated like at start-up (`loadConfig`, paths resolved):
 * - valid and different: `onChange(next, prev)`, and `next` becomes current;
 * - valid and identical: nothing;
 * - invalid or unreadable: `onInvalid(err)`, the current config stays.
 *
 * The file's folder is watched, not the file, so editors that save by
 * writing a temporary file and renaming it over the original are seen.
 * Exceptions thrown by the callbacks, and rejections of the promises they
 * return, are turned into process warnings.
 * @param file the config file the daemon was started with
 * @param current the config loaded from it (with resolved paths)
 */
export function watchConfigFile(
  file: string,
  current: Config,
  onChange: (next: Config, prev: Config) => unknown,
  onInvalid: (err: ConfigError) => void,
  options: WatchConfigOptions = {},
): ConfigWatch {
  const abs = path.resolve(file);
  const dir = path.dirname(abs);
  const debounceMs = options.debounceMs ?? 300;
  let timer: NodeJS.Timeout | undefined;
  let loading: Promise<void> | undefined;
  let again = false;
  let closed = false;

  const warn = (err: unknown) =>
    process.emitWarning(`config reload callback failed: ${(err as Error)?.message ?? String(err)}`, { code: 'CLEANPLATE_CONFIG' });
  /** Runs a callback; a throw or a rejected promise it returns becomes a process warning, never a crash. */
  const safely = (fn: () => unknown) => {
    try {
      const r = fn();
      if (typeof (r as PromiseLike<unknown> | undefined)?.then === 'function') Promise.resolve(r).catch(warn);
    } catch (err) {
      warn(err);
    }
  };

  const reload = async (): Promise<void> => {
    let next: Config;
    try {
      next = await loadConfig(abs);
    } catch (err) {
      if (closed) return;
      const invalid =
        err instanceof ConfigError
          ? err
          : new ConfigError(abs, [{ where: '(file)', message: err instanceof CleanplateError ? err.message : String(err) }]);
      safely(() => onInvalid(invalid));
      return;
    }
    if (closed || diffConfig(current, next).length === 0) return;
    const prev = current;
    current = next;
    safely(() => onChange(next, prev));
  };

  const run = () => {
    if (closed) return;
    if (loading) {
      again = true; // changed again while reading: read once more afterwards
      return;
    }
    loading = reload().finally(() => {
      loading = undefined;
      if (again && !closed) {
        again = false;
        run();
      }
    });
  };

  const poke = (p: string) => {
    if (closed || path.resolve(p) !== abs) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      run();
    }, debounceMs);
  };

  const fsw = watch(dir, {
    persistent: true,
    ignoreInitial: true,
    depth: 0,
    usePolling: options.polling ?? false,
    interval: options.pollIntervalMs ?? 1000,
    binaryInterval: options.pollIntervalMs ?? 1000,
    atomic: false,
    ignored: (p: string) => {
      const r = path.resolve(p);
      return r !== dir && r !== abs;
    },
  });
  fsw.on('add', poke);
  fsw.on('change', poke);
  fsw.on('unlink', poke);
  fsw.on('error', (err) => {
    if (!closed) process.emitWarning(`watching ${abs}: ${(err as Error)?.message ?? String(err)}`, { code: 'CLEANPLATE_CONFIG' });
  });

  return {
    async close() {
      if (closed) return;
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await fsw.close();
      await loading;
    },
  };
}
