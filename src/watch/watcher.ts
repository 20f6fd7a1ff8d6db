/**
 * Watches every share's inbox (chokidar: inotify, or polling for SMB/NFS) and
 * reports each complete version of an image file exactly once.
 *
 * Watch events are hints only (see the shared notes on hot folders): every
 * non-ignored file seen by an event, the initial scan or a rescan is tracked
 * here and a sweep (every stableMs/2 while anything is pending) runs
 * `checkComplete` on it: size and mtime stable for `watch.stableMs`, end
 * marker present, full decode. chokidar's `awaitWriteFinish` is not used (it
 * skips files found by the initial scan). `rescan()`, run by the daemon on the
 * `schedule.rescan` cron and once more a moment after a new folder appears
 * (polling can miss a file created right after its folder), catches missed
 * events; an inbox that vanishes
 * (unmounted share) is reported and looked for again until it is back.
 *
 * Events:
 * - `file` ({@link WatchedFile}): a complete version, once per size+mtime.
 * - `incomplete` ({@link IncompleteFile}): stable but undecodable for
 *   `watch.incompleteTimeoutMin` (a cancelled copy); once per version.
 * - `removed` ({@link RemovedFile}): a tracked file disappeared (moved to
 *   archive/failed by the daemon, renamed, deleted).
 * - `error` (CleanplateError, share name or undefined): watcher problems; the
 *   watcher keeps running. Without an `error` listener they become process
 *   warnings instead of throwing.
 */
import { EventEmitter } from 'node:events';
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Config, ShareConfig } from '../config/schema.js';
import { CleanplateError, toCleanplateError } from '../errors.js';
import { checkComplete, statFresh, versionKey, type Observation } from './complete.js';
import { makeIgnore } from './ignore.js';

/** A complete image file in an inbox. */
export interface WatchedFile {
  /** Share name (config `shares[].name`). */
  share: string;
  /** Absolute path of the file. */
  absPath: string;
  /** Path relative to the share's inbox, '/'-separated. */
  relPath: string;
  /** Size in bytes of the version found complete. */
  size: number;
  /** Modification time of the version found complete. */
  mtimeMs: number;
}

/** A file that stayed incomplete past `watch.incompleteTimeoutMin`. */
export interface IncompleteFile extends WatchedFile {
  /** One-line reason, e.g. "JPEG end marker (EOI) is missing". */
  reason: string;
}

/** A tracked file that is gone from the inbox. */
export interface RemovedFile {
  share: string;
  absPath: string;
  relPath: string;
  /** Whether a `file` event was emitted for (some version of) it. */
  emitted: boolean;
}

/** Event signatures of {@link InboxWatcher}. */
export interface InboxWatcherEvents {
  file: [WatchedFile];
  incomplete: [IncompleteFile];
  removed: [RemovedFile];
  error: [CleanplateError, string | undefined];
}

/** Tuning of an {@link InboxWatcher}; the defaults suit the daemon. */
export interface InboxWatcherOptions {
  /** Folder levels watched below a session folder (default 4; chokidar depth = sessionDepth + this). */
  extraDepth?: number;
  /** How often every inbox is checked to be there (one stat each), and a vanished one looked for (default 5000 ms). */
  retryMs?: number;
  /** Use chokidar events (default true). false: scan-only, files are found by `start()` and `rescan()`. */
  watchEvents?: boolean;
  /** Completeness checks (decodes) run at the same time (default 2). */
  checkConcurrency?: number;
}

/** Ignore decisions for files and folders, compiled once per watch config. */
export interface CompiledIgnore {
  /** A file's inbox-relative path is ignored (temporary/system name, extension, glob). */
  file(relPath: string): boolean;
  /** A folder is ignored because its own name or a parent's name is (its extension does not matter). */
  dir(relPath: string): boolean;
}

/**
 * Compiles `makeIgnore` for files and derives the folder rule: a folder is
 * ignored exactly when a file with a neutral name inside it would be.
 */
export function compileIgnore(watchCfg: { extensions: readonly string[]; ignore: readonly string[] }): CompiledIgnore {
  const file = makeIgnore(watchCfg);
  const probe = watchCfg.extensions
    .flatMap((ext) => [`cleanplate-probe${ext}`, `x${ext}`, `0${ext}`])
    .find((name) => !file(name));
  return {
    file,
    dir: (rel) => (rel === '' ? false : probe === undefined ? true : file(`${rel}/${probe}`)),
  };
}

interface Entry {
  share: string;
  absPath: string;
  relPath: string;
  /** Observation of the version being checked; undefined when not yet looked at or settled. */
  obs?: Observation;
  /** Version key of the emitted `file` event. */
  emittedKey?: string;
  /** Version key of the emitted `incomplete` event. */
  reportedKey?: string;
  /** Needs a look in the next sweep. */
  pending: boolean;
  /** Bumped by every watch event. */
  gen: number;
  touchedAt: number;
  busy: boolean;
  dead: boolean;
}

/** Least delay between a new folder and the walk that follows it (scheduleFolderRescan). */
const FOLDER_RESCAN_MIN_MS = 1000;

interface ShareRuntime {
  cfg: ShareConfig;
  name: string;
  inbox: string;
  fsw?: FSWatcher;
  down: boolean;
  starting?: Promise<void>;
}

/**
 * Watches the inboxes of a configuration. Call `start()` once, `close()` at
 * the end; `updateConfig()` applies a reloaded config live.
 */
export class InboxWatcher extends EventEmitter<InboxWatcherEvents> {
  private cfg: Config;
  private ign: CompiledIgnore;
  private readonly opts: Required<InboxWatcherOptions>;
  private readonly shares = new Map<string, ShareRuntime>();
  private readonly entries = new Map<string, Entry>();
  private closed = false;
  /** Folders already reported as too deep to watch (share and relative path). */
  private readonly tooDeep = new Set<string>();
  private started = false;
  private sweepTimer?: NodeJS.Timeout;
  private sweeping?: Promise<void>;
  private healthTimer?: NodeJS.Timeout;
  private folderRescanTimer?: NodeJS.Timeout;
  private healthChecking?: Promise<void>;
  private rescanning?: Promise<void>;
  private readonly stopping = new Set<Promise<void>>();
  private closeSignal!: () => void;
  private readonly closedPromise = new Promise<void>((resolve) => (this.closeSignal = resolve));

  /**
   * @param config a validated config with resolved paths (loadConfig)
   */
  constructor(config: Config, options: InboxWatcherOptions = {}) {
    super();
    this.cfg = config;
    this.ign = compileIgnore(config.watch);
    this.opts = {
      extraDepth: options.extraDepth ?? 4,
      retryMs: options.retryMs ?? 5000,
      watchEvents: options.watchEvents ?? true,
      checkConcurrency: Math.max(1, options.checkConcurrency ?? 2),
    };
  }

  /** Starts watching every share; resolves when the initial scans are done (files are reported once stable). */
  async start(): Promise<void> {
    if (this.started) throw new CleanplateError('internal', 'InboxWatcher.start() called twice');
    this.started = true;
    for (const s of this.cfg.shares) this.shares.set(s.name, { cfg: s, name: s.name, inbox: path.resolve(s.inbox), down: false });
    await Promise.all([...this.shares.values()].map((rt) => this.startShare(rt)));
    this.startHealthTimer();
  }

  /** Number of files not yet settled (being written, or stuck and not yet reported). */
  get pendingCount(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.pending) n++;
    return n;
  }

  /**
   * Walks every inbox and tracks files the watch events missed; files that
   * are gone are reported `removed`. New files are reported once stable.
   * Concurrent calls share one walk.
   */
  rescan(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.rescanning ??= (async () => {
      try {
        for (const rt of [...this.shares.values()]) await this.rescanShare(rt);
      } finally {
        this.rescanning = undefined;
      }
    })();
    return this.rescanning;
  }

  /**
   * Applies a new config: shares added, removed or changed (inbox, polling,
   * interval, depth) and watch settings. Files pending in shares that keep
   * their inbox stay tracked.
   */
  async updateConfig(config: Config): Promise<void> {
    if (this.closed) return;
    const prev = this.cfg;
    this.cfg = config;
    const ignoreChanged =
      !sameList(prev.watch.extensions, config.watch.extensions) || !sameList(prev.watch.ignore, config.watch.ignore);
    if (ignoreChanged) {
      this.ign = compileIgnore(config.watch);
      for (const [abs, e] of this.entries) if (this.ign.file(e.relPath)) this.dropEntry(abs, e);
    }
    if (!this.started) return;
    const wanted = new Map(config.shares.map((s) => [s.name, s]));
    const restarts: Promise<void>[] = [];
    for (const [name, rt] of [...this.shares]) {
      if (wanted.has(name)) continue;
      this.shares.delete(name);
      restarts.push(this.stopShare(rt));
      for (const [abs, e] of this.entries) if (e.share === name) this.dropEntry(abs, e);
    }
    for (const s of config.shares) {
      const rt = this.shares.get(s.name);
      if (!rt) {
        const fresh: ShareRuntime = { cfg: s, name: s.name, inbox: path.resolve(s.inbox), down: false };
        this.shares.set(s.name, fresh);
        restarts.push(this.startShare(fresh));
        continue;
      }
      const inbox = path.resolve(s.inbox);
      const inboxChanged = inbox !== rt.inbox;
      const watchChanged =
        inboxChanged ||
        ignoreChanged ||
        s.polling !== rt.cfg.polling ||
        s.pollIntervalMs !== rt.cfg.pollIntervalMs ||
        s.sessionDepth !== rt.cfg.sessionDepth;
      rt.cfg = s;
      if (inboxChanged) {
        for (const [abs, e] of this.entries) if (e.share === s.name) this.dropEntry(abs, e);
        rt.inbox = inbox;
      }
      if (watchChanged) {
        restarts.push(
          this.stopShare(rt).then(() => {
            rt.down = false;
            return this.shares.get(s.name) === rt ? this.startShare(rt) : undefined;
          }),
        );
      }
    }
    await Promise.all(restarts);
    this.scheduleSweep();
  }

  /** Stops watching; no events are emitted afterwards and no timers remain. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closeSignal();
    for (const t of [this.sweepTimer, this.healthTimer, this.folderRescanTimer]) if (t) clearTimeout(t);
    this.sweepTimer = this.healthTimer = this.folderRescanTimer = undefined;
    await Promise.all([...this.shares.values()].map((rt) => this.stopShare(rt)));
    await Promise.allSettled([this.sweeping, this.rescanning, this.healthChecking]);
    await Promise.allSettled([...this.stopping]);
    this.entries.clear();
  }

  // ---- shares -------------------------------------------------------------

  /** Starts a share's watcher (or, scan-only, walks it); concurrent calls share one start. */
  private startShare(rt: ShareRuntime): Promise<void> {
    rt.starting ??= this.doStartShare(rt).finally(() => (rt.starting = undefined));
    return rt.starting;
  }

  private async doStartShare(rt: ShareRuntime): Promise<void> {
    if (this.closed) return;
    if (rt.fsw) await this.stopShare(rt);
    const st = await fs.stat(rt.inbox).catch((err: unknown) => err as Error);
    if (this.closed || this.shares.get(rt.name) !== rt) return;
    if (!(st instanceof Error) && !st.isDirectory()) {
      this.markDown(rt, `${rt.inbox} is not a folder`);
      return;
    }
    if (st instanceof Error) {
      this.markDown(rt, toCleanplateError(st).message);
      return;
    }
    if (!this.opts.watchEvents) {
      await this.rescanShare(rt);
      return;
    }
    const fsw = watch(rt.inbox, {
      persistent: true,
      ignoreInitial: false,
      usePolling: rt.cfg.polling,
      interval: rt.cfg.pollIntervalMs,
      binaryInterval: rt.cfg.pollIntervalMs,
      depth: rt.cfg.sessionDepth + this.opts.extraDepth,
      atomic: false,
      awaitWriteFinish: false,
      ignorePermissionErrors: true,
      ignored: (p: string, stats?: Stats) => this.chokidarIgnored(rt, p, stats),
    });
    rt.fsw = fsw;
    const live = () => !this.closed && rt.fsw === fsw;
    let ready = false; // folders found by the initial scan are not new
    fsw.on('addDir', () => live() && ready && this.scheduleFolderRescan(rt));
    fsw.on('add', (p) => live() && this.onFileEvent(rt, p));
    fsw.on('change', (p) => live() && this.onFileEvent(rt, p));
    fsw.on('unlink', (p) => live() && void this.onUnlink(rt, p));
    fsw.on('unlinkDir', (p) => live() && void this.onUnlinkDir(rt, p));
    fsw.on('error', (err) => live() && this.reportError(toCleanplateError(err, `share ${rt.name}: watching ${rt.inbox}`), rt.name));
    await Promise.race([
      new Promise<void>((resolve) =>
        fsw.once('ready', () => {
          ready = true;
          resolve();
        }),
      ),
      this.closedPromise,
    ]);
    // close() may have run meanwhile (a share brought back up during shutdown).
    if (this.closed && rt.fsw === fsw) await this.stopShare(rt);
  }

  /**
   * Closes a share's chokidar watcher. The close waits for the next turn of
   * the event loop: closing from inside chokidar's own unlink/unlinkDir
   * processing leaks one fs.watch handle (chokidar 5.0.0).
   */
  private stopShare(rt: ShareRuntime): Promise<void> {
    const fsw = rt.fsw;
    rt.fsw = undefined;
    if (!fsw) return Promise.resolve();
    const done = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => fsw.close())
      .catch(() => undefined)
      .finally(() => this.stopping.delete(done));
    this.stopping.add(done);
    return done;
  }

  /**
   * A folder appeared in a watched share: walk the shares once more a moment later. In polling mode
   * chokidar can miss a file created right after its folder (a session folder and its first shot
   * copied in one go), which would otherwise wait for the next `schedule.rescan`.
   */
  private scheduleFolderRescan(rt: ShareRuntime): void {
    if (this.closed || this.folderRescanTimer) return;
    this.folderRescanTimer = setTimeout(() => {
      this.folderRescanTimer = undefined;
      if (!this.closed) void this.rescan().catch((err: unknown) => this.reportError(toCleanplateError(err, 'rescan'), undefined));
    }, Math.max(FOLDER_RESCAN_MIN_MS, 2 * rt.cfg.pollIntervalMs));
  }

  private markDown(rt: ShareRuntime, why: string): void {
    if (this.closed || rt.down || this.shares.get(rt.name) !== rt) return;
    rt.down = true;
    void this.stopShare(rt);
    this.reportError(
      new CleanplateError('missing', `share ${rt.name}: inbox ${rt.inbox} is not reachable (${why}); retrying every ${this.opts.retryMs} ms`, {
        retryable: true,
      }),
      rt.name,
    );
  }

  /**
   * Every `retryMs`: one stat per inbox. A vanished inbox is reported even
   * when the watch backend says nothing; a returned one is watched again.
   */
  private startHealthTimer(): void {
    if (this.closed || this.healthTimer) return;
    this.healthTimer = setInterval(() => {
      if (this.healthChecking) return;
      this.healthChecking = this.checkHealth()
        .catch((err: unknown) => this.reportError(toCleanplateError(err, 'inbox check'), undefined))
        .finally(() => (this.healthChecking = undefined));
    }, this.opts.retryMs);
  }

  private async checkHealth(): Promise<void> {
    for (const rt of [...this.shares.values()]) {
      if (this.closed || this.shares.get(rt.name) !== rt) continue;
      const present = await this.inboxExists(rt);
      if (this.closed || this.shares.get(rt.name) !== rt) continue;
      if (!present) this.markDown(rt, 'inbox folder missing');
      else if (rt.down) await this.bringUp(rt);
    }
  }

  private async bringUp(rt: ShareRuntime): Promise<void> {
    rt.down = false;
    await this.startShare(rt);
    if (!rt.down && this.opts.watchEvents) await this.rescanShare(rt);
    this.scheduleSweep();
  }

  private async inboxExists(rt: ShareRuntime): Promise<boolean> {
    const st = await fs.stat(rt.inbox).catch(() => null);
    return st?.isDirectory() ?? false;
  }

  // ---- events -------------------------------------------------------------

  /** Inbox-relative '/'-path, or null for the inbox itself and paths outside it. */
  private relOf(rt: ShareRuntime, p: string): string | null {
    const rel = path.relative(rt.inbox, path.resolve(p));
    if (rel === '' || rel === '..' || rel.startsWith(`..${path.sep}`) || path.isAbsolute(rel)) return null;
    return rel.split(path.sep).join('/');
  }

  private chokidarIgnored(rt: ShareRuntime, p: string, stats?: Stats): boolean {
    const rel = this.relOf(rt, p);
    if (rel === null) return false;
    // Without stats chokidar may be asking about a folder: apply the name rules only.
    if (stats?.isFile()) return this.ign.file(rel);
    return this.ign.dir(rel);
  }

  private onFileEvent(rt: ShareRuntime, p: string): void {
    const rel = this.relOf(rt, p);
    if (rel === null || this.ign.file(rel)) return;
    const abs = path.resolve(p);
    const now = Date.now();
    let e = this.entries.get(abs);
    if (!e || e.share !== rt.name) {
      e = newEntry(rt.name, abs, rel, now);
      this.entries.set(abs, e);
    }
    e.gen++;
    e.touchedAt = now;
    e.pending = true;
    if (e.obs) e.obs.since = now; // something was written: the stability window starts again
    this.scheduleSweep();
  }

  private async onUnlink(rt: ShareRuntime, p: string): Promise<void> {
    const abs = path.resolve(p);
    const e = this.entries.get(abs);
    if (!e || e.share !== rt.name) return;
    const still = await statFresh(abs).catch(() => null);
    if (still) return; // replaced at once (atomic save): the add/change event tracks it
    if (!(await this.inboxExists(rt))) return this.markDown(rt, 'inbox folder removed');
    if (this.entries.get(abs) === e) this.removeEntry(abs, e);
  }

  private async onUnlinkDir(rt: ShareRuntime, p: string): Promise<void> {
    const abs = path.resolve(p);
    if (abs === rt.inbox || !(await this.inboxExists(rt))) return this.markDown(rt, 'inbox folder removed');
    const prefix = abs + path.sep;
    for (const [file, e] of [...this.entries]) {
      if (e.share !== rt.name || !file.startsWith(prefix)) continue;
      if ((await statFresh(file).catch(() => null)) === null && this.entries.get(file) === e) this.removeEntry(file, e);
    }
  }

  // ---- tracking -----------------------------------------------------------

  /** Tracks a file found by a scan; known settled files get a cheap version check. */
  private noticeFromScan(rt: ShareRuntime, abs: string, rel: string): void {
    const e = this.entries.get(abs);
    if (!e || e.share !== rt.name) this.entries.set(abs, newEntry(rt.name, abs, rel, Date.now()));
    else e.pending = true;
  }

  private removeEntry(abs: string, e: Entry): void {
    this.dropEntry(abs, e);
    if (!this.closed) this.emit('removed', { share: e.share, absPath: e.absPath, relPath: e.relPath, emitted: e.emittedKey !== undefined });
  }

  private dropEntry(abs: string, e: Entry): void {
    e.dead = true;
    this.entries.delete(abs);
  }

  private isDown(share: string): boolean {
    return this.shares.get(share)?.down ?? true;
  }

  private scheduleSweep(): void {
    if (this.closed || this.sweepTimer || this.sweeping) return;
    let any = false;
    for (const e of this.entries.values()) {
      if (e.pending && !this.isDown(e.share)) {
        any = true;
        break;
      }
    }
    if (!any) return;
    const every = Math.max(20, Math.min(1000, Math.floor(this.cfg.watch.stableMs / 2)));
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = undefined;
      this.sweeping = this.sweep().finally(() => {
        this.sweeping = undefined;
        this.scheduleSweep();
      });
    }, every);
  }

  private async sweep(): Promise<void> {
    const todo = [...this.entries.values()].filter((e) => e.pending && !e.busy && !this.isDown(e.share));
    let next = 0;
    const worker = async () => {
      while (next < todo.length && !this.closed) {
        const e = todo[next++];
        try {
          await this.check(e);
        } catch (err) {
          this.reportError(toCleanplateError(err, `checking ${e.absPath}`), e.share);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.checkConcurrency, todo.length) }, worker));
  }

  private async check(e: Entry): Promise<void> {
    if (e.dead) return;
    e.busy = true;
    const gen = e.gen;
    try {
      const now = Date.now();
      if (!e.obs && (e.emittedKey !== undefined || e.reportedKey !== undefined)) {
        // A settled file was touched or rescanned: is it a new version?
        let st: Awaited<ReturnType<typeof statFresh>>;
        try {
          st = await statFresh(e.absPath);
        } catch {
          return; // unreadable for now: look again next sweep
        }
        if (e.dead || this.closed) return;
        if (st === null) return await this.gone(e);
        const key = versionKey(st);
        if (key === e.emittedKey || key === e.reportedKey) {
          if (e.gen === gen) e.pending = false;
        } else e.obs = { size: st.size, mtimeMs: st.mtimeMs, since: Math.max(now, e.touchedAt) };
        return;
      }
      const r = await checkComplete(e.absPath, e.obs, now, {
        stableMs: this.cfg.watch.stableMs,
        incompleteTimeoutMs: this.cfg.watch.incompleteTimeoutMin * 60_000,
        maxPixels: this.cfg.limits.maxPixels,
      });
      if (e.dead || this.closed) return;
      if (r.state === 'gone') return await this.gone(e);
      const obs = r.obs;
      if (e.gen !== gen) {
        // Written to while being checked: keep looking, from the event on.
        e.obs = { ...obs, since: Math.max(obs.since, e.touchedAt) };
        return;
      }
      e.obs = obs;
      const base = { share: e.share, absPath: e.absPath, relPath: e.relPath, size: obs.size, mtimeMs: obs.mtimeMs };
      if (r.state === 'complete') {
        e.emittedKey = versionKey(obs);
        e.reportedKey = undefined;
        e.obs = undefined;
        e.pending = false;
        this.emit('file', base);
      } else if (r.state === 'incomplete') {
        e.reportedKey = versionKey(obs);
        e.obs = undefined;
        e.pending = false;
        this.emit('incomplete', { ...base, reason: r.reason });
      }
    } finally {
      e.busy = false;
    }
  }

  private async gone(e: Entry): Promise<void> {
    const rt = this.shares.get(e.share);
    if (!rt) return;
    if (!(await this.inboxExists(rt))) return this.markDown(rt, 'inbox folder removed');
    if (this.entries.get(e.absPath) === e) this.removeEntry(e.absPath, e);
  }

  // ---- rescans ------------------------------------------------------------

  private async rescanShare(rt: ShareRuntime): Promise<void> {
    if (this.closed || this.shares.get(rt.name) !== rt) return;
    if (!(await this.inboxExists(rt))) return this.markDown(rt, 'inbox folder missing');
    if (rt.down) {
      await this.bringUp(rt);
      return; // bringUp rescans
    }
    const seen = new Set<string>();
    let walkedAll = true;
    const maxDepth = rt.cfg.sessionDepth + this.opts.extraDepth;
    const walk = async (dir: string, rel: string, depth: number): Promise<void> => {
      let list;
      try {
        list = await fs.readdir(dir, { withFileTypes: true });
      } catch (err) {
        walkedAll = false;
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENOTDIR') this.reportError(toCleanplateError(err, `share ${rt.name}: scanning ${dir}`), rt.name);
        return;
      }
      for (const d of list) {
        if (this.closed) return;
        const childRel = rel ? `${rel}/${d.name}` : d.name;
        const abs = path.join(dir, d.name);
        let isDir = d.isDirectory();
        let isFile = d.isFile();
        if (d.isSymbolicLink()) {
          const s = await fs.stat(abs).catch(() => null);
          isDir = s?.isDirectory() ?? false;
          isFile = s?.isFile() ?? false;
        }
        if (isDir) {
          if (this.ign.dir(childRel)) continue;
          if (depth < maxDepth) await walk(abs, childRel, depth + 1);
          else this.reportTooDeep(rt, childRel, maxDepth);
        } else if (isFile && !this.ign.file(childRel)) {
          seen.add(abs);
          this.noticeFromScan(rt, abs, childRel);
        }
      }
    };
    await walk(rt.inbox, '', 0);
    if (this.closed || this.shares.get(rt.name) !== rt) return;
    if (walkedAll) {
      for (const [abs, e] of [...this.entries]) {
        if (e.share !== rt.name || seen.has(abs) || e.pending) continue;
        if ((await statFresh(abs).catch(() => null)) === null && this.entries.get(abs) === e) await this.gone(e);
      }
    } else if (!(await this.inboxExists(rt))) return this.markDown(rt, 'inbox folder missing');
    this.scheduleSweep();
  }

  /**
   * A folder below the deepest watched level: its files would sit in the inbox unnoticed, so it is
   * reported (once per folder and share) for an operator to move the session up.
   */
  private reportTooDeep(rt: ShareRuntime, rel: string, maxDepth: number): void {
    const key = `${rt.name}\0${rel}`;
    if (this.tooDeep.has(key)) return;
    this.tooDeep.add(key);
    this.reportError(
      new CleanplateError('unsupported', `share ${rt.name}: folder ${rel} is more than ${maxDepth} levels below the inbox; files in it are not watched`),
      rt.name,
    );
  }

  private reportError(err: CleanplateError, share: string | undefined): void {
    if (this.closed) return;
    if (this.listenerCount('error') > 0) this.emit('error', err, share);
    else process.emitWarning(err.message, { code: 'CLEANPLATE_WATCH' });
  }
}

function newEntry(share: string, absPath: string, relPath: string, now: number): Entry {
  return { share, absPath, relPath, pending: true, gen: 0, touchedAt: now, busy: false, dead: false };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
