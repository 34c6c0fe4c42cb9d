"""Stand-ins for the policy and line parts, for testing the gate's own
discipline (framing, permits, deadlines, fd hygiene, error answers) in
isolation.  They record what the gate asked of them.  The session stand-in
hands out a real pseudo-terminal, so the fd passing is real.  Tests with the
real policy and session modules live beside these (test_gate_integration).
"""
from __future__ import annotations

import os
import pty
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from types import SimpleNamespace

from pppup_protocol.errors import Code, PppupError
from pppup_helper.handlers import Backend

CALLER = SimpleNamespace(uid=4242, gid=4343, groups=frozenset({4343}), name="pppt-alice")


@dataclass
class Record:
    calls: list
    audit: list


class StandInPolicy:
    def __init__(self, record: Record, dial_seconds: int = 60):
        self.record = record
        self.dial_seconds = dial_seconds

    def grant_line(self, caller, line, account, now):
        self.record.calls.append(("grant_line", line, account))
        if line != "modem1":
            raise PppupError(f"{caller.name} may not use line {line}", Code.DENIED)
        return SimpleNamespace(line=SimpleNamespace(name=line), rule="rule 1 (policy.toml:3)",
                               peers=frozenset({"isp1"}), flags=frozenset({"debug"}), idle=300, maxconnect=3600,
                               window_end=None, max_links=1, dial_attempts=3, dial_seconds=self.dial_seconds)

    def grant_pppd(self, caller, line, peer, flags, now):
        self.record.calls.append(("grant_pppd", line, peer, tuple(flags)))
        if peer != "isp1":
            raise PppupError(f"peer {peer} not allowed", Code.DENIED)
        return SimpleNamespace(peer=SimpleNamespace(name=peer), flags=tuple(flags), idle=300, maxconnect=3600,
                               rule="rule 1 (policy.toml:3)")


class StandInSession:
    record: Record
    fail_start = False
    crash_hangup = False

    def __init__(self):
        self.master, self.slave = pty.openpty()

    @classmethod
    def acquire(cls, policy, caller, grant, account):
        cls.record.calls.append(("acquire", grant.line.name, account))
        return cls()

    def client_fd(self):
        return os.dup(self.slave)

    def hangup(self):
        if self.crash_hangup:
            raise KeyError("secret-internal-detail")
        self.record.calls.append(("hangup",))

    def start_pppd(self, grant, user, secret, deadline):
        self.record.calls.append(("start_pppd", grant.peer.name, user, secret, round(deadline - time.monotonic())))
        if self.fail_start:
            self.release("pppd failed")
            raise PppupError("pppd exited: authentication failed", Code.PPP)
        return SimpleNamespace(ifname="ppp0", local="10.0.0.2", remote="10.0.0.1", pppd_pid=1234)

    def release(self, reason):
        self.record.calls.append(("release", reason))
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def supervise(self):
        self.record.calls.append(("supervise",))


def make_backend(policy_error: PppupError | None = None, dial_seconds: int = 60,
                 fail_start: bool = False, crash_hangup: bool = False) -> tuple[Backend, Record]:
    record = Record([], [])

    def load_policy():
        if policy_error is not None:
            raise policy_error
        return StandInPolicy(record, dial_seconds)

    session_cls = type("Session", (StandInSession,), {"record": record, "fail_start": fail_start,
                                                      "crash_hangup": crash_hangup})
    backend = Backend(
        load_policy=load_policy,
        line_session=session_cls,
        line_status=lambda policy, caller: [{"line": "modem1", "state": "free"}],
        stop_links=lambda policy, caller, target, all_: record.calls.append(("stop", target, all_)) or [],
        audit=lambda caller, op, args, result: record.audit.append((op, dict(args), result)),
        now=lambda: datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc),
    )
    return backend, record
