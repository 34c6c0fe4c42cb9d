"""pppd argv grammar (O1-O9), spawn hygiene, the secret plugin, log parsing, verified stop (K1-K5).

On the host Debian's real pppd runs until it finds no /dev/ppp (exit 4).  To
keep a real, setuid-root pppd alive long enough to inspect and signal, some
tests give it an options `file` that is a FIFO nobody writes: pppd blocks in
open() while parsing options (spawn(check=False), tests only).
"""
import os
import re
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from tests import rawsignal

from pppup_protocol.errors import Code, PppupError
from pppup_helper import pppd, procinfo
from pppup_helper.line import Line, resolve_device
from pppup_helper.policy_flags import SAFE_FLAGS

ROOT = Path(__file__).resolve().parents[2]
PLUGIN_BUILD = ROOT / "csrc" / "pppup-secret.so"
HELPER_SOURCES = sorted((ROOT / "helper" / "pppup_helper").glob("*.py"))


@pytest.fixture(scope="module")
def plugin():
    r = subprocess.run(["make", "-s", "csrc/pppup-secret.so"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return str(PLUGIN_BUILD)


@pytest.fixture
def line():
    master, slave = os.openpty()
    name = os.ttyname(slave)
    os.close(slave)
    ln = Line.open(resolve_device(name, None, pty=True))
    yield ln
    ln.close()
    os.close(master)


@pytest.fixture
def fifo():
    d = tempfile.mkdtemp(prefix="pppup-pppd-", dir="/run")
    path = os.path.join(d, "options")
    os.mkfifo(path, 0o600)
    yield path
    subprocess.run(["rm", "-rf", d], check=True)


@pytest.fixture
def reaper():
    procs: list[pppd.PppdProcess] = []
    yield procs.append
    for p in procs:
        if p.status is None and p.pidfd >= 0:
            if not procinfo.pidfd_exited(p.pidfd):
                signal.pidfd_send_signal(p.pidfd, signal.SIGKILL)
            pppd.reap(p, 5)
        p.close()


# ---------------------------------------------------------------- argv (O3)
O3_BANNED = {"plugin", "file", "call", "pty", "socket", "notty", "record", "logfile", "init", "connect",
             "disconnect", "welcome", "ip-up-script", "ip-down-script", "ipv6-up-script",
             "ipv6-down-script", "set", "unset", "nolock", "noauth", "privgroup", "ipparam",
             "linkname", "ifname", "unit"}
PEERS = st.from_regex(r"[a-z0-9][a-z0-9._-]{0,31}", fullmatch=True).filter(
    lambda p: ".." not in p and p not in pppd.BANNED)
LIMITS = st.one_of(st.none(), st.integers(1, pppd.LIMIT_MAX))


@settings(max_examples=400, deadline=None)
@given(peer=PEERS, flags=st.lists(st.sampled_from(sorted(SAFE_FLAGS)), unique=True, max_size=8),
       idle=LIMITS, maxconnect=LIMITS, with_secret=st.booleans())
def test_every_argv_token_matches_the_grammar(peer, flags, idle, maxconnect, with_secret):
    argv = pppd.build_argv(peer, flags, idle, maxconnect, with_secret)
    assert argv[:4] == [pppd.PPPD, "call", peer, "nodetach"] and argv[-2:] == ["logfd", "2"]
    for i, token in enumerate(argv[1:], 1):
        allowed = (token in ("call", "nodetach", "idle", "maxconnect", "logfd", "2", "3")
                   or (token == peer and argv[i - 1] == "call")
                   or (re.fullmatch(r"[1-9][0-9]{0,8}", token) and argv[i - 1] in ("idle", "maxconnect"))
                   or token in SAFE_FLAGS
                   or (token == "plugin" and argv[i + 1] == pppd.PLUGIN)
                   or (token == pppd.PLUGIN and argv[i - 1] == "plugin")
                   or (token == pppd.PLUGIN_OPTION and argv[i + 1] == "3"))
        assert allowed, (token, argv)
        assert not token.startswith("-") and " " not in token and "\n" not in token
        if token in O3_BANNED:
            assert (token == "call" and i == 1) or (token == "plugin" and argv[i + 1] == pppd.PLUGIN)
    assert argv.count("plugin") == (1 if with_secret else 0)


@pytest.mark.parametrize("peer", ["plugin", "-d", "--", "/dev/ttyS1", "isp\nplugin /tmp/x.so", "../../tmp/x",
                                  "isp plugin x", "x" * 300, ".hidden", "a..b", "ISP", "", "file"])
def test_hostile_peer_names_never_reach_pppd(peer):
    with pytest.raises(PppupError) as e:
        pppd.build_argv(peer, [], None, None, False)
    assert e.value.code == Code.FAILURE


@pytest.mark.parametrize("flag", ["plugin", "record", "noauth", "connect", "persist", "file", "logfile",
                                  "nolock", "ipparam", "demand", "-d", "debug x", "defaultroute\nplugin",
                                  "maxfail", "holdoff", "user", "password", "unknown-flag"])
def test_unsafe_flags_are_refused_even_if_a_policy_bug_lets_them_through(flag):
    with pytest.raises(PppupError):
        pppd.build_argv("isp", [flag], None, None, False)


@pytest.mark.parametrize("value", [0, -1, pppd.LIMIT_MAX + 1, 10**12])
def test_limits_out_of_range_are_refused(value):
    with pytest.raises(PppupError):
        pppd.build_argv("isp", [], value, None, False)
    with pytest.raises(PppupError):
        pppd.build_argv("isp", [], None, value, False)


@pytest.mark.parametrize("argv_tail", [
    ["plugin", "/tmp/evil.so", "pppup-secret-fd", "3"],
    ["plugin", pppd.PLUGIN, "pppup-secret-fd", "4"],
    ["idle", "5", "idle", "6"],
    ["idle", "1e3"],
    ["noauth"],
])
def test_check_argv_refuses_tampered_argv(argv_tail):
    with pytest.raises(PppupError):
        pppd.check_argv([pppd.PPPD, "call", "isp", "nodetach"] + argv_tail + ["logfd", "2"])


def test_limits_follow_call_so_they_override_the_peer_file():
    argv = pppd.build_argv("isp", ["novj"], 300, 3600, True)
    assert argv.index("idle") > argv.index("call") and argv.index("maxconnect") > argv.index("call")


# ------------------------------------------------------------ spawn, real pppd
def test_real_pppd_on_the_host_exits_4_and_is_mapped(line, reaper):
    proc = pppd.spawn([pppd.PPPD, "nodetach", "logfd", "2"], line.fd, None, check=False)
    reaper(proc)
    assert pppd.reap(proc, 10)
    assert pppd.exit_reason(proc.status) == ("the kernel has no PPP support", 4)
    assert "no kernel PPP support" in proc.log.events


def test_real_pppd_with_a_missing_peer_file_is_an_option_error(line, reaper):
    proc = pppd.spawn(pppd.build_argv("pppup-no-such-peer", [], 60, 600, False), line.fd, None)
    reaper(proc)
    assert pppd.reap(proc, 10)
    assert pppd.exit_reason(proc.status) == ("pppd refused its options (check the peer file)", 2)


def test_spawn_reports_an_exec_failure(line, tmp_path):
    with pytest.raises(PppupError) as e:
        pppd.spawn(pppd.build_argv("provider", [], None, None, False), line.fd, None,
                   executable=str(tmp_path / "missing"))
    assert e.value.code == Code.PPP and "No such file" in str(e.value)


def _proc_status(pid: int) -> dict[str, str]:
    out = {}
    for row in open(f"/proc/{pid}/status").read().splitlines():
        key, _, value = row.partition(":")
        out[key] = value.strip()
    return out


def _wait_blocked_in_open(pid: int) -> None:
    deadline = time.monotonic() + 10
    while True:
        if os.readlink(f"/proc/{pid}/exe") == pppd.PPPD and open(f"/proc/{pid}/wchan").read() in ("wait_for_partner", "fifo_open"):
            return
        assert time.monotonic() < deadline, open(f"/proc/{pid}/wchan").read()
        time.sleep(0.02)


def test_pppd_gets_a_clean_process_exactly_as_documented(line, fifo, reaper):
    os.environ["PPPUP_LEAK_CHECK"] = "leaked"
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    old = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    for sig in rawsignal.RESERVED:      # glibc's own: only the raw syscall reaches them
        rawsignal.ignore(sig)
    try:
        proc = pppd.spawn([pppd.PPPD, "file", fifo], line.fd, b"user\0secret\0", check=False)
    finally:
        del os.environ["PPPUP_LEAK_CHECK"]
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR1})
        signal.signal(signal.SIGHUP, old)
        for sig in rawsignal.RESERVED:
            rawsignal.default(sig)
    reaper(proc)
    _wait_blocked_in_open(proc.pid)
    pid = proc.pid
    assert open(f"/proc/{pid}/environ", "rb").read() == b"PATH=/usr/sbin:/usr/bin:/sbin:/bin\0"
    assert sorted(int(fd) for fd in os.listdir(f"/proc/{pid}/fd")) == [0, 1, 2, 3]
    fd0 = os.stat(f"/proc/{pid}/fd/0")
    assert fd0.st_rdev == os.fstat(line.fd).st_rdev
    assert os.readlink(f"/proc/{pid}/fd/1") == "/dev/null"
    assert os.readlink(f"/proc/{pid}/fd/2").startswith("pipe:")
    assert os.readlink(f"/proc/{pid}/fd/3").startswith("pipe:")
    # fd 0 is a separate description: pppd's blocking mode is not ours
    flags0 = int(open(f"/proc/{pid}/fdinfo/0").read().split("flags:")[1].split()[0], 8)
    assert not flags0 & os.O_NONBLOCK
    assert os.get_blocking(line.fd) is False
    fields = procinfo.stat_fields(pid)
    assert int(fields[3]) == pid             # session id: its own session
    assert int(fields[4]) == 0               # no controlling tty
    status = _proc_status(pid)
    assert status["SigBlk"] == "0000000000000000" and status["SigIgn"] == "0000000000000000"
    assert status["Umask"] == "0022" and os.readlink(f"/proc/{pid}/cwd") == "/"
    assert status["Uid"].split()[:2] == ["0", "0"]


def test_secret_never_in_argv_or_environment(line, fifo, reaper):
    proc = pppd.spawn([pppd.PPPD, "file", fifo], line.fd, b"alice\0s3cr3t-XYZ\0", check=False)
    reaper(proc)
    _wait_blocked_in_open(proc.pid)
    assert b"s3cr3t-XYZ" not in open(f"/proc/{proc.pid}/cmdline", "rb").read()
    assert b"s3cr3t-XYZ" not in open(f"/proc/{proc.pid}/environ", "rb").read()


PDEATH_PARENT = textwrap.dedent("""
    import os, sys, time
    from pppup_helper import pppd
    from pppup_helper.line import Line, resolve_device
    ln = Line.open(resolve_device(sys.argv[1], None, pty=True))
    proc = pppd.spawn([pppd.PPPD, "file", sys.argv[2]], ln.fd, None, check=False)
    print(proc.pid, flush=True)
    time.sleep(120)
""")


def test_pdeathsig_survives_the_setuid_exec_and_kills_pppd_with_its_supervisor(fifo):
    master, slave = os.openpty()
    name = os.ttyname(slave)
    os.close(slave)
    parent = subprocess.Popen([sys.executable, "-c", PDEATH_PARENT, name, fifo], stdout=subprocess.PIPE,
                              text=True)
    try:
        pid = int(parent.stdout.readline())
        _wait_blocked_in_open(pid)
        assert os.stat(pppd.PPPD).st_mode & stat.S_ISUID      # the exec really was setuid
        pidfd = os.pidfd_open(pid)
        parent.kill()
        parent.wait()
        assert procinfo.wait_pidfd(pidfd, 2.0), "pppd outlived its supervisor"
        os.close(pidfd)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        os.close(master)


def test_control_without_pdeathsig_the_blocked_pppd_would_survive(fifo, line):
    # Proves the test above can fail: the same pppd from a plain fork keeps running.
    child = subprocess.Popen([pppd.PPPD, "file", fifo], stdin=line.fd, start_new_session=True)
    try:
        _wait_blocked_in_open(child.pid)
        time.sleep(0.5)
        assert child.poll() is None
    finally:
        child.kill()
        child.wait()


# -------------------------------------------------------------- the plugin
def _run_plugin(line, plugin, payload: bytes | None, fd_arg: str = "3") -> pppd.PppdProcess:
    argv = [pppd.PPPD, "nodetach", "noauth", "plugin", plugin, "pppup-secret-fd", fd_arg, "logfd", "2"]
    proc = pppd.spawn(argv, line.fd, payload, check=False)
    assert pppd.reap(proc, 10)
    proc.close()
    return proc


def test_plugin_accepts_a_well_formed_secret_and_pppd_goes_on(line, plugin):
    proc = _run_plugin(line, plugin, b"alice\0pass word!\0")
    # Options parsed (plugin satisfied): pppd got as far as looking for /dev/ppp.
    assert pppd.exit_reason(proc.status)[1] == 4, proc.log.events
    assert "secret plugin problem" not in proc.log.events


@pytest.mark.parametrize("payload", [
    b"", b"alice", b"alice\0", b"\0secret\0", b"alice\0secret", b"alice\0secret\0extra",
    b"al ice\0secret\0", b"alice\0sec\nret\0", b"alice\0" + b"s" * 300 + b"\0", b"a" * 300 + b"\0s\0",
    b"alice\0secret\0\0",
])
def test_plugin_refuses_malformed_data_and_pppd_stops_with_an_option_error(line, plugin, payload):
    proc = _run_plugin(line, plugin, payload)
    assert pppd.exit_reason(proc.status)[1] == 2
    assert "secret plugin problem" in proc.log.events


@pytest.mark.parametrize("fd_arg", ["0", "2", "-1", "x", "99999", "3x"])
def test_plugin_refuses_bad_fd_arguments(line, plugin, fd_arg):
    proc = _run_plugin(line, plugin, b"alice\0secret\0", fd_arg)
    assert pppd.exit_reason(proc.status)[1] == 2


def test_plugin_refuses_an_fd_that_is_not_a_pipe(line, plugin):
    # fd 3 absent (no secret given): not a pipe
    proc = _run_plugin(line, plugin, None)
    assert pppd.exit_reason(proc.status)[1] == 2


# ----------------------------------------------------------------- the log
SAMPLE_LOG = b"""Serial connection established.
Using interface ppp0
Connect: ppp0 <--> /dev/ttyS1
PAP authentication succeeded
local  IP address 10.0.0.2
remote IP address 10.0.0.1
Terminating on signal 15
Connect time 2.5 minutes.
Sent 12345 bytes, received 67890 bytes.
Connection terminated.
"""


def test_log_facts_are_extracted_in_any_chunking():
    for size in (1, 3, 7, 64, 4096):
        log = pppd.PppdLog()
        for i in range(0, len(SAMPLE_LOG), size):
            log.feed(SAMPLE_LOG[i:i + size])
        log.finish()
        assert (log.ifname, log.local, log.remote) == ("ppp0", "10.0.0.2", "10.0.0.1") and log.ip_up
        assert log.connect_seconds == 150
        assert (log.bytes_sent, log.bytes_received) == (12345, 67890)
        assert log.events == ["authenticated", "terminating on signal", "connection terminated"]


def test_log_keeps_no_raw_text_and_survives_hostile_input():
    log = pppd.PppdLog()
    log.feed(b"x" * 1_000_000 + b"\n" + b"\x1b[31m\xff\x00 local  IP address 1.2.3.4\n")
    log.feed(b"local  IP address 999.1.1.1\nUsing interface ppp0; rm -rf /\n"
             b"/usr/sbin/pppd: In file /etc/shadow: unrecognized option 'root:$6$abc'\n")
    log.finish()
    assert log.local is None and log.ifname is None
    kept = [v for v in vars(log).values() if isinstance(v, (str, bytes))]
    assert all("shadow" not in str(v) and "root:" not in str(v) for v in kept)
    assert all("shadow" not in e for e in log.events)
    assert len(log._partial) <= pppd.MAX_LOG_LINE


def test_exit_reasons_cover_pppd_8_and_signals():
    assert pppd.exit_reason(5 << 8) == ("stopped on request", 5)
    assert pppd.exit_reason(12 << 8)[0] == "idle timeout"
    assert pppd.exit_reason(13 << 8)[0] == "connect time limit reached"
    assert pppd.exit_reason(16 << 8)[0] == "the modem hung up"
    assert pppd.exit_reason(19 << 8)[0].startswith("authentication to the peer failed")
    assert pppd.exit_reason(99 << 8) == ("pppd exited with status 99", 99)
    assert pppd.exit_reason(signal.SIGKILL) == ("pppd was killed by SIGKILL", None)
    assert pppd.exit_reason(None)[1] is None
    assert set(range(0, 22)) <= set(pppd.EXIT_REASONS)


# --------------------------------------------------------- verify and stop
def test_verify_and_terminate_the_recorded_pppd(line, fifo, reaper):
    proc = pppd.spawn([pppd.PPPD, "file", fifo], line.fd, None, check=False)
    reaper(proc)
    _wait_blocked_in_open(proc.pid)
    with pytest.raises(PppupError, match="different start time"):
        pppd.verify(proc.pid, proc.start_time + 1, os.getpid())
    with pytest.raises(PppupError, match="different parent"):
        pppd.verify(proc.pid, proc.start_time, 4242)
    assert procinfo.facts(proc.pid) is not None     # refusals sent nothing
    pidfd = pppd.verify(proc.pid, proc.start_time, os.getpid())
    assert pidfd is not None
    assert pppd.terminate(pidfd, grace=2) == "terminated"
    os.close(pidfd)
    assert pppd.reap(proc, 5)
    assert os.WIFSIGNALED(proc.status) and os.WTERMSIG(proc.status) == signal.SIGTERM
    # gone now: verify says so, whatever is recorded
    assert pppd.verify(proc.pid, proc.start_time, os.getpid()) is None


def test_verify_refuses_other_root_processes_and_special_pids(tmp_path):
    fake = tmp_path / "pppd"
    fake.write_bytes(open("/bin/sleep", "rb").read())
    fake.chmod(0o755)
    p = subprocess.Popen([str(fake), "30"])
    try:
        time.sleep(0.2)
        start = procinfo.start_time(p.pid)
        with pytest.raises(PppupError, match="not /usr/sbin/pppd"):
            pppd.verify(p.pid, start, os.getpid())
        assert p.poll() is None
    finally:
        p.kill()
        p.wait()
    for pid in (0, 1, -1, os.getpid()):
        try:
            result = pppd.verify(pid, 0, None)
        except PppupError:
            continue
        assert result is None


def test_the_helper_never_calls_kill_with_a_pid():
    """K4 lint: no os.kill / killpg anywhere in the helper; the only kill(2) is the
    signal-0 probe in the cffi module, and pidfd_send_signal takes no pid."""
    offenders = []
    for path in HELPER_SOURCES:
        text = path.read_text()
        for pattern in (r"\bos\.kill\b", r"\bkillpg\b", r"\bpthread_kill\b", r"\bos\.system\b",
                        r"\bsubprocess\b.*shell=True"):
            if re.search(pattern, text):
                offenders.append(f"{path.name}: {pattern}")
    assert offenders == []
    build = (ROOT / "helper" / "pppup_helper" / "_syscalls_build.py").read_text()
    c_source = build[build.index("ffibuilder.set_source("):]
    assert re.findall(r"\bkill\s*\(.*?\);", c_source) == ["kill((pid_t)pid, 0);"]


VERIFY_WITHOUT_PTRACE = textwrap.dedent("""
    import json, sys
    from pppup_helper import pppd, procinfo
    pid, start, parent = (int(x) for x in sys.argv[1:4])
    facts = procinfo.facts(pid)
    try:
        fd = pppd.verify(pid, start, parent)
        result = "ok" if fd is not None else "gone"
    except Exception as e:
        result = str(e)
    print(json.dumps({"exe": facts.exe, "argv0": facts.argv0, "result": result}))
""")


def test_verify_without_cap_sys_ptrace_falls_back_to_argv0(line, fifo, reaper):
    """The installed helper keeps no CAP_SYS_PTRACE, so it cannot read
    /proc/PID/exe of the non-dumpable setuid pppd; argv[0] is checked instead."""
    proc = pppd.spawn([pppd.PPPD, "file", fifo], line.fd, None, check=False)
    reaper(proc)
    _wait_blocked_in_open(proc.pid)
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        time.sleep(0.1)
        runs = {}
        for name, pid, parent in (("pppd", proc.pid, os.getpid()), ("sleep", sleeper.pid, os.getpid())):
            r = subprocess.run(["setpriv", "--bounding-set=-sys_ptrace", "--inh-caps=-sys_ptrace",
                                sys.executable, "-c", VERIFY_WITHOUT_PTRACE, str(pid),
                                str(procinfo.start_time(pid)), str(parent)],
                               capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stderr
            runs[name] = __import__("json").loads(r.stdout)
        assert runs["pppd"]["exe"] is None and runs["pppd"]["argv0"] == pppd.PPPD
        assert runs["pppd"]["result"] == "ok"
        assert "not /usr/sbin/pppd" in runs["sleep"]["result"]
        assert sleeper.poll() is None
    finally:
        sleeper.kill()
        sleeper.wait()
