"""The running simulator: modems on ports, the network, the hosts, on one asyncio loop.

`Runtime` lives on the loop and owns everything.  `World` runs that loop
in a background thread and offers thread-safe accessors to tests and to
the CLI's control socket; each returns a snapshot, never a live object.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import os
import tempfile
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, TypeVar

from pppup_protocol.errors import Code, PppupError

from .config import ConfigError, ModemConfig, WorldConfig, number_spec, parse_config
from .events import Event, EventLog
from .hayes import AnswerCall, EndCall, HayesModem, PlaceCall, Request, SendToLine
from .hostline import HostLine
from .hosts import HostService
from .network import Call, Network
from .ports import PtyPort, UartPort
from .profile import Profile
from .remote import EXIT_GRACE, TERM_GRACE, RemoteProgram
from .results import ERROR

T = TypeVar("T")
CALL_TIMEOUT = 10.0          # a thread-safe accessor waits this long for the loop
SHUTDOWN_READ_GRACE = 0.2
DTE_LOG_BUDGET = 16 * 1024 * 1024


class SimError(PppupError):
    code = Code.FAILURE


def profile_from_commands(commands: str, where: str) -> Profile:
    """Factory defaults with `commands` (e.g. "S0=1&C0") applied, through the real parser."""
    scratch = HayesModem()
    scratch.receive(b"AT" + commands.encode("ascii", "replace") + b"\r", 0.0)
    if any(kind == "result" and data["text"] == ERROR for kind, data in scratch.take_events()):
        raise ConfigError(f"{where}: the modem answers ERROR to AT{commands}; "
                          f"use commands from sim/README.md", Code.CONFIG)
    return scratch.active


class ModemUnit:
    """One modem: its port, its state machine and its place on the network."""

    def __init__(self, rt: "Runtime", config: ModemConfig) -> None:
        self.rt = rt
        self.config = config
        self.name = config.name
        self.speed = config.speed
        self.call: Call | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        # every chunk the DTE wrote, with its arrival time (the newest DTE_LOG_BUDGET bytes)
        self.dte_log: deque[tuple[float, bytes]] = deque()
        self._dte_log_bytes = 0
        profile = profile_from_commands(config.profile, f"modems.{config.name}.profile")
        self.port: PtyPort | UartPort
        if config.port == "uart":
            self.port = UartPort(rt.loop, str(config.uart), str(config.vport),
                                 self._from_dte, self._dtr)
        else:
            self.port = PtyPort(rt.loop, self._from_dte, self._presence)
        self.modem = HayesModem(profile, dialtone=config.dialtone, has_dtr=self.port.has_dtr)
        if isinstance(self.port, UartPort):
            self.modem.dtr_high = self.port.dtr

    # ------------------------------------------------------------ driving the state machine

    def _now(self) -> float:
        return self.rt.loop.time()

    def flush(self) -> None:
        m = self.modem
        out = m.take_output()
        if out:
            self.port.write(out)
        for kind, data in m.take_events():
            self.rt.log.emit(kind, self.name, **data)
        for request in m.take_requests():
            self._request(request)
        self._schedule()

    def _request(self, request: Request) -> None:
        net = self.rt.network
        if isinstance(request, SendToLine):
            if self.call is not None:
                net.send(self, self.call, request.data)
        elif isinstance(request, PlaceCall):
            self.call = net.dial(self, request.number, request.pause,
                                 caller_number=self.config.number or "")
        elif isinstance(request, AnswerCall):
            if self.call is not None:
                net.answer(self, self.call)
        elif isinstance(request, EndCall):
            call, self.call = self.call, None
            if call is not None:
                net.hang_up(self, call, request.cause)

    def _schedule(self) -> None:
        deadline = self.modem.next_deadline
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = deadline
        self._timer = self.rt.loop.call_at(deadline, self._tick) if deadline is not None else None

    def _tick(self) -> None:
        self._timer = None
        self._timer_at = None
        self.modem.tick(self._now())
        self.flush()

    # ------------------------------------------------------------ port side

    def _from_dte(self, data: bytes) -> None:
        self.dte_log.append((time.monotonic(), data))
        self._dte_log_bytes += len(data)
        while self._dte_log_bytes > DTE_LOG_BUDGET and len(self.dte_log) > 1:
            self._dte_log_bytes -= len(self.dte_log.popleft()[1])
        self.modem.receive(data, self._now())
        self.flush()

    def _dtr(self, high: bool) -> None:
        self.modem.set_dtr(high, self._now())
        self.flush()

    def _presence(self, present: bool) -> None:
        self.rt.log.emit("dte", self.name, present=present)
        if self.config.dte_close_drops_dtr:
            self._dtr(present)

    # ------------------------------------------------------------ network endpoint

    def free_for_incoming(self) -> bool:
        return self.call is None and self.modem.free_for_incoming()

    def ring(self, call: Call) -> None:
        if self.call is not None and self.call is not call:
            return
        self.call = call
        self.modem.incoming_ring(self._now())
        self.flush()

    def incoming_ended(self, call: Call) -> None:
        if call is self.call:
            self.call = None
        self.modem.incoming_ended(self._now())
        self.flush()

    def connected(self, call: Call, speed: int) -> None:
        self.modem.peer = call.describe(self)
        self.modem.call_connected(speed, self._now())
        self.flush()

    def failed(self, call: Call, result: str) -> None:
        if call is self.call:
            self.call = None
        self.modem.call_failed(result, self._now())
        self.flush()

    def carrier_lost(self, call: Call, cause: str) -> None:
        if call is self.call:
            self.call = None
        self.modem.carrier_lost(self._now(), cause)
        self.flush()

    def deliver(self, call: Call, data: bytes) -> None:
        self.modem.line_data(data)
        out = self.modem.take_output()
        if out:
            self.port.write(out)

    def state(self) -> dict[str, Any]:
        snapshot = self.modem.snapshot()
        snapshot.update(name=self.name, tty=self.port.path, port=self.port.kind,
                        number=self.config.number,
                        dte_present=getattr(self.port, "dte_present", None))
        return snapshot

    def close(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self.port.close()


class PapSecrets:
    """Our block of lines in pppd's pap-secrets file (pppd reads only that path), removed at stop."""

    def __init__(self, path: str, secrets: dict[str, str]) -> None:
        self.path = Path(path)
        self.begin = f"# pppup_sim begin {os.getpid()}"
        self.end = f"# pppup_sim end {os.getpid()}"
        for user, secret in secrets.items():
            for text in (user, secret):
                if any(ch in text for ch in '"\\\n\r') or not text:
                    raise ConfigError(f"pap_secrets: {text!r} must be non-empty and free of "
                                      f"quotes, backslashes and line breaks", Code.CONFIG)
        self.lines = [f'"{user}" * "{secret}" *' for user, secret in sorted(secrets.items())]

    def install(self) -> None:
        current = self.path.read_text() if self.path.exists() else ""
        if current and not current.endswith("\n"):
            current += "\n"
        self._write(current + "\n".join([self.begin, *self.lines, self.end]) + "\n")

    def remove(self) -> None:
        try:
            lines = self.path.read_text().splitlines(keepends=True)
        except OSError:
            return
        kept, inside = [], False
        for line in lines:
            if line.rstrip("\n") == self.begin:
                inside = True
            elif line.rstrip("\n") == self.end:
                inside = False
            elif not inside:
                kept.append(line)
        self._write("".join(kept))

    def _write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".pap-secrets.")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)


class Runtime:
    """Everything that lives on the simulator's loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, config: WorldConfig, log: EventLog) -> None:
        self.loop = loop
        self.config = config
        self.log = log
        self.network = Network(loop, config.delays, log)
        self.hosts: dict[str, HostService] = {}
        self.modems: dict[str, ModemUnit] = {}
        self.programs: set[RemoteProgram] = set()
        self.outside_tasks: set[asyncio.Task] = set()
        self.pap: PapSecrets | None = None

    def build(self) -> None:
        for name, host_config in self.config.hosts.items():
            service = HostService(self, host_config)
            self.hosts[name] = service
            self.network.hosts[name] = service.new_line
        secrets: dict[str, str] = {}
        for host_config in self.config.hosts.values():
            secrets.update(host_config.options.get("pap_secrets", {}))
        try:
            for name, modem_config in self.config.modems.items():
                unit = ModemUnit(self, modem_config)
                self.modems[name] = unit
                self.network.modems[name] = unit
            for spec in self.config.numbers.values():
                self.network.set_number(spec)
            if secrets:
                self.pap = PapSecrets(self.config.pap_secrets_file, secrets)
                self.pap.install()
        except BaseException:
            for unit in self.modems.values():
                unit.close()
            raise

    def remote_program(self, line: HostLine, argv: tuple[str, ...], source: str) -> RemoteProgram:
        program = RemoteProgram(self.loop, line, argv, self.log, source)
        self.programs.add(program)
        return program

    # ------------------------------------------------------------ control

    def unit(self, name: str) -> ModemUnit:
        try:
            return self.modems[name]
        except KeyError:
            raise SimError(f"no modem named {name!r}; the world has "
                           f"{', '.join(self.modems) or 'no modems'}", Code.USAGE) from None

    def drop_carrier(self, name: str) -> None:
        unit = self.unit(name)
        if unit.call is None:
            raise SimError(f"modem {name} has no call to drop the carrier of", Code.USAGE)
        self.network.drop_carrier(unit.call)

    def ring(self, name: str, caller: str, host: str | None) -> None:
        unit = self.unit(name)
        if host is not None and host not in self.hosts:
            raise SimError(f"no host named {host!r}", Code.USAGE)
        if host is not None:
            service = self.hosts[host]
            line = HostLine(host, service.config.speed, self.network, 1,
                            on_connected=service.start_session)
        else:
            line = HostLine(f"outside:{caller}", unit.speed, self.network, 1)
            task = self.loop.create_task(self._silent_caller(line))
            self.outside_tasks.add(task)
            task.add_done_callback(self.outside_tasks.discard)
        self.network.ring_from_outside(unit, line, caller)

    async def _silent_caller(self, line: HostLine) -> None:
        outcome = await line.outcome
        if outcome != "up":
            return
        await line.wait_end()
        self.log.emit("host", line.name, step="silent-call-ended", received=line.received,
                      text=bytes(line.buffer[:200]).decode("latin-1"))

    def set_number(self, number: str, spec: dict[str, Any]) -> None:
        where = f'set_number "{number}"'
        self.network.set_number(number_spec(number, dict(spec), where, self.config.modems,
                                            self.config.hosts))

    def dtr(self, name: str, high: bool) -> None:
        self.unit(name)._dtr(high)

    # ------------------------------------------------------------ shutdown

    async def shutdown(self) -> None:
        hung_up = self.network.shutdown()
        sessions = [t for s in self.hosts.values() for t in s.sessions] + list(self.outside_tasks)
        if sessions:
            await asyncio.wait(sessions, timeout=EXIT_GRACE + TERM_GRACE + 1)
        for task in sessions:
            task.cancel()
        if sessions:
            await asyncio.gather(*sessions, return_exceptions=True)
        if hung_up:
            # closing a pty master discards what the DTE has not read yet:
            # give terminals a moment to read their NO CARRIER
            await asyncio.sleep(SHUTDOWN_READ_GRACE)
        for unit in self.modems.values():
            unit.close()
        if self.pap is not None:
            self.pap.remove()


class World:
    """The simulator in a background thread (see sim/README.md for the API)."""

    def __init__(self, config: WorldConfig | dict) -> None:
        self.config = config if isinstance(config, WorldConfig) else parse_config(config)
        self.log = EventLog()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._rt: Runtime | None = None

    # ------------------------------------------------------------ life cycle

    def start(self) -> "World":
        if self._thread is not None:
            raise SimError("this World is already started; make a new one", Code.USAGE)
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._rt = Runtime(loop, self.config, self.log)
                self._rt.build()
            except BaseException as error:
                failure.append(error)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._thread = threading.Thread(target=main, name="pppup-sim", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise failure[0]
        return self

    def stop(self, timeout: float = EXIT_GRACE + TERM_GRACE + 5) -> None:
        """Hang up every call, stop remote programs, close the ports, end the thread."""
        loop, thread, rt = self._loop, self._thread, self._rt
        if loop is None or thread is None or rt is None or not thread.is_alive():
            return
        future = asyncio.run_coroutine_threadsafe(rt.shutdown(), loop)
        try:
            future.result(timeout)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout)

    def __enter__(self) -> "World":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def runtime(self) -> Runtime:
        """For code that runs on the simulator's loop itself (the control socket)."""
        if self._rt is None:
            raise SimError("the World is not started", Code.USAGE)
        return self._rt

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise SimError("the World is not started", Code.USAGE)
        return self._loop

    def _call(self, fn: Callable[[], T]) -> T:
        if threading.current_thread() is self._thread:
            return fn()
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn())
            except BaseException as error:
                future.set_exception(error)

        self.loop.call_soon_threadsafe(run)
        return future.result(CALL_TIMEOUT)

    # ------------------------------------------------------------ accessors

    def tty_path(self, modem: str) -> str:
        return self._call(lambda: self.runtime.unit(modem).port.path)

    def state(self, modem: str) -> dict[str, Any]:
        return self._call(lambda: self.runtime.unit(modem).state())

    def states(self) -> dict[str, dict[str, Any]]:
        return self._call(lambda: {n: u.state() for n, u in self.runtime.modems.items()})

    def mark(self) -> int:
        return self.log.mark()

    def events(self, after: int = 0, kind: str | None = None, source: str | None = None,
               **fields: Any) -> list[Event]:
        return self.log.select(after, kind, source, **fields)

    def wait_event(self, kind: str | None, after: int = 0, timeout: float = 5.0,
                   source: str | None = None, **fields: Any) -> Event:
        return self.log.wait(kind, after, timeout, source, **fields)

    def drop_carrier(self, modem: str) -> None:
        self._call(lambda: self.runtime.drop_carrier(modem))

    def ring(self, modem: str, caller: str = "0000", host: str | None = None) -> None:
        self._call(lambda: self.runtime.ring(modem, caller, host))

    def set_number(self, number: str, **spec: Any) -> None:
        self._call(lambda: self.runtime.set_number(number, spec))

    def dtr(self, modem: str, high: bool) -> None:
        self._call(lambda: self.runtime.dtr(modem, high))

    def dte_log(self, modem: str, after: float = 0.0) -> list[tuple[float, bytes]]:
        """(time.monotonic() of arrival, bytes) for what the DTE wrote after `after`."""
        return self._call(lambda: [(t, d) for t, d in self.runtime.unit(modem).dte_log
                                   if t > after])

    def turnarounds(self, modem: str) -> list[tuple[float, float]]:
        return self._call(lambda: list(self.runtime.unit(modem).port.turnarounds.pairs))
