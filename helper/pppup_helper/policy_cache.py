"""The policy's parsed TOML, kept between requests (DEVELOPERS.md "Start-up budget").

Every request through the shim is a fresh helper process, and after the
interpreter itself, tomllib (with the typing module it imports) is the
largest part of that process's start-up.  So the helper keeps what tomllib
made of the policy as JSON, together with the policy text it came from, in
STATE_DIR/policy-document.json (root-owned, 0600, in the root-only state
directory).  A later request whose policy text is byte for byte the same
takes the document from there.

Only the parse is reused.  Every request still opens the policy file and
checks it on the open fd, reads its bytes, validates the whole document,
checks pppd's files and resolves user and group names (policy.py).

Plain JSON, never a format that builds objects (Y5): it holds everything a
TOML document can except dates and times, and a document with one of those is never stored
(so what comes back is exactly what tomllib returned).  The key is the
whole text, not the file's identity, which an in-place edit within one
clock tick could repeat.  A missing, foreign, oversized or damaged cache
file is simply a miss.
"""
from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable

from pppup_protocol import paths

DOCUMENT_FILE = "policy-document.json"
MAX_BYTES = 4 * 1024 * 1024      # the policy is at most 256 KiB; its JSON and the text fit easily


def parsed(text: str, parse: Callable[[str], dict], state_dir: str = paths.STATE_DIR) -> dict:
    """parse(text), or the document an earlier request stored for this very text."""
    dirfd = _open_state_dir(state_dir)
    try:
        document = _load(dirfd, text) if dirfd is not None else None
        if document is None:
            document = parse(text)
            if dirfd is not None:
                _store(dirfd, text, document)
        return document
    finally:
        if dirfd is not None:
            os.close(dirfd)


def _open_state_dir(state_dir: str) -> int | None:
    """The state directory, only if it is root's alone (StateDir creates it)."""
    try:
        fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    st = os.fstat(fd)
    if st.st_uid != 0 or stat.S_IMODE(st.st_mode) & 0o077:
        os.close(fd)
        return None
    return fd


def _load(dirfd: int, text: str) -> dict | None:
    try:
        fd = os.open(DOCUMENT_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dirfd)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_nlink != 1 \
                or stat.S_IMODE(st.st_mode) & 0o077 or st.st_size > MAX_BYTES:
            return None
        raw = os.read(fd, MAX_BYTES + 1)
    finally:
        os.close(fd)
    try:
        stored = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if type(stored) is not dict or stored.get("text") != text or type(stored.get("document")) is not dict:
        return None
    return stored["document"]


def _store(dirfd: int, text: str, document: dict) -> None:
    """Best effort: a document JSON cannot hold exactly, or any write problem, stores nothing."""
    try:
        raw = json.dumps({"text": text, "document": document}, allow_nan=False).encode("ascii")
    except (TypeError, ValueError):
        return        # dates or times in the document: JSON would not give them back
    if len(raw) > MAX_BYTES:
        return
    temp = f".{DOCUMENT_FILE}.{os.getpid()}.{os.urandom(6).hex()}"
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=dirfd)
    except OSError:
        return
    try:
        try:
            os.fchmod(fd, 0o600)
            written = os.write(fd, raw)
        finally:
            os.close(fd)
        if written == len(raw):
            os.rename(temp, DOCUMENT_FILE, src_dir_fd=dirfd, dst_dir_fd=dirfd)
            return
    except OSError:
        pass
    try:
        os.unlink(temp, dir_fd=dirfd)
    except OSError:
        pass
