# fish completion for pppup-chat, chat(8)'s options (make install:
# /usr/local/share/fish/vendor_completions.d).  chat's options are single
# letters: -o below is fish's "old-style" option, one dash, no bundling hints.
complete -c pppup-chat -f
complete -c pppup-chat -o e -d 'echo what arrives'
complete -c pppup-chat -o E -d 'replace $NAME from the environment'
complete -c pppup-chat -o v -d 'log the conversation to syslog'
complete -c pppup-chat -o V -d 'copy what arrives to stderr'
complete -c pppup-chat -o s -d 'log to stderr too'
complete -c pppup-chat -o S -d 'do not use syslog'
complete -c pppup-chat -o t -x -d 'timeout of each expect (seconds)'
complete -c pppup-chat -o r -r -F -d 'report file'
complete -c pppup-chat -o T -x -d 'what \\T becomes'
complete -c pppup-chat -o U -x -d 'what \\U becomes'
complete -c pppup-chat -o f -r -F -d 'read the script from a file'
