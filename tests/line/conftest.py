"""A private line world for session tests: root-held ptys as `pty = true` lines,
a real policy (parsed by the policy part) pointing at them, private lock and
state directories, and an audit socket we can read."""
from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import textwrap
from dataclasses import dataclass, field
from datetime import datetime

import pytest

from pppup_helper import audit
from pppup_helper.policy import Caller, parse_policy

PEER_TEXT = "# test peer\nnoauth\n"


FINISH_ENTRY = os.path.join(os.path.dirname(os.path.abspath(__file__)), "finish_entry.py")


def finish_entry_unsafe() -> str | None:
    """Why the supervisor's test build will refuse to exec finish_entry.py
    (its exit 124), or None.  Like the installed supervisor, it wants the
    file and every directory above it root-owned and writable by root only,
    so a clone under /tmp (sticky, but world-writable) cannot run these tests."""
    path = FINISH_ENTRY
    while True:
        st = os.lstat(path)
        if st.st_uid != 0 or st.st_mode & 0o022:
            why = "not owned by root" if st.st_uid != 0 else "writable by group or others"
            return (f"{path} is {why}, so csrc/pppup-supervise-asan refuses to exec {FINISH_ENTRY} "
                    "(exit 124); clone the repository under a directory only root can write "
                    "(e.g. /srv or /work), not under /tmp")
        if path == "/":
            return None
        path = os.path.dirname(path)


@dataclass(frozen=True)
class TestUser:
    name: str
    uid: int
    gid: int

    def setpriv(self) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]


@pytest.fixture(scope="session")
def line_user():
    """An unprivileged account of our own for processes the tests run as a user."""
    import pwd
    name = "pppt-line"
    subprocess.run(["userdel", name], capture_output=True)
    subprocess.run(["useradd", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", "-U", name], check=True)
    pw = pwd.getpwnam(name)
    yield TestUser(name, pw.pw_uid, pw.pw_gid)
    subprocess.run(["userdel", name], capture_output=True)


def caller(name: str) -> Caller:
    import grp
    import pwd
    pw = pwd.getpwnam(name)
    groups = frozenset(g.gr_gid for g in grp.getgrall() if name in g.gr_mem) | {pw.pw_gid}
    return Caller(uid=pw.pw_uid, gid=pw.pw_gid, groups=groups, name=name)


@dataclass
class LineWorld:
    root: str
    masters: dict[str, int]
    devices: dict[str, str]
    lock_dir: str
    state_dir: str
    audit_sock: socket.socket
    policy_text: str = ""
    policy: object = None
    extra: list = field(default_factory=list)

    def load(self, rules: str = "", lines_extra: dict[str, str] | None = None) -> object:
        lines_extra = lines_extra or {}
        parts = ["version = 1\n"]
        for name, dev in self.devices.items():
            parts.append(textwrap.dedent(f"""
                [lines.{name}]
                device = "{dev}"
                pty = true
                dtr_hold = 0.1
                admin_users = ["sys"]
                {lines_extra.get(name, "")}
                """))
        parts.append("\n[peers.isp]\n[peers.pppup-no-such-peer]\n")
        parts.append(textwrap.dedent(rules or """
            [[rules]]
            users = ["daemon", "bin", "sys"]
            lines = ["line1", "line2"]
            peers = ["isp", "pppup-no-such-peer"]
            flags = ["novj"]
            max_links = 1
            dial_seconds = 60
            """))
        self.policy_text = "".join(parts)
        self.policy = parse_policy(self.policy_text.encode(), os.path.join(self.root, "policy.toml"),
                                   ppp_dir=os.path.join(self.root, "ppp"))
        return self.policy

    def grant(self, who: str, line: str = "line1", account: str = "work"):
        return self.policy.grant_line(caller(who), line, account, datetime.now().astimezone())

    def pppd_grant(self, who: str, line: str = "line1", peer: str = "isp", flags=()):
        return self.policy.grant_pppd(caller(who), line, peer, list(flags), datetime.now().astimezone())

    def kw(self) -> dict:
        return {"lock_dir": self.lock_dir, "state_dir": self.state_dir}

    def audit_lines(self) -> list[str]:
        out = []
        self.audit_sock.setblocking(False)
        while True:
            try:
                out.append(self.audit_sock.recv(8192).decode())
            except BlockingIOError:
                return out

    def locks(self) -> list[str]:
        return sorted(os.listdir(self.lock_dir))


@pytest.fixture
def world():
    root = tempfile.mkdtemp(prefix="pppup-line-", dir="/run")
    os.chmod(root, 0o755)
    os.makedirs(os.path.join(root, "ppp", "peers"), mode=0o755)
    for peer in ("isp", "pppup-no-such-peer"):
        with open(os.path.join(root, "ppp", "peers", peer), "w") as f:
            f.write(PEER_TEXT)
    lock_dir = os.path.join(root, "lock")
    os.mkdir(lock_dir)
    os.chmod(lock_dir, 0o1777)
    masters, devices = {}, {}
    for name in ("line1", "line2"):
        m, s = os.openpty()
        devices[name] = os.ttyname(s)
        os.close(s)
        masters[name] = m
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(root, "log"))
    audit.set_socket_path(os.path.join(root, "log"))
    w = LineWorld(root=root, masters=masters, devices=devices, lock_dir=lock_dir,
                  state_dir=os.path.join(root, "state"), audit_sock=sock)
    w.load()
    yield w
    audit.set_socket_path(audit.DEFAULT_SOCKET)
    sock.close()
    for m in masters.values():
        os.close(m)
    for p in w.extra:
        if p.poll() is None:
            p.kill()
        p.wait()
    subprocess.run(["rm", "-rf", root], check=True)
