"""Audit lines: escaped, length-limited, rate-limited, secrets hidden (X4), on a real socket."""
import re
import socket
import threading
import time
from types import SimpleNamespace

import pytest

from pppup_helper import audit


@pytest.fixture
def syslog_socket(tmp_path):
    path = str(tmp_path / "log")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(2)
    audit.set_socket_path(path)
    yield sock
    audit.set_socket_path(audit.DEFAULT_SOCKET)
    sock.close()


def alice():
    return SimpleNamespace(uid=1000, name="alice")


def test_one_line_per_decision_with_authpriv_info_priority(syslog_socket):
    audit.audit(alice(), "acquire", {"line": "modem1", "account": "work"}, "ok")
    packet = syslog_socket.recv(4096).decode()
    assert re.fullmatch(r"<86>\w{3} [ \d]\d \d\d:\d\d:\d\d pppup-helper\[\d+\]: "
                        r"uid=1000 user=alice op=acquire line=modem1 account=work result=ok", packet)


def test_control_characters_ansi_and_non_ascii_are_escaped(syslog_socket):
    evil = "x\ny\r\x1b[31mRED\x00\u00e9\u202e\\\" end"
    audit.audit(SimpleNamespace(uid=1001, name=evil), "acquire", {"account": evil}, evil)
    packet = syslog_socket.recv(4096)
    assert all(0x20 <= b < 0x7f for b in packet)
    text = packet.decode()
    assert '\\x0a' in text and '\\x1b' in text and '\\x00' in text and '\\x0d' in text
    assert '\\xe9' in text and '\\u202e' in text and '\\\\' in text and '\\"' in text


def test_values_and_lines_are_length_limited(syslog_socket):
    audit.audit(alice(), "acquire", {f"k{i}": "A" * 1_000_000 for i in range(20)}, "ok")
    packet = syslog_socket.recv(1 << 20).decode()
    body = packet.split(": ", 1)[1]
    assert len(body) <= audit.MAX_LINE + 80
    assert "A" * (audit.MAX_VALUE + 1) not in body and "..." in body


def test_secret_arguments_are_never_logged(syslog_socket):
    audit.audit(alice(), "start_pppd", {"peer": "isp", "secret": "hunter2", "password": "hunter2",
                                        "pap_pass": "hunter2"}, "ok")
    packet = syslog_socket.recv(4096).decode()
    assert "hunter2" not in packet and "secret=(hidden)" in packet and "peer=isp" in packet


def test_keys_cannot_inject_fields(syslog_socket):
    audit.audit(alice(), "acquire", {"line=x result": "ok\nuid=0"}, "denied")
    packet = syslog_socket.recv(4096).decode()
    assert packet.endswith("result=denied")
    assert "line_x_result=" in packet and "\n" not in packet


def test_flood_is_rate_limited_and_the_drop_is_reported(syslog_socket):
    got = []

    def drain():
        syslog_socket.settimeout(1.0)
        try:
            while True:
                got.append(syslog_socket.recv(4096).decode())
        except socket.timeout:
            pass
    reader = threading.Thread(target=drain)
    reader.start()
    for i in range(1000):
        audit.audit(alice(), "status", {"n": i}, "ok")
    reader.join()
    syslog_socket.settimeout(2)
    assert audit.BURST <= len(got) <= audit.BURST + 5
    audit.audit(alice(), "status", {}, "ok")
    last = syslog_socket.recv(4096).decode()
    assert "audit lines suppressed before" in last


def test_no_syslog_daemon_is_not_an_error(tmp_path):
    audit.set_socket_path(str(tmp_path / "nothing-here"))
    try:
        audit.audit(alice(), "status", {}, "ok")     # must not raise
    finally:
        audit.set_socket_path(audit.DEFAULT_SOCKET)


def test_caller_none_is_logged_as_unknown(syslog_socket):
    audit.audit(None, "hello", {}, "refused: bad socket")
    assert "uid=- user=- op=hello" in syslog_socket.recv(4096).decode()


def test_a_stuck_syslog_cannot_stall_the_helper(syslog_socket):
    for i in range(14):          # nobody reads: the queue (10 datagrams) fills up
        t0 = time.monotonic()
        audit.audit(alice(), "status", {"n": i}, "ok")
        assert time.monotonic() - t0 < audit.SEND_TIMEOUT + 0.2
