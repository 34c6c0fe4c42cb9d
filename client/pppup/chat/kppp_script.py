"""KPPP login scripts as text: one `Command argument` per line (docs/chat.md).

Parsing finds every error before anything is sent and says where
(`file:line:col: message`).  The commands and their meaning are KPPP's;
kppp.py runs them.
"""
from __future__ import annotations

from ._record import Record
from .errors import ChatScriptError

COMMANDS = ("Expect", "Send", "Pause", "Hangup", "Answer", "Timeout", "Password", "ID",
            "Prompt", "PWPrompt", "LoopStart", "LoopEnd", "Scan", "Save", "SendNoEcho")
_NEEDS_ARGUMENT = {"Expect", "Send", "SendNoEcho", "Pause", "Timeout", "LoopStart", "LoopEnd",
                   "Scan", "Save"}
_NO_ARGUMENT = {"Hangup", "Answer"}
MAX_LOOP_NESTING = 9            # KPPP: MAXLOOPNEST (10) - 1


class LoginCommand(Record):
    __slots__ = ("name", "argument", "line", "column")
    name: str
    argument: str
    line: int
    column: int


class LoginScript(Record):
    """Parsed commands; `loops` maps each LoopEnd index to its LoopStart index."""

    __slots__ = ("commands", "source", "warnings", "loops")
    commands: tuple[LoginCommand, ...]
    source: str
    warnings: tuple[str, ...]
    loops: tuple[tuple[int, int], ...]


def parse_login_script(text: str, source: str = "<login script>", strict: bool = False) -> LoginScript:
    """Parse the text format; raises ChatScriptError (`file:line:col: message`).

    A line whose first word is not a command, right after a line that ended
    in a `#` comment, is taken as that comment wrapped onto the next line (as
    in the KPPP documentation's example, copied from a web page); it is
    reported in `warnings`.  `strict=True` refuses such lines.
    """
    commands: list[LoginCommand] = []
    warnings: list[str] = []
    loops: list[tuple[int, int]] = []
    open_loops: list[int] = []
    comment_before = False
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            comment_before = bool(stripped)
            continue
        column = len(line) - len(line.lstrip()) + 1
        word = stripped.split(None, 1)[0]
        if word not in COMMANDS:
            if comment_before and not strict:
                warnings.append(f"{source}:{number}: {stripped!r} is not a command; taken as the "
                                f"comment of line {number - 1} wrapped onto this line")
                continue
            raise ChatScriptError(source, number, column, 0,
                                  f"unknown command {word!r}; the commands are {', '.join(COMMANDS)} "
                                  "(names are case-sensitive)")
        rest_start = column - 1 + len(word)
        argument, comment_before = _argument(line[rest_start:], source, number, rest_start + 1)
        _check_argument(word, argument, source, number, column)
        index = len(commands)
        if word == "LoopStart":
            if len(open_loops) >= MAX_LOOP_NESTING:
                raise ChatScriptError(source, number, column, 0,
                                      f"loops nested deeper than {MAX_LOOP_NESTING}; flatten the script")
            open_loops.append(index)
        elif word == "LoopEnd":
            if not open_loops:
                raise ChatScriptError(source, number, column, 0,
                                      "LoopEnd without a LoopStart before it; add the LoopStart")
            loops.append((index, open_loops.pop()))
        commands.append(LoginCommand(word, argument, number, column))
    if open_loops:
        start = commands[open_loops[-1]]
        raise ChatScriptError(source, start.line, start.column, 0,
                              "LoopStart without a LoopEnd after it; add the LoopEnd")
    return LoginScript(tuple(commands), source, tuple(warnings), tuple(loops))


def _argument(rest: str, source: str, line: int, column: int) -> tuple[str, bool]:
    """The argument text and whether a comment follows it."""
    body = rest.strip()
    if body.startswith('"'):
        value: list[str] = []
        position = 1
        while True:
            if position >= len(body):
                raise ChatScriptError(source, line, column + rest.index('"'), 0,
                                      'unterminated quote: add the closing "')
            char = body[position]
            if char == '"':
                break
            if char == "\\" and position + 1 < len(body) and body[position + 1] in '"\\':
                position += 1
                char = body[position]
            value.append(char)
            position += 1
        after = body[position + 1:].strip()
        if after and not after.startswith("#"):
            raise ChatScriptError(source, line, column, 0,
                                  f"text after the quoted argument: {after!r}; "
                                  "put it inside the quotes or after a #")
        return "".join(value), bool(after)
    at = _comment_start(body)
    if at < 0:
        return body, False
    return body[:at].rstrip(), True


def _comment_start(text: str) -> int:
    # A '#' starts a comment at the start of the argument or after a blank;
    # inside a word it is text (AT#CC1), and "##" is Prompt's Scan marker.
    for position, char in enumerate(text):
        if (char == "#" and (position == 0 or text[position - 1] in " \t")
                and text[position + 1:position + 2] != "#"):
            return position
    return -1


def _check_argument(word: str, argument: str, source: str, line: int, column: int) -> None:
    if word in _NEEDS_ARGUMENT and argument == "" and word not in ("Send", "SendNoEcho"):
        raise ChatScriptError(source, line, column, 0, f"{word} needs an argument")
    if word in _NO_ARGUMENT and argument:
        raise ChatScriptError(source, line, column, 0,
                              f"{word} takes no argument (the modem strings are account settings)")
    if word in ("Pause", "Timeout"):
        if not argument.isdigit() or (word == "Timeout" and int(argument) == 0):
            raise ChatScriptError(source, line, column, 0,
                                  f"{word} takes whole seconds{' above 0' if word == 'Timeout' else ''}, "
                                  f"not {argument!r}")
    if word == "Save" and argument.lower() != "password":
        raise ChatScriptError(source, line, column, 0,
                              f"Save can only save the password (Save password), not {argument!r}")
