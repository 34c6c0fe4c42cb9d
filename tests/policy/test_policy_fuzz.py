"""Hypothesis: any bytes, any text, any mutation of a good policy → a valid Policy
or PolicyErrors naming the file and line; never another exception (M8).
The long campaign (≥ 100,000 inputs) is `make fuzz` (tests/policy/fuzz_policy.py)."""
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from policy.mutations import CORPUS, check_outcome, mutate

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.mark.parametrize("seed", range(len(CORPUS)))
def test_corpus(world, seed):
    check_outcome(CORPUS[seed], world.policy, world.ppp)


def test_good_seeds_are_accepted(world):
    assert check_outcome(CORPUS[2], world.policy, world.ppp)
    assert check_outcome(CORPUS[5], world.policy, world.ppp)


@FUZZ
@given(st.binary(max_size=2000))
def test_any_bytes(world, data):
    check_outcome(data, world.policy, world.ppp)


@FUZZ
@given(st.text(max_size=2000))
def test_any_text(world, text):
    check_outcome(text.encode("utf-8", "surrogatepass"), world.policy, world.ppp)


@FUZZ
@given(st.integers(0, len(CORPUS) - 1), st.integers(0, 2**32 - 1))
def test_mutations(world, seed, salt):
    check_outcome(mutate(CORPUS[seed], random.Random(salt)), world.policy, world.ppp)


toml_values = st.recursive(
    st.one_of(st.integers(-2**64, 2**64), st.booleans(), st.floats(), st.text(max_size=30),
              st.sampled_from(["/dev/ttyS1", "bin", "adm", "isp", "modem1", "Mon-Fri 08:00-18:00", "4:65",
                               "debug", "ATZ"])),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.sampled_from(["device", "users", "groups", "lines", "peers", "flags", "idle", "hours", "pty",
                         "rdev", "x"]), children, max_size=4),
    max_leaves=20)


@FUZZ
@given(st.dictionaries(st.sampled_from(["version", "lines", "peers", "rules", "extra"]), toml_values, max_size=5))
def test_structured_documents(world, document):
    """Well-formed TOML of arbitrary shape reaches the schema validator."""
    check_outcome(_dump(document).encode(), world.policy, world.ppp)


def _dump(document, prefix=""):
    """A tiny TOML writer for the generated shapes (inline tables only)."""
    def value(item):
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, (int, float)):
            text = repr(item)
            return {"nan": "nan", "inf": "inf", "-inf": "-inf"}.get(text, text)
        if isinstance(item, str):
            return '"' + "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}"
                                 for c in item) + '"'
        if isinstance(item, list):
            return "[" + ", ".join(value(x) for x in item) + "]"
        return "{" + ", ".join(f"{k} = {value(v)}" for k, v in item.items()) + "}"
    return "".join(f"{key} = {value(item)}\n" for key, item in document.items())
