"""The simulator's event log: appended by the simulator's thread, waited on by tests.

Tests wait for an event with a timeout instead of sleeping: `wait()` blocks
on a condition variable until a matching event arrives or the deadline
(monotonic) passes.
"""
from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

MAX_EVENTS = 100_000          # oldest events are forgotten beyond this


@dataclass(frozen=True)
class Event:
    seq: int
    t: float                  # time.monotonic() when it happened
    kind: str
    source: str               # modem or host name
    data: dict[str, Any] = field(default_factory=dict)

    def matches(self, kind: str | None, source: str | None, fields: dict[str, Any]) -> bool:
        if kind is not None and self.kind != kind:
            return False
        if source is not None and self.source != source:
            return False
        return all(self.data.get(key) == value for key, value in fields.items())

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "t": self.t, "kind": self.kind, "source": self.source,
                "data": self.data}

    def __str__(self) -> str:
        details = " ".join(f"{k}={v!r}" for k, v in self.data.items())
        return f"#{self.seq} {self.source} {self.kind} {details}".rstrip()


class EventLog:
    def __init__(self) -> None:
        self._events: deque[Event] = deque(maxlen=MAX_EVENTS)
        self._seq = 0
        self._changed = threading.Condition()

    def emit(self, kind: str, source: str, /, **data: Any) -> Event:
        with self._changed:
            self._seq += 1
            event = Event(self._seq, time.monotonic(), kind, source, data)
            self._events.append(event)
            self._changed.notify_all()
        return event

    def mark(self) -> int:
        with self._changed:
            return self._seq

    def _newer_than(self, seq: int) -> list[Event]:
        # sequence numbers are contiguous, so the position of seq+1 is computable
        first = self._seq - len(self._events) + 1
        start = max(0, seq + 1 - first)
        return [self._events[i] for i in range(start, len(self._events))]

    def select(self, after: int = 0, kind: str | None = None, source: str | None = None,
               **fields: Any) -> list[Event]:
        with self._changed:
            return [e for e in self._newer_than(after) if e.matches(kind, source, fields)]

    def wait(self, kind: str | None, after: int = 0, timeout: float = 5.0,
             source: str | None = None, **fields: Any) -> Event:
        """The first matching event with seq > after; TimeoutError when none comes in time."""
        deadline = time.monotonic() + timeout
        scanned = after
        with self._changed:
            while True:
                for event in self._newer_than(scanned):
                    if event.matches(kind, source, fields):
                        return event
                scanned = self._seq
                left = deadline - time.monotonic()
                if left <= 0:
                    recent = "\n  ".join(str(e) for e in list(self._events)[-15:])
                    wanted = " ".join([f"kind={kind!r}", f"source={source!r}"] +
                                      [f"{k}={v!r}" for k, v in fields.items()])
                    raise TimeoutError(f"no event {wanted} after #{after} within {timeout} s; "
                                       f"last events:\n  {recent}")
                self._changed.wait(left)
