"""The per-connection permit table: which operation may come when, and how often.

Like OpenSSH's monitor table (MON_PERMIT / MON_ONCE): one helper process
serves one connection, and each connection walks one short path:

    status*                            any time
    acquire                            once; not after stop
    hangup*                            while acquired, before pppd, not after release
    start_pppd                         once, after acquire, not after release
    release                            once, after acquire
    stop                               only on a connection that has not acquired

An operation counts as used when it is attempted, successful or not: a failed
acquire is not retried on the same connection (the client reconnects), so a
client can never replay a step.  A violation raises ProtocolError; the helper
answers it and closes the connection.
"""
from __future__ import annotations

from .codec import ProtocolError
from .ops import Op


class Permits:
    def __init__(self) -> None:
        self.acquired = False        # acquire was attempted
        self.holding = False         # acquire succeeded and nothing released the line since
        self.pppd_started = False    # start_pppd was attempted
        self.released = False        # release was attempted
        self.stopped = False         # stop was attempted

    def check(self, op: Op) -> None:
        """Raise ProtocolError unless `op` is permitted now; otherwise mark it used."""
        refusal = self._refusal(op)
        if refusal:
            raise ProtocolError(f"{op.value} refused: {refusal}")
        if op is Op.ACQUIRE:
            self.acquired = True
        elif op is Op.START_PPPD:
            self.pppd_started = True
        elif op is Op.RELEASE:
            self.released = True
            self.holding = False
        elif op is Op.STOP:
            self.stopped = True

    def _refusal(self, op: Op) -> str:
        if op is Op.STATUS:
            return ""
        if op is Op.ACQUIRE:
            if self.acquired:
                return "this connection has already asked for a line"
            if self.stopped:
                return "a connection that stopped links cannot acquire a line"
            return ""
        if op is Op.HANGUP:
            if not self.holding:
                return "this connection holds no line"
            if self.pppd_started:
                return "pppd owns the line now"
            return ""
        if op is Op.START_PPPD:
            if not self.holding:
                return "this connection holds no line"
            if self.pppd_started:
                return "pppd was already started on this connection"
            return ""
        if op is Op.RELEASE:
            if not self.holding:
                return "this connection holds no line"
            return ""
        if op is Op.STOP:
            if self.acquired:
                return "a connection that acquired a line cannot stop links; use a new connection"
            return ""
        return "unknown operation"

    def granted(self, op: Op) -> None:
        """Record that `op` succeeded (acquire: the line is now held)."""
        if op is Op.ACQUIRE:
            self.holding = True

    def lost_line(self) -> None:
        """The session ended on its own (dial time limit, start_pppd failure)."""
        self.holding = False
