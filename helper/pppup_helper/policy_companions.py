"""pppd's own files: the ones root's pppd reads or runs when pppup starts it.

pppd started by the helper runs as root and reads /etc/ppp/options, the peer
file named by the policy, /etc/ppp/options.TTY for the line it gets on stdin
(checked: pppd 2.4.9 reads options.pts.0 for /dev/pts/0) and root's
~/.ppprc; it runs /etc/ppp/ip-up and friends (Debian's run the *.d
directories) and reads the secrets files.  A writable one is a root shell
for whoever can write it (attack class C5), so each must be root-owned and
not group/other-writable, along its whole directory path.

The option files pppup hands to pppd are also read for words that break
pppup's model (the line is pppup's, the dialling is the client's, the
supervision is the helper's): a device name, persist/demand, connect/init,
pty/notty/socket.  `file`/`call` inside them name more option files: those
are checked for ownership too (one level; their content is the admin's).
"""
from __future__ import annotations

import os
import pwd
import re

from .policy_source import FileProblem, check_mode, open_directory, read_file, stat_file

OPTION_FILE_LIMIT = 64 * 1024
SCRIPTS = ("ip-pre-up", "ip-up", "ip-down", "ipv6-up", "ipv6-down", "auth-up", "auth-down",
           "auth-fail", "ipx-up", "ipx-down")
SECRETS = ("pap-secrets", "chap-secrets", "srp-secrets", "eaptls-client", "eaptls-server")

_DIALS = "pppup's client dials and logs in before pppd starts; a connect or init script would " \
         "run as root on the line and dial again"
_SUPERVISES = "pppup supervises the link and never lets pppd redial or wait for traffic by itself"
_REPLACES = "pppd must use the line pppup locked, pinned and handed it on stdin"
CONFLICTING_WORDS = {
    "persist": _SUPERVISES, "demand": _SUPERVISES,
    "connect": _DIALS, "init": _DIALS,
    "pty": _REPLACES, "notty": _REPLACES, "socket": _REPLACES,
}
_TTY_WORD = re.compile(r"(tty|cua|rfcomm|ircomm)[A-Za-z0-9._-]*")
# Options whose argument is free text or a path: the next word is not an option.
# (The list is not all of pppd's options with arguments, only those whose
# argument could look like a device or a conflicting word.)
ARGUMENT_OPTIONS = frozenset({"file", "call", "plugin", "record", "logfile", "ipparam", "remotename", "user",
                              "name", "password", "linkname", "ifname", "domain", "welcome", "disconnect",
                              "ip-up-script", "ip-down-script", "ipv6-up-script", "ipv6-down-script"})


class CompanionProblem(Exception):
    """A problem in one of pppd's files: path, line (or None), message, fix."""

    def __init__(self, path: str, line: int | None, message: str, fix: str):
        super().__init__(message)
        self.path, self.line, self.message, self.fix = path, line, message, fix


def option_words(text: str) -> list[tuple[int, str]]:
    """Split a pppd option file into (line, word) as pppd's getword does:
    whitespace separates, '#' at a word start comments to the line end,
    quotes group, a backslash escapes the next character."""
    words: list[tuple[int, str]] = []
    index, line, size = 0, 1, len(text)
    while index < size:
        char = text[index]
        if char == "\n":
            line += 1
            index += 1
        elif char.isspace():
            index += 1
        elif char == "#":
            end = text.find("\n", index)
            index = size if end < 0 else end
        else:
            start_line, word, quote = line, [], ""
            while index < size:
                char = text[index]
                if char == "\\" and index + 1 < size:
                    if text[index + 1] == "\n":
                        line += 1
                    else:
                        word.append(text[index + 1])
                    index += 2
                    continue
                if quote:
                    if char == quote:
                        quote = ""
                    else:
                        if char == "\n":
                            line += 1
                        word.append(char)
                elif char in "\"'":
                    quote = char
                elif char.isspace():
                    break
                else:
                    word.append(char)
                index += 1
            words.append((start_line, "".join(word)))
    return words


def _lint_option_file(path: str, ppp_dir: str, problems: list[CompanionProblem],
                      missing_fix: str | None = None, what: str = "pppd option file") -> None:
    """Check an option file pppd reads; a missing one is fine unless `missing_fix` says how to fix it."""
    try:
        data = read_file(path, OPTION_FILE_LIMIT, what=what, missing_ok=missing_fix is None)
    except FileProblem as problem:
        fix = missing_fix if missing_fix and problem.missing else problem.fix
        problems.append(CompanionProblem(problem.path, None, problem.message, fix))
        return
    if data is None:
        return
    words = option_words(data.decode("utf-8", "replace"))
    for position, (line, word) in enumerate(words):
        if position and words[position - 1][1] in ARGUMENT_OPTIONS:
            continue  # the argument of the previous option
        reason = CONFLICTING_WORDS.get(word)
        if reason is None and (word.startswith("/dev/") or _TTY_WORD.fullmatch(word)):
            reason = _REPLACES
        if reason is not None:
            problems.append(CompanionProblem(
                path, line, f"pppd option '{word}' conflicts with pppup: {reason}",
                f"remove '{word}' from {path} (keep a separate peer file for other tools)"))
        elif word in ("file", "call") and position + 1 < len(words):
            target = words[position + 1][1]
            included = target if word == "file" else os.path.join(ppp_dir, "peers", target)
            _check_mode_only(included, problems, "pppd option file", missing_ok=False, line=(path, line))


def _check_mode_only(path: str, problems: list[CompanionProblem], what: str, missing_ok: bool,
                     line: tuple[str, int] | None = None) -> None:
    try:
        if not path.startswith("/"):
            raise FileProblem(path, "is not an absolute path", "use an absolute path")
        stat_file(path, missing_ok=missing_ok)
    except FileProblem as problem:
        where, number = line if line else (problem.path, None)
        message = problem.message if not line else f"{problem.path} (included here) {problem.message}"
        problems.append(CompanionProblem(where, number, message, problem.fix))


def _check_directory(path: str, problems: list[CompanionProblem], entries: bool) -> None:
    try:
        fd = open_directory(path)
    except FileProblem as problem:
        if entries and problem.missing:
            return  # optional script directories
        problems.append(CompanionProblem(problem.path, None, problem.message, problem.fix))
        return
    try:
        if not entries:
            return
        for name in sorted(os.listdir(fd)):
            entry = f"{path}/{name}"
            try:
                st = os.stat(name, dir_fd=fd)  # run-parts follows links: check the target
                check_mode(entry, st, "script")
            except FileProblem as problem:
                problems.append(CompanionProblem(problem.path, None, problem.message, problem.fix))
            except OSError as error:
                problems.append(CompanionProblem(entry, None, f"cannot be checked: "
                                                 f"{os.strerror(error.errno or 0)}", "fix or remove it"))
    finally:
        os.close(fd)


def tty_options_path(ppp_dir: str, device: str) -> str | None:
    """/etc/ppp/options.TTY pppd reads for `device` (after links), or None."""
    real = os.path.realpath(device)
    if not real.startswith("/dev/") or not os.path.exists(real):
        return None
    return os.path.join(ppp_dir, "options." + real[len("/dev/"):].replace("/", "."))


def check_companions(ppp_dir: str, peer_names: list[str], devices: list[str]) -> list[CompanionProblem]:
    """Every problem found in pppd's files for these peers and line devices."""
    problems: list[CompanionProblem] = []
    _check_directory(ppp_dir, problems, entries=False)
    if problems:
        return problems  # nothing under an unsafe /etc/ppp can be trusted
    _lint_option_file(os.path.join(ppp_dir, "options"), ppp_dir, problems)
    for device in devices:
        options = tty_options_path(ppp_dir, device)
        if options is not None:
            _lint_option_file(options, ppp_dir, problems)
    try:
        root_home = pwd.getpwuid(0).pw_dir
    except KeyError:
        root_home = "/root"
    if root_home.startswith("/") and root_home != "/":
        _lint_option_file(os.path.join(root_home, ".ppprc"), ppp_dir, problems)
    for script in SCRIPTS:
        _check_mode_only(os.path.join(ppp_dir, script), problems, "script", missing_ok=True)
        _check_directory(os.path.join(ppp_dir, script + ".d"), problems, entries=True)
    for secrets in SECRETS:
        _check_mode_only(os.path.join(ppp_dir, secrets), problems, "secrets file", missing_ok=True)
    peers_dir = os.path.join(ppp_dir, "peers")
    _check_directory(peers_dir, problems, entries=False)
    for name in peer_names:
        path = os.path.join(peers_dir, name)
        _lint_option_file(path, ppp_dir, problems, missing_fix=f"create {path} (root-owned, "
                          "not group/other-writable) or remove the peer from the policy", what="peer file")
    return problems
