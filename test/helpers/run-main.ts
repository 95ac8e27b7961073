// Runs storectl's real entry point in this process (no TTY): the same code as bin/storectl
// without paying a process start per call.
import { main } from '../../src/main.ts';
import { REPO, runCli as runBin, type CliResult } from './env.ts';

export async function runMain(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<CliResult> {
  if (opts.env) return runBin(args, opts);
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: { write: (t: string) => (stdout += t), isTTY: false },
    stderr: { write: (t: string) => (stderr += t), isTTY: false },
    stdinIsTTY: false,
    env: { NO_COLOR: '1' },
    cwd: opts.cwd ?? REPO,
  });
  let json: unknown;
  try {
    json = JSON.parse(stdout);
  } catch {
    json = undefined;
  }
  return { code, stdout, stderr, json };
}
