"""Seed policies and a mutator for fuzzing the policy parser/validator (M8),
shared by the hypothesis tests and `make fuzz` (fuzz_policy.py).

`check_outcome` is the oracle: any input must give either a Policy whose
invariants hold, or PolicyErrors that each name the file (and a line within
it, when they name one); never any other exception.
"""
from __future__ import annotations

import random
import re

from pppup_helper.policy import Policy, PolicyError, check_policy
from pppup_helper.policy_flags import SAFE_FLAGS
from pppup_helper.policy_schema import NAME

from policy.support import BASE

RULE = """
[[rules]]
name = "r"
users = ["bin", "daemon"]
groups = ["adm", "dialout"]
lines = ["modem1", "modem2"]
peers = ["isp", "work"]
flags = ["debug", "novj", "defaultroute"]
idle = 600
maxconnect = 3600
hours = ["Mon-Fri 08:00-18:00", "Sat 22:00-02:00"]
max_links = 1
dial_attempts = 3
dial_seconds = 120
"""

CORPUS: list[bytes] = [text.encode() for text in [
    "version = 1\n",
    BASE,
    BASE + RULE,
    BASE + RULE + RULE.replace('name = "r"', 'name = "s"'),
    BASE.replace('device = "/dev/ttyS2"', 'device = "/dev/serial/by-id/usb-x-if00"\nrdev = "188:0"\n'
                 'dtr_hold = 0.5\nreset = "ATZ"\npty = false\ndescription = "d"'),
    'version = 1\nlines = { m = { device = "/dev/ttyS1" } }\npeers = { isp = {} }\n'
    'rules = [ { users = ["bin"], lines = ["m"], peers = ["isp"] } ]\n',
    # regressions and attack shapes (C2/C4)
    BASE + '[peers."isp;id"]\n',
    BASE + '[lines.x]\ndevice = "/dev/ttyS0 plugin"\n',
    BASE + RULE + 'flags = ["plugin"]\n',
    BASE + RULE.replace("idle = 600", "idle = 99999999999999999999"),
    BASE + RULE.replace('"Mon-Fri 08:00-18:00"', '"Mon-Fri 24:00-00:00"'),
    "version = 1\nx = [[[[[[[[[[]]]]]]]]]]\n",
    'version = 1\ns = """\nmulti\n"""\n',
    "version = 1\r\n",
    "\ufeffversion = 1\n",
]]

_INTERESTING = [b"\n", b"=", b"[", b"]", b"[[", b"]]", b"{", b"}", b'"', b"'", b'"""', b",", b".", b"#",
                b"\\", b"\\u0000", b"\\u202e", b"\x00", b"\xff", b"\r", b"\t", b" ", b"-", b"/", b"..",
                b"true", b"nan", b"inf", b"-1", b"0", b"9" * 30, b"1979-05-27T07:32:00", b"1_000", b"0x1f",
                b"version", b"lines", b"peers", b"rules", b"users", b"groups", b"device", b"rdev", b"hours",
                b"flags", b"persist", b"defaultroute", b"nodefaultroute", b"root", b"nobody", b"pppup",
                b"/dev/tty", b"/dev/pts/0", b"Sun 23:00-01:00", b"24:00", b"\xd9\xa1", b"a" * 40]


_STRINGS = ["", "bin", "binn", "root", "nobody", "adm", "pppup", "modem1", "modem3", "isp", "work", "x y",
            "-x", "a..b", "/dev/ttyS9", "/dev/tty", "/dev/pts/1", "/dev/../etc", "ttyS1", "4:65", "136:1", "4:1",
            "ATZ", "reboot", "debug", "persist", "plugin", "defaultroute", "nodefaultroute", "Mon-Fri 08:00-18:00",
            "Sun 22:00-02:00", "00:00-24:00", "Mon 09:00-09:00", "\\u0007", "\\u202e", "a" * 70]
_NUMBERS = ["0", "1", "-1", "10", "3600", "604800", "604801", "2592000", "99999999999", "1.5", "0.1", "10.0",
            "nan", "inf", "true", "1_000", "0x10", '"600"']
_STRING = re.compile(rb'"[^"\\\n]*"')
_NUMBER = re.compile(rb"(?<== )[0-9][0-9._]*")


def _replace_token(data: bytes, rng: random.Random) -> bytes:
    """Keep the TOML well-formed, change one value: reaches the schema validator."""
    if rng.random() < 0.5:
        spans = [m.span() for m in _STRING.finditer(data)]
        if spans:
            start, end = rng.choice(spans)
            return data[:start] + b'"' + rng.choice(_STRINGS).encode() + b'"' + data[end:]
    spans = [m.span() for m in _NUMBER.finditer(data)]
    if spans:
        start, end = rng.choice(spans)
        return data[:start] + rng.choice(_NUMBERS).encode() + data[end:]
    return data


def _edit_lines(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    index = rng.randrange(len(lines))
    action = rng.randrange(3)
    if action == 0:
        del lines[index]
    elif action == 1:
        lines.insert(rng.randrange(len(lines) + 1), lines[index])
    else:
        other = rng.randrange(len(lines))
        lines[index], lines[other] = lines[other], lines[index]
    return b"\n".join(lines)


def mutate(seed: bytes, rng: random.Random) -> bytes:
    """Apply random edits to `seed`: half the time well-formed value and line edits
    (to reach the validator), otherwise bytes, tokens and splices (to hit the parser)."""
    if rng.random() < 0.5:
        data = seed
        for _ in range(rng.randint(1, 3)):
            data = _replace_token(data, rng) if rng.random() < 0.8 else _edit_lines(data, rng)
        return data
    data = bytearray(seed)
    for _ in range(rng.randint(1, 6)):
        choice = rng.randrange(8)
        pos = rng.randint(0, len(data))
        if choice == 0 and data:
            del data[min(pos, len(data) - 1):min(len(data), pos + rng.randint(1, 8))]
        elif choice == 1:
            data[pos:pos] = bytes([rng.randrange(256)])
        elif choice == 2 and data:
            data[min(pos, len(data) - 1)] = rng.randrange(256)
        elif choice in (3, 4):
            data[pos:pos] = rng.choice(_INTERESTING)
        elif choice == 5 and data:
            end = min(len(data), pos + rng.randint(1, 24))
            data[pos:pos] = data[pos:end] * rng.randint(1, 50)
        elif choice == 6:
            lines = bytes(data).split(b"\n")
            if len(lines) > 1:
                i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
                lines[i], lines[j] = lines[j], lines[i]
                if rng.random() < 0.3:
                    lines.insert(rng.randrange(len(lines)), lines[rng.randrange(len(lines))])
            data = bytearray(b"\n".join(lines))
        else:
            other = rng.choice(CORPUS)
            cut = rng.randint(0, len(other))
            data[pos:] = other[cut:]
    return bytes(data)


def check_outcome(data: bytes, path: str, ppp_dir: str) -> bool:
    """Run the validator on `data`; True if it gave a Policy.  Raises on any oracle violation."""
    policy, errors = check_policy(data, path, ppp_dir=ppp_dir)
    if policy is None:
        if not errors:
            raise AssertionError("no policy and no error")
        line_count = data.count(b"\n") + 1
        for error in errors:
            if not isinstance(error, PolicyError) or not str(error).startswith(error.path):
                raise AssertionError(f"malformed error {error!r}")
            if error.path == path and error.line is not None and not 1 <= error.line <= line_count:
                raise AssertionError(f"line {error.line} outside the file ({line_count} lines): {error}")
        return False
    if errors or not isinstance(policy, Policy):
        raise AssertionError("a policy together with errors")
    for name in list(policy.lines) + list(policy.peers):
        if not re.fullmatch(NAME, name) or ".." in name:
            raise AssertionError(f"accepted name {name!r}")
    for config in policy.lines.values():
        if not config.device.startswith("/dev/") or any(c.isspace() for c in config.device):
            raise AssertionError(f"accepted device {config.device!r}")
    for rule in policy.rules:
        if not set(rule.lines) <= set(policy.lines) or not set(rule.peers) <= set(policy.peers):
            raise AssertionError(f"rule {rule.number} references something undefined")
        if not set(rule.flags) <= set(SAFE_FLAGS):
            raise AssertionError(f"rule {rule.number} allows {rule.flags}")
        if not rule.lines or not rule.peers or not (rule.who.users or rule.who.groups):
            raise AssertionError(f"rule {rule.number} is incomplete")
    return True
