"""Attack classes E, A, F, S, R, P, M, I, Y of security.md, run as unprivileged
users against the installed setuid shim.  Each asserts the safe outcome; the
autouse oracle adds: /etc unchanged, no /tmp/pwned-* canary, no helper left.
"""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attack_harness import (answers, compile_payload, finish, helper_of, open_fds, proc_limit,  # noqa: E402
                            proc_status, raw, raw_background, request, run_as)

from pppup_protocol import paths  # noqa: E402
from tests import nulldev  # noqa: E402

HELPER = 13          # Code.HELPER: protocol violation
FIXED_ENV = {b"PATH=/usr/sbin:/usr/bin:/sbin:/bin", b"LC_ALL=C"}
SHIM_USAGE, SHIM_IDENTITY, SHIM_SOCKET, SHIM_HYGIENE, SHIM_UNSAFE = 110, 112, 113, 114, 117
EXIT_HELPER_REFUSED = 1   # pppup_helper.main.EXIT_REFUSED
STATUS = [request("status"), {"recv": 15}, {"close": True}, {"wait": 15}]
SITE = f"{paths.VENV}/lib/python3.11/site-packages"


def assert_status_ok(result: dict) -> None:
    got = answers(result)
    assert got and got[0]["ok"] is True, f"expected a status answer, got {result['events']}"
    assert "lines" in got[0]


def assert_refused_then_closed(result: dict, text: str = "") -> dict:
    """The last answer refuses with HELPER and the helper then closed the connection."""
    got = answers(result)
    assert got and got[-1]["ok"] is False and got[-1]["code"] == HELPER, result["events"]
    assert text in got[-1]["message"]
    eofs = [e for e in result["events"] if e.get("recv") == "eof"]
    assert eofs, f"the helper did not close the connection: {result['events']}"
    return got[-1]


def shim_exit(result: dict) -> int | None:
    return result["exit"]


def refused_by_shim(user, code: int, spawn: dict) -> None:
    result = raw(user, spawn, [{"recv": 10}, {"wait": 10}])
    assert shim_exit(result) == code, result
    assert not answers(result)


def live_helper(user, spawn=None, seconds=3.0):
    """A helper of `user` waiting for its first request, and the client driving it."""
    proc = raw_background(user, spawn, [{"sleep": seconds}, request("status"), {"recv": 15}, {"close": True},
                                        {"wait": 15}])
    return proc, helper_of(user)


def environ_of(pid: int) -> set[bytes]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        return {item for item in f.read().split(b"\0") if item}


# -- E: environment -------------------------------------------------------------
def test_E1_loader_variables_ignored(mallory, policy, shared_tmp):
    os.chmod(shared_tmp, 0o755)
    lib = compile_payload("E1", str(shared_tmp / "payload.so"))
    env = {"LD_PRELOAD": lib, "LD_LIBRARY_PATH": str(shared_tmp), "LD_AUDIT": lib, "GCONV_PATH": str(shared_tmp),
           "GLIBC_TUNABLES": "glibc.malloc.mxfast=" + "9" * 4000, "TZ": "../../tmp/tz", "LOCPATH": "/tmp",
           "NLSPATH": "/tmp/%N", "MALLOC_TRACE": "/tmp/pwned-E1-trace"}
    proc, pid = live_helper(mallory, {"env": env})
    assert environ_of(pid) == FIXED_ENV
    assert_status_ok(finish(proc))


def test_E2_python_variables_ignored(mallory, policy, shared_tmp):
    evil = shared_tmp / "evil"
    (evil / "pppup_helper").mkdir(parents=True)
    for module in ("socket.py", "json.py", "pppup_helper/__init__.py", "sitecustomize.py"):
        (evil / module).write_text("open('/tmp/pwned-E2', 'w').close()\n")
    os.system(f"chmod -R a+rX {shared_tmp}")
    env = {"PYTHONPATH": str(evil), "PYTHONSTARTUP": str(evil / "socket.py"), "PYTHONHOME": str(evil),
           "PYTHONINSPECT": "1", "PYTHONBREAKPOINT": "os.system", "PYTHONWARNINGS": "error",
           "PYTHONINTMAXSTRDIGITS": "0", "PYTHONUSERBASE": str(evil)}
    proc, pid = live_helper(mallory, {"env": env})
    assert environ_of(pid) == FIXED_ENV
    result = finish(proc)
    assert_status_ok(result)
    assert result["exit"] is not None, "PYTHONINSPECT must not leave a root REPL waiting"


def test_E3_argc_zero_reinjection(mallory, policy):
    # Linux >= 5.18 turns {} into {""}: the shim then runs as if argc were 1;
    # older kernels: refused (110).  Either way no variable survives.
    spawn = {"argv": [], "env": {"GCONV_PATH": ".", "CHARSET": "PWNED", "LD_PRELOAD": "/tmp/pwned-E3.so"}}
    proc = raw_background(mallory, spawn, [{"sleep": 1}] + STATUS)
    try:
        pid = helper_of(mallory, timeout=5)
        assert environ_of(pid) == FIXED_ENV
    except AssertionError:
        pid = None
    result = finish(proc)
    if pid is None:
        assert result["exit"] == SHIM_USAGE
    else:
        assert_status_ok(result)


def test_E5_environment_cannot_choose_paths(mallory, policy, shared_tmp):
    # A permissive policy planted by mallory, named by every variable a lazy
    # implementation might read; the real policy is absent: must refuse.
    planted = shared_tmp / "policy.toml"
    planted.write_text("version = 1\n")
    os.chmod(shared_tmp, 0o755)
    policy.remove()
    env = {"PPPUP_POLICY": str(planted), "PPPUP_STATE": str(shared_tmp), "XDG_RUNTIME_DIR": str(shared_tmp),
           "TMPDIR": str(shared_tmp), "HOME": str(shared_tmp), "XDG_CONFIG_HOME": str(shared_tmp)}
    result = raw(mallory, {"env": env}, STATUS)
    got = answers(result)
    assert got and got[0]["ok"] is False and got[0]["code"] == 3, got
    assert paths.POLICY in got[0]["message"] and str(planted) not in got[0]["message"]


def test_E6_locale_strings_ignored(mallory, policy):
    env = {"LANG": "../../tmp/pwned-l", "LANGUAGE": "../../x", "LC_ALL": "/tmp", "LC_MESSAGES": "../../../tmp"}
    proc, pid = live_helper(mallory, {"env": env})
    assert environ_of(pid) == FIXED_ENV
    assert_status_ok(finish(proc))


# -- A: argv ----------------------------------------------------------------------
@pytest.mark.parametrize("argv", [[paths.SHIM, "--uid=0"], [paths.SHIM, "--", "-plugin", "x"],
                                  [paths.SHIM, "isp", "extra"], [paths.SHIM, ""]])
def test_A1_any_argument_refused(mallory, policy, argv):
    refused_by_shim(mallory, SHIM_USAGE, {"argv": argv})


def test_A2_huge_argv_refused(mallory, policy):
    refused_by_shim(mallory, SHIM_USAGE, {"argv": [paths.SHIM] + ["x"] * 10000})
    refused_by_shim(mallory, SHIM_USAGE, {"argv": [paths.SHIM, "y" * (128 * 1024 - 1)]})


def test_A2_huge_environment_is_dropped(mallory, policy):
    env = {f"V{i}": "z" * 200 for i in range(5000)}
    proc, pid = live_helper(mallory, {"env": env})
    assert environ_of(pid) == FIXED_ENV
    assert_status_ok(finish(proc))


def test_A3_shim_reached_through_a_link_is_the_same_shim(mallory, policy, shared_tmp):
    # A symlink (or, where protected_hardlinks allows it, a hard link) to
    # the shim in a directory mallory owns: argv[0] and the path differ,
    # nothing else does; every path it uses is compiled in.
    os.chmod(shared_tmp, 0o777)
    link = str(shared_tmp / "pppup-shim")
    assert run_as(mallory, ["ln", "-s", paths.SHIM, link]).returncode == 0
    refused_by_shim(mallory, SHIM_USAGE, {"path": link, "argv": [link, "--uid=0"]})
    proc, pid = live_helper(mallory, {"path": link, "env": {"LD_PRELOAD": "/tmp/pwned.so"}})
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f.read().split(b"\0")[:4] == [paths.PYTHON.encode(), b"-I", b"-S", paths.HELPER_ENTRY.encode()]
    assert environ_of(pid) == FIXED_ENV
    assert_status_ok(finish(proc))
    hard = str(shared_tmp / "pppup-shim-hard")
    if run_as(mallory, ["ln", paths.SHIM, hard]).returncode == 0:
        try:
            refused_by_shim(mallory, SHIM_USAGE, {"path": hard, "argv": [hard, "x"]})
            assert_status_ok(raw(mallory, {"path": hard}, STATUS))
        finally:
            os.unlink(hard)


@pytest.mark.parametrize("argv0", ["/usr/sbin/pppd", "%n%n%s%s", "\n", "\x1b[2J\x1b]0;pwned\x07"])
def test_A3_argv0_is_never_used(mallory, policy, argv0):
    proc, pid = live_helper(mallory, {"argv": [argv0]})
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmdline = f.read().split(b"\0")[:-1]
    assert cmdline[:4] == [paths.PYTHON.encode(), b"-I", b"-S", paths.HELPER_ENTRY.encode()]
    assert argv0.encode() not in cmdline
    assert_status_ok(finish(proc))


# -- F: file descriptors --------------------------------------------------------------
def test_F1_closed_stdio(mallory, policy):
    if not nulldev.genuine():
        # glibc halts a setuid exec with closed stdio when /dev/null is not the
        # real device: the shim never runs, no helper starts, nothing answers.
        result = raw(mallory, {"close_stdio": True}, [request("status"), {"recv": 5}, {"wait": 10}])
        assert shim_exit(result) == nulldev.HALTED_BY_GLIBC, (result, nulldev.describe())
        assert not answers(result)
        return
    proc, pid = live_helper(mallory, {"close_stdio": True})
    fds = open_fds(pid)
    assert all(fds[n] == "/dev/null" for n in (0, 1, 2)), fds
    assert_status_ok(finish(proc))


def test_F2_no_root_fd_leaks_to_the_client_or_helper(mallory, policy):
    proc, pid = live_helper(mallory, {"env": {}})
    fds = open_fds(pid)
    inherited = {n: target for n, target in fds.items() if n > 3 and not target.startswith(("socket:", "/dev/null"))
                 and not target.startswith("/run/pppup/admission/")}
    assert not inherited, f"the helper holds unexpected fds at start: {fds}"
    for n in fds:
        if n > 3:   # its own (admission slots, syslog): never passed on to pppd or scripts
            with open(f"/proc/{pid}/fdinfo/{n}") as f:
                flags = int(next(l.split()[1] for l in f if l.startswith("flags:")), 8)
            assert flags & os.O_CLOEXEC, f"fd {n} ({fds[n]}) of the helper is not close-on-exec"
    result = finish(proc)
    assert_status_ok(result)
    assert all(not e.get("fds") for e in result["events"] if "recv" in e), "status must carry no fd"


@pytest.mark.parametrize("kind", ["pipe", "file", "devnull", "inet", "stream", "dgram", "listening", "closed",
                                  "unconnected", "opath"])
def test_F3_fd3_not_the_clients_seqpacket_socket(mallory, policy, kind):
    refused_by_shim(mallory, SHIM_SOCKET, {"fd3": kind})


@pytest.mark.parametrize("count", [1, 3, 250])
def test_F4_fds_sent_to_the_helper_refused_and_closed(mallory, policy, count):
    result = raw(mallory, {}, [{"attach_fds": count}, request("status"), {"recv": 15}, {"recv": 15},
                               {"wait": 15}])
    assert_refused_then_closed(result, "ancillary data")


def test_F4_credentials_attached_to_a_request_are_never_identity(mallory, policy):
    # SCM_CREDENTIALS of her own are not even delivered (the helper never
    # asks for them); forged ones (uid 0) the kernel refuses to send.
    result = raw(mallory, {}, [{"send_creds": "op=status\n"}, {"recv": 15},
                               {"send_creds": "op=status\n", "uid": 0}, {"close": True}, {"wait": 15}])
    assert_status_ok(result)
    assert result["events"][2] == {"error": "PermissionError", "errno": 1}, result["events"]
    # A client that turned SO_PASSCRED on for the helper's end makes every
    # datagram carry credentials: that is ancillary data, refused.
    result = raw(mallory, {"fd3_passcred": True}, [request("status"), {"recv": 15}, {"recv": 15},
                                                   {"wait": 15}])
    assert_refused_then_closed(result, "ancillary data")


# -- S: signals ----------------------------------------------------------------------
def test_S1_caller_cannot_signal_the_helper(mallory, policy):
    proc, pid = live_helper(mallory)
    for sig in ("STOP", "KILL", "TERM", "USR1"):
        r = run_as(mallory, ["/bin/kill", f"-{sig}", str(pid)])
        assert r.returncode != 0 and "not permitted" in (r.stderr + r.stdout).lower(), r
    assert proc_status(pid)["State"][0] in "SR"
    assert_status_ok(finish(proc))


def test_S2_helper_has_its_own_session_and_no_tty(mallory, policy):
    proc, pid = live_helper(mallory)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    session, tty_nr = int(fields[3]), int(fields[4])
    assert tty_nr == 0, "no controlling terminal: ^C/^Z/TIOCSTI from the user's tty cannot reach it"
    assert session != os.getsid(0)
    assert_status_ok(finish(proc))


def test_S3_inherited_dispositions_and_mask_reset(mallory, policy):
    proc, pid = live_helper(mallory)
    baseline = proc_status(pid)
    finish(proc)
    hostile = {"ignore_signals": ["SIGCHLD", "SIGTERM", "SIGHUP", "SIGINT", "SIGALRM"],
               "block_signals": ["SIGCHLD", "SIGALRM", "SIGTERM"]}
    proc, pid = live_helper(mallory, hostile)
    status = proc_status(pid)
    assert int(status["SigBlk"], 16) == 0
    # Python itself ignores SIGPIPE and SIGXFSZ; nothing of the caller's is left.
    assert status["SigIgn"] == baseline["SigIgn"]
    assert not int(status["SigIgn"], 16) & (1 << (signal.SIGCHLD - 1))
    assert_status_ok(finish(proc))


@pytest.mark.parametrize("timer", ["REAL", "VIRTUAL", "PROF"])
def test_S3_interval_timers_armed_by_the_caller_are_disarmed(mallory, policy, timer):
    # Interval timers survive exec; armed ones would deliver SIGALRM,
    # SIGVTALRM or SIGPROF (default action: terminate) to the root helper.
    seconds = 1.0 if timer == "REAL" else 0.02
    result = raw(mallory, {"itimers": {timer: seconds}}, [{"sleep": 2.5}, request("status"), {"recv": 15},
                                                          request("status"), {"recv": 15}, {"close": True},
                                                          {"wait": 15}])
    got = answers(result)
    assert len(got) == 2 and all(a["ok"] for a in got), result["events"]
    assert result["exit"] == 0, "the helper must end normally, not by the caller's timer"


def test_S4_client_gone_before_the_answer(mallory, policy):
    result = raw(mallory, {}, [request("status"), {"close": True}, {"wait": 15}])
    assert result["exit"] == 0, "the helper must end normally, not die of SIGPIPE"


# -- R: rlimits ------------------------------------------------------------------------
def _cap_sys_resource() -> bool:
    with open("/proc/self/status") as f:
        return bool(int(next(l.split()[1] for l in f if l.startswith("CapBnd:")), 16) & (1 << 24))


def test_R1_tiny_nofile(mallory, policy):
    # 0-3 are open; the dynamic loader needs one more fd to map libc, after
    # which the shim needs none: 5 is the smallest limit that can work.
    hard = 4096
    proc, pid = live_helper(mallory, {"rlimits": {"NOFILE": [5, hard]}})
    assert proc_limit(pid, "Max open files")[0] == "1024"
    assert_status_ok(finish(proc))
    result = raw(mallory, {"rlimits": {"NOFILE": [0, 0]}}, [{"recv": 10}, {"wait": 10}])
    assert result["exit"] not in (0, None) and not answers(result)


@pytest.mark.parametrize("name, limit, label", [("FSIZE", [0, -1], "Max file size"),
                                                ("CPU", [1, -1], "Max cpu time"),
                                                ("CORE", [-1, -1], "Max core file size"),
                                                ("STACK", [65536, -1], "Max stack size"),
                                                ("MEMLOCK", [0, None], "Max locked memory"),
                                                ("MSGQUEUE", [0, None], "Max msgqueue size"),
                                                ("RTTIME", [1, -1], "Max realtime timeout")])
def test_R2_R3_soft_limits_reset(mallory, policy, name, limit, label):
    import resource
    hard = resource.getrlimit(getattr(resource, "RLIMIT_" + name))[1]
    limit = [hard if v is None else resource_value(v) for v in limit]
    proc, pid = live_helper(mallory, {"rlimits": {name: limit}})
    expected = {"FSIZE": "unlimited", "CPU": "unlimited", "CORE": "0", "STACK": str(8 << 20),
                "MEMLOCK": str(min(8 << 20, hard)), "MSGQUEUE": str(min(819200, hard)),
                "RTTIME": "unlimited"}[name]
    assert proc_limit(pid, label)[0] == expected
    assert_status_ok(finish(proc))


def resource_value(v: int) -> int:
    import resource
    return resource.RLIM_INFINITY if v == -1 else v


def test_R2_hard_fsize_lowered(mallory, policy):
    result = raw(mallory, {"rlimits": {"FSIZE": [0, 0]}}, STATUS)
    if _cap_sys_resource():
        assert_status_ok(result)
    else:
        assert result["exit"] == SHIM_HYGIENE and not answers(result)


def test_R3_tiny_address_space(mallory, policy):
    import resource
    inf = resource.RLIM_INFINITY
    proc, pid = live_helper(mallory, {"rlimits": {"AS": [64 << 20, inf]}})
    assert proc_limit(pid, "Max address space")[0] == str(1 << 30)
    assert_status_ok(finish(proc))


def test_R3_nproc_exhausted(mallory, policy):
    # With RLIMIT_NPROC below the user's process count the kernel refuses the
    # setuid execve itself (EAGAIN): nothing starts, nothing is left behind.
    import resource
    result = raw(mallory, {"rlimits": {"NPROC": [1, resource.RLIM_INFINITY]}}, STATUS)
    if answers(result):
        assert_status_ok(result)
    else:
        assert result["exit"] == 127, result


def test_R4_niceness_reset(mallory, policy):
    proc, pid = live_helper(mallory, {"nice": 15})
    with open(f"/proc/{pid}/stat") as f:
        nice = int(f.read().rsplit(")", 1)[1].split()[16])
    assert nice == 0
    assert_status_ok(finish(proc))


def test_R4_scheduling_state_that_survives_exec_is_reset(mallory, policy):
    # Timer slack (PR_SET_TIMERSLACK), the OOM score, the I/O priority class
    # and the CPU affinity all survive exec; the caller may set them for
    # their own processes, and must not carry them into root's.
    spawn = {"timerslack_ns": 60 * 10**9, "oom_score_adj": 1000, "ioprio_idle": True, "cpus": [0], "nice": 10,
             "personality": 0x0020000 | 0x4000000}     # UNAME26 | STICKY_TIMEOUTS
    proc, pid = live_helper(mallory, spawn)
    with open(f"/proc/{pid}/personality") as f:
        assert int(f.read(), 16) == 0, "plain Linux, not the caller's personality"
    with open(f"/proc/{pid}/timerslack_ns") as f:
        assert int(f.read()) == 50000, "the kernel's default slack, not the caller's 60 s"
    with open(f"/proc/{pid}/oom_score_adj") as f:
        assert int(f.read()) <= 0
    ionice = subprocess.run(["ionice", "-p", str(pid)], capture_output=True, text=True)
    assert ionice.returncode == 0 and "idle" not in ionice.stdout, ionice.stdout
    if os.cpu_count() > 1:
        assert proc_status(pid)["Cpus_allowed_list"] != "0"
    assert_status_ok(finish(proc))


@pytest.mark.parametrize("umask", [0o000, 0o777])
def test_R5_umask_and_cwd(mallory, policy, umask, shared_tmp):
    cwd = shared_tmp / "gone"
    cwd.mkdir()
    os.chmod(shared_tmp, 0o755)
    os.chmod(cwd, 0o777)
    proc = raw_background(mallory, {"umask": umask, "cwd": str(cwd)}, [{"sleep": 3}] + STATUS)
    pid = helper_of(mallory)
    cwd.rmdir()
    assert proc_status(pid)["Umask"] == "0022"
    assert os.readlink(f"/proc/{pid}/cwd") == "/"
    assert_status_ok(finish(proc))


# -- P: ptrace, core, procfs ------------------------------------------------------------
PTRACE_ATTACH = ("import ctypes,sys; libc=ctypes.CDLL(None,use_errno=True); "
                 "r=libc.ptrace(16,int(sys.argv[1]),0,0); print(r, ctypes.get_errno())")


def test_P1_no_ptrace_no_procfs_secrets(mallory, policy):
    proc, pid = live_helper(mallory)
    r = run_as(mallory, [paths.PYTHON, "-I", "-c", PTRACE_ATTACH, str(pid)])
    result, errno_ = r.stdout.split()
    assert result == "-1" and int(errno_) == 1, "ptrace(ATTACH) must fail with EPERM"
    for name in ("environ", "mem", "maps", "fd/3"):
        r = run_as(mallory, ["/bin/cat", f"/proc/{pid}/{name}"])
        assert r.returncode != 0, f"mallory could read /proc/{pid}/{name}"
    assert_status_ok(finish(proc))


def test_P2_no_core_dumps(mallory, policy):
    import resource
    inf = resource.RLIM_INFINITY
    proc, pid = live_helper(mallory, {"rlimits": {"CORE": [inf, inf]}})
    assert proc_limit(pid, "Max core file size") == ("0", "0")
    # Not dumpable: its /proc entries belong to root, not to the (root) euid's
    # dumpable default, and the kernel refuses a core even if asked.
    assert os.stat(f"/proc/{pid}/fd").st_uid == 0
    status = proc_status(pid)
    assert status["NoNewPrivs"] == "1"
    assert_status_ok(finish(proc))


def test_P3_helper_cmdline_holds_only_ids(mallory, policy):
    proc, pid = live_helper(mallory)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmdline = f.read().split(b"\0")[:-1]
    assert cmdline[4:] == [b"--uid", str(mallory.uid).encode(), b"--gid", str(mallory.gid).encode(),
                           b"--groups", cmdline[9]]
    assert all(g.isdigit() for g in cmdline[9].split(b","))
    assert_status_ok(finish(proc))


# -- M: the socket protocol ---------------------------------------------------------------
@pytest.mark.parametrize("size", [4097, 8192, 200_000])
def test_M1_oversized_request(mallory, policy, size):
    result = raw(mallory, {}, [{"send": "op=status\n" + "x" * (size - 10)}, {"recv": 15}, {"recv": 15},
                               {"wait": 15}])
    assert_refused_then_closed(result, "longer than 4096")


@pytest.mark.parametrize("data", ["op=status", "op=acq", "op=acquire\nline=modem1\n", ""])
def test_M2_short_or_truncated(mallory, policy, data):
    result = raw(mallory, {}, [{"send": data}, {"recv": 15}, {"recv": 15}, {"wait": 15}])
    if data == "":
        # A zero-length datagram is read as the end of the connection.
        assert not answers(result) and result["exit"] == 0
    else:
        assert_refused_then_closed(result)


def test_M3_silent_client_is_cut_off(mallory, policy):
    started = time.monotonic()
    result = raw(mallory, {}, [{"recv": 30}, {"wait": 15}])
    assert result["events"][0]["recv"] == "eof"
    assert time.monotonic() - started < 20
    assert result["exit"] == 0


def test_M3_a_chatty_client_is_cut_off_after_32_requests(mallory, policy):
    steps = []
    for _ in range(33):
        steps += [request("status"), {"recv": 15}]
    result = raw(mallory, {}, steps + [{"recv": 15}, {"wait": 15}], timeout=120)
    got = answers(result)
    assert len(got) == 33 and all(a["ok"] for a in got[:32]), [a.get("code") for a in got]
    assert_refused_then_closed(result, "more than 32 requests")
    assert result["exit"] == 0


def test_M3_client_that_never_reads(mallory, policy):
    steps = [request("status") for _ in range(300)] + [{"sleep": 12}, {"wait": 15}]
    result = raw(mallory, {}, steps, timeout=90)
    assert result["exit"] is not None, "the helper must give up on a client that does not read"


@pytest.mark.parametrize("data_hex", [
    "6f703d7374617475730aff0a",                 # invalid UTF-8 byte
    "6f703d61637175697265006c696e653d0a",        # embedded NUL
    "efbbbf6f703d7374617475730a",               # BOM
    "7b226f70223a22737461747573227d",           # a JSON body
])
def test_M4_malformed_bytes(mallory, policy, data_hex):
    result = raw(mallory, {}, [{"send_hex": data_hex}, {"recv": 15}, {"recv": 15}, {"wait": 15}])
    assert_refused_then_closed(result)


@pytest.mark.parametrize("text", [
    "op=acquire\nline=modem1\nline=modem1\naccount=a\n",             # duplicate key
    "op=start_pppd\npeer=x\nflags=\nuser=\nsecret=\ntimeout=NaN\n",    # NaN
    "op=start_pppd\npeer=x\nflags=\nuser=\nsecret=\ntimeout=" + "9" * 5000 + "\n",   # 10^5000
    "op=stop\ntarget=\nall=1\nall=0\n",
    "op=acquire\nline=modem1\naccount=\u00e9\n",
])
def test_M4_malformed_fields(mallory, policy, text):
    result = raw(mallory, {}, [{"send": text}, {"recv": 15}, {"recv": 15}, {"wait": 15}])
    assert_refused_then_closed(result)


@pytest.mark.parametrize("field, value", [
    ("timeout", "0x10"), ("timeout", " 1"), ("timeout", "1_000"), ("timeout", "\u0661\u0662"), ("timeout", "1e3"),
    ("timeout", "00000000001"), ("timeout", "4294967296"), ("timeout", "-1"), ("timeout", "+5"), ("timeout", "301"),
    ("timeout", "0"), ("all", "true"), ("all", "01"), ("all", " 1"), ("all", "2"),
])
def test_A4_numbers_in_requests_are_strict_ascii_digits_in_range(mallory, policy, field, value):
    # int() would take " 1", "1_000" and Arabic-Indic digits; the decoder
    # takes 1-10 ASCII digits, then the field's range, and nothing else.
    if field == "timeout":
        text = f"op=start_pppd\npeer=pppt-isp\nflags=\nuser=\nsecret=\ntimeout={value}\n"
    else:
        text = f"op=stop\ntarget=\nall={value}\n"
    result = raw(mallory, {}, [{"send_hex": text.encode("utf-8").hex()}, {"recv": 15}, {"recv": 15},
                               {"wait": 15}])
    assert_refused_then_closed(result, "malformed request")


@pytest.mark.parametrize("sequence", [
    [request("hangup")],
    [request("start_pppd", peer="pppt-isp", flags="", user="", secret="", timeout=10)],
    [request("release")],
    [request("stop", target="", all=0), request("acquire", line="modem1", account="a")],
    [request("reboot")],
])
def test_M5_state_machine(mallory, policy, sequence):
    steps = []
    for send in sequence:
        steps += [send, {"recv": 15}]
    result = raw(mallory, {}, steps + [{"recv": 15}, {"wait": 20}])
    assert_refused_then_closed(result)


@pytest.mark.parametrize("field", ["device=/dev/sda", "lockpath=/etc/shadow", "pid=1", "uid=0",
                                   "linkname=x", "options=plugin /tmp/x.so", "ipparam=x;touch /tmp/pwned-M6"])
def test_M6_resource_naming_fields(mallory, policy, field):
    result = raw(mallory, {}, [{"send": f"op=acquire\nline=modem1\naccount=a\n{field}\n"}, {"recv": 15},
                               {"recv": 15}, {"wait": 15}])
    assert_refused_then_closed(result, "has no field")


def test_M8_mutation_fuzz_against_the_installed_helper(mallory, policy):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "protocol"))
    from mutations import CORPUS, mutate
    rng = random.Random(8)
    for _ in range(40):
        data = mutate(rng.choice(CORPUS), rng)[:4096]
        result = raw(mallory, {}, [{"send_hex": data.hex()}, {"recv": 15}, {"close": True}, {"wait": 15}])
        assert result["exit"] is not None and result["exit"] >= 0, f"helper died on {data!r}: {result}"
        for answer in answers(result):
            assert "Traceback" not in answer.get("message", "")


# -- I: identity and confused deputy -------------------------------------------------------
def _listening_socket(path: str) -> socket.socket:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server.bind(path)
    os.chmod(path, 0o777)
    server.listen(4)
    return server


def test_I1_socket_whose_peer_is_root(mallory, policy, shared_tmp):
    os.chmod(shared_tmp, 0o755)
    path = str(shared_tmp / "root.sock")
    server = _listening_socket(path)       # this test runs as root: the peer is uid 0
    try:
        refused_by_shim(mallory, SHIM_SOCKET, {"fd3": f"connect:{path}"})
    finally:
        server.close()


def test_I2_socket_whose_peer_is_another_user(mallory, alice, policy, shared_tmp):
    os.chmod(shared_tmp, 0o777)
    path = str(shared_tmp / "alice.sock")
    listener = subprocess.Popen(
        ["setpriv", f"--reuid={alice.uid}", f"--regid={alice.gid}", "--init-groups", "--", paths.PYTHON, "-I",
         "-c", "import socket,os,sys,time; s=socket.socket(socket.AF_UNIX,socket.SOCK_SEQPACKET); "
               f"s.bind({path!r}); os.chmod({path!r},0o777); s.listen(4); print('ready',flush=True); "
               "c,_=s.accept(); time.sleep(10)"], stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "ready"
        refused_by_shim(mallory, SHIM_SOCKET, {"fd3": f"connect:{path}"})
    finally:
        listener.kill()
        listener.wait()


def test_I2_socketpair_end_handed_over_by_another_user(mallory, alice, policy, shared_tmp):
    # alice makes a SEQPACKET socketpair and gives mallory one end over
    # SCM_RIGHTS: a SEQPACKET socket, connected, not listening, but its peer
    # (SO_PEERCRED: who made the pair) is alice.  The helper would hand a
    # line to alice's process; the shim refuses.
    os.chmod(shared_tmp, 0o777)
    path = str(shared_tmp / "giver.sock")
    giver = subprocess.Popen(
        ["setpriv", f"--reuid={alice.uid}", f"--regid={alice.gid}", "--init-groups", "--", paths.PYTHON, "-I",
         "-c", "import socket,os,time; a,b=socket.socketpair(socket.AF_UNIX,socket.SOCK_SEQPACKET); "
               "s=socket.socket(socket.AF_UNIX,socket.SOCK_STREAM); "
               f"s.bind({path!r}); os.chmod({path!r},0o777); s.listen(1); print('ready',flush=True); "
               "c,_=s.accept(); socket.send_fds(c,[b'x'],[b.fileno()]); time.sleep(10)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert giver.stdout.readline().strip() == "ready"
        refused_by_shim(mallory, SHIM_SOCKET, {"fd3": f"received:{path}"})
    finally:
        giver.kill()
        giver.wait()


def test_I3_spoofed_uid_everywhere(mallory, policy):
    refused_by_shim(mallory, SHIM_USAGE, {"argv": [paths.SHIM, "--uid", "0"]})
    proc, pid = live_helper(mallory, {"env": {"PPPUP_UID": "0", "SUDO_UID": "0", "USER": "root"}})
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        assert f"--uid\0{mallory.uid}\0".encode() in f.read()
    assert_status_ok(finish(proc))
    result = raw(mallory, {}, [{"send": "op=status\nuid=0\n"}, {"recv": 15}, {"recv": 15}, {"wait": 15}])
    assert_refused_then_closed(result, "has no field")


def test_I4_not_in_group_pppup_cannot_even_exec(eve, mallory, policy):
    client = ("import sys; sys.path.insert(0, %r)\n"
              "from pppup.helper_client import HelperClient\n"
              "try:\n    HelperClient().status()\nexcept Exception as e:\n    print(int(e.code), e)\n") % SITE
    for user, groups in ((eve, "init"), (mallory, "clear")):
        r = run_as(user, [paths.PYTHON, "-I", "-c", client], groups=groups)
        assert r.stdout.startswith("4 ") and f"not in group {paths.GROUP}" in r.stdout, r


def test_I4_every_group_is_passed_or_the_call_is_refused(mallory, policy):
    # The shim reads at most 1024 supplementary groups and never truncates:
    # with 1024 the helper gets every one of them, with 1025 nothing runs.
    import grp
    pppup_gid = grp.getgrnam(paths.GROUP).gr_gid
    many = [pppup_gid] + list(range(60000, 60000 + 1023))
    proc = raw_background(mallory, {}, [{"sleep": 3}] + STATUS, groups=many)
    pid = helper_of(mallory)
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmdline = f.read().split(b"\0")[:-1]
    assert {int(g) for g in cmdline[9].split(b",")} == set(many)
    assert_status_ok(finish(proc))
    result = raw(mallory, {}, [{"recv": 10}, {"wait": 10}], groups=many + [61023])
    assert result["exit"] == SHIM_IDENTITY and not answers(result)


def test_I6_stdio_does_not_matter(mallory, policy):
    # A pty (as `script` or ssh would give) on 0-2 changes nothing: the
    # helper's 0-2 are /dev/null and the answer is the same.
    proc, pid = live_helper(mallory)
    assert all(os.readlink(f"/proc/{pid}/fd/{n}") == "/dev/null" for n in (0, 1, 2))
    assert_status_ok(finish(proc))


# -- Y: Python as root -----------------------------------------------------------------------
def _with_mode(path: str, mode: int):
    class Ctx:
        def __enter__(self):
            self.old = stat.S_IMODE(os.lstat(path).st_mode)
            os.chmod(path, mode)

        def __exit__(self, *exc):
            os.chmod(path, self.old)
    return Ctx()


@pytest.mark.parametrize("where", [SITE, f"{SITE}/pppup_helper", "/usr/lib/python3.11/json"])
def test_Y1_writable_import_path_refused(mallory, policy, where):
    with _with_mode(where, stat.S_IMODE(os.stat(where).st_mode) | stat.S_IWOTH):
        result = raw(mallory, {}, STATUS)
    got = answers(result)
    assert got and got[0]["ok"] is False and got[0]["code"] == HELPER, result
    assert "writable by group or other" in got[0]["message"]


def test_Y1_writable_helper_directory_refused_by_the_shim(mallory, policy):
    with _with_mode(paths.LIBDIR, 0o775):
        refused_by_shim(mallory, SHIM_UNSAFE, {})


def test_Y2_planted_pyc_refused(mallory, policy):
    cache = f"{SITE}/pppup_helper/__pycache__"
    pyc = next(os.path.join(cache, n) for n in sorted(os.listdir(cache)) if n.startswith("server."))
    os.chown(pyc, mallory.uid, mallory.gid)   # as if mallory had written it
    try:
        result = raw(mallory, {}, STATUS)
    finally:
        os.chown(pyc, 0, 0)
    got = answers(result)
    assert got and got[0]["ok"] is False and "not owned by root" in got[0]["message"], result


def test_Y2_writable_pycache_refused(mallory, policy):
    cache = f"{SITE}/pppup_protocol/__pycache__"
    with _with_mode(cache, 0o777):
        result = raw(mallory, {}, STATUS)
    got = answers(result)
    assert got and got[0]["ok"] is False and got[0]["code"] == HELPER, result


def test_Y3_path_and_venv_tricks_ignored(mallory, policy, shared_tmp):
    fake = shared_tmp / "bin"
    fake.mkdir()
    (fake / "python3").write_text("#!/bin/sh\ntouch /tmp/pwned-Y3\n")
    (fake / "python3.11").write_text("#!/bin/sh\ntouch /tmp/pwned-Y3\n")
    (shared_tmp / "pyvenv.cfg").write_text("home = /tmp\ninclude-system-site-packages = true\n")
    os.system(f"chmod -R a+rx {shared_tmp}")
    result = raw(mallory, {"env": {"PATH": f"{fake}:/usr/bin", "VIRTUAL_ENV": str(shared_tmp)},
                           "cwd": str(shared_tmp)}, STATUS)
    assert_status_ok(result)


def test_Y4_helper_entry_replaced_by_a_directory_refused(mallory, policy):
    saved = paths.HELPER_ENTRY + ".attack-saved"
    os.rename(paths.HELPER_ENTRY, saved)
    os.mkdir(paths.HELPER_ENTRY, 0o755)
    try:
        refused_by_shim(mallory, SHIM_UNSAFE, {})
    finally:
        os.rmdir(paths.HELPER_ENTRY)
        os.rename(saved, paths.HELPER_ENTRY)


def test_Y6_policy_error_names_file_line_without_traceback(mallory, policy):
    policy.write("version = 1\n[lines.modem1]\ndevice = \"/dev/ttyS0\"\nbogus_key = 1\n")
    result = raw(mallory, {}, STATUS)
    got = answers(result)
    assert got and got[0]["code"] == 3 and f"{os.path.basename(paths.POLICY)}:" in got[0]["message"], got
    assert "Traceback" not in got[0]["message"] and "File \"" not in got[0]["message"]


def test_Y7_nothing_written_under_the_install_at_run_time(mallory, policy):
    def listing():
        out = {}
        for top, dirs, files in os.walk(paths.LIBDIR):
            for name in dirs + files:
                path = os.path.join(top, name)
                st = os.lstat(path)
                out[path] = (st.st_mode, st.st_uid, st.st_size, st.st_mtime_ns)
        return out
    before = listing()
    assert_status_ok(raw(mallory, {}, STATUS))
    assert listing() == before, "the helper wrote bytecode or compiled cffi as root"


# -- X1: a flood of shim invocations --------------------------------------------------------
def test_X1_flood_is_capped_per_user(mallory, alice, policy):
    from pppup_helper.admission import PER_UID
    flood = [raw_background(mallory, {}, [{"sleep": 4}] + STATUS) for _ in range(PER_UID + 4)]
    # Another user is not locked out by mallory's flood.
    time.sleep(2)
    assert_status_ok(raw(alice, {}, STATUS))
    results = [finish(proc, timeout=90) for proc in flood]
    codes = [answers(r)[0]["code"] if answers(r) and not answers(r)[0]["ok"] else 0 for r in results]
    assert codes.count(0) <= PER_UID, codes
    assert codes.count(5) >= 4, f"the extra helpers must be refused as busy: {codes}"
    assert set(codes) <= {0, 5}, codes


# -- ways to run the shim without its setuid taking effect ------------------------------------
RAW_STATUS_PLAN = '{"spawn": {}, "steps": [{"send": "op=status\\n"}, {"recv": 10}, {"wait": 10}]}'


def _raw_wrapped(user, wrapper: list[str]) -> dict:
    import json
    from attack_harness import RAWCLIENT
    r = run_as(user, wrapper + [paths.PYTHON, "-I", RAWCLIENT], input=RAW_STATUS_PLAN)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout)


def test_I4_no_new_privs_caller_is_refused(mallory, policy):
    # NNP makes the kernel ignore the setuid bit: the shim sees euid != 0.
    result = _raw_wrapped(mallory, ["setpriv", "--no-new-privs", "--"])
    assert result["exit"] == SHIM_IDENTITY and not answers(result)


def test_I4_user_namespace_caller_is_refused(mallory, policy):
    probe = run_as(mallory, ["unshare", "--user", "--map-root-user", "true"])
    if probe.returncode != 0:
        pytest.skip("unprivileged user namespaces are disabled here")
    # "root" inside a user namespace is still mallory outside it.  The shim
    # sees ids 0 there; it stops at setgroups (denied in such a namespace,
    # 115), and a helper that got further would refuse (DENIED) on seeing a
    # non-identity uid_map.  Never a successful answer.
    result = _raw_wrapped(mallory, ["unshare", "--user", "--map-root-user", "--"])
    assert result["exit"] in (SHIM_IDENTITY, 115, EXIT_HELPER_REFUSED), result
    assert not any(a["ok"] for a in answers(result)), result


def test_P1_shim_under_ptrace_runs_unprivileged(mallory, policy):
    if shutil.which("strace") is None:
        pytest.skip("strace is not installed")
    # The kernel does not honour setuid for a traced exec: the shim refuses.
    result = _raw_wrapped(mallory, ["strace", "-f", "-qq", "-o", "/dev/null", "--"])
    assert result["exit"] == SHIM_IDENTITY and not answers(result), result
