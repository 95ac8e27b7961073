// Typed errors carry their exit code; src/main.ts maps any error to one line and a code.

export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  PARTIAL: 3,
  INTEGRITY: 4,
  NOT_FOUND: 5,
  GONE: 6,
  QUOTA: 7,
  LOCKED: 75,
} as const;

/** The exit-code contract, feeding --help, the man page and the README. */
export const EXIT_CODES: ReadonlyArray<{ code: number; meaning: string }> = [
  { code: EXIT.OK, meaning: 'done' },
  { code: EXIT.FAILED, meaning: 'failed (nothing or not everything was done; see the error), or cancelled at a prompt (answered no, or Ctrl-C: nothing was changed)' },
  { code: EXIT.USAGE, meaning: 'usage or configuration error (bad flag, bad input, refused without --yes)' },
  { code: EXIT.PARTIAL, meaning: 'done, but some items failed (they are listed)' },
  { code: EXIT.INTEGRITY, meaning: 'integrity problem found (checksum mismatch, drift with --check-disk)' },
  { code: EXIT.NOT_FOUND, meaning: 'not found: no such job, path or image, or the job never had that file (HTTP 404)' },
  { code: EXIT.GONE, meaning: 'gone: the file was deleted; its row is a tombstone saying when, why and by which rule (HTTP 410)' },
  { code: EXIT.QUOTA, meaning: 'quota: an owner is over its quota (quota check; with --warn: or past its warning level), or a restore was refused whole because it would put owners over theirs' },
  { code: EXIT.LOCKED, meaning: 'another run holds the store lock (try again, or pass --wait)' },
];

export class StorectlError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code: string,
    readonly hint?: string,
    /** Extra fields of the JSON error (e.g. when and why a file was deleted). */
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Bad flags, bad input, bad configuration: exit 2. */
export class UsageError extends StorectlError {
  constructor(message: string, hint?: string, code = 'usage') {
    super(message, EXIT.USAGE, code, hint);
  }
}

/** The operation could not be done: exit 1. */
export class FailedError extends StorectlError {
  constructor(message: string, hint?: string, code = 'failed') {
    super(message, EXIT.FAILED, code, hint);
  }
}

/** Another run holds the store lock: exit 75. */
export class LockedError extends StorectlError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.LOCKED, 'locked', hint);
  }
}

/** A write refused whole because it would put owners over their quotas (a restore): exit 7. */
export class QuotaExceededError extends StorectlError {
  constructor(message: string, hint?: string, details?: Record<string, unknown>) {
    super(message, EXIT.QUOTA, 'quota_exceeded', hint, details);
  }
}

/** An integrity problem (checksum mismatch, corrupt archive): exit 4. */
export class IntegrityError extends StorectlError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.INTEGRITY, 'integrity', hint);
  }
}

/** node-postgres' and the server's words for a connection that went away mid-run. */
const CONNECTION_LOST = /Client has encountered a connection error|Connection terminated|terminating connection due to|server closed the connection unexpectedly|read ECONNRESET|Client was closed and is not queryable|the database system is shutting down/;

/** A file-system error in words: what happened to which path (the errno code kept in brackets). */
export function errnoSentence(err: NodeJS.ErrnoException): string | undefined {
  const p = err.path ?? (err as { dest?: string }).dest;
  const at = p ? ` ${p}` : '';
  const tag = `(${err.code}${err.syscall ? `, ${err.syscall}` : ''})`;
  switch (err.code) {
    case 'ENOSPC':
      return `no space left on the device${p ? ` holding ${p}` : ''} ${tag}`;
    case 'EDQUOT':
      return `the disk quota is exhausted${p ? ` for ${p}` : ''} ${tag}`;
    case 'EROFS':
      return `${p ?? 'the target'} is on a read-only file system ${tag}`;
    case 'ENAMETOOLONG':
      return `a file name is too long:${at} ${tag}`;
    case 'ENOTDIR':
      return `a part of the path${at} is a file, not a directory ${tag}`;
    case 'EISDIR':
      return `${p ?? 'the target'} is a directory, not a file ${tag}`;
    case 'ESPIPE':
      return `${p ?? 'the input'} is not seekable (a pipe?) ${tag}`;
    case 'EACCES':
    case 'EPERM':
      return `permission denied:${at} ${tag}`;
    case 'EIO':
      return `an I/O error on${at || ' the disk'} ${tag}`;
    case 'EMFILE':
    case 'ENFILE':
      return `too many open files ${tag}`;
    default:
      return undefined;
  }
}

/** A file-system error (errno with a syscall) or SQLite's I/O, full-disk or cannot-open error. */
export function isFault(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const e = err as NodeJS.ErrnoException;
  if (e.syscall && e.code) return true;
  const cause = (err as { cause?: unknown }).cause as { code?: unknown } | undefined;
  const code = String(e.code ?? cause?.code ?? '');
  return /^SQLITE_(FULL|IOERR|CANTOPEN|READONLY)/.test(code);
}

/** SQLite's result codes for a full or failing disk and a catalog that cannot be opened or written. */
function sqliteSentence(err: Error & { code?: string }): string | undefined {
  const code = err.code ?? '';
  if (code === 'SQLITE_FULL') return `the SQLite catalog's disk is full (${err.message})`;
  if (code.startsWith('SQLITE_IOERR')) return `the SQLite catalog could not be written: the disk is full or failing (${err.message})`;
  if (code === 'SQLITE_CANTOPEN') return `the SQLite catalog cannot be opened: a read-only mount, or a missing or unwritable directory (${err.message})`;
  if (code.startsWith('SQLITE_READONLY')) return `the SQLite catalog is read-only here (${err.message})`;
  return undefined;
}

/** No such job, path or image, or the job never had that file: exit 5, code not_found. */
export class NotFoundError extends StorectlError {
  constructor(message: string, hint?: string, details?: Record<string, unknown>) {
    super(message, EXIT.NOT_FOUND, 'not_found', hint, details);
  }
}

/** The file was deleted (its row is a tombstone): exit 6, code gone. */
export class GoneError extends StorectlError {
  constructor(message: string, hint?: string, details?: Record<string, unknown>) {
    super(message, EXIT.GONE, 'gone', hint, details);
  }
}

/** Socket errors node-postgres passes through when the server is gone or refuses connections. */
const NET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ECONNABORTED']);

/**
 * A socket error in words. The only server storectl talks to through raw sockets is the
 * PostgreSQL catalog (S3 errors are described by the S3 backend before they get here).
 */
function netSentence(e: NodeJS.ErrnoException & { address?: string; port?: number }): string | undefined {
  if (!e.code || !NET_CODES.has(e.code) || !e.syscall) return undefined;
  const at = e.address ? ` at ${e.address}${e.port ? `:${e.port}` : ''}` : '';
  const what = e.code === 'ECONNREFUSED' ? 'refuses connections (is it down or restarting?)' : e.code === 'ETIMEDOUT' ? 'does not answer' : 'dropped the connection';
  return `the PostgreSQL catalog server${at} ${what} (${e.code}, ${e.syscall})`;
}

export function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // Our own errors already say it in words (and may quote a driver's words that match below).
  if (err instanceof StorectlError) return err.message;
  const e = err as NodeJS.ErrnoException;
  const net = netSentence(e) ?? (e.message.startsWith('Failed query:') && e.cause instanceof Error ? netSentence(e.cause as NodeJS.ErrnoException) : undefined);
  if (net) return net;
  if (e.syscall && e.code) {
    const sentence = errnoSentence(e);
    if (sentence) return sentence;
  }
  if (typeof e.code === 'string' && e.code.startsWith('SQLITE_')) {
    const sentence = sqliteSentence(e);
    if (sentence) return sentence;
  }
  // drizzle wraps a driver's error as "Failed query: <SQL>", with the reason only in `cause`.
  const cause = (err as { cause?: unknown }).cause;
  const fromCause = err.message.startsWith('Failed query:') && cause instanceof Error;
  if (fromCause && typeof (cause as { code?: unknown }).code === 'string' && String((cause as unknown as { code: string }).code).startsWith('SQLITE_')) {
    const sentence = sqliteSentence(cause as Error & { code: string });
    if (sentence) return sentence;
  }
  const message = fromCause ? (cause as Error).message : err.message;
  if (CONNECTION_LOST.test(message)) return `the connection to the PostgreSQL catalog was lost (${message})`;
  return message === err.message ? message : `catalog query failed: ${message}`;
}

/** The driver's words for a missing usage ledger (SQLite, PostgreSQL), in a message or its cause. */
const MISSING_USAGE = /no such table: (?:\w+\.)?usage\b|relation "(?:\w+\.)?usage" does not exist/;

/**
 * A driver's error that has a name of its own, as that error; anything else as it is. The usage
 * ledger missing (a damaged catalog) is `usage_ledger`, not `internal`: every write that adds
 * content fails closed on it, and so does every quota command.
 */
export function namedError(err: unknown): unknown {
  if (err instanceof StorectlError || !(err instanceof Error)) return err;
  const cause = (err as { cause?: unknown }).cause;
  const said = [err.message, cause instanceof Error ? cause.message : ''].find((m) => MISSING_USAGE.test(m));
  if (said !== undefined) {
    return new FailedError(
      `the catalog has no usage ledger (${said.split('\n')[0]}): no quota can be judged, so nothing was written`,
      'the catalog is damaged (its migrations say it is up to date); restore it from a backup (`storectl backup list`, `storectl restore`)',
      'usage_ledger',
    );
  }
  return err;
}

/** What an error means for the caller: exit code, code word, one line of message, hint. */
export function describeError(error: unknown): { exitCode: number; code: string; message: string; hint?: string } {
  const err = namedError(error);
  const known = err instanceof StorectlError;
  return {
    exitCode: known ? err.exitCode : EXIT.FAILED,
    code: known ? err.code : 'internal',
    message: known ? errorMessage(err) : errorMessage(err).split('\n')[0]!,
    ...(known && err.hint ? { hint: err.hint } : {}),
  };
}
