import { Command, InvalidArgumentError, Option } from 'commander';
import { COMMANDS } from './commands/index.ts';
import type { CommandEnv, CommandSpec } from './commands/define.ts';
import { resolveConfig, type GlobalFlags, type ResolvedConfig } from './config.ts';
import { openContext, whoAmI, type Context } from './context.ts';
import { EXIT_CODES, UsageError } from './errors.ts';
import type { IO } from './ui/io.ts';
import { Ui } from './ui/ui.ts';

export const VERSION = '0.1.0';

export interface RunState {
  exitCode: number;
}

export function exitStatusHelp(): string {
  return `\nExit status:\n${EXIT_CODES.map((e) => `  ${String(e.code).padStart(2)}  ${e.meaning}`).join('\n')}\n`;
}

/** Integer option parser for commander: refuses junk with a usage error. */
export function intOption(min = 0, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError('not a whole number');
    const n = Number(value);
    if (n < min || n > max) throw new InvalidArgumentError(`must be between ${min} and ${max}`);
    return n;
  };
}

/** The commander program: global options, every command, one runner. */
export function buildProgram(io: IO, state: RunState): Command {
  const program = new Command('storectl')
    .description('Administer hybrid storage: artifact files on disk, their metadata in a SQL catalog.')
    .version(VERSION, '-V, --version')
    .option('--root <dir>', 'store root directory (env STORECTL_ROOT; default ./storage)')
    .option('--database <url>', 'catalog URL: postgres://… or sqlite:PATH (env STORECTL_DATABASE_URL, DATABASE_URL)')
    .option('--config <file>', `config file (env STORECTL_CONFIG; default ./storectl.config.json if present)`)
    .option('--json', 'print one JSON document on stdout')
    .option('-q, --quiet', 'print only errors')
    .option('-v, --verbose', 'more logging; stack traces on errors')
    .option('-y, --yes', 'do not ask for confirmation (required for destructive commands without a TTY)')
    .option('--no-color', 'no colours (also NO_COLOR)')
    .option('--log-file <file>', 'append JSON-lines logs to FILE (env STORECTL_LOG_FILE)')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', exitStatusHelp())
    .exitOverride()
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
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
    state.exitCode = await runCommand(spec, args, opts, globals, io);
  });
}

async function runCommand(
  spec: CommandSpec,
  args: string[],
  opts: Record<string, unknown>,
  globals: GlobalFlags,
  io: IO,
): Promise<number> {
  let config: ResolvedConfig | undefined;
  const getConfig = () => (config ??= resolveConfig(globals, io.env, io.cwd));
  const ui = new Ui(io, {
    json: Boolean(globals.json),
    quiet: Boolean(globals.quiet),
    verbose: Boolean(globals.verbose),
    color: globals.color !== false,
    yes: Boolean(globals.yes),
    logFile: getConfig().logFile,
  });
  const contexts: Context[] = [];
  const env: CommandEnv = {
    ui,
    globals,
    config: getConfig,
    async openContext(o) {
      const ctx = await openContext(getConfig(), o, { log: ui.log, progress: ui.progress });
      contexts.push(ctx);
      ui.log.bind({ command: spec.name, runId: ctx.runId });
      return ctx;
    },
    async confirm(question) {
      if (globals.yes) return true;
      if (!io.stdinIsTTY || !io.stderr.isTTY) {
        throw new UsageError(`refusing to run ${spec.name} without confirmation`, 'pass --yes to proceed, or --dry-run to see the plan', 'confirmation_required');
      }
      const { confirm } = await import('@inquirer/prompts');
      return confirm({ message: question, default: false }, { output: io.stderr as NodeJS.WritableStream });
    },
  };
  const started = new Date();
  let runRecorded = false;
  try {
    const outcome = await spec.run(args, opts, {
      ...env,
      openContext: async (o) => {
        const ctx = await env.openContext(o);
        if (spec.recordRun && !runRecorded) {
          const who = whoAmI();
          await ctx.catalog.startRun({
            id: ctx.runId,
            command: spec.name,
            args: { args, ...opts },
            dryRun: Boolean(opts.dryRun),
            status: 'running',
            exitCode: null,
            user: who.user,
            host: who.host,
            pid: who.pid,
            startedAt: started,
            finishedAt: null,
            totals: null,
          });
          runRecorded = true;
        }
        return ctx;
      },
    });
    const exitCode = outcome.exitCode ?? 0;
    if (runRecorded) {
      await contexts[0]!.catalog.finishRun(contexts[0]!.runId, {
        status: exitCode === 0 ? 'ok' : exitCode === 3 ? 'partial' : 'failed',
        exitCode,
        finishedAt: new Date(),
        totals: outcome.totals ?? null,
      });
      if (!opts.dryRun) {
        // usage history: every run that changed the store leaves a snapshot (stats --history)
        const { recordUsageSnapshot } = await import('./ops/usage-history.ts');
        await recordUsageSnapshot(contexts[0]!, { command: spec.name, runId: contexts[0]!.runId }).catch((err) =>
          ui.log.debug('usage snapshot not recorded', { error: String(err) }),
        );
      }
    }
    ui.log.debug('done', { exitCode, ...(outcome.totals ?? {}) });
    ui.result(spec.name, outcome.report, outcome.text);
    return exitCode;
  } catch (err) {
    if (runRecorded) {
      const code = (err as { exitCode?: number }).exitCode ?? 1;
      await contexts[0]!.catalog
        .finishRun(contexts[0]!.runId, { status: 'failed', exitCode: code, finishedAt: new Date(), totals: { error: (err as Error).message } })
        .catch(() => {});
    }
    throw err;
  } finally {
    for (const ctx of contexts) await ctx.catalog.close().catch(() => {});
  }
}

export { Option };
