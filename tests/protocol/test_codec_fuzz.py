"""Hypothesis: any datagram either decodes to a request that obeys the schema,
or is refused with ProtocolError.  Never another exception (security.md M8)."""
import re

from hypothesis import given, settings, strategies as st

from pppup_protocol.codec import MAX_REQUEST, ProtocolError, decode_request, encode_request
from pppup_protocol.ops import REQUESTS, Kind, Op

from .mutations import CORPUS, mutate


def check_decoded(data: bytes) -> bool:
    """True when `data` decoded (and obeys the schema), False when refused."""
    try:
        req = decode_request(data)
    except ProtocolError:
        return False
    # Whatever decodes obeys the schema exactly.
    assert len(data) <= MAX_REQUEST
    specs = {spec.name: spec for spec in REQUESTS[req.op]}
    assert set(req.fields) == set(specs)
    for name, value in req.fields.items():
        spec = specs[name]
        if spec.kind is Kind.TEXT:
            assert isinstance(value, str) and len(value) <= spec.max_len
            assert re.fullmatch(spec.pattern, value, re.ASCII)
        elif spec.kind is Kind.INT:
            assert isinstance(value, int) and spec.minimum <= value <= spec.maximum
        elif spec.kind is Kind.BOOL:
            assert isinstance(value, bool)
        else:
            assert isinstance(value, tuple) and len(value) <= spec.max_items
            assert all(re.fullmatch(spec.pattern, tok, re.ASCII) for tok in value)
    # And re-encodes to an equivalent request.
    assert decode_request(encode_request(req.op, dict(req.fields))) == req
    return True


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=MAX_REQUEST + 64))
def test_random_bytes(data):
    check_decoded(data)


line = st.tuples(st.sampled_from(["op", "line", "account", "peer", "flags", "user", "secret", "timeout",
                                  "target", "all", "uid", "device", "x"]),
                 st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7f), max_size=40))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([op.value for op in Op]), st.lists(line, max_size=8))
def test_structured_requests(op, fields):
    text = f"op={op}\n" + "".join(f"{k}={v}\n" for k, v in fields)
    check_decoded(text.encode("ascii", "replace"))


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(CORPUS), st.randoms(use_true_random=False))
def test_mutated_corpus(seed, rng):
    check_decoded(mutate(seed, rng))
