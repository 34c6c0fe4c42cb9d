"""The request decoder refuses everything but the exact schema; answers round-trip."""
import json

import pytest

from pppup_protocol.codec import (MAX_ANSWER, MAX_REQUEST, ProtocolError, decode_answer, decode_request,
                                  encode_answer, encode_error, encode_request)
from pppup_protocol.errors import Code, PppupError
from pppup_protocol.ops import REQUESTS, Op

GOOD_START = b"op=start_pppd\npeer=isp1\nflags=debug,novj\nuser=alice@isp\nsecret=s3cr et=x\ntimeout=60\n"


def test_status_decodes():
    req = decode_request(b"op=status\n")
    assert req.op is Op.STATUS and dict(req.fields) == {}


def test_start_pppd_decodes_every_kind():
    req = decode_request(GOOD_START)
    assert req.op is Op.START_PPPD
    assert req.fields == {"peer": "isp1", "flags": ("debug", "novj"), "user": "alice@isp",
                          "secret": "s3cr et=x", "timeout": 60}


def test_fields_in_any_order():
    req = decode_request(b"op=acquire\naccount=work\nline=modem1\n")
    assert req.fields == {"line": "modem1", "account": "work"}


def test_stop_bool_and_empty_target():
    req = decode_request(b"op=stop\ntarget=\nall=1\n")
    assert req.fields == {"target": "", "all": True}


@pytest.mark.parametrize("data, why", [
    (b"", "empty"),
    (b"\n", "first line"),
    (b"op=status", "newline"),
    (b"op=reboot\n", "unknown operation"),
    (b"op=STATUS\n", "unknown operation"),
    (b"op=status \n", "unknown operation"),
    (b" op=status\n", "first line"),
    (b"op=status\r\n", "printable"),
    (b"op=status\nx=1\n", "no field"),
    (b"op=status\n\n", "key=value"),
    (b"op=acquire\nline=modem1\n", "needs field"),
    (b"op=acquire\nline=modem1\nline=modem1\naccount=a\n", "twice"),
    (b"op=acquire\nline=modem1\naccount=a\ndevice=/dev/ttyS0\n", "no field"),
    (b"op=acquire\nline=modem1\naccount=a\nuid=0\n", "no field"),
    (b"op=acquire\nline=../../etc\naccount=a\n", "not allowed"),
    (b"op=acquire\nline=/dev/ttyS0\naccount=a\n", "not allowed"),
    (b"op=acquire\nline=-plugin\naccount=a\n", "not allowed"),
    (b"op=acquire\nline=.hidden\naccount=a\n", "not allowed"),
    (b"op=acquire\nline=Modem1\naccount=a\n", "not allowed"),
    (b"op=acquire\nline=modem 1\naccount=a\n", "not allowed"),
    (b"op=acquire\nline=modem1\naccount=" + b"a" * 33 + b"\n", "longer than 32"),
    (b"op=acquire\nline=modem1\naccount=\n", "not allowed"),
    (b"op=acquire\nline=mod\x00em\naccount=a\n", "printable"),
    (b"op=acquire\nline=mod\xc3\xa9m\naccount=a\n", "printable"),
    (b"op=acquire\nline=modem1\naccount=a\x1b[2J\n", "printable"),
    (b"\xef\xbb\xbfop=status\n", "printable"),
    (b"op=start_pppd\npeer=isp1\nflags=debug,debug\nuser=\nsecret=\ntimeout=5\n", "repeats"),
    (b"op=start_pppd\npeer=isp1\nflags=plugin /tmp/x.so\nuser=\nsecret=\ntimeout=5\n", "not a valid name"),
    (b"op=start_pppd\npeer=isp1\nflags=,\nuser=\nsecret=\ntimeout=5\n", "not a valid name"),
    (b"op=start_pppd\npeer=isp1\nflags=" + b",".join(b"f%d" % i for i in range(17)) + b"\nuser=\nsecret=\ntimeout=5\n",
     "more than 16"),
    (b"op=start_pppd\npeer=isp1\nflags=\nuser=a b\nsecret=\ntimeout=5\n", "not allowed"),
    (b"op=start_pppd\npeer=isp1\nflags=\nuser=\nsecret=" + b"x" * 129 + b"\ntimeout=5\n", "longer than 128"),
])
def test_refused(data, why):
    with pytest.raises(ProtocolError) as err:
        decode_request(data)
    assert why in str(err.value)
    assert err.value.code is Code.HELPER


@pytest.mark.parametrize("number", ["-1", "0x10", " 1", "1_0", "1e3", "\u0661\u0662", "+5", "", "12345678901",
                                    "0", "301", "4294967295", "00000000001"])
def test_strict_integers(number):
    data = f"op=start_pppd\npeer=isp1\nflags=\nuser=\nsecret=\ntimeout={number}\n".encode("utf-8")
    with pytest.raises(ProtocolError):
        decode_request(data)


def test_leading_zeros_within_ten_digits_are_one_number():
    data = b"op=start_pppd\npeer=isp1\nflags=\nuser=\nsecret=\ntimeout=0000000060\n"
    assert decode_request(data).fields["timeout"] == 60


@pytest.mark.parametrize("value", ["2", "true", "", "01"])
def test_strict_bools(value):
    with pytest.raises(ProtocolError):
        decode_request(f"op=stop\ntarget=\nall={value}\n".encode())


def test_size_is_checked_before_decoding():
    # A huge datagram full of bytes that would otherwise be refused for other
    # reasons: the size refusal must come first.
    with pytest.raises(ProtocolError, match="longer than 4096"):
        decode_request(b"\xff" * (MAX_REQUEST + 1))
    # Exactly at the cap the datagram is decoded (and refused for its content).
    padded = b"op=status\n" + b"x" * (MAX_REQUEST - 11) + b"\n"
    assert len(padded) == MAX_REQUEST
    with pytest.raises(ProtocolError, match="key=value"):
        decode_request(padded)


def test_not_bytes_refused():
    with pytest.raises(ProtocolError):
        decode_request("op=status\n")  # type: ignore[arg-type]


@pytest.mark.parametrize("op, values", [
    (Op.STATUS, {}),
    (Op.ACQUIRE, {"line": "modem1", "account": "work"}),
    (Op.HANGUP, {}),
    (Op.START_PPPD, {"peer": "isp1", "flags": ["debug"], "user": "", "secret": "", "timeout": 90}),
    (Op.RELEASE, {}),
    (Op.STOP, {"target": "modem1", "all": False}),
])
def test_encode_decode_round_trip(op, values):
    req = decode_request(encode_request(op, values))
    assert req.op is op
    expected = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    assert req.fields == expected


def test_encode_refuses_what_the_helper_would_refuse():
    with pytest.raises(ProtocolError):
        encode_request(Op.ACQUIRE, {"line": "modem1\nuid=0", "account": "a"})
    with pytest.raises(ProtocolError, match="missing"):
        encode_request(Op.ACQUIRE, {"line": "modem1"})
    with pytest.raises(ProtocolError, match="unknown"):
        encode_request(Op.STATUS, {"uid": 0})
    with pytest.raises(ProtocolError, match="bool"):
        encode_request(Op.STOP, {"target": "", "all": 1})


def test_audit_view_masks_the_secret():
    shown = decode_request(GOOD_START).for_audit()
    assert shown["secret"] == "<set>" and "s3cr" not in json.dumps(shown)
    assert shown["user"] == "<set>" and "alice@isp" not in json.dumps(shown)
    assert shown["flags"] == "debug,novj" and shown["timeout"] == "60"
    empty = decode_request(b"op=start_pppd\npeer=p\nflags=\nuser=\nsecret=\ntimeout=1\n").for_audit()
    assert empty["secret"] == "<empty>"


def test_every_op_has_a_schema():
    assert set(REQUESTS) == set(Op)


def test_answer_round_trip_and_error_code():
    assert decode_answer(encode_answer({"lines": []}))["lines"] == []
    with pytest.raises(PppupError) as err:
        decode_answer(encode_error(Code.BUSY, "line modem1 is busy"))
    assert err.value.code is Code.BUSY and err.value.message == "line modem1 is busy"


@pytest.mark.parametrize("data", [b"", b"[]", b'{"v":2,"ok":true}', b'{"v":1}', b'{"v":1,"ok":false}',
                                  b"\xff", b"x" * (MAX_ANSWER + 1)])
def test_bad_answers_are_protocol_errors(data):
    with pytest.raises(ProtocolError):
        decode_answer(data)


def test_unknown_error_code_maps_to_helper():
    with pytest.raises(PppupError) as err:
        decode_answer(b'{"v":1,"ok":false,"code":99,"message":"m"}')
    assert err.value.code is Code.HELPER


def test_oversized_answer_refused_on_encode():
    with pytest.raises(ProtocolError):
        encode_answer({"lines": ["x" * MAX_ANSWER]})
    assert len(encode_error(Code.FAILURE, "m" * 100000)) < MAX_ANSWER
