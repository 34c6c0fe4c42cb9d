"""The helper's I/O loop on fd 3: receive one request, answer it, until EOF.

Every wait on the client is bounded (poll with a monotonic deadline from the
Gate): a slow, silent or non-reading client cannot park a root process (M3).
Requests are received with a one-byte-larger buffer than the protocol allows
and a small ancillary buffer: a datagram that is too long (MSG_TRUNC), that
carries ancillary data, or whose ancillary data did not fit (MSG_CTRUNC) is
refused and ends the connection, and every fd that came with it is closed
first (F4; CVE-2014-3635, dbus 872b085f).  Answers are sent with
MSG_NOSIGNAL, so a client that hung up costs an EPIPE, not a SIGPIPE (S4).
"""
from __future__ import annotations

import array
import os
import select
import time

import _socket as socket      # the C module: socket.py costs every request ~2 ms (main.py)

from pppup_protocol.codec import MAX_REQUEST, ProtocolError, encode_error

from .handlers import Gate

# Room for a few fds: enough to see and close what a client attaches; more
# than this is cut by the kernel (MSG_CTRUNC), which closes the rest itself.
ANCILLARY_BUFFER = socket.CMSG_SPACE(4 * array.array("i").itemsize)
SEND_SECONDS = 5.0


class ClientTimeout(Exception):
    """The client did not send (or read) within the deadline."""


class Connection:
    """One SOCK_SEQPACKET connection to the client, non-blocking, with deadlines."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        sock.setblocking(False)

    def _wait(self, events: int, deadline: float) -> None:
        poller = select.poll()
        poller.register(self.sock.fileno(), events)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ClientTimeout()
            if poller.poll(max(1, int(left * 1000))):
                return

    def receive(self, deadline: float) -> bytes | None:
        """One request datagram, or None at end of connection."""
        while True:
            self._wait(select.POLLIN, deadline)
            try:
                data, ancdata, flags, _ = self.sock.recvmsg(MAX_REQUEST + 1, ANCILLARY_BUFFER,
                                                            socket.MSG_CMSG_CLOEXEC)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                return None
            received_fds = _close_received_fds(ancdata)
            if ancdata or flags & socket.MSG_CTRUNC:
                raise ProtocolError(f"refused: the request carried ancillary data "
                                    f"({received_fds} file descriptor(s), closed)")
            if flags & socket.MSG_TRUNC or len(data) > MAX_REQUEST:
                raise ProtocolError(f"refused: request longer than {MAX_REQUEST} bytes")
            # A zero-length read on SEQPACKET is the peer's close.
            return data or None

    def send(self, data: bytes, fds: tuple[int, ...], deadline: float) -> None:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        while True:
            self._wait(select.POLLOUT, deadline)
            try:
                self.sock.sendmsg([data], ancillary, socket.MSG_NOSIGNAL)
                return
            except BlockingIOError:
                continue

    def close(self) -> None:
        self.sock.close()


def _close_received_fds(ancdata: list[tuple[int, int, bytes]]) -> int:
    count = 0
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            for fd in fds:
                count += 1
                try:
                    os.close(fd)
                except OSError:
                    pass
    return count


def serve(conn: Connection, gate: Gate) -> None:
    """Serve requests until the client goes, the gate ends the connection, or a deadline passes.

    Fails closed: whatever goes wrong (a bug outside dispatch, a send that
    fails in a way nobody foresaw), the connection is closed and the gate is
    told the client is gone, so a held line is released (or a running link
    supervised) instead of the process exiting with the line locked and the
    client's descriptor alive."""
    try:
        _serve(conn, gate)
    except Exception as exc:  # noqa: BLE001 - the last word of a root process: log, never a traceback
        gate.log_failure(exc)
        try:
            conn.close()
            gate.client_gone()
        except Exception as again:  # noqa: BLE001 - cleanup itself failed: the audit log says where
            gate.log_failure(again)


def _serve(conn: Connection, gate: Gate) -> None:
    while True:
        try:
            data = conn.receive(gate.wait_deadline())
        except ClientTimeout:
            conn.close()
            gate.timed_out()
            return
        except ProtocolError as exc:
            gate.dispatch_refusal(exc)
            _send_quietly(conn, encode_error(exc.code, exc.message), ())
            conn.close()
            gate.client_gone()
            return
        if data is None:
            conn.close()
            gate.client_gone()
            return
        reply = gate.dispatch(data)
        try:
            delivered = _send_quietly(conn, reply.data, reply.fds)
        finally:
            for fd in reply.fds:
                os.close(fd)
        # A client that does not take its answer is gone as far as we care.
        if reply.close or not delivered:
            conn.close()
            gate.client_gone()
            return


def _send_quietly(conn: Connection, data: bytes, fds: tuple[int, ...]) -> bool:
    """Send an answer; False when the client is gone, does not read it in time,
    or its socket refuses it (any other OSError: e.g. EMSGSIZE after the
    client shrank SO_SNDBUF of the socket it handed us)."""
    try:
        conn.send(data, fds, time.monotonic() + SEND_SECONDS)
        return True
    except (ClientTimeout, OSError):
        return False
