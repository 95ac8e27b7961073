// Typed errors carry their exit code; src/main.ts maps any error to one line and a code.

export const EXIT = {
  OK: 0,
  FAILED: 1,
  USAGE: 2,
  PARTIAL: 3,
  INTEGRITY: 4,
  QUOTA: 7,
  LOCKED: 75,
} as const;

/** The exit-code contract, feeding --help, the man page and the README. */
export const EXIT_CODES: ReadonlyArray<{ code: number; meaning: string }> = [
  { code: EXIT.OK, meaning: 'done' },
  { code: EXIT.FAILED, meaning: 'failed (nothing or not everything was done; see the error)' },
  { code: EXIT.USAGE, meaning: 'usage or configuration error (bad flag, bad input, refused without --yes)' },
  { code: EXIT.PARTIAL, meaning: 'done, but some items failed (they are listed)' },
  { code: EXIT.INTEGRITY, meaning: 'integrity problem found (checksum mismatch, drift with --check-disk)' },
  { code: EXIT.QUOTA, meaning: 'quota check: an owner is over its quota (with --warn: or past its warning level)' },
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

export function errorMessage(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  // drizzle wraps a driver's error as "Failed query: <SQL>", with the reason only in `cause`.
  const cause = (err as { cause?: unknown }).cause;
  if (err.message.startsWith('Failed query:') && cause instanceof Error) return `catalog query failed: ${cause.message}`;
  return err.message;
}
