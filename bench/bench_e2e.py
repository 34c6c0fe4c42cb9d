"""bench-e2e: pppup against Debian's pon/poff, end to end, in the test VM, against the same ISP.

    .venv/bin/python bench/bench_e2e.py [--runs N]          (host, root, after make install)

One guest, one simulated ISP (the second seed's: PAP, real pppd at the far
end), one UART line, in the same run, alternating:

- up: from starting the command to the link carrying IPv4 (our ppp0 has
  its address, polled every 5 ms by ioctl, the same way for both):
    pppup   `pppup pap` as a user in group pppup: the installed client runs
            the second seed's chat script (the account's chat_file), the
            setuid helper starts pppd, PAP secret through the plugin;
    pon     `pon bench-pon` as a user in group dip: Debian's setuid pppd
            with `connect "/usr/sbin/chat -f /etc/chatscripts/bench-seed2"`
            (the same script, byte for byte) and `user alice` (the secret in
            /etc/ppp/pap-secrets, where the simulated ISP's is too);
  the pppd options are the same (the flow tests' peer file, and Debian's
  /etc/ppp/options under both).
- down: from starting `pppdown` / `poff bench-pon` until the line is free:
  no LCK..ttyS1 and DTR low (read from the UART driver), polled the same way.

The simulator's built-in delays (ATD -> the ISP answers -> CONNECT, taken
from its event log per run) are subtracted from the up times and reported.
The chat script's own `\\d` after CONNECT (1 s) is in both.  pppd, when it
runs a connect script on a device it opened itself (pon), first drops DTR
for 1 s (pppd tty.c: "in case modem is off hook"); that second is pon's,
and is shown separately.  Medians of the runs.  Results go to
docs/benchmarks.md, section "End to end".
"""
from __future__ import annotations

import argparse
import fcntl
import json
import os
import platform
import re
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SIOCGIFADDR = 0x8915
LOCK = "/var/lock/LCK..ttyS1"
PON_PEER = "bench-pon"
PON_CHAT = "/etc/chatscripts/bench-seed2"
PON_USER = "pppt-dip"
PPPUP_ACCOUNT = "pap"
DELAYS = {"dial": 0.3, "ring_interval": 0.5, "connect": 0.3}


# ------------------------------------------------------------------ guest side
def ppp0_address(sock: socket.socket) -> str | None:
    try:
        data = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, struct.pack("256s", b"ppp0"))
    except OSError:
        return None
    return socket.inet_ntoa(data[20:24])


def line_free() -> bool:
    from tests.vm import wiring
    return not os.path.lexists(LOCK) and "DTR" not in wiring.uart_signals(1)


def wait_for(condition, timeout: float, what: str, interval: float = 0.005) -> float:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench-e2e: {what} did not happen within {timeout:.0f} s")
        time.sleep(interval)
    return time.monotonic()


def guest_setup() -> tuple[Any, Any, Any]:
    from tests.flows.seeds import SEED2_CHAT_SCRIPT
    from tests.vm.flows import CLIENT_PEER, create_user, install_peer, write_policy
    install_peer()
    ann = create_user("pppt-ann")
    ann.write("seed2.chat", SEED2_CHAT_SCRIPT)
    ann.write("alice.secret", "s3cret\n")
    ann.write(f"{PPPUP_ACCOUNT}.toml", 'line = "line1"\npeer = "pppt-flows"\nchat_file = "seed2.chat"\n'
                                      '[auth]\nuser = "alice"\nsecret_file = "alice.secret"\n')
    dip = create_user(PON_USER, in_group=False)
    subprocess.run(["usermod", "-a", "-G", "dip", PON_USER], check=True, capture_output=True)
    dip_gid = int(subprocess.run(["getent", "group", "dip"], capture_output=True, text=True,
                                 check=True).stdout.split(":")[2])
    os.makedirs(os.path.dirname(PON_CHAT), exist_ok=True)
    with open(PON_CHAT, "w") as f:
        f.write(SEED2_CHAT_SCRIPT)
    peer = os.path.join("/etc/ppp/peers", PON_PEER)
    with open(peer, "w") as f:
        f.write(f"# bench-e2e: pon's side, the same options as pppup's peer file\n/dev/ttyS1\n115200\n"
                f'connect "/usr/sbin/chat -f {PON_CHAT}"\nuser alice\n{CLIENT_PEER}')
    for path in (PON_CHAT, peer):
        os.chown(path, 0, dip_gid)
        os.chmod(path, 0o640)
    policy = write_policy([ann.name])
    return ann, dip, policy


def one_run(kind: str, world: Any, ann: Any, dip: Any, sock: socket.socket) -> dict[str, Any]:
    from tests.flows.runner import PPPDOWN, PPPUP
    from tests.vm.observe import pppd_pids
    mark = world.mark()
    wait_for(lambda: line_free() and not pppd_pids() and world.state("L1")["call"] is None, 60, "a quiet line")
    result: dict[str, Any] = {"kind": kind}
    up_argv = ann.argv(PPPUP, PPPUP_ACCOUNT) if kind == "pppup" else dip.argv("/usr/bin/pon", PON_PEER)
    started = time.monotonic()
    proc = subprocess.Popen(up_argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    up_at = wait_for(lambda: ppp0_address(sock) is not None, 180, f"{kind}: link up")
    out, err = proc.communicate(timeout=120)
    exited = time.monotonic()
    if proc.returncode != 0:
        raise SystemExit(f"bench-e2e: {kind} exited {proc.returncode}: {out}{err}")
    dial = world.wait_event("dial", source="L1", after=mark, timeout=5)
    connect = world.wait_event("connect", source="L1", after=mark, timeout=5)
    first_command = world.wait_event("command", source="L1", after=mark, timeout=5)
    result.update(up=up_at - started, exited=exited - started, sim_delay=connect.t - dial.t,
                  first_command=first_command.t - started, connect_to_up=up_at - connect.t,
                  address=ppp0_address(sock))
    if kind == "pppup":
        found = re.search(r"PPP up in ([0-9.]+) s", err)
        result["pppup_ppp_seconds"] = float(found.group(1)) if found else None
    dtr = [(round(e.t - started, 3), e.data["high"]) for e in world.events(kind="dtr", source="L1", after=mark)
           if e.t < dial.t]
    result["dtr_before_dial"] = dtr
    # a drop and a rise again before the first AT: pppd's "in case modem is off hook" pulse
    result["dtr_pulse_before_dial"] = any(not high for _, high in dtr) and \
        any(at < first_command.t - started for at, high in dtr if high)
    time.sleep(1.0)
    down_argv = ann.argv(PPPDOWN) if kind == "pppup" else dip.argv("/usr/bin/poff", PON_PEER)
    started = time.monotonic()
    proc = subprocess.Popen(down_argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    free_at = wait_for(line_free, 60, f"{kind}: line free")
    out, err = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"bench-e2e: the {kind} down command exited {proc.returncode}: {out}{err}")
    result["down"] = free_at - started
    # when our pppd put its LCP Terminate-Request on the line: the command's own part ends there
    from tests.vm.observe import LCP_TERMINATE_REQUEST, first_arrival
    term = first_arrival(world.dte_log("L1", after=started), LCP_TERMINATE_REQUEST)
    result["down_to_terminate_request"] = term - started if term is not None else None
    result["down_exited"] = time.monotonic() - started
    return result


class DtrWatch:
    """DTR as the UART driver shows it, sampled every 2 ms in a thread (the
    simulator samples every 50 ms): for the warm-up runs only, to see pppd's
    DTR pulse before its connect script, which is too quick for the simulator."""

    def __init__(self) -> None:
        import threading
        from tests.vm import wiring
        self.changes: list[tuple[float, bool]] = []
        self._stop = threading.Event()

        def watch() -> None:
            last = None
            while not self._stop.is_set():
                high = "DTR" in wiring.uart_signals(1)
                if high != last:
                    self.changes.append((time.monotonic(), high))
                    last = high
                time.sleep(0.002)
        self._thread = threading.Thread(target=watch, daemon=True)

    def __enter__(self) -> "DtrWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def pulse_seconds(changes: list[tuple[float, bool]], before: float) -> float:
    """The longest DTR-low stretch that ended (DTR up again) before `before`."""
    longest, low_since = 0.0, None
    for at, high in changes:
        if at >= before:
            break
        if not high:
            low_since = at
        elif low_since is not None:
            longest = max(longest, at - low_since)
            low_since = None
    return longest


def startup_costs(ann: Any | None, runs: int = 5) -> dict[str, float]:
    """What starting a program costs here (median wall seconds): explains Python's share of the gap."""
    commands = {"sh -c true": ["/bin/sh", "-c", "true"],
                "python3.11 -I -S -c pass": ["/usr/bin/python3.11", "-I", "-S", "-c", "pass"],
                "pppup --help (the client's imports)": ["/usr/local/bin/pppup", "--help"],
                "poff with no pppd running (its own start-up)": ["/usr/bin/poff"]}
    if ann is not None:
        commands["pppup status (client + setuid helper)"] = ann.argv("/usr/local/bin/pppup", "status")
    costs = {}
    for name, argv in commands.items():
        times = []
        for _ in range(runs):
            started = time.monotonic()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
            times.append(time.monotonic() - started)
        costs[name] = statistics.median(times)
    return costs


def guest_main(runs: int, out: Path) -> int:
    from pppup_sim import World
    from tests.vm.flows import isp_pppd, world_config
    from tests.vm.link import Netns
    ann, dip, policy = guest_setup()
    hosts = {"isp": {"kind": "isp", "pppd": isp_pppd("require-pap"), "pap_secrets": {"alice": "s3cret"}}}
    results = []
    try:
        with Netns("isp"), World(world_config(1, {"8765432": {"host": "isp"}}, hosts, DELAYS)) as world, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            warm_up = {}
            for kind in ("pppup", "pon"):          # warm-up: page cache, first imports; DTR watched closely
                with DtrWatch() as watch:
                    started = time.monotonic()
                    first = one_run(kind, world, ann, dip, sock)
                warm_up[kind] = pulse_seconds(watch.changes, started + first["first_command"])
            costs = startup_costs(ann)
            for index in range(runs):
                order = ("pppup", "pon") if index % 2 == 0 else ("pon", "pppup")
                for kind in order:
                    results.append(one_run(kind, world, ann, dip, sock))
                    print(json.dumps(results[-1]), flush=True)
    finally:
        policy.restore()
    (out / "bench-e2e.json").write_text(json.dumps({"runs": results, "delays": DELAYS, "dtr_pulse": warm_up,
                                                    "guest_costs": costs}, indent=1))
    return 0


# ------------------------------------------------------------------ host side
def median(values: list[float]) -> float:
    return statistics.median(values)


def render(data: dict[str, Any], load: float, accel: str, host_costs: dict[str, float]) -> str:
    runs = data["runs"]
    by = {kind: [r for r in runs if r["kind"] == kind] for kind in ("pppup", "pon")}

    def med(kind: str, key: str) -> float:
        values = [r[key] for r in by[kind] if r.get(key) is not None]
        return statistics.median(values) if values else float("nan")

    def net(kind: str) -> float:
        return statistics.median([r["up"] - r["sim_delay"] for r in by[kind]])

    n = len(by["pppup"])
    pulse = data["dtr_pulse"].get("pon", 0.0)
    up_ratio = net("pppup") / net("pon")
    strict = net("pppup") / (net("pon") - pulse) if pulse > 0.5 else up_ratio
    down_ratio = med("pppup", "down") / med("pon", "down")

    def row(label: str, key: str, ratio: str = "", target: str = "") -> str:
        return f"| {label} | {med('pppup', key):.2f} | {med('pon', key):.2f} | {ratio} | {target} |"

    lines = [
        "## End to end: pppup vs pon/poff (bench/bench_e2e.py, `make bench-e2e`)",
        "",
        f"One guest (QEMU {accel}, 2 vCPUs), one UART, the second seed's PAP ISP (real pppd at the far end), "
        f"{n} runs of each, alternating, after one warm-up each; medians in seconds.  Host: {os.cpu_count()} "
        f"CPUs, Python {platform.python_version()}, load {load:.2f} at start.  Simulator delays: dial "
        f"{data['delays']['dial']} s + training {data['delays']['connect']} s (measured ATD -> CONNECT, "
        f"subtracted per run: pppup {med('pppup', 'sim_delay'):.2f}, pon {med('pon', 'sim_delay'):.2f}); "
        "the chat script's `\\d` after CONNECT (1 s) is in both.",
        "",
        "| measure | pppup | pon / poff | ratio | target |",
        "|---|---|---|---|---|",
        row("command -> link up (our ppp0 has its address)", "up"),
        f"| ... minus the simulator's delays | {net('pppup'):.2f} | {net('pon'):.2f} | {up_ratio:.2f} | "
        f"≤ 1.2: {'met' if up_ratio <= 1.2 else 'missed'} |",
        f"| ... with pon's {pulse:.1f} s DTR pulse taken out too | {net('pppup'):.2f} | "
        f"{net('pon') - pulse:.2f} | {strict:.2f} | (stricter view) |",
        row("of which: command -> first AT on the line", "first_command"),
        row("of which: CONNECT -> link up (chat's 1 s `\\d`, PPP)", "connect_to_up"),
        f"| pppup's own count: start_pppd -> IP up | {med('pppup', 'pppup_ppp_seconds'):.2f} | | | |",
        row("pppdown / poff -> line free (no LCK..ttyS1, DTR low)", "down", f"{down_ratio:.2f}",
            f"≤ 1: {'met' if down_ratio <= 1 else 'missed'}"),
        row("of which: command -> our pppd's LCP Terminate-Request", "down_to_terminate_request"),
        "",
        f"pon's DTR pulse: pppd drops DTR for {pulse:.2f} s (seen at 2 ms resolution in the warm-up run) "
        "before it runs a connect script on a device it opened itself (pppd tty.c, \"in case modem is off "
        "hook\"); pppup's helper opens the line and the client dials at once.  Both hold DTR low for 1 s at "
        "the end (pppd's `modem` hang-up; the policy's default `dtr_hold`) before the lock goes.",
        "",
        "Program start-up, median wall seconds (what makes Python's share large under TCG):",
        "",
        "| command | in the guest (TCG) | on the host |",
        "|---|---|---|",
        *[f"| {name} | {cost:.3f} | {host_costs[name]:.3f} |" if name in host_costs else
          f"| {name} | {cost:.3f} | |" for name, cost in data["guest_costs"].items()],
        "",
        "Per run (up net of the simulator's delays / down):",
        "",
        *[f"- {r['kind']}: {r['up'] - r['sim_delay']:.2f} / {r['down']:.2f}" for r in runs],
    ]
    return "\n".join(lines)


def write_section(text: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    begin, end = "<!-- bench-e2e:begin -->", "<!-- bench-e2e:end -->"
    old = path.read_text() if path.exists() else "# pppup benchmarks\n"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in old and end in old:
        new = old[:old.index(begin)] + block + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new)


def host_main(runs: int) -> int:
    from tests import machine_lock
    from tests.vm.run import run_in_vm, use_kvm
    if os.geteuid() != 0:
        raise SystemExit("bench-e2e: run as root (it boots the VM and uses the installed pppup)")
    machine_lock.hold()          # nobody reinstalls pppup under the guest while it runs
    load = os.getloadavg()[0]
    host_costs = startup_costs(None)
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as out:
        result = run_in_vm([str(ROOT / ".venv/bin/python"), "bench/bench_e2e.py", "--guest", "--runs", str(runs),
                            "--out", out], timeout=300 + 120 * runs, out_dir=Path(out), cwd=str(ROOT),
                           env={"PYTHONPATH": "sim"}, lines=1)
        if result.exit_code != 0:
            raise SystemExit(f"bench-e2e: the guest run failed (exit {result.exit_code})")
        data = json.loads((Path(out) / "bench-e2e.json").read_text())
    text = render(data, load, "KVM" if use_kvm() else "TCG", host_costs)
    print(text)
    write_section(text)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", "5")))
    parser.add_argument("--guest", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.guest:
        return guest_main(options.runs, options.out)
    return host_main(options.runs)


if __name__ == "__main__":
    sys.exit(main())
