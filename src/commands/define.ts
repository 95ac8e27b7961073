import type { Command } from 'commander';
import type { GlobalFlags, ResolvedConfig } from '../config.ts';
import type { Context, ContextOptions } from '../context.ts';
import type { Ui } from '../ui/ui.ts';

/** What a command's run gets: the UI, the configuration and a way to open the store. */
export interface CommandEnv {
  ui: Ui;
  globals: GlobalFlags;
  /** The root commander program: the live command tree (completion describes it). */
  program: Command;
  config: () => ResolvedConfig;
  /** Opens catalog and blob store; closed by the runner after the command returns. */
  openContext(opts: ContextOptions): Promise<Context>;
  /**
   * The one gate before destructive work: true with --yes, a prompt on a TTY, and a
   * UsageError (exit 2) without a TTY, so cron never hangs and never deletes unasked.
   * `preface` (the plan, what is irreversible) is written to stderr before the question, only
   * when there is a question.
   */
  confirm(question: string, preface?: string): Promise<boolean>;
}

export interface CommandOutcome {
  /** The JSON document's body (the runner adds `version` and `command`). */
  report: object;
  /** The text rendering for people. */
  text: () => string;
  /** Replaces the one JSON document under --json (e.g. NDJSON: one line per item, then a summary line with `version`). */
  json?: () => string;
  exitCode?: number;
  /** What the --log-file outcome line carries (default: totals, else the report's numbers). */
  logFields?: Record<string, unknown>;
  /**
   * The items that failed (one line each: what and why), for a run that ends with some items
   * failed (exit 3/4). The text rendering lists them too; under --quiet, which prints errors
   * only, they are what is printed, on stderr.
   */
  failures?: string[];
  /** Totals recorded in the `runs` row. */
  totals?: Record<string, unknown>;
  dryRun?: boolean;
}

export interface CommandSpec {
  name: string;
  summary: string;
  description?: string;
  /** commander argument syntax, e.g. '[job_ids...]' */
  args?: string;
  examples: string[];
  /**
   * Record a `runs` row (commands that change the store): `true` writes it when the store is
   * opened and finishes it at the end; `'when-done'` writes it whole once the command has ended
   * (backup: a row written before its snapshot would travel in the archive as 'running').
   */
  recordRun?: boolean | 'when-done';
  options(cmd: Command): Command;
  run(args: string[], opts: Record<string, unknown>, env: CommandEnv): Promise<CommandOutcome>;
}

export function defineCommand(spec: CommandSpec): CommandSpec {
  return spec;
}
