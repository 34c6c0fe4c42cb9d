"""How fast the simulator moves bytes, so benchmarks built on it measure the client, not us.

    PYTHONPATH=sim .venv/bin/python -m bench.bench_sim [--repeat N]

Measures, through real ptys and the World (one background thread, as in tests):
  - blob:       1 MiB of noise from a host to a DTE that reads as fast as it can
  - upload:     1 MiB written by the DTE in data mode to an echo host and back
  - round trip: one byte DTE -> modem -> echo host -> modem -> DTE (median, p99)
  - command:    `AT\\r` -> `OK` from the modem in command mode (median, p99)
  - idle CPU:   CPU seconds the simulator's process spends in 10 s with a DTE
                attached and nothing happening
Prints a Markdown table.
"""
from __future__ import annotations

import argparse
import os
import resource
import select
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "sim"))

from pppup_sim import World  # noqa: E402

MIB = 1024 * 1024
FAST = {"dial": 0.0, "ring_interval": 0.01, "connect": 0.0}


class Line:
    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        self.buffer = bytearray()

    def read_until(self, needle: bytes, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.buffer:
            if not select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise TimeoutError(f"{needle!r} did not arrive")
            self.buffer += os.read(self.fd, 1 << 16)
        del self.buffer[:self.buffer.find(needle) + len(needle)]

    def read_count(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.buffer) < count:
            if not select.select([self.fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
                raise TimeoutError(f"only {len(self.buffer)} of {count} bytes arrived")
            self.buffer += os.read(self.fd, 1 << 16)
        del self.buffer[:count]

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view[:1 << 16]):]

    def close(self) -> None:
        os.close(self.fd)


def world() -> World:
    return World({"delays": FAST,
                  # closing the DTE hangs up (&D2), so every measure starts on-hook
                  "modems": {"A": {"dte_close_drops_dtr": True}},
                  "numbers": {"1": {"host": "noise"}, "2": {"host": "echo"}},
                  "hosts": {"noise": {"kind": "blob", "size": MIB, "trailer": "MATCH"},
                            "echo": {"kind": "echo"}}}).start()


def close(w: World, line: Line) -> None:
    mark = w.mark()
    line.close()
    w.wait_event("dte", source="A", present=False, after=mark, timeout=5)


def dial(line: Line, number: str) -> None:
    line.write(f"ATE0D{number}\r".encode())
    line.read_until(b"CONNECT 33600\r\n")


def blob_rate(w: World) -> float:
    line = Line(w.tty_path("A"))
    try:
        start = time.perf_counter()
        dial(line, "1")
        line.read_until(b"MATCH")
        return MIB / (time.perf_counter() - start) / MIB
    finally:
        close(w, line)


def upload_rate(w: World) -> float:
    line = Line(w.tty_path("A"))
    try:
        dial(line, "2")
        data = bytes(range(256)) * (MIB // 256)
        start = time.perf_counter()
        line.write(data[:MIB // 2])
        line.read_count(MIB // 2)
        line.write(data[MIB // 2:])
        line.read_count(MIB // 2)
        return 1.0 / (time.perf_counter() - start)
    finally:
        close(w, line)


def round_trips(w: World, count: int = 300) -> list[float]:
    line = Line(w.tty_path("A"))
    try:
        dial(line, "2")
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            os.write(line.fd, b"x")
            line.read_count(1)
            samples.append(time.perf_counter() - start)
        return samples
    finally:
        close(w, line)


def command_times(w: World, count: int = 300) -> list[float]:
    line = Line(w.tty_path("A"))
    try:
        line.write(b"ATE0\r")
        line.read_until(b"OK\r\n")
        samples = []
        for _ in range(count):
            start = time.perf_counter()
            os.write(line.fd, b"AT\r")
            line.read_until(b"OK\r\n")
            samples.append(time.perf_counter() - start)
        return samples
    finally:
        close(w, line)


def idle_cpu(w: World, seconds: float = 10.0) -> float:
    line = Line(w.tty_path("A"))
    try:
        line.write(b"AT\r")
        line.read_until(b"OK\r\n")
        before = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(seconds)
        after = resource.getrusage(resource.RUSAGE_SELF)
        return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    finally:
        close(w, line)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    w = world()
    try:
        blobs = [blob_rate(w) for _ in range(args.repeat)]
        uploads = [upload_rate(w) for _ in range(args.repeat)]
        trips = round_trips(w)
        commands = command_times(w)
        cpu = idle_cpu(w)
    finally:
        w.stop()
    p99 = lambda xs: sorted(xs)[int(len(xs) * 0.99) - 1]   # noqa: E731
    print("| measure | result |")
    print("|---|---|")
    print(f"| blob: 1 MiB host -> DTE, median of {args.repeat} | "
          f"{statistics.median(blobs):.1f} MiB/s |")
    print(f"| upload: 1 MiB DTE -> echo host -> DTE, median of {args.repeat} | "
          f"{statistics.median(uploads):.1f} MiB/s |")
    print(f"| round trip: 1 byte DTE -> echo host -> DTE ({len(trips)}) | "
          f"median {ms(statistics.median(trips))}, p99 {ms(p99(trips))} |")
    print(f"| command: `AT\\r` -> `OK` ({len(commands)}) | "
          f"median {ms(statistics.median(commands))}, p99 {ms(p99(commands))} |")
    print(f"| idle: CPU in 10 s with a DTE attached | {cpu:.4f} s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
