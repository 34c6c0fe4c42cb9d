"""chat(8) escape processing, byte for byte as chat 2.4.9 does it.

chat processes a string in two stages and both are visible from outside:

1. `clean()` turns the script text into a buffer.  For expect strings that
   buffer is the final pattern.  For send strings some escapes are only
   *marked* (a backslash stays in front of `d`, `p`, `K`, `\\`, NUL and any
   unknown letter); the verbose log, SAY and the `\\N` truncation all show
   this intermediate buffer, so it must be reproduced exactly.
2. `send_operations()` walks that buffer the way chat writes it: markers
   become a one-second sleep, a 10 ms pause, a break, or the escaped byte.

Text inserted by `-T`, `-U` and `$NAME` is copied raw, so a backslash in it
still acts in stage 2 (chat.md section 5).
"""
from __future__ import annotations

import os

TYPE_CHECKING = False           # typing imports cost start-up time; annotations only
if TYPE_CHECKING:
    from collections.abc import Mapping

BACKSLASH = 0x5C
CARET = 0x5E
DOLLAR = 0x24
CR = 0x0D

# Stage-2 operations besides writing bytes.
SLEEP = "sleep"    # \d: sleep(1), cut short by the send deadline
PAUSE = "pause"    # \p: usleep(10000)
BREAK = "break"    # \K: tcsendbreak(fd, 0)

_NAME_BYTES = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_OCTAL = frozenset(b"01234567")
_SIMPLE = {ord("b"): b"\b", ord("r"): b"\r", ord("n"): b"\n", ord("s"): b" ", ord("t"): b"\t"}
_MARKED_IN_SEND = frozenset(b"\\Kpd")
_MARKERS = {ord("d"): SLEEP, ord("p"): PAUSE, ord("K"): BREAK}


class EscapeContext:
    """What escape processing depends on besides the text: -T, -U, -E."""

    __slots__ = ("phone", "phone2", "use_env", "environ")

    def __init__(self, phone: bytes | None = None, phone2: bytes | None = None,
                 use_env: bool = False, environ: Mapping[bytes, bytes] | None = None) -> None:
        self.phone = phone
        self.phone2 = phone2
        self.use_env = use_env
        # os.environb is read at call time, as getenv() would be.
        self.environ = environ if environ is not None else os.environb


class Cleaned:
    """The result of stage 1.

    `buffer` is everything chat writes into its malloc'ed buffer, including
    bytes after an embedded NUL (stage 2 reads past a `\\`+NUL pair);
    `text` is the C string view of it (up to the first NUL), which is what
    the log, SAY and strlen() see.  `quiet` is set by `\\q`.
    """

    __slots__ = ("buffer", "quiet")

    def __init__(self, buffer: bytes, quiet: bool) -> None:
        self.buffer = buffer
        self.quiet = quiet

    @property
    def text(self) -> bytes:
        end = self.buffer.find(0)
        return self.buffer if end < 0 else self.buffer[:end]


def clean(raw: bytes, sending: bool, context: EscapeContext) -> Cleaned:
    """Stage 1 of chat's escape processing (chat.c `clean()`)."""
    out = bytearray()
    add_return = sending
    quiet = False
    length = len(raw)
    i = 0
    while i < length:
        byte = raw[i]
        i += 1
        if byte == CARET:
            if i >= length:
                out.append(CARET)          # a '^' at the very end is literal
                break
            control = raw[i] & 0x1F
            i += 1
            if control:
                out.append(control)        # ^@, '^ ' and ^` would be NUL: dropped
            continue
        if byte == DOLLAR and context.use_env:
            start = i
            while i < length and raw[i] in _NAME_BYTES:
                i += 1
            value = context.environ.get(raw[start:i]) if i > start else None
            if value:
                out += value.split(b"\0", 1)[0]
            continue
        if byte != BACKSLASH:
            out.append(byte)
            continue
        if i >= length:
            if sending:
                out += b"\\\\"             # stage 2 turns this into one backslash
            break
        byte = raw[i]
        i += 1
        _clean_escape(byte, raw, i, sending, context, out)
        if byte in _OCTAL:
            i = _octal_end(raw, i)
        elif byte == ord("c") and sending and i >= length:
            add_return = False
        elif byte == ord("q"):
            quiet = True
    if add_return:
        out.append(CR)
    return Cleaned(bytes(out), quiet)


def _clean_escape(byte: int, raw: bytes, i: int, sending: bool, context: EscapeContext,
                  out: bytearray) -> None:
    """Append what backslash + `byte` becomes; `i` is the index after `byte`."""
    simple = _SIMPLE.get(byte)
    if simple is not None:
        out += simple
    elif byte == ord("c"):
        if not (sending and i >= len(raw)):
            out.append(byte)
    elif byte in _MARKED_IN_SEND:
        if sending:
            out.append(BACKSLASH)
        out.append(byte)
    elif byte == ord("T") or byte == ord("U"):
        value = context.phone if byte == ord("T") else context.phone2
        if sending and value is not None:
            out += value
        else:
            out += b"\\" + bytes((byte,))
    elif byte == ord("q"):
        pass
    elif byte == ord("N"):
        out += b"\\\0" if sending else b"N"
    elif byte == DOLLAR and context.use_env:
        out.append(DOLLAR)
    elif byte in _OCTAL:
        value = _octal_value(raw, i - 1)
        if value or sending:
            if sending and value in (0, BACKSLASH):
                out.append(BACKSLASH)
            out.append(value)
    else:
        if sending:
            out.append(BACKSLASH)
        out.append(byte)


def _octal_end(raw: bytes, i: int) -> int:
    """Index after the (up to) two more octal digits following position i-1."""
    for _ in range(2):
        if i < len(raw) and raw[i] in _OCTAL:
            i += 1
        else:
            break
    return i


def _octal_value(raw: bytes, start: int) -> int:
    # chat accumulates in a char: the value is kept to 8 bits (\777 = 0xff, \400 = 0).
    end = _octal_end(raw, start + 1)
    return int(raw[start:end], 8) & 0xFF


def send_operations(cleaned: Cleaned) -> list[bytes | str]:
    """Stage 2 (chat.c `put_string()`): what writing the buffer does.

    Returns a list of byte runs (written one byte at a time) and the
    markers SLEEP, PAUSE and BREAK.
    """
    buffer = cleaned.buffer
    length = len(buffer)
    operations: list[bytes | str] = []
    run = bytearray()
    i = 0
    while i < length and buffer[i] != 0:
        byte = buffer[i]
        i += 1
        if byte != BACKSLASH:
            run.append(byte)
            continue
        if i >= length:
            # chat reads the terminating NUL as the escaped byte and sends it;
            # what it does after that reads past the buffer (undefined), so we stop.
            run.append(0)
            break
        byte = buffer[i]
        i += 1
        marker = _MARKERS.get(byte)
        if marker is None:
            run.append(byte)
            continue
        if run:
            operations.append(bytes(run))
            run.clear()
        operations.append(marker)
    if run:
        operations.append(bytes(run))
    return operations


def visible(data: bytes) -> bytes:
    """chat's `%v` format: M- for bit 7, ^X for controls (TAB kept), ^? for DEL."""
    out = bytearray()
    for byte in data:
        if byte >= 0x80:
            out += b"M-"
            byte -= 0x80
        if byte < 0x20 and byte != 0x09 or byte == 0x7F:
            out.append(CARET)
            out.append(byte ^ 0x40)
        else:
            out.append(byte)
    return bytes(out)


def character(byte: int) -> bytes:
    """chat's `character()`: how ECHO and -V show one received byte."""
    meta = b"M-" if byte & 0x80 else b""
    byte &= 0x7F
    if byte < 32:
        return meta + bytes((CARET, byte + 64))
    if byte == 127:
        return meta + b"^?"
    return meta + bytes((byte,))


def atoi(text: bytes) -> int:
    """C atoi(): leading blanks, a sign, digits; garbage gives 0; int overflow wraps."""
    i = 0
    length = len(text)
    while i < length and text[i] in b" \t\n\v\f\r":
        i += 1
    sign = 1
    if i < length and text[i] in b"+-":
        sign = -1 if text[i] == ord("-") else 1
        i += 1
    start = i
    while i < length and 0x30 <= text[i] <= 0x39:
        i += 1
    if i == start:
        return 0
    # strtol clamps to the long range, then the int conversion keeps 32 bits.
    value = max(-(1 << 63), min((1 << 63) - 1, sign * int(text[start:i])))
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value
