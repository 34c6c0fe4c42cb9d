"""The admin's policy: load it safely, validate all of it, answer decisions.

    policy = load_policy()               # the compiled-in path only (C6)
    grant = policy.grant_line(caller, "modem1", "work", datetime.now())

Loading is all or nothing: the file must be safe to trust (root-owned, not
writable by others, read once from one fd: policy_source), its text clean
(UTF-8, LF line endings, no control characters, short lines), valid TOML
(tomllib), valid pppup policy (policy_schema), and pppd's own files it leads
to must be safe (policy_companions).  Any problem raises PolicyError naming
`file:line`, what is wrong and the fix; the helper then refuses every
request with that message.  The format is documented in policy/README.md
and pppup.policy(5).
"""
from __future__ import annotations

import errno
import os
import re
import stat

from pppup_protocol import paths
from pppup_protocol.errors import Code, PppupError

from . import policy_cache
from .policy_companions import CompanionProblem, check_companions
from .policy_model import (Caller, LineConfig, LineGrant, PeerConfig, Policy, PppdGrant, Principals,
                           Rule)
from .policy_schema import validate
from .policy_source import FileProblem, read_file

TYPE_CHECKING = False
if TYPE_CHECKING:      # annotations only: typing costs every request ~3 ms of helper start-up
    from typing import Any

__all__ = ["PolicyError", "Caller", "Policy", "LineConfig", "PeerConfig", "LineGrant", "PppdGrant",
           "Principals", "Rule", "load_policy", "read_policy", "read_draft", "parse_policy", "check_policy"]

PPP_DIR = os.path.dirname(paths.PEERS_DIR)
MAX_POLICY_BYTES = 256 * 1024
MAX_LINE_CHARS = 4096
SYNTAX_FIX = "fix the TOML syntax (see pppup.policy(5) for the format)"

# C0/C1 controls except tab and newline, DEL, and the invisible direction
# overrides that make text read differently from what it is ("Trojan Source").
_BAD_CHAR = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_TOML_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$|\s*\(at end of document\)$")


class PolicyError(PppupError):
    """The policy (or a file it leads to) is invalid: nothing is allowed until it is fixed."""

    code = Code.CONFIG

    def __init__(self, path: str, line: int | None, problem: str, fix: str):
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}; {fix}", Code.CONFIG)
        self.path, self.line, self.problem, self.fix = path, line, problem, fix
        self.others: tuple[PolicyError, ...] = ()

    @classmethod
    def first_of(cls, errors: list[PolicyError]) -> PolicyError:
        """The first error, carrying the rest, its message saying how many more there are."""
        first = errors[0]
        if len(errors) == 1:
            return first
        more = len(errors) - 1
        error = cls(first.path, first.line, first.problem,
                    f"{first.fix} (and {more} more problem{'s' if more > 1 else ''}: "
                    "run `pppup-policy check`)")
        error.others = tuple(errors[1:])
        return error

    @property
    def errors(self) -> tuple[PolicyError, ...]:
        return (self,) + self.others


def read_policy(path: str, secure: bool = True) -> bytes:
    """The policy's bytes, read once from one checked fd (see policy_source).

    `secure=False` (only `pppup-policy check --content-only`, for drafts)
    skips the ownership checks but still refuses non-regular files.
    """
    try:
        if secure:
            data = read_file(path, MAX_POLICY_BYTES, what="policy file")
        else:
            data = read_draft(path)
    except OSError as error:  # fail closed on any read failure (R1: no fds left, EIO, ...)
        raise PolicyError(path, None, f"cannot be read: {os.strerror(error.errno or 0)}",
                          "retry; check the file and the system's limits") from None
    except FileProblem as problem:
        if problem.missing and path == paths.POLICY:
            raise PolicyError(path, None, "there is no policy, so pppup is not enabled",
                              f"copy {paths.POLICY}.example to {paths.POLICY}, adapt it and check it "
                              "with `pppup-policy check`") from None
        raise PolicyError(problem.path, None, problem.message, problem.fix) from None
    if data is None:  # read_file returns None only for a missing file with missing_ok
        raise PolicyError(path, None, "policy file does not exist", "create it")
    return data


def read_draft(path: str) -> bytes:
    """A draft's bytes (no ownership checks; still no links, no FIFOs, size-capped)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as error:
        reason = "is a symbolic link" if error.errno == errno.ELOOP else \
            f"cannot be opened: {os.strerror(error.errno or 0)}"
        raise FileProblem(path, reason, "name the file itself") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileProblem(path, "is not a regular file", "name a regular file")
        chunks: list[bytes] = []
        size = 0
        while size <= MAX_POLICY_BYTES:
            chunk = os.read(fd, MAX_POLICY_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        data = b"".join(chunks)
    finally:
        os.close(fd)
    if len(data) > MAX_POLICY_BYTES:
        raise FileProblem(path, f"is more than the {MAX_POLICY_BYTES} bytes allowed", "shorten it")
    return data


def _decode(data: bytes, path: str) -> str:
    """UTF-8 text with LF line endings, no control characters, short lines (C2)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise PolicyError(path, line, f"is not valid UTF-8 (byte 0x{data[error.start]:02x} at column {column})",
                          "save the file as UTF-8") from None
    bad = _BAD_CHAR.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        char = bad.group()
        if char == "\r":
            raise PolicyError(path, line, "carriage return (CRLF line ending)",
                              f"save the file with Unix line endings: `sed -i 's/\\r$//' {path}`")
        if char == "\ufeff":
            raise PolicyError(path, line, "byte-order mark (U+FEFF)", "save the file as UTF-8 without a BOM")
        raise PolicyError(path, line, f"control or invisible character U+{ord(char):04X}",
                          "remove it (write escapes like \\t inside strings if you must)")
    if len(text) > MAX_LINE_CHARS:
        for number, line_text in enumerate(text.split("\n"), 1):
            if len(line_text) > MAX_LINE_CHARS:
                raise PolicyError(path, number, f"line is {len(line_text)} characters long, "
                                  f"more than {MAX_LINE_CHARS}", "split long arrays over several lines")
    return text


def _parse_toml(text: str, path: str) -> dict[str, Any]:
    import tomllib  # imported here: only loading a policy pays for it
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = _TOML_POSITION.search(message)
        line = None
        if match is not None:
            line = int(match[1]) if match[1] else text.count("\n") + 1
            message = message[:match.start()]
            if match[2]:
                message += f" (column {match[2]})"
        raise PolicyError(path, line, f"TOML syntax: {message}", SYNTAX_FIX) from None
    except RecursionError:
        raise PolicyError(path, None, "TOML nesting is too deep", "flatten the arrays") from None
    except ValueError as error:  # e.g. an integer longer than Python's digit limit
        raise PolicyError(path, None, f"TOML value cannot be read: {error}", SYNTAX_FIX) from None


def check_policy(data: bytes, path: str, *, ppp_dir: str = PPP_DIR,
                 reuse_parse: bool = False) -> tuple[Policy | None, list[PolicyError]]:
    """Validate policy bytes completely: the Policy if valid, and every error found.

    `reuse_parse`: take the TOML parse of this exact text from an earlier
    helper (policy_cache); everything after the parse is done all the same."""
    try:
        text = _decode(data, path)
        if reuse_parse:
            document = policy_cache.parsed(text, lambda text: _parse_toml(text, path))
        else:
            document = _parse_toml(text, path)
    except PolicyError as error:
        return None, [error]
    validated = validate(document)
    errors: list[PolicyError] = []
    if validated.problems:
        from .policy_locate import line_of, locate   # only errors pay for locating every key
        try:
            lines = locate(text)  # only errors pay for locating every key
        except RecursionError:  # nesting tomllib accepted but deeper than this stack allows
            lines = {}
        errors = [PolicyError(path, line_of(lines, problem.path), problem.message, problem.fix)
                  for problem in validated.problems]
        errors.sort(key=lambda error: error.line if error.line is not None else 0)
    devices = [config.device for config in validated.lines.values()]
    try:
        problems = check_companions(ppp_dir, list(validated.peers), devices)
    except OSError as error:  # fail closed: an unreadable pppd directory is a refusal, not a crash
        problems = [CompanionProblem(ppp_dir, None, f"cannot be checked: {os.strerror(error.errno or 0)}",
                                     "retry; check the file system and the system's limits")]
    for problem in problems:
        errors.append(PolicyError(problem.path, problem.line, problem.message, problem.fix))
    if errors:
        return None, errors
    return Policy(path, validated.lines, validated.peers, validated.rules, text), []


def parse_policy(data: bytes, path: str, *, ppp_dir: str = PPP_DIR, reuse_parse: bool = False) -> Policy:
    """The Policy in `data` (read from `path`), or PolicyError (the first problem, with the rest)."""
    policy, errors = check_policy(data, path, ppp_dir=ppp_dir, reuse_parse=reuse_parse)
    if errors or policy is None:
        raise PolicyError.first_of(errors)
    return policy


def load_policy(path: str = paths.POLICY, *, ppp_dir: str = PPP_DIR) -> Policy:
    """Read and validate the policy; PolicyError on any problem.  Never looks at
    the environment: the helper calls it without arguments (C6).  The helper's
    own policy (the compiled-in path) reuses the TOML parse an earlier request
    made of the same text (policy_cache); every check still runs."""
    return parse_policy(read_policy(path), path, ppp_dir=ppp_dir, reuse_parse=path == paths.POLICY)
