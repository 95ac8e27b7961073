import { defineCommand } from './define.ts';
import { UsageError } from '../errors.ts';
import type { SHELLS } from '../docs/completion.ts';

type Shell = (typeof SHELLS)[number];

export default defineCommand({
  name: 'completion',
  args: '<shell>',
  summary: 'Print the shell completion script (bash, zsh or fish)',
  description:
    'Print the completion script for bash, zsh or fish on stdout. The scripts are generated from the command tree, so they always match the real commands and flags.',
  examples: [
    'source <(storectl completion bash)',
    'storectl completion zsh > "${fpath[1]}/_storectl"',
    'storectl completion fish > ~/.config/fish/completions/storectl.fish',
  ],
  options: (cmd) => cmd,
  async parse(args): Promise<{ shell: Shell }> {
    const { SHELLS } = await import('../docs/completion.ts');
    const shell = args[0] as Shell;
    if (!SHELLS.includes(shell)) throw new UsageError(`unknown shell ${JSON.stringify(args[0])}`, `use one of ${SHELLS.join(', ')}`);
    return { shell };
  },
  async run({ shell }, env) {
    const { completionScript } = await import('../docs/completion.ts');
    const { describeProgram } = await import('../docs/model.ts');
    // Completion scripts use names and flags only, not the examples the man page prints.
    const script = completionScript(shell, describeProgram(env.program, new Map()));
    return { report: { shell, script }, text: () => script };
  },
});
