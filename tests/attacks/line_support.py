"""Support for the line-side attack cases (L, D, K, Z, O, X2, F5): pty lines held by
root, policies naming them, clients run as the attacking user, a root supervisor
with a real (blocked) pppd, and the checks that lock, state and pppd are right.

Host lines are pseudo-terminals whose master this (root) test process holds,
like the simulator does; the slave is root-owned, so the policy may mark the
line `pty = true`.  The host kernel has no PPP: where a running pppd is
needed, a real setuid pppd is kept alive on an options FIFO (see
SUPERVISOR) -- everything around it (state, locks, pidfd, verification,
cleanup) is the real helper code.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass, field

from attack_harness import TEST_PEER, User

from pppup_protocol import paths
from pppup_helper import uucplock
from pppup_helper.state import StateDir

CLIENT_PYTHON = paths.VENV + "/bin/python"
REPO_PYTHON = sys.executable


@dataclass
class PtyLine:
    name: str
    master: int
    path: str
    names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Computed while the pty exists (teardown closes it first).
        self.names = uucplock.lock_names(self.path, os.lstat(self.path))

    @property
    def number(self) -> str:
        return self.path.rsplit("/", 1)[1]

    def lock_names(self) -> list[str]:
        return list(self.names)

    def lock_paths(self) -> list[str]:
        return [os.path.join(paths.LOCK_DIR, n) for n in self.lock_names()]


@dataclass
class LineWorld:
    lines: dict[str, PtyLine]
    dev_dir: str
    procs: list = field(default_factory=list)

    def policy_text(self, extra_line: dict[str, str] | None = None, rules: str | None = None,
                    device: dict[str, str] | None = None) -> str:
        extra_line = extra_line or {}
        device = device or {}
        out = ["version = 1\n"]
        for name, ln in self.lines.items():
            out.append(textwrap.dedent(f"""
                [lines.{name}]
                device = "{device.get(name, ln.path)}"
                pty = true
                dtr_hold = 0.2
                admin_users = ["pppt-alice"]
                """) + extra_line.get(name, "") + "\n")
        out.append(f"\n[peers.{TEST_PEER}]\n")
        out.append(rules or textwrap.dedent(f"""
            [[rules]]
            name = "line-attacks"
            users = ["pppt-mallory", "pppt-alice"]
            lines = ["modem1"]
            peers = ["{TEST_PEER}"]
            flags = ["debug", "novj"]
            dial_seconds = 60

            [[rules]]
            name = "alice-only"
            users = ["pppt-alice"]
            lines = ["modem2"]
            peers = ["{TEST_PEER}"]
            """))
        return "".join(out)


def make_world() -> LineWorld:
    lines = {}
    for name in ("modem1", "modem2"):
        master, slave = os.openpty()
        path = os.ttyname(slave)
        os.close(slave)
        lines[name] = PtyLine(name, master, path)
    # Device paths must be under /dev (the policy says so): a private directory there.
    dev_dir = tempfile.mkdtemp(prefix="pppt-dev-", dir="/dev")
    os.chmod(dev_dir, 0o755)
    return LineWorld(lines=lines, dev_dir=dev_dir)


def close_world(world: LineWorld) -> None:
    for p in world.procs:
        if p.poll() is None:
            p.kill()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    for ln in world.lines.values():
        os.close(ln.master)
    subprocess.run(["rm", "-rf", world.dev_dir], check=False)


def leftovers(world: LineWorld) -> list[str]:
    """Locks of our lines and session records still present (after a test: none)."""
    found = []
    for ln in world.lines.values():
        for name in ln.lock_names():
            if os.path.lexists(os.path.join(paths.LOCK_DIR, name)):
                found.append(name)
    for name in world.lines:
        if os.path.lexists(os.path.join(paths.STATE_DIR, "lines", name + ".json")):
            found.append(f"state:{name}")
    return found


def remove_leftovers(world: LineWorld) -> None:
    for ln in world.lines.values():
        for name in ln.lock_names():
            try:
                os.unlink(os.path.join(paths.LOCK_DIR, name))
            except FileNotFoundError:
                pass
    for name in world.lines:
        for suffix in (".json", ".last.json"):
            try:
                os.unlink(os.path.join(paths.STATE_DIR, "lines", name + suffix))
            except FileNotFoundError:
                pass


def read_session(line: str):
    with StateDir() as sd:
        return sd.read_session(line)


def read_end(line: str):
    with StateDir() as sd:
        return sd.read_end(line)


# -- a client as the attacking user (the installed client library) ---------------
CLIENT_PRELUDE = """
import errno, json, os, select, sys, time
from pppup.helper_client import HelperClient
from pppup_protocol.errors import PppupError
out = {}
def emit():
    print(json.dumps(out), flush=True)
def attempt(fn, *a, **k):
    try:
        return fn(*a, **k), None
    except PppupError as e:
        return None, {"code": int(e.code), "message": e.message}
"""


def client(user: User, code: str, timeout: float = 90, background: bool = False):
    """Run CLIENT_PRELUDE + code as `user` with the installed venv's python -I."""
    argv = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", "--init-groups", "--",
            CLIENT_PYTHON, "-I", "-c", CLIENT_PRELUDE + textwrap.dedent(code)]
    if background:
        return subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, env={"PATH": "/usr/bin:/bin"})
    r = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env={"PATH": "/usr/bin:/bin"})
    if r.returncode != 0:
        raise AssertionError(f"client failed ({r.returncode}): {r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def acquire_code(line: str = "modem1", account: str = "work") -> str:
    return f"""
    h = HelperClient(); h.connect()
    got, err = attempt(h.acquire, {line!r}, {account!r})
    out["error"] = err
    fd = got[0] if got else None
    """


# -- a root supervisor with a real pppd (blocked on a FIFO) ----------------------
SUPERVISOR = textwrap.dedent("""
    import json, os, sys, time
    from datetime import datetime
    from pppup_helper import pppd
    from pppup_helper.policy import Caller, load_policy
    from pppup_helper.session import LineSession
    import pwd
    from pppup_helper.harden import harden_process
    harden_process()          # as the installed helper: trimmed capabilities, no-new-privs
    user, account, fifo = sys.argv[1], sys.argv[2], sys.argv[3]
    pw = pwd.getpwnam(user)
    caller = Caller(uid=pw.pw_uid, gid=pw.pw_gid, groups=frozenset({pw.pw_gid}), name=user)
    policy = load_policy()
    now = datetime.now().astimezone()
    s = LineSession.acquire(policy, caller, policy.grant_line(caller, "modem1", account, now), account)
    # The host has no /dev/ppp: stand in for the link with a real setuid pppd
    # blocked on an options FIFO; state, locks, pidfd and cleanup are real.
    pppd.build_argv = lambda *a, **k: [pppd.PPPD, "file", fifo]
    real_spawn = pppd.spawn
    pppd.spawn = lambda argv, fd, secret: real_spawn(argv, fd, secret, check=False)
    s._wait_ip_up = lambda deadline: None
    s.start_pppd(policy.grant_pppd(caller, "modem1", sys.argv[4], [], now), None, None, time.monotonic() + 10)
    print(json.dumps({"supervisor": os.getpid(), "pppd": s.pppd.pid}), flush=True)
    s.supervise()     # execs the installed link supervisor: this process ends with the link's cleanup
""")


def start_supervisor(world: LineWorld, user: str = "pppt-alice", account: str = "work") -> tuple[subprocess.Popen, dict]:
    fifo = os.path.join(world.dev_dir, f"fifo-{len(world.procs)}")
    os.mkfifo(fifo, 0o600)
    p = subprocess.Popen([REPO_PYTHON, "-c", SUPERVISOR, user, account, fifo, TEST_PEER],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    world.procs.append(p)
    line = p.stdout.readline()
    if not line:
        raise AssertionError(f"supervisor failed: {p.stderr.read()[-3000:]}")
    return p, json.loads(line)


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.exists(f"/proc/{pid}") or _zombie(pid):
            return True
        time.sleep(0.02)
    return False


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
