"""Run Debian's chat(8) and pppup-chat on the same simulated line and compare.

A case is a TOML file in tests/chat/cases/ (black-style: one behaviour per
file, data not code):

    description = "what chat does here (chat.md section)"
    args = ["-v", "-s", "ABORT", "BUSY", "", "AT", "OK"]  # after the program name
    script = '''...'''        # optional: written to ./script (use args ["-f", "script"])
    files = { name = "..." }  # optional: more files in the working directory
    env = { NAME = "..." }    # optional: added to the environment
    prefill = "..."           # optional: queued on the line before the program starts
    remote = [["wait", "AT\r"], ["send", "\r\nOK\r\n"], ["sleep", 0.2],
              ["send", "...", 0.5], ["hangup"], ["signal", "HUP"],
              ["setup"]]         # setup: until the program has set the tty up
    ctty = false              # the line is the program's controlling terminal
    cooked = false            # leave the pty in its default (cooked) mode, not raw
    stdin = "line"            # or "devnull": fd 0 is not a tty
    syslog = false            # capture syslog (private /dev/log in a mount namespace)
    world = { ... }           # optional: a pppup_sim World (Hayes modem "A") instead of a
                              # direct line; then "sent" compares the AT command lines
                              # the modem received, and "remote" steps do not apply
    compare = [...]           # default: everything (see COMPARED)
    timeout = 15              # seconds before the program is killed

Strings are bytes written as TOML strings (latin-1: "\u0080".."\u00ff"
are single bytes).  Each program runs in its own temporary directory (so
`-r report` and `@file` are relative), on its own pty with its own remote
playing the same steps; the two run at the same time.
"""
from __future__ import annotations

import fcntl
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pppup_sim.direct import Call, DirectLine, Hangup, Send, Sleep, Wait, WaitSetup

from .launcher import dev_launcher

REPO = Path(__file__).resolve().parents[2]
CASES = Path(__file__).resolve().parent / "cases"
CHAT = "/usr/sbin/chat"
COMPARED = ("code", "sent", "stderr", "files", "leftover", "timing", "syslog")
BURST_GAP = 0.5            # seconds of silence that separate two bursts of sent bytes
TIMING_RETRIES = 2         # reruns when timing is the only difference (machine load)


def pppup_chat_command() -> list[str]:
    """pppup-chat as installed: the -I -S launcher (tests/chat/launcher.py), on this tree."""
    return [str(dev_launcher())]


def _bytes(text: str) -> bytes:
    return text.encode("latin-1")


@dataclass
class Case:
    name: str
    description: str
    args: list[bytes]
    script: bytes | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    prefill: bytes = b""
    remote: list[list] = field(default_factory=list)
    ctty: bool = False
    stdin: str = "line"
    syslog: bool = False
    compare: tuple[str, ...] = COMPARED
    timeout: float = 15.0
    world: dict | None = None
    cooked: bool = False


def load_case(path: Path) -> Case:
    with open(path, "rb") as stream:
        raw = tomllib.load(stream)
    known = {"description", "args", "script", "files", "env", "prefill", "remote", "ctty",
             "stdin", "syslog", "compare", "timeout", "world", "cooked"}
    unknown = set(raw) - known
    if unknown:
        raise ValueError(f"{path}: unknown keys {sorted(unknown)}")
    compare = tuple(raw.get("compare", COMPARED))
    for item in compare:
        if item not in COMPARED:
            raise ValueError(f"{path}: cannot compare {item!r}; choose from {COMPARED}")
    return Case(
        name=path.stem,
        description=raw["description"],
        args=[_bytes(arg) for arg in raw.get("args", [])],
        script=_bytes(raw["script"]) if "script" in raw else None,
        files={name: _bytes(text) for name, text in raw.get("files", {}).items()},
        env=dict(raw.get("env", {})),
        prefill=_bytes(raw.get("prefill", "")),
        remote=list(raw.get("remote", [])),
        ctty=bool(raw.get("ctty", False)),
        stdin=raw.get("stdin", "line"),
        syslog=bool(raw.get("syslog", False)),
        compare=compare,
        timeout=float(raw.get("timeout", 15.0)),
        world=raw.get("world"),
        cooked=bool(raw.get("cooked", False)),
    )


def all_cases() -> list[Path]:
    return sorted(CASES.glob("*.toml"))


@dataclass
class Outcome:
    program: str
    code: int | None                       # None: killed after the case timeout
    sent: bytes
    timeline: list[tuple[float, int]]      # (seconds since start, byte)
    exit_time: float
    stderr: bytes
    files: dict[str, bytes]
    leftover: bytes
    syslog: list[bytes]
    remote_errors: list[str]
    ready: float | None = None             # when the program set the tty up (s since start)


def _steps(case: Case, process: list[subprocess.Popen]) -> list:
    steps = []
    for item in case.remote:
        verb = item[0]
        if verb == "send":
            steps.append(Send(_bytes(item[1]), float(item[2]) if len(item) > 2 else 0.0))
        elif verb == "wait":
            steps.append(Wait(_bytes(item[1]), float(item[2]) if len(item) > 2 else 10.0))
        elif verb == "sleep":
            steps.append(Sleep(float(item[1])))
        elif verb == "hangup":
            steps.append(Hangup())
        elif verb == "setup":
            steps.append(WaitSetup())
        elif verb == "signal":
            number = getattr(signal, "SIG" + item[1])
            steps.append(Call(lambda number=number: os.kill(process[0].pid, number)))
        else:
            raise ValueError(f"{case.name}: unknown remote step {item!r}")
    return steps


class _SyslogCatcher:
    """A private /dev/log: a datagram socket bind-mounted over /dev in the child's namespace.

    Read continuously: a Unix datagram socket has a short queue, and a
    syslog() call blocks when it is full.
    """

    def __init__(self, workdir: Path) -> None:
        self.devdir = workdir / "dev"
        self.devdir.mkdir()
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(str(self.devdir / "log"))
        self.socket.settimeout(0.1)
        self.received: list[bytes] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        while not self._done.is_set():
            try:
                self.received.append(self.socket.recv(65536))
            except TimeoutError:
                continue

    def wrap(self, command: list[str]) -> list[str]:
        return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" /dev && exec "$@"', str(self.devdir)] + command

    def lines(self) -> list[bytes]:
        time.sleep(0.1)
        self._done.set()
        self._thread.join()
        self.socket.close()
        return self.received


def _make_ctty() -> None:
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def run_program(case: Case, command: list[str], workdir: Path) -> Outcome:
    """Run one program on its own line (direct line or simulated modem) in `workdir`."""
    if case.script is not None:
        (workdir / "script").write_bytes(case.script)
    for name, content in case.files.items():
        (workdir / name).write_bytes(content)
    inputs = {path.name for path in workdir.iterdir()}
    env = dict(os.environ, TZ="UTC", LC_ALL="C")
    env.pop("PYTHONPATH", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)   # start-up time is compared too
    env.update(case.env)
    catcher = _SyslogCatcher(workdir) if case.syslog else None
    argv = command + [os.fsdecode(arg) for arg in case.args]
    if catcher is not None:
        argv = catcher.wrap(argv)
    runner = _run_on_world if case.world is not None else _run_on_direct_line
    outcome = runner(case, argv, workdir, env)
    outcome.program = Path(command[-1]).name
    outcome.files = {path.name: path.read_bytes() for path in workdir.iterdir()
                     if path.name not in inputs and path.is_file()}
    outcome.syslog = catcher.lines() if catcher else []
    return outcome


def _spawn(case: Case, argv: list[str], line_fd: int, workdir: Path,
           env: dict[str, str]) -> subprocess.Popen:
    stdin = line_fd if case.stdin == "line" else subprocess.DEVNULL
    return subprocess.Popen(
        argv, stdin=stdin, stdout=line_fd, stderr=subprocess.PIPE, cwd=workdir, env=env,
        preexec_fn=_make_ctty if case.ctty else None, start_new_session=not case.ctty)


def _finish(child: subprocess.Popen, timeout: float) -> tuple[int | None, bytes]:
    try:
        _, stderr = child.communicate(timeout=timeout)
        return child.returncode, stderr
    except subprocess.TimeoutExpired:
        child.kill()
        _, stderr = child.communicate()
        return None, stderr


class _TtyWatch:
    """Notes when the program under test changes the line's termios (its set-up).

    chat and pppup-chat both set the tty up right before running the script,
    so timings measured from that moment do not include start-up (Python's
    is slower, and much slower on a loaded machine).
    """

    def __init__(self, fd: int, start: float) -> None:
        self.fd = fd
        self.start = start
        self.ready: float | None = None
        self._initial = termios.tcgetattr(fd)
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._done.is_set():
            try:
                if termios.tcgetattr(self.fd) != self._initial:
                    self.ready = time.monotonic() - self.start
                    return
            except termios.error:
                return
            time.sleep(0.0005)

    def stop(self) -> float | None:
        self._done.set()
        self._thread.join()
        return self.ready


def _run_on_direct_line(case: Case, argv: list[str], workdir: Path,
                        env: dict[str, str]) -> Outcome:
    process: list[subprocess.Popen] = []
    with DirectLine(prefill=case.prefill, raw=not case.cooked) as line:
        start = time.monotonic()
        watch = _TtyWatch(line.slave, start)
        child = _spawn(case, argv, line.slave, workdir, env)
        process.append(child)
        line.start(_steps(case, process))
        code, stderr = _finish(child, case.timeout)
        exit_time = time.monotonic() - start
        ready = watch.stop()
        leftover = line.leftover() if not line.hung_up else b""
        line.stop()
        timeline = [(t - start, byte) for t, byte in line.timeline()]
        errors = list(line.errors)
    sent = bytes(byte for _, byte in timeline)
    return Outcome("", code, sent, timeline, exit_time, stderr, {}, leftover, [], errors, ready)


def _run_on_world(case: Case, argv: list[str], workdir: Path, env: dict[str, str]) -> Outcome:
    from pppup_sim import World
    with World(case.world) as world:
        fd = os.open(world.tty_path("A"), os.O_RDWR | os.O_NOCTTY)
        try:
            start = time.monotonic()
            child = _spawn(case, argv, fd, workdir, env)
            code, stderr = _finish(child, case.timeout)
            exit_time = time.monotonic() - start
        finally:
            os.close(fd)
        # The simulator writes a result before it logs the command: give its
        # thread a moment after the program saw the result and exited.
        time.sleep(0.2)
        commands = [event.data["line"].encode("latin-1")
                    for event in world.events(kind="command", source="A")]
    return Outcome("", code, b"\n".join(commands), [], exit_time, stderr, {}, b"", [], [])


def run_both(case: Case) -> tuple[Outcome, Outcome]:
    """Debian's chat and pppup-chat at the same time, each on its own line."""
    results: dict[str, Outcome] = {}
    failures: list[BaseException] = []

    def one(key: str, command: list[str]) -> None:
        workdir = Path(tempfile.mkdtemp(prefix=f"chatdiff-{case.name}-{key}-"))
        try:
            results[key] = run_program(case, command, workdir)
        except BaseException as error:          # reported by the caller
            failures.append(error)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    threads = [threading.Thread(target=one, args=("chat", [CHAT])),
               threading.Thread(target=one, args=("pppup", pppup_chat_command()))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    return results["chat"], results["pppup"]


# ---------------------------------------------------------------- comparing

_STAMP = re.compile(rb"chat:  [A-Z][a-z]{2} [ 0-9][0-9] [0-9]{2}:[0-9]{2}:[0-9]{2} ")
_SYSLOG_HEAD = re.compile(rb"^<(\d+)>[A-Z][a-z]{2} [ 0-9][0-9] [0-9:]{8} chat\[\d+\]: ")


_USAGE = re.compile(rb"^Usage: \S+ ", re.MULTILINE)


def normalise_output(text: bytes) -> bytes:
    """Report timestamps and the program name in the usage line vary between runs."""
    return _USAGE.sub(b"Usage: <program> ", _STAMP.sub(b"chat:  <date> ", text))


def normalise_syslog(lines: list[bytes]) -> list[bytes]:
    return [_SYSLOG_HEAD.sub(rb"<\1>chat: ", line) for line in lines]


def bursts(timeline: list[tuple[float, int]]) -> list[tuple[float, float, bytes]]:
    """Sent bytes grouped where they are separated by more than BURST_GAP of silence."""
    groups: list[tuple[float, float, bytearray]] = []
    for t, byte in timeline:
        if groups and t - groups[-1][1] <= BURST_GAP:
            first, _, data = groups[-1]
            data.append(byte)
            groups[-1] = (first, t, data)
        else:
            groups.append((t, t, bytearray([byte])))
    return [(first, last, bytes(data)) for first, last, data in groups]


def _average_pace(first: float, last: float, count: int) -> float | None:
    # An average over the burst: the recording thread may read a few paced
    # bytes at once on a busy machine, which spoils per-byte gaps, not this.
    return (last - first) / (count - 1) if count >= 8 else None


def timing_differences(reference: Outcome, ours: Outcome) -> list[str]:
    """Same bursts, same gaps between them, same pacing inside them, same exit time.

    Times count from the moment each program set the tty up (start-up
    excluded) when both did; otherwise from the spawn, with more slack.
    """
    problems = []
    mine, theirs = bursts(ours.timeline), bursts(reference.timeline)
    if [data for *_, data in mine] != [data for *_, data in theirs]:
        problems.append(f"bursts differ: chat {[d for *_, d in theirs]!r} / ours {[d for *_, d in mine]!r}")
        return problems
    if reference.ready is not None and ours.ready is not None:
        base1, base2, slack = reference.ready, ours.ready, 0.5
    else:
        base1, base2, slack = 0.0, 0.0, 0.8
    for index, ((f1, l1, data), (f2, l2, _)) in enumerate(zip(theirs, mine)):
        if abs((f1 - base1) - (f2 - base2)) > slack:
            problems.append(f"burst {index} starts at {f2 - base2:.3f} s, chat at {f1 - base1:.3f} s "
                            "(after the tty set-up)")
        duration1, duration2 = l1 - f1, l2 - f2
        if abs(duration1 - duration2) > max(0.15, 0.2 * max(duration1, duration2)):
            problems.append(f"burst {index} lasts {duration2:.3f} s, chat {duration1:.3f} s")
        pace1 = _average_pace(f1, l1, len(data))
        pace2 = _average_pace(f2, l2, len(data))
        if pace1 is not None and pace2 is not None and abs(pace1 - pace2) > max(0.004, 0.35 * max(pace1, pace2)):
            problems.append(f"burst {index} paced {pace2 * 1000:.1f} ms/byte, chat {pace1 * 1000:.1f}")
    if abs((reference.exit_time - base1) - (ours.exit_time - base2)) > slack:
        problems.append(f"exit after {ours.exit_time - base2:.2f} s, chat after "
                        f"{reference.exit_time - base1:.2f} s")
    return problems


def compare_case(case: Case) -> tuple[list[str], int]:
    """Run and compare; a difference in timing alone is retried (returns problems, runs).

    The host is shared: a starved process can lose tenths of a second
    anywhere.  A real timing bug shows up in every run, load does not.
    """
    runs = 0
    while True:
        reference, ours = run_both(case)
        runs += 1
        problems = differences(case, reference, ours)
        timing_only = problems and all(problem in timing_differences(reference, ours)
                                       for problem in problems)
        if not timing_only or runs > TIMING_RETRIES:
            return problems, runs


def differences(case: Case, reference: Outcome, ours: Outcome) -> list[str]:
    problems: list[str] = []
    for outcome in (reference, ours):
        for error in outcome.remote_errors:
            problems.append(f"{outcome.program}: {error}")
    if "code" in case.compare and reference.code != ours.code:
        problems.append(f"exit code: chat {reference.code}, ours {ours.code}")
    if "sent" in case.compare and reference.sent != ours.sent:
        problems.append(f"bytes sent: chat {reference.sent!r}, ours {ours.sent!r}")
    if "stderr" in case.compare:
        theirs = normalise_output(reference.stderr)
        mine = normalise_output(ours.stderr)
        if theirs != mine:
            problems.append(f"stderr:\n  chat: {theirs!r}\n  ours: {mine!r}")
    if "files" in case.compare:
        theirs_files = {name: normalise_output(data) for name, data in reference.files.items()}
        mine_files = {name: normalise_output(data) for name, data in ours.files.items()}
        if theirs_files != mine_files:
            problems.append(f"files: chat {theirs_files!r}, ours {mine_files!r}")
    if "leftover" in case.compare and reference.leftover != ours.leftover:
        problems.append(f"left queued: chat {reference.leftover!r}, ours {ours.leftover!r}")
    if "syslog" in case.compare and case.syslog:
        theirs_log, mine_log = normalise_syslog(reference.syslog), normalise_syslog(ours.syslog)
        if theirs_log != mine_log:
            problems.append(f"syslog:\n  chat: {theirs_log!r}\n  ours: {mine_log!r}")
    if "timing" in case.compare and not problems:
        if case.world is None:
            problems += timing_differences(reference, ours)
        elif abs(reference.exit_time - ours.exit_time) > 0.6:
            problems.append(f"exit after {ours.exit_time:.2f} s, chat after {reference.exit_time:.2f} s")
    return problems


if __name__ == "__main__":
    # python tests/chat/differential.py [CASE...]: run cases and print differences.
    names = sys.argv[1:]
    paths = [CASES / f"{name}.toml" for name in names] if names else all_cases()
    failed = 0
    for path in paths:
        case = load_case(path)
        found, runs = compare_case(case)
        failed += bool(found)
        status = "ok  " if not found else "DIFF"
        print(f"{status} {case.name}" + (f" (after {runs} runs)" if runs > 1 else ""))
        for problem in found:
            print("     " + problem)
    print(f"{len(paths) - failed}/{len(paths)} identical")
    sys.exit(1 if failed else 0)
