"""Admission slots (attack X1): per-uid and global caps, freed by process exit."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pppup_helper.admission import admit
from pppup_protocol.errors import Code, PppupError

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="admission files are root-owned")


@pytest.fixture
def base(tmp_path):
    os.chmod(tmp_path, 0o700)
    return str(tmp_path / "admission")


def test_per_uid_cap(base):
    held = [admit(1000, per_uid=3, total=10, base=base) for _ in range(3)]
    with pytest.raises(PppupError) as err:
        admit(1000, per_uid=3, total=10, base=base)
    assert err.value.code is Code.BUSY and "3 requests in progress" in err.value.message
    admit(1001, per_uid=3, total=10, base=base).release()     # another user is not affected
    held[0].release()
    admit(1000, per_uid=3, total=10, base=base).release()     # a freed slot is reusable


def test_global_cap(base):
    held = [admit(2000 + n, per_uid=3, total=4, base=base) for n in range(4)]
    with pytest.raises(PppupError, match="serving 4 requests"):
        admit(3000, per_uid=3, total=4, base=base)
    for admission in held:
        admission.release()


def test_slot_freed_when_the_process_dies(base):
    code = ("import sys, time; sys.path[:0] = %r; from pppup_helper.admission import admit; "
            "a = admit(4000, per_uid=1, total=5, base=%r); print('held', flush=True); time.sleep(30)")
    child = subprocess.Popen([sys.executable, "-c", code % (sys.path, base)], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "held"
        with pytest.raises(PppupError):
            admit(4000, per_uid=1, total=5, base=base)
    finally:
        child.kill()
        child.wait()
    admit(4000, per_uid=1, total=5, base=base).release()


def test_unsafe_directory_refused(base):
    os.mkdir(base, 0o777)
    os.chmod(base, 0o777)
    with pytest.raises(PppupError, match="not root-owned and private"):
        admit(1000, base=base)
