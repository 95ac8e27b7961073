import fs from 'node:fs';

export type Level = 'debug' | 'info' | 'warn' | 'error';

/** Logs go to stderr (for people) and, with --log-file, to a JSON-lines file (for cron). */
export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** Context stamped on every log-file line (command, run id). */
  bind(fields: Record<string, unknown>): void;
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
  let fd: number | undefined;
  const toFile = (level: Level, message: string, fields?: Record<string, unknown>) => {
    if (!opts.logFile) return;
    try {
      fd ??= fs.openSync(opts.logFile, 'a', 0o600);
      fs.writeSync(fd, JSON.stringify({ time: new Date().toISOString(), level, ...bound, message, ...fields }) + '\n');
    } catch {
      /* a broken log file must not break the run; stderr still has the message */
    }
  };
  const emit = (level: Level, message: string, fields?: Record<string, unknown>) => {
    toFile(level, message, fields);
    if (level === 'debug' && !opts.verbose) return;
    if (opts.quiet && (level === 'info' || level === 'debug')) return;
    const prefix = level === 'info' ? '' : `${level}: `;
    const text = `${prefix}${message}`;
    opts.stderr.write(`${opts.paint ? opts.paint(level, text) : text}\n`);
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    bind: (f) => Object.assign(bound, f),
  };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {}, bind() {} };
