/**
 * One error type for everything a user or studio can cause (bad files, bad
 * config, full disks). `message` is always one line, fit for a CLI's stderr, a
 * log line and a `<name>.error.txt`.
 */
export type ErrorCode =
  | 'config' // invalid configuration
  | 'missing' // file or folder does not exist
  | 'unreadable' // exists but cannot be read (permissions, I/O)
  | 'corrupt' // truncated or undecodable image
  | 'unsupported' // not an image format we take
  | 'too-large' // over limits.maxPixels
  | 'size-mismatch' // shot and plate differ in size
  | 'no-plate' // no plate arrived in time
  | 'unwritable' // output folder not writable
  | 'disk-full' // ENOSPC
  | 'engine' // model or engine failed to load/run
  | 'internal';

/**
 * An error a user or studio can cause: a machine-readable `code`, a one-line `message` and whether
 * a retry may succeed. The daemon records it as a job's failure reason; the CLI prints it.
 */
export class CleanplateError extends Error {
  readonly code: ErrorCode;
  /** Whether trying again later may succeed (I/O hiccups, full disk) rather than never (corrupt file). */
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, options?: { retryable?: boolean; cause?: unknown }) {
    super(message.replace(/\s*\n\s*/g, ' '), { cause: options?.cause });
    this.name = 'CleanplateError';
    this.code = code;
    this.retryable = options?.retryable ?? false;
  }
}

/** Turns any thrown value into a CleanplateError, mapping common Node fs error codes. */
export function toCleanplateError(err: unknown, context = ''): CleanplateError {
  if (err instanceof CleanplateError) return err;
  const prefix = context ? `${context}: ` : '';
  const e = err as NodeJS.ErrnoException;
  const msg = e && typeof e.message === 'string' ? e.message : String(err);
  switch (e?.code) {
    case 'ENOENT':
      return new CleanplateError('missing', `${prefix}not found${e.path ? ` (${e.path})` : ''}`, { cause: err });
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'ENOTDIR':
      return new CleanplateError('unwritable', `${prefix}${e.code === 'ENOTDIR' ? 'not a folder' : 'permission denied'}${e.path ? ` (${e.path})` : ''}`, {
        cause: err,
        retryable: true,
      });
    case 'ENOSPC':
    case 'EDQUOT':
      return new CleanplateError('disk-full', `${prefix}no space left on device`, { cause: err, retryable: true });
    case 'EIO':
    case 'EBUSY':
    case 'ETIMEDOUT':
    case 'EAGAIN':
      return new CleanplateError('unreadable', `${prefix}${msg}`, { cause: err, retryable: true });
    default:
      return new CleanplateError('internal', `${prefix}${msg}`, { cause: err });
  }
}
