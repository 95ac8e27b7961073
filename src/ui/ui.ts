import { Chalk, type ChalkInstance } from 'chalk';
import { createLogger, type Level, type Logger } from '../log.ts';
import type { IO } from './io.ts';
import { noProgress, ttyProgress, type ProgressFactory } from './progress.ts';
import { setTableColour } from './table.ts';

export interface UiOptions {
  json: boolean;
  quiet: boolean;
  verbose: boolean;
  color: boolean;
  yes: boolean;
  logFile?: string;
}

/** JSON documents carry this version; bump it on a breaking change of any command's shape. */
export const JSON_VERSION = 1;

/** How a run talks to people and scripts: stdout is data, stderr is logs and progress. */
export class Ui {
  readonly stdoutTTY: boolean;
  readonly stderrTTY: boolean;
  readonly chalk: ChalkInstance;
  readonly log: Logger;
  readonly progress: ProgressFactory;

  constructor(
    readonly io: IO,
    readonly opts: UiOptions,
  ) {
    this.stdoutTTY = Boolean(io.stdout.isTTY);
    this.stderrTTY = Boolean(io.stderr.isTTY);
    const colour = opts.color && !io.env.NO_COLOR && !opts.json;
    this.chalk = new Chalk({ level: colour && this.stdoutTTY ? 1 : 0 });
    setTableColour(Boolean(colour));
    const errChalk = new Chalk({ level: colour && this.stderrTTY ? 1 : 0 });
    const paint = (level: Level, t: string) =>
      level === 'error' ? errChalk.red(t) : level === 'warn' ? errChalk.yellow(t) : level === 'debug' ? errChalk.dim(t) : t;
    this.log = createLogger({ stderr: io.stderr, quiet: opts.quiet, verbose: opts.verbose, logFile: opts.logFile, paint });
    this.progress = this.stderrTTY && !opts.quiet && !opts.json ? ttyProgress(io) : noProgress;
  }

  /** Prints the result: one JSON document under --json, the text rendering otherwise. */
  result(command: string, report: object, text: () => string, json?: () => string): void {
    if (this.opts.json && json) {
      this.io.stdout.write(json());
    } else if (this.opts.json) {
      this.io.stdout.write(JSON.stringify({ version: JSON_VERSION, command, ...report }, null, 2) + '\n');
    } else if (!this.opts.quiet) {
      this.io.stdout.write(text());
    }
  }
}
