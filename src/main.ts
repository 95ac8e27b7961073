import { CommanderError } from 'commander';
import path from 'node:path';
import { buildProgram, logOutcome, type RunState } from './cli.ts';
import { createLogger } from './log.ts';
import { visible } from './visible.ts';
import { redactText, registerSecret, registerUrlSecrets } from './redact.ts';
import { FailedError, StorectlError, EXIT, UsageError, errorMessage, namedError } from './errors.ts';
import { processIO, type IO } from './ui/io.ts';
import { writeProfile } from './profile.ts';
import { JSON_VERSION } from './ui/ui.ts';

/** The one entry point: runs storectl with argv (without node and script) and returns the exit code. */
export async function main(argv: string[], io: IO = processIO()): Promise<number> {
  // Read here, at the top, only to shape error output before commander has parsed anything.
  const json = argv.includes('--json');
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  registerRunSecrets(argv, io.env);
  const state: RunState = { exitCode: 0 };
  const program = buildProgram(io, state);
  if (json) program.configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: () => {}, outputError: () => {} });
  const stall = stalled();
  try {
    await Promise.race([program.parseAsync(argv, { from: 'user' }), stall.promise]);
    return state.exitCode;
  } catch (err) {
    if (!state.logged) logEarlyFailure(argv, io, err);
    return reportError(err, io, json, verbose);
  } finally {
    stall.dispose();
    await writeProfile(redactText(argv.join(' ')));
  }
}

/**
 * Rejects when node finds nothing left to run while the command is still waiting: a promise no
 * timer, socket or thread can settle any more (a driver that lost its connection without
 * reporting it). Without this the process would end with exit 0 and no word, a run cut short
 * looking like a success.
 */
function stalled(): { promise: Promise<never>; dispose: () => void } {
  let onIdle = () => {};
  const promise = new Promise<never>((_, reject) => {
    onIdle = () =>
      reject(new FailedError('the run stopped waiting on work that can no longer finish (a catalog or storage connection lost without an error); what it had finished is recorded', 'run it again', 'stalled'));
  });
  promise.catch(() => {});
  process.once('beforeExit', onIdle);
  return { promise, dispose: () => void process.removeListener('beforeExit', onIdle) };
}

/** A run that failed before a command took over (a bad flag): logged where --log-file or the environment says. */
function logEarlyFailure(argv: string[], io: IO, err: unknown): void {
  if (err instanceof CommanderError && (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)) return;
  let file: string | undefined = io.env.STORECTL_LOG_FILE || undefined;
  argv.forEach((a, i) => {
    if (a === '--log-file' && argv[i + 1]) file = argv[i + 1];
    else if (a.startsWith('--log-file=')) file = a.slice('--log-file='.length);
  });
  if (!file) return;
  const log = createLogger({ stderr: io.stderr, quiet: true, verbose: false, logFile: path.resolve(io.cwd, file) });
  const usage = err instanceof CommanderError ? new UsageError(err.message.replace(/^error: /, '')) : err;
  logOutcome(log, undefined, { error: usage });
  log.close?.();
}

function reportError(error: unknown, io: IO, json: boolean, verbose: boolean): number {
  const err = namedError(error);
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return EXIT.OK;
    // commander printed its own message in text mode; parse errors are usage errors.
    if (json) writeJsonError(io, 'usage', redactText(err.message.replace(/^error: /, '')), EXIT.USAGE);
    return EXIT.USAGE;
  }
  const known = err instanceof StorectlError;
  const exitCode = known ? err.exitCode : EXIT.FAILED;
  const code = known ? err.code : 'internal';
  // Our own messages are kept whole (a newline in a path is shown escaped); a driver's, first line only.
  const message = known ? redactText(errorMessage(err)) : redactText(errorMessage(err)).split('\n')[0]!;
  const hint = known && err.hint ? redactText(err.hint) : undefined;
  if (json) {
    writeJsonError(io, code, message, exitCode, hint, known ? err.details : undefined);
  } else if (code === 'cancelled') {
    // An answer, not a failure: a plain notice (exit 1, as the exit-code table says).
    io.stderr.write(`storectl: ${visible(message)}\n`);
  } else {
    io.stderr.write(`storectl: error: ${visible(message)}${hint ? ` (${visible(hint)})` : ''}\n`);
  }
  if (verbose && error instanceof Error && error.stack) io.stderr.write(redactText(error.stack) + '\n');
  return exitCode;
}

function writeJsonError(io: IO, code: string, message: string, exitCode: number, hint?: string, details?: Record<string, unknown>): void {
  io.stdout.write(JSON.stringify({ version: JSON_VERSION, error: { code, message, exitCode, ...(hint ? { hint } : {}), ...(details ?? {}) } }, null, 2) + '\n');
}

/** Secrets this run may print by accident: database passwords and S3 credentials, from argv and the environment. */
function registerRunSecrets(argv: string[], env: NodeJS.ProcessEnv): void {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--database') registerUrlSecrets(argv[i + 1]);
    else if (a.startsWith('--database=')) registerUrlSecrets(a.slice('--database='.length));
  }
  registerUrlSecrets(env.STORECTL_DATABASE_URL);
  registerUrlSecrets(env.DATABASE_URL);
  for (const name of ['AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'STORECTL_S3_SECRET_ACCESS_KEY', 'STORECTL_URL_SECRET']) registerSecret(env[name]);
}
