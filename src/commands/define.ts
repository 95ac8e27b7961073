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

/** What commander hands a command: its options by camelCase name, as commander parsed them. */
export type RawOptions = Record<string, unknown>;

/**
 * One subcommand: its commander options, `parse` turning commander's values into one typed options
 * object (validated once: a bad flag is a UsageError, exit 2), and `run` doing the work with it.
 * Tests call `parse` and `run` directly with a fake CommandEnv, without spawning.
 */
export interface CommandSpec<O = unknown> {
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
  /**
   * The command changes the store although it records no run and has no --dry-run (migrate,
   * quota): it takes the store lock, and test/store-lock.test.ts runs it against a held one.
   */
  changesStore?: true;
  options(cmd: Command): Command;
  /**
   * The typed options from the positional arguments and commander's values. Validates what the
   * flags alone decide (and the global flags they combine with); what depends on the config file,
   * the terminal or the store is checked by `run`.
   */
  parse(args: string[], raw: RawOptions, globals: GlobalFlags): O | Promise<O>;
  run(opts: O, env: CommandEnv): Promise<CommandOutcome>;
}

export function defineCommand<O>(spec: CommandSpec<O>): CommandSpec<O> {
  return spec;
}
