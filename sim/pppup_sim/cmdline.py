"""Split the body of an AT command line (what follows `AT`) into commands.

Pure and total: every input gives a list of commands, possibly ending with
`Unparsable` at the first thing that is not a command.  Whether a command is
*known* and its value in range is the modem's business (hayes.py); this only
knows the shapes V.250 and the Hayes dialects write commands in:

    E1  H  S7=30  S0?  ?  =5  &D3  \\Q3  %C0  #CC1  +FCLASS=0;  DT555,1234;

Spaces and control characters are ignored everywhere (V.250 5.2.1) and
letters are case-insensitive.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Basic:
    """A letter with an optional decimal value: `E1`, `H`, `Z0`, `M1`, `&D3`, `\\Q3`.

    `prefix` is "" for plain letters or one of `&`, `\\`, `%`, `#`; `#`
    commands may have several letters (`#CC1`).
    """
    prefix: str
    name: str
    value: int | None

    @property
    def key(self) -> str:
        return self.prefix + self.name


@dataclass(frozen=True)
class Register:
    """`Sn=v` (value set), `Sn?` (query), `Sn` (select), `?` / `=v` (selected register)."""
    number: int | None      # None: the register selected earlier
    op: str                 # "set", "query", "select"
    value: int | None = None


@dataclass(frozen=True)
class Dial:
    """`D` and everything after it up to an optional `;` (which keeps the modem in command mode)."""
    text: str
    stay_in_command_mode: bool


@dataclass(frozen=True)
class Extended:
    """`+NAME`, `+NAME?`, `+NAME=?`, `+NAME=value`."""
    name: str
    op: str                 # "exec", "query", "test", "set"
    value: str = ""


@dataclass(frozen=True)
class Unparsable:
    text: str


Command = Basic | Register | Dial | Extended | Unparsable

_PREFIXES = "&\\%"
_DIGITS = set("0123456789")
_LETTERS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_EXTENDED_NAME_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!%-./:_")


def _clean(body: str) -> str:
    return "".join(ch for ch in body if ch > " " and ch != "\x7f")


def _number(text: str, pos: int) -> tuple[int | None, int]:
    end = pos
    while end < len(text) and text[end] in _DIGITS:
        end += 1
    if end == pos:
        return None, pos
    return int(text[pos:end]), end


def parse(body: str) -> list[Command]:
    """The commands of one command line body, in order."""
    # ASCII-only upper case keeps positions aligned with `dial_text`.
    text = _clean(body).translate(_UPPER)
    dial_text = _clean(body)            # dial strings keep their case for the event log
    commands: list[Command] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch == "D":
            rest = dial_text[pos + 1:]
            semicolon = rest.find(";")
            if semicolon < 0:
                commands.append(Dial(rest, False))
                return commands
            commands.append(Dial(rest[:semicolon], True))
            pos += 1 + semicolon + 1
            continue
        if ch == "S":
            number, pos = _number(text, pos + 1)
            if number is None:
                commands.append(Unparsable(text[pos - 1:]))
                return commands
            pos = _register_tail(text, pos, number, commands)
            continue
        if ch in "?=":
            pos = _register_tail(text, pos, None, commands)
            if commands and isinstance(commands[-1], Unparsable):
                return commands
            continue
        if ch == "+":
            pos = _extended(text, pos + 1, commands)
            if commands and isinstance(commands[-1], Unparsable):
                return commands
            continue
        if ch == "#":
            end = pos + 1
            while end < len(text) and text[end] in _LETTERS:
                end += 1
            if end == pos + 1:
                commands.append(Unparsable(text[pos:]))
                return commands
            value, after = _number(text, end)
            commands.append(Basic("#", text[pos + 1:end], value))
            pos = after
            continue
        if ch in _PREFIXES:
            if pos + 1 >= len(text) or text[pos + 1] not in _LETTERS:
                commands.append(Unparsable(text[pos:]))
                return commands
            value, after = _number(text, pos + 2)
            commands.append(Basic(ch, text[pos + 1], value))
            pos = after
            continue
        if ch in _LETTERS:
            value, after = _number(text, pos + 1)
            commands.append(Basic("", ch, value))
            pos = after
            continue
        commands.append(Unparsable(text[pos:]))
        return commands
    return commands


def _register_tail(text: str, pos: int, number: int | None, out: list[Command]) -> int:
    if pos < len(text) and text[pos] == "?":
        out.append(Register(number, "query"))
        return pos + 1
    if pos < len(text) and text[pos] == "=":
        value, after = _number(text, pos + 1)
        # `S7=` with no digits sets 0, as V.250 defaults a missing value.
        out.append(Register(number, "set", 0 if value is None else value))
        return after
    if number is None:
        out.append(Unparsable(text[pos:]))
        return len(text)
    out.append(Register(number, "select"))
    return pos


def _extended(text: str, pos: int, out: list[Command]) -> int:
    end = pos
    while end < len(text) and text[end] in _EXTENDED_NAME_CHARS:
        end += 1
    name = text[pos:end]
    if not name or name[0] not in _LETTERS:
        out.append(Unparsable("+" + text[pos:]))
        return len(text)
    if text.startswith("=?", end):
        op, value, end = "test", "", end + 2
    elif text.startswith("?", end):
        op, value, end = "query", "", end + 1
    elif text.startswith("=", end):
        stop = text.find(";", end)
        stop = len(text) if stop < 0 else stop
        op, value, end = "set", text[end + 1:stop], stop
    else:
        op, value = "exec", ""
    out.append(Extended(name, op, value))
    if end < len(text):
        if text[end] != ";":
            out.append(Unparsable(text[end:]))
            return len(text)
        end += 1
    return end
