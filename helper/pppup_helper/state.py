"""Root-owned session state under /run/pppup: what is on every line, truthfully.

Layout: /run/pppup (root 0700) / lines (root 0700) / LINE.json (0600) while a
session exists, LINE.last.json (0600) for the last session's end record.
Both are written atomically (temporary file, fsync, rename, fsync of the
directory), so a crash leaves the old record or the new one, never a torn one.

Reading is strict (attack classes Z4, A4): regular root-owned file with one
link, at most MAX_RECORD bytes, JSON with no duplicate keys, no floats, no
NaN, integers of at most 12 digits, exactly the known keys with the right
types and ranges.  Anything else is "no record": a corrupt file can never
mean "owner uid 0" or "pid 0", and never makes the helper signal anything.
"""
from __future__ import annotations

import json
import os
import re
import stat
from collections import namedtuple

from pppup_protocol import paths
from pppup_protocol.errors import Code, PppupError

from pppup_helper.procinfo import PID_MAX_LIMIT

MAX_RECORD = 16384
# A record replaced (renamed over) or removed between our open and fstat:
# read the name again, up to this many times in all.
_REREAD_ATTEMPTS = 3
_REPLACED = object()
PHASES = ("dialling", "starting", "up", "stopping")
# Patterns are compiled by `re` on first use (its own cache): a status
# request that finds no record never pays for them.
LINE_NAME = r"[a-z0-9][a-z0-9._-]{0,31}"
_TEXT = r"[\x20-\x7e]{0,200}"
_IFNAME = r"[A-Za-z0-9._-]{1,15}"
_INT = r"-?[0-9]{1,12}"
_LOCK_NAME = r"(LCK\.\.|LK\.)[\x21-\x7e]{1,250}"
UID_MAX = 2**32 - 2       # (uid_t)-1 is "no uid"


class _Invalid(Exception):
    """The file is not a valid record (internal: callers get None)."""


# Plain named tuples (immutable, `_replace`, `_asdict`): the helper's
# start-up does not pay for dataclasses or typing (DEVELOPERS.md "Start-up budget").
class SessionRecord(namedtuple("SessionRecord", [
        "line",                     # str: the policy's line name
        "owner_uid",                # int
        "user",                     # str: the owner's name
        "account",                  # str
        "phase",                    # str: one of PHASES
        "supervisor_pid",           # int: the helper (later the supervisor) holding the line
        "supervisor_start",         # int: its start time (clock ticks after boot)
        "since",                    # int: wall-clock seconds (for display only)
        "device",                   # str: the resolved device path
        "lock_names",               # tuple[str, ...]
        "peer",                     # str | None, and the rest None until pppd runs
        "pppd_pid", "pppd_start", "link_start", "ifname", "local_ip", "remote_ip",
        # int | None: the interface's byte counters when IP came up.  pppd's
        # own count (the end record's) starts there; the counters also hold
        # the IPCP negotiation, which `pppup status` takes off.
        "base_sent", "base_received",
        ], defaults=(None,) * 9)):
    __slots__ = ()


class EndRecord(namedtuple("EndRecord", [
        "line", "owner_uid", "user", "account",
        "reason",                   # str: why the link ended (pppd.EXIT_REASONS or a cleanup's words)
        "exit_status",              # int | None: pppd's, when it ran
        "started", "ended",         # int: wall-clock seconds
        "duration",                 # int: seconds the link was up (0 if it never came up)
        "bytes_sent", "bytes_received", "peer",     # int | None, int | None, str | None
        ], defaults=(None,) * 3)):
    __slots__ = ()


# ---------------------------------------------------------------- validation
def _pid(v: object) -> bool:
    return type(v) is int and 1 < v <= PID_MAX_LIMIT


def _uid(v: object) -> bool:
    return type(v) is int and 0 <= v <= UID_MAX


def _nonneg(v: object) -> bool:
    return type(v) is int and 0 <= v < 10**12


def _text(v: object) -> bool:
    return type(v) is str and re.fullmatch(_TEXT, v) is not None


def _ipv4(v: object) -> bool:
    """A dotted-quad IPv4 address: what pppd's IPCP reports (pppd.PppdLog)."""
    if type(v) is not str or len(v) > 15:
        return False
    parts = v.split(".")
    return len(parts) == 4 and all(p.isdigit() and p.isascii() and len(p) <= 3 and int(p) <= 255
                                   for p in parts)


_SESSION_CHECKS = {
    "line": lambda v: type(v) is str and re.fullmatch(LINE_NAME, v) is not None,
    "owner_uid": _uid, "user": _text, "account": _text,
    "phase": lambda v: v in PHASES,
    "supervisor_pid": _pid, "supervisor_start": _nonneg, "since": _nonneg,
    "device": lambda v: _text(v) and v.startswith("/"),
    "lock_names": lambda v: type(v) is list and len(v) <= 16
    and all(type(n) is str and re.fullmatch(_LOCK_NAME, n) and "/" not in n for n in v),
    "peer": lambda v: v is None or _text(v),
    "pppd_pid": lambda v: v is None or _pid(v),
    "pppd_start": lambda v: v is None or _nonneg(v),
    "link_start": lambda v: v is None or _nonneg(v),
    "ifname": lambda v: v is None or (type(v) is str and re.fullmatch(_IFNAME, v) is not None),
    "local_ip": lambda v: v is None or _ipv4(v),
    "remote_ip": lambda v: v is None or _ipv4(v),
    "base_sent": lambda v: v is None or _nonneg(v),
    "base_received": lambda v: v is None or _nonneg(v),
}
_END_CHECKS = {
    "line": _SESSION_CHECKS["line"], "owner_uid": _uid, "user": _text, "account": _text,
    "reason": _text, "exit_status": lambda v: v is None or (type(v) is int and 0 <= v <= 255),
    "started": _nonneg, "ended": _nonneg, "duration": _nonneg,
    "bytes_sent": lambda v: v is None or _nonneg(v),
    "bytes_received": lambda v: v is None or _nonneg(v),
    "peer": lambda v: v is None or _text(v),
}


def _strict_int(text: str) -> int:
    if re.fullmatch(_INT, text) is None:
        raise _Invalid("number out of range")
    return int(text)


def _no_float(text: str) -> float:
    raise _Invalid("floats are not used in state records")


def _no_constant(text: str) -> object:
    raise _Invalid(f"{text} is not valid JSON")


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in pairs:
        if key in out:
            raise _Invalid(f"duplicate key {key!r}")
        out[key] = value
    return out


def decode(raw: bytes, record_type: type) -> SessionRecord | EndRecord:
    """Parse and validate a record; raises _Invalid."""
    checks = _SESSION_CHECKS if record_type is SessionRecord else _END_CHECKS
    try:
        data = json.loads(raw.decode("ascii"), parse_int=_strict_int, parse_float=_no_float,
                          parse_constant=_no_constant, object_pairs_hook=_unique_keys)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise _Invalid(str(e)) from None
    if type(data) is not dict or set(data) != set(checks):
        raise _Invalid("wrong set of keys")
    for key, check in checks.items():
        if not check(data[key]):
            raise _Invalid(f"bad value for {key}")
    if record_type is SessionRecord:
        data["lock_names"] = tuple(data["lock_names"])
    return record_type(**data)


def encode(record: SessionRecord | EndRecord) -> bytes:
    data = record._asdict()
    if isinstance(record, SessionRecord):
        data["lock_names"] = list(record.lock_names)
    raw = json.dumps(data, sort_keys=True, ensure_ascii=True, allow_nan=False).encode("ascii")
    decode(raw, type(record))      # never write what we would refuse to read
    return raw + b"\n"


# ------------------------------------------------------------------- storage
class StateDir:
    """/run/pppup and its lines/ directory, held open by fd."""

    def __init__(self, path: str = paths.STATE_DIR):
        self.path = path
        self.fd = _open_private_dir(path, create=True)
        try:
            self.lines_fd = _open_private_dir("lines", create=True, dir_fd=self.fd,
                                              shown=path + "/lines")
        except BaseException:
            os.close(self.fd)
            raise

    def close(self) -> None:
        for name in ("lines_fd", "fd"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    def __enter__(self) -> "StateDir":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- session records
    def read_session(self, line: str) -> SessionRecord | None:
        return self._read(_checked(line) + ".json", SessionRecord)

    def write_session(self, record: SessionRecord) -> None:
        self._write(_checked(record.line) + ".json", encode(record))

    def remove_session(self, line: str) -> None:
        """Remove the record: only for its own writer (the line's lock holder)."""
        try:
            os.unlink(_checked(line) + ".json", dir_fd=self.lines_fd)
        except FileNotFoundError:
            pass

    def discard_invalid_session(self, line: str) -> bool:
        """Remove the line's record if it is invalid (Z4); True if one was removed.

        Another helper may write a fresh record at any moment (the lock
        holder, after taking the line), so "no valid record here" and "the
        file exists" are never two separate looks: the file judged invalid is
        the one removed, or nothing is.
        """
        name = _checked(line) + ".json"
        record, identity = self._judge(name, SessionRecord)
        if record is not None or identity is None:
            return False
        return self._remove_if(name, lambda moved: moved[1] == identity)

    def remove_session_if(self, line: str, expected: SessionRecord) -> bool:
        """Remove the line's record only if it is still `expected` (a dead
        supervisor's, being converged); a newer record stays.  True if removed."""
        return self._remove_if(_checked(line) + ".json", lambda moved: moved[0] == expected)

    def _remove_if(self, name: str, still_the_one) -> bool:
        # Moved aside first (rename is atomic), judged there, then deleted or
        # put back: a record written meanwhile is never lost.
        aside = f".tmp.{os.getpid()}.{os.urandom(6).hex()}"
        try:
            os.rename(name, aside, src_dir_fd=self.lines_fd, dst_dir_fd=self.lines_fd)
        except FileNotFoundError:
            return False
        if still_the_one(self._judge(aside, SessionRecord)):
            os.unlink(aside, dir_fd=self.lines_fd)
            return True
        from pppup_helper import syscalls     # cffi: only this rare path needs it
        try:
            syscalls.rename_noreplace(aside, name, src_dir_fd=self.lines_fd, dst_dir_fd=self.lines_fd)
        except FileExistsError:
            # An even newer record is in place: its writer holds the line
            # now, and the one moved aside is older.
            os.unlink(aside, dir_fd=self.lines_fd)
        return False

    def session_file_exists(self, line: str) -> bool:
        try:
            os.stat(_checked(line) + ".json", dir_fd=self.lines_fd, follow_symlinks=False)
            return True
        except FileNotFoundError:
            return False

    # -- end records
    def read_end(self, line: str) -> EndRecord | None:
        return self._read(_checked(line) + ".last.json", EndRecord)

    def write_end(self, record: EndRecord) -> None:
        self._write(_checked(record.line) + ".last.json", encode(record))

    # -- plumbing
    def _read(self, name: str, record_type: type) -> SessionRecord | EndRecord | None:
        return self._judge(name, record_type)[0]

    def _judge(self, name: str, record_type: type) -> tuple[SessionRecord | EndRecord | None,
                                                            tuple[int, int] | None]:
        """The valid record at `name` or None, and the (st_dev, st_ino) of
        the file that was judged (None: no file there).

        A writer renames a new record over the old one at any moment; the old
        inode we may just have opened then has no link left.  That is not an
        invalid record: the name is read again, a bounded number of times."""
        for _ in range(_REREAD_ATTEMPTS):
            judged = self._judge_once(name, record_type)
            if judged is not _REPLACED:
                return judged
        return None, None

    def _judge_once(self, name: str, record_type: type):
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=self.lines_fd)
        except FileNotFoundError:
            return None, None
        except OSError:          # a symlink (ELOOP), a fifo nobody writes, ...: not a record
            try:
                st = os.stat(name, dir_fd=self.lines_fd, follow_symlinks=False)
            except FileNotFoundError:
                return None, None
            return None, (st.st_dev, st.st_ino)
        try:
            st = os.fstat(fd)
            identity = (st.st_dev, st.st_ino)
            if st.st_nlink == 0:
                return _REPLACED
            if not stat.S_ISREG(st.st_mode) or st.st_uid != 0 or st.st_nlink != 1 \
                    or st.st_size > MAX_RECORD:
                return None, identity
            raw = os.read(fd, MAX_RECORD + 1)
        finally:
            os.close(fd)
        if len(raw) > MAX_RECORD:
            return None, identity
        try:
            return decode(raw, record_type), identity
        except _Invalid:
            return None, identity

    def _write(self, name: str, raw: bytes) -> None:
        temp = f".tmp.{os.getpid()}.{os.urandom(6).hex()}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=self.lines_fd)
        except OSError as e:
            raise _state_error(name, e) from e
        try:
            try:
                os.fchmod(fd, 0o600)
                if os.write(fd, raw) != len(raw):
                    raise OSError(28, "short write")   # ENOSPC-like: full /run (X2)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.rename(temp, name, src_dir_fd=self.lines_fd, dst_dir_fd=self.lines_fd)
            os.fsync(self.lines_fd)
        except OSError as e:
            try:
                os.unlink(temp, dir_fd=self.lines_fd)
            except OSError:
                pass
            raise _state_error(name, e) from e


def _state_error(name: str, e: OSError) -> PppupError:
    return PppupError(f"cannot record the session in {paths.STATE_DIR}/lines/{name}: "
                      f"{e.strerror}; free space in /run and try again", Code.LINE)


def _checked(line: str) -> str:
    if type(line) is not str or re.fullmatch(LINE_NAME, line) is None:
        raise PppupError(f"invalid line name {line!r}", Code.FAILURE)
    return line


def _open_private_dir(path: str, create: bool, dir_fd: int | None = None,
                      shown: str | None = None) -> int:
    shown = shown or path
    if create:
        try:
            os.mkdir(path, 0o700, dir_fd=dir_fd)
        except FileExistsError:
            pass
        except OSError as e:
            raise PppupError(f"cannot create {shown}: {e.strerror}", Code.LINE) from e
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                     dir_fd=dir_fd)
    except OSError as e:
        raise PppupError(f"cannot open {shown}: {e.strerror}; it must be a root-owned "
                         "directory, not a link", Code.LINE) from e
    st = os.fstat(fd)
    if st.st_uid != 0:
        os.close(fd)
        raise PppupError(f"{shown} is not owned by root; remove it and let pppup recreate it",
                         Code.LINE)
    if stat.S_IMODE(st.st_mode) != 0o700:
        os.fchmod(fd, 0o700)       # ours: restore the mode (e.g. after a stray chmod)
    return fd


def record_fields(record_type: type) -> tuple[str, ...]:
    return record_type._fields
