"""Guest side: the world of the user-flow tests and of `make demo`.

The client's lines are the guest's UARTs (line N = /dev/ttySN, simulator
modem on virtio port lineN).  The installed pppup (the host's `make install`,
seen read-only in the guest) runs as test users created in the guest's
throw-away /etc and /home.  The far ends are the simulator's hosts, each
running Debian's real pppd in network namespace `isp`; the client's pppd,
started by the helper, runs in the guest's own namespace, so a ping from
here to ISP_ADDRESS crosses the simulated phone line.
"""
from __future__ import annotations

import os
import pwd
import subprocess
import time
from typing import Any

import pytest

from pppup_protocol import paths

from tests.flows.runner import FLOW_PEER, FlowUser, PolicyWriter, locks_present, policy_text, session_record
from tests.vm import wiring
from tests.vm.link import Netns

CLIENT_ADDRESS, ISP_ADDRESS = "10.0.0.2", "10.0.0.1"
ISP_NUMBER, CALLBACK_NUMBER = "8765432", "5559000"

# The client's pppd options (the admin's peer file): no authentication of
# the ISP, quick LCP retries, no echo probes, no IPv6 (its neighbour
# discovery would count as traffic for the idle limit), no compression, no
# ip-up scripts from the guest's /etc/ppp.
CLIENT_PEER = """\
# pppup flow tests (VM)
noauth
lcp-echo-interval 0
lcp-restart 1
noipdefault
nodefaultroute
noipv6
noccp
novj
ip-up-script /bin/true
ip-down-script /bin/true
"""

# The far end's pppd, as `start_ppp` would exec it on a server (see sim/README "Remote pppd").
ISP_PPPD = ["ip", "netns", "exec", "isp", "/usr/sbin/pppd", "nodetach", "logfd", "2", "noauth", "local", "nocrtscts",
            "lcp-echo-interval", "0", "lcp-restart", "1", "noipv6", "noccp", "novj", "nodefaultroute",
            "ip-up-script", "/bin/true", "ip-down-script", "/bin/true", f"{ISP_ADDRESS}:{CLIENT_ADDRESS}"]
DELAYS = {"dial": 0.3, "ring_interval": 0.5, "connect": 0.3}


def client_number(line: int) -> str:
    return f"555000{line}"


def modem(line: int, **extra: Any) -> dict[str, Any]:
    return {"port": "uart", "uart": f"ttyS{line}", "vport": f"line{line}", "number": client_number(line),
            **extra}


def isp_pppd(*extra: str, delay: float = 0.0) -> list[str]:
    argv = ISP_PPPD + list(extra)       # after noauth: require-pap must win
    if delay:
        # a far end that is slow to start PPP (the "pppd starting" phase lasts)
        return ["sh", "-c", f'sleep {delay}; exec "$@"', "slow-pppd", *argv]
    return argv


def world_config(lines: int = 1, numbers: dict | None = None, hosts: dict | None = None,
                 delays: dict | None = None) -> dict[str, Any]:
    return {"delays": dict(delays or DELAYS),
            "modems": {f"L{n}": modem(n) for n in range(1, lines + 1)},
            "numbers": numbers or {}, "hosts": hosts or {}}


def create_user(name: str, in_group: bool = True) -> FlowUser:
    """A user in the guest's throw-away /etc (already there when test files share one guest)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", *(["-G", paths.GROUP] if in_group else []), name],
                       check=True, capture_output=True)
        entry = pwd.getpwnam(name)
    return FlowUser(name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def install_peer() -> str:
    os.makedirs(paths.PEERS_DIR, exist_ok=True)
    path = os.path.join(paths.PEERS_DIR, FLOW_PEER)
    with open(path, "w") as f:
        f.write(CLIENT_PEER)
    os.chmod(path, 0o644)
    return FLOW_PEER


def write_policy(users: list[str], lines: int = 1, admins: list[str] = (), extra_rule: str = "") -> PolicyWriter:
    writer = PolicyWriter()
    writer.write(policy_text({f"line{n}": wiring.uart(n) for n in range(1, lines + 1)}, pty=False,
                             users=users, admins=admins, extra_rule=extra_rule))
    return writer


def check_installed() -> None:
    """The guest runs the host's installation: say so plainly if it is missing."""
    for path in (paths.SHIM, "/usr/local/bin/pppup", "/usr/local/bin/pppdown"):
        if not os.path.exists(path):
            raise RuntimeError(f"{path} is missing: run `make install` on the host before the VM tests "
                               "(make test-vm and make demo do)")


def interface_addresses(ifname: str = "ppp0") -> tuple[str, str] | None:
    result = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", ifname], capture_output=True, text=True,
                            timeout=10)
    for word_index, word in enumerate(parts := result.stdout.split()):
        if word == "inet" and word_index + 3 < len(parts) and parts[word_index + 2] == "peer":
            return parts[word_index + 1], parts[word_index + 3].split("/")[0]
    return None


def ping_isp(count: int = 3) -> list[str]:
    result = subprocess.run(["ping", "-n", "-c", str(count), "-W", "5", ISP_ADDRESS], capture_output=True,
                            text=True, timeout=30 + 5 * count)
    replies = [line for line in result.stdout.splitlines() if "bytes from" in line]
    if len(replies) != count:
        raise AssertionError(f"ping {ISP_ADDRESS}: {len(replies)}/{count} replies\n{result.stdout}{result.stderr}")
    return replies


def dtr(line: int) -> bool:
    return "DTR" in wiring.uart_signals(line)


def assert_line_clean(world: Any, line: int, lock_names: list[str], after: int) -> None:
    """Record and locks gone, DTR dropped since `after` (the simulator saw it), the modem on-hook,
    in command mode and not auto-answering, and nobody holding DTR up any more."""
    assert session_record(f"line{line}") is None, session_record(f"line{line}")
    assert lock_names and locks_present(lock_names) == [], lock_names
    world.wait_event("dtr", source=f"L{line}", after=after, high=False, timeout=10)
    state = world.state(f"L{line}")
    assert (state["hook"], state["mode"], state["s"][0]) == ("on", "command", 0), state
    assert not dtr(line)


def wait_gone(path: str, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not os.path.lexists(path):
            return True
        time.sleep(0.05)
    return False


# ------------------------------------------------------------------ fixtures for tests/vm/test_flows_*.py
# (imported by name into each test file; every file runs in a fresh guest)

@pytest.fixture(scope="module")
def guest() -> Any:
    """The installed pppup, the client's peer file and the far end's namespace."""
    check_installed()
    install_peer()
    with Netns("isp") as isp:
        yield isp


@pytest.fixture(scope="module")
def ann(guest) -> FlowUser:
    return create_user("pppt-ann")


@pytest.fixture(scope="module")
def bob(guest) -> FlowUser:
    return create_user("pppt-bob")


@pytest.fixture(scope="module")
def adm(guest) -> FlowUser:
    return create_user("pppt-adm")
