import { CommanderError } from 'commander';
import { buildProgram, type RunState } from './cli.ts';
import { redactText } from './db/url.ts';
import { StorectlError, EXIT, errorMessage } from './errors.ts';
import { processIO, type IO } from './ui/io.ts';
import { JSON_VERSION } from './ui/ui.ts';

/** The one entry point: runs storectl with argv (without node and script) and returns the exit code. */
export async function main(argv: string[], io: IO = processIO()): Promise<number> {
  // Read here, at the top, only to shape error output before commander has parsed anything.
  const json = argv.includes('--json');
  const verbose = argv.includes('--verbose') || argv.includes('-v');
  const state: RunState = { exitCode: 0 };
  const program = buildProgram(io, state);
  if (json) program.configureOutput({ writeOut: (s) => void io.stdout.write(s), writeErr: () => {}, outputError: () => {} });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return state.exitCode;
  } catch (err) {
    return reportError(err, io, json, verbose);
  }
}

function reportError(err: unknown, io: IO, json: boolean, verbose: boolean): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return EXIT.OK;
    // commander printed its own message in text mode; parse errors are usage errors.
    if (json) writeJsonError(io, 'usage', err.message.replace(/^error: /, ''), EXIT.USAGE);
    return EXIT.USAGE;
  }
  const known = err instanceof StorectlError;
  const exitCode = known ? err.exitCode : EXIT.FAILED;
  const code = known ? err.code : 'internal';
  const message = redactText(errorMessage(err)).split('\n')[0]!;
  const hint = known ? err.hint : undefined;
  if (json) {
    writeJsonError(io, code, message, exitCode, hint, known ? err.details : undefined);
  } else {
    io.stderr.write(`storectl: error: ${message}${hint ? ` (${hint})` : ''}\n`);
  }
  if (verbose && err instanceof Error && err.stack) io.stderr.write(redactText(err.stack) + '\n');
  return exitCode;
}

function writeJsonError(io: IO, code: string, message: string, exitCode: number, hint?: string, details?: Record<string, unknown>): void {
  io.stdout.write(JSON.stringify({ version: JSON_VERSION, error: { code, message, exitCode, ...(hint ? { hint } : {}), ...(details ?? {}) } }, null, 2) + '\n');
}
