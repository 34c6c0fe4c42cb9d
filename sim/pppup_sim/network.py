"""The simulated phone network: numbers, calls, ringing, training, hang-ups.

Runs on the simulator's asyncio loop.  Endpoints are the things a call
joins: modems (world.ModemUnit) and the host side of a call
(hosts.HostLine).  The network changes its own state first and only then
tells the endpoints, so an endpoint may call back into the network (a RING
that makes a modem auto-answer) without seeing half-updated state.

A call's life: dialling (delays.dial + the dial string's pauses) -> the number
decides: a fixed outcome, BUSY (callee busy, or `busy_first`), or ringing
(a RING every ring_interval) -> answered -> training (delays.connect) -> up
(data both ways) -> ended (either side hangs up, or the carrier is dropped).
"""
from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Callable, Protocol

from .config import OUTCOMES, Delays, NumberSpec
from .events import EventLog
from .results import BUSY, NO_ANSWER, NO_CARRIER


class Endpoint(Protocol):
    name: str
    speed: int

    def free_for_incoming(self) -> bool: ...
    def ring(self, call: "Call") -> None: ...
    def incoming_ended(self, call: "Call") -> None: ...
    def connected(self, call: "Call", speed: int) -> None: ...
    def failed(self, call: "Call", result: str) -> None: ...
    def carrier_lost(self, call: "Call", cause: str) -> None: ...
    def deliver(self, call: "Call", data: bytes) -> None: ...


@dataclass(eq=False)
class Call:
    id: int
    caller: Endpoint
    number: str
    caller_number: str
    callee: Endpoint | None = None
    state: str = "dialling"          # dialling, ringing, training, up, ended
    speed: int = 0
    rings: int = 0
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)

    def other(self, endpoint: Endpoint) -> Endpoint | None:
        return self.callee if endpoint is self.caller else self.caller

    def describe(self, endpoint: Endpoint) -> str:
        other = self.other(endpoint)
        return f"call {self.id} with {other.name if other else self.number} ({self.state})"


class Network:
    def __init__(self, loop: asyncio.AbstractEventLoop, delays: Delays, log: EventLog) -> None:
        self.loop = loop
        self.delays = delays
        self.log = log
        self.numbers: dict[str, NumberSpec] = {}
        self.modems: dict[str, Endpoint] = {}
        # host name -> factory of the host's side of a new call (None when all its lines are busy)
        self.hosts: dict[str, Callable[[Call], Endpoint | None]] = {}
        self.calls: set[Call] = set()
        self._ids = itertools.count(1)
        self._busy_counts: dict[str, int] = {}

    # ------------------------------------------------------------ configuration

    def set_number(self, spec: NumberSpec) -> None:
        self.numbers[spec.number] = spec
        self._busy_counts.pop(spec.number, None)

    # ------------------------------------------------------------ placing calls

    def dial(self, caller: Endpoint, number: str, pause: float = 0.0,
             caller_number: str = "") -> Call:
        call = Call(next(self._ids), caller, number, caller_number)
        self.calls.add(call)
        spec = self.numbers.get(number)
        delay = (spec.delay if spec and spec.delay is not None else self.delays.dial) + pause
        self.log.emit("call", caller.name, id=call.id, number=number, callee=self._describe(spec))
        call.timer = self.loop.call_later(delay, self._route, call, spec)
        return call

    def ring_from_outside(self, callee: Endpoint, caller: Endpoint, caller_number: str) -> Call:
        """An incoming call from outside the configured world (tests, the CLI)."""
        call = Call(next(self._ids), caller, "", caller_number)
        self.calls.add(call)
        self.log.emit("call", caller.name, id=call.id, number="", callee=callee.name)
        if callee.free_for_incoming():
            self._offer(call, callee, min(callee.speed, caller.speed))
        else:
            call.timer = self.loop.call_soon(self._fail, call, BUSY)
        return call

    @staticmethod
    def _describe(spec: NumberSpec | None) -> str:
        if spec is None:
            return "unknown number"
        if spec.modem:
            return f"modem {spec.modem}"
        if spec.host:
            return f"host {spec.host}"
        return f"outcome {spec.outcome}"

    def _route(self, call: Call, spec: NumberSpec | None) -> None:
        call.timer = None
        if call.state != "dialling":
            return
        if spec is None:
            self._fail(call, NO_CARRIER)
            return
        count = self._busy_counts.get(spec.number, 0)
        self._busy_counts[spec.number] = count + 1
        if count < spec.busy_first:
            self._fail(call, BUSY)
            return
        if spec.outcome is not None:
            self._fail(call, OUTCOMES[spec.outcome])
            return
        callee: Endpoint | None
        if spec.modem is not None:
            callee = self.modems.get(spec.modem)
            if callee is None or not callee.free_for_incoming():
                self._fail(call, BUSY)
                return
            speed = min(spec.speed or callee.speed, call.caller.speed)
        else:
            callee = self.hosts[str(spec.host)](call)
            if callee is None:
                self._fail(call, BUSY)
                return
            speed = min(spec.speed or callee.speed, call.caller.speed)
        self._offer(call, callee, speed)

    def _offer(self, call: Call, callee: Endpoint, speed: int) -> None:
        call.callee = callee
        call.speed = speed
        call.state = "ringing"
        self._ring(call)

    def _ring(self, call: Call) -> None:
        call.timer = None
        if call.state != "ringing" or call.callee is None:
            return
        limit = self.delays.max_rings
        if limit and call.rings >= limit:
            self._fail(call, NO_ANSWER, tell_callee=True)
            return
        call.rings += 1
        call.timer = self.loop.call_later(self.delays.ring_interval, self._ring, call)
        call.callee.ring(call)

    def _fail(self, call: Call, result: str, tell_callee: bool = False) -> None:
        self._end(call)
        self.log.emit("call_failed", call.caller.name, id=call.id, result=result)
        if tell_callee and call.callee is not None:
            call.callee.incoming_ended(call)
        call.caller.failed(call, result)

    # ------------------------------------------------------------ answering and the call

    def answer(self, callee: Endpoint, call: Call) -> None:
        if call.state != "ringing" or call.callee is not callee:
            return
        self._cancel_timer(call)
        call.state = "training"
        call.timer = self.loop.call_later(self.delays.connect, self._connect, call)

    def _connect(self, call: Call) -> None:
        call.timer = None
        if call.state != "training" or call.callee is None:
            return
        call.state = "up"
        self.log.emit("call_up", call.caller.name, id=call.id, callee=call.callee.name,
                      speed=call.speed)
        call.caller.connected(call, call.speed)
        if call.state == "up":
            call.callee.connected(call, call.speed)

    def send(self, sender: Endpoint, call: Call, data: bytes) -> None:
        if call.state != "up":
            return
        other = call.other(sender)
        if other is not None:
            other.deliver(call, data)

    def hang_up(self, endpoint: Endpoint, call: Call, cause: str) -> None:
        """One side hangs up: the other side loses the carrier (or stops ringing)."""
        if call.state == "ended":
            return
        was = call.state
        self._end(call)
        self.log.emit("call_ended", endpoint.name, id=call.id, cause=cause, state=was)
        other = call.other(endpoint)
        if other is None:
            return
        if was in ("ringing",) and other is call.callee:
            other.incoming_ended(call)
        elif was in ("training", "up"):
            other.carrier_lost(call, "remote")
        elif was in ("ringing", "dialling") and other is call.caller:
            other.failed(call, NO_CARRIER)

    def drop_carrier(self, call: Call, cause: str = "carrier-drop") -> None:
        """The line itself fails: both ends lose the carrier."""
        if call.state == "ended":
            return
        was = call.state
        self._end(call)
        self.log.emit("call_ended", call.caller.name, id=call.id, cause=cause, state=was)
        if was in ("training", "up"):
            call.caller.carrier_lost(call, cause)
            if call.callee is not None:
                call.callee.carrier_lost(call, cause)
        else:
            if call.callee is not None:
                call.callee.incoming_ended(call)
            call.caller.failed(call, NO_CARRIER)

    def calls_of(self, endpoint: Endpoint) -> list[Call]:
        return [c for c in self.calls if endpoint in (c.caller, c.callee)]

    def shutdown(self) -> int:
        """End every call; how many there were."""
        calls = list(self.calls)
        for call in calls:
            self.drop_carrier(call, "shutdown")
        return len(calls)

    def _end(self, call: Call) -> None:
        self._cancel_timer(call)
        call.state = "ended"
        self.calls.discard(call)

    @staticmethod
    def _cancel_timer(call: Call) -> None:
        if call.timer is not None:
            call.timer.cancel()
            call.timer = None
