"""The setuid shim's checklist (security.md (c)), item by item, on the
ASan/UBSan test build: every refusal, and the state it leaves for the helper.

Needs root (the harness plays the setuid exec: real uid = caller, euid 0).
"""
from __future__ import annotations

import ctypes
import os
import resource
import signal
import socket
import stat
import subprocess
import sys

import pytest

from tests import nulldev, rawsignal

sys.path.insert(0, os.path.dirname(__file__))
import shimrun  # noqa: E402
from shimrun import CALLER_GID, CALLER_GROUPS, CALLER_UID, TEST_ENTRY, TEST_ENTRY_DIR, run  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ASAN = os.path.join(ROOT, "csrc", "pppup-shim-asan")
EXIT = {"usage": 110, "stdio": 111, "identity": 112, "socket": 113, "hygiene": 114, "unsafe": 117}
FIXED_ENV = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"]
IOPRIO_SET = 251     # x86_64 system call number

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the shim harness plays a setuid exec: needs root")


@pytest.fixture(scope="module")
def shim():
    subprocess.run(["make", "-s", "-C", ROOT, "csrc/pppup-shim-asan"], check=True, timeout=120)
    return ASAN


@pytest.fixture(autouse=True)
def helper_entry():
    """The test build's helper entry: a root-owned file under a root-owned dir."""
    os.makedirs(TEST_ENTRY_DIR, mode=0o755, exist_ok=True)
    os.chmod(TEST_ENTRY_DIR, 0o755)
    with open(TEST_ENTRY, "w") as f:
        f.write("# test entry\n")
    os.chmod(TEST_ENTRY, 0o644)
    yield TEST_ENTRY
    subprocess.run(["rm", "-rf", TEST_ENTRY_DIR], check=True)


def assert_clean_exec(r: shimrun.ShimRun) -> None:
    assert r.exit_code == 0, f"shim refused with {r.exit_code}"
    assert r.argv == ["/usr/bin/python3.11", "-I", "-S", TEST_ENTRY, "--uid", str(CALLER_UID),
                      "--gid", str(CALLER_GID), "--groups", ",".join(str(g) for g in sorted(CALLER_GROUPS))]
    assert r.env == FIXED_ENV


def test_good_call_builds_argv_and_env_from_nothing(shim):
    r = run(shim, env=["LD_PRELOAD=/tmp/x.so", "PYTHONPATH=/tmp", "PYTHONINSPECT=1", "GCONV_PATH=.",
                       "PPPUP_POLICY=/tmp/p", "LANG=../../tmp/l", "IFS=/", "TZ=../../tmp/tz"])
    assert_clean_exec(r)


def test_process_state_after_hygiene(shim):
    def hostile():
        # ignored and blocked signals, odd umask and cwd, leaked fds, a niceness
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGPIPE, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD, signal.SIGALRM, signal.SIGTERM})
        for sig in rawsignal.RESERVED:   # out of glibc's reach, not of the kernel's
            rawsignal.ignore(sig)
        os.umask(0)
        os.chdir("/tmp")
        for target in (10, 200, 1000):
            fd = os.open("/etc/hostname", os.O_RDONLY)
            os.dup2(fd, target, inheritable=True)
        os.nice(5)
        # soft limits only: anyone may raise a soft limit up to the hard one
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        resource.setrlimit(resource.RLIMIT_FSIZE, (1, resource.RLIM_INFINITY))
        resource.setrlimit(resource.RLIMIT_CPU, (100, resource.RLIM_INFINITY))
        resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        resource.setrlimit(resource.RLIMIT_MEMLOCK, (0, resource.getrlimit(resource.RLIMIT_MEMLOCK)[1]))
        resource.setrlimit(resource.RLIMIT_RTTIME, (1, resource.RLIM_INFINITY))
        # scheduling state that survives exec (R4)
        ctypes.CDLL(None).prctl(29, ctypes.c_ulong(60 * 10**9), 0, 0, 0)    # PR_SET_TIMERSLACK
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("900")
        os.sched_setaffinity(0, {0})
        ctypes.CDLL(None).syscall(IOPRIO_SET, 1, 0, 3 << 13)                 # the idle class
    r = run(shim, setup=hostile)
    assert_clean_exec(r)
    status = r.proc["status"]
    assert int(status["SigIgn"], 16) == 0 and int(status["SigBlk"], 16) == 0
    assert status["Umask"] == "0022"
    assert status["NoNewPrivs"] == "1"
    assert r.proc["cwd"] == "/"
    assert r.proc["sid"] == r.pid, "setsid: the shim leads its own session"
    assert r.proc["nice"] == 0
    fds = r.proc["fds"]
    assert sorted(fds) == [0, 1, 2, 3], f"only 0-3 survive: {fds}"
    assert all(fds[n] == "/dev/null" for n in (0, 1, 2))
    assert fds[3].startswith("socket:")
    limits = r.proc["limits"]
    assert _limit(limits, "Max core file size") == ("0", "0")
    assert _limit(limits, "Max file size") == ("unlimited", "unlimited")
    assert _limit(limits, "Max cpu time") == ("unlimited", "unlimited")
    assert _limit(limits, "Max open files") == ("1024", "4096")
    assert _limit(limits, "Max stack size") == (str(8 << 20), str(8 << 20))
    memlock = _limit(limits, "Max locked memory")
    assert memlock == (str(8 << 20), str(8 << 20)) or (not has_cap_sys_resource() and int(memlock[0]) > 0)
    assert _limit(limits, "Max realtime timeout")[0] == "unlimited"
    assert r.proc["timerslack_ns"] == 50000
    # (back down to the floor a privileged process set for the caller: 0 here)
    assert r.proc["oom_score_adj"] == 0
    assert status["Cpus_allowed_list"] == f"0-{os.cpu_count() - 1}" if os.cpu_count() > 1 else "0"
    assert r.proc["ioprio_class"] in (0, 2), "none (from nice) or best effort, not the idle class"


def test_interval_timers_are_disarmed(shim):
    # An ITIMER_REAL survives exec: armed by the caller, it would kill the
    # helper with SIGALRM at a moment of the caller's choosing.
    def armed():
        for timer in (signal.ITIMER_REAL, signal.ITIMER_VIRTUAL, signal.ITIMER_PROF):
            signal.setitimer(timer, 0.2)
    r = run(shim, setup=armed, linger=1.0)
    assert_clean_exec(r)


def has_cap_sys_resource() -> bool:
    with open("/proc/self/status") as f:
        bnd = next(int(l.split()[1], 16) for l in f if l.startswith("CapBnd:"))
    return bool(bnd & (1 << 24))


@pytest.mark.parametrize("name, limit", [("Max file size", resource.RLIMIT_FSIZE),
                                         ("Max cpu time", resource.RLIMIT_CPU)])
def test_lowered_hard_limit_is_reset_or_refused(shim, name, limit):
    # R2/R3: a hard limit the caller lowered is raised again (needs
    # CAP_SYS_RESOURCE); where root lacks it (some containers, this CI's
    # sandbox) the shim refuses rather than run crippled.
    r = run(shim, setup=lambda: resource.setrlimit(limit, (1, 1)))
    if has_cap_sys_resource():
        assert_clean_exec(r)
        assert _limit(r.proc["limits"], name) == ("unlimited", "unlimited")
    else:
        assert r.exit_code == EXIT["hygiene"]


def _limit(text: str, name: str) -> tuple[str, str]:
    for line in text.splitlines():
        if line.startswith(name):
            soft, hard = line[len(name):].split()[:2]
            return soft, hard
    raise AssertionError(f"{name} not in /proc limits")


def test_closed_stdio_is_filled_before_anything(shim):
    r = run(shim, close_stdio=(0, 1, 2))
    if not nulldev.genuine():
        # glibc's own AT_SECURE check halts the shim before main: nothing ran.
        assert r.exit_code == nulldev.HALTED_BY_GLIBC, (r.exit_code, nulldev.describe())
        assert not r.argv, "the shim got as far as its report"
        return
    assert_clean_exec(r)
    assert all(r.proc["fds"][n] == "/dev/null" for n in (0, 1, 2))


def test_tiny_nofile_limit_still_works_or_refuses_cleanly(shim):
    # R1: the ASan runtime needs one free fd to load its libraries; then the
    # shim itself needs none beyond 0-3, and raises the soft limit again.
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    r = run(shim, setup=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (5, hard)))
    assert_clean_exec(r)
    assert _limit(r.proc["limits"], "Max open files")[0] == "1024"
    r = run(shim, setup=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (5, 5)))
    if has_cap_sys_resource():
        assert_clean_exec(r)
    else:
        assert r.exit_code == EXIT["hygiene"]
    # (No fd at all crashes the ASan runtime before main; the installed-shim
    # attack R1 covers that case on the production build.)


def test_argc_two_refused(shim):
    assert run(shim, argv=[shim, "--uid=0"], inspect=False).exit_code == EXIT["usage"]
    assert run(shim, argv=[shim, "--", "-plugin", "x"], inspect=False).exit_code == EXIT["usage"]


def test_argc_zero_via_raw_execve(shim):
    # Since Linux 5.18 the kernel turns an empty argv into {""}; either way no
    # variable of the caller may survive (PwnKit re-injection).
    r = run(shim, argv=[], env=["GCONV_PATH=.", "CHARSET=x", "LD_PRELOAD=/tmp/x.so"])
    if r.argv:
        assert_clean_exec(r)
    else:
        assert r.exit_code == EXIT["usage"]


def test_argc_zero_in_main_itself(shim, tmp_path):
    driver = tmp_path / "argc0"
    subprocess.run(["gcc", "-O1", "-g", "-fsanitize=address,undefined", "-DPPPUP_SHIM_TEST",
                    "-DPPPUP_PYTHON=\"/usr/bin/python3.11\"", "-DPPPUP_HELPER_ENTRY=\"/nonexistent\"",
                    "-Dmain=shim_main", "-c", os.path.join(ROOT, "csrc", "pppup-shim.c"), "-o",
                    str(tmp_path / "shim.o")], check=True, timeout=120)
    subprocess.run(["gcc", "-fsanitize=address,undefined", os.path.join(os.path.dirname(__file__),
                    "argc0_driver.c"), str(tmp_path / "shim.o"), "-o", str(driver)], check=True, timeout=120)
    assert subprocess.run([str(driver)], timeout=30).returncode == EXIT["usage"]


def test_huge_argv_and_env(shim):
    assert run(shim, argv=[shim] + ["x"] * 10000, inspect=False).exit_code == EXIT["usage"]
    assert run(shim, argv=[shim, "y" * 131000], inspect=False).exit_code == EXIT["usage"]
    r = run(shim, env=[f"V{i}={'z' * 100}" for i in range(10000)])
    assert_clean_exec(r)


def test_not_setuid_root_refused(shim):
    def drop_euid():
        os.setresuid(CALLER_UID, CALLER_UID, CALLER_UID)
    r = run(shim, setup=None, ruid=CALLER_UID, inspect=False, fd3="good") if False else None
    # Play a shim whose setuid bit was ignored (nosuid mount, NNP): euid = ruid.
    ours, theirs = shimrun.caller_socketpair()
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(theirs.fileno(), 3)
            os.setgroups([])
            os.setresgid(CALLER_GID, CALLER_GID, CALLER_GID)
            drop_euid()
            os.execv(shim, [shim])
        finally:
            os._exit(127)
    theirs.close()
    _, status = os.waitpid(pid, 0)
    ours.close()
    assert os.waitstatus_to_exitcode(status) == EXIT["identity"]
    assert r is None


def _fd_variant(kind: str):
    if kind == "regular":
        return os.open("/etc/hostname", os.O_RDONLY)
    if kind == "devnull":
        return os.open("/dev/null", os.O_RDWR)
    if kind == "pipe":
        return os.pipe()[0]
    if kind == "inet":
        return socket.socket(socket.AF_INET, socket.SOCK_STREAM).detach()
    if kind == "stream":
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)[0].detach()
    if kind == "dgram":
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)[0].detach()
    if kind == "listening":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(b"\0pppup-shim-test-listen-%d" % os.getpid())
        s.listen(1)
        return s.detach()
    if kind == "peer-root":
        # I1: a socket whose peer is root (created with euid 0)
        return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)[0].detach()
    if kind == "peer-other-user":
        # I2: a socket whose peer is another user
        return shimrun.caller_socketpair(uid=CALLER_UID + 1)[0].detach()
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["regular", "devnull", "pipe", "inet", "stream", "dgram", "listening",
                                  "peer-root", "peer-other-user", "closed"])
def test_bad_fd3_refused(shim, kind):
    if kind == "closed":
        r = run(shim, fd3="closed", inspect=False)
    else:
        fd = _fd_variant(kind)
        try:
            r = run(shim, fd3=fd, inspect=False)
        finally:
            os.close(fd)
    assert r.exit_code == EXIT["socket"]


@pytest.mark.parametrize("tamper", ["group-writable-dir", "other-writable-file", "user-owned-file",
                                    "symlink", "directory", "missing"])
def test_unsafe_helper_entry_refused(shim, tamper):
    if tamper == "group-writable-dir":
        os.chmod(TEST_ENTRY_DIR, 0o775)
    elif tamper == "other-writable-file":
        os.chmod(TEST_ENTRY, 0o646)
    elif tamper == "user-owned-file":
        os.chown(TEST_ENTRY, CALLER_UID, CALLER_GID)
    elif tamper == "symlink":
        os.rename(TEST_ENTRY, TEST_ENTRY + ".real")
        os.symlink(TEST_ENTRY + ".real", TEST_ENTRY)
    elif tamper == "directory":
        os.unlink(TEST_ENTRY)
        os.mkdir(TEST_ENTRY, 0o755)
    elif tamper == "missing":
        os.unlink(TEST_ENTRY)
    assert run(shim, inspect=False).exit_code == EXIT["unsafe"]


def test_shim_source_is_small():
    with open(os.path.join(ROOT, "csrc", "pppup-shim.c")) as f:
        code = [l for l in f if l.strip() and not l.strip().startswith(("/*", "*", "//"))]
    assert len(code) <= 300, f"the shim should stay readable in one sitting: {len(code)} code lines"


def test_production_build_is_hardened():
    subprocess.run(["make", "-s", "-C", ROOT, "csrc/pppup-shim"], check=True, timeout=120)
    binary = os.path.join(ROOT, "csrc", "pppup-shim")
    dyn = subprocess.run(["readelf", "-d", "-h", "-s", "--wide", binary], capture_output=True, text=True,
                         check=True).stdout
    assert "BIND_NOW" in dyn and "PIE" in dyn and "DYN" in dyn
    assert "__stack_chk_fail" in dyn
    relro = subprocess.run(["readelf", "-l", "--wide", binary], capture_output=True, text=True, check=True).stdout
    assert "GNU_RELRO" in relro
    with open(binary, "rb") as f:
        blob = f.read()
    assert b"/usr/bin/python3.11" in blob and b"/usr/local/lib/pppup/pppup-helper.py" in blob
    assert not stat.S_ISUID & os.stat(binary).st_mode
