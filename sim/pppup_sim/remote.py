"""Run the far end's program (pppd) on a pty of its own and relay it to the call.

The program gets a fresh raw pty slave as stdin and stdout (as a login
shell's `exec pppd` would), its stderr comes back as `pppd-log` events.  The
relay moves bytes between the pty master and the call without delay.

Either end can finish first:
- the program exits (or closes its tty): the host hangs up, the caller sees
  NO CARRIER;
- the call ends: we close the master, which hangs up the program's tty (pppd
  reports "Modem hangup"); if it does not exit within EXIT_GRACE seconds its
  process group gets SIGTERM, then SIGKILL.
"""
from __future__ import annotations

import asyncio
import errno
import os
import signal
import subprocess
from typing import Callable

from .events import EventLog
from .hostline import HostLine
from .ports import READ_SIZE, FdWriter, make_raw

ENVIRONMENT = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C"}
EXIT_GRACE = 5.0
TERM_GRACE = 2.0
MAX_LOG_LINES = 1000


class RemoteProgram:
    def __init__(self, loop: asyncio.AbstractEventLoop, line: HostLine, argv: tuple[str, ...],
                 log: EventLog, source: str) -> None:
        self.loop = loop
        self.line = line
        self.argv = argv
        self.log = log
        self.source = source
        self.proc: subprocess.Popen | None = None
        self._master = -1
        self._exited = asyncio.Event()
        self._tty_closed = False
        self._log_lines = 0
        self._pidfd = -1
        self._stderr_tail = b""

    async def run(self) -> int | None:
        """Start, relay until either side ends, clean up; the exit status (None: never started)."""
        master, slave = os.openpty()
        make_raw(slave)
        os.set_blocking(master, False)
        self._master = master
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                env=ENVIRONMENT, cwd="/", close_fds=True, start_new_session=True)
        except OSError as error:
            os.close(master)
            self.log.emit("host", self.source, step="pppd-start-failed", argv=list(self.argv),
                          error=f"{error.strerror}: {error.filename or self.argv[0]}")
            self.line.hang_up("host")
            return None
        finally:
            os.close(slave)           # the program holds the tty now
        self.log.emit("host", self.source, step="pppd-start", argv=list(self.argv),
                      pid=self.proc.pid)
        writer = FdWriter(self.loop, master)
        # bytes that arrived after the start command (an eager peer's first LCP frames)
        if self.line.buffer:
            writer.write(bytes(self.line.buffer))
            self.line.buffer.clear()
        self.line.sink = writer.write
        self.loop.add_reader(master, self._from_program)
        stderr_fd = self.proc.stderr.fileno()
        os.set_blocking(stderr_fd, False)
        self.loop.add_reader(stderr_fd, self._stderr_readable)
        pidfd = os.pidfd_open(self.proc.pid)
        self._pidfd = pidfd
        self.loop.add_reader(pidfd, self._on_exit)
        try:
            ended = asyncio.ensure_future(self.line.wait_end())
            exited = asyncio.ensure_future(self._exited.wait())
            await asyncio.wait({ended, exited}, return_when=asyncio.FIRST_COMPLETED)
            ended.cancel()
            exited.cancel()
            if self._exited.is_set():
                self._drain_program_output()
                self.line.hang_up("host")
            else:
                await self._stop_program()
        finally:
            self.line.sink = None
            self.loop.remove_reader(pidfd)
            os.close(pidfd)
            if self.proc.poll() is None:       # cancelled (world shutdown): no more grace
                self._signal_group(signal.SIGKILL)
            writer.stop()
            if not self._tty_closed:
                self.loop.remove_reader(master)
            self._close_master()
            status = self.proc.wait()
            self._stderr_readable()
            self.loop.remove_reader(stderr_fd)
            self.proc.stderr.close()
        self.log.emit("host", self.source, step="pppd-exit", pid=self.proc.pid, status=status)
        return status

    def _on_exit(self) -> None:
        self.loop.remove_reader(self._pidfd)
        self._exited.set()

    def _from_program(self) -> None:
        try:
            data = os.read(self._master, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as error:
            if error.errno != errno.EIO:
                raise
            data = b""
        if not data:
            # every fd on the program's tty is closed; wait for the exit itself
            self._tty_closed = True
            self.loop.remove_reader(self._master)
            return
        self.line.write(data)

    def _drain_program_output(self) -> None:
        while not self._tty_closed and self._master >= 0:
            try:
                data = os.read(self._master, READ_SIZE)
            except OSError:
                return
            if not data:
                return
            self.line.write(data)

    def _stderr_readable(self) -> None:
        if self.proc is None or self.proc.stderr.closed:
            return
        try:
            chunk = os.read(self.proc.stderr.fileno(), READ_SIZE)
        except (BlockingIOError, OSError):
            return
        data = self._stderr_tail + chunk
        *lines, self._stderr_tail = data.split(b"\n")
        if not chunk and self._stderr_tail:
            lines.append(self._stderr_tail)
            self._stderr_tail = b""
        for line in lines:
            if self._log_lines < MAX_LOG_LINES:
                self._log_lines += 1
                self.log.emit("host", self.source, step="pppd-log",
                              line=line.decode("utf-8", "replace").rstrip("\r"))
        if not chunk:
            self.loop.remove_reader(self.proc.stderr.fileno())

    def _close_master(self) -> None:
        if self._master >= 0:
            os.close(self._master)
            self._master = -1

    async def _stop_program(self) -> None:
        """The call is gone: hang up the program's tty, then insist."""
        if not self._tty_closed:
            self.loop.remove_reader(self._master)
            self._tty_closed = True
        self._close_master()
        for sig, grace in ((None, EXIT_GRACE), (signal.SIGTERM, TERM_GRACE), (signal.SIGKILL, None)):
            if sig is not None:
                self._signal_group(sig)
            if grace is None:
                return
            try:
                await asyncio.wait_for(self._exited.wait(), grace)
                return
            except asyncio.TimeoutError:
                continue

    def kill_now(self) -> None:
        """Shutdown of the whole world: no grace."""
        self._signal_group(signal.SIGTERM)

    def _signal_group(self, sig: int) -> None:
        if self.proc is None or self.proc.returncode is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


def program_runner(loop: asyncio.AbstractEventLoop, log: EventLog,
                   track: Callable[[RemoteProgram], None]) -> Callable[..., RemoteProgram]:
    def make(line: HostLine, argv: tuple[str, ...], source: str) -> RemoteProgram:
        program = RemoteProgram(loop, line, argv, log, source)
        track(program)
        return program
    return make
