"""A chat script's `\\T` and placeholders: what chat's -T is used for, filling it in, what is left to edit.

In chat, `\\T` in a send string is the text given with `-T`.  Debian's gprs
script sends it as the APN (`AT+CGDCONT=1,"IP","\\T"`), other scripts as a
SIM PIN; in pppup `\\T` is always the account's phone number.  A -T that is
not a phone number is therefore written into a copy of the script in place
of `\\T` (`fill_t`), and the copy is checked by parsing both scripts: every
step must be the same, with the text in place of `\\T` in send strings only.

Debian's stock /etc/chatscripts/provider still says `ATDT<put phone number
here>`; chat would send that as it is, so such lines are pointed out
(`placeholders`).
"""
from __future__ import annotations

import re

from ..chat.errors import ChatScriptError
from ..chat.script import Expect, Keyword, Script, Send, parse_bytes

# Text that may stand for \T in a script file: no blank, quote, backslash, caret
# or dollar, which chat would read as syntax or escapes once the text is part of
# the script (chat inserts -T raw).
_FILLABLE = re.compile(rb"[A-Za-z0-9._@:/+=,*#!%&()~-]{1,63}")
_PLACEHOLDER = re.compile(rb"<(?:put|your|insert|enter|target)\b[^<>\n]*>", re.IGNORECASE)


def sends(script: Script) -> list[bytes]:
    """The texts chat sends (where \\T is replaced): send strings and sub-sends of expects."""
    texts: list[bytes] = []
    for step in script.steps:
        if isinstance(step, Send):
            texts.append(step.token.text)
        elif isinstance(step, Expect):
            texts.extend(step.pieces[1::2])
    return texts


def t_use(script: Script) -> str | None:
    """What the script sends \\T as: "dial" (in an ATD command), "apn" (in +CGDCONT), "other", or None."""
    uses = [text.upper() for text in sends(script) if _t_offsets(text)]
    if not uses:
        return None
    if any(b"ATD" in text for text in uses):
        return "dial"
    if any(b"CGDCONT" in text for text in uses):
        return "apn"
    return "other"


def fill_t(data: bytes, value: str, source: str) -> bytes | None:
    """The script with `value` in place of each \\T, or None if that would change anything else."""
    raw = value.encode("utf-8", errors="replace")
    if not _FILLABLE.fullmatch(raw):
        return None
    out = bytearray()
    for line in data.splitlines(keepends=True):
        if line.startswith(b"#"):
            out += line
            continue
        last = 0
        for offset in _t_offsets(line):
            out += line[last:offset] + raw
            last = offset + 2
        out += line[last:]
    filled = bytes(out)
    try:
        before, after = parse_bytes(data, source), parse_bytes(filled, source)
    except ChatScriptError:
        return None
    return filled if _steps(after) == _steps(before, raw) else None


def placeholders(data: bytes) -> list[tuple[int, str]]:
    """(line, text) of each `<put ... here>`-like placeholder outside comments."""
    found = []
    for number, line in enumerate(data.splitlines(), 1):
        if line.startswith(b"#"):
            continue
        found += [(number, match.group().decode("utf-8", "replace")) for match in _PLACEHOLDER.finditer(line)]
    return found


def _t_offsets(text: bytes) -> list[int]:
    """Offsets of each unescaped backslash-T (a backslash escapes the next byte, as in chat)."""
    offsets = []
    index = 0
    while index < len(text) - 1:
        if text[index] == 0x5C:
            if text[index + 1] == ord("T"):
                offsets.append(index)
            index += 2
        else:
            index += 1
    return offsets


def _replace_t(text: bytes, raw: bytes) -> bytes:
    out = bytearray()
    last = 0
    for offset in _t_offsets(text):
        out += text[last:offset] + raw
        last = offset + 2
    return bytes(out + text[last:])


def _steps(script: Script, raw: bytes | None = None) -> list[tuple[object, ...]]:
    """Comparable steps; with `raw`, as chat would send them with raw for \\T."""
    def send(text: bytes) -> bytes:
        return _replace_t(text, raw) if raw is not None else text

    out: list[tuple[object, ...]] = []
    for step in script.steps:
        if isinstance(step, Send):
            out.append(("send", send(step.token.text)))
        elif isinstance(step, Expect):
            out.append(("expect",) + tuple(send(piece) if index % 2 else piece
                                           for index, piece in enumerate(step.pieces)))
        elif isinstance(step, Keyword):
            out.append((step.name, step.argument.text))
    return out
