"""Helpers of the policy tests: a private, root-owned policy world.

The loader refuses files under group/other-writable directories (so not
/tmp): each test gets a fresh directory under /run (root 0755) holding the
policy and a pppd directory (options, peers/isp, peers/work) that the loader
is pointed at with `ppp_dir`.  Users and groups are the system accounts
every Debian has (root, daemon, bin, sys, nobody; adm, dialout, dip, staff,
users), so no test needs to create accounts to check decisions.
"""
from __future__ import annotations

import os
import textwrap
from datetime import datetime

from pppup_helper.policy import Caller, Policy, PolicyError, check_policy, load_policy

PEER_TEXT = "# test peer\nnoauth\nnovj\n"


class World:
    def __init__(self, root: str):
        self.root = root
        self.policy = os.path.join(root, "policy.toml")
        self.ppp = os.path.join(root, "ppp")
        os.makedirs(os.path.join(self.ppp, "peers"), mode=0o755)
        self.write("ppp/options", "lock\nhide-password\n")
        for peer in ("isp", "work"):
            self.write(f"ppp/peers/{peer}", PEER_TEXT)

    def write(self, relative: str, text: str | bytes, mode: int = 0o644) -> str:
        path = os.path.join(self.root, relative)
        data = text.encode() if isinstance(text, str) else text
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        os.chmod(path, mode)
        return path

    def write_policy(self, text: str | bytes) -> str:
        if isinstance(text, str):
            text = textwrap.dedent(text)
        return self.write("policy.toml", text)

    def load(self, text: str | bytes | None = None) -> Policy:
        if text is not None:
            self.write_policy(text)
        return load_policy(self.policy, ppp_dir=self.ppp)

    def errors(self, text: str | bytes) -> list[PolicyError]:
        """Every error the loader reports for `text` (file problems included)."""
        self.write_policy(text)
        try:
            load_policy(self.policy, ppp_dir=self.ppp)
        except PolicyError as error:
            return list(error.errors)
        return []

    def content_errors(self, text: str) -> list[PolicyError]:
        policy, errors = check_policy(textwrap.dedent(text).encode(), self.policy, ppp_dir=self.ppp)
        return errors


def caller(name: str, *groups: str) -> Caller:
    """A caller as the gate would build it for a system account (+ extra groups)."""
    import grp
    import pwd
    entry = pwd.getpwnam(name)
    gids = {entry.pw_gid} | {grp.getgrnam(group).gr_gid for group in groups}
    return Caller(uid=entry.pw_uid, gid=entry.pw_gid, groups=frozenset(gids), name=name)


# A Monday in the past, so weekdays are easy to read in tests: 2024-05-06 is a Monday.
def at(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 5, 6 + day, hour, minute, second)


BASE = """\
version = 1

[lines.modem1]
device = "/dev/ttyS1"
admin_users = ["daemon"]
admin_groups = ["adm"]

[lines.modem2]
device = "/dev/ttyS2"

[peers.isp]
[peers.work]
"""
