"""Modem and naming details the importers share: dial strings, numbers, speeds, names.

The checks are the account loader's own patterns (pppup.accounts), so what
passes here is what the loader will accept; what does not is reported.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from ..accounts import DIAL_COMMANDS, SPEEDS, _AT_COMMAND, _NAME, _PHONE

_DIAL_TAIL = re.compile(r"D([TP]?)\s*$", re.IGNORECASE)
_AUTO_ANSWER = re.compile(r"S0\s*=\s*0*[1-9]", re.IGNORECASE)
_FORCED_CARRIER = re.compile(r"&C0(?![0-9])", re.IGNORECASE)


class DialString(NamedTuple):
    command: str            # ATDT, ATDP or ATD
    extra: str | None       # AT + the commands before the D (e.g. "AT&C0S0=1"), or None


def split_dial_string(text: str) -> DialString | None:
    """`AT&C0S0=1DT` -> (ATDT, AT&C0S0=1); None if it does not end in D, DT or DP."""
    squeezed = text.strip()
    if not squeezed.upper().startswith("AT"):
        return None
    tail = _DIAL_TAIL.search(squeezed)
    if tail is None:
        return None
    command = "ATD" + tail.group(1).upper()
    if command not in DIAL_COMMANDS:
        return None
    before = squeezed[: tail.start()].rstrip()
    extra = before if before.upper() != "AT" else None
    return DialString(command, extra)


def without_callback_setup(command: str) -> str | None:
    """An AT command without the auto-answer and forced-carrier parts pppup sets itself."""
    rest = _AUTO_ANSWER.sub("", command)
    rest = _FORCED_CARRIER.sub("", rest)
    rest = rest.strip()
    return None if rest.upper() in ("", "AT") else rest


def asks_auto_answer(command: str) -> bool:
    return _AUTO_ANSWER.search(command) is not None


def valid_init(command: str) -> bool:
    return _AT_COMMAND.fullmatch(command) is not None


def valid_phone(number: str) -> bool:
    return _PHONE.fullmatch(number) is not None and any(char.isdigit() for char in number)


def speed_of(text: str) -> int | None:
    text = text.strip()
    if not text.isdigit():
        return None
    value = int(text)
    return value if value in SPEEDS else None


def valid_name(name: str) -> bool:
    return _NAME.fullmatch(name) is not None and ".." not in name


def name_from(text: str, fallback: str) -> str:
    """A pppup name (account, line, peer) made from free text: `My ISP (home)` -> `my-isp-home`."""
    lowered = text.strip().lower()
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", lowered)
    cleaned = re.sub(r"\.{2,}", ".", cleaned)
    cleaned = cleaned.strip("-._")[:32].rstrip("-._")
    return cleaned if cleaned and valid_name(cleaned) else fallback


def line_name_for(device: str) -> str:
    """The policy line name suggested for a device path: /dev/ttyS1 -> ttys1, /dev/modem -> modem."""
    base = device.rstrip("/").rsplit("/", 1)[-1]
    return name_from(base, "modem")
