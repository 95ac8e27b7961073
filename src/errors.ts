// Typed errors carry their exit code; src/main.ts maps any error to one line and a code.

export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  PARTIAL: 3,
  INTEGRITY: 4,
  LOCKED: 75,
} as const;

/** The exit-code contract, feeding --help, the man page and the README. */
export const EXIT_CODES: ReadonlyArray<{ code: number; meaning: string }> = [
  { code: EXIT.OK, meaning: 'done' },
  { code: EXIT.FAILED, meaning: 'failed (nothing or not everything was done; see the error)' },
  { code: EXIT.USAGE, meaning: 'usage or configuration error (bad flag, bad input, refused without --yes)' },
  { code: EXIT.PARTIAL, meaning: 'done, but some items failed (they are listed)' },
  { code: EXIT.INTEGRITY, meaning: 'integrity problem found (checksum mismatch, drift with --check-disk)' },
  { code: EXIT.LOCKED, meaning: 'another run holds the store lock (try again, or pass --wait)' },
];

export class StorectlError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code: string,
    readonly hint?: string,
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

/** An integrity problem (checksum mismatch, corrupt archive): exit 4. */
export class IntegrityError extends StorectlError {
  constructor(message: string, hint?: string) {
    super(message, EXIT.INTEGRITY, 'integrity', hint);
  }
}

/** node-postgres' and the server's words for a connection that went away mid-run. */
const CONNECTION_LOST = /Client has encountered a connection error|Connection terminated|terminating connection due to|server closed the connection unexpectedly|read ECONNRESET|Client was closed and is not queryable/;

export function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // drizzle wraps a driver's error as "Failed query: <SQL>", with the reason only in `cause`.
  const cause = (err as { cause?: unknown }).cause;
  const message = err.message.startsWith('Failed query:') && cause instanceof Error ? cause.message : err.message;
  if (CONNECTION_LOST.test(message)) return `the connection to the PostgreSQL catalog was lost (${message})`;
  return message === err.message ? message : `catalog query failed: ${message}`;
}

/** What an error means for the caller: exit code, code word, one line of message, hint. */
export function describeError(err: unknown): { exitCode: number; code: string; message: string; hint?: string } {
  const known = err instanceof StorectlError;
  return {
    exitCode: known ? err.exitCode : EXIT.FAILED,
    code: known ? err.code : 'internal',
    message: known ? errorMessage(err) : errorMessage(err).split('\n')[0]!,
    ...(known && err.hint ? { hint: err.hint } : {}),
  };
}
