"""Guest side: the smoke scenario, for the smoke test and `make demo-smoke`.

Two simulated modems on the simulated phone network, each behind a real
16550 UART of the guest: A on ttyS1 (port line1), B on ttyS2 (port line2).
A real pppd runs on each UART in its own network namespace.  B's pppd runs
Debian's chat to set ATS0=1 (auto-answer on the first ring) and wait for
CONNECT; A's pppd runs chat to dial B's number.  Then: both ppp0 come up with
the configured addresses, a ping crosses, SIGTERM to A's pppd ends both pppd
cleanly and the simulator logs the hang-up on both modems.

    .venv/bin/python -m tests.vm.run -- .venv/bin/python -m tests.vm.smoke   (make demo-smoke)
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from tests.vm import wiring
from tests.vm.link import PPPD_COMMON, Netns, Pppd, Transcript, ping

A_NUMBER = "5550001"
B_NUMBER = "5550002"
A_ADDRESS, B_ADDRESS = "10.0.0.1", "10.0.0.2"

# Short, but not instant: the transcript should read like a call.
WORLD: dict[str, Any] = {
    "delays": {"dial": 0.5, "ring_interval": 1.0, "connect": 1.0},
    "modems": {
        "A": {"port": "uart", "uart": "ttyS1", "vport": "line1", "number": A_NUMBER},
        "B": {"port": "uart", "uart": "ttyS2", "vport": "line2", "number": B_NUMBER},
    },
}

# chat(8) scripts as pppd's connect strings (run by /bin/sh -c; -V logs the
# conversation to stderr, which pppd passes to its log).
ANSWER_CHAT = "/usr/sbin/chat -V -t 10 '' ATZ OK ATS0=1 OK TIMEOUT 60 CONNECT ''"
DIAL_CHAT = (f"/usr/sbin/chat -V -t 30 ABORT BUSY ABORT 'NO CARRIER' ABORT 'NO DIALTONE' "
             f"'' ATZ OK ATDT{B_NUMBER} CONNECT ''")


@dataclass
class SmokeResult:
    a_addresses: tuple[str, str] | None = None
    b_addresses: tuple[str, str] | None = None
    replies: list[str] = field(default_factory=list)
    a_status: int | None = None
    b_status: int | None = None
    hangups: dict[str, str] = field(default_factory=dict)     # modem -> hang-up cause
    a_log: list[str] = field(default_factory=list)
    b_log: list[str] = field(default_factory=list)


def describe(event: Any) -> str | None:
    """The simulator's events as a person would say them (None: not worth a line)."""
    data = event.data
    match event.kind:
        case "command":
            return f"modem got {data['line']!r}"
        case "result":
            return f"modem says {data['text']}"
        case "dial":
            return f"dialling {data['number']}"
        case "ring":
            return f"RING (S1={data['count']})"
        case "answer":
            return f"answers ({data['how']})"
        case "connect":
            return f"carrier up, CONNECT {data['speed']}"
        case "hangup":
            return f"hangs up ({data['cause']})"
        case "no_carrier":
            return f"NO CARRIER ({data['cause']})"
        case "dtr":
            return f"DTR {'up' if data['high'] else 'down'}"
        case "reset":
            return f"reset to the {data['profile']} profile ({data['how']})"
    return None


class EventFollower:
    """Copies the simulator's event log into the transcript while the scenario runs."""

    def __init__(self, world: Any, transcript: Transcript) -> None:
        self.world, self.transcript = world, transcript
        self.stopping = threading.Event()
        self.seen = world.mark()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(0.1):
            self.flush()

    def flush(self) -> None:
        for event in self.world.events(after=self.seen):
            self.seen = max(self.seen, event.seq)
            text = describe(event)
            if text is not None:
                self.transcript.say(f"sim {event.source}", text, at=event.t)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.flush()


def run_smoke(transcript: Transcript, world_class: Any = None) -> SmokeResult:
    """Run the scenario; raises (after cleaning up) if a step does not happen."""
    if world_class is None:
        from pppup_sim import World as world_class   # the simulator: sim/ on the path
    if wiring.line_count() < 2:
        raise RuntimeError("the smoke scenario needs two lines: boot the VM with --lines 2 or more")
    result = SmokeResult()
    with world_class(WORLD) as world, Netns("modem-a") as ns_a, Netns("modem-b") as ns_b:
        follower = EventFollower(world, transcript)
        b = Pppd("B", ns_b, [world.tty_path("B"), *PPPD_COMMON, "modem", "connect", ANSWER_CHAT,
                             f"{B_ADDRESS}:{A_ADDRESS}", "passive"], transcript)
        a = Pppd("A", ns_a, [world.tty_path("A"), *PPPD_COMMON, "modem", "connect", DIAL_CHAT,
                             f"{A_ADDRESS}:{B_ADDRESS}"], transcript)
        try:
            transcript.say("test", f"B: pppd on {world.tty_path('B')} in netns {ns_b.name}, chat sets ATS0=1")
            mark = world.mark()
            b.start()
            world.wait_event("command", source="B", after=mark, timeout=30, line="ATS0=1")
            world.wait_event("result", source="B", after=mark, timeout=30, text="OK")
            transcript.say("test", f"A: pppd on {world.tty_path('A')} in netns {ns_a.name}, chat dials {B_NUMBER}")
            a.start()
            world.wait_event("connect", source="A", after=mark, timeout=60)
            result.a_addresses = ns_a.wait_addresses(timeout=60)
            result.b_addresses = ns_b.wait_addresses(timeout=60)
            transcript.say("test", f"A: ppp0 {result.a_addresses[0]} -> peer {result.a_addresses[1]}")
            transcript.say("test", f"B: ppp0 {result.b_addresses[0]} -> peer {result.b_addresses[1]}")
            result.replies = ping(ns_a, B_ADDRESS, count=3)
            for reply in result.replies:
                transcript.say("ping", reply)
            transcript.say("test", "SIGTERM to A's pppd")
            mark = world.mark()
            a.terminate()
            result.a_status = a.wait(timeout=60)
            result.b_status = b.wait(timeout=60)
            transcript.say("test", f"pppd exit status: A {result.a_status}, B {result.b_status}")
            for modem in ("A", "B"):
                event = world.wait_event("hangup", source=modem, after=mark, timeout=30)
                result.hangups[modem] = event.data["cause"]
        finally:
            a.stop()
            b.stop()
            follower.stop()
            result.a_log, result.b_log = a.log, b.log
    return result


def main() -> int:
    transcript = Transcript(sys.stdout)
    print("pppup smoke scenario: two simulated modems, real chat + pppd on the guest's UARTs\n", flush=True)
    try:
        result = run_smoke(transcript)
    except Exception as error:   # the demo reports any failure as such, with the transcript above it
        print(f"\nFAILED: {type(error).__name__}: {error}", flush=True)
        return 1
    problems = [text for text, bad in (
        (f"A's pppd exited {result.a_status}, expected 5 (SIGTERM)", result.a_status != 5),
        (f"B's pppd exited {result.b_status}, expected 16 (hang-up)", result.b_status != 16),
        (f"the simulator saw hang-ups on {sorted(result.hangups)} only", set(result.hangups) != {"A", "B"}),
    ) if bad]
    if problems or result.a_addresses is None or result.b_addresses is None:
        print("\nFAILED: " + "; ".join(problems or ["a link never came up"]), flush=True)
        return 1
    print(f"\nsummary: A dialled {B_NUMBER}, B auto-answered; "
          f"ppp0 on A {result.a_addresses[0]} -> {result.a_addresses[1]}, "
          f"on B {result.b_addresses[0]} -> {result.b_addresses[1]}; "
          f"{len(result.replies)}/3 ping replies; pppd exit status A {result.a_status} (SIGTERM), "
          f"B {result.b_status} (peer hung up); simulator hang-ups: "
          + ", ".join(f"{modem} ({cause})" for modem, cause in sorted(result.hangups.items())), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
