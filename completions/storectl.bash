# storectl completion: generated from the command tree by scripts/gen-docs.ts; do not edit.
# bash: source this file, or put it in /etc/bash_completion.d/storectl
_storectl() {
  local cur prev cmd i opts
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  local commands="generate stats jobs show get url export delete cleanup-expired cleanup-orphaned tier backup restore verify put dedup migrate-images-to-db migrate-store quota import-from-db s3-lifecycle unlock migrate config completion"
  local globals="--root --database --config --json --quiet -q --verbose -v --yes -y --no-color --log-file --allow-root-change --version"
  case "$prev" in
    --format) COMPREPLY=( $(compgen -W "tar.gz zip" -- "$cur") ); return ;;
    --category) COMPREPLY=( $(compgen -W "cards exports uploads temp" -- "$cur") ); return ;;
    --on-duplicate) COMPREPLY=( $(compgen -W "link skip copy" -- "$cur") ); return ;;
    --mode) COMPREPLY=( $(compgen -W "hardlink reflink auto" -- "$cur") ); return ;;
    --root|--quarantine|--dir|--base-dir|--from-dir) COMPREPLY=( $(compgen -d -- "$cur") ); return ;;
    --config|--log-file|--jobs|--prometheus|--output|--path|--from|--repair-from|--from-list|--to) COMPREPLY=( $(compgen -f -- "$cur") ); return ;;
    --database|--sample|--days|--seed|--workers|--wait|--format|--since|--owner|--status|--kind|--files-state|--older-than|--newer-than|--path-prefix|--limit|--after|--as-of|--image|--table|--key|--data-column|--path-column|--index|--expires|--max-delete|--explain|--retention-hours|--min-age|--to|--max-move|--max-compress|--compress|--keep|--keep-daily|--keep-weekly|--keep-monthly|--prune-older-than|--job|--category|--max-time|--threads|--role|--export-type|--sha256|--top|--batch-size|--max-pixels|--effort|--parallel|--bytes|--files|--warn|--shape|--role-map|--created-column|--job-column|--owner-column|--source-database|--margin-days|--tier) COMPREPLY=(); return ;;
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
    generate) opts="--jobs --pending --sample --days --seed --workers --wait --help" ;;
    stats) opts="--check-disk --prometheus --format --history --since --help" ;;
    jobs) opts="--owner --status --kind --files-state --older-than --newer-than --path-prefix --limit --after --ndjson --help" ;;
    show) opts="--ndjson --as-of --help" ;;
    get) opts="--output -o --path --image --table --key --data-column --path-column --index --help" ;;
    url) opts="--expires --path --nginx-config --help" ;;
    export) opts="--from --owner --status --kind --older-than --output -o --format --help" ;;
    delete) opts="--from --owner --status --kind --older-than --dry-run --list --force --max-delete --wait --allow-empty-root --help" ;;
    cleanup-expired) opts="--dry-run --list --as-of --explain --retention-hours --max-delete --limit --wait --allow-empty-root --help" ;;
    cleanup-orphaned) opts="--dry-run --list --min-age --quarantine --max-delete --wait --allow-empty-catalog --allow-empty-root --help" ;;
    tier) opts="--from --owner --status --kind --older-than --to --dry-run --list --as-of --max-move --max-compress --compress --wait --help" ;;
    backup) opts="--output -o --dir --format --metadata-only --keep --keep-daily --keep-weekly --keep-monthly --prune-older-than --prune --dry-run --wait --help" ;;
    restore) opts="--verify-only --dry-run --force --job --wait --help" ;;
    verify) opts="--job --owner --category --sample --max-time --repair-from --threads --wait --help" ;;
    put) opts="--job --role --kind --owner --category --export-type --sha256 --from-list --on-duplicate --wait --help" ;;
    dedup) opts="--dry-run --owner --across-owners --mode --top --threads --wait --help" ;;
    migrate-images-to-db) opts="--table --key --path-column --data-column --base-dir --from-dir --dry-run --limit --delete-originals --workers --batch-size --max-pixels --effort --wait --help" ;;
    migrate-store) opts="--to --parallel --dry-run --delete-source --wait --help" ;;
    quota) opts="--bytes --files --warn --owner --wait --help" ;;
    import-from-db) opts="--table --key --data-column --shape --role-map --kind --category --status --created-column --job-column --owner-column --owner --source-database --clear-source --dry-run --limit --batch-size --workers --wait --help" ;;
    s3-lifecycle) opts="--print --margin-days --tier --help" ;;
    unlock) opts="--dry-run --force --help" ;;
    migrate) opts="--status --create --wait --help" ;;
    config) opts=" --help" ;;
    completion) opts=" --help" ;;
    *) opts="" ;;
  esac
  if [[ "$cmd" == "completion" && "$cur" != -* ]]; then COMPREPLY=( $(compgen -W "bash zsh fish" -- "$cur") ); return; fi
  COMPREPLY=( $(compgen -W "$opts $globals" -- "$cur") )
}
complete -o default -F _storectl storectl
