"""make bench-chat: pppup-chat against Debian's chat(8), same run, same simulated line.

Four measurements, each the median of repeated runs, reported as ratios:

(a) scan throughput: 1 MiB of near-miss noise (prefixes and one-letter
    misses of the 20 ABORT strings and of CONNECT) before CONNECT;
(b) reaction latency: from the moment the remote has written the last byte
    of the expected string to the first byte of the answer (chat-compatible
    10 ms pacing, and pacing off: PPPUP_CHAT_NO_PACING=1);
(c) CPU seconds spent waiting 10 s on a silent line (the process's own
    counters in /proc, from 1 s after the start to 11 s);
(d) start-up to the first byte sent (`'' A`).

The far end is the simulator's direct line (sim/pppup_sim/direct.py).
pppup-chat is what `make install` puts in /usr/local/bin: the -I -S
launcher client/pppup-chat.py, here pointed at this tree
(tests/chat/launcher.py).  The table goes into docs/benchmarks.md between
this benchmark's markers.
"""
from __future__ import annotations

import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[0:0] = [str(REPO / "sim"), str(REPO)]

from pppup_sim.direct import Call, DirectLine, Send, Sleep, Wait  # noqa: E402
from tests.chat.launcher import dev_launcher  # noqa: E402

CHAT = "/usr/sbin/chat"
SYSTEM_PYTHON = "/usr/bin/python3.11"
RESULTS = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench-chat:begin -->", "<!-- bench-chat:end -->"
ABORTS = ["BUSY", "NO CARRIER", "NO DIALTONE", "NO DIAL TONE", "NO ANSWER", "ERROR", "VOICE",
          "DELAYED", "BLACKLISTED", "RINGING\r\n\r\nRINGING", "Login incorrect", "Invalid login",
          "Access denied", "Authentication failure", "Connection refused", "NO DIALOUT",
          "LINE IN USE", "CALL REJECTED", "NO SERVICE", "HOST DOWN"]
NOISE_SIZE = 1 << 20


def environment(pacing: bool = True) -> dict[str, str]:
    env = dict(os.environ, LC_ALL="C")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PPPUP_CHAT_NO_PACING", None)
    if not pacing:
        env["PPPUP_CHAT_NO_PACING"] = "1"
    return env


def near_miss_noise(size: int = NOISE_SIZE, seed: int = 3) -> bytes:
    """Lines that almost say an ABORT string or CONNECT: cut short, or one letter wrong."""
    rng = random.Random(seed)
    words = [word.encode() for word in ABORTS + ["CONNECT"]]
    out = bytearray()
    while len(out) < size:
        word = rng.choice(words)
        if rng.random() < 0.5:
            out += word[:rng.randrange(1, len(word))]
        else:
            at = rng.randrange(len(word))
            out += word[:at] + b"#" + word[at + 1:]
        out += rng.choice([b"\r\n", b" ", b"\r\n\r\n", b" 33600\r\n"])
    del out[size:]
    # Near misses can combine into a hit (RINGING + blank line + RINGING):
    # spoil every complete occurrence so that only the final CONNECT matches.
    for word in words:
        at = out.find(word)
        while at >= 0:
            out[at + len(word) - 1] = ord("#")
            at = out.find(word, at)
    return bytes(out)


def run(command: list[str], steps: list, env: dict[str, str], timeout: float = 120.0
        ) -> tuple[int, float, float, DirectLine, float]:
    """Run on a fresh direct line; returns (exit code, wall s, CPU s, line, start time)."""
    line = DirectLine()
    start = time.monotonic()
    child = subprocess.Popen(command, stdin=line.slave, stdout=line.slave,
                             stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    line.start(steps)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            child.kill()
            pid, status, usage = os.wait4(child.pid, 0)
            break
        time.sleep(0.001)
    wall = time.monotonic() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    line.stop()
    return child.returncode, wall, usage.ru_utime + usage.ru_stime, line, start


def throughput(command: list[str], noise: bytes, repeats: int) -> tuple[list[float], list[float]]:
    """Per run: seconds from the start of the noise to the exit, and the CPU seconds used."""
    args = []
    for word in ABORTS:
        args += ["ABORT", word]
    args += ["TIMEOUT", "100", "", "READY", "CONNECT", ""]
    times, cpu = [], []
    for _ in range(repeats):
        marks: list[float] = []
        steps = [Wait(b"READY\r"), _mark(marks), Send(noise + b"\r\nCONNECT 33600\r\n")]
        code, wall, used, line, start = run(command + args, steps, environment())
        if code != 0:
            raise RuntimeError(f"{command[0]} exited {code} in the throughput run")
        times.append(start + wall - marks[0])
        cpu.append(used)
    return times, cpu


def _mark(marks: list[float]) -> Call:
    """A remote step that notes when it ran."""
    return Call(lambda: marks.append(time.monotonic()))


def latency(command: list[str], pacing: bool, exchanges: int = 20) -> list[float]:
    """Per exchange: remote finished writing 'OK' -> first byte of the reply arrives."""
    args = ["TIMEOUT", "10", "", "READY"] + ["OK", "Z"] * exchanges
    marks: list[float] = []
    steps: list = [Wait(b"READY\r")]
    for _ in range(exchanges):
        steps += [Sleep(0.05), Send(b"OK"), _mark(marks), Wait(b"Z\r")]
    code, _, _, line, _ = run(command + args, steps, environment(pacing))
    if code != 0:
        raise RuntimeError(f"{command[0]} exited {code} in the latency run")
    arrivals = [t for t, byte in line.timeline() if byte == ord("Z")]
    return [arrival - mark for mark, arrival in zip(marks, arrivals)]


def waiting_cpu(command: list[str]) -> float:
    """CPU seconds the process uses during 10 s of waiting on a silent line.

    Read from /proc/PID/stat (utime + stime, clock ticks) 1 s after the start
    (start-up is over) and 10 s later, while the program waits for a string
    that never comes.
    """
    tick = os.sysconf("SC_CLK_TCK")
    line = DirectLine()
    child = subprocess.Popen(command + ["-t", "13", "NEVER", "x"], stdin=line.slave,
                             stdout=line.slave, stderr=subprocess.DEVNULL, env=environment(),
                             start_new_session=True)
    try:
        time.sleep(1.0)
        before = _cpu_ticks(child.pid)
        time.sleep(10.0)
        after = _cpu_ticks(child.pid)
    finally:
        child.kill()
        child.wait()
        line.stop()
    return (after - before) / tick


def _cpu_ticks(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as stream:
        fields = stream.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])       # utime, stime


def startup(command: list[str], pacing: bool, repeats: int) -> list[float]:
    """Spawn -> first byte received by the remote."""
    times = []
    for _ in range(repeats):
        code, _, _, line, start = run(command + ["", "A"], [Wait(b"A\r")], environment(pacing))
        if code != 0:
            raise RuntimeError(f"{command[0]} exited {code} in the start-up run")
        times.append(line.timeline()[0][0] - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def compiled_scanner_reachable(launcher: Path) -> bool:
    """Does the launcher's interpreter find pppup.chat._scan (else: the slower Python loop)?"""
    probe = ("import sys; sys.path.append(sys.argv[1]); import pppup.chat.scanner as s; "
             "sys.exit(0 if s.compiled_scanner() else 3)")
    done = subprocess.run([SYSTEM_PYTHON, "-I", "-S", "-c", probe, str(launcher.parent / "site")],
                          timeout=60)
    return done.returncode == 0


def main() -> int:
    if not os.access(CHAT, os.X_OK) or not os.access(REPO / ".venv" / "bin" / "python", os.X_OK):
        print("bench-chat needs /usr/sbin/chat and .venv: run make bootstrap", file=sys.stderr)
        return 1
    launcher = dev_launcher()
    if not compiled_scanner_reachable(launcher):
        print("bench-chat: pppup.chat._scan is not built: run make bootstrap", file=sys.stderr)
        return 1
    pppup_chat = str(launcher)
    subprocess.run([str(REPO / ".venv" / "bin" / "python"), "-m", "compileall", "-q",
                    str(REPO / "client" / "pppup"), str(REPO / "helper" / "pppup_protocol")],
                   check=True, stdout=subprocess.DEVNULL, env=environment())
    load_at_start = os.getloadavg()[0]
    repeats = int(os.environ.get("BENCH_REPEATS", "5"))
    noise = near_miss_noise()
    rows: list[tuple[str, str, str, str, str]] = []

    chat_runs, ours_runs = ([], []), ([], [])
    for _ in range(repeats):            # interleaved: both see the same machine load
        for runs, command in ((chat_runs, [CHAT]), (ours_runs, [pppup_chat])):
            wall, cpu = throughput(command, noise, 1)
            runs[0].extend(wall)
            runs[1].extend(cpu)
    chat_scan, ours_scan = median(chat_runs[0]), median(ours_runs[0])
    chat_scan_cpu, ours_scan_cpu = median(chat_runs[1]), median(ours_runs[1])
    mib = len(noise) / (1 << 20)
    rows.append(("(a) scan 1 MiB near-miss noise, 20 ABORTs: wall time",
                 f"{chat_scan:.3f} s ({mib / chat_scan:.2f} MiB/s)",
                 f"{ours_scan:.3f} s ({mib / ours_scan:.2f} MiB/s)",
                 f"{chat_scan / ours_scan:.2f}x faster", "target >= 3x: " +
                 ("met" if chat_scan / ours_scan >= 3 else "NOT met")))
    rows.append(("(a) the same: CPU seconds of the process",
                 f"{chat_scan_cpu:.3f} s", f"{ours_scan_cpu:.3f} s",
                 f"{chat_scan_cpu / ours_scan_cpu:.2f}x less", "(wall time is what counts)"))

    chat_latency = median(latency([CHAT], True))
    ours_paced = median(latency([pppup_chat], True))
    ours_fast = median(latency([pppup_chat], False))
    rows.append(("(b) reaction latency, chat-compatible 10 ms pacing",
                 f"{chat_latency * 1000:.2f} ms", f"{ours_paced * 1000:.2f} ms",
                 f"{chat_latency / ours_paced:.2f}x", "same pacing as chat"))
    rows.append(("(b) reaction latency, pacing off (PPPUP_CHAT_NO_PACING=1)",
                 f"{chat_latency * 1000:.2f} ms", f"{ours_fast * 1000:.2f} ms",
                 f"{chat_latency / ours_fast:.2f}x faster",
                 "target no slower than chat: " + ("met" if ours_fast <= chat_latency else "NOT met")))

    chat_cpu = median([waiting_cpu([CHAT]) for _ in range(2)])
    ours_cpu = median([waiting_cpu([pppup_chat]) for _ in range(2)])
    rows.append(("(c) CPU while waiting 10 s on a silent line (/proc, 10 ms ticks)",
                 f"{chat_cpu:.2f} s", f"{ours_cpu:.2f} s", "-",
                 "target <= 0.01 s: " + ("met" if ours_cpu <= 0.01 else "NOT met")))

    start_runs = max(repeats * 3, 9)
    chat_start = median(startup([CHAT], True, start_runs))
    ours_start = median(startup([pppup_chat], True, start_runs))
    ours_start_fast = median(startup([pppup_chat], False, start_runs))
    rows.append(("(d) start-up to first byte sent (10 ms pacing)", f"{chat_start * 1000:.1f} ms",
                 f"{ours_start * 1000:.1f} ms", f"{ours_start / chat_start:.1f}x slower", "no target"))
    rows.append(("(d) start-up to first byte sent, pacing off", f"{chat_start * 1000:.1f} ms",
                 f"{ours_start_fast * 1000:.1f} ms", "-", "no target"))

    table = _table(rows, repeats, load_at_start)
    print(table)
    _write(table)
    return 0


def _table(rows: list[tuple[str, str, str, str, str]], repeats: int, load_at_start: float) -> str:
    load = os.getloadavg()[0]
    lines = [
        "## Chat engine: pppup-chat vs /usr/sbin/chat (`make bench-chat`)",
        "",
        f"Measured {time.strftime('%Y-%m-%d %H:%M')} on this machine ({os.cpu_count()} CPUs, "
        f"load average {load_at_start:.1f} at the start, {load:.1f} at the end: teammates share "
        f"it), both programs in the same run on the simulator's direct line, interleaved; "
        f"medians of {repeats} runs for (a), 20 exchanges for (b), 2 runs for (c), "
        f"{max(repeats * 3, 9)} runs for (d).  pppup-chat is the installed launcher "
        "(client/pppup-chat.py, `python3.11 -I -S`) run from this tree, with the compiled "
        "scan loop.  bench/bench_chat.py explains each measurement.",
        "",
        "| measurement | chat 2.4.9 | pppup-chat | ratio | target |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    lines += ["", "See docs/chat.md: \"Reading in blocks without reading too much\" for why (a) "
              "reads no further than the next possible match end, what that costs and where the "
              "time goes (the compiled scan loop); \"Start-up\" for (d)."]
    return "\n".join(lines)


def _write(table: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmarks\n"
    block = f"{BEGIN}\n{table}\n{END}"
    if BEGIN in text and END in text:
        before, rest = text.split(BEGIN, 1)
        _, after = rest.split(END, 1)
        text = before + block + after
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
