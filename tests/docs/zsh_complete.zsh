# zsh -f zsh_complete.zsh FPATH_DIR OUT LINE
#
# Types LINE and a TAB into an interactive zsh (in a zpty) whose fpath starts
# with FPATH_DIR, and writes every match the completion system adds to OUT,
# one a line; OUT.done appears when the completion has finished.
# compadd calls that only compute (-O, -A, -D) are passed through untouched.
zmodload zsh/zpty
local dir=$1 out=$2 line=$3
zpty inner zsh -f -i
# The dump file must be a scratch file: compinit removes a dump file it
# finds unusable, and /dev/null named here was deleted (the next `>/dev/null`
# anywhere on the machine then made it a regular file).
zpty -w inner "PS1=''; unsetopt beep; fpath=($dir \$fpath); autoload -Uz compinit; compinit -u -D -d $out.zcompdump"
zpty -w inner "zstyle ':completion:*' menu no"
zpty -w inner 'compadd() {
  if (( ${@[(I)-[OAD]*]} )); then builtin compadd "$@"; return; fi
  local -a added; builtin compadd -O added "$@"
  (( $#added )) && print -rl -- $added >> '$out'
  builtin compadd "$@"
}'
zpty -w inner '_test_complete() { zle complete-word; : >> '$out'; print done > '$out'.done }'
zpty -w inner 'zle -N _test_complete; bindkey "^I" _test_complete; print ready > '$out'.ready'
local i
for i in {1..300}; do [[ -e $out.ready ]] && break; sleep 0.1; done
[[ -e $out.ready ]] || { print -u2 "the inner zsh did not start within 30 s"; zpty -d inner; exit 2 }
zpty -w -n inner "$line"$'\t'
for i in {1..300}; do [[ -e $out.done ]] && break; sleep 0.1; done
zpty -d inner
[[ -e $out.done ]] || { print -u2 "no completion within 30 s of the TAB"; exit 1 }
