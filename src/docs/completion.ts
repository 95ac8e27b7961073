import type { ProgramDoc } from './model.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

const HEADER = '# storectl completion: generated from the command tree by scripts/gen-docs.ts; do not edit.';

const longs = (opts: ProgramDoc['globals']) => opts.flatMap((o) => [o.long, o.short].filter(Boolean) as string[]);

export function bashCompletion(p: ProgramDoc): string {
  const all = [...p.globals, ...p.commands.flatMap((c) => c.options)];
  const dirOpts = all.filter((o) => o.dirValue && o.long).map((o) => o.long!);
  const pathOpts = all.filter((o) => o.pathValue && !o.dirValue && o.long).map((o) => o.long!);
  const valueOpts = all.filter((o) => o.takesValue && !o.pathValue && !o.dirValue && !o.choices && o.long).map((o) => o.long!);
  // An option name with choices in one command and free values in another completes the union.
  const choices = new Map<string, Set<string>>();
  for (const o of all) if (o.choices && o.long) for (const v of o.choices) (choices.get(o.long) ?? choices.set(o.long, new Set()).get(o.long)!).add(v);
  const choiceCases = [...choices].map(([opt, vs]) => `    ${opt}) COMPREPLY=( $(compgen -W "${[...vs].join(' ')}" -- "$cur") ); return ;;`).join('\n');
  const cases = p.commands.map((c) => `    ${c.name}) opts="${longs(c.options).join(' ')} --help" ;;`).join('\n');
  return `${HEADER}
# bash: source this file, or put it in /etc/bash_completion.d/storectl
_storectl() {
  local cur prev cmd i opts
  cur="\${COMP_WORDS[COMP_CWORD]}"
  prev="\${COMP_WORDS[COMP_CWORD-1]}"
  local commands="${p.commands.map((c) => c.name).join(' ')}"
  local globals="${longs(p.globals).join(' ')} --version"
  case "$prev" in
${choiceCases}
    ${[...new Set(dirOpts)].join('|') || '--none'}) COMPREPLY=( $(compgen -d -- "$cur") ); return ;;
    ${[...new Set(pathOpts)].join('|') || '--none'}) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    ${[...new Set(valueOpts)].join('|') || '--none'}) COMPREPLY=(); return ;;
  esac
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case " $commands " in *" \${COMP_WORDS[i]} "*) cmd="\${COMP_WORDS[i]}"; break ;; esac
  done
  if [[ -z "$cmd" ]]; then
    if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$globals" -- "$cur") ); else COMPREPLY=( $(compgen -W "$commands" -- "$cur") ); fi
    return
  fi
  case "$cmd" in
${cases}
    *) opts="" ;;
  esac
  if [[ "$cmd" == "completion" && "$cur" != -* ]]; then COMPREPLY=( $(compgen -W "bash zsh fish" -- "$cur") ); return; fi
  COMPREPLY=( $(compgen -W "$opts $globals" -- "$cur") )
}
complete -o default -F _storectl storectl
`;
}

const zq = (s: string) => s.replace(/\\/g, '\\\\').replace(/'/g, "'\\''").replace(/\[/g, '\\[').replace(/\]/g, '\\]').replace(/:/g, '\\:');

function zshSpec(o: ProgramDoc['globals'][number]): string {
  const names = [o.short, o.long].filter(Boolean) as string[];
  const action = o.choices ? `(${o.choices.map(zq).join(' ')})` : o.dirValue ? '_directories' : o.pathValue ? '_files' : ' ';
  const value = o.takesValue ? `:value:${action}` : '';
  const head = names.length > 1 ? `'(${names.join(' ')})'{${names.join(',')}}` : `'${names[0]}`;
  return names.length > 1 ? `${head}'[${zq(o.description)}]${value}'` : `${head}[${zq(o.description)}]${value}'`;
}

export function zshCompletion(p: ProgramDoc): string {
  const cmds = p.commands.map((c) => `    '${c.name}:${zq(c.summary)}'`).join('\n');
  const cases = p.commands
    // The global options are offered after the command too: commander takes them anywhere.
    .map((c) => `    ${c.name})\n      _arguments -s ${[...c.options, ...p.globals.filter((g) => !c.options.some((o) => o.long === g.long))].map(zshSpec).join(' ')} '*:argument:${c.name === 'completion' ? '(bash zsh fish)' : c.fileArgs ? '_files' : ' '}' ;;`)
    .join('\n');
  return `#compdef storectl
${HEADER}
# zsh: put this file on $fpath as _storectl, or source it after compinit.
_storectl() {
  local curcontext="$curcontext" state line
  typeset -A opt_args
  local -a commands
  commands=(
${cmds}
  )
  _arguments -C -s ${p.globals.map(zshSpec).join(' ')} '(- *)'{-V,--version}'[print the version]' '1:command:->command' '*::arg:->args'
  case $state in
    command) _describe -t commands 'storectl command' commands ;;
    args)
      case $line[1] in
${cases}
      esac ;;
  esac
}
if [[ "$funcstack[1]" == "_storectl" ]]; then _storectl "$@"; else compdef _storectl storectl; fi
`;
}

const fq = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

function fishOpt(o: ProgramDoc['globals'][number], cond: string): string {
  const parts = ['complete -c storectl', cond ? `-n ${fq(cond)}` : ''];
  if (o.long) parts.push(`-l ${o.long.replace(/^--/, '')}`);
  if (o.short) parts.push(`-s ${o.short.replace(/^-/, '')}`);
  if (o.takesValue) parts.push(o.choices ? `-x -a ${fq(o.choices.join(' '))}` : o.dirValue ? `-x -a ${fq('(__fish_complete_directories)')}` : o.pathValue ? '-r -F' : '-x');
  parts.push(`-d ${fq(o.description)}`);
  return parts.filter(Boolean).join(' ');
}

export function fishCompletion(p: ProgramDoc): string {
  const names = p.commands.map((c) => c.name).join(' ');
  const lines = [HEADER, '# fish: put this file in ~/.config/fish/completions/storectl.fish', 'complete -c storectl -f'];
  for (const o of p.globals) lines.push(fishOpt(o, ''));
  for (const c of p.commands) lines.push(`complete -c storectl -n ${fq(`not __fish_seen_subcommand_from ${names}`)} -a ${c.name} -d ${fq(c.summary)}`);
  for (const c of p.commands) for (const o of c.options) lines.push(fishOpt(o, `__fish_seen_subcommand_from ${c.name}`));
  // Commands whose arguments are files (restore's archive, put's sources) complete files.
  for (const c of p.commands) if (c.fileArgs) lines.push(`complete -c storectl -n ${fq(`__fish_seen_subcommand_from ${c.name}`)} -F`);
  lines.push(`complete -c storectl -n ${fq('__fish_seen_subcommand_from completion')} -a 'bash zsh fish'`);
  return lines.join('\n') + '\n';
}

export function completionScript(shell: Shell, p: ProgramDoc): string {
  return shell === 'bash' ? bashCompletion(p) : shell === 'zsh' ? zshCompletion(p) : fishCompletion(p);
}
