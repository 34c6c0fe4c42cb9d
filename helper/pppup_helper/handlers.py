"""One handler per operation, and the per-connection state they share.

A handler is thin: the request is already decoded and its permit checked;
the handler asks the policy, calls the session, and returns the answer.
Every decision is audited, secrets masked.  Dispatch is a dict from Op to
handler, never a lookup by name.  No traceback or repr reaches the client:
an unexpected exception is answered "internal error, see the system log"
and its type and place go to the audit log.
"""
from __future__ import annotations

import time
from collections import namedtuple
from collections.abc import Callable, Mapping

from pppup_protocol.codec import ProtocolError, Request, decode_request, encode_answer, encode_error
from pppup_protocol.errors import Code, PppupError
from pppup_protocol.ops import START_TIMEOUT_MAX, Op
from pppup_protocol.permits import Permits

TYPE_CHECKING = False
if TYPE_CHECKING:      # annotations only: typing costs every request ~3 ms of start-up
    from datetime import datetime
    from typing import Any

# How long the client may take to send its next request when it holds no
# line (a few seconds; it is a program, not a person typing).
REQUEST_SECONDS = 5.0
# Requests one connection may make: a real session needs a handful (status,
# acquire, a few hangups, start_pppd); the cap keeps a client that sends
# `status` every few seconds from holding a root process forever.
MAX_REQUESTS = 32


def _local_now() -> datetime:
    from datetime import datetime    # only decisions need the clock: status never imports datetime
    return datetime.now().astimezone()


class Backend(namedtuple("Backend", [
        "load_policy",       # () -> Policy
        "line_session",      # class with .acquire(policy, caller, grant, account)
        "line_status",       # (policy, caller) -> list
        "stop_links",        # (policy, caller, target: str | None, all_: bool) -> list
        "audit",             # (caller, op, fields: Mapping[str, str], result) -> None
        "now",               # () -> datetime (aware, local)
        ], defaults=(_local_now,))):
    """The helper parts the gate calls (policy and line); tests may pass their own."""
    __slots__ = ()


def real_backend() -> Backend:
    # Imported here so the policy parser (tomllib) and the session's cffi
    # module load only in the helper process, once.
    from . import audit, policy, session
    return Backend(policy.load_policy, session.LineSession, session.line_status, session.stop_links,
                   audit.audit)


class Reply(namedtuple("Reply", [
        "data",              # bytes: the answer datagram
        "fds",               # tuple[int, ...]: sent with it (SCM_RIGHTS), closed after
        "close",             # bool: end the connection after sending
        ], defaults=((), False))):
    __slots__ = ()


class Gate:
    """The state of one connection: who calls, the policy, the permits, the session."""

    def __init__(self, caller: Any, backend: Backend, admission: Any = None):
        self.caller = caller
        self.backend = backend
        self.admission = admission        # this request's slot (admission.py), if any
        self.permits = Permits()
        self.session: Any = None
        self.line_grant: Any = None
        self.pppd_running = False
        self.dial_deadline: float | None = None
        self.last_answer = time.monotonic()
        self.requests = 0
        self.policy: Any = None
        self.policy_error: PppupError | None = None
        try:
            self.policy = backend.load_policy()
        except PppupError as exc:
            # A broken or missing policy refuses everything, naming file:line.
            self.policy_error = exc

    # -- the server's questions --------------------------------------------
    def wait_deadline(self) -> float:
        """Until when (time.monotonic) the server waits for the next request."""
        if self.session is not None and not self.pppd_running and self.dial_deadline is not None:
            return self.dial_deadline
        return self.last_answer + REQUEST_SECONDS

    def dispatch(self, data: bytes) -> Reply:
        op_name = "?"
        try:
            self.requests += 1
            if self.requests > MAX_REQUESTS:
                raise ProtocolError(f"refused: more than {MAX_REQUESTS} requests on one connection")
            request = decode_request(data)
            op_name = request.op.value
            self.permits.check(request.op)
            if self.policy_error is not None:
                raise self.policy_error
            reply = HANDLERS[request.op](self, request)
            self._audit(op_name, request.for_audit(), "ok")
        except ProtocolError as exc:
            self._audit(op_name, {}, f"protocol violation: {exc.message}")
            reply = Reply(encode_error(exc.code, exc.message), close=True)
        except PppupError as exc:
            fields = request.for_audit() if op_name != "?" else {}
            self._audit(op_name, fields, f"refused ({exc.code.name}): {exc.message}")
            reply = Reply(encode_error(exc.code, exc.message))
        except Exception as exc:  # noqa: BLE001 - the one place that turns bugs into a safe answer
            self._audit(op_name, {}, f"internal error: {_where(exc)}")
            reply = Reply(encode_error(Code.FAILURE, "internal error in the pppup helper, see the system log "
                                       "(journalctl -t pppup-helper)"), close=True)
        self.last_answer = time.monotonic()
        return reply

    def dispatch_refusal(self, exc: ProtocolError) -> None:
        """A datagram refused before decoding (ancillary data, too long)."""
        self._audit("?", {}, f"protocol violation: {exc.message}")

    def log_failure(self, exc: BaseException) -> None:
        """Cleanup after the client went failed; nobody is left to answer."""
        self._audit("cleanup", {}, f"failed: {_where(exc)}: {exc}")

    def timed_out(self) -> None:
        """The client sent nothing before wait_deadline()."""
        if self.session is not None and not self.pppd_running:
            seconds = self.line_grant.dial_seconds if self.line_grant is not None else 0
            self._end_session(f"dial time limit: no pppd {seconds} s after acquire")
        elif self.pppd_running:
            self.session.supervise()

    def client_gone(self) -> None:
        """EOF (client exit, crash, Ctrl-C) or the connection was closed by us."""
        if self.pppd_running:
            self.session.supervise()
        elif self.session is not None:
            self._end_session("client disconnected")

    def _end_session(self, reason: str) -> None:
        session, self.session = self.session, None
        self.permits.lost_line()
        session.release(reason)

    def _audit(self, op: str, fields: Mapping[str, str], result: str) -> None:
        try:
            self.backend.audit(self.caller, op, fields, result)
        except Exception:  # noqa: BLE001 - syslog trouble must not crash the helper mid-session
            pass

    def require_session(self) -> Any:
        if self.session is None:
            raise PppupError("this connection holds no line (the session ended); start again", Code.LINE)
        return self.session


def _where(exc: BaseException) -> str:
    """Type and innermost place of an exception, for the log only."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    place = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}" if tb is not None else "?"
    return f"{type(exc).__name__} at {place}"


# -- handlers --------------------------------------------------------------
def handle_status(gate: Gate, request: Request) -> Reply:
    lines = gate.backend.line_status(gate.policy, gate.caller)
    return Reply(encode_answer({"lines": lines}))


def handle_acquire(gate: Gate, request: Request) -> Reply:
    line, account = request.fields["line"], request.fields["account"]
    grant = gate.policy.grant_line(gate.caller, line, account, gate.backend.now())
    session = gate.backend.line_session.acquire(gate.policy, gate.caller, grant, account)
    gate.session, gate.line_grant = session, grant
    gate.permits.granted(Op.ACQUIRE)
    gate.dial_deadline = time.monotonic() + grant.dial_seconds
    fd = session.client_fd()
    limits = {
        "rule": grant.rule,
        "peers": sorted(grant.peers),
        "flags": sorted(grant.flags),
        "idle": grant.idle,
        "maxconnect": grant.maxconnect,
        "window_end": grant.window_end.isoformat() if grant.window_end else None,
        "max_links": grant.max_links,
        "dial_attempts": grant.dial_attempts,
        "dial_seconds": grant.dial_seconds,
    }
    return Reply(encode_answer({"line": grant.line.name, "limits": limits}), fds=(fd,))


def handle_hangup(gate: Gate, request: Request) -> Reply:
    gate.require_session().hangup()
    return Reply(encode_answer({}))


def handle_start_pppd(gate: Gate, request: Request) -> Reply:
    session = gate.require_session()
    fields = request.fields
    # Decided on the policy as it is now, not as it was when the connection
    # started (up to dial_seconds ago): a grant revoked meanwhile, a policy
    # or a pppd file that became unsafe, refuses pppd.  Loading it again
    # also re-checks the peer file pppd is about to read (C3, C5).
    gate.policy = gate.backend.load_policy()
    grant = gate.policy.grant_pppd(gate.caller, gate.line_grant.line.name, fields["peer"], fields["flags"],
                                   gate.backend.now())
    # The client's wait is bounded by the protocol (START_TIMEOUT_MAX) and by
    # what is left of the dial phase.
    seconds = min(int(fields["timeout"]), START_TIMEOUT_MAX)
    deadline = time.monotonic() + seconds
    try:
        link = session.start_pppd(grant, fields["user"] or None, fields["secret"] or None, deadline)
    except PppupError:
        # start_pppd cleaned the line up; nothing is held any more.
        gate.session = None
        gate.permits.lost_line()
        raise
    gate.pppd_running = True
    if gate.admission is not None:
        # A supervisor is bounded by the policy's links, not by request slots.
        gate.admission.release()
    answer = {"ifname": link.ifname, "local": link.local, "remote": link.remote, "pppd_pid": link.pppd_pid,
              "idle": grant.idle, "maxconnect": grant.maxconnect, "rule": grant.rule}
    # From here this process is the link's supervisor: the connection ends.
    return Reply(encode_answer({"link": answer}), close=True)


def handle_release(gate: Gate, request: Request) -> Reply:
    session = gate.require_session()
    gate.session = None
    session.release("released by the client")
    return Reply(encode_answer({}))


def handle_stop(gate: Gate, request: Request) -> Reply:
    target = request.fields["target"] or None
    stopped = gate.backend.stop_links(gate.policy, gate.caller, target, bool(request.fields["all"]))
    return Reply(encode_answer({"stopped": stopped}))


HANDLERS: Mapping[Op, Callable[[Gate, Request], Reply]] = {
    Op.STATUS: handle_status,
    Op.ACQUIRE: handle_acquire,
    Op.HANGUP: handle_hangup,
    Op.START_PPPD: handle_start_pppd,
    Op.RELEASE: handle_release,
    Op.STOP: handle_stop,
}
