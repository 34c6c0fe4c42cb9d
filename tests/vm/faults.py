"""Guest side: the fault sweep's grid, its simulated world and accounts, and its results file.

The grid (tests/vm/test_faults.py; the runner is tests/vm/fault_sweep.py,
the observations tests/vm/observe.py): ten phases of the first seed's call-back
flow x four faults (SIGKILL of the client, of the helper or link supervisor,
of our pppd; the simulator dropping the carrier).  Each phase is reached
through its own number, whose far end keeps the phase open for seconds
(a dial that takes 60 s, a server that never sends its prompt, a call-back
that comes late, a far pppd that starts late, a far end that is frozen
while we hang up), so the trigger is an observation, never a sleep:

    line acquired        the session record appears        -> the client is frozen (SIGSTOP) at once,
    modem initialised    the modem's OK to AT&C0&D3S0=1    -> then checked: no AT yet / no ATD yet
    dialling             the simulator's `dial` event
    connected            the client prints CONNECT; the server says nothing
    logging in           the server's menu is out; the client waits for its prompt
    waiting for call-back   the client says the line stays ours for the call-back
    second login         the client says the call-back was answered
    pppd starting        the record says "starting" with pppd's pid; the far pppd starts late
    link up              the record says "up" (pppup has exited; --foreground when the client is the victim)
    pppdown in progress  our pppd's LCP Terminate-Request reached the modem (the far pppd is frozen)

Frozen clients are thawed right after the fault.  Then the cell converges:
the next `pppup status` (run at once, as the user) and the later state must
be the truth, and the line must end clean (`line_problems`): no session
record and no stray state file, no lock file, DTR low, the modem on-hook in
command mode with S0 and &C/&D as in its stored profile, no pppd at either
end, no ppp interface, no pppup process left; a fresh `pppup` then gets the
line at once.  Two cells keep the link instead of ending it (the client
killed while the helper starts pppd, and a --foreground client killed with
the link up): there the truth is "up, owned by the user", and pppdown must
then leave the line clean.

Each cell's result is appended to $PPPUP_VM_OUT/faults.json; the host turns
that into the table of docs/reliability.md (tests/reliability_report.py).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

from pppup_protocol import paths

from tests.flows.runner import FLOW_PEER, FlowUser, PolicyWriter, policy_text
from tests.flows.seeds import SEED1_ALIAS, SEED1_LOGIN_SCRIPT, SEED1_MENU_PROMPT, SEED1_USER
from tests.vm import wiring
from tests.vm.flows import CLIENT_PEER, client_number, isp_pppd, world_config
from tests.vm.observe import LINE, UART, Client

PHASES = ("line acquired", "modem initialised", "dialling", "connected", "logging in",
          "waiting for call-back", "second login", "pppd starting", "link up", "pppdown in progress")
FAULTS = ("client", "helper", "pppd", "carrier")
FAULT_TITLES = {"client": "SIGKILL client", "helper": "SIGKILL helper / supervisor",
                "pppd": "SIGKILL pppd", "carrier": "carrier drop"}
_NO_PPPD = "no pppd yet: it starts only after the login"
_NO_CALL = "no call on the line to lose: the modem has not dialled yet"
NOT_APPLICABLE: dict[tuple[str, str], str] = {
    **{(phase, "pppd"): _NO_PPPD for phase in PHASES[:7]},
    ("line acquired", "carrier"): _NO_CALL,
    ("modem initialised", "carrier"): _NO_CALL,
    ("waiting for call-back", "carrier"): "no call on the line to lose: the server has hung up and "
                                          "not called back yet (the modem waits on-hook for RING)",
}
# The cells that may keep the link (see the module docstring); all others must end free.
MAY_STAY_UP = {("pppd starting", "client"), ("link up", "client")}

FAULT_PEER = "pppt-faults"
# The admin's peer file for the sweep: the flow tests' one, plus LCP echoes.
# After a call-back the modem's DCD is forced on (&C0), and QEMU's UART has
# DCD always on anyway, so pppd learns of a lost carrier only from
# unanswered echoes; an admin sets this for any call-back account.
FAULT_PEER_TEXT = CLIENT_PEER.replace("lcp-echo-interval 0\n", "lcp-echo-interval 1\nlcp-echo-failure 3\n")
# The "pppdown in progress" phase freezes the far end so that our pppd's
# Terminate-Request goes unanswered for a while; with LCP echoes our pppd
# would soon give the link up by itself, so that phase's account uses the
# flow tests' peer file, which has none.
STOP_PEER = FLOW_PEER
CALLBACK_SETUP = "AT&C0&D3S0=1"          # what the dialer sends for a call-back account (dialer.py)
USER_PASSWORD = "s3cret"

# phase -> (number, the simulator's host for it, the account name)
NUMBERS = {
    "normal": "5556000", "slow dial": "5556001", "silent": "5556002", "menu never": "5556003",
    "late call-back": "5556004", "second login stalls": "5556005", "late pppd": "5556006", "busy": "5556009",
    "stop": "5556000",          # the normal server again, through the peer without LCP echoes
}
PHASE_NUMBER = {
    "line acquired": "normal", "modem initialised": "normal", "dialling": "slow dial", "connected": "silent",
    "logging in": "menu never", "waiting for call-back": "late call-back",
    "second login": "second login stalls", "pppd starting": "late pppd", "link up": "normal",
    "pppdown in progress": "stop",
}
PROBE_ACCOUNT = "probe"
CELL_TIMEOUT_S = 150.0          # reaching a phase, or converging after a fault


def account_name(number_key: str) -> str:
    return "f-" + number_key.replace(" ", "-")


def callback_host(**options: Any) -> dict[str, Any]:
    # One call-back attempt, 5 s to answer it: a call-back whose caller is gone
    # (a fault) is over quickly, so the next cell starts with no call pending.
    host = {"kind": "callback", "pppd": isp_pppd(), "callback_delay": 1.0, "callback_attempts": 1,
            "answer_timeout": 5.0,
            "users": {SEED1_USER: {"password": USER_PASSWORD, "callback": {SEED1_ALIAS: client_number(UART)}}}}
    host.update(options)
    return host


def sweep_world() -> dict[str, Any]:
    hosts = {
        "cb": callback_host(),
        "cb_menu": callback_host(menu_prompt="Pick one: "),              # our Expect never matches
        "cb_late": callback_host(callback_delay=20.0),
        "cb_password": callback_host(second_login="password"),          # waits for a name we never send
        "cb_late_pppd": callback_host(pppd=isp_pppd(delay=6.0)),
        # says nothing after CONNECT (a wait, not a sleep: a wait ends with the call)
        "silent": {"kind": "script", "steps": [{"wait": "never sent", "timeout": 600.0}]},
    }
    numbers = {NUMBERS["normal"]: {"host": "cb"},
               NUMBERS["slow dial"]: {"host": "cb", "delay": 60.0},
               NUMBERS["silent"]: {"host": "silent"},
               NUMBERS["menu never"]: {"host": "cb_menu"},
               NUMBERS["late call-back"]: {"host": "cb_late"},
               NUMBERS["second login stalls"]: {"host": "cb_password"},
               NUMBERS["late pppd"]: {"host": "cb_late_pppd"},
               NUMBERS["busy"]: {"outcome": "busy"}}
    return world_config(1, numbers, hosts)


def callback_account(number: str, peer: str = FAULT_PEER) -> str:
    return (f'line = "{LINE}"\npeer = "{peer}"\nphone = "{number}"\nlogin_script = \'\'\'\n'
            f"{SEED1_LOGIN_SCRIPT}'''\n[login]\nuser = \"{SEED1_USER}\"\n"
            f'[callback]\nmenu_prompt = "{SEED1_MENU_PROMPT}"\nwait = 60\n[redial]\nattempts = 1\n')


def write_accounts(user: FlowUser) -> None:
    for key, number in NUMBERS.items():
        if key != "busy":
            user.write(f"{account_name(key)}.toml",
                       callback_account(number, STOP_PEER if key == "stop" else FAULT_PEER))
    user.write(f"{PROBE_ACCOUNT}.toml", f'line = "{LINE}"\npeer = "{FAULT_PEER}"\nphone = "{NUMBERS["busy"]}"\n'
                                        "[redial]\nattempts = 1\n")


def install_fault_peer() -> None:
    os.makedirs(paths.PEERS_DIR, exist_ok=True)
    path = os.path.join(paths.PEERS_DIR, FAULT_PEER)
    with open(path, "w") as f:
        f.write(FAULT_PEER_TEXT)
    os.chmod(path, 0o644)


def write_fault_policy(users: list[str]) -> PolicyWriter:
    """One line, both peers: the sweep's (LCP echoes) and the flow tests' (none; see STOP_PEER)."""
    text = policy_text({LINE: wiring.uart(UART)}, pty=False, users=users, peer=FAULT_PEER)
    text = text.replace(f"[peers.{FAULT_PEER}]\n", f"[peers.{FAULT_PEER}]\n[peers.{STOP_PEER}]\n")
    text = text.replace(f'peers = ["{FAULT_PEER}"]', f'peers = ["{FAULT_PEER}", "{STOP_PEER}"]')
    writer = PolicyWriter()
    writer.write(text)
    return writer


# ------------------------------------------------------------------ a cell
@dataclass
class CellResult:
    phase: str
    fault: str
    round: int = 1
    outcome: str = "not run"            # "free", "kept up" (then pppdown), "FAILED"
    converged: bool = False
    seconds: float | None = None        # fault -> clean (or -> truthful "up" for kept links)
    first_status: str | None = None     # what the next `pppup status` said
    client_exit: int | None = None
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)    # the helpers' syslog lines about the fault's clean-up
    wall: float | None = None           # the whole cell: reaching the phase, the fault, converging, the probe

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reached:
    """A phase reached: what the fault needs to know."""
    client: Client
    frozen: bool = False
    record: dict[str, Any] | None = None
    foreground: bool = False
    mark: int = 0                        # the simulator's event log before the cell
    pppdown: Client | None = None
    far_pppd: int | None = None          # frozen far-end pppd (pppdown phase)


# ------------------------------------------------------------------ results file
def results_path() -> str:
    return os.path.join(os.environ.get("PPPUP_VM_OUT") or "/tmp", "faults.json")


def save_cell(result: CellResult, path: Callable[[], str] = results_path) -> None:
    target = path()
    try:
        with open(target) as f:
            data = json.load(f)
    except (OSError, ValueError):
        data = {"started": time.strftime("%Y-%m-%d %H:%M"), "cells": []}
    data["cells"] = [c for c in data["cells"]
                     if (c["phase"], c["fault"], c.get("round", 1)) != (result.phase, result.fault, result.round)]
    data["cells"].append(result.as_dict())
    data["finished"] = time.strftime("%Y-%m-%d %H:%M")
    tmp = target + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1)
    os.replace(tmp, target)
