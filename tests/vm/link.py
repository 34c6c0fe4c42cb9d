"""Guest side: network namespaces and real pppd processes for VM scenarios.

Each end of a link runs Debian's /usr/sbin/pppd in its own network namespace:
a ppp unit is created in the namespace of the process that opens /dev/ppp, so
both ends get their own `ppp0` and a ping must cross the serial link.

Also the transcript that scenarios write (the smoke test prints it on
failure, `make demo` and `make demo-smoke` print it as they go).
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from pppup_protocol.errors import Code, PppupError

PPPD = "/usr/sbin/pppd"

# Options that override Debian's /etc/ppp/options (auth, lcp-echo-interval 30)
# for a link between two ends we both control: no authentication, no echo
# probes, quick LCP retries, no compression (both ends are the same pppd),
# and no ip-up/ip-down scripts from the host's /etc/ppp.
PPPD_COMMON = [
    "115200", "nodetach", "noauth", "lcp-echo-interval", "0", "lcp-restart", "1",
    "noipdefault", "nodefaultroute", "noccp", "novj",
    "ip-up-script", "/bin/true", "ip-down-script", "/bin/true",
]


class Transcript:
    """Timestamped, readable lines: what a person watching the scenario sees."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream if stream is not None else sys.stdout
        self.started = time.monotonic()
        self.lines: list[str] = []
        self.lock = threading.Lock()

    def say(self, who: str, text: str, at: float | None = None) -> None:
        """One line; `at` is when it happened (time.monotonic()) if not now."""
        when = (at if at is not None else time.monotonic()) - self.started
        line = f"[{when:6.2f}s] {who:<5} {text}"
        with self.lock:
            self.lines.append(line)
            print(line, file=self.stream, flush=True)


def _ip(*args: str, timeout: float = 10.0) -> str:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise PppupError(f"`ip {' '.join(args)}` failed: {result.stderr.strip()}", Code.FAILURE)
    return result.stdout


@dataclass
class Netns:
    name: str

    def __enter__(self) -> "Netns":
        _ip("netns", "add", self.name)
        _ip("-n", self.name, "link", "set", "lo", "up")
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["ip", "netns", "delete", self.name], capture_output=True, timeout=10)

    def run(self, *argv: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.name, *argv],
                              capture_output=True, text=True, timeout=timeout)

    def addresses(self, ifname: str = "ppp0") -> tuple[str, str] | None:
        """(local, peer) IPv4 addresses of ifname once it is up, else None."""
        result = subprocess.run(["ip", "-n", self.name, "-4", "-o", "addr", "show", "dev", ifname],
                                capture_output=True, text=True, timeout=10)
        match = re.search(r"inet (\S+) peer (\S+?)(?:/\d+)? ", result.stdout)
        return (match.group(1), match.group(2)) if match else None

    def wait_addresses(self, ifname: str = "ppp0", timeout: float = 60.0) -> tuple[str, str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.addresses(ifname)
            if found is not None:
                return found
            time.sleep(0.2)
        raise TimeoutError(f"{ifname} in netns {self.name} got no IPv4 address within {timeout:.0f} s")


@dataclass
class Pppd:
    """A real pppd in a namespace; its log (logfd = stdout) is collected line by line."""

    who: str
    netns: Netns
    args: list[str]
    transcript: Transcript | None = None
    log: list[str] = field(default_factory=list)
    proc: subprocess.Popen[str] | None = None
    reader: threading.Thread | None = None

    def start(self) -> "Pppd":
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.netns.name, PPPD, *self.args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace",
                                     start_new_session=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _running(self) -> subprocess.Popen[str]:
        if self.proc is None:
            raise PppupError(f"pppd {self.who} was never started", Code.FAILURE)
        return self.proc

    def _read(self) -> None:
        stdout = self._running().stdout
        if stdout is None:
            return
        for line in stdout:
            line = line.rstrip("\n")
            self.log.append(line)
            if self.transcript is not None:
                self.transcript.say(self.who, f"pppd/chat: {line}")

    @property
    def pid(self) -> int:
        return self._running().pid    # `ip netns exec` execs pppd: same pid

    def terminate(self) -> None:
        self._running().send_signal(signal.SIGTERM)

    def wait(self, timeout: float) -> int:
        status = self._running().wait(timeout=timeout)
        if self.reader is not None:
            self.reader.join(timeout=5)
        return status

    def stop(self) -> None:
        """Whatever state it is in, end it (the cleanup path of a failed scenario)."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if self.reader is not None:
            self.reader.join(timeout=5)


def ping(netns: Netns, address: str, count: int = 3) -> list[str]:
    """The reply lines of `ping -c count address` from inside netns (raises on loss)."""
    result = netns.run("ping", "-n", "-c", str(count), "-W", "5", address, timeout=30 + 5 * count)
    replies = [line for line in result.stdout.splitlines() if "bytes from" in line]
    if result.returncode != 0 or len(replies) != count:
        raise PppupError(f"ping {address} from netns {netns.name}: {len(replies)}/{count} replies\n"
                         f"{result.stdout}{result.stderr}", Code.PPP)
    return replies
