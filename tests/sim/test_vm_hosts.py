"""The simulator's hosts with real pppd at the far end (VM: the host kernel has no PPP).

The client's line is the guest's UART ttyS1 (simulator modem A on virtio port
line1), driven by Debian's pppd + chat in network namespace `client`; the far
end's pppd runs on the host's own pty in namespace `isp`.  Checks that the
relay carries PPP both ways, that PAP secrets from the world config work,
that the KPPP seed's callback dialogue ends in a live link, and that the
client's hang-up (real DTR on the UART, `&D3`) ends the far end's pppd.
"""
from __future__ import annotations

import pytest

from pppup_sim import World

pytestmark = pytest.mark.vm

CLIENT, ISP = "10.0.0.2", "10.0.0.1"
ISP_NUMBER, CALLBACK_NUMBER, CLIENT_NUMBER = "8765432", "5559000", "5550001"
# The far end: pppd on its tty (stdin), in its own namespace.  `local`: a
# pty has no modem lines; no compression; quick LCP retries; `logfd 2`: its
# log becomes the simulator's pppd-log events.
ISP_PPPD = ["ip", "netns", "exec", "isp", "/usr/sbin/pppd", "nodetach", "logfd", "2",
            "noauth", "local",
            "nocrtscts", "lcp-echo-interval", "0", "lcp-restart", "1", "noccp", "novj",
            "nodefaultroute", "ip-up-script", "/bin/true", "ip-down-script", "/bin/true",
            f"{ISP}:{CLIENT}"]
# The second seed's chat script, verbatim.
SEED_CHAT = r"""ABORT "NO CARRIER"
ABORT "NO DIALTONE"
ABORT "ERROR"
ABORT "NO ANSWER"
ABORT "BUSY"
""    AT
OK-\d\d+++\d\d\c-OK   ATH0
OK    'AT&F\\Q3\\V1&D3M1#CC1'
OK     ATD8765432
CONNECT '\d\c'
"""
# The first seed's callback dialogue (its KPPP script), written for chat(8):
# `\c` sends nothing where the KPPP script only expects.
CALLBACK_CHAT = r"""ABORT BUSY
ABORT ERROR
''            AT&F&D3
OK            AT&C0S0=1DT5559000
CONNECT       ''
ogin:         userxyz
'for userxyz:' userxyz-home
ogin:         \c
assword:      \c
>             start_ppp
"""


def world_config(hosts: dict, numbers: dict) -> dict:
    return {"delays": {"dial": 0.2, "ring_interval": 0.5, "connect": 0.2},
            "modems": {"A": {"port": "uart", "uart": "ttyS1", "vport": "line1",
                             "number": CLIENT_NUMBER}},
            "hosts": hosts, "numbers": numbers}


def client_pppd(netns, tty: str, connect: str, *extra: str):
    from tests.vm.link import PPPD_COMMON, Pppd
    return Pppd("client", netns, [tty, *PPPD_COMMON, "modem", "connect", connect, *extra])


def run_link(world: World, connect: str, *extra: str) -> None:
    """Bring the client's link up, ping across, end it from the client; check the far end."""
    from tests.vm.link import Netns, ping
    with Netns("client") as client_ns, Netns("isp") as isp_ns:
        client = client_pppd(client_ns, world.tty_path("A"), connect, *extra)
        try:
            client.start()
            assert client_ns.wait_addresses(timeout=90) == (CLIENT, ISP), client.log
            assert isp_ns.wait_addresses(timeout=30) == (ISP, CLIENT)
            assert len(ping(client_ns, ISP, count=3)) == 3
            mark = world.mark()
            client.terminate()
            assert client.wait(timeout=60) == 5, client.log         # EXIT_USER_REQUEST
            far = world.wait_event("host", step="pppd-exit", after=mark, timeout=30)
            assert far.data["status"] in (5, 16), world.events(kind="host")   # terminated by peer / hang-up
            # the client's pppd drops DTR when it closes the UART: &D3 resets the modem
            world.wait_event("reset", source="A", after=mark, timeout=30, how="dtr")
            assert world.state("A")["hook"] == "on" and world.state("A")["s"][0] == 0
        finally:
            client.stop()
            # shown by pytest when the test fails
            print("client pppd:", *client.log, sep="\n  ")
            print("simulator:", *(str(e) for e in world.events()), sep="\n  ")


def test_isp_host_runs_real_pppd_with_pap_from_the_world(tmp_path):
    script = tmp_path / "seed.chat"
    script.write_text(SEED_CHAT)
    hosts = {"isp": {"kind": "isp", "pppd": ISP_PPPD + ["require-pap"],
                     "pap_secrets": {"alice": "s3cret"}}}
    with World(world_config(hosts, {ISP_NUMBER: {"host": "isp"}})) as world:
        run_link(world, f"/usr/sbin/chat -V -f {script}", "user", "alice")
        started = world.wait_event("host", step="pppd-start")
        assert "require-pap" in started.data["argv"]
        log = [e.data["line"] for e in world.events(kind="host", step="pppd-log")]
        assert any("PAP peer authentication succeeded for alice" in line for line in log), log


def test_callback_server_ends_in_a_live_link(tmp_path):
    script = tmp_path / "callback.chat"
    script.write_text(CALLBACK_CHAT)
    hosts = {"cb": {"kind": "callback", "pppd": ISP_PPPD, "callback_delay": 0.5,
                    "users": {"userxyz": {"callback": {"userxyz-home": CLIENT_NUMBER}}}}}
    with World(world_config(hosts, {CALLBACK_NUMBER: {"host": "cb"}})) as world:
        run_link(world, f"/usr/sbin/chat -V -t 60 -f {script}")
        assert world.wait_event("answer", source="A").data["how"] == "auto"
        dial = world.wait_event("host", step="callback-dial")
        assert dial.data["number"] == CLIENT_NUMBER
