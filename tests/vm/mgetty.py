"""Guest side: Debian's real mgetty on a line, restarted whenever it exits, as init's `respawn` would.

    with Mgetty("ttyS1") as mgetty:
        mgetty.wait_log("waiting...")            # initialised the modem, waits for RING
        ...
        mgetty.exits                             # [(time.monotonic(), exit status), ...]

mgetty logs to /var/log/mgetty/mg_<tty>.log (Debian's build); the log is
read from a byte offset, so a step can wait for what mgetty says after it.
It runs data-only (-D: our modem has no fax class), answers on the first
ring (-n 1), with the Debian package's /etc/mgetty config otherwise.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time

MGETTY = "/sbin/mgetty"
RESPAWN_PAUSE_S = 1.0        # init waits a little before respawning too


class Mgetty:
    def __init__(self, tty: str, debug: int = 6) -> None:
        self.tty = tty
        self.argv = [MGETTY, "-x", str(debug), "-D", "-n", "1", "-s", "38400", tty]
        self.log_path = f"/var/log/mgetty/mg_{tty}.log"
        self.starts: list[tuple[float, int]] = []
        self.exits: list[tuple[float, int]] = []
        self.proc: subprocess.Popen[bytes] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._respawn, daemon=True)

    def __enter__(self) -> "Mgetty":
        if not os.path.exists(MGETTY):
            raise RuntimeError(f"{MGETTY} is missing: install Debian's mgetty (make bootstrap does)")
        os.makedirs(os.path.dirname(self.log_path), exist_ok=True)
        if os.path.exists(self.log_path):
            os.unlink(self.log_path)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._thread.join(timeout=15)

    def _respawn(self) -> None:
        while not self._stopping.is_set():
            proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
            self.proc = proc
            self.starts.append((time.monotonic(), proc.pid))
            status = proc.wait()
            self.exits.append((time.monotonic(), status))
            self._stopping.wait(RESPAWN_PAUSE_S)

    @property
    def pid(self) -> int | None:
        proc = self.proc
        return proc.pid if proc is not None and proc.poll() is None else None

    # -- its log --------------------------------------------------------------
    def log(self, after: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(after)
                return f.read().decode("latin-1")
        except OSError:
            return ""

    def log_size(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def wait_log(self, words: str, after: int = 0, timeout: float = 60.0) -> int:
        """Wait until mgetty's log says `words` after byte `after`; the offset just past that line."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log(after)
            found = text.find(words)
            if found >= 0:
                end = text.find("\n", found)
                return after + len(text[:end if end >= 0 else len(text)].encode("latin-1"))
            if time.monotonic() > deadline:
                raise AssertionError(f"mgetty did not log {words!r} within {timeout:.0f} s; its log since:\n"
                                     f"{text[-4000:]}")
            time.sleep(0.1)

    def lines(self, after: int = 0, *words: str) -> list[str]:
        """mgetty's log lines after byte `after` that contain any of `words` (date stripped)."""
        out = []
        for line in self.log(after).splitlines():
            if "key: '" in line:            # its configuration dump at start-up
                continue
            if any(word in line for word in words):
                fields = line.split(maxsplit=3)       # "11/21 10:14:03 yS1  lock not made: ..."
                out.append(fields[3] if len(fields) == 4 and line[:2].isdigit() else line.strip())
        return out

    def wait_exit(self, after: float, timeout: float) -> tuple[float, int]:
        """The first exit of mgetty after monotonic time `after`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for at, status in self.exits:
                if at > after:
                    return at, status
            time.sleep(0.1)
        raise AssertionError(f"mgetty did not exit within {timeout:.0f} s (exits so far: {self.exits})")
