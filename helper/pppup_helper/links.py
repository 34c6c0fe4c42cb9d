"""Every line's truth for status and pppdown, and convergence of stale sessions.

A session record whose supervisor is no longer the recorded process (dead,
or its pid recycled: the start time differs) is stale.  Any helper that
finds one converges it before answering (DEVELOPERS.md "Process model"):

  1. a leftover pppd is stopped through a verified pidfd (exe, uid 0, the
     recorded start time; the parent is not checked: it died);
  2. locks still naming the dead supervisor's pid are removed, even if that
     pid number is alive again (it is not the owner: the start time says so);
  3. with the line's lock taken for us, DTR is dropped, the reset command
     sent and the tty revoked, so the dead session's fds die too; if another
     program holds the line by now, the line is left alone;
  4. the record is replaced by an end record, and it is audited.

A corrupt record is no session (state.py) and is removed.
"""
from __future__ import annotations

import os
import time

from pppup_protocol import paths
from pppup_protocol.errors import Code, PppupError

from pppup_helper import audit, procinfo, uucplock
from pppup_helper.line import Device, Line, resolve_device
from pppup_helper.state import EndRecord, SessionRecord, StateDir
from pppup_helper.uucplock import LockBusy, LockDir, LockState, UucpLock

TYPE_CHECKING = False
if TYPE_CHECKING:      # annotations only: typing stays off the status path
    from typing import Any

STOP_WAIT_S = 10.0      # pppdown: how long the supervisor may take after pppd exits


# ------------------------------------------------------------ small pieces
def resolve(config: Any) -> Device:
    return resolve_device(config.device, config.rdev, config.pty)


def names_for(device: Device) -> tuple[str, ...]:
    node = os.lstat(device.path)
    if (node.st_dev, node.st_ino) != (device.st_dev, device.st_ino):
        raise PppupError(f"{device.path} changed while preparing to lock it; try again", Code.LINE)
    return uucplock.lock_names(device.path, node, device.aliases)


def supervisor_alive(record: SessionRecord) -> bool:
    return procinfo.is_same_process(record.supervisor_pid, record.supervisor_start)


def describe_holder(record: SessionRecord) -> str:
    since = time.strftime("%H:%M", time.localtime(record.since))
    return f"{record.user} (account {record.account}) since {since}"


def refuse_if_held(config: Any, statedir: StateDir) -> None:
    record = statedir.read_session(config.name)
    if record is not None and supervisor_alive(record):
        raise PppupError(f"line {config.name} is busy: held by {describe_holder(record)}; "
                         "try --wait", Code.BUSY)


def lock_line(config: Any, statedir: StateDir, lockdir: LockDir, device: Device,
              names: tuple[str, ...]) -> UucpLock:
    try:
        return UucpLock.acquire(lockdir, device.path, names)
    except LockBusy as exc:
        record = statedir.read_session(config.name)
        if record is not None and record.supervisor_pid == exc.holder.pid and supervisor_alive(record):
            raise PppupError(f"line {config.name} is busy: held by {describe_holder(record)}; "
                             "try --wait", Code.BUSY) from None
        raise PppupError(f"line {config.name} is busy: {exc.message}", Code.BUSY) from None


def count_links(policy: Any, statedir: StateDir, uid: int) -> int:
    count = 0
    for name in policy.lines:
        record = statedir.read_session(name)
        if record is not None and record.owner_uid == uid and supervisor_alive(record):
            count += 1
    return count


# ------------------------------------------------------------- converging
def converge_line(policy: Any, config: Any, statedir: StateDir, lockdir: LockDir,
                  caller: Any) -> str | None:
    """Clean up after a dead supervisor on this line; returns what was done, or None."""
    record = statedir.read_session(config.name)
    if record is None:
        if statedir.discard_invalid_session(config.name):   # corrupt: no session (Z4)
            return "removed an unreadable session record"
        return None
    if supervisor_alive(record):
        return None
    done: list[str] = []
    if record.pppd_pid is not None and record.pppd_start is not None:
        from pppup_helper import pppd      # only a dead link's leftover pppd needs it
        try:
            pidfd = pppd.verify(record.pppd_pid, record.pppd_start, supervisor_pid=None)
        except PppupError as exc:
            pidfd = None
            done.append(f"left pid {record.pppd_pid} alone ({exc.message})")
        if pidfd is not None:
            try:
                done.append(f"leftover pppd {pppd.terminate(pidfd)}")
            finally:
                os.close(pidfd)
    removed = uucplock.remove_locks_of(lockdir, record.lock_names, record.supervisor_pid)
    if removed:
        done.append(f"removed {len(removed)} lock(s) of the dead supervisor")
    done.append(_reset_line(config, record, statedir, lockdir))
    end = EndRecord(line=record.line, owner_uid=record.owner_uid, user=record.user,
                    account=record.account,
                    reason="the supervising helper died; a later helper cleaned up",
                    exit_status=None, started=record.since, ended=int(time.time()),
                    duration=max(0, int(time.time()) - record.link_start) if record.link_start else 0,
                    peer=record.peer)
    statedir.write_end(end)
    # Only the dead record: a helper that took the line meanwhile has its own.
    statedir.remove_session_if(config.name, record)
    result = "; ".join(done)
    audit.audit(caller, "converge", {"line": config.name, "owner": record.user,
                                     "account": record.account}, result)
    return result


def _reset_line(config: Any, record: SessionRecord, statedir: StateDir, lockdir: LockDir) -> str:
    """DTR drop, reset and revoke under our own lock; skipped if someone else holds the line."""
    try:
        device = resolve(config)
        if device.path != record.device:
            return f"line now resolves to {device.path}, not {record.device}: DTR left alone"
        lock = UucpLock.acquire(lockdir, device.path, names_for(device))
    except PppupError as exc:
        return f"DTR left alone ({exc.message})"
    try:
        line = Line.open(device)
        try:
            outcome = line.drop_dtr(config.dtr_hold, raise_again=bool(config.reset))
            if config.reset:
                outcome += "; " + line.send_reset(config.reset, 1.0)
            line.revoke()
            return outcome + "; revoked"
        finally:
            line.close()
    except (PppupError, OSError) as exc:
        return f"line cleanup failed: {exc}"
    finally:
        lock.release()


def _converge_quietly(policy: Any, config: Any, statedir: StateDir, lockdir: LockDir, caller: Any) -> None:
    try:
        converge_line(policy, config, statedir, lockdir, caller)
    except (PppupError, OSError):
        pass    # status still answers; the next acquire retries


# ----------------------------------------------------------------- status
def line_status(policy: Any, caller: Any, *, lock_dir: str = paths.LOCK_DIR,
                state_dir: str = paths.STATE_DIR) -> list[dict]:
    """Every policy line, as it really is now (stale records converged first)."""
    out = []
    with StateDir(state_dir) as statedir, \
            LockDir(lock_dir, serial_path=os.path.join(state_dir, "lockdir.lock")) as lockdir:
        for name in sorted(policy.lines):
            config = policy.lines[name]
            _converge_quietly(policy, config, statedir, lockdir, caller)
            out.append(_status_of(config, statedir, lockdir))
    return out


def _status_of(config: Any, statedir: StateDir, lockdir: LockDir) -> dict:
    entry: dict[str, Any] = {"line": config.name}
    record = statedir.read_session(config.name)
    if record is not None and supervisor_alive(record):
        entry.update(state=record.phase, user=record.user, account=record.account,
                     since=_iso(record.since), peer=record.peer)
        if record.phase == "up":
            entry.update(ifname=record.ifname, local=record.local_ip, remote=record.remote_ip,
                         link_start=_iso(record.link_start) if record.link_start else None)
            entry.update(_since_ip_up(record))
    else:
        entry["state"] = "free"
        try:
            device = resolve(config)
            for name in names_for(device):
                seen = lockdir.inspect(name, our_pid=-1)
                if seen.state is LockState.STALE:
                    # A dead process's lock (e.g. a helper killed before it
                    # recorded its session): nobody holds the line, say so truly.
                    with lockdir.serialised():
                        lockdir.remove_stale(seen, our_pid=-1)
                    continue
                if seen.state is LockState.HELD and seen.pid is not None:
                    entry.update(state="in use by another program",
                                 holder=uucplock.holder_of(seen.pid, name).describe())
                    break
                if seen.state is LockState.UNSAFE:
                    entry.update(state="blocked", problem=f"{lockdir.path}/{name} is {seen.detail}")
                    break
        except PppupError as exc:
            entry.update(state="unavailable", problem=exc.message)
    last = statedir.read_end(config.name)
    if last is not None:
        entry["last"] = {"user": last.user, "account": last.account, "reason": last.reason,
                         "ended": _iso(last.ended), "duration": last.duration,
                         "bytes_sent": last.bytes_sent, "bytes_received": last.bytes_received}
    return entry


def _since_ip_up(record: Any) -> dict:
    """The link's bytes since IP came up, as pppd counts them for the end record."""
    out = interface_counters(record.ifname)
    for key, base in (("bytes_sent", record.base_sent), ("bytes_received", record.base_received)):
        if key in out and base is not None:
            out[key] = max(0, out[key] - base)
    return out


def interface_counters(ifname: str | None) -> dict:
    """Live byte counters of the link's interface, from sysfs."""
    if not ifname:
        return {}
    out = {}
    for key, stat_name in (("bytes_sent", "tx_bytes"), ("bytes_received", "rx_bytes")):
        try:
            with open(f"/sys/class/net/{ifname}/statistics/{stat_name}", "rb") as f:
                text = f.read(32).strip()
            if text.isdigit():
                out[key] = int(text)
        except OSError:
            pass
    return out


def _iso(seconds: int | None) -> str | None:
    if seconds is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(seconds))


# ------------------------------------------------------------------- stop
def stop_links(policy: Any, caller: Any, target: str | None, all_: bool, *,
               lock_dir: str = paths.LOCK_DIR, state_dir: str = paths.STATE_DIR) -> list[dict]:
    """pppdown: stop the caller's link(s), a named line's, or all the caller may stop."""
    if target is not None and target not in policy.lines:
        raise PppupError(f"there is no line {target!r} in the policy; see `pppup status`", Code.NO_LINK)
    stopped: list[dict] = []
    refused: list[str] = []
    with StateDir(state_dir) as statedir, \
            LockDir(lock_dir, serial_path=os.path.join(state_dir, "lockdir.lock")) as lockdir:
        names = [target] if target is not None else sorted(policy.lines)
        for name in names:
            config = policy.lines[name]
            _converge_quietly(policy, config, statedir, lockdir, caller)
            record = statedir.read_session(name)
            if record is None or not supervisor_alive(record):
                continue
            mine = record.owner_uid == caller.uid
            if target is None and not all_ and not mine:
                continue
            if not policy.may_stop(caller, name, record.owner_uid):
                refused.append(name)
                continue
            stopped.append(_stop_one(caller, config, record, statedir, lockdir))
    if not stopped:
        if refused and target is not None:
            raise PppupError(f"{caller.name} may not stop the link on line {target}: it belongs to "
                             "another user and you are not an admin of that line", Code.DENIED)
        where = f"on line {target}" if target else ("that you may stop" if all_ else "of yours")
        raise PppupError(f"there is no link {where} to stop; see `pppup status`", Code.NO_LINK)
    return stopped


def _stop_one(caller: Any, config: Any, record: SessionRecord, statedir: StateDir,
              lockdir: LockDir) -> dict:
    if record.pppd_pid is None or record.pppd_start is None:
        # Before pppd there is a client dialling; it holds the line until it
        # gives up or its dial time limit runs out.
        result = {"line": config.name, "user": record.user, "account": record.account,
                  "stopped": False, "reason": "still dialling (no link yet); its dial time limit ends it"}
        audit.audit(caller, "stop", {"line": config.name, "owner": record.user}, "not stopped: dialling")
        return result
    from pppup_helper import pppd
    pidfd = pppd.verify(record.pppd_pid, record.pppd_start, supervisor_pid=record.supervisor_pid)
    how = "already gone"
    if pidfd is not None:
        try:
            how = pppd.terminate(pidfd)
        finally:
            os.close(pidfd)
    # Wait (bounded) until the supervisor has released the line.
    deadline = time.monotonic() + STOP_WAIT_S
    while statedir.session_file_exists(config.name) and time.monotonic() < deadline:
        current = statedir.read_session(config.name)
        if current is None or current.supervisor_pid != record.supervisor_pid \
                or not supervisor_alive(current):
            break
        time.sleep(0.05)
    current = statedir.read_session(config.name)
    if current is not None and current.supervisor_pid == record.supervisor_pid \
            and not supervisor_alive(current):
        # The supervisor died instead of cleaning up: do it here.
        _converge_quietly(None, config, statedir, lockdir, caller)
    end = statedir.read_end(config.name)
    result: dict[str, Any] = {"line": config.name, "user": record.user, "account": record.account,
                              "stopped": True, "pppd": how}
    if end is not None and end.started == record.since:
        result.update(reason=end.reason, duration=end.duration, bytes_sent=end.bytes_sent,
                      bytes_received=end.bytes_received, exit_status=end.exit_status)
    else:
        result["reason"] = "pppd stopped; the supervisor has not written its end record yet"
    audit.audit(caller, "stop", {"line": config.name, "owner": record.user, "account": record.account},
                f"pppd {how}")
    return result
