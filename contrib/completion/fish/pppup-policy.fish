# fish completion for pppup-policy (make install: /usr/local/share/fish/vendor_completions.d).

function __pppup_policy_file --description 'the policy named by --policy, or the installed one'
    set -l words (commandline -opc)
    set -l at (contains -i -- --policy $words)
    if test -n "$at"; and set -q words[(math $at + 1)]
        echo $words[(math $at + 1)]
    else
        echo /etc/pppup/policy.toml
    end
end

function __pppup_policy_names --argument-names kind --description 'the [KIND.NAME] tables of the policy'
    string replace -rf '^\s*\['$kind'\.([a-z0-9._-]+)\]\s*(#.*)?$' '$1' < (__pppup_policy_file) 2>/dev/null
end

function __pppup_policy_command
    set -l words (commandline -opc)[2..-1]
    set -l skip 0
    for word in $words
        if test $skip = 1
            set skip 0
        else if test $word = --policy
            set skip 1
        else if not string match -q -- '-*' $word
            echo $word
            return
        end
    end
end

complete -c pppup-policy -f
complete -c pppup-policy -s h -l help -d 'show the help'
complete -c pppup-policy -n 'test -z "$(__pppup_policy_command)"' -l policy -r -F -d 'the policy file to work on'
complete -c pppup-policy -n 'test -z "$(__pppup_policy_command)"' -a check -d 'validate the policy, list every problem'
complete -c pppup-policy -n 'test -z "$(__pppup_policy_command)"' -a explain -d 'what a user may do, and which rule decides'
complete -c pppup-policy -n 'test -z "$(__pppup_policy_command)"' -a edit -d 'edit a copy, validate, replace atomically'
complete -c pppup-policy -n 'test "$(__pppup_policy_command)" = check' -l content-only -d 'check the text only'
complete -c pppup-policy -n 'test "$(__pppup_policy_command)" = check' -F
complete -c pppup-policy -n 'test "$(__pppup_policy_command)" = explain' -s u -l user -x -a '(__fish_complete_users)' -d 'the user to explain'
complete -c pppup-policy -n 'test "$(__pppup_policy_command)" = explain' -s l -l line -x -a '(__pppup_policy_names lines)' -d 'only this line'
complete -c pppup-policy -n 'test "$(__pppup_policy_command)" = explain' -s p -l peer -x -a '(__pppup_policy_names peers)' -d 'whether this peer may be started'
complete -c pppup-policy -n 'test "$(__pppup_policy_command)" = explain' -l at -x -a now -d 'when: now, HH:MM, \'DAY HH:MM\''
