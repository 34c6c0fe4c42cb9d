"""Shared by the flow tests: account files, a Progress that records, the simulator's modem as a line."""
from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import Any

from pppup import accounts
from pppup.modem import Modem
from pppup.progress import Progress

FAST = {"dial": 0.05, "ring_interval": 0.1, "connect": 0.05}


def account_from_text(tmp_path: Path, text: str, name: str = "acct", origin: str = "user",
                      mode: int = 0o600) -> accounts.Account:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return accounts.load_file(str(path), origin)


class Recorder(Progress):
    """A Progress writing into a string, with the lines kept for assertions."""

    def __init__(self, verbose: bool = True) -> None:
        super().__init__(stream=io.StringIO(), verbose=verbose, interactive=False)
        self.ticks: list[float] = []

    @property
    def text(self) -> str:
        return self.stream.getvalue()          # type: ignore[attr-defined]

    def countdown(self, label: str):
        inner = super().countdown(label)

        def tick(left: float) -> None:
            self.ticks.append(left)
            inner(left)
        return tick


def open_line(world: Any, modem: str = "A", progress: Progress | None = None,
              secrets: set[bytes] | None = None) -> Modem:
    """The modem's tty as the helper would hand it over (root opens it here)."""
    fd = os.open(world.tty_path(modem), os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    return Modem(fd, 115200, False, progress.event if progress else None, secrets or set())


def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")
