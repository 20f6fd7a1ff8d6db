/**
 * Sending one email: nodemailer over SMTP, or (transport 'file') an .eml file
 * written atomically into notify.fileDir for demos and tests. The outbox
 * (src/notify/notifier.ts) decides when to send and what to retry.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { writeFileExact } from '../deliver/atomic.js';
import nodemailer from 'nodemailer';
import type { NotifyConfig } from '../config/schema.js';
import { CleanplateError } from '../errors.js';
import { oneLine, type OutgoingMail } from './types.js';

/** What a successful send reports. */
export interface SendResult {
  /** The .eml path (file transport) or the server's reply (SMTP). */
  deliveredTo: string;
}

/** Sends emails through the configured transport. */
export interface Mailer {
  readonly transport: 'smtp' | 'file';
  /** Sends one email; throws on failure (see `isPermanentSendError`). */
  send(mail: OutgoingMail): Promise<SendResult>;
  /** Checks the transport (SMTP: connect, STARTTLS, login; file: folder writable); returns a one-line description. */
  verify(): Promise<string>;
  /** Releases connections. */
  close(): void;
}

/** Options of `createMailer`. */
export interface MailerOptions {
  /** Environment for notify.smtp.passwordEnv (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** SMTP connection/greeting timeout in ms (default 10 000). */
  timeoutMs?: number;
}

/** nodemailer message fields for one outgoing email. */
function messageOf(mail: OutgoingMail) {
  return {
    from: mail.from,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    html: mail.html,
    messageId: mail.messageId,
    attachments: mail.attachments.map((a) => ({
      filename: a.filename,
      contentType: a.contentType,
      content: a.content,
      ...(a.cid ? { cid: a.cid } : {}),
    })),
  };
}

/**
 * Whether a send error means the server refused this message for good (a 5xx
 * reply to the envelope or the data), as opposed to an outage, a timeout or a
 * login problem, which are worth retrying until they are fixed.
 */
export function isPermanentSendError(err: unknown): boolean {
  const e = err as { responseCode?: unknown; code?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const status = typeof e?.responseCode === 'number' ? e.responseCode : 0;
  return status >= 500 && status < 600 && (code === 'EENVELOPE' || code === 'EMESSAGE');
}


/** Safe .eml base name (letters, digits, dot, dash, underscore). */
function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 120) || 'mail';
}

/**
 * Builds the mailer for `cfg.transport`.
 * @throws CleanplateError('config') when SMTP settings are missing or the password variable is unset
 */
export function createMailer(cfg: NotifyConfig, options: MailerOptions = {}): Mailer {
  if (cfg.transport === 'file') {
    const dir = path.resolve(cfg.fileDir);
    const stream = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
    return {
      transport: 'file',
      async send(mail) {
        const info = await stream.sendMail(messageOf(mail));
        const message = info.message;
        if (!Buffer.isBuffer(message)) throw new Error('stream transport did not return a buffer');
        const file = path.join(dir, `${safeName(mail.fileName)}.eml`);
        // A retry after a crash finds the same file (same Message-ID) and leaves it: exactly one .eml.
        await writeFileExact(file, message);
        return { deliveredTo: file };
      },
      async verify() {
        mkdirSync(dir, { recursive: true });
        const probe = path.join(dir, `.probe-${process.pid}-${randomBytes(4).toString('hex')}`);
        await writeFileExact(probe, Buffer.from('ok'));
        await rm(probe, { force: true });
        return `emails are written as .eml files into ${dir}`;
      },
      close() {
        stream.close();
      },
    };
  }
  const smtp = cfg.smtp;
  if (!smtp) throw new CleanplateError('config', 'notify.smtp is required for transport smtp');
  const env = options.env ?? process.env;
  let auth: { user: string; pass: string } | undefined;
  if (smtp.user) {
    if (!smtp.passwordEnv) {
      throw new CleanplateError('config', 'notify.smtp.user is set but notify.smtp.passwordEnv (the variable holding the password) is not');
    }
    const pass = env[smtp.passwordEnv];
    if (pass === undefined || pass === '') {
      throw new CleanplateError('config', `the SMTP password variable ${smtp.passwordEnv} (notify.smtp.passwordEnv) is not set`);
    }
    auth = { user: smtp.user, pass };
  }
  const timeout = options.timeoutMs ?? 10_000;
  const transporter = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.secure,
    requireTLS: smtp.requireTLS,
    ...(auth ? { auth } : {}),
    tls: { rejectUnauthorized: smtp.rejectUnauthorized },
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: Math.max(timeout, 30_000),
  });
  const where = `${smtp.host}:${smtp.port}`;
  return {
    transport: 'smtp',
    async send(mail) {
      const info = await transporter.sendMail(messageOf(mail));
      return { deliveredTo: `smtp ${where}: ${oneLine(info.response ?? 'accepted')}` };
    },
    async verify() {
      await transporter.verify();
      return `SMTP ${where} accepts connections${auth ? ` and the login as ${auth.user}` : ''}${smtp.secure ? ' (TLS)' : smtp.requireTLS ? ' (STARTTLS required)' : ''}`;
    },
    close() {
      transporter.close();
    },
  };
}

/**
 * Checks the email transport for `cleanplate doctor`: connects, STARTTLS and
 * logs in to the SMTP server (or checks that notify.fileDir is writable).
 * @returns one line describing what works
 * @throws CleanplateError('config') with the reason (bad settings, unreachable server, refused login)
 */
export async function verifySmtp(cfg: NotifyConfig, options: MailerOptions = {}): Promise<string> {
  if (!cfg.enabled) return 'notifications are off (notify.enabled: false)';
  let mailer: Mailer | undefined;
  try {
    mailer = createMailer(cfg, options);
    return await mailer.verify();
  } catch (err) {
    if (err instanceof CleanplateError) throw err;
    const where = cfg.transport === 'smtp' && cfg.smtp ? `SMTP ${cfg.smtp.host}:${cfg.smtp.port}` : `notify.fileDir ${cfg.fileDir}`;
    throw new CleanplateError('config', `${where}: ${oneLine(err)}`, { cause: err });
  } finally {
    mailer?.close();
  }
}
