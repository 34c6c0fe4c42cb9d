"""Guest side: what is running and what state a line is in, for tests that break things on purpose.

Used by the fault sweep (tests/vm/fault_sweep.py), the mgetty interop test
and bench-e2e.  `line_problems` is the definition of a clean, free line:
no session record and no stray state file, no lock file, DTR low at the
UART, the simulated modem on-hook in command mode with S0 and &C/&D as in
its stored profile, no pppd at either end, no ppp0, no pppup client,
helper or supervisor left.
"""
from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import struct
import subprocess
import termios
import threading
import time
from typing import Any

from pppup_protocol import paths

from tests.flows.runner import PPPDOWN, PPPUP, FlowUser, session_record
from tests.vm import wiring

LINE, MODEM, UART = "line1", "L1", 1          # the policy's line, the simulator's modem, ttyS<N>
WAIT_S = 150.0                                 # default bound on a wait for the client
LCP_TERMINATE_REQUEST = b"\xc0\x21\x7d\x25"   # protocol 0xc021, code 5 (escaped: LCP uses the default ACCM)


# ------------------------------------------------------------------ processes
def comm(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("latin-1")
    except OSError:
        return ""


def _state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def processes() -> dict[int, str]:
    return {int(p): comm(int(p)) or "" for p in os.listdir("/proc") if p.isdigit()}


def pppd_pids() -> list[int]:
    return sorted(pid for pid, comm in processes().items() if comm == "pppd")


def pppup_processes() -> list[str]:
    """Our programs still running: clients, helpers, supervisors, finish steps."""
    found = []
    for pid in processes():
        cmd = cmdline(pid)
        if any(word in cmd for word in (PPPUP, PPPDOWN, paths.HELPER_ENTRY, paths.SUPERVISOR)):
            found.append(f"{pid}: {cmd.strip()[:120]}")
    return found


def freeze(pid: int) -> None:
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 5
    while _state(pid) not in ("T", "t", None) and time.monotonic() < deadline:
        time.sleep(0.002)


def thaw(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGCONT)
    except ProcessLookupError:
        pass


class Client:
    """`pppup`/`pppdown` as the user in the background, its output collected line by line as it comes."""

    def __init__(self, user: FlowUser, *command: str) -> None:
        self.proc = user.start(*command)
        self.started = time.monotonic()
        self.out: list[str] = []
        self.err: list[str] = []
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._read, args=(stream, sink), daemon=True)
                         for stream, sink in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    def _read(self, stream: Any, sink: list[str]) -> None:
        for line in stream:
            with self._changed:
                sink.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        with self._changed:
            return "\n".join(self.out + self.err)

    def wait_line(self, words: str, timeout: float = WAIT_S, stream: str = "err") -> str:
        sink = self.err if stream == "err" else self.out
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for line in sink:
                    if words in line:
                        return line
                if self.proc.poll() is not None and not any(r.is_alive() for r in self._readers):
                    raise AssertionError(f"the client ended (exit {self.proc.returncode}) before "
                                         f"{words!r}:\n{self.text()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {words!r} from the client within {timeout:.0f} s:\n{self.text()}")
                self._changed.wait(min(left, 0.2))

    def finish(self, timeout: float = WAIT_S) -> int:
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            raise AssertionError(f"the client did not end within {timeout:.0f} s:\n{self.text()}") from None
        for reader in self._readers:
            reader.join(timeout=10)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            thaw(self.proc.pid)
            self.proc.kill()
        self.finish(timeout=30)


def status_of_line(user: FlowUser, line: str = LINE) -> dict[str, Any]:
    """`pppup status --json` as the user: the entry of one line."""
    result = user.run(PPPUP, "status", "--json", timeout=60)
    if result.returncode != 0:
        raise AssertionError(f"pppup status failed (exit {result.returncode}): {result.stderr}")
    return next(entry for entry in json.loads(result.stdout) if entry["line"] == line)


class SyslogCollector:
    """The guest has no syslog daemon: the helpers' audit lines and start-up
    errors (RFC 3164 datagrams to /dev/log) are caught here, as evidence of
    what each helper did and to explain a failure."""

    def __init__(self, path: str = "/dev/log") -> None:
        self.path = path
        self.lines: list[tuple[float, str]] = []
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.lexists(path):
            os.unlink(path)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self._lock = threading.Lock()
        threading.Thread(target=self._receive, daemon=True).start()

    def _receive(self) -> None:
        while True:
            try:
                data = self.sock.recv(8192)
            except OSError:
                return
            with self._lock:
                self.lines.append((time.monotonic(), data.decode("latin-1").strip()))

    def since(self, t: float, *words: str) -> list[str]:
        with self._lock:
            return [text for at, text in self.lines if at >= t and (not words or any(w in text for w in words))]

    def close(self) -> None:
        self.sock.close()
        if os.path.lexists(self.path):
            os.unlink(self.path)


# ------------------------------------------------------------------ the clean line
def stray_state_files(line: str = LINE) -> list[str]:
    """Anything in the helper's lines directory but whole records (a torn write leaves a temp file)."""
    lines_dir = os.path.join(paths.STATE_DIR, "lines")
    stray = []
    for name in os.listdir(lines_dir) if os.path.isdir(lines_dir) else ():
        if name not in (f"{line}.json", f"{line}.last.json"):
            stray.append(name)
            continue
        try:
            with open(os.path.join(lines_dir, name)) as f:
                json.load(f)
        except ValueError as error:
            stray.append(f"{name} (not whole JSON: {error})")
    return stray


def lock_files() -> list[str]:
    return sorted(n for n in os.listdir(paths.LOCK_DIR) if n.startswith(("LCK..", "LK.")))


def line_problems(world: Any, line: str = LINE, modem_name: str = MODEM, uart: int = UART) -> list[str]:
    """Everything that is not as a free, clean line must be; empty when it is."""
    problems = []
    record = session_record(line)
    if record is not None:
        problems.append(f"session record left (phase {record['phase']}, supervisor {record['supervisor_pid']})")
    problems += [f"stray state file {name}" for name in stray_state_files(line)]
    problems += [f"lock file {name}" for name in lock_files()]
    if "DTR" in wiring.uart_signals(uart):
        problems.append("DTR still high")
    modem = world.state(modem_name)
    stored = modem["stored"]
    if (modem["hook"], modem["mode"]) != ("on", "command") or modem["call"] is not None:
        problems.append(f"modem not idle: hook {modem['hook']}, mode {modem['mode']}, call {modem['call']}")
    if modem["s"].get(0, 0) != stored["s"].get(0, 0):
        problems.append(f"modem still auto-answering: S0={modem['s'].get(0)}")
    if (modem["dcd_mode"], modem["dtr_mode"]) != (stored["dcd_mode"], stored["dtr_mode"]):
        problems.append(f"modem not reset: &C{modem['dcd_mode']}&D{modem['dtr_mode']} "
                        f"(stored &C{stored['dcd_mode']}&D{stored['dtr_mode']})")
    pppds = pppd_pids()
    if pppds:
        problems.append(f"pppd still running: {' '.join(f'{p} ({cmdline(p)[:60]})' for p in pppds)}")
    if os.path.exists("/sys/class/net/ppp0"):
        problems.append("ppp0 still exists")
    problems += [f"process left: {p}" for p in pppup_processes()]
    return problems


# ------------------------------------------------------------------ small waits and probes
def first_arrival(chunks: list[tuple[float, bytes]], pattern: bytes) -> float | None:
    """When `pattern` had fully arrived in a stream logged as (time, chunk): it may span chunks."""
    data = b""
    for at, chunk in chunks:
        data += chunk
        if pattern in data[-(len(chunk) + len(pattern)):]:
            return at
    return None


def pending_callbacks(world: Any, after: int = 0) -> int:
    """Call-backs a server has promised (an alias chosen) and not yet made or given up on."""
    chosen = world.events(kind="host", step="callback-chosen", after=after)
    failed = world.events(kind="host", step="callback-failed", after=after)
    made = world.events(kind="host", step="login-prompt", phase="callback", after=after)
    return len(chosen) - len(failed) - len(made)


def wait_modem_sees_dtr(world: Any, modem: str = MODEM, timeout: float = 5.0) -> None:
    """The simulator learns DTR by polling the UART driver every 50 ms; a real
    modem sees the line at once.  A fault right after the open could fall
    between two polls, so the modem would never see DTR rise, nor fall: the
    fault waits until the modem knows DTR is up, as real hardware would."""
    deadline = time.monotonic() + timeout
    while world.state(modem)["dtr"] is not True:
        if time.monotonic() > deadline:
            raise AssertionError(f"the simulated modem did not see DTR up within {timeout:.0f} s "
                                 f"(driver: {sorted(wiring.uart_signals(UART))})")
        time.sleep(0.01)


def reset_modem_by_hand(uart: int = UART) -> None:
    """Recovery after a failed test only: ATZ from root on the free UART, then DTR low."""
    fd = wiring.open_uart(uart)
    try:
        os.write(fd, b"ATZ\r")
        try:
            wiring.read_until(fd, b"OK", timeout=3)
        except TimeoutError:
            pass
        fcntl.ioctl(fd, termios.TIOCMBIC, struct.pack("i", termios.TIOCM_DTR))
        time.sleep(0.2)
    finally:
        os.close(fd)


def describe(entry: dict[str, Any]) -> str:
    """A `pppup status` entry in a few words: "free", or "up (user, account)"."""
    if entry["state"] == "free":
        return "free"
    return f"{entry['state']} ({entry.get('user')}, {entry.get('account')})"


def wait_record(timeout: float, phase: str | None = None, with_pppd: bool = False,
                line: str = LINE) -> dict[str, Any]:
    """The helper's session record of `line`, once it is in `phase` (and names pppd, if asked)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = session_record(line)
        if record is not None and (phase is None or record["phase"] == phase) \
                and (not with_pppd or record.get("pppd_pid")):
            return record
        time.sleep(0.01)
    raise AssertionError(f"no session record{' in phase ' + phase if phase else ''} within {timeout:.0f} s "
                         f"(last: {session_record(line)})")
