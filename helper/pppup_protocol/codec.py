"""Encode and decode one datagram of the helper protocol.

Requests (client -> root helper) are root attack surface, so their format is
as dull as possible: printable ASCII `key=value` lines, each ending in "\\n",
the first one `op=NAME`, then exactly the fields ops.REQUESTS lists for that
operation, in any order, each once.  The size is checked before anything
else; every value is checked against its field's length, pattern and range;
anything unexpected raises ProtocolError and the helper closes the connection.

Answers (root helper -> client) are small versioned JSON objects: the client
trusts the helper, but still checks the size and shape of what it gets.
"""
from __future__ import annotations

import json
import re
from collections import namedtuple
from collections.abc import Mapping, Sequence

from .errors import Code, PppupError
from .ops import ANSWER_VERSION, REQUESTS, Field, Kind, Op

TYPE_CHECKING = False
if TYPE_CHECKING:      # annotations only: typing costs the helper's every start-up ~3 ms
    from typing import Any

MAX_REQUEST = 4096    # bytes in one request datagram (the hard cap)
MAX_ANSWER = 65536    # bytes in one answer datagram (status of many lines fits)

_REQUEST_BYTES = re.compile(rb"[\x20-\x7e\n]+")
_KEY = re.compile(r"[a-z_]{1,16}", re.ASCII)
_INT = re.compile(r"[0-9]{1,10}", re.ASCII)
_OPS_BY_NAME = {op.value: op for op in Op}

FieldValue = str | int | bool | tuple[str, ...]


class ProtocolError(PppupError):
    """A datagram that breaks the protocol; the connection is closed after it."""

    code = Code.HELPER


class Request(namedtuple("Request", "op fields")):
    """A decoded request: its Op and {field name: FieldValue}."""
    __slots__ = ()

    def for_audit(self) -> dict[str, str]:
        """The request's fields as text for the audit log, secrets masked."""
        shown: dict[str, str] = {}
        for spec in REQUESTS[self.op]:
            value = self.fields[spec.name]
            if spec.secret:
                shown[spec.name] = "<set>" if value else "<empty>"
            elif isinstance(value, tuple):
                shown[spec.name] = ",".join(value)
            elif isinstance(value, bool):
                shown[spec.name] = "1" if value else "0"
            else:
                shown[spec.name] = str(value)
        return shown


def decode_request(data: bytes) -> Request:
    """Decode one request datagram or raise ProtocolError saying what is wrong."""
    if not isinstance(data, bytes):
        raise ProtocolError("malformed request: not bytes")
    if len(data) > MAX_REQUEST:
        raise ProtocolError(f"malformed request: longer than {MAX_REQUEST} bytes")
    if not data:
        raise ProtocolError("malformed request: empty")
    if _REQUEST_BYTES.fullmatch(data) is None:
        raise ProtocolError("malformed request: only printable ASCII and newlines are allowed")
    if not data.endswith(b"\n"):
        raise ProtocolError("malformed request: the last line does not end with a newline")
    lines = data.decode("ascii").split("\n")[:-1]
    op = _decode_op(lines[0])
    specs = {spec.name: spec for spec in REQUESTS[op]}
    raw: dict[str, str] = {}
    for line in lines[1:]:
        key, sep, value = line.partition("=")
        if not sep or _KEY.fullmatch(key) is None:
            raise ProtocolError("malformed request: every line must be key=value with a lower-case key")
        if key not in specs:
            raise ProtocolError(f"malformed request: {op.value} has no field {key!r}")
        if key in raw:
            raise ProtocolError(f"malformed request: field {key!r} given twice")
        raw[key] = value
    missing = [name for name in specs if name not in raw]
    if missing:
        raise ProtocolError(f"malformed request: {op.value} needs field(s) {', '.join(missing)}")
    return Request(op, {name: _decode_value(specs[name], raw[name]) for name in specs})


def _decode_op(line: str) -> Op:
    key, sep, name = line.partition("=")
    if key != "op" or not sep:
        raise ProtocolError("malformed request: the first line must be op=NAME")
    op = _OPS_BY_NAME.get(name)
    if op is None:
        raise ProtocolError("malformed request: unknown operation")
    return op


def _decode_value(spec: Field, value: str) -> FieldValue:
    if spec.kind is Kind.INT:
        # Strict digits before int(): int() would also take " 1", "1_0", "١".
        if _INT.fullmatch(value) is None:
            raise ProtocolError(f"malformed request: {spec.name} must be 1 to 10 digits")
        number = int(value)
        if not spec.minimum <= number <= spec.maximum:
            raise ProtocolError(
                f"malformed request: {spec.name} must be between {spec.minimum} and {spec.maximum}")
        return number
    if spec.kind is Kind.BOOL:
        if value not in ("0", "1"):
            raise ProtocolError(f"malformed request: {spec.name} must be 0 or 1")
        return value == "1"
    if len(value) > spec.max_len:
        raise ProtocolError(f"malformed request: {spec.name} is longer than {spec.max_len} characters")
    if spec.kind is Kind.LIST:
        tokens = tuple(value.split(",")) if value else ()
        if len(tokens) > spec.max_items:
            raise ProtocolError(f"malformed request: {spec.name} has more than {spec.max_items} items")
        for token in tokens:
            if spec.regex.fullmatch(token) is None:
                raise ProtocolError(f"malformed request: an item of {spec.name} is not a valid name")
        if len(set(tokens)) != len(tokens):
            raise ProtocolError(f"malformed request: {spec.name} repeats an item")
        return tokens
    if spec.regex.fullmatch(value) is None:
        raise ProtocolError(f"malformed request: {spec.name} has characters or a form that is not allowed")
    return value


def encode_request(op: Op, values: Mapping[str, FieldValue] | None = None) -> bytes:
    """Encode a request; it is decoded again so the client never sends what the helper refuses."""
    values = dict(values or {})
    lines = [f"op={op.value}"]
    for spec in REQUESTS[op]:
        if spec.name not in values:
            raise ProtocolError(f"cannot encode {op.value}: field {spec.name} is missing")
        lines.append(f"{spec.name}={_encode_value(spec, values.pop(spec.name))}")
    if values:
        raise ProtocolError(f"cannot encode {op.value}: unknown field(s) {', '.join(sorted(values))}")
    data = ("\n".join(lines) + "\n").encode("ascii", "replace")
    decode_request(data)
    return data


def _encode_value(spec: Field, value: FieldValue) -> str:
    if spec.kind is Kind.BOOL:
        if not isinstance(value, bool):
            raise ProtocolError(f"cannot encode {spec.name}: expected a bool")
        return "1" if value else "0"
    if spec.kind is Kind.INT:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ProtocolError(f"cannot encode {spec.name}: expected an int")
        return str(value)
    if spec.kind is Kind.LIST:
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise ProtocolError(f"cannot encode {spec.name}: expected a list of names")
        return ",".join(str(token) for token in value)
    if not isinstance(value, str):
        raise ProtocolError(f"cannot encode {spec.name}: expected a string")
    return value


def encode_answer(result: Mapping[str, Any]) -> bytes:
    """A successful answer; `result` holds plain JSON values (str, int, list, dict)."""
    return _encode_json({"v": ANSWER_VERSION, "ok": True, **result})


def encode_error(code: Code, message: str) -> bytes:
    """An error answer.  Messages are bounded so the datagram always fits."""
    return _encode_json({"v": ANSWER_VERSION, "ok": False, "code": int(code), "message": message[:2000]})


def _encode_json(obj: Mapping[str, Any]) -> bytes:
    data = json.dumps(obj, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode("ascii")
    if len(data) > MAX_ANSWER:
        raise ProtocolError(f"answer is longer than {MAX_ANSWER} bytes")
    return data


def decode_answer(data: bytes) -> dict[str, Any]:
    """Decode an answer; an error answer is raised as PppupError with the helper's code."""
    if len(data) > MAX_ANSWER:
        raise ProtocolError(f"the root helper sent an answer longer than {MAX_ANSWER} bytes")
    try:
        obj = json.loads(data.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"the root helper sent an answer that is not JSON: {exc}") from None
    if not isinstance(obj, dict) or obj.get("v") != ANSWER_VERSION or not isinstance(obj.get("ok"), bool):
        raise ProtocolError(f"the root helper sent an answer of an unknown version or shape "
                            f"(expected v={ANSWER_VERSION}); reinstall pppup so both sides match")
    if obj["ok"]:
        return obj
    code, message = obj.get("code"), obj.get("message")
    if not isinstance(code, int) or not isinstance(message, str):
        raise ProtocolError("the root helper sent an error answer without a code and message")
    try:
        known = Code(code)
    except ValueError:
        known = Code.HELPER
    raise PppupError(message, known)
