// A plain description of the command tree, read off the live commander program, from which
// completions and the man page are generated (so they cannot drift from the real flags).
import type { Command, Option } from 'commander';

export interface OptionDoc {
  flags: string;
  long?: string;
  short?: string;
  description: string;
  takesValue: boolean;
  /** The value names a path: complete files. */
  pathValue: boolean;
  /** The value names a directory (--root, --dir, --from-dir, ...): complete directories. */
  dirValue: boolean;
  /** The only values it takes (commander's choices): complete those. */
  choices?: string[];
  defaultValue?: unknown;
}

export interface CommandDoc {
  name: string;
  usage: string;
  summary: string;
  description: string;
  options: OptionDoc[];
  /** Its positional arguments name files (restore's archive, put's sources): complete files. */
  fileArgs: boolean;
  examples: string[];
}

export interface ProgramDoc {
  name: string;
  version: string;
  description: string;
  globals: OptionDoc[];
  commands: CommandDoc[];
}

function optionDoc(o: Option): OptionDoc {
  const valueName = /<([^>]+)>|\[([^\]]+)\]/.exec(o.flags);
  const v = (valueName?.[1] ?? valueName?.[2] ?? '').toLowerCase();
  return {
    flags: o.flags,
    long: o.long,
    short: o.short,
    description: o.description,
    takesValue: Boolean(o.required || o.optional),
    pathValue: /file|dir|path|archive/.test(v),
    dirValue: v === 'dir' || v.endsWith('-dir') || o.long === '--root',
    ...(o.argChoices ? { choices: [...o.argChoices] } : {}),
    defaultValue: o.defaultValue,
  };
}

export function describeProgram(program: Command, examples: Map<string, string[]>): ProgramDoc {
  return {
    name: program.name(),
    version: program.version() ?? '',
    description: program.description(),
    globals: program.options.filter((o) => o.long !== '--version').map(optionDoc),
    commands: program.commands.map((c) => ({
      name: c.name(),
      usage: c.usage(),
      summary: c.summary() || c.description(),
      description: c.description(),
      options: c.options.map(optionDoc),
      fileArgs: c.registeredArguments.some((a) => /archive|file|path|source/i.test(a.name())),
      examples: examples.get(c.name()) ?? [],
    })),
  };
}
