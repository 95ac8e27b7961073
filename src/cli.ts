import { Command } from 'commander';
import { COMMANDS } from './commands/index.ts';
import type { CommandEnv, CommandSpec, RawOptions } from './commands/define.ts';
import { backupSettings, generateSettings, resolveConfig, tierSettings, compressionSettings, urlSettings, type GlobalFlags, type ResolvedConfig } from './config.ts';
import { closeContext, openContext, whoAmI, type Context } from './context.ts';
import path from 'node:path';
import { EXIT, EXIT_CODES, describeError, errorMessage } from './errors.ts';
import type { Level, Logger } from './log.ts';
import type { RunRecord } from './db/types.ts';
import { redactText, redactValue } from './redact.ts';
import type { IO } from './ui/io.ts';
import { Ui } from './ui/ui.ts';
import { confirmGate } from './ui/confirm.ts';
import { VERSION } from './version.ts';
import { visible } from './visible.ts';

export { VERSION } from './version.ts';

export interface RunState {
  exitCode: number;
  /** Set once a command's runner took over logging its outcome (main logs the rest). */
  logged?: boolean;
}

export function exitStatusHelp(): string {
  return `\nExit status:\n${EXIT_CODES.map((e) => `  ${String(e.code).padStart(2)}  ${e.meaning}`).join('\n')}\n`;
}

/** The commander program: global options, every command, one runner. */
export function buildProgram(io: IO, state: RunState): Command {
  const program = new Command('storectl')
    .description('Administer hybrid storage: artifact files on disk, their metadata in a SQL catalog.')
    .version(VERSION, '-V, --version')
    .option('--root <dir|url>', 'store root: a directory or s3://BUCKET/PREFIX (env STORECTL_ROOT; default ./storage)')
    .option('--database <url>', 'catalog URL: postgres://… or sqlite:PATH (env STORECTL_DATABASE_URL, DATABASE_URL)')
    .option('--config <file>', `config file (env STORECTL_CONFIG; default ./storectl.config.json if present)`)
    .option('--json', 'print one JSON document on stdout')
    .option('-q, --quiet', 'print only errors')
    .option('-v, --verbose', 'more logging; stack traces on errors')
    .option('-y, --yes', 'do not ask for confirmation (required for destructive commands without a TTY)')
    .option('--no-color', 'no colours (also NO_COLOR)')
    .option('--log-file <file>', 'append JSON-lines logs to FILE (env STORECTL_LOG_FILE)')
    .option('--allow-root-change', "record --root as the store's root although the catalog names another (after moving the files)")
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', exitStatusHelp())
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(redactText(s)),
    });
  for (const spec of COMMANDS) addCommand(program, spec, io, state);
  return program;
}

function addCommand(program: Command, spec: CommandSpec, io: IO, state: RunState): void {
  const cmd = program.command(spec.args ? `${spec.name} ${spec.args}` : spec.name).summary(spec.summary);
  cmd.description(spec.description ?? spec.summary);
  spec.options(cmd);
  cmd.addHelpText('after', `\nExamples:\n${spec.examples.map((e) => `  $ ${e}`).join('\n')}\n`);
  cmd.exitOverride();
  cmd.action(async (...params: unknown[]) => {
    const command = params[params.length - 1] as Command;
    const opts = command.opts();
    const args = command.args;
    const globals = program.opts() as GlobalFlags;
    state.exitCode = await runCommand(spec, args, opts, globals, io, state, program);
  });
}

async function runCommand(
  spec: CommandSpec,
  args: string[],
  opts: RawOptions,
  globals: GlobalFlags,
  io: IO,
  state: RunState,
  program: Command,
): Promise<number> {
  let config: ResolvedConfig | undefined;
  const getConfig = () => (config ??= resolveConfig(globals, io.env, io.cwd));
  let configError: unknown;
  let logFile: string | undefined;
  try {
    logFile = getConfig().logFile;
  } catch (err) {
    // A bad config file is still logged where the flag or the environment says.
    configError = err;
    const named = globals.logFile ?? (io.env.STORECTL_LOG_FILE || undefined);
    logFile = named ? path.resolve(io.cwd, named) : undefined;
  }
  const ui = new Ui(io, {
    json: Boolean(globals.json),
    quiet: Boolean(globals.quiet),
    verbose: Boolean(globals.verbose),
    color: globals.color !== false,
    yes: Boolean(globals.yes),
    logFile,
  });
  state.logged = true;
  ui.log.bind({ command: spec.name });
  const contexts: Context[] = [];
  const env: CommandEnv = {
    ui,
    globals,
    program,
    config: getConfig,
    async openContext(o) {
      const ctx = await openContext(getConfig(), { command: spec.name, ...o }, { log: ui.log, progress: ui.progress });
      contexts.push(ctx);
      ui.log.bind({ command: spec.name, runId: ctx.runId });
      return ctx;
    },
    confirm: confirmGate(spec.name, io, Boolean(globals.yes)),
  };
  const started = new Date();
  let runRecorded = false;
  const runRow = (id: string): RunRecord => {
    const who = whoAmI();
    return {
      id,
      command: spec.name,
      args: redactValue({ args, ...opts }),
      dryRun: Boolean(opts.dryRun),
      status: 'running',
      exitCode: null,
      user: who.user,
      host: who.host,
      pid: who.pid,
      startedAt: started,
      finishedAt: null,
      totals: null,
    };
  };
  // A run recorded when done: one row written whole at the end. Failing to write it (a read-only
  // catalog, a lost connection) does not change the run's outcome: after a run that did its work (0, 3, 4) it
  // is a warning; after one that failed, the failure's own line says what happened (a catalog
  // that went away cannot take the record either), so it is only logged at debug.
  const recordWhenDone = async (exitCode: number, totals: Record<string, unknown> | null) => {
    const ctx = contexts[0]!;
    try {
      await ctx.catalog.startRun(runRow(ctx.runId));
      await ctx.catalog.finishRun(ctx.runId, { status: runStatus(exitCode), exitCode, finishedAt: new Date(), totals });
    } catch (err) {
      const line = `this ${spec.name} run is not recorded in the catalog: ${redactText(errorMessage(err))}`;
      if (exitCode === 0 || exitCode === 3 || exitCode === 4) ui.log.warn(line);
      else ui.log.debug(line);
    }
  };
  try {
    if (configError) throw configError;
    await validateSections(getConfig(), io.cwd);
    // The options are parsed and validated once, into the command's typed object.
    const parsed = await spec.parse(args, opts, globals);
    const outcome = await spec.run(parsed, {
      ...env,
      openContext: async (o) => {
        const ctx = await env.openContext(o);
        if (spec.recordRun === true && !runRecorded) {
          await ctx.catalog.startRun(runRow(ctx.runId));
          runRecorded = true;
        }
        return ctx;
      },
    });
    const exitCode = outcome.exitCode ?? 0;
    // Recorded when it reports totals (backup list, which only reads, reports none).
    if (spec.recordRun === 'when-done' && contexts[0] && outcome.totals) await recordWhenDone(exitCode, redactValue(outcome.totals));
    if (runRecorded) {
      await contexts[0]!.catalog.finishRun(contexts[0]!.runId, {
        status: runStatus(exitCode),
        exitCode,
        finishedAt: new Date(),
        totals: outcome.totals ? redactValue(outcome.totals) : null,
      });
      if (!opts.dryRun) {
        // usage history: every run that changed the store leaves a snapshot (stats --history)
        const { recordUsageSnapshot } = await import('./ops/usage-history.ts');
        await recordUsageSnapshot(contexts[0]!, { command: spec.name, runId: contexts[0]!.runId }).catch((err) =>
          ui.log.debug('usage snapshot not recorded', { error: String(err) }),
        );
      }
    }
    logOutcome(ui.log, spec.name, { exitCode, dryRun: outcome.dryRun, counts: outcome.logFields ?? outcome.totals ?? countsOf(outcome.report) });
    ui.result(spec.name, outcome.report, outcome.text, outcome.json);
    // --quiet prints errors only, and the failed items of a run are errors.
    if (globals.quiet && !globals.json) for (const f of outcome.failures ?? []) io.stderr.write(`storectl: failed: ${visible(redactText(f))}\n`);
    return exitCode;
  } catch (err) {
    logOutcome(ui.log, spec.name, { error: err });
    if (spec.recordRun === 'when-done' && contexts[0]) await recordWhenDone((err as { exitCode?: number }).exitCode ?? 1, { error: redactText(errorMessage(err)) });
    if (runRecorded) {
      const code = (err as { exitCode?: number }).exitCode ?? 1;
      await contexts[0]!.catalog
        .finishRun(contexts[0]!.runId, { status: 'failed', exitCode: code, finishedAt: new Date(), totals: { error: redactText(errorMessage(err)) } })
        .catch(() => {});
    }
    throw err;
  } finally {
    for (const ctx of contexts) await closeContext(ctx);
    ui.log.close?.();
  }
}

const runStatus = (exitCode: number) => (exitCode === 0 ? 'ok' : exitCode === 3 ? 'partial' : 'failed');

/**
 * The one log-file line every run ends with, at the level its outcome deserves: info when done,
 * warn when some items failed, error otherwise; with the exit code, the error's code and
 * message, and the command's counts.
 */
export function logOutcome(
  log: Logger,
  command: string | undefined,
  o: { exitCode?: number; dryRun?: boolean; counts?: Record<string, unknown>; error?: unknown },
): void {
  const name = command ?? 'storectl';
  if (o.error !== undefined) {
    const e = describeError(o.error);
    const level: Level = e.exitCode === EXIT.PARTIAL ? 'warn' : 'error';
    log.record?.(level, `${name} failed: ${e.message}`, { exitCode: e.exitCode, code: e.code, error: e.message, ...(e.hint ? { hint: e.hint } : {}) });
    return;
  }
  const exitCode = o.exitCode ?? 0;
  const level: Level = exitCode === EXIT.OK ? 'info' : exitCode === EXIT.PARTIAL ? 'warn' : 'error';
  const verdict = exitCode === EXIT.OK ? 'done' : exitCode === EXIT.PARTIAL ? 'done, some items failed' : exitCode === EXIT.INTEGRITY ? 'found an integrity problem' : 'failed';
  const code = exitCode === EXIT.OK ? 'ok' : exitCode === EXIT.PARTIAL ? 'partial' : exitCode === EXIT.INTEGRITY ? 'integrity' : 'failed';
  log.record?.(level, `${name} ${verdict}${o.dryRun ? ' (dry run)' : ''}`, { exitCode, code, ...(o.dryRun ? { dryRun: true } : {}), ...(o.counts ?? {}) });
}

/**
 * Every section of the config file is checked before any command runs, whichever command it is:
 * an unknown or ill-typed key is exit 2 naming it (the parsers of the sections that need more
 * than the config module are loaded only when the section is there).
 */
async function validateSections(c: ResolvedConfig, cwd: string): Promise<void> {
  generateSettings(c);
  backupSettings(c);
  urlSettings(c);
  tierSettings(c);
  compressionSettings(c);
  if (c.sections.cleanup !== undefined) (await import('./ops/lifecycle/rules.ts')).loadCleanupConfig(c.sections.cleanup, { tiers: Object.keys(tierSettings(c)) });
  if (c.sections.migrateImages !== undefined) {
    (await import('./ops/images/targets.ts')).parseMigrateImagesConfig(c.sections.migrateImages, c.configFile ? path.dirname(c.configFile) : cwd);
  }
}

/** A report's numbers (top level and one level down), for the log line of commands without totals. */
function countsOf(report: object): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(report)) {
    if (typeof v === 'number' || typeof v === 'boolean') out[k] = v;
    else if (v && typeof v === 'object' && !Array.isArray(v)) {
      const nums = Object.entries(v).filter(([, x]) => typeof x === 'number');
      if (nums.length) out[k] = Object.fromEntries(nums);
    }
  }
  return out;
}

