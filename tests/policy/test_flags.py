"""The built-in safe flag list, checked against Debian's real pppd 2.4.9."""
import os
import pty
import subprocess

import pytest

from pppup_helper.policy_companions import option_words
from pppup_helper.policy_flags import CONFLICTS, LINK_FLAGS, SAFE_FLAGS, SYSTEM_FLAGS

PPPD = "/usr/sbin/pppd"
# security.md O3: options that must never be user-selectable.
BANNED = ["plugin", "file", "call", "pty", "socket", "notty", "record", "logfile", "init", "connect",
          "disconnect", "welcome", "ip-up-script", "ip-down-script", "ipv6-up-script", "ipv6-down-script",
          "set", "unset", "nolock", "noauth", "privgroup", "ipparam", "linkname", "ifname", "unit",
          "persist", "demand", "updetach", "detach", "usehostname", "show-password", "dump", "dryrun",
          "proxyarp", "ktune", "replacedefaultroute", "multilink", "mp", "local", "modem", "login",
          "srp-use-pseudonym", "enable-session", "maxfail", "holdoff", "idle", "maxconnect"]


def test_lists_are_disjoint_and_complete():
    assert not set(LINK_FLAGS) & set(SYSTEM_FLAGS)
    assert set(SAFE_FLAGS) == set(LINK_FLAGS) | set(SYSTEM_FLAGS)
    assert set(SYSTEM_FLAGS) == {"defaultroute", "usepeerdns"}
    for pair in CONFLICTS:
        assert pair <= set(SAFE_FLAGS)


@pytest.mark.parametrize("flag", BANNED)
def test_banned_options_are_not_in_the_list(flag):
    assert flag not in SAFE_FLAGS


def test_flags_are_plain_words():
    for flag in SAFE_FLAGS:
        assert flag.replace("-", "").isalnum() and flag.islower() and not flag.startswith("-")


def _pppd(*args: str) -> subprocess.CompletedProcess:
    master, slave = pty.openpty()
    try:
        # /etc/ppp/options is read too; `logfd 2` last: a flag that took an argument
        # would swallow "logfd" and pppd would then refuse the stray "2" (exit 2).
        return subprocess.run([PPPD, "nodetach", *args, "logfd", "2"], stdin=slave, capture_output=True,
                              text=True, timeout=30, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    finally:
        os.close(master)
        os.close(slave)


@pytest.fixture(scope="module")
def pppd():
    if not os.access(PPPD, os.X_OK) or os.geteuid() != 0:
        pytest.skip("needs Debian's pppd and root")


def test_pppd_refuses_an_unknown_option(pppd):
    result = _pppd("pppt-no-such-option")
    assert result.returncode == 2 and "unrecognized option" in result.stderr


def test_pppd_refuses_a_missing_argument(pppd):
    # "idle" needs a number: it takes "logfd" as its argument and fails.
    assert _pppd("idle").returncode == 2


@pytest.mark.parametrize("flag", sorted(SAFE_FLAGS))
def test_real_pppd_takes_each_flag_without_an_argument(pppd, flag):
    """pppd parses options before it needs the kernel; on a host without /dev/ppp it
    then exits 4 (no PPP support) — proof the option line itself was accepted.
    In the VM (with /dev/ppp) `dryrun` would go further; exit 2 is the failure."""
    result = _pppd("dryrun", flag)
    assert result.returncode != 2, result.stderr
    assert "unrecognized option" not in result.stderr and "requires" not in result.stderr


def test_pppd_refuses_defaultroute_after_nodefaultroute(pppd):
    # Why CONFLICTS exists: pppd answers "defaultroute option is disabled".
    result = _pppd("nodefaultroute", "defaultroute")
    assert result.returncode == 2 and "defaultroute option is disabled" in result.stderr


def test_option_words():
    text = ('# comment\nnoauth  # trailing\nuser "a b"\nname \'x"y\'\nipparam a\\ b\n'
            'connect "chat -f /etc/x" # done\n  "quoted #not comment"\nword#hash\n')
    assert option_words(text) == [(2, "noauth"), (3, "user"), (3, "a b"), (4, "name"), (4, 'x"y'),
                                  (5, "ipparam"), (5, "a b"), (6, "connect"), (6, "chat -f /etc/x"),
                                  (7, "quoted #not comment"), (8, "word#hash")]
