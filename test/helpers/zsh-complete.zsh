# zsh -f cap.zsh FPATH_DIR 'command line': prints the candidates zsh's completion offers for it.
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT=''; RPROMPT=''; fpath=($1 \$fpath); autoload -U compinit; compinit -u -D"
zpty -w z 'compadd () { local -a __hits; builtin compadd -O __hits "$@"; (( $#__hits )) && print -l -- "<<${^__hits}>>"; builtin compadd "$@" }'
zpty -w z "zstyle ':completion:*' list-prompt ''; zstyle ':completion:*' select-prompt ''; setopt nolistbeep; LISTMAX=100000"
# The marker is printed, not echoed: its echo reads __REA""DY__, so the match waits for zsh to have
# run every line above, and no echo of them (the compadd wrapper's '<<...>>' text) is left to read.
zpty -w z 'print -- __REA""DY__'
zpty -r z line '*__READY__*'
zpty -n -w z "$2"$'\t'
sleep 1.5
out=''
while zpty -r -t z chunk; do out+=$chunk; done
print -r -- "$out" | tr -d '\r' | grep -o '<<[^>]*>>' | sed 's/^<<//; s/>>$//' | sort -u
zpty -d z
