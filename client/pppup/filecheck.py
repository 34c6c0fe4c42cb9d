"""Read the user's configuration files only when they are safe to trust, as ssh does.

Three kinds of file, three rules (checked on the opened descriptor, so what
is checked is what is read; symbolic links are followed, the target counts):

* a file that holds a secret (a secret file, or an account file with a
  password written in it) must be owned by the user and have no group or
  other permission bits at all: `chmod 600 FILE`;
* any other file that decides what is sent down the line (account files,
  chat and login scripts) must be owned by the user or by root and not be
  writable by group or others, or someone else could change the script
  that receives the password;
* a system file (under /etc/pppup) must be owned by root and not writable
  by group or others.

Every refusal names the file, what is wrong and the command that fixes it.
"""
from __future__ import annotations

import os
import stat
from enum import Enum

from pppup_protocol.errors import Code, PppupError

MAX_CONFIG_BYTES = 256 * 1024
MAX_SECRET_BYTES = 4096


class Trust(Enum):
    SECRET = "secret"        # owned by the user, mode 0600 or stricter
    USER = "user"            # owned by the user or root, not group/other-writable
    SYSTEM = "system"        # owned by root, not group/other-writable


def read_checked(path: str, trust: Trust, what: str, limit: int = MAX_CONFIG_BYTES) -> bytes:
    """The whole file, after the ownership and mode checks for `trust`.

    Raises PppupError(Code.CONFIG) naming the file and the fix.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise PppupError(f"{path}: the {what} does not exist; create it or fix the path", Code.CONFIG) from None
    except OSError as error:
        raise PppupError(f"{path}: cannot open the {what}: {error.strerror}; check the path and its "
                         "permissions", Code.CONFIG) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise PppupError(f"{path}: the {what} is not a regular file; point to a file", Code.CONFIG)
        check_owner_and_mode(path, info, trust, what)
        if info.st_size > limit:
            raise PppupError(f"{path}: the {what} is larger than {limit} bytes; is it the right file?",
                             Code.CONFIG)
        data = b""
        while len(data) <= limit:
            chunk = os.read(fd, limit + 1 - len(data))
            if not chunk:
                break
            data += chunk
        if len(data) > limit:
            raise PppupError(f"{path}: the {what} is larger than {limit} bytes; is it the right file?",
                             Code.CONFIG)
        return data
    finally:
        os.close(fd)


def check_owner_and_mode(path: str, info: os.stat_result, trust: Trust, what: str) -> None:
    me = os.getuid()
    mode = stat.S_IMODE(info.st_mode)
    if trust is Trust.SECRET:
        if info.st_uid != me:
            raise PppupError(f"{path}: the {what} holds a secret but is owned by uid {info.st_uid}, "
                             f"not you (uid {me}); make your own copy, or as its owner run: "
                             f"chown {me} {path}", Code.CONFIG)
        if mode & 0o077:
            raise PppupError(f"{path}: the {what} holds a secret but others may access it "
                             f"(mode {mode:04o}); run: chmod 600 {path}", Code.CONFIG)
        return
    if trust is Trust.SYSTEM:
        if info.st_uid != 0:
            raise PppupError(f"{path}: the system {what} is owned by uid {info.st_uid}, not root; "
                             f"ask the administrator to run: chown root:root {path}", Code.CONFIG)
    elif info.st_uid not in (me, 0):
        raise PppupError(f"{path}: the {what} is owned by uid {info.st_uid}, neither you nor root, "
                         f"so it could be changed behind your back; make your own copy", Code.CONFIG)
    if mode & 0o022:
        fix = f"chmod go-w {path}"
        if trust is Trust.SYSTEM:
            fix = f"ask the administrator to run: {fix}"
        else:
            fix = f"run: {fix}"
        raise PppupError(f"{path}: the {what} is writable by group or others (mode {mode:04o}), so it "
                         f"could be changed behind your back; {fix}", Code.CONFIG)
