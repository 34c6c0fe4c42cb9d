"""The finish step's argv (pppup_helper.finish): built by the helper and the C
supervisor, never by a user, and still taken only in exactly its form.  The
step itself runs in test_session.py (host) and the VM tests."""
import pytest

from pppup_protocol.errors import Code, PppupError
from pppup_helper import finish

GOOD = {
    "--line": "modem1", "--state-dir": "/run/pppup", "--lock-dir": "/var/lock", "--audit-socket": "/dev/log",
    "--dtr-hold-ms": "1000", "--reset": "ATZ", "--link-up-ns": "123456789",
    "--pppd-status": "1280", "--ended-ns": "223456789", "--dtr": "dropped", "--dtr-ns": "223456999",
    "--stop-signal": "0",
}


def argv(**over: str) -> list[str]:
    values = {**GOOD, **{f"--{k.replace('_', '-')}": v for k, v in over.items()}}
    return [item for pair in values.items() for item in pair]


def test_the_full_form_is_taken():
    assert finish.parse_args(argv()) == GOOD
    assert finish.parse_args(argv(reset=""))["--reset"] == ""          # no reset command
    assert finish.parse_args(argv(reset="at&f s0=0"))["--reset"] == "at&f s0=0"


@pytest.mark.parametrize("bad", [
    {"line": "../etc"}, {"line": "-d"}, {"state_dir": "relative"}, {"state_dir": "/run/with space"},
    {"audit_socket": ""}, {"dtr_hold_ms": "-1"}, {"dtr_hold_ms": "1e3"}, {"reset": "ATZ\r\nATH"},
    {"reset": "X" + "A" * 10}, {"reset": "AT" + "Z" * 59}, {"pppd_status": "0x10"}, {"ended_ns": " 1"},
    {"dtr": "raised"}, {"stop_signal": "100"}, {"link_up_ns": "١٢٣"},
])
def test_any_bad_value_is_refused(bad):
    with pytest.raises(PppupError) as e:
        finish.parse_args(argv(**bad))
    assert e.value.code == Code.HELPER


def test_missing_repeated_or_unknown_options_are_refused():
    full = argv()
    for broken in (full[:-2], full + ["--dtr", "none"], full[:-2] + ["--uid", "0"], full[:-1], []):
        with pytest.raises(PppupError):
            finish.parse_args(broken)
    repeated = full[:-2] + ["--line", "modem2"]      # right count, --line twice, --stop-signal missing
    with pytest.raises(PppupError):
        finish.parse_args(repeated)
