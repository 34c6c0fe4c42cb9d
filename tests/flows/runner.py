"""Running the installed `pppup`/`pppdown` as test users, and the policy and accounts they need.

Used by the host flow tests (tests/flows) and the VM flow tests
(tests/vm/test_flows_*.py) alike: the same users, policy writer and
account files; only the lines differ (ptys on the host, UARTs in the VM).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from pppup_protocol import paths

FLOW_PEER = "pppt-flows"
# name -> in group pppup
FLOW_USERS = {"pppt-ann": True, "pppt-bob": True, "pppt-adm": True, "pppt-out": False}
PPPUP = "/usr/local/bin/pppup"
PPPDOWN = "/usr/local/bin/pppdown"


@dataclass(frozen=True)
class FlowUser:
    name: str
    uid: int
    gid: int
    home: str

    @property
    def accounts_dir(self) -> str:
        return os.path.join(self.home, ".config/pppup/accounts")

    def write(self, relative: str, text: str, mode: int = 0o600) -> str:
        """A file in the user's ~/.config/pppup/accounts, owned by the user."""
        path = os.path.join(self.accounts_dir, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        for directory in (os.path.join(self.home, ".config"), os.path.join(self.home, ".config/pppup"),
                          self.accounts_dir):
            os.chown(directory, self.uid, self.gid)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        os.chown(path, self.uid, self.gid)
        return path

    def clear_accounts(self) -> None:
        shutil.rmtree(self.accounts_dir, ignore_errors=True)

    def argv(self, *command: str) -> list[str]:
        return ["setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--init-groups", "--reset-env",
                "--", *command]

    def run(self, *command: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*command), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, start_new_session=True)

    def start(self, *command: str) -> subprocess.Popen[str]:
        """In the background, without a terminal (no prompts); setpriv execs, so .pid is pppup's."""
        return subprocess.Popen(self.argv(*command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)


def interrupt(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str, str]:
    """Ctrl-C to the client; its exit status and output once it has cleaned up."""
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=30)
        raise AssertionError(f"pppup did not finish within {timeout} s:\n{out}\n{err}") from None
    return proc.returncode, out, err


class PolicyWriter:
    """Writes /etc/pppup/policy.toml; the admin's own comes back at restore()."""

    def __init__(self) -> None:
        self.backup = paths.POLICY + ".flows-backup"
        self.had_policy = os.path.lexists(paths.POLICY)
        if self.had_policy:
            os.rename(paths.POLICY, self.backup)

    def write(self, text: str) -> None:
        os.makedirs(paths.CONFIG_DIR, mode=0o755, exist_ok=True)
        tmp = paths.POLICY + ".flows-new"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, paths.POLICY)

    def restore(self) -> None:
        if os.path.lexists(paths.POLICY):
            os.unlink(paths.POLICY)
        if self.had_policy:
            os.rename(self.backup, paths.POLICY)


def policy_text(lines: dict[str, str], *, pty: bool, users: list[str], admins: list[str] = (),
                peer: str = FLOW_PEER, extra_rule: str = "", dial_seconds: int = 300) -> str:
    parts = ["version = 1\n"]
    for name, device in lines.items():
        parts.append(f'[lines.{name}]\ndevice = "{device}"\n')
        if pty:
            parts.append("pty = true\n")
        if admins:
            parts.append(f"admin_users = {json.dumps(list(admins))}\n")
    parts.append(f"[peers.{peer}]\n")
    parts.append(f'[[rules]]\nname = "flows"\nusers = {json.dumps(users)}\nlines = {json.dumps(list(lines))}\n'
                 f'peers = ["{peer}"]\nflags = ["debug"]\ndial_seconds = {dial_seconds}\n{extra_rule}')
    return "".join(parts)


def session_record(line: str) -> dict[str, Any] | None:
    """The helper's root-owned record of a line (the test runs as root)."""
    try:
        with open(os.path.join(paths.STATE_DIR, "lines", line + ".json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def wait_for_record(line: str, timeout: float = 30, **fields: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = session_record(line)
        if record is not None and all(record.get(k) == v for k, v in fields.items()):
            return record
        time.sleep(0.05)
    raise AssertionError(f"no session record of {line} with {fields} within {timeout} s "
                         f"(last: {session_record(line)})")


def locks_present(names: list[str]) -> list[str]:
    return [name for name in names if os.path.lexists(os.path.join(paths.LOCK_DIR, name))]
