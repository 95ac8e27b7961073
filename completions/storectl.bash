# storectl completion: generated from the command tree by scripts/gen-docs.ts; do not edit.
# bash: source this file, or put it in /etc/bash_completion.d/storectl
_storectl() {
  local cur prev cmd i opts
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  local commands="generate stats migrate config completion"
  local globals="--root --database --config --json --quiet -q --verbose -v --yes -y --no-color --log-file --version"
  case "$prev" in
    --root|--config|--log-file|--jobs) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    --database|--sample|--days|--seed|--workers) COMPREPLY=(); return ;;
  esac
  cmd=""
  for ((i = 1; i < COMP_CWORD; i++)); do
    case " $commands " in *" ${COMP_WORDS[i]} "*) cmd="${COMP_WORDS[i]}"; break ;; esac
  done
  if [[ -z "$cmd" ]]; then
    if [[ "$cur" == -* ]]; then COMPREPLY=( $(compgen -W "$globals" -- "$cur") ); else COMPREPLY=( $(compgen -W "$commands" -- "$cur") ); fi
    return
  fi
  case "$cmd" in
    generate) opts="--jobs --pending --sample --days --seed --workers --help" ;;
    stats) opts="--check-disk --help" ;;
    migrate) opts="--status --help" ;;
    config) opts=" --help" ;;
    completion) opts=" --help" ;;
    *) opts="" ;;
  esac
  if [[ "$cmd" == "completion" && "$cur" != -* ]]; then COMPREPLY=( $(compgen -W "bash zsh fish" -- "$cur") ); return; fi
  COMPREPLY=( $(compgen -W "$opts $globals" -- "$cur") )
}
complete -o default -F _storectl storectl
