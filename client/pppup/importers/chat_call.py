"""A pppd `connect` command that runs chat(8): which script, which -T/-U, which options.

pppd runs the connect string with `/bin/sh -c`, so it is split into words
the way the shell would (shlex, POSIX rules).  What pppup can carry over is
one plain chat invocation, possibly behind `exec`:

    /usr/sbin/chat -v -f /etc/chatscripts/pap -T 5551234
    chat -t 30 "" ATZ OK ATDT5551234 CONNECT ""
    exec chat -f /etc/chatscripts/isp 2>/dev/null

chat's options are scanned as chat 2.4.9 scans them (docs/chat.md): bundled
letters, values glued on or in the next word, options end at the first
word that does not start with '-' or at `--`.  Pipes, command lists,
command substitution and other programs are reported, never guessed at.
"""
from __future__ import annotations

import io
import os
import re
import shlex
from typing import NamedTuple

from ..chat.errors import ChatScriptError
from ..chat.script import argv_tokens, file_tokens

CHAT_PROGRAMS = ("chat", "pppup-chat")
_VALUE_OPTIONS = "tTUrf"
_FLAG_OPTIONS = "eEvVsS"
_REDIRECTION = re.compile(r"[0-9]*(>>|>|<)&?.*|[0-9]*>&[0-9-]")
_SHELL_OPERATORS = ("|", "||", "&&", ";", "&", "(", ")")


class ChatCall(NamedTuple):
    program: str
    script_file: str | None           # -f
    words: tuple[str, ...]            # the script given on the command line
    phone: str | None                 # -T
    phone2: str | None                # -U
    timeout: int | None               # -t
    flags: str                        # the letters of flag options given (e.g. "vE")
    report_file: str | None           # -r
    ignored: tuple[str, ...]          # shell redirections that were dropped


class NotChat(ValueError):
    """The command is not a plain chat invocation; the message says why."""


def parse_connect(command: str) -> ChatCall:
    try:
        words = shlex.split(command, comments=False, posix=True)
    except ValueError as error:
        raise NotChat(f"the shell cannot split it ({error})") from None
    for word in words:
        if word in _SHELL_OPERATORS or "$(" in word or "`" in word:
            raise NotChat(f"it is a shell command line ({word!r}), not a single chat run")
        if word.startswith("$"):
            raise NotChat(f"it depends on the shell variable {word!r}")
    ignored = tuple(word for word in words if _REDIRECTION.fullmatch(word))
    words = [word for word in words if not _REDIRECTION.fullmatch(word)]
    if words and words[0] == "exec":
        words = words[1:]
    if not words:
        raise NotChat("it is empty")
    program = words[0]
    if os.path.basename(program) not in CHAT_PROGRAMS:
        raise NotChat(f"it runs {program!r}, not chat")
    return _scan_options(program, words[1:], ignored)


def _scan_options(program: str, args: list[str], ignored: tuple[str, ...]) -> ChatCall:
    values: dict[str, str] = {}
    flags = ""
    index = 0
    while index < len(args):
        word = args[index]
        if word == "--":
            index += 1
            break
        if not word.startswith("-") or word == "-":
            break
        position = 1
        while position < len(word):
            letter = word[position]
            if letter in _FLAG_OPTIONS:
                flags += letter
                position += 1
                continue
            if letter in _VALUE_OPTIONS:
                rest = word[position + 1:]
                if rest:
                    values[letter] = rest
                elif index + 1 < len(args):
                    index += 1
                    values[letter] = args[index]
                else:
                    raise NotChat(f"chat's option -{letter} has no value")
                break
            raise NotChat(f"chat has no option -{letter}")
        index += 1
    script_words = tuple(args[index:])
    if "f" in values and script_words:
        raise NotChat("it gives chat both -f and a script on the command line (chat refuses that)")
    timeout = None
    if "t" in values:
        if not values["t"].isdigit():
            raise NotChat(f"chat's -t {values['t']!r} is not a number of seconds")
        timeout = int(values["t"])
    script_file = values.get("f")
    if script_file is not None and not script_file.startswith("/"):
        script_file = os.path.join("/", script_file)      # pppd runs connect from /
    return ChatCall(program=program, script_file=script_file, words=script_words,
                    phone=values.get("T"), phone2=values.get("U"), timeout=timeout, flags=flags,
                    report_file=values.get("r"), ignored=ignored)


def words_as_file(words: tuple[str, ...]) -> str | None:
    """A chat script file whose steps are exactly these command-line words, or None if impossible.

    On the command line each word is a token as it is; in a file a token in
    quotes runs to the closing quote (a backslash keeps the next byte from
    closing it, and stays), so each word goes in quotes, one expect-send pair
    per line.  The result is checked by parsing it with the chat engine: a
    word that cannot be written so (a newline, both quotes, a trailing
    backslash) gives None.
    """
    quoted: list[str] = []
    for word in words:
        if any(char in word for char in "\n\r\0"):
            return None
        quote = "'" if "'" not in word else '"'
        quoted.append(f"{quote}{word}{quote}")
    text = "\n".join(" ".join(quoted[start:start + 2]) for start in range(0, len(quoted), 2)) + "\n"
    try:
        tokens = [token.text for token in file_tokens(io.BytesIO(text.encode("utf-8")), "<argv>")]
    except (ChatScriptError, UnicodeEncodeError):
        return None
    expected = [token.text for token in argv_tokens(word.encode("utf-8") for word in words)]
    return text if tokens == expected else None
