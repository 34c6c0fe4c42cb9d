"""Guest side of the line VM tests: the policy, the peer file, the simulated
world, and a session "helper" process that dials and starts a real pppd.

The helper process runs the real LineSession (real /var/lock, /run/pppup,
UART, DTR, pppd, plugin) as root, as the installed helper would after the
gate's decisions; the test drives it and watches the simulator's events.
Once the link is up it becomes the installed link supervisor (exec, same
pid), whose finish step reports the cleanup in its audit line: `Syslog`
is a /dev/log of the test's own (the guest has no syslog daemon).
"""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
POLICY_DIR = "/run/pppup-vm-policy"
PEER = "pppup-vm-isp"
ISP_NUMBER = "8765432"
B_NUMBER = "5550002"
USER, SECRET = "alice", "s3cret pass"
LOCAL, REMOTE = "10.64.0.2", "10.64.0.1"

# Our side's peer file (/etc is a throw-away overlay in the guest).  LCP echo
# is on so a dead line is noticed; everything else as tests/vm/link.py.
PEER_TEXT = """\
115200
noauth
refuse-chap
refuse-mschap
refuse-mschap-v2
refuse-eap
lcp-echo-interval 1
lcp-echo-failure 3
lcp-restart 1
noipdefault
nodefaultroute
noccp
novj
ip-up-script /bin/true
ip-down-script /bin/true
"""

ISP_PPPD = ["ip", "netns", "exec", "isp", "/usr/sbin/pppd", "nodetach", "logfd", "2", "local", "auth",
            "require-pap", "name", "isp", "lcp-echo-interval", "0", "lcp-restart", "1", "noccp", "novj",
            f"{REMOTE}:{LOCAL}", "ip-up-script", "/bin/true", "ip-down-script", "/bin/true"]

WORLD = {
    "delays": {"dial": 0.2, "ring_interval": 0.5, "connect": 0.3},
    "modems": {
        "A": {"port": "uart", "uart": "ttyS1", "vport": "line1", "number": "5550001"},
        "B": {"port": "uart", "uart": "ttyS2", "vport": "line2", "number": B_NUMBER, "profile": "S0=1"},
    },
    "numbers": {ISP_NUMBER: {"host": "isp"}},
    "hosts": {"isp": {"kind": "isp", "pppd": ISP_PPPD, "pap_secrets": {USER: SECRET}}},
}


def policy_text(idle: int | None = None, maxconnect: int | None = None, dtr_hold: float | None = 0.5) -> str:
    """dtr_hold None: the policy's default (1 s)."""
    idle_line = (f"idle = {idle}\n" if idle else "") + (f"maxconnect = {maxconnect}\n" if maxconnect else "")
    hold_line = f"dtr_hold = {dtr_hold}" if dtr_hold is not None else "# dtr_hold: the default"
    return textwrap.dedent(f"""\
        version = 1
        [lines.modem1]
        device = "/dev/ttyS1"
        {hold_line}
        reset = "ATZ"
        admin_users = ["sys"]
        [peers.{PEER}]
        [[rules]]
        users = ["daemon", "bin", "sys"]
        lines = ["modem1"]
        peers = ["{PEER}"]
        dial_seconds = 120
        """) + idle_line


def prepare(idle: int | None = None, maxconnect: int | None = None, dtr_hold: float | None = 0.5) -> None:
    """Peer file, policy, the plugin at the installed path (guest overlay)."""
    with open(f"/etc/ppp/peers/{PEER}", "w") as f:
        f.write(PEER_TEXT)
    os.chmod(f"/etc/ppp/peers/{PEER}", 0o644)
    os.makedirs(POLICY_DIR, mode=0o755, exist_ok=True)
    with open(os.path.join(POLICY_DIR, "policy.toml"), "w") as f:
        f.write(policy_text(idle, maxconnect, dtr_hold))
    from pppup_protocol import paths
    if not os.path.exists(paths.PPPD_PLUGIN):
        raise RuntimeError(f"{paths.PPPD_PLUGIN} is missing: run `make install` on the host first")


def load_policy():
    from pppup_helper.policy import load_policy as load
    return load(os.path.join(POLICY_DIR, "policy.toml"))


def caller(name: str):
    import pwd
    from pppup_helper.policy import Caller
    pw = pwd.getpwnam(name)
    return Caller(uid=pw.pw_uid, gid=pw.pw_gid, groups=frozenset({pw.pw_gid}), name=name)


# -- the session helper process (python vm_line.py helper MODE ...) -----------
def _dial(fd: int, number: str) -> None:
    import termios
    import tty
    from tests.vm import wiring
    tty.setraw(fd)
    attrs = termios.tcgetattr(fd)
    attrs[2] |= termios.CLOCAL
    termios.tcsetattr(fd, termios.TCSANOW, attrs)
    for command, expect in (("ATZ", b"OK"), ("AT&D2", b"OK"), (f"ATDT{number}", b"CONNECT")):
        os.write(fd, command.encode() + b"\r")
        wiring.read_until(fd, command.encode() + b"\r", expect, timeout=30)


def helper(who: str, secret: str, number: str) -> None:
    from pppup_protocol.errors import PppupError
    from pppup_helper.harden import harden_process
    from pppup_helper.session import LineSession
    harden_process()          # as the installed helper: trimmed capabilities, no-new-privs
    policy = load_policy()
    now = datetime.now().astimezone()
    c = caller(who)
    s = LineSession.acquire(policy, c, policy.grant_line(c, "modem1", "work", now), "work")
    fd = s.client_fd()
    _dial(fd, number)
    os.close(fd)                     # the client hands over and goes
    try:
        link = s.start_pppd(policy.grant_pppd(c, "modem1", PEER, [], now), USER, secret,
                            time.monotonic() + 60)
    except PppupError as exc:
        print(json.dumps({"error": exc.message, "code": int(exc.code), "report": s.release_report}),
              flush=True)
        return
    print(json.dumps({"link": link._asdict(), "supervisor": os.getpid()}), flush=True)
    s.supervise()      # execs the installed link supervisor; the process ends with the link's cleanup


def start_helper(who: str, secret: str, number: str = ISP_NUMBER) -> subprocess.Popen:
    """The secret goes in on stdin, as it reaches the real helper in a datagram:
    never on an argv."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "sim")]))
    proc = subprocess.Popen([sys.executable, __file__, "helper", who, number], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)
    proc.stdin.write(secret + "\n")
    proc.stdin.close()
    return proc


def first_line(proc: subprocess.Popen, timeout: float = 120) -> dict:
    import select
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if select.select([proc.stdout], [], [], 1)[0]:
            line = proc.stdout.readline()
            if line:
                return json.loads(line)
            break
    raise AssertionError(f"helper said nothing; stderr: {proc.stderr.read()[-3000:] if proc.poll() is not None else '(running)'}")


def wait_for_exe(pid: int, exe: str, timeout: float = 30) -> None:
    """Until process `pid` runs `exe` (the helper has execed the supervisor)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.readlink(f"/proc/{pid}/exe") == exe:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} never became {exe}")


_AUDIT_FIELD = re.compile(r'([a-z_]+)=("(?:[^"\\]|\\.)*"|[^ ]*)')


def audit_fields(line: str) -> dict[str, str]:
    """key=value pairs of one audit line (audit.format_line), quotes and escapes undone."""
    body = line.split("]: ", 1)[1]
    out = {}
    for key, value in _AUDIT_FIELD.findall(body):
        if value.startswith('"'):
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out[key] = value
    return out


class Syslog:
    """/dev/log of our own: the audit lines of every pppup helper and supervisor
    in the guest.  A thread keeps reading: pppd logs to /dev/log too, and a
    full queue (net.unix.max_dgram_qlen, 10 datagrams) would block its syslog()."""

    PATH = "/dev/log"

    def __init__(self) -> None:
        if os.path.lexists(self.PATH):
            os.unlink(self.PATH)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.PATH)
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = self.sock.recv(8192)
            except OSError:
                return                     # closed
            with self.cond:
                self.lines.append(data.decode("ascii", "replace"))
                self.cond.notify_all()

    def close(self) -> None:
        self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.reader.join(5)
        os.unlink(self.PATH)

    def wait_for(self, op: str, timeout: float = 60) -> dict[str, str]:
        """The fields of the first audit line of `op` not returned before."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i, line in enumerate(self.lines):
                    if "pppup-helper[" in line and audit_fields(line).get("op") == op:
                        del self.lines[i]
                        return audit_fields(line)
                left = deadline - time.monotonic()
                if left <= 0:
                    audit = [line for line in self.lines if "pppup-helper[" in line]
                    raise AssertionError(f"no audit line op={op} within {timeout} s; audit lines: {audit}")
                self.cond.wait(left)


if __name__ == "__main__" and sys.argv[1:2] == ["helper"]:
    sys.path[:0] = [ROOT, os.path.join(ROOT, "sim")]
    helper(sys.argv[2], sys.stdin.readline().rstrip("\n"), sys.argv[3])
