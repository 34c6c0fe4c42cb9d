# fish completion for pppup.  `make install` puts it in
# /usr/local/share/fish/vendor_completions.d; tests/docs/test_completion.py
# keeps the option lists equal to the command's.

function __pppup_accounts --description 'your accounts and the system\'s'
    # pppup takes your home directory from the password database, not $HOME.
    set -l home (getent passwd (id -u) | string split :)[6]
    test -n "$home"; or set home $HOME
    for file in $home/.config/pppup/accounts/*.toml /etc/pppup/accounts/*.toml
        string replace -r '^.*/(.*)\.toml$' '$1' -- $file
    end
end

function __pppup_lines --description 'the policy\'s lines, from pppup status --json'
    # json.dumps with indent 2: an entry's own keys are indented by 4.
    timeout 5 pppup status --json 2>/dev/null | string replace -rf '^    "line": "([^"]*)",?$' '$1'
end

# The subcommand (or account) given so far: the first word after pppup that is
# not an option or an option's value.
function __pppup_words --description 'the words after pppup, without options and their values'
    set -l words (commandline -opc)[2..-1]
    set -l skip 0
    for word in $words
        if test $skip = 1
            set skip 0
            continue
        end
        switch $word
            case --line --callback --wait-timeout --name --output -o --peer --user --root --account
                set skip 1
            case '-*'
            case '*'
                echo $word
        end
    end
end

function __pppup_needs_command
    test (count (__pppup_words)) -eq 0
end

function __pppup_using --argument-names command
    set -l words (__pppup_words)
    switch "$command"
        case up
            # `pppup ACCOUNT` is `pppup up ACCOUNT`
            set -q words[1]; and not contains -- $words[1] status accounts down import
        case import-none
            test "$words[1]" = import; and not set -q words[2]
        case 'import-*'
            test "$words[1]" = import; and test "$words[2]" = (string replace import- '' $command)
        case '*'
            test "$words[1]" = $command
    end
end

function __pppup_up_needs_account
    set -l words (__pppup_words)
    test "$words[1]" = up; and not set -q words[2]
end

function __pppup_down_needs_target
    set -l words (__pppup_words)
    test "$words[1]" = down; and not set -q words[2]
end

complete -c pppup -f
complete -c pppup -s h -l help -d 'show the help'
complete -c pppup -n __pppup_needs_command -l version -d 'show the version'
complete -c pppup -n __pppup_needs_command -a up -d 'dial ACCOUNT and start PPP'
complete -c pppup -n __pppup_needs_command -a status -d 'every line and its state'
complete -c pppup -n __pppup_needs_command -a accounts -d 'your accounts and the system\'s'
complete -c pppup -n __pppup_needs_command -a down -d 'end a link (pppdown)'
complete -c pppup -n __pppup_needs_command -a import -d 'make accounts from pppd peers, wvdial or KPPP'
complete -c pppup -n __pppup_needs_command -a '(__pppup_accounts)' -d account

complete -c pppup -n __pppup_up_needs_account -a '(__pppup_accounts)' -d account
complete -c pppup -n '__pppup_using up' -l line -x -a '(__pppup_lines)' -d 'use this policy line'
complete -c pppup -n '__pppup_using up' -l callback -x -d 'the call-back number to ask for'
complete -c pppup -n '__pppup_using up' -l wait -d 'wait until a busy line is free'
complete -c pppup -n '__pppup_using up' -l wait-timeout -x -d 'how long --wait waits (seconds)'
complete -c pppup -n '__pppup_using up' -s f -l foreground -d 'stay; Ctrl-C ends the link'
complete -c pppup -n '__pppup_using up' -s v -l verbose -d 'show the conversation on the line'
complete -c pppup -n '__pppup_using up' -s q -l quiet -d 'no progress lines'

complete -c pppup -n '__pppup_using status' -l json -d 'machine-readable output'
complete -c pppup -n '__pppup_using accounts' -l json -d 'machine-readable output'

complete -c pppup -n __pppup_down_needs_target -a '(__pppup_accounts; __pppup_lines)'
complete -c pppup -n '__pppup_using down' -l all -d 'every link you may stop'
complete -c pppup -n '__pppup_using down' -l json -d 'machine-readable output'

complete -c pppup -n '__pppup_using import-none' -a peers -d 'a pppd peer file and its chat script'
complete -c pppup -n '__pppup_using import-none' -a wvdial -d 'a wvdial.conf section'
complete -c pppup -n '__pppup_using import-none' -a kppp -d 'KPPP accounts and login scripts'
for kind in peers wvdial kppp
    set -l when "__pppup_using import-$kind"
    complete -c pppup -n $when -l name -x -d 'name of the new account'
    complete -c pppup -n $when -s o -l output -x -a '(__fish_complete_directories)' -d 'write every file into DIR'
    complete -c pppup -n $when -s n -l dry-run -d 'print the files instead of writing them'
    complete -c pppup -n $when -l force -d 'replace files that exist already'
    complete -c pppup -n $when -l line -x -d 'the policy\'s name for the modem line'
    complete -c pppup -n $when -l peer -x -d 'the policy\'s name for the new peer file'
    complete -c pppup -n $when -l user -x -a '(__fish_complete_users)' -d 'whom the policy rule is for'
    complete -c pppup -n $when -l copy-scripts -d 'copy chat scripts next to the account'
end
complete -c pppup -n '__pppup_using import-peers' -l root -x -a '(__fish_complete_directories)' -d 'read /etc/ppp under DIR'
complete -c pppup -n '__pppup_using import-peers' -F -a '(path basename /etc/ppp/peers/*)' -d 'peer file'
complete -c pppup -n '__pppup_using import-wvdial' -F
complete -c pppup -n '__pppup_using import-kppp' -F
complete -c pppup -n '__pppup_using import-kppp' -l account -x -d 'only this KPPP account'
