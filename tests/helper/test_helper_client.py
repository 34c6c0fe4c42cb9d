"""HelperClient's own behaviour: errors when the shim is missing, not
executable, or ends without answering; fd hand-back; bounded waits.
The "helper" here is a small stand-in script exec'd in the shim's place
(the real installed shim is exercised by tests/attacks)."""
from __future__ import annotations

import os
import stat
import sys

import pytest

from pppup.helper_client import HelperClient
from pppup_protocol.codec import ProtocolError
from pppup_protocol.errors import Code, PppupError

PY = sys.executable


def script(tmp_path, body: str) -> str:
    path = tmp_path / "shim"
    path.write_text(f"#!{PY}\nimport os, socket, sys, time\n" + body)
    path.chmod(0o755)
    return str(path)


def test_missing_shim(tmp_path):
    with pytest.raises(PppupError) as err:
        HelperClient(shim=str(tmp_path / "nope")).status()
    assert err.value.code is Code.HELPER and "not installed" in err.value.message


def test_not_executable_means_not_in_group(tmp_path):
    path = tmp_path / "shim"
    path.write_text("#!/bin/sh\n")
    path.chmod(0o640)
    if os.geteuid() == 0:
        # root may exec anything with an x bit; without any x bit exec fails with EACCES too
        path.chmod(0o600)
    with pytest.raises(PppupError) as err:
        HelperClient(shim=str(path)).status()
    assert err.value.code is Code.DENIED and "not in group pppup" in err.value.message


def test_shim_refusal_code_is_explained(tmp_path):
    shim = script(tmp_path, "sys.exit(113)\n")
    with pytest.raises(PppupError) as err:
        HelperClient(shim=shim).status()
    assert err.value.code is Code.HELPER and "fd 3 was not this client's socket" in err.value.message


def test_only_fd3_reaches_the_shim(tmp_path):
    leak = os.open("/etc/hostname", os.O_RDONLY)
    os.set_inheritable(leak, True)
    shim = script(tmp_path, f"""
s = socket.socket(fileno=3)
s.recv(4096)
fds = sorted(int(n) for n in os.listdir('/proc/self/fd'))
import json
s.send(json.dumps({{"v": 1, "ok": True, "lines": fds}}).encode())
""")
    try:
        lines = HelperClient(shim=shim).status()
    finally:
        os.close(leak)
    assert leak not in lines and 3 in lines


def test_answer_with_fd(tmp_path):
    shim = script(tmp_path, """
import array, json
s = socket.socket(fileno=3)
s.recv(4096)
fd = os.open('/dev/null', os.O_RDWR)
s.sendmsg([json.dumps({"v": 1, "ok": True, "line": "modem1", "limits": {"dial_seconds": 30}}).encode()],
          [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [fd]))])
s.recv(4096)
""")
    with HelperClient(shim=shim) as helper:
        fd, limits = helper.acquire("modem1", "work")
        assert limits == {"dial_seconds": 30}
        assert os.readlink(f"/proc/self/fd/{fd}") == "/dev/null"
        os.close(fd)


def test_unexpected_fd_is_closed_and_refused(tmp_path):
    shim = script(tmp_path, """
import array, json
s = socket.socket(fileno=3)
s.recv(4096)
fd = os.open('/dev/null', os.O_RDWR)
s.sendmsg([json.dumps({"v": 1, "ok": True, "lines": []}).encode()],
          [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [fd]))])
""")
    before = set(os.listdir("/proc/self/fd"))
    with pytest.raises(ProtocolError):
        HelperClient(shim=shim).status()
    assert set(os.listdir("/proc/self/fd")) <= before | {str(n) for n in range(3)}


def test_silent_helper_times_out(tmp_path):
    shim = script(tmp_path, "time.sleep(30)\n")
    helper = HelperClient(shim=shim, timeout=0.5)
    with pytest.raises(PppupError) as err:
        helper.status()
    assert err.value.code is Code.TIMEOUT
    os.kill(helper.pid, 9)
    helper.close()
    assert helper.pid is None
