"""50 users racing for 4 lines through the installed setuid shim: never two owners, every loser told who.

    PYTHONPATH=sim .venv/bin/python -m tests.races.race [--trials N] [--seed S] [--write-doc]

Root, on the host, after `make install`.  The lines are pseudo-terminals the
simulator holds as root (policy `pty = true`); the users are real
unprivileged accounts (pppt-r00 ... pppt-r49, in group pppup, created here
and removed at the end), each running one long-lived racer process
(tests/races/racer.py) under the installed venv's Python.

One trial: every racer is told, at the same moment, which line to take
(seeded random choice, so some lines are crowded and some are not); each one
spawns the shim, whose root helper tries to lock the line.  Winners keep the
line until every racer of the trial has its answer.  Then, per line:

  - at most one winner (two would be two owners: a violation);
  - a line somebody raced for has a winner (a free line nobody got is a bug);
  - the winner is the owner everywhere it shows: the session record names
    the winner's user and account, every lock file holds the winner's helper pid;
  - every loser was refused with BUSY and a message naming the holder:
    "held by USER (account ACCOUNT)";
  - after the winners release, no record and no lock file is left.

The figures (trials, wins per line, losers, violations, time) go to
.cache/reliability/races.json, and with --write-doc into docs/reliability.md.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import pwd
import random
import selectors
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from pppup_protocol import paths
from pppup_protocol.errors import Code

from tests import machine_lock, reliability_report
from tests.flows.runner import PolicyWriter, locks_present, policy_text, session_record

REPO = Path(__file__).resolve().parents[2]
RACER = REPO / "tests" / "races" / "racer.py"
VENV_PYTHON = paths.VENV + "/bin/python"
RACE_PEER = "pppt-races"
USER_COUNT = 50
LINE_COUNT = 4
ANSWER_TIMEOUT_S = 120.0        # one trial's answers (50 helpers on 2 busy cores)
EXAMPLES_KEPT = 5               # failure examples kept per kind


def user_names(count: int = USER_COUNT) -> list[str]:
    return [f"pppt-r{n:02d}" for n in range(count)]


def account_of(user: str) -> str:
    return "acct-" + user.removeprefix("pppt-")


# ------------------------------------------------------------------ users, peer, lines
def create_users(names: Sequence[str]) -> None:
    for name in names:
        subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-G", paths.GROUP, name],
                       check=True, capture_output=True, timeout=60)


def remove_users(names: Sequence[str]) -> None:
    for name in names:
        subprocess.run(["userdel", name], capture_output=True, timeout=60)


def install_peer() -> str:
    os.makedirs(paths.PEERS_DIR, exist_ok=True)
    path = os.path.join(paths.PEERS_DIR, RACE_PEER)
    with open(path, "w") as f:
        f.write("# pppup race tests: no pppd is ever started\nnoauth\n")
    os.chmod(path, 0o644)
    return path


def race_world(lines: int) -> Any:
    from pppup_sim import World         # on pytest's pythonpath; PYTHONPATH=sim for the CLI
    return World({"delays": {"dial": 0.05, "ring_interval": 0.1, "connect": 0.05},
                  "modems": {f"R{n}": {"number": f"555100{n}"} for n in range(1, lines + 1)}})


# ------------------------------------------------------------------ racer processes
class Racer:
    def __init__(self, user: str) -> None:
        entry = pwd.getpwnam(user)
        self.user = user
        self.account = account_of(user)
        argv = ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups",
                "--reset-env", "--", VENV_PYTHON, "-I", str(RACER)]
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, bufsize=1, start_new_session=True)

    def send(self, command: dict[str, Any]) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        try:
            self.send({"op": "quit"})
            self.proc.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(timeout=10)


def collect(racers: Sequence[Racer], timeout: float) -> dict[str, dict[str, Any]]:
    """One answer line from each racer, bounded; a racer that dies or says nothing is an error."""
    answers: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as selector:
        for racer in racers:
            selector.register(racer.proc.stdout, selectors.EVENT_READ, racer)
        while len(answers) < len(racers):
            left = deadline - time.monotonic()
            if left <= 0:
                missing = [r.user for r in racers if r.user not in answers]
                raise RuntimeError(f"no answer within {timeout:.0f} s from {', '.join(missing)}")
            for key, _ in selector.select(left):
                racer = key.data
                line = racer.proc.stdout.readline()
                selector.unregister(key.fd)
                if not line:
                    err = racer.proc.stderr.read() if racer.proc.poll() is not None else ""
                    raise RuntimeError(f"racer {racer.user} ended without answering: {err.strip()}")
                answers[racer.user] = json.loads(line)
    return answers


# ------------------------------------------------------------------ bookkeeping
@dataclass
class RaceResults:
    trials: int = 0
    users: int = USER_COUNT
    lines: int = LINE_COUNT
    attempts: int = 0
    wins: dict[str, int] = field(default_factory=dict)
    losers: int = 0
    losers_told_holder: int = 0
    losers_before_winner: int = 0       # refused before the winner had its answer: a real race
    violations: int = 0                 # a line with two owners at once
    no_winner: int = 0                  # a raced-for line nobody got
    owner_mismatch: int = 0             # record or lock file not naming the winner
    not_released: int = 0               # record or lock left after the winner released
    loser_unexplained: int = 0          # refused without naming the holder
    examples: dict[str, list[str]] = field(default_factory=dict)
    trial_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def note(self, kind: str, text: str) -> None:
        kept = self.examples.setdefault(kind, [])
        if len(kept) < EXAMPLES_KEPT:
            kept.append(text)

    @property
    def failures(self) -> int:
        return (self.violations + self.no_winner + self.owner_mismatch + self.not_released
                + self.loser_unexplained)

    def summary(self) -> dict[str, Any]:
        times = sorted(self.trial_seconds) or [0.0]
        return {"trials": self.trials, "users": self.users, "lines": self.lines, "attempts": self.attempts,
                "wins": self.wins, "losers": self.losers, "losers_told_holder": self.losers_told_holder,
                "losers_before_winner": self.losers_before_winner,
                "violations": self.violations, "no_winner": self.no_winner,
                "owner_mismatch": self.owner_mismatch, "not_released": self.not_released,
                "loser_unexplained": self.loser_unexplained, "examples": self.examples,
                "seconds": round(self.seconds, 1),
                "trial_median_s": round(statistics.median(times), 3),
                "trial_p95_s": round(times[min(len(times) - 1, int(0.95 * len(times)))], 3),
                "date": time.strftime("%Y-%m-%d %H:%M"), "host": f"{platform.node()}, {os.cpu_count()} CPUs",
                "load": os.getloadavg()[0]}


def lock_pids(names: Sequence[str]) -> dict[str, int | None]:
    pids: dict[str, int | None] = {}
    for name in names:
        try:
            with open(os.path.join(paths.LOCK_DIR, name)) as f:
                pids[name] = int(f.read().strip())
        except (OSError, ValueError):
            pids[name] = None
    return pids


def check_trial(trial: int, assignment: dict[str, str], answers: dict[str, dict[str, Any]],
                results: RaceResults) -> dict[str, dict[str, Any]]:
    """Per-line checks while the winners hold their lines; returns line -> winner's answer."""
    winners: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for user, answer in answers.items():
        if answer.get("ok"):
            winners.setdefault(answer["line"], []).append((user, answer))
    raced = set(assignment.values())
    held: dict[str, dict[str, Any]] = {}
    for line in sorted(raced):
        got = winners.get(line, [])
        if len(got) > 1:
            results.violations += 1
            results.note("violations", f"trial {trial}: {line} granted to {', '.join(u for u, _ in got)}")
        if not got:
            results.no_winner += 1
            results.note("no_winner", f"trial {trial}: nobody got {line}: "
                         + "; ".join(answers[u].get("message", "?") for u, l in assignment.items() if l == line))
            continue
        user, answer = got[0]
        held[line] = {"user": user, **answer}
        results.wins[line] = results.wins.get(line, 0) + 1
        record = session_record(line)
        if record is None or (record.get("user"), record.get("account")) != (user, account_of(user)):
            results.owner_mismatch += 1
            results.note("owner_mismatch", f"trial {trial}: {line} won by {user}, record says {record}")
        else:
            pids = lock_pids(record["lock_names"])
            if set(pids.values()) != {answer["helper_pid"]}:
                results.owner_mismatch += 1
                results.note("owner_mismatch", f"trial {trial}: {line} won by {user} (helper "
                             f"{answer['helper_pid']}), lock files say {pids}")
    for user, line in assignment.items():
        answer = answers[user]
        if answer.get("ok"):
            continue
        results.losers += 1
        winner = held.get(line)
        expected = f"held by {winner['user']} (account {account_of(winner['user'])})" if winner else None
        if answer.get("code") == Code.BUSY and expected and expected in answer.get("message", ""):
            results.losers_told_holder += 1
            if answer["t_done"] < winner["t_done"]:
                results.losers_before_winner += 1
        else:
            results.loser_unexplained += 1
            results.note("loser_unexplained", f"trial {trial}: {user} on {line}: code {answer.get('code')}, "
                         f"{answer.get('message')!r} (expected {expected!r})")
    return held


def run_trials(trials: int, seed: int, users: Sequence[str], lines: Sequence[str],
               progress: bool = True) -> RaceResults:
    results = RaceResults(users=len(users), lines=len(lines))
    rng = random.Random(seed)
    racers = [Racer(user) for user in users]
    by_user = {r.user: r for r in racers}
    started = time.monotonic()
    try:
        for trial in range(1, trials + 1):
            assignment = {user: rng.choice(lines) for user in users}
            t0 = time.monotonic()
            for racer in racers:          # all at once: the racers block on stdin until now
                racer.send({"op": "race", "trial": trial, "line": assignment[racer.user],
                            "account": racer.account})
            answers = collect(racers, ANSWER_TIMEOUT_S)
            results.attempts += len(answers)
            held = check_trial(trial, assignment, answers, results)
            winners = [by_user[u] for u, a in answers.items() if a.get("ok")]
            for racer in winners:
                racer.send({"op": "release"})
            for user, answer in collect(winners, ANSWER_TIMEOUT_S).items():
                if not answer.get("released"):
                    results.not_released += 1
                    results.note("not_released", f"trial {trial}: {user}: {answer}")
            for line, winner in held.items():
                record = session_record(line)
                left = locks_present(record["lock_names"]) if record else []
                if record is not None or left:
                    results.not_released += 1
                    results.note("not_released", f"trial {trial}: {line} after {winner['user']} released: "
                                 f"record {record}, locks {left}")
            results.trials = trial
            results.trial_seconds.append(time.monotonic() - t0)
            if progress and (trial % 50 == 0 or trial == trials):
                print(f"races: {trial}/{trials} trials, {results.failures} failures, "
                      f"{time.monotonic() - started:.0f} s", flush=True)
    finally:
        for racer in racers:
            racer.stop()
        results.seconds = time.monotonic() - started
    return results


def run(trials: int, seed: int = 1, user_count: int = USER_COUNT, line_count: int = LINE_COUNT,
        write_doc: bool = False) -> RaceResults:
    if os.geteuid() != 0:
        raise SystemExit("the race test creates users and writes the policy: run it as root")
    if not os.path.exists(paths.SHIM):
        raise SystemExit(f"{paths.SHIM} is missing: run `make install` first")
    machine_lock.hold()
    users = user_names(user_count)
    lines = [f"race{n}" for n in range(1, line_count + 1)]
    peer = install_peer()
    writer = PolicyWriter()
    create_users(users)
    try:
        with race_world(line_count) as world:
            ttys = {line: world.tty_path(f"R{n}") for n, line in enumerate(lines, 1)}
            writer.write(policy_text(ttys, pty=True, users=users, peer=RACE_PEER))
            results = run_trials(trials, seed, users, lines)
    finally:
        writer.restore()
        remove_users(users)
        os.unlink(peer)
    summary = results.summary()
    reliability_report.save("races", summary)
    if write_doc:
        reliability_report.write_races(summary)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.races.race", description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--write-doc", action="store_true", help="put the table into docs/reliability.md")
    options = parser.parse_args(argv)
    results = run(options.trials, options.seed, write_doc=options.write_doc)
    print(json.dumps(results.summary(), indent=1))
    return 0 if results.failures == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
