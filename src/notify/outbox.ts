/**
 * The notification tables inside the catalog's SQLite file: a durable outbox
 * (an email is written here first and sent later, so an SMTP outage never
 * stops processing and never loses or repeats a message), the record of which
 * finished jobs a session email already reported, the sessions that may need
 * one (so a tick looks only at those, not at the whole history), pending
 * failures for grouped alerts, and small key/value state (last alert, last
 * digest, how far the transitions have been read).
 *
 * These tables are created with CREATE TABLE IF NOT EXISTS and have no
 * foreign keys into the catalog's tables, so catalog migrations and retention
 * never trip over them (retention cleans them explicitly).
 */
import { createHash } from 'node:crypto';
import type Database from 'better-sqlite3';
import type { MailAttachment, MailKind } from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  dedupe_key TEXT NOT NULL UNIQUE,
  recipients TEXT NOT NULL,
  subject TEXT NOT NULL,
  html TEXT NOT NULL,
  text TEXT NOT NULL,
  message_id TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_error TEXT,
  sent_at INTEGER,
  gave_up_at INTEGER,
  delivered_to TEXT
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (sent_at, next_attempt_at);
CREATE TABLE IF NOT EXISTS outbox_attachments (
  id INTEGER PRIMARY KEY,
  outbox_id INTEGER NOT NULL REFERENCES outbox(id) ON DELETE CASCADE,
  filename TEXT NOT NULL,
  content_type TEXT NOT NULL,
  cid TEXT,
  content BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_attachments_by_mail ON outbox_attachments (outbox_id);
CREATE TABLE IF NOT EXISTS session_notices (
  id INTEGER PRIMARY KEY,
  session_id INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  outbox_id INTEGER,
  jobs INTEGER NOT NULL,
  done INTEGER NOT NULL,
  failed INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS session_notices_by_session ON session_notices (session_id);
CREATE TABLE IF NOT EXISTS session_notice_jobs (
  job_id INTEGER NOT NULL,
  job_updated_at INTEGER NOT NULL,
  notice_id INTEGER,
  PRIMARY KEY (job_id, job_updated_at)
);
CREATE TABLE IF NOT EXISTS failure_pending (
  id INTEGER PRIMARY KEY,
  job_id INTEGER NOT NULL,
  failed_at INTEGER NOT NULL,
  alerted_at INTEGER,
  outbox_id INTEGER,
  UNIQUE (job_id, failed_at)
);
CREATE INDEX IF NOT EXISTS failure_pending_open ON failure_pending (alerted_at);
CREATE TABLE IF NOT EXISTS notify_open_sessions (
  session_id INTEGER PRIMARY KEY
);
CREATE TABLE IF NOT EXISTS notify_state (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
`;

/** Creates the notification tables when missing (idempotent; safe on every start). */
export function ensureNotifySchema(db: Database.Database): void {
  db.exec(SCHEMA);
}

/** Reads one value of notify_state. */
export function getState(db: Database.Database, key: string): string | undefined {
  const row = db.prepare('SELECT value FROM notify_state WHERE key = ?').get(key) as { value: string } | undefined;
  return row?.value;
}

/** Writes one value of notify_state. */
export function setState(db: Database.Database, key: string, value: string): void {
  db.prepare('INSERT INTO notify_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
}

/** What `enqueueMail` stores. */
export interface EnqueueInput {
  kind: MailKind;
  /** Identifies the event; a second enqueue with the same key is ignored. */
  dedupeKey: string;
  to: string[];
  subject: string;
  html: string;
  text: string;
  attachments?: MailAttachment[];
}

/**
 * Inserts an email into the outbox unless one with the same dedupe key exists.
 * Call inside the transaction that records the event, so the event and its
 * email are committed together.
 * @returns the new outbox id, or null when the key was already there
 */
export function enqueueMail(db: Database.Database, input: EnqueueInput, now: number): number | null {
  const messageId = `<${createHash('sha256').update(input.dedupeKey).digest('hex').slice(0, 32)}.${now}@cleanplate>`;
  const info = db
    .prepare(
      `INSERT INTO outbox (kind, dedupe_key, recipients, subject, html, text, message_id, created_at, next_attempt_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (dedupe_key) DO NOTHING`,
    )
    .run(input.kind, input.dedupeKey, JSON.stringify(input.to), input.subject.replace(/[\x00-\x1f\x7f]+/g, ' '), input.html, input.text, messageId, now, now);
  if (info.changes === 0) return null;
  const id = Number(info.lastInsertRowid);
  const add = db.prepare('INSERT INTO outbox_attachments (outbox_id, filename, content_type, cid, content) VALUES (?, ?, ?, ?, ?)');
  for (const a of input.attachments ?? []) add.run(id, a.filename, a.contentType, a.cid ?? null, a.content);
  return id;
}

/** One outbox row as stored. */
export interface OutboxRow {
  id: number;
  kind: MailKind;
  dedupe_key: string;
  recipients: string;
  subject: string;
  html: string;
  text: string;
  message_id: string;
  created_at: number;
  attempts: number;
  next_attempt_at: number;
  last_error: string | null;
  sent_at: number | null;
  gave_up_at: number | null;
  delivered_to: string | null;
}

/** Unsent emails whose next attempt is due, oldest first. */
export function dueMails(db: Database.Database, now: number, limit = 50): OutboxRow[] {
  return db
    .prepare(
      `SELECT * FROM outbox WHERE sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= ? ORDER BY id LIMIT ?`,
    )
    .all(now, limit) as OutboxRow[];
}

/** The attachments of one outbox row. */
export function attachmentsOf(db: Database.Database, outboxId: number): MailAttachment[] {
  const rows = db
    .prepare('SELECT filename, content_type, cid, content FROM outbox_attachments WHERE outbox_id = ? ORDER BY id')
    .all(outboxId) as { filename: string; content_type: string; cid: string | null; content: Buffer }[];
  return rows.map((r) => ({ filename: r.filename, contentType: r.content_type, content: r.content, ...(r.cid ? { cid: r.cid } : {}) }));
}

/**
 * Marks a row sent. Guarded by `sent_at IS NULL` so it can only happen once.
 * @returns whether this call marked it
 */
export function markSent(db: Database.Database, id: number, now: number, deliveredTo: string): boolean {
  return (
    db
      .prepare(
        'UPDATE outbox SET sent_at = ?, attempts = attempts + 1, last_error = NULL, delivered_to = ? WHERE id = ? AND sent_at IS NULL',
      )
      .run(now, deliveredTo, id).changes === 1
  );
}

/** Delay before attempt n+1 after n failed attempts: 30 s doubled each time, at most 1 h. */
export function retryDelayMs(failedAttempts: number): number {
  return Math.min(3_600_000, 30_000 * 2 ** Math.max(0, failedAttempts - 1));
}

/**
 * Records a failed attempt: backs off exponentially, or gives up when
 * `permanent` (the server refused the message itself) and `maxPermanent`
 * attempts are used up.
 */
export function markFailed(db: Database.Database, row: OutboxRow, now: number, error: string, permanent: boolean, maxPermanent = 5): void {
  const attempts = row.attempts + 1;
  const giveUp = permanent && attempts >= maxPermanent;
  db.prepare('UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ?, gave_up_at = ? WHERE id = ? AND sent_at IS NULL').run(
    attempts,
    now + retryDelayMs(attempts),
    error,
    giveUp ? now : null,
    row.id,
  );
}

/** The outbox at a glance, for `cleanplate status`. */
export interface OutboxSummary {
  /** Emails waiting to be sent (including ones being retried). */
  pending: number;
  /** Of those, emails that failed at least once and wait for a retry. */
  failing: number;
  /** Emails given up on (refused permanently by the server). */
  gaveUp: number;
  sent: number;
  /** Creation time of the oldest pending email (ms), or null. */
  oldestPendingAt: number | null;
  /** When the next retry is due (ms), or null. */
  nextAttemptAt: number | null;
  /** Error of the most recently failed pending email, or null. */
  lastError: string | null;
  /** When the last email was sent (ms), or null. */
  lastSentAt: number | null;
}

/** Counts the outbox; all zeros when the tables do not exist yet. */
export function outboxSummary(db: Database.Database): OutboxSummary {
  const empty: OutboxSummary = {
    pending: 0,
    failing: 0,
    gaveUp: 0,
    sent: 0,
    oldestPendingAt: null,
    nextAttemptAt: null,
    lastError: null,
    lastSentAt: null,
  };
  const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'`).get();
  if (!exists) return empty;
  const r = db
    .prepare(
      `SELECT
         SUM(sent_at IS NULL AND gave_up_at IS NULL) AS pending,
         SUM(sent_at IS NULL AND gave_up_at IS NULL AND attempts > 0) AS failing,
         SUM(gave_up_at IS NOT NULL AND sent_at IS NULL) AS gaveUp,
         SUM(sent_at IS NOT NULL) AS sent,
         MIN(CASE WHEN sent_at IS NULL AND gave_up_at IS NULL THEN created_at END) AS oldestPendingAt,
         MIN(CASE WHEN sent_at IS NULL AND gave_up_at IS NULL THEN next_attempt_at END) AS nextAttemptAt,
         MAX(sent_at) AS lastSentAt
       FROM outbox`,
    )
    .get() as Record<string, number | null>;
  const err = db
    .prepare(`SELECT last_error FROM outbox WHERE sent_at IS NULL AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1`)
    .get() as { last_error: string } | undefined;
  return {
    pending: r.pending ?? 0,
    failing: r.failing ?? 0,
    gaveUp: r.gaveUp ?? 0,
    sent: r.sent ?? 0,
    oldestPendingAt: r.oldestPendingAt ?? null,
    nextAttemptAt: r.nextAttemptAt ?? null,
    lastError: err?.last_error ?? null,
    lastSentAt: r.lastSentAt ?? null,
  };
}

/**
 * Claims a due row for sending by pushing its next attempt `leaseMs` ahead, so
 * that a second process flushing the same outbox skips it; a crash mid-send
 * makes it due again after the lease.
 * @returns whether this caller got the row
 */
export function claimMail(db: Database.Database, id: number, now: number, leaseMs = 600_000): boolean {
  return (
    db
      .prepare('UPDATE outbox SET next_attempt_at = ? WHERE id = ? AND sent_at IS NULL AND gave_up_at IS NULL AND next_attempt_at <= ?')
      .run(now + leaseMs, id, now).changes === 1
  );
}

/** One line of `recentOutbox`. */
export interface OutboxListItem {
  id: number;
  kind: MailKind;
  subject: string;
  recipients: string[];
  createdAt: number;
  attempts: number;
  sentAt: number | null;
  gaveUpAt: number | null;
  nextAttemptAt: number;
  lastError: string | null;
  /** .eml path (file transport) or SMTP reply, once sent. */
  deliveredTo: string | null;
}

/** The most recent outbox rows, newest first (for `status` and the demo); empty when the table does not exist. */
export function recentOutbox(db: Database.Database, options: { limit?: number; kind?: MailKind } = {}): OutboxListItem[] {
  const exists = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'outbox'`).get();
  if (!exists) return [];
  const rows = db
    .prepare(
      `SELECT id, kind, subject, recipients, created_at, attempts, sent_at, gave_up_at, next_attempt_at, last_error, delivered_to
       FROM outbox WHERE (? IS NULL OR kind = ?) ORDER BY id DESC LIMIT ?`,
    )
    .all(options.kind ?? null, options.kind ?? null, options.limit ?? 10) as Omit<OutboxRow, 'dedupe_key' | 'html' | 'text' | 'message_id'>[];
  return rows.map((r) => ({
    id: r.id,
    kind: r.kind,
    subject: r.subject,
    recipients: JSON.parse(r.recipients) as string[],
    createdAt: r.created_at,
    attempts: r.attempts,
    sentAt: r.sent_at,
    gaveUpAt: r.gave_up_at,
    nextAttemptAt: r.next_attempt_at,
    lastError: r.last_error,
    deliveredTo: r.delivered_to,
  }));
}
