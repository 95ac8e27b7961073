// A CommandEnv for calling a command's parse and run in this process, without spawning: fake
// streams (TTY on or off) that capture what is written, the real configuration and context for
// a test store, and the real confirmation gate over a fake prompt that records its questions.
import { Command } from 'commander';
import type { CommandEnv, CommandOutcome, CommandSpec } from '../../src/commands/define.ts';
import { resolveConfig, type GlobalFlags } from '../../src/config.ts';
import { closeContext, openContext, type Context } from '../../src/context.ts';
import { confirmGate } from '../../src/ui/confirm.ts';
import type { IO } from '../../src/ui/io.ts';
import { Ui } from '../../src/ui/ui.ts';

export interface FakeRun {
  env: CommandEnv;
  stdout: () => string;
  stderr: () => string;
  /** The questions the fake prompt was asked, in order. */
  asked: string[];
  /** Closes the contexts the command opened (the runner does this after a real run). */
  close(): Promise<void>;
  /** parse, then run: what the runner does between reading the config and printing. */
  call<O>(spec: CommandSpec<O>, args: string[], raw: Record<string, unknown>): Promise<CommandOutcome>;
}

export function fakeCommandEnv(o: { globals: GlobalFlags; tty: boolean; answer?: boolean; cwd?: string }): FakeRun {
  let out = '';
  let err = '';
  const io: IO = {
    stdout: { write: (s: string) => (out += s), isTTY: o.tty },
    stderr: { write: (s: string) => (err += s), isTTY: o.tty, columns: 100 },
    stdinIsTTY: o.tty,
    env: { NO_COLOR: '1' },
    cwd: o.cwd ?? process.cwd(),
  };
  const ui = new Ui(io, { json: Boolean(o.globals.json), quiet: false, verbose: false, color: false, yes: Boolean(o.globals.yes) });
  const asked: string[] = [];
  const contexts: Context[] = [];
  const config = () => resolveConfig(o.globals, io.env, io.cwd);
  const make = (name: string): CommandEnv => ({
    ui,
    globals: o.globals,
    program: new Command('storectl'),
    config,
    async openContext(opts) {
      const ctx = await openContext(config(), { command: name, ...opts }, { log: ui.log, progress: ui.progress });
      contexts.push(ctx);
      return ctx;
    },
    confirm: confirmGate(name, io, Boolean(o.globals.yes), async (message) => {
      asked.push(message);
      return o.answer ?? false;
    }),
  });
  const run: FakeRun = {
    env: make('test'),
    stdout: () => out,
    stderr: () => err,
    asked,
    async close() {
      for (const ctx of contexts.splice(0)) await closeContext(ctx);
    },
    async call(spec, args, raw) {
      const opts = await spec.parse(args, raw, o.globals);
      try {
        return await spec.run(opts, make(spec.name));
      } finally {
        await run.close();
      }
    },
  };
  return run;
}
