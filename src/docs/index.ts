import { buildProgram } from '../cli.ts';
import { COMMANDS } from '../commands/index.ts';
import { describeProgram, type ProgramDoc } from './model.ts';

/** The live command tree as data (nothing is run, nothing is opened). */
export function programDoc(): ProgramDoc {
  const sink = { write: () => true };
  const program = buildProgram({ stdout: sink, stderr: sink, stdinIsTTY: false, env: {}, cwd: process.cwd() }, { exitCode: 0 });
  return describeProgram(program, new Map(COMMANDS.map((c) => [c.name, c.examples])));
}
