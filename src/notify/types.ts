/**
 * Types shared by the notification and upkeep modules. The logger is
 * structural so that winston's logger (src/log.ts) fits and tests can pass a
 * recorder.
 */

/** Extra structured fields on a log line. */
export type LogFields = Record<string, unknown>;

/** The logging surface notify/ and schedule/ use (winston's `Logger` satisfies it). */
export interface Log {
  info(message: string, fields?: LogFields): unknown;
  warn(message: string, fields?: LogFields): unknown;
  error(message: string, fields?: LogFields): unknown;
}

/** A logger that drops everything (the default when none is given). */
export const silentLog: Log = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

/** Kinds of email cleanplate sends. */
export type MailKind = 'session-complete' | 'failure-alert' | 'digest';

/** One attachment of an outgoing email. */
export interface MailAttachment {
  filename: string;
  contentType: string;
  content: Buffer;
  /** Content-ID when the HTML part shows it inline (`<img src="cid:...">`). */
  cid?: string;
}

/** A rendered email: subject, HTML and the plain-text alternative. */
export interface RenderedMail {
  subject: string;
  html: string;
  text: string;
}

/** A fully addressed email, ready for a transport. */
export interface OutgoingMail extends RenderedMail {
  from: string;
  to: string[];
  /** Message-ID header (with angle brackets); stable per outbox row so a resend is recognisable. */
  messageId: string;
  attachments: MailAttachment[];
  /** Base name (no extension) for the file transport's .eml file. */
  fileName: string;
}

/** Turns any thrown value into one line of text (for outbox.last_error and logs). */
export function oneLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.replace(/\s*\n\s*/g, ' ').slice(0, 500);
}
