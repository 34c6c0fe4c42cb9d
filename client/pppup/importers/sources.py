"""Reading the files an import starts from: bounded, decoded, with errors that say what to do.

These files belong to other tools (pppd, chat, wvdial, KPPP) and are only
read, never trusted for ownership the way pppup's own files are: the
import copies what it needs into files pppup checks.  Text is UTF-8; a
file that is not (an old Latin-1 kppprc) is read as Latin-1 and reported.
"""
from __future__ import annotations

import os

from pppup_protocol.errors import Code, PppupError

from .report import Report

MAX_SOURCE_BYTES = 1024 * 1024


def read_bytes(path: str, what: str, hint: str = "") -> bytes:
    try:
        with open(path, "rb") as source:
            data = source.read(MAX_SOURCE_BYTES + 1)
    except FileNotFoundError:
        raise PppupError(f"{path}: the {what} does not exist; give the right file"
                         + (f" ({hint})" if hint else ""), Code.USAGE) from None
    except IsADirectoryError:
        raise PppupError(f"{path}: is a directory, not a {what}; give the file", Code.USAGE) from None
    except PermissionError:
        raise PppupError(f"{path}: you may not read the {what}"
                         + (f"; {hint}" if hint else "; run the import as a user who can read it"),
                         Code.USAGE) from None
    except OSError as error:
        raise PppupError(f"{path}: cannot read the {what}: {error.strerror}", Code.USAGE) from None
    if len(data) > MAX_SOURCE_BYTES:
        raise PppupError(f"{path}: the {what} is larger than {MAX_SOURCE_BYTES} bytes; is it the right file?",
                         Code.USAGE)
    return data


def decode(data: bytes, path: str, report: Report) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        report.note(path, "the file is not UTF-8; it was read as Latin-1 (check names and passwords with "
                    "accented letters)")
        return data.decode("latin-1")


def read_text(path: str, what: str, report: Report, hint: str = "") -> str:
    return decode(read_bytes(path, what, hint), path, report)


def readable(path: str) -> bool:
    return os.access(path, os.R_OK)
