"""The administrator's part of every import: the peer file and the policy snippet pass pppup-policy's checks.

The check is the helper's own (`check_policy`, what `pppup-policy check`
runs), on a private root-owned pppd directory holding the new peer file,
so the device, connect/init, persist/demand, pty and friends must really be
gone from it.  Needs root (the checks want root-owned files).
"""
from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from pppup_helper.policy import check_policy

from .support import kppp, peers, wvdial

PEERS = ["provider", "home", "myisp", "oldisp", "seedisp", "office", "mobile", "gprs-unset", "umts", "unfilled"]
WVDIAL = [("wvdial.conf", None), ("wvdial.conf", "shh"), ("wvdial.conf", "shell"), ("wvdial-3g.conf", None),
          ("wvdial-sticks.conf", "zte"), ("wvdial-quoted.conf", "backslash")]
KPPP = ["kppprc", "kppprc-callback", "kppprc-3g", "kppprc-installer"]


@pytest.fixture
def ppp_dir():
    if os.geteuid() != 0:
        pytest.skip("pppup-policy's checks want root-owned files: run as root")
    root = tempfile.mkdtemp(prefix="pppt-import-", dir="/run")
    os.chmod(root, 0o755)
    ppp = os.path.join(root, "ppp")
    os.makedirs(os.path.join(ppp, "peers"), mode=0o755)
    with open(os.path.join(ppp, "options"), "w") as options:
        options.write("lock\nhide-password\n")
    try:
        yield ppp
    finally:
        shutil.rmtree(root, ignore_errors=True)


def policy_accepts(result, ppp: str) -> None:
    peer = os.path.join(ppp, "peers", result.draft.peer)
    shutil.copyfile(result.file(".peer"), peer)
    os.chmod(peer, 0o644)
    snippet = result.file(".policy").read_bytes()
    policy, errors = check_policy(b"version = 1\n" + snippet, "/etc/pppup/policy.toml", ppp_dir=ppp)
    assert errors == [], "\n".join(str(error) for error in errors) + "\n" + snippet.decode()
    assert list(policy.lines) == [result.draft.line] and list(policy.peers) == [result.draft.peer]


@pytest.mark.root
@pytest.mark.parametrize("name", PEERS)
def test_peers_imports_pass_the_policy_check(name, tmp_path, ppp_dir):
    policy_accepts(peers(name, tmp_path), ppp_dir)


@pytest.mark.root
@pytest.mark.parametrize("file, section", WVDIAL)
def test_wvdial_imports_pass_the_policy_check(file, section, tmp_path, ppp_dir):
    policy_accepts(wvdial(file, section, tmp_path), ppp_dir)


@pytest.mark.root
@pytest.mark.parametrize("file", KPPP)
def test_kppp_imports_pass_the_policy_check(file, tmp_path, ppp_dir):
    for result in kppp(file, tmp_path):
        policy_accepts(result, ppp_dir)


@pytest.mark.root
def test_the_check_would_catch_a_peer_file_that_still_dials(tmp_path, ppp_dir):
    """The check above can fail: the same peer file with the old connect line is refused."""
    result = peers("home", tmp_path)
    with open(result.file(".peer"), "a") as peer:
        peer.write('connect "chat -f /etc/chatscripts/pap"\npersist\n')
    with pytest.raises(AssertionError, match="conflicts with pppup"):
        policy_accepts(result, ppp_dir)


def test_no_secret_reaches_a_file_that_is_not_a_secret_file(tmp_path):
    results = [peers("home", tmp_path / "a"), peers("office", tmp_path / "b"),
               wvdial("wvdial.conf", None, tmp_path / "c"), *kppp("kppprc", tmp_path / "d")]
    for result in results:
        secrets = [value for value in (result.draft.auth_secret, result.draft.login_password) if value]
        assert secrets, result.draft.name
        for output in result.plan.outputs:
            if output.secret:
                assert output.mode == 0o600
                continue
            for secret in secrets:
                assert secret.encode() not in output.data, (output.path, secret)
