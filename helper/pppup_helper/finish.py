"""The last step of a link's supervisor: the rest of the cleanup, in Python.

One process, one pid, three programs (DEVELOPERS.md "Process model"):

    helper (Python) --exec--> pppup-supervise (C) --exec--> pppup-helper.py --finish ...

The C supervisor waited for pppd to exit and dropped DTR the moment it did.
This step, with fd 3 the line and fd 4 the tail of pppd's log, does what
LineSession.release does once pppd is stopped: the record's phase
"stopping", the rest of the DTR hold (raised again only for the reset
command), the admin's reset command, TIOCVHANGUP, the locks (still ours: the
pid never changed), the end record with pppd's exit reason and byte counts,
the record's removal, and the audit line, which says how long the cleanup
took after pppd's exit (`cleanup`).

Its argv is built by the helper that started the link (LineSession._finish_args,
from the session's root-owned configuration) and by the C supervisor (its
results).  Only root runs this: the shim builds the argv of every helper a
user can start, and never this one.  It is still checked strictly.
"""
from __future__ import annotations

import os
import re
import signal
import time
from collections import namedtuple

from pppup_protocol.errors import Code, PppupError

from pppup_helper import audit, procinfo
from pppup_helper.line import Line
from pppup_helper.state import LINE_NAME, EndRecord, SessionRecord, StateDir
from pppup_helper.uucplock import LockDir, UucpLock

TYPE_CHECKING = False
if TYPE_CHECKING:      # annotations only
    from pppup_helper.pppd import PppdLog

LINE_FD = 3
LOG_FD = 4
LOG_MAX = 8192                  # the supervisor keeps at most this much (LOG_TAIL)
RESET_TIMEOUT_S = 0.7           # session.RESET_TIMEOUT_S: what the 2 s budget leaves the modem
EXIT_OK = 0
EXIT_REFUSED = 1

Owner = namedtuple("Owner", "uid name")      # who the audit line is about

_NUMBER = r"[0-9]{1,19}"
_PATH = r"/[\x21-\x7e]{0,4095}"
# Each option once, and what its value must look like.
OPTIONS = {
    # from the helper that started the link
    "--line": LINE_NAME,
    "--state-dir": _PATH,
    "--lock-dir": _PATH,
    "--audit-socket": _PATH,
    "--dtr-hold-ms": r"[0-9]{1,5}",
    "--reset": r"([Aa][Tt][\x20-\x7e]{0,58})?",      # as the policy allows (policy_schema), or none
    "--link-up-ns": _NUMBER,
    # from the C supervisor
    "--pppd-status": r"[0-9]{1,5}",
    "--ended-ns": _NUMBER,
    "--dtr": r"dropped|none|failed",
    "--dtr-ns": _NUMBER,
    "--stop-signal": r"[0-9]{1,2}",
}


def parse_args(argv: list[str]) -> dict[str, str]:
    """`--option value` pairs, exactly the OPTIONS, each once; PppupError otherwise."""
    if len(argv) != 2 * len(OPTIONS):
        raise PppupError("finish: wrong number of arguments", Code.HELPER)
    values: dict[str, str] = {}
    for option, value in zip(argv[::2], argv[1::2]):
        pattern = OPTIONS.get(option)
        if pattern is None or option in values:
            raise PppupError(f"finish: unexpected or repeated option {option[:40]!r}", Code.HELPER)
        if re.fullmatch(pattern, value) is None:
            raise PppupError(f"finish: invalid value for {option}", Code.HELPER)
        values[option] = value
    return values


def read_log_tail(fd: int = LOG_FD) -> bytes:
    data = b""
    while len(data) <= LOG_MAX:
        chunk = os.read(fd, LOG_MAX + 1 - len(data))
        if not chunk:
            break
        data += chunk
    os.close(fd)
    return data[-LOG_MAX:]


def main(argv: list[str]) -> int:
    try:
        args = parse_args(argv)
    except PppupError as exc:
        audit.audit(None, "finish", {}, f"refused: {exc.message}")
        return EXIT_REFUSED
    if args["--audit-socket"] != audit.socket_path():
        audit.set_socket_path(args["--audit-socket"])
    problems: list[str] = []

    def step(name: str, action):
        try:
            return action()
        except Exception as exc:  # noqa: BLE001 - every step runs, problems are reported
            problems.append(f"{name}: {exc}")
            return None

    line_name, hold, reset_command = args["--line"], int(args["--dtr-hold-ms"]) / 1000, args["--reset"] or None
    statedir = StateDir(args["--state-dir"])
    record = statedir.read_session(line_name)
    if not _is_ours(record):
        # Not ours to record or unlock: clean the line we hold and leave the
        # rest (our locks become stale when we exit; the next status removes them).
        step("line", lambda: Line.adopt(LINE_FD, f"fd {LINE_FD}").end_session(hold, reset_command,
                                                                              RESET_TIMEOUT_S))
        audit.audit(None, "release", {"line": line_name}, "the session record is missing or not this "
                    "supervisor's: line hung up, nothing recorded")
        return EXIT_REFUSED
    step("state", lambda: statedir.write_session(record._replace(phase="stopping")))
    log, reason, exit_status = _pppds_end(args, step)

    # DTR went low when pppd exited, unless the supervisor found no
    # modem-control lines (a pty) or failed: then drop_dtr tries itself.
    dropped_at = int(args["--dtr-ns"]) / 1e9 if args["--dtr"] == "dropped" else None
    line = step("line", lambda: Line.adopt(LINE_FD, record.device))
    dtr = reset = None
    if line is not None:
        dtr, reset, line_problems = line.end_session(hold, reset_command, RESET_TIMEOUT_S, dtr_dropped_at=dropped_at)
        problems += line_problems
    lockdir = step("lock dir", lambda: LockDir(args["--lock-dir"],
                                               serial_path=os.path.join(args["--state-dir"], "lockdir.lock")))
    if lockdir is not None:
        lock = step("unlock", lambda: UucpLock.held(lockdir, record.device, record.lock_names))
        if lock is not None:
            problems += [f"unlock {p}" for p in lock.release()]
        lockdir.close()

    ended = int(args["--ended-ns"]) / 1e9
    link_up = int(args["--link-up-ns"]) / 1e9
    end = EndRecord(line=line_name, owner_uid=record.owner_uid, user=record.user, account=record.account,
                    reason=_short(reason), exit_status=exit_status, started=record.since,
                    ended=int(time.time()), duration=max(0, int(ended - link_up)),
                    bytes_sent=log.bytes_sent, bytes_received=log.bytes_received, peer=record.peer)
    step("end record", lambda: statedir.write_end(end))
    step("remove record", lambda: statedir.remove_session(line_name))
    statedir.close()
    details = {"line": line_name, "account": record.account, "reason": reason, "dtr": dtr or "-"}
    if reset:
        details["reset"] = reset
    details["cleanup"] = f"{time.monotonic() - ended:.3f}s"     # pppd's exit -> line clean and recorded
    result = "cleaned up" if not problems else "cleaned up with problems: " + "; ".join(problems)
    audit.audit(Owner(record.owner_uid, record.user), "release", details, result)
    return EXIT_OK


def _is_ours(record: SessionRecord | None) -> bool:
    """The line's record names this very process (pid and start time: exec changes neither)."""
    me = os.getpid()
    return record is not None and record.supervisor_pid == me \
        and record.supervisor_start == procinfo.start_time(me)


def _pppds_end(args: dict[str, str], step) -> tuple[PppdLog, str, int | None]:
    """pppd's last log lines (byte counts) and its exit mapped to a reason."""
    from pppup_helper import pppd       # its log patterns: only here and where pppd starts
    log = pppd.PppdLog()
    data = step("pppd's log", read_log_tail)
    if data:
        log.feed(data)
        log.finish()
    reason, exit_status = pppd.exit_reason(int(args["--pppd-status"]))
    stop_signal = int(args["--stop-signal"])
    if stop_signal:
        reason = f"the supervisor got {_signal_name(stop_signal)}; {reason}"
    return log, reason, exit_status


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _short(text: str) -> str:
    clean = "".join(c if 0x20 <= ord(c) < 0x7f else "?" for c in text)
    return clean[:200]
