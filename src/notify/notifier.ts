/**
 * The notifier: decides which emails to write and sends them through the
 * outbox.
 *
 * - Session complete: a session is complete when every shot is done or failed
 *   and no file arrived for `notify.sessionQuietMin`. Exactly one email per
 *   completion: the email and the record of which job outcomes it reported
 *   are committed in one transaction, and its dedupe key is derived from those
 *   job outcomes. When new shots arrive after the email (or a failed shot is
 *   retried), the session becomes complete again later and a second email
 *   reports only those shots ("update").
 * - Failure alerts: `jobFailed` (and, as a safety net, every `tick`) records
 *   failures; at most one alert per `failureAlert.minIntervalMin`, listing all
 *   failures since the previous one.
 * - Digest: what finished since the previous digest, the backlog, the outbox.
 *
 * Writing an email never waits for SMTP: emails go into the outbox table and
 * `tick` flushes it, with exponential backoff while the server is down.
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { Config } from '../config/schema.js';
import { makeContactSheet } from './contact-sheet.js';
import { createMailer, isPermanentSendError, type Mailer, type MailerOptions } from './mailer.js';
import {
  completeSessions,
  digestActivity,
  finishedSince,
  pendingFailures,
  pruneOpenSessions,
  unreportedJobs,
  type CompleteSession,
} from './queries.js';
import { digestRecipients, recipientsForSessions, sessionRecipients } from './recipients.js';
import {
  attachmentsOf,
  claimMail,
  dueMails,
  enqueueMail,
  ensureNotifySchema,
  getState,
  markFailed,
  markSent,
  outboxSummary,
  setState,
} from './outbox.js';
import { retentionDirs, runRetention, type RetentionResult } from '../schedule/retention.js';
import { digestEmail, failureAlertEmail, sessionCompleteEmail } from './templates.js';
import { oneLine, silentLog, type Log, type MailAttachment, type MailKind } from './types.js';

/** Content-ID of the inline contact sheet. */
export const CONTACT_SHEET_CID = 'contact-sheet@cleanplate';

/** Options of the `Notifier` constructor. */
export interface NotifierOptions {
  log?: Log;
  /** Clock (ms since epoch); tests move it. */
  now?: () => number;
  /** Mailer to use instead of one built from `config.notify` (tests). */
  mailer?: Mailer;
  /** Options for the mailer built from the config (e.g. the environment holding the SMTP password). */
  mailerOptions?: MailerOptions;
}

/** The config parts the notifier reads (`retention` only for `retention()`). */
export type NotifierConfig = Pick<Config, 'notify' | 'shares'> & Partial<Pick<Config, 'retention'>>;

/** An email written to the outbox. */
export interface EnqueuedMail {
  id: number;
  kind: MailKind;
  /** 'share/session' for a session email. */
  session?: string;
}

/** An outbox email that was sent. */
export interface SentMail {
  id: number;
  kind: MailKind;
  /** .eml path (file transport) or SMTP reply. */
  deliveredTo: string;
}

/** What one flush did. */
export interface FlushResult {
  sent: SentMail[];
  failed: { id: number; kind: MailKind; error: string }[];
}

/** What one tick did. */
export interface TickResult extends FlushResult {
  enqueued: EnqueuedMail[];
}

const STATE_BASELINE = 'baseline_at';
const STATE_TRANSITION_MARK = 'transition_mark';
const STATE_LAST_ALERT = 'last_failure_alert_at';
const STATE_LAST_DIGEST = 'last_digest_at';
const STATE_DIGEST_MARK = 'digest_transition_mark';

const pad = (n: number) => String(n).padStart(2, '0');
/** "YYYYMMDD-HHMMSS" in local time, for .eml names. */
function stamp(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}${pad(d.getMonth() + 1)}${pad(d.getDate())}-${pad(d.getHours())}${pad(d.getMinutes())}${pad(d.getSeconds())}`;
}

/** The notifier over one catalog database. Construct it on every start, also when notify is disabled. */
export class Notifier {
  private readonly db: Database.Database;
  private cfg: NotifierConfig;
  private readonly log: Log;
  private readonly clock: () => number;
  private readonly options: NotifierOptions;
  private mailer: Mailer | null = null;
  private ticking: Promise<TickResult> | null = null;
  private flushing: Promise<FlushResult> | null = null;

  /**
   * @param catalog the catalog (its `db` holds the notify tables too)
   * @param config the config (notify, shares; retention for `retention()`)
   * @throws CleanplateError('config') when notify is enabled and its transport settings are unusable
   */
  constructor(catalog: { db: Database.Database }, config: NotifierConfig, options: NotifierOptions = {}) {
    this.db = catalog.db;
    this.cfg = config;
    this.options = options;
    this.log = options.log ?? silentLog;
    this.clock = options.now ?? Date.now;
    ensureNotifySchema(this.db);
    this.applyEnabled();
  }

  /** Builds or drops the mailer for the current config and keeps the baseline in step. */
  private applyEnabled(): void {
    if (this.cfg.notify.enabled) {
      this.mailer = this.options.mailer ?? createMailer(this.cfg.notify, this.options.mailerOptions);
      this.baseline(this.clock());
    } else {
      this.mailer = null;
      this.db.prepare('DELETE FROM notify_state WHERE key = ?').run(STATE_BASELINE);
    }
  }

  /**
   * Takes a changed config (live reload): recipients, intervals and the
   * contact sheet apply at once; a changed transport gets a new mailer.
   * @throws CleanplateError('config') when the new transport settings are unusable (the old ones stay)
   */
  updateConfig(config: NotifierConfig): void {
    const before = JSON.stringify([this.cfg.notify.enabled, this.cfg.notify.transport, this.cfg.notify.smtp, this.cfg.notify.fileDir]);
    const after = JSON.stringify([config.notify.enabled, config.notify.transport, config.notify.smtp, config.notify.fileDir]);
    if (before === after) {
      this.cfg = config;
      return;
    }
    if (config.notify.enabled && !this.options.mailer) createMailer(config.notify, this.options.mailerOptions).close(); // validate first
    const old = this.mailer;
    this.cfg = config;
    this.applyEnabled();
    if (old && old !== this.mailer) void Promise.resolve(this.flushing).finally(() => old.close());
  }

  /**
   * Runs retention (src/schedule/retention.ts) with this config's
   * `retention` section over the shares' archive and output folders.
   */
  async retention(config: { retention?: Config['retention']; shares: Config['shares'] } = this.cfg): Promise<RetentionResult> {
    if (!config.retention) throw new Error('retention: the config has no retention section');
    return runRetention({ db: this.db }, config.retention, retentionDirs(config.shares), this.clock(), this.log);
  }

  /** Whether emails are on. */
  get enabled(): boolean {
    return this.mailer !== null;
  }

  /**
   * First start with notify enabled (or first after it was off): sessions that
   * are already finished count as reported and past failures as alerted, so
   * switching notify on does not send a flood about old work.
   */
  private baseline(now: number): void {
    this.db
      .transaction(() => {
        if (getState(this.db, STATE_BASELINE) !== undefined) return;
        const n = this.db
          .prepare(
            `INSERT OR IGNORE INTO session_notice_jobs (job_id, job_updated_at, notice_id)
             SELECT j.id, j.updated_at, NULL FROM jobs j JOIN files f ON f.id = j.shot_id
             WHERE j.state IN ('done', 'failed')
               AND f.session_id NOT IN (SELECT f2.session_id FROM jobs j2 JOIN files f2 ON f2.id = j2.shot_id
                                        WHERE j2.state IN ('waiting_for_plate', 'queued', 'running'))`,
          )
          .run().changes;
        setState(this.db, STATE_BASELINE, String(now));
        this.db.prepare('UPDATE failure_pending SET alerted_at = ? WHERE alerted_at IS NULL').run(now);
        const { m } = this.db.prepare('SELECT MAX(id) AS m FROM transitions').get() as { m: number | null };
        setState(this.db, STATE_TRANSITION_MARK, String(m ?? 0));
        if (n > 0) this.log.info('notify: finished work from before notifications were on will not be emailed', { jobs: n });
      })
      .immediate();
  }

  /**
   * Records a failed job for the next failure alert and writes the alert when
   * the rate limit allows. Never waits for SMTP (the next `tick` sends).
   * @returns the outbox id of an alert written now, or null
   */
  jobFailed(jobId: number, now: number = this.clock()): number | null {
    if (!this.enabled || !this.cfg.notify.failureAlert.enabled) return null;
    const job = this.db.prepare('SELECT state, updated_at FROM jobs WHERE id = ?').get(jobId) as { state: string; updated_at: number } | undefined;
    if (!job || job.state !== 'failed') {
      this.log.warn('notify: jobFailed called for a job that is not failed', { jobId, state: job?.state ?? 'missing' });
      return null;
    }
    this.db.prepare('INSERT OR IGNORE INTO failure_pending (job_id, failed_at) VALUES (?, ?)').run(jobId, job.updated_at);
    return this.maybeAlert(now);
  }

  /**
   * Reads the transitions since the last tick: sessions with a job that just
   * finished become open (they may need a completion email), and failures
   * nobody reported through `jobFailed` (e.g. the waiting-shot sweep) are
   * recorded for the next alert.
   */
  private scanTransitions(): void {
    const alerts = this.cfg.notify.failureAlert.enabled;
    this.db
      .transaction(() => {
        let mark = Number(getState(this.db, STATE_TRANSITION_MARK) ?? '0');
        const { m } = this.db.prepare('SELECT MAX(id) AS m FROM transitions').get() as { m: number | null };
        if ((m ?? 0) < mark) mark = 0; // every transition was deleted and ids started again
        const open = this.db.prepare('INSERT OR IGNORE INTO notify_open_sessions (session_id) VALUES (?)');
        const failed = this.db.prepare('INSERT OR IGNORE INTO failure_pending (job_id, failed_at) VALUES (?, ?)');
        for (const t of finishedSince(this.db, mark)) {
          open.run(t.sessionId);
          if (alerts && t.toState === 'failed') failed.run(t.jobId, t.at);
        }
        setState(this.db, STATE_TRANSITION_MARK, String(m ?? 0));
      })
      .immediate();
  }

  /** Writes one grouped failure alert when failures are pending and the last alert is old enough. */
  private maybeAlert(now: number): number | null {
    const intervalMs = this.cfg.notify.failureAlert.minIntervalMin * 60_000;
    return this.db
      .transaction((): number | null => {
        const lastRaw = getState(this.db, STATE_LAST_ALERT);
        const last = lastRaw === undefined ? null : Number(lastRaw);
        if (last !== null && now - last < intervalMs) return null;
        const { items, maxPendingId } = pendingFailures(this.db);
        if (maxPendingId === null) return null;
        // Pending rows whose job was retried (or deleted) since are dropped with the others.
        const close = this.db.prepare('UPDATE failure_pending SET alerted_at = ?, outbox_id = ? WHERE id <= ? AND alerted_at IS NULL');
        if (items.length === 0) {
          close.run(now, null, maxPendingId);
          return null;
        }
        const mail = failureAlertEmail({ failures: items, previousAlertAt: last, intervalMin: this.cfg.notify.failureAlert.minIntervalMin });
        const to = recipientsForSessions(this.cfg, items.map((f) => ({ share: f.share, session: f.session })));
        let id: number | null = null;
        if (to.length === 0) this.log.warn('notify: failure alert has no recipients (set notify.recipients)', { failures: items.length });
        else id = enqueueMail(this.db, { kind: 'failure-alert', dedupeKey: `failure-alert:${maxPendingId}`, to, ...mail }, now);
        close.run(now, id, maxPendingId);
        setState(this.db, STATE_LAST_ALERT, String(now));
        if (id !== null) this.log.info('notify: failure alert queued', { outboxId: id, failures: items.length });
        return id;
      })
      .immediate();
  }

  /** Writes the completion email of one session (if it is still complete and unreported when committing). */
  private async enqueueCompletion(s: CompleteSession, now: number, quietCutoff: number): Promise<EnqueuedMail | null> {
    const shots = unreportedJobs(this.db, s.id);
    if (shots.length === 0) return null;
    const signature = shots.map((j) => `${j.jobId}@${j.updatedAt}`).join(',');
    const dedupeKey = `session-complete:${s.id}:${createHash('sha256').update(signature).digest('hex').slice(0, 24)}`;
    const cs = this.cfg.notify.contactSheet;
    let attachments: MailAttachment[] = [];
    let sheetItems = 0;
    if (cs.enabled) {
      const cutouts = shots.filter((j) => j.state === 'done' && j.outputs.length > 0).map((j) => j.outputs[0]);
      if (cutouts.length > 0) {
        try {
          const sheet = await makeContactSheet(cutouts, { thumbPx: cs.thumbPx, maxItems: cs.maxItems });
          if (sheet) {
            sheetItems = sheet.items;
            const file = `${s.name.replace(/[^A-Za-z0-9._-]+/g, '_')}-contact-sheet.png`;
            attachments = [{ filename: file, contentType: 'image/png', content: sheet.png, cid: CONTACT_SHEET_CID }];
            if (sheet.skipped.length > 0) this.log.warn('notify: some cutouts could not be read for the contact sheet', { skipped: sheet.skipped.length });
          }
        } catch (err) {
          this.log.warn('notify: contact sheet failed; sending without it', { session: s.name, error: oneLine(err) });
        }
      }
    }
    return this.db
      .transaction((): EnqueuedMail | null => {
        // Re-check after the asynchronous contact sheet: same outcomes, still complete.
        const again = unreportedJobs(this.db, s.id);
        if (again.map((j) => `${j.jobId}@${j.updatedAt}`).join(',') !== signature) return null;
        if (!completeSessions(this.db, quietCutoff).some((c) => c.id === s.id)) return null;
        const prev = this.db
          .prepare('SELECT COUNT(*) AS n, MAX(created_at) AS at FROM session_notices WHERE session_id = ?')
          .get(s.id) as { n: number; at: number | null };
        const mail = sessionCompleteEmail({
          share: s.share,
          session: s.name,
          firstSeenAt: Math.min(...shots.map((j) => j.firstSeenAt)),
          lastFinishedAt: Math.max(...shots.map((j) => j.finishedAt)),
          shots,
          previousNotices: prev.n,
          previousAt: prev.at,
          contactSheetCid: attachments.length > 0 ? CONTACT_SHEET_CID : null,
          contactSheetItems: sheetItems,
        });
        const to = sessionRecipients(this.cfg, s.share, s.name);
        let outboxId: number | null = null;
        if (to.length === 0) this.log.warn('notify: session email has no recipients (set notify.recipients)', { share: s.share, session: s.name });
        else outboxId = enqueueMail(this.db, { kind: 'session-complete', dedupeKey, to, ...mail, attachments }, now);
        const done = shots.filter((j) => j.state === 'done').length;
        const notice = this.db
          .prepare('INSERT INTO session_notices (session_id, created_at, outbox_id, jobs, done, failed) VALUES (?, ?, ?, ?, ?, ?)')
          .run(s.id, now, outboxId, shots.length, done, shots.length - done);
        const mark = this.db.prepare('INSERT OR IGNORE INTO session_notice_jobs (job_id, job_updated_at, notice_id) VALUES (?, ?, ?)');
        for (const j of shots) mark.run(j.jobId, j.updatedAt, Number(notice.lastInsertRowid));
        if (outboxId === null) return null;
        this.log.info('notify: session complete, email queued', { share: s.share, session: s.name, outboxId, done, failed: shots.length - done });
        return { id: outboxId, kind: 'session-complete', session: `${s.share}/${s.name}` };
      })
      .immediate();
  }

  /**
   * Periodic work (call every ~10 s): pending failure alerts, completion emails
   * of sessions that became complete, then an outbox flush. Overlapping calls
   * share one run.
   */
  tick(now: number = this.clock()): Promise<TickResult> {
    if (!this.ticking) {
      this.ticking = this.runTick(now).finally(() => {
        this.ticking = null;
      });
    }
    return this.ticking;
  }

  private async runTick(now: number): Promise<TickResult> {
    const result: TickResult = { enqueued: [], sent: [], failed: [] };
    if (!this.enabled) return result;
    this.scanTransitions();
    if (this.cfg.notify.failureAlert.enabled) {
      const alert = this.maybeAlert(now);
      if (alert !== null) result.enqueued.push({ id: alert, kind: 'failure-alert' });
    }
    const quietCutoff = now - this.cfg.notify.sessionQuietMin * 60_000;
    for (const s of completeSessions(this.db, quietCutoff)) {
      try {
        const e = await this.enqueueCompletion(s, now, quietCutoff);
        if (e) result.enqueued.push(e);
      } catch (err) {
        this.log.error('notify: could not write the session email', { share: s.share, session: s.name, error: oneLine(err) });
      }
    }
    pruneOpenSessions(this.db);
    const f = await this.flush(now);
    result.sent.push(...f.sent);
    result.failed.push(...f.failed);
    return result;
  }

  /**
   * Writes the digest of everything since the previous digest (or the last
   * 24 h) into the outbox; the next `tick` sends it.
   * @returns the outbox id, or null (notify off, no recipients, or already written this minute)
   */
  digest(now: number = this.clock()): number | null {
    if (!this.enabled) return null;
    return this.db
      .transaction((): number | null => {
        const lastRaw = getState(this.db, STATE_LAST_DIGEST);
        const from = lastRaw === undefined ? now - 86_400_000 : Number(lastRaw);
        if (from >= now) return null;
        const markRaw = getState(this.db, STATE_DIGEST_MARK);
        const { m } = this.db.prepare('SELECT MAX(id) AS m FROM transitions').get() as { m: number | null };
        const mark = markRaw === undefined ? undefined : (m ?? 0) < Number(markRaw) ? 0 : Number(markRaw); // ids restart when retention emptied the table
        const activity = digestActivity(this.db, { from, to: now + 1, ...(mark === undefined ? {} : { afterTransitionId: mark }) });
        const mail = digestEmail({ from, to: now, ...activity, outbox: outboxSummary(this.db) });
        const to = digestRecipients(this.cfg);
        setState(this.db, STATE_LAST_DIGEST, String(now));
        setState(this.db, STATE_DIGEST_MARK, String(m ?? 0));
        if (to.length === 0) {
          this.log.warn('notify: digest has no recipients (set notify.recipients)');
          return null;
        }
        const id = enqueueMail(this.db, { kind: 'digest', dedupeKey: `digest:${Math.floor(now / 60_000)}`, to, ...mail }, now);
        if (id !== null) this.log.info('notify: digest queued', { outboxId: id });
        return id;
      })
      .immediate();
  }

  /**
   * Sends every due email of the outbox, oldest first. A sent email is marked
   * in the same step; a failure backs off exponentially and, when the server
   * is unreachable, stops this round. Overlapping calls share one run.
   */
  flush(now: number = this.clock()): Promise<FlushResult> {
    if (!this.flushing) {
      this.flushing = this.runFlush(now).finally(() => {
        this.flushing = null;
      });
    }
    return this.flushing;
  }

  private async runFlush(now: number): Promise<FlushResult> {
    const out: FlushResult = { sent: [], failed: [] };
    const mailer = this.mailer;
    if (!mailer) return out;
    for (const row of dueMails(this.db, now)) {
      if (!claimMail(this.db, row.id, now)) continue;
      try {
        const r = await mailer.send({
          from: this.cfg.notify.from,
          to: JSON.parse(row.recipients) as string[],
          subject: row.subject,
          html: row.html,
          text: row.text,
          messageId: row.message_id,
          attachments: attachmentsOf(this.db, row.id),
          fileName: `${stamp(row.created_at)}-${row.kind}-${row.id}`,
        });
        if (markSent(this.db, row.id, now, r.deliveredTo)) {
          out.sent.push({ id: row.id, kind: row.kind, deliveredTo: r.deliveredTo });
          this.log.info('notify: email sent', { outboxId: row.id, kind: row.kind, to: row.recipients, deliveredTo: r.deliveredTo });
        }
      } catch (err) {
        const permanent = isPermanentSendError(err);
        const error = oneLine(err);
        markFailed(this.db, row, now, error, permanent);
        out.failed.push({ id: row.id, kind: row.kind, error });
        this.log.warn('notify: email not sent; will retry', { outboxId: row.id, kind: row.kind, attempt: row.attempts + 1, error });
        if (!permanent) break; // the server is down or refusing us: try the rest next round
      }
    }
    return out;
  }

  /** Waits for a running tick/flush and closes the mailer's connections. */
  async close(): Promise<void> {
    await Promise.allSettled([this.ticking, this.flushing].filter((p) => p !== null));
    this.mailer?.close();
  }
}

