/**
 * Logging with winston: JSON lines to a daily-rotating file (for machines and
 * support) and readable lines on the console (for people). Nothing is created
 * at import time; the daemon and the CLI call `createLogger` with the config.
 */
import path from 'node:path';
import winston from 'winston';
import DailyRotateFile from 'winston-daily-rotate-file';
import type { Config } from './config/schema.js';

/** The logger type used across cleanplate. */
export type Logger = winston.Logger;

/** Extra structured fields on a log line (job id, session, timings...). */
export type LogFields = Record<string, unknown>;

const consoleFormat = winston.format.printf((info) => {
  const { level, message, timestamp, ...rest } = info;
  // Object.entries skips winston's symbol-keyed internals.
  const extra = Object.entries(rest)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  return `${String(timestamp)} ${level} ${String(message)}${extra ? `  ${extra}` : ''}`;
});

/**
 * Builds the logger from `config.logging`.
 * @param logging the logging section (dir already resolved to an absolute path)
 * @param options.console override `logging.console` (the CLI's one-shot commands log to stderr only on errors)
 */
export function createLogger(logging: Config['logging'], options: { console?: boolean; file?: boolean } = {}): Logger {
  const transports: winston.transport[] = [];
  if (options.file ?? true) {
    transports.push(
      new DailyRotateFile({
        dirname: logging.dir,
        filename: 'cleanplate-%DATE%.log',
        datePattern: 'YYYY-MM-DD',
        maxSize: logging.maxSize,
        maxFiles: logging.maxFiles,
        format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
      }),
    );
  }
  if (options.console ?? logging.console) {
    transports.push(
      new winston.transports.Console({
        stderrLevels: ['error', 'warn'],
        // Colours only on a terminal: journald and redirected output get plain text.
        format: process.stdout.isTTY
          ? winston.format.combine(winston.format.timestamp({ format: 'HH:mm:ss' }), winston.format.colorize(), consoleFormat)
          : winston.format.combine(winston.format.timestamp({ format: 'HH:mm:ss' }), consoleFormat),
      }),
    );
  }
  if (transports.length === 0) transports.push(new winston.transports.Console({ level: 'error', silent: true }));
  return winston.createLogger({ level: logging.level, transports });
}

/** Path of today's log file for `logging.dir` (for messages such as the demo's "logs went to ..."). */
export function logFileHint(dir: string): string {
  return path.join(dir, 'cleanplate-YYYY-MM-DD.log');
}

/** Flushes file transports and closes the logger (call before process exit; gives up after 2 s). */
export function closeLogger(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 2000);
    log.on('finish', () => {
      clearTimeout(timer);
      resolve();
    });
    log.end();
  });
}
