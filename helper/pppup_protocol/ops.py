"""The closed set of operations the root helper serves, and their request schemas.

Every request field has a kind, a length limit and a pattern; the decoder in
codec.py refuses anything else.  The client names lines, accounts and peers
only by their policy names: no field carries a path, a pid, a uid or a pppd
option (attack class M6).  Adding an operation means adding it here, a
`handle_<op>` in pppup_helper.handlers and a method in
pppup.helper_client.HelperClient; a test checks the three agree.
"""
from __future__ import annotations

import re
from collections import namedtuple
from collections.abc import Mapping
from enum import Enum, unique

# Policy names of lines, accounts and peers: short, lower case, never a path
# or an option (no "/", no leading "-" or ".").
NAME_PATTERN = r"[a-z0-9][a-z0-9._-]{0,31}"
# An extra pppd flag the user asks for: a bare option word; the policy decides
# whether it is allowed, this only keeps the token harmless.
FLAG_PATTERN = r"[a-z][a-z0-9-]{0,31}"
# PAP/CHAP user: printable ASCII without spaces (it is pppd's `user` value).
AUTH_USER_PATTERN = r"[!-~]{0,64}"
# PAP/CHAP secret: printable ASCII, spaces allowed; it only travels to the
# pppd plugin through a pipe and is never logged.
SECRET_PATTERN = r"[ -~]{0,128}"


@unique
class Op(Enum):
    STATUS = "status"
    ACQUIRE = "acquire"
    HANGUP = "hangup"
    START_PPPD = "start_pppd"
    RELEASE = "release"
    STOP = "stop"


@unique
class Kind(Enum):
    TEXT = "text"    # a string matching the field's pattern
    INT = "int"      # ^[0-9]{1,10}$, then a range check
    BOOL = "bool"    # exactly "0" or "1"
    LIST = "list"    # comma-separated tokens, each matching the pattern; "" = empty


# A plain named tuple, not typing.NamedTuple: importing typing costs every
# helper start-up (every request through the shim) about 3 ms.
class Field(namedtuple("Field", [
        "name",                # str
        "kind",                # Kind
        "pattern",             # str: TEXT: whole value; LIST: each token
        "max_len",             # int: of the raw value, checked before any pattern
        "minimum",             # int: INT only
        "maximum",             # int: INT only
        "max_items",           # int: LIST only
        "secret",              # bool: never logged or audited: shown as <set>/<empty>
        ], defaults=("", 0, 0, 0, 0, False))):
    __slots__ = ()

    @property
    def regex(self) -> re.Pattern[str]:
        # fullmatch is used on it, so a pattern can never match a prefix.
        return _compiled(self.pattern)


_REGEXES: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    regex = _REGEXES.get(pattern)
    if regex is None:
        regex = _REGEXES[pattern] = re.compile(pattern, re.ASCII)
    return regex


# How long the client may ask the helper to wait for pppd to bring IP up; the
# helper clips it further to the policy's limits.
START_TIMEOUT_MAX = 300

REQUESTS: Mapping[Op, tuple[Field, ...]] = {
    Op.STATUS: (),
    Op.ACQUIRE: (
        Field("line", Kind.TEXT, NAME_PATTERN, max_len=32),
        Field("account", Kind.TEXT, NAME_PATTERN, max_len=32),
    ),
    Op.HANGUP: (),
    Op.START_PPPD: (
        Field("peer", Kind.TEXT, NAME_PATTERN, max_len=32),
        Field("flags", Kind.LIST, FLAG_PATTERN, max_len=16 * 33, max_items=16),
        Field("user", Kind.TEXT, AUTH_USER_PATTERN, max_len=64, secret=True),
        Field("secret", Kind.TEXT, SECRET_PATTERN, max_len=128, secret=True),
        Field("timeout", Kind.INT, minimum=1, maximum=START_TIMEOUT_MAX),
    ),
    Op.RELEASE: (),
    Op.STOP: (
        # "" = the caller's own link(s); otherwise a line name.
        Field("target", Kind.TEXT, r"(" + NAME_PATTERN + r")?", max_len=32),
        Field("all", Kind.BOOL),
    ),
}

# Answers are JSON objects {"v": ANSWER_VERSION, "ok": true, ...} or
# {"v": ANSWER_VERSION, "ok": false, "code": N, "message": "..."}.  The keys
# each successful answer carries (the client checks they are present):
ANSWER_KEYS: Mapping[Op, frozenset[str]] = {
    Op.STATUS: frozenset({"lines"}),
    Op.ACQUIRE: frozenset({"line", "limits"}),     # + the tty fd by SCM_RIGHTS
    Op.HANGUP: frozenset(),
    Op.START_PPPD: frozenset({"link"}),
    Op.RELEASE: frozenset(),
    Op.STOP: frozenset({"stopped"}),
}
ANSWER_VERSION = 1
