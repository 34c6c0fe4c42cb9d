"""The attack-suite harness API (see README.md): users, policy, running as a
user, the raw hostile client, and the oracle's helpers."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from pppup_protocol import paths

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RAWCLIENT = os.path.join(HERE, "rawclient.py")
SYS_PYTHON = paths.PYTHON
TEST_PEER = "pppt-isp"
USERS = {  # name: in group pppup?
    "pppt-mallory": True,
    "pppt-alice": True,
    "pppt-eve": False,
}

# A policy that enables pppup for the test users on one line and one peer.
BASE_POLICY = f"""\
version = 1

[lines.modem1]
device = "/dev/ttyS0"
admin_users = ["pppt-alice"]

[peers.{TEST_PEER}]

[[rules]]
name = "attack-suite"
users = ["pppt-mallory", "pppt-alice", "pppt-eve"]
lines = ["modem1"]
peers = ["{TEST_PEER}"]
flags = ["debug"]
dial_seconds = 30
"""



@dataclass(frozen=True)
class User:
    name: str
    uid: int
    gid: int
    in_pppup: bool



def helper_pids() -> list[int]:
    """Running processes of the installed helper, or of the link supervisor a
    helper becomes once its link is up (by their command line)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read()
                if paths.HELPER_ENTRY.encode() in cmdline or cmdline.startswith(paths.SUPERVISOR.encode() + b"\0"):
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def wait_no_helpers(timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = helper_pids()
        if not left:
            return []
        time.sleep(0.05)
    return helper_pids()



class PolicyFile:
    """Writes /etc/pppup/policy.toml for a test; the original comes back after."""

    def __init__(self) -> None:
        self.backup = paths.POLICY + ".attack-backup"
        self.had_policy = os.path.lexists(paths.POLICY)
        if self.had_policy:
            os.rename(paths.POLICY, self.backup)

    def write(self, text: str = BASE_POLICY, mode: int = 0o644) -> str:
        os.makedirs(paths.CONFIG_DIR, mode=0o755, exist_ok=True)
        tmp = paths.POLICY + ".attack-new"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.rename(tmp, paths.POLICY)
        return paths.POLICY

    def remove(self) -> None:
        if os.path.lexists(paths.POLICY):
            if os.path.isdir(paths.POLICY) and not os.path.islink(paths.POLICY):
                shutil.rmtree(paths.POLICY)
            else:
                os.unlink(paths.POLICY)

    def restore(self) -> None:
        self.remove()
        if self.had_policy:
            os.rename(self.backup, paths.POLICY)



# -- running as a user --------------------------------------------------------
def _group_opt(groups: "str | list[int]") -> list[str]:
    """setpriv's group option: "init" (from /etc/group), "clear" (none), or exactly these gids."""
    if isinstance(groups, list):
        return [f"--groups={','.join(str(g) for g in groups)}"] if groups else ["--clear-groups"]
    return ["--init-groups"] if groups == "init" else ["--clear-groups"]


def run_as(user: User, argv: list[str], *, env: dict[str, str] | None = None, input: str | None = None,
           timeout: float = 60, groups: "str | list[int]" = "init") -> subprocess.CompletedProcess:
    """Run argv as `user` (setpriv: real, effective and saved ids; groups from
    /etc/group with groups="init", none with "clear", or a list of gids)."""
    group_opt = _group_opt(groups)
    cmd = ["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", *group_opt, "--", *argv]
    return subprocess.run(cmd, env=env if env is not None else {"PATH": "/usr/bin:/bin"}, input=input,
                          capture_output=True, text=True, timeout=timeout)


def raw(user: User, spawn: dict[str, Any] | None = None, steps: list[dict[str, Any]] | None = None,
        timeout: float = 60, groups: "str | list[int]" = "init") -> dict[str, Any]:
    """Drive the installed shim as `user` with rawclient.py; returns its result."""
    plan = json.dumps({"spawn": spawn or {}, "steps": steps or []})
    proc = run_as(user, [SYS_PYTHON, "-I", RAWCLIENT], input=plan, timeout=timeout, groups=groups)
    if proc.returncode != 0:
        raise AssertionError(f"rawclient failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def answers(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["answer"] for e in result["events"] if "answer" in e]


def request(op: str, **fields: Any) -> dict[str, str]:
    """A send step for one well-formed request."""
    lines = [f"op={op}"] + [f"{k}={v}" for k, v in fields.items()]
    return {"send": "\n".join(lines) + "\n"}


def raw_background(user: User, spawn: dict[str, Any] | None = None, steps: list[dict[str, Any]] | None = None,
                   groups: "str | list[int]" = "init") -> subprocess.Popen:
    """Like raw(), but returns the running rawclient (communicate() for its result)
    so the test can look at the live helper meanwhile."""
    plan = json.dumps({"spawn": spawn or {}, "steps": steps or []})
    group_opt = _group_opt(groups)
    proc = subprocess.Popen(["setpriv", f"--reuid={user.uid}", f"--regid={user.gid}", *group_opt, "--",
                             SYS_PYTHON, "-I", RAWCLIENT], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={"PATH": "/usr/bin:/bin"})
    proc.stdin.write(plan)
    proc.stdin.close()
    proc.stdin = None  # so communicate() only reads
    return proc


def finish(proc: subprocess.Popen, timeout: float = 60) -> dict[str, Any]:
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"rawclient failed ({proc.returncode}): {err[-2000:]}")
    return json.loads(out)


def helper_of(user: User, timeout: float = 10.0) -> int:
    """The pid of the running helper serving `user` (by its shim-built argv),
    once it is past its own hardening (its bounding set is trimmed), so that
    what the test reads is the helper's steady state, not Python's start-up."""
    marker = f"--uid\0{user.uid}\0".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in helper_pids():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if marker not in f.read():
                        continue
                with open("/proc/self/status") as f:
                    ours = next(line for line in f if line.startswith("CapBnd:"))
                if proc_status(pid)["CapBnd"] != ours.split(":")[1].strip():
                    return pid
            except OSError:
                pass
        time.sleep(0.02)
    raise AssertionError(f"no helper process for {user.name} appeared within {timeout} s")


def open_fds(pid: int, timeout: float = 5.0) -> dict[int, str]:
    """fd -> target of a running process, as two reads in a row agree.

    The helper opens and closes files of its own while it starts (the
    policy, its admission slot): an fd that vanishes between the listing
    and its readlink is one of those, not a leak.  A leaked fd stays, so it
    is in the stable listing."""
    def snapshot() -> dict[int, str]:
        fds = {}
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                fds[int(name)] = os.readlink(f"/proc/{pid}/fd/{name}")
            except FileNotFoundError:
                pass
        return fds
    deadline = time.monotonic() + timeout
    last = snapshot()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = snapshot()
        if now == last:
            return now
        last = now
    raise AssertionError(f"the fds of pid {pid} never settled within {timeout} s: {last}")


def proc_status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}


def proc_limit(pid: int, name: str) -> tuple[str, str]:
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith(name):
                soft, hard = line[len(name):].split()[:2]
                return soft, hard
    raise AssertionError(f"{name} not in /proc/{pid}/limits")


def compile_payload(tag: str, out_path: str) -> str:
    """A shared object whose constructor creates /tmp/pwned-TAG: proof of loading."""
    src = out_path + ".c"
    with open(src, "w") as f:
        f.write('#include <fcntl.h>\n#include <unistd.h>\n'
                '__attribute__((constructor)) static void pwn(void) {\n'
                f'  int fd = open("/tmp/pwned-{tag}", O_CREAT | O_WRONLY, 0644);\n'
                '  if (fd >= 0) close(fd);\n}\n')
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", out_path, src], check=True, timeout=60)
    os.unlink(src)
    os.chmod(out_path, 0o755)
    return out_path
