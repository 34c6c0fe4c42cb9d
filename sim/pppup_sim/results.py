"""Result codes and how a modem frames its answers (ITU-T V.250 5.7, 5.8).

Verbal (`V1`): every result and every information text is `<CR><LF>text<CR><LF>`.
Numeric (`V0`): a result is `code<CR>`; information text is `text<CR><LF>`.
`Q1` suppresses results, never information text.  `<CR>`/`<LF>` are S3/S4.
"""
from __future__ import annotations

OK = "OK"
CONNECT = "CONNECT"
RING = "RING"
NO_CARRIER = "NO CARRIER"
ERROR = "ERROR"
NO_DIALTONE = "NO DIALTONE"
BUSY = "BUSY"
NO_ANSWER = "NO ANSWER"

# V.250 table 1 (6 and 7 are Hayes').  Every `CONNECT <speed>` is reported as
# 1 in numeric mode: speed-specific numeric codes differ from vendor to vendor.
NUMERIC = {OK: 0, CONNECT: 1, RING: 2, NO_CARRIER: 3, ERROR: 4,
           NO_DIALTONE: 6, BUSY: 7, NO_ANSWER: 8}

# The outcomes a call attempt can end with on the caller's side.
CALL_FAILURES = (BUSY, NO_ANSWER, NO_CARRIER, NO_DIALTONE)


def numeric_code(text: str) -> int:
    """The V0 code of a result: `CONNECT 33600` -> 1."""
    return NUMERIC[CONNECT] if text.startswith(CONNECT) else NUMERIC[text]


def frame_result(text: str, *, verbose: bool, quiet: bool, cr: int, lf: int) -> bytes:
    if quiet:
        return b""
    eol, nl = bytes([cr]), bytes([lf])
    if verbose:
        return eol + nl + text.encode("ascii") + eol + nl
    return str(numeric_code(text)).encode("ascii") + eol


def frame_info(lines: list[str], *, verbose: bool, cr: int, lf: int) -> bytes:
    crlf = bytes([cr, lf])
    body = crlf.join(line.encode("latin-1") for line in lines)
    return (crlf if verbose else b"") + body + crlf
