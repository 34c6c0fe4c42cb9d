# fish completion for pppdown (make install: /usr/local/share/fish/vendor_completions.d).
# The account and line lists come from pppup's completion.
functions -q __pppup_accounts; or source (status dirname)/pppup.fish

complete -c pppdown -f
complete -c pppdown -a '(__pppup_accounts; __pppup_lines)'
complete -c pppdown -l all -d 'every link you may stop'
complete -c pppdown -l json -d 'machine-readable output'
complete -c pppdown -s h -l help -d 'show the help'
