"""Guest side of `make demo`: a user brings up a call-back dial-up link with pppup, uses it, ends it.

In the throw-away guest: a user `demo` (in group pppup), a policy giving
demo the UART line1 and the peer `demo-isp`, and demo's account `office`
with the first seed's KPPP login script verbatim.  The simulator plays the
modem on line1 and the seed's callback server, whose `start_ppp` runs
Debian's pppd in network namespace `isp`.  Then, as demo: `pppup office`
(dial, log in, ask for the call-back, hang-up, RING, second login, PPP),
a ping across the link, `pppup status`, `pppdown`, `pppup status`.

    .venv/bin/python -m tests.vm.run --lines 1 -- .venv/bin/python -m tests.vm.demo     (make demo)
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from typing import Any

from tests.flows.runner import PPPDOWN, PPPUP, FlowUser
from tests.flows.seeds import SEED1_ALIAS, SEED1_LOGIN_SCRIPT, SEED1_MENU_PROMPT, SEED1_USER
from tests.vm import flows
from tests.vm.link import Netns, Transcript

# Realistic enough to read like a call, short enough for a demo.
DELAYS = {"dial": 1.0, "ring_interval": 1.0, "connect": 1.0}
CALLBACK_DELAY = 2.0
RELOGIN_WAIT = 1.0          # the server's wait for an answer at each prompt of the second login ("trust")
ACCOUNT = f"""\
# ~/.config/pppup/accounts/office.toml: the KPPP seed's callback server
description = "office RAS: calls back"
line = "line1"
peer = "demo-isp"
phone = "{flows.CALLBACK_NUMBER}"
login_script = '''
{SEED1_LOGIN_SCRIPT}'''

[login]
user = "{SEED1_USER}"

[callback]
menu_prompt = "{SEED1_MENU_PROMPT}"
wait = 60
"""
POLICY = """\
version = 1

[lines.line1]
description = "the guest's second serial port, a simulated modem"
device = "/dev/ttyS1"

[peers.demo-isp]

[[rules]]
name = "demo"
users = ["demo"]
lines = ["line1"]
peers = ["demo-isp"]
idle = 600
"""

SERVER_STEPS = {
    "login-prompt": lambda d: "sends login:" + (" (after calling back)" if d.get("phase") else ""),
    "menu": lambda d: f"shows the call-back numbers of {d['user']}",
    "callback-chosen": lambda d: f"{d['user']} chose {d['alias']} ({d['number']}); hangs up",
    "callback-dial": lambda d: f"calls back {d['number']}",
    "login-ok": lambda d: f"{d['user']} logged in" + (" again" if d.get("phase") else ""),
    "shell-command": lambda d: f"runs {d['command']}",
    "pppd-start": lambda d: "starts pppd",
    "pppd-exit": lambda d: f"pppd exited ({d['status']})",
}
MODEM_EVENTS = {
    "dial": lambda d: f"dials {d['number']}",
    "connect": lambda d: f"CONNECT {d['speed']}",
    "no_carrier": lambda d: f"NO CARRIER ({d['cause']})",
    "ring": lambda d: "RING",
    "answer": lambda d: f"answers ({d['how']})",
    "hangup": lambda d: f"hangs up ({d['cause']})",
    "dtr": lambda d: f"DTR {'up' if d['high'] else 'down'}",
    "reset": lambda d: f"resets to its {d['profile']} profile ({d['how']})",
}


class Follower:
    """The simulator's events, as a person would tell them, into the transcript."""

    def __init__(self, world: Any, transcript: Transcript) -> None:
        self.world, self.transcript = world, transcript
        self.seen = world.mark()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.wait(0.1):
            self.flush()

    def flush(self) -> None:
        for event in self.world.events(after=self.seen):
            self.seen = max(self.seen, event.seq)
            if event.kind == "host" and event.data.get("step") in SERVER_STEPS:
                self.transcript.say("srv", SERVER_STEPS[event.data["step"]](event.data), at=event.t)
            elif event.source == "L1" and event.kind in MODEM_EVENTS:
                self.transcript.say("modem", MODEM_EVENTS[event.kind](event.data), at=event.t)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)
        self.flush()


def run_as(transcript: Transcript, user: FlowUser, *command: str) -> tuple[int, str]:
    """Run a command as the user; its output goes into the transcript line by line, as it comes."""
    shown = " ".join(os.path.basename(command[0]) if i == 0 else part for i, part in enumerate(command))
    transcript.say("demo", f"$ {shown}")
    proc = subprocess.Popen(user.argv(*command), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    output = []
    assert proc.stdout is not None
    for line in proc.stdout:
        output.append(line)
        transcript.say("demo", "  " + line.rstrip("\n"))
    return proc.wait(timeout=300), "".join(output)


def show_file(transcript: Transcript, path: str, text: str) -> None:
    transcript.say("setup", f"{path}:")
    for line in text.splitlines():
        print(f"           | {line}", flush=True)


def write_file(transcript: Transcript, path: str, text: str) -> None:
    """A root-owned configuration file (0644), shown in the transcript."""
    show_file(transcript, path, text)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o644)


def main() -> int:
    transcript = Transcript(sys.stdout)
    print("pppup demo: a user brings up a call-back dial-up link (the KPPP seed's script, verbatim),\n"
          "on a real serial port of this VM, to a simulated modem and callback server running real pppd.\n",
          flush=True)
    try:
        return scenario(transcript)
    except Exception as error:                 # a failed demo says so, under the transcript
        print(f"\nDEMO FAILED: {type(error).__name__}: {error}", flush=True)
        return 1


def scenario(transcript: Transcript) -> int:
    from pppup_sim import World
    flows.check_installed()
    demo = flows.create_user("demo")
    transcript.say("setup", "user demo created, in group pppup")
    os.makedirs("/etc/ppp/peers", exist_ok=True)
    write_file(transcript, "/etc/ppp/peers/demo-isp", flows.CLIENT_PEER)
    write_file(transcript, "/etc/pppup/policy.toml", POLICY)
    check = subprocess.run(["pppup-policy", "check"], capture_output=True, text=True, timeout=60)
    transcript.say("setup", f"# pppup-policy check: {check.stdout.strip() or check.stderr.strip()}")
    if check.returncode != 0:
        raise RuntimeError("the demo policy does not pass pppup-policy check")
    show_file(transcript, "~demo/.config/pppup/accounts/office.toml", ACCOUNT)
    demo.write("office.toml", ACCOUNT)
    hosts = {"cb": {"kind": "callback", "pppd": flows.isp_pppd(), "callback_delay": CALLBACK_DELAY,
                    "relogin_wait": RELOGIN_WAIT,
                    "users": {SEED1_USER: {"callback": {SEED1_ALIAS: flows.client_number(1)}}}}}
    config = flows.world_config(1, {flows.CALLBACK_NUMBER: {"host": "cb"}}, hosts, delays=DELAYS)
    with World(config) as world, Netns("isp"):
        transcript.say("setup", f"simulator: modem on /dev/ttyS1 (number {flows.client_number(1)}); the "
                       f"callback server answers {flows.CALLBACK_NUMBER} and calls {SEED1_ALIAS} back")
        print(flush=True)
        follower = Follower(world, transcript)
        try:
            started = time.monotonic()
            code, output = run_as(transcript, demo, PPPUP, "office", "-v")
            took = time.monotonic() - started
            if code != 0:
                raise RuntimeError(f"pppup exited {code}")
            follower.flush()
            transcript.say("demo", f"$ ping -c 3 {flows.ISP_ADDRESS}     (across the link)")
            for reply in flows.ping_isp(3):
                transcript.say("demo", "  " + reply)
            code, _ = run_as(transcript, demo, PPPUP, "status")
            code, stopped = run_as(transcript, demo, PPPDOWN)
            if code != 0:
                raise RuntimeError(f"pppdown exited {code}")
            time.sleep(0.5)
            follower.flush()
            run_as(transcript, demo, PPPUP, "status")
        finally:
            follower.stop()
        state = world.state("L1")
        answered = world.events(kind="answer", source="L1")
    built_in = (2 * DELAYS["dial"] + 2 * DELAYS["connect"] + CALLBACK_DELAY + 2 * RELOGIN_WAIT)
    counted = re.search(r"PPP up in ([0-9.]+) s \(([0-9.]+) s in all\)", output)
    own = f"; pppup's own count: {counted.group(2)} s, of it {counted.group(1)} s for pppd to bring IP up" \
        if counted else ""
    print(f"\nsummary: the call-back worked ({len(answered)} call answered by the modem itself, S0=1); "
          f"`pppup office` took {took:.1f} s from the command to a live link (Python start-up in this "
          f"emulated guest included{own}), "
          f"of which {built_in:.1f} s are the simulator's built-in delays (2 x dial {DELAYS['dial']:g} s, "
          f"2 x training {DELAYS['connect']:g} s, call-back delay {CALLBACK_DELAY:g} s, 2 x "
          f"{RELOGIN_WAIT:g} s at the second login's prompts); 3/3 pings; pppdown: "
          f"{stopped.strip().removeprefix('pppdown: ')}; afterwards the modem is on-hook, "
          f"auto-answer off (S0={state['s'][0]}), DTR {'up' if state['dtr'] else 'down'}.", flush=True)
    if state["s"][0] != 0 or state["hook"] != "on":
        raise RuntimeError(f"the modem was left in a bad state: {state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
