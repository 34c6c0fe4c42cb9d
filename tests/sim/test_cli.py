"""`python -m pppup_sim WORLD.toml`: ready line, control socket, clean shutdown."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import Dte

REPO = Path(__file__).resolve().parents[2]

WORLD = """
[delays]
dial = 0.02
ring_interval = 0.05
connect = 0.02

[modems.A]
number = "5550001"
profile = "S0=1"

[modems.B]
number = "5550002"

[numbers."8765432"]
host = "isp"

[hosts.isp]
kind = "isp"
pppd = ["/bin/sh", "-c", "echo $$ >&2; exec cat"]
"""


class Sim:
    """The simulator as a separate process, the way VM tests and shell scripts run it."""

    def __init__(self, world: Path, *args: str) -> None:
        env = {**os.environ, "PYTHONPATH": f"{REPO / 'sim'}:{REPO}"}
        self.proc = subprocess.Popen([sys.executable, "-m", "pppup_sim", str(world), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(10)
            raise AssertionError(f"no ready line; stderr: {self.proc.stderr.read().decode()}")
        self.ready = json.loads(line)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(15)
        self.sock.connect(self.ready["control"])
        self.replies = self.sock.makefile("rb")

    def ask(self, **request) -> dict:
        self.sock.sendall(json.dumps(request).encode() + b"\n")
        return json.loads(self.replies.readline())

    def close(self) -> None:
        self.sock.close()
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc.stdout.close()
        self.proc.stderr.close()


@pytest.fixture
def sim(tmp_path):
    world = tmp_path / "world.toml"
    world.write_text(WORLD)
    started = []

    def start(*args: str) -> Sim:
        instance = Sim(world, *args)
        started.append(instance)
        return instance

    yield start
    for instance in started:
        instance.close()


def test_ready_line_names_the_ttys_and_the_control_socket(sim, tmp_path):
    s = sim("--control", str(tmp_path / "ctl.sock"))
    assert s.ready["ready"] is True and s.ready["pid"] == s.proc.pid
    assert s.ready["control"] == str(tmp_path / "ctl.sock")
    a = s.ready["modems"]["A"]
    assert a["tty"].startswith("/dev/pts/") and a["number"] == "5550001" and a["port"] == "pty"
    assert os.stat(tmp_path / "ctl.sock").st_mode & 0o777 == 0o600


def test_control_operations(sim):
    s = sim()
    assert s.ask(op="state", modem="A")["state"]["s"]["0"] == 1
    assert set(s.ask(op="state")["modems"]) == {"A", "B"}
    b = Dte(s.ready["modems"]["B"]["tty"])
    try:
        b.send("ATD5550001\r")
        b.expect("CONNECT 33600\r\n")
        event = s.ask(op="wait", kind="connect", source="A", timeout=5)["event"]
        assert event["data"] == {"speed": 33600} and event["seq"] > 0
        assert s.ask(op="drop_carrier", modem="A") == {"ok": True}
        b.expect("NO CARRIER\r\n")
        kinds = [e["kind"] for e in s.ask(op="events", after=0, source="B")["events"]]
        assert kinds[:3] == ["dte", "command", "dial"] and "no_carrier" in kinds
        assert s.ask(op="set_number", number="777", spec={"outcome": "busy"})["ok"]
        b.send("ATD777\r")
        b.expect("BUSY\r\n")
        assert s.ask(op="ring", modem="A", caller="0815")["ok"]
        assert s.ask(op="wait", kind="answer", source="A", timeout=5)["event"]["data"] == \
            {"how": "auto"}
        assert s.ask(op="dtr", modem="B", high=False)["ok"]
        assert s.ask(op="wait", kind="dtr", source="B", timeout=5)["ok"]
        assert isinstance(s.ask(op="turnarounds", modem="B")["turnarounds"], list)
    finally:
        b.close()


def test_control_errors_are_answers_not_crashes(sim):
    s = sim()
    assert "unknown op" in s.ask(op="explode")["error"]
    assert "no modem named 'Z'" in s.ask(op="state", modem="Z")["error"]
    assert "no call" in s.ask(op="drop_carrier", modem="A")["error"]
    assert "no event" in s.ask(op="wait", kind="never", timeout=0.1)["error"]
    s.sock.sendall(b"not json\n")
    assert "not JSON" in json.loads(s.replies.readline())["error"]
    assert s.ask(op="state", modem="A")["ok"]                 # still serving


def test_sigterm_hangs_up_kills_the_remote_program_and_exits_0(sim):
    s = sim()
    a = Dte(s.ready["modems"]["A"]["tty"])
    try:
        a.send("ATD8765432\r")
        a.expect("CONNECT 33600\r\n")
        start = s.ask(op="wait", kind="host", timeout=5, fields={"step": "pppd-start"})
        program = start["event"]["data"]["pid"]
        assert os.path.exists(f"/proc/{program}")
        control = s.ready["control"]
        s.proc.send_signal(signal.SIGTERM)
        a.expect("NO CARRIER\r\n")
        assert s.proc.wait(15) == 0
        assert not os.path.exists(f"/proc/{program}")       # reaped and gone
        assert not os.path.exists(control)
        assert not os.path.exists(os.path.dirname(control))  # the private directory too
    finally:
        a.close()


def test_bad_world_file_exits_with_the_config_code(tmp_path):
    world = tmp_path / "world.toml"
    world.write_text('[numbers."555"]\noutcome = "busy"\nhost = "isp"\n')
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'sim'}:{REPO}"}
    done = subprocess.run([sys.executable, "-m", "pppup_sim", str(world)], capture_output=True,
                          env=env, timeout=30)
    assert done.returncode == 3
    assert done.stdout == b""
    assert b'numbers."555": give exactly one of host, modem, outcome' in done.stderr


def test_missing_world_file(tmp_path):
    env = {**os.environ, "PYTHONPATH": f"{REPO / 'sim'}:{REPO}"}
    done = subprocess.run([sys.executable, "-m", "pppup_sim", str(tmp_path / "none.toml")],
                          capture_output=True, env=env, timeout=30)
    assert done.returncode == 3 and b"cannot read the world description" in done.stderr


def test_quit_op_stops_the_simulator_and_its_remote_program(sim):
    s = sim()
    a = Dte(s.ready["modems"]["A"]["tty"])
    try:
        a.send("ATD8765432\r")
        a.expect("CONNECT")
        program = s.ask(op="wait", kind="host", timeout=5,
                        fields={"step": "pppd-start"})["event"]["data"]["pid"]
        assert s.ask(op="quit") == {"ok": True}
        assert s.proc.wait(15) == 0
        deadline = time.monotonic() + 5
        while os.path.exists(f"/proc/{program}") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not os.path.exists(f"/proc/{program}")
    finally:
        a.close()
