"""Guest side: the fault sweep's runner: reach a phase, apply a fault, prove the line converged.

What the grid is (phases, faults, the far ends that hold each phase open)
is tests/vm/faults.py; what a clean line is, tests/vm/observe.py.  A cell:

    start      `pppup ACCOUNT` as the user (--foreground when the client is the victim at "link up")
    reach      wait for the phase's trigger (an observation; the two narrow phases freeze the client)
    apply      the fault; frozen processes are thawed
    converge   the next `pppup status` at once, then poll until the line is clean (or, for the two
               cells that keep the link, until it is truthfully "up"; then pppdown must clean it);
               a call-back the server still owes must ring unanswered
    probe      a fresh `pppup` gets the line at once

A failed cell is recovered from (pppdown --all, leftover pppd killed, the
modem reset by hand) so the next cell can still start on a clean line.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from typing import Any

from pppup_protocol.errors import Code

from tests.flows.runner import PPPDOWN, PPPUP, FlowUser, session_record
from tests.vm.faults import (CALLBACK_SETUP, CELL_TIMEOUT_S, MAY_STAY_UP, PHASE_NUMBER, PROBE_ACCOUNT, CellResult,
                             Reached, account_name)
from tests.vm.observe import (LCP_TERMINATE_REQUEST, LINE, MODEM, Client, SyslogCollector, comm, describe,
                              first_arrival, freeze, line_problems, pending_callbacks, pppd_pids,
                              reset_modem_by_hand, status_of_line, thaw, wait_modem_sees_dtr, wait_record)


class Sweep:
    def __init__(self, world: Any, user: FlowUser, syslog: SyslogCollector | None = None) -> None:
        self.world = world
        self.user = user
        self.syslog = syslog

    # -- reaching a phase ---------------------------------------------------------
    def start(self, phase: str, fault: str) -> Reached:
        account = account_name(PHASE_NUMBER[phase])
        foreground = ("--foreground",) if (phase, fault) == ("link up", "client") else ()
        mark = self.world.mark()
        return Reached(Client(self.user, PPPUP, account, *foreground), foreground=bool(foreground), mark=mark)

    def reach(self, phase: str, reached: Reached, mark: int) -> None:
        world, client = self.world, reached.client
        if phase == "line acquired":
            reached.record = wait_record(timeout=CELL_TIMEOUT_S)
            freeze(client.pid)
            reached.frozen = True
            sent = world.events(kind="command", source=MODEM, after=mark)
            if sent:
                raise TooLate(f"the client had sent {sent[0].data['line']!r} before it was frozen")
        elif phase == "modem initialised":
            setup = world.wait_event("command", source=MODEM, after=mark, line=CALLBACK_SETUP,
                                     timeout=CELL_TIMEOUT_S)
            world.wait_event("result", source=MODEM, after=setup.seq, text="OK", timeout=30)
            freeze(client.pid)
            reached.frozen = True
            if world.events(kind="dial", source=MODEM, after=mark):
                raise TooLate("the client had dialled before it was frozen")
        elif phase == "dialling":
            world.wait_event("dial", source=MODEM, after=mark, timeout=CELL_TIMEOUT_S)
        elif phase == "connected":
            client.wait_line("CONNECT")
        elif phase == "logging in":
            world.wait_event("host", after=mark, step="menu", timeout=CELL_TIMEOUT_S)
        elif phase == "waiting for call-back":
            client.wait_line("the line stays ours for the call-back")
        elif phase == "second login":
            client.wait_line("call-back answered")
        elif phase == "pppd starting":
            reached.record = wait_record(timeout=CELL_TIMEOUT_S, phase="starting", with_pppd=True)
        elif phase in ("link up", "pppdown in progress"):
            if reached.foreground:
                client.wait_line("link up on", stream="out")
            else:
                code = client.finish()
                if code != 0:
                    raise AssertionError(f"pppup exited {code} instead of bringing the link up:\n{client.text()}")
            reached.record = wait_record(timeout=30, phase="up")
            if phase == "pppdown in progress":
                self._start_pppdown(reached, mark)
        if reached.record is None:
            reached.record = session_record(LINE)
        wait_modem_sees_dtr(world)

    def _start_pppdown(self, reached: Reached, mark: int) -> None:
        """pppdown with the far end frozen: our pppd's Terminate-Request goes unanswered for a while."""
        world = self.world
        started = world.wait_event("host", after=mark, step="pppd-start", timeout=5)
        far = int(started.data["pid"])
        if comm(far) != "pppd":
            raise AssertionError(f"the far end's pppd is not pid {far} ({comm(far)})")
        freeze(far)
        reached.far_pppd = far
        since = time.monotonic()
        reached.pppdown = Client(self.user, PPPDOWN, LINE)
        deadline = since + 60
        while first_arrival(world.dte_log(MODEM, after=since), LCP_TERMINATE_REQUEST) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"pppdown: no LCP Terminate-Request on the line within 60 s:\n"
                                     f"{reached.pppdown.text()}")
            time.sleep(0.02)
        if reached.pppdown.proc.poll() is not None:
            raise TooLate(f"pppdown had already ended: {reached.pppdown.text()}")

    # -- the fault --------------------------------------------------------------------
    def apply(self, fault: str, phase: str, reached: Reached) -> list[str]:
        notes = []
        record = session_record(LINE) or reached.record
        if fault == "client":
            victim = reached.pppdown if reached.pppdown is not None else reached.client
            os.kill(victim.pid, signal.SIGKILL)
            notes.append("killed pppdown" if reached.pppdown is not None else "killed pppup")
        elif fault == "helper":
            if record is None:
                raise AssertionError("no session record: no helper to kill")
            pid = record["supervisor_pid"]
            what = comm(pid)
            os.kill(pid, signal.SIGKILL)
            notes.append(f"killed {what} (pid {pid})")
        elif fault == "pppd":
            if record is None or record.get("pppd_pid") is None:
                raise AssertionError(f"the session record names no pppd: {record}")
            pid = record["pppd_pid"]
            if comm(pid) != "pppd":
                raise AssertionError(f"pid {pid} is {comm(pid)}, not pppd")
            os.kill(pid, signal.SIGKILL)
        elif fault == "carrier":
            self.world.drop_carrier(MODEM)
        if reached.frozen:
            thaw(reached.client.pid)
        if reached.far_pppd is not None:
            thaw(reached.far_pppd)
        return notes

    # -- converging ----------------------------------------------------------------------
    def converge(self, result: CellResult, reached: Reached, fault_at: float) -> None:
        world, user = self.world, self.user
        first = status_of_line(user)
        result.first_status = describe(first)
        if (result.phase, result.fault) in MAY_STAY_UP and self._stays_up(fault_at):
            self._kept_up(result, reached, fault_at)
            return
        deadline = fault_at + CELL_TIMEOUT_S
        last_status = time.monotonic()
        while True:
            problems = line_problems(world)
            if not problems:
                break
            if time.monotonic() > deadline:
                result.problems = problems
                raise AssertionError(f"not converged {CELL_TIMEOUT_S:.0f} s after the fault: {problems}")
            quiet = all(c.proc.poll() is not None for c in (reached.client, reached.pppdown) if c is not None)
            if quiet and time.monotonic() - last_status > 5:
                status_of_line(user)            # a later helper converges what the last one left
                last_status = time.monotonic()
            time.sleep(0.1)
        result.seconds = round(time.monotonic() - fault_at, 2)
        self._collect_exits(result, reached)
        result.notes += self._settle_callbacks(reached.mark)
        final = status_of_line(user)
        if final["state"] != "free":
            raise AssertionError(f"pppup status says {describe(final)} on a clean line")
        if result.fault == "helper" and first["state"] != "free":
            raise AssertionError(f"the next pppup status after the helper died said {result.first_status}")
        result.outcome = "free"
        self.probe(result)

    def _stays_up(self, fault_at: float) -> bool:
        """Does the helper carry on to a supervised link (True) or give the line back (False)?"""
        deadline = fault_at + CELL_TIMEOUT_S
        while time.monotonic() < deadline:
            record = session_record(LINE)
            if record is None:
                return False
            if record["phase"] == "up":
                return True
            time.sleep(0.05)
        raise AssertionError(f"neither up nor released {CELL_TIMEOUT_S:.0f} s after the fault: "
                             f"{session_record(LINE)}")

    def _kept_up(self, result: CellResult, reached: Reached, fault_at: float) -> None:
        """The helper went on and supervises the link: the truth is "up", then pppdown must clean."""
        record = wait_record(timeout=60, phase="up")
        result.seconds = round(time.monotonic() - fault_at, 2)
        status = status_of_line(self.user)
        if (status["state"], status.get("user")) != ("up", self.user.name):
            raise AssertionError(f"link up in the record, pppup status says {describe(status)}")
        supervisor, pppd = record["supervisor_pid"], record["pppd_pid"]
        if comm(pppd) != "pppd" or comm(supervisor) is None:
            raise AssertionError(f"record says up but pppd {pppd} is {comm(pppd)}, supervisor {comm(supervisor)}")
        result.notes.append(f"the link stayed up, owned by {self.user.name}, supervised by "
                            f"{comm(supervisor)}")
        self._collect_exits(result, reached)
        started = time.monotonic()
        down = self.user.run(PPPDOWN, LINE, timeout=120)
        if down.returncode != 0:
            raise AssertionError(f"pppdown after the fault failed: {down.stderr}")
        self._wait_clean(started)
        result.notes.append(f"pppdown then cleaned the line in {time.monotonic() - started:.1f} s")
        result.outcome = "kept up"
        self.probe(result)

    def _settle_callbacks(self, mark: int = 0, timeout: float = 60.0) -> list[str]:
        """Wait for every call-back the server still owes to ring and fail; a
        reset modem (S0=0) must not answer it.  What happened, for the notes."""
        world = self.world
        deadline = time.monotonic() + timeout
        while pending_callbacks(world):
            if time.monotonic() > deadline:
                raise AssertionError(f"a call-back still pending {timeout:.0f} s later")
            time.sleep(0.2)
        notes = []
        for failed in world.events(kind="host", step="callback-failed", after=mark):
            dialled = [e for e in world.events(kind="host", step="callback-dial", source=failed.source,
                                               after=mark) if e.seq < failed.seq][-1:]
            since = dialled[0].seq if dialled else mark
            rings = [e for e in world.events(kind="ring", source=MODEM, after=since) if e.seq < failed.seq]
            answers = [e for e in world.events(kind="answer", source=MODEM, after=since) if e.seq < failed.seq]
            if answers:
                raise AssertionError(f"the modem answered the server's call-back after the fault: {answers}")
            notes.append(f"the server called back after the fault: {failed.data['result']}, "
                         f"{len(rings)} ring(s), not answered")
        if notes:
            self._wait_clean(time.monotonic())
        return notes

    def _wait_clean(self, since: float) -> None:
        deadline = since + CELL_TIMEOUT_S
        while problems := line_problems(self.world):
            if time.monotonic() > deadline:
                raise AssertionError(f"not clean after pppdown: {problems}")
            time.sleep(0.1)

    def _collect_exits(self, result: CellResult, reached: Reached) -> None:
        for client, label in ((reached.client, "pppup"), (reached.pppdown, "pppdown")):
            if client is None:
                continue
            code = client.finish(timeout=CELL_TIMEOUT_S)
            if label == "pppup":
                result.client_exit = code
            last = next((line for line in reversed(client.err) if line.strip()), "")
            if code not in (0, -signal.SIGKILL):
                result.notes.append(f"{label} exit {code}: {last[:160]}")

    def probe(self, result: CellResult) -> None:
        """A fresh pppup gets the line at once (it dials a busy number and gives the line back)."""
        started = time.monotonic()
        probe = self.user.run(PPPUP, PROBE_ACCOUNT, timeout=120)
        if f"line {LINE} is ours" not in probe.stderr or probe.returncode != Code.DIAL:
            raise AssertionError(f"a fresh pppup did not get the line (exit {probe.returncode}): {probe.stderr}")
        self._wait_clean(started)
        result.notes.append(f"a fresh pppup got the line ({time.monotonic() - started:.1f} s to BUSY and clean)")

    # -- the cell ------------------------------------------------------------------------
    def run_cell(self, result: CellResult, attempts: int = 3) -> CellResult:
        started = time.monotonic()
        try:
            return self._run_cell(result, attempts)
        finally:
            result.wall = round(time.monotonic() - started, 1)

    def _run_cell(self, result: CellResult, attempts: int) -> CellResult:
        phase, fault = result.phase, result.fault
        for attempt in range(1, attempts + 1):
            before = line_problems(self.world) + [f"{n} call-back(s) still to come" for n in
                                                  [pending_callbacks(self.world)] if n]
            if before:
                result.outcome, result.problems = "FAILED", before
                raise AssertionError(f"the line was not clean before the cell: {before}")
            reached = self.start(phase, fault)
            try:
                self.reach(phase, reached, reached.mark)
            except TooLate as missed:
                # The freeze came too late (the client had moved on): undo, and try again.
                result.notes.append(f"attempt {attempt}: {missed}; retried")
                self._recover(reached)
                continue
            except BaseException as error:
                result.outcome = "FAILED"
                result.problems = [f"phase not reached: {str(error).splitlines()[0][:300]}"]
                self._recover(reached)
                raise
            fault_at = time.monotonic()
            try:
                result.notes += self.apply(fault, phase, reached)
                self.converge(result, reached, fault_at)
                result.converged = True
                if self.syslog is not None:
                    result.log = self.syslog.since(fault_at, "converge", "release", "problem", "failed")[:12]
                return result
            except BaseException as error:
                result.outcome = "FAILED"
                result.problems = result.problems or [str(error).splitlines()[0][:300]]
                if self.syslog is not None:
                    result.log = self.syslog.since(fault_at)[:40]
                self._recover(reached)
                raise
        result.outcome = "FAILED"
        raise AssertionError(f"could not freeze the client at {phase!r} in {attempts} attempts: {result.notes}")

    def _recover(self, reached: Reached | None = None) -> None:
        """After a failed cell: end everything so the next cell starts clean (best effort)."""
        if reached is not None:
            for pid in (reached.far_pppd, reached.client.pid if reached.frozen else None):
                if pid:
                    thaw(pid)
            for client in (reached.client, reached.pppdown):
                if client is not None and client.proc.poll() is None:
                    client.kill()
        subprocess.run([PPPDOWN, "--all"], capture_output=True, timeout=120)
        for pid in pppd_pids():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.world.drop_carrier(MODEM)
        except Exception:       # noqa: BLE001 - no call is fine
            pass
        status_of_line(self.user)
        deadline = time.monotonic() + 30
        while line_problems(self.world) and time.monotonic() < deadline:
            time.sleep(0.2)
        if line_problems(self.world) and session_record(LINE) is None:
            reset_modem_by_hand()
        try:
            self._settle_callbacks()
        except AssertionError:
            pass


class TooLate(Exception):
    """The client moved past the phase before the freeze took hold (retried)."""
