"""The `world` fixture: a fresh root-owned directory with a policy and a pppd directory."""
import os
import shutil
import tempfile

import pytest

from policy.support import World


@pytest.fixture
def world():
    if os.geteuid() != 0:
        pytest.skip("the policy loader requires root-owned files: run the tests as root")
    root = tempfile.mkdtemp(prefix="pppt-policy-", dir="/run")
    os.chmod(root, 0o755)
    try:
        yield World(root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
