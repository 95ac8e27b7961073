import fs from 'node:fs';
import { errorMessage } from './errors.ts';
import { redactText, redactValue } from './redact.ts';
import { visible } from './visible.ts';

export type Level = 'debug' | 'info' | 'warn' | 'error';

/** Logs go to stderr (for people) and, with --log-file, to a JSON-lines file (for cron). */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** Context stamped on every log-file line (command, run id). */
  bind(fields: Record<string, unknown>): void;
  /** A line for the log file only (the run's outcome: stderr already has the error). */
  record?(level: Level, message: string, fields?: Record<string, unknown>): void;
  close?(): void;
}

export interface LoggerOptions {
  stderr: { write(s: string): unknown };
  quiet: boolean;
  verbose: boolean;
  logFile?: string;
  paint?: (level: Level, text: string) => string;
}

export function createLogger(opts: LoggerOptions): Logger {
  const bound: Record<string, unknown> = {};
  const file = opts.logFile ? openLogFile(opts.logFile, opts.stderr, opts.paint) : undefined;
  const toFile = (level: Level, message: string, fields?: Record<string, unknown>) => {
    file?.write(JSON.stringify({ time: new Date().toISOString(), level, ...redactValue(bound), message, ...fields }) + '\n');
  };
  const emit = (level: Level, rawMessage: string, rawFields?: Record<string, unknown>) => {
    const message = redactText(rawMessage);
    const fields = rawFields && redactValue(rawFields);
    toFile(level, message, fields);
    if (level === 'debug' && !opts.verbose) return;
    if (opts.quiet && (level === 'info' || level === 'debug')) return;
    const prefix = level === 'info' ? '' : `${level}: `;
    const text = `${prefix}${visible(message)}`;
    opts.stderr.write(`${opts.paint ? opts.paint(level, text) : text}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    bind: (f) => Object.assign(bound, f),
    record: (level, m, f) => toFile(level, redactText(m), f && redactValue(f)),
    close: () => file?.close(),
  };
}

/**
 * Opens (creates, 0600) the log file at once, so that a run failing early is logged too. A log
 * file that cannot be opened or written is one warning on stderr, and the run goes on.
 */
export function openLogFile(
  file: string,
  stderr: { write(s: string): unknown },
  paint?: (level: Level, text: string) => string,
): { write(line: string): void; close(): void } {
  let fd: number | undefined;
  let warned = false;
  const warn = (err: unknown) => {
    if (warned) return;
    warned = true;
    const text = `warn: cannot write log file ${file}: ${redactText(errorMessage(err))} (this run is not logged there)`;
    stderr.write(`${paint ? paint('warn', text) : text}\n`);
  };
  try {
    fd = fs.openSync(file, 'a', 0o600);
    if (!fs.fstatSync(fd).isFile()) {
      fs.closeSync(fd);
      fd = undefined;
      warn(new Error('not a regular file'));
    }
  } catch (err) {
    warn(err);
  }
  return {
    write(line) {
      if (fd === undefined) return;
      try {
        fs.writeSync(fd, line);
      } catch (err) {
        warn(err);
        try {
          fs.closeSync(fd);
        } catch {
          /* already broken */
        }
        fd = undefined;
      }
    },
    close() {
      if (fd !== undefined) fs.closeSync(fd);
      fd = undefined;
    },
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, bind() {} };
