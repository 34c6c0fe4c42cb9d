"""The gate's server loop and handlers over a real SOCK_SEQPACKET socketpair:
framing, permits, deadlines, ancillary-data refusal, fd passing, error answers.
Policy and line parts are stand-ins here (gate_standins.py)."""
from __future__ import annotations

import array
import os
import socket
import sys
import threading
import time

import pytest

sys.path.insert(0, os.path.dirname(__file__))
from gate_standins import CALLER, make_backend  # noqa: E402

from pppup_helper import handlers, server  # noqa: E402
from pppup_protocol.codec import MAX_REQUEST, decode_answer, encode_request  # noqa: E402
from pppup_protocol.errors import Code, PppupError  # noqa: E402
from pppup_protocol.ops import Op  # noqa: E402

START = {"peer": "isp1", "flags": ["debug"], "user": "alice", "secret": "hunter2", "timeout": 30}


class Harness:
    def __init__(self, **backend_options):
        self.client, helper_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.backend, self.record = make_backend(**backend_options)
        self.gate = handlers.Gate(CALLER, self.backend)
        self.thread = threading.Thread(target=server.serve, args=(server.Connection(helper_end), self.gate),
                                       daemon=True)
        self.thread.start()
        self.client.settimeout(10)

    def call(self, op, values=None, fds=()):
        self.send(encode_request(op, values or {}), fds)
        return self.answer()

    def send(self, data, fds=()):
        anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
        self.client.sendmsg([data], anc)

    def answer(self):
        data, anc, flags, _ = self.client.recvmsg(70000, socket.CMSG_SPACE(16))
        fds = []
        for level, kind, payload in anc:
            arr = array.array("i")
            arr.frombytes(payload)
            fds.extend(arr)
        return data, fds

    def finished(self, timeout=10):
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def eof(self):
        """The helper closed the connection."""
        return self.client.recv(10) == b""


def ok(data):
    return decode_answer(data)


def error(data):
    with pytest.raises(PppupError) as err:
        decode_answer(data)
    return err.value


def test_status_then_eof():
    h = Harness()
    data, fds = h.call(Op.STATUS)
    assert ok(data)["lines"] == [{"line": "modem1", "state": "free"}] and fds == []
    h.client.close()
    assert h.finished()
    assert h.record.audit == [("status", {}, "ok")]


def test_acquire_passes_a_real_tty_fd_and_limits():
    h = Harness()
    data, fds = h.call(Op.ACQUIRE, {"line": "modem1", "account": "work"})
    answer = ok(data)
    assert answer["line"] == "modem1" and answer["limits"]["dial_seconds"] == 60
    assert answer["limits"]["peers"] == ["isp1"]
    assert len(fds) == 1 and os.isatty(fds[0])
    os.close(fds[0])
    h.client.close()
    assert h.finished()
    assert ("release", "client disconnected") in h.record.calls


def test_full_session_becomes_supervisor_and_secret_is_never_audited():
    h = Harness()
    _, fds = h.call(Op.ACQUIRE, {"line": "modem1", "account": "work"})
    os.close(fds[0])
    assert ok(h.call(Op.HANGUP)[0]) == {"v": 1, "ok": True}
    link = ok(h.call(Op.START_PPPD, START)[0])["link"]
    assert link["ifname"] == "ppp0" and link["pppd_pid"] == 1234
    assert h.eof(), "after start_pppd the helper ends the connection and supervises"
    assert h.finished()
    assert h.record.calls[-1] == ("supervise",)
    assert ("start_pppd", "isp1", "alice", "hunter2", 30) in h.record.calls
    assert "hunter2" not in repr(h.record.audit) and "'alice'" not in repr(h.record.audit)
    assert any(a[0] == "start_pppd" and a[1]["secret"] == "<set>" for a in h.record.audit)


def test_start_pppd_failure_releases_and_keeps_the_connection():
    h = Harness(fail_start=True)
    _, fds = h.call(Op.ACQUIRE, {"line": "modem1", "account": "work"})
    os.close(fds[0])
    err = error(h.call(Op.START_PPPD, START)[0])
    assert err.code is Code.PPP
    # The line is gone: hangup is now a permit violation, answered then closed.
    err = error(h.call(Op.HANGUP)[0])
    assert err.code is Code.HELPER and "holds no line" in err.message
    assert h.eof() and h.finished()


def test_policy_denial_is_answered_and_audited():
    h = Harness()
    err = error(h.call(Op.ACQUIRE, {"line": "modem9", "account": "work"})[0])
    assert err.code is Code.DENIED
    assert h.record.audit[-1][0] == "acquire" and "refused (DENIED)" in h.record.audit[-1][2]
    # acquire is once per connection, even a refused one
    assert error(h.call(Op.ACQUIRE, {"line": "modem1", "account": "work"})[0]).code is Code.HELPER
    assert h.eof()


@pytest.mark.parametrize("sequence", [
    [(Op.HANGUP, {})],
    [(Op.RELEASE, {})],
    [(Op.START_PPPD, START)],
    [(Op.STOP, {"target": "", "all": False}), (Op.ACQUIRE, {"line": "modem1", "account": "w"})],
])
def test_permit_violations_close_the_connection(sequence):
    h = Harness()
    for op, values in sequence[:-1]:
        ok(h.call(op, values)[0])
    op, values = sequence[-1]
    err = error(h.call(op, values)[0])
    assert err.code is Code.HELPER and "refused" in err.message
    assert h.eof() and h.finished()


def test_malformed_request_closes_and_releases_the_held_line():
    h = Harness()
    _, fds = h.call(Op.ACQUIRE, {"line": "modem1", "account": "work"})
    os.close(fds[0])
    h.send(b"op=acquire\nline=modem1\naccount=work\ndevice=/dev/ttyS0\n")
    err = error(h.answer()[0])
    assert err.code is Code.HELPER and "no field 'device'" in err.message
    assert h.eof() and h.finished()
    assert ("release", "client disconnected") in h.record.calls


def test_oversized_datagram_refused_before_decoding():
    h = Harness()
    h.send(b"op=status\n" + b"x" * MAX_REQUEST)
    err = error(h.answer()[0])
    assert "longer than 4096" in err.message
    assert h.eof() and h.finished()


@pytest.mark.parametrize("count", [1, 3, 250])
def test_fds_sent_to_the_helper_are_closed_and_refused(count):
    h = Harness()
    pipes = [os.pipe() for _ in range(count)]
    h.send(encode_request(Op.STATUS), [w for _, w in pipes])
    for _, w in pipes:
        os.close(w)
    err = error(h.answer()[0])
    assert "ancillary data" in err.message
    assert h.eof() and h.finished()
    # Every write end is closed everywhere (helper included): readers see EOF.
    for r, _ in pipes:
        os.set_blocking(r, False)
        assert os.read(r, 1) == b""
        os.close(r)


def test_silent_client_is_cut_off(monkeypatch):
    monkeypatch.setattr(handlers, "REQUEST_SECONDS", 0.3)
    h = Harness()
    started = time.monotonic()
    assert h.eof()
    assert h.finished() and time.monotonic() - started < 5


def test_dial_deadline_releases_the_line_even_if_the_client_stays():
    h = Harness(dial_seconds=1)
    _, fds = h.call(Op.ACQUIRE, {"line": "modem1", "account": "work"})
    os.close(fds[0])
    started = time.monotonic()
    assert h.eof()
    assert 0.8 < time.monotonic() - started < 5
    assert h.finished()
    assert any(c[0] == "release" and "dial time limit" in c[1] for c in h.record.calls)


def test_client_that_never_reads_cannot_park_the_helper(monkeypatch):
    monkeypatch.setattr(server, "SEND_SECONDS", 0.3)
    monkeypatch.setattr(handlers, "REQUEST_SECONDS", 0.5)
    h = Harness()
    h.client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    for _ in range(200):
        try:
            h.client.send(encode_request(Op.STATUS), socket.MSG_DONTWAIT)
        except (BlockingIOError, ConnectionResetError, BrokenPipeError):
            break
    assert h.finished(timeout=30)


def test_internal_error_answer_has_no_traceback_and_releases():
    h = Harness(crash_hangup=True)
    _, fds = h.call(Op.ACQUIRE, {"line": "modem1", "account": "work"})
    os.close(fds[0])
    err = error(h.call(Op.HANGUP)[0])
    assert err.code is Code.FAILURE and "internal error" in err.message
    assert "secret-internal-detail" not in err.message and "KeyError" not in err.message
    assert h.eof() and h.finished()
    assert "KeyError at" in h.record.audit[-1][2]
    assert ("release", "client disconnected") in h.record.calls


def test_policy_error_refuses_everything_with_file_and_line():
    broken = PppupError("/etc/pppup/policy.toml:7: unknown key 'lnes'; did you mean 'lines'?", Code.CONFIG)
    h = Harness(policy_error=broken)
    for op, values in [(Op.STATUS, {}), (Op.ACQUIRE, {"line": "modem1", "account": "w"})]:
        err = error(h.call(op, values)[0])
        assert err.code is Code.CONFIG and "policy.toml:7" in err.message
    assert not any(c[0] in ("acquire", "grant_line") for c in h.record.calls)


def test_stop_goes_to_stop_links():
    h = Harness()
    assert ok(h.call(Op.STOP, {"target": "modem1", "all": True})[0])["stopped"] == []
    assert ("stop", "modem1", True) in h.record.calls


def test_release_then_nothing_more():
    h = Harness()
    _, fds = h.call(Op.ACQUIRE, {"line": "modem1", "account": "work"})
    os.close(fds[0])
    ok(h.call(Op.RELEASE)[0])
    assert ("release", "released by the client") in h.record.calls
    assert error(h.call(Op.START_PPPD, START)[0]).code is Code.HELPER
    assert h.finished()
    assert [c for c in h.record.calls if c[0] == "release"] == [("release", "released by the client")]


def test_a_connection_has_a_request_budget(monkeypatch):
    monkeypatch.setattr(handlers, "MAX_REQUESTS", 5)
    h = Harness()
    for _ in range(5):
        ok(h.call(Op.STATUS)[0])
    err = error(h.call(Op.STATUS)[0])
    assert err.code is Code.HELPER and "more than 5 requests" in err.message
    assert h.eof() and h.finished()


def test_an_answer_the_socket_refuses_releases_the_line(monkeypatch):
    # EMSGSIZE (a client that shrank SO_SNDBUF of the socket it handed the
    # shim) is not one of the ways a client usually goes; it must still count
    # as the client gone, so the held line is released.
    h = Harness()
    _, fds = h.call(Op.ACQUIRE, {"line": "modem1", "account": "work"})
    os.close(fds[0])

    def refuse(self, data, fds, deadline):
        raise OSError(90, "Message too long")
    monkeypatch.setattr(server.Connection, "send", refuse)
    h.send(encode_request(Op.STATUS))
    assert h.finished()
    assert ("release", "client disconnected") in h.record.calls


def test_an_unforeseen_error_in_the_loop_still_releases_the_line(monkeypatch):
    h = Harness()
    _, fds = h.call(Op.ACQUIRE, {"line": "modem1", "account": "work"})
    os.close(fds[0])

    def broken(self, deadline):
        raise RuntimeError("a bug outside dispatch")
    monkeypatch.setattr(server.Connection, "receive", broken)
    h.send(encode_request(Op.STATUS))
    assert h.finished()
    assert ("release", "client disconnected") in h.record.calls
    assert any("RuntimeError" in a[2] for a in h.record.audit if a[0] == "cleanup")


def test_start_pppd_decides_on_the_policy_as_it_is_now():
    # The policy became invalid (or revoked the grant) while the user dialled:
    # pppd is not started on the snapshot the connection began with.
    h = Harness()
    _, fds = h.call(Op.ACQUIRE, {"line": "modem1", "account": "work"})
    os.close(fds[0])

    def broken():
        raise PppupError("policy.toml:3: now invalid", Code.CONFIG)
    h.gate.backend = h.gate.backend._replace(load_policy=broken)
    err = error(h.call(Op.START_PPPD, START)[0])
    assert err.code is Code.CONFIG
    assert not any(call[0] == "start_pppd" for call in h.record.calls)
    h.client.close()
    assert h.finished()
    assert ("release", "client disconnected") in h.record.calls
