import { UsageError } from '../errors.ts';
import { wrapWords } from './format.ts';
import type { IO } from './io.ts';

/** Asks one yes/no question on the terminal; tests pass a fake. */
export type Prompt = (message: string, io: IO) => Promise<boolean>;

/** inquirer's confirm on stderr, default no; Ctrl-C or Ctrl-D at the prompt is a "no". */
export const terminalPrompt: Prompt = async (message, io) => {
  const { confirm } = await import('@inquirer/prompts');
  try {
    return await confirm({ message, default: false }, { output: io.stderr as NodeJS.WritableStream });
  } catch (err) {
    if (err instanceof Error && (err.name === 'ExitPromptError' || err.name === 'AbortPromptError')) return false;
    throw err;
  }
};

/**
 * The one gate before destructive work: true with --yes, a prompt on a TTY, and a UsageError
 * (exit 2) without a TTY, so cron never hangs and never deletes unasked. `preface` (the plan,
 * what is irreversible) is written to stderr before the question, only when there is a question.
 */
export function confirmGate(command: string, io: IO, yes: boolean, prompt: Prompt = terminalPrompt): (question: string, preface?: string) => Promise<boolean> {
  return async (question, preface) => {
    if (yes) return true;
    if (!io.stdinIsTTY || !io.stderr.isTTY) {
      throw new UsageError(`refusing to run ${command} without confirmation`, 'pass --yes to proceed, or --dry-run to see the plan', 'confirmation_required');
    }
    // Built by the command from escaped parts (safe``, renderTable), so written as it is.
    if (preface) io.stderr.write(preface.endsWith('\n') ? preface : preface + '\n');
    // Wrapped at word boundaries, leaving room for inquirer's "? " and " (y/N)".
    return prompt(wrapWords(question, Math.max(20, (io.stderr.columns || 80) - 10)), io);
  };
}
