"""A raw, hostile client of the installed setuid shim (standard library only).

Run AS THE ATTACKING USER with the system interpreter:
    /usr/bin/python3.11 -I rawclient.py < steps.json  > result.json

It does what a forged client can do: exec the shim with any argv, env, fd 3,
stdio, rlimits, signal dispositions and umask, then send arbitrary datagrams
(with fds attached if wanted), read answers (with the fds that come back),
sleep, close, and wait for the helper's exit status.

steps.json: {"spawn": {...}, "steps": [{...}, ...]}
  spawn: fd3 = "good" | "closed" | "pipe" | "file" | "devnull" | "inet" | "stream" | "dgram" |
               "listening" | "connect:PATH" (a SEQPACKET socket connected to PATH) |
               "unconnected" (a SEQPACKET socket, never connected) | "opath" (an O_PATH fd of a
               bound socket) | "received:PATH" (whatever fd the process listening on the
               stream socket PATH sends over SCM_RIGHTS)
         argv (list, may be []), env (dict), close_stdio (bool), rlimits {"NOFILE": [soft, hard], ...},
         ignore_signals [names], block_signals [names], umask (int), cwd, nice (int),
         path (execve this file instead of the shim: a symlink or hard link to it),
         fd3_sndbuf (int: SO_SNDBUF of the helper's end, set before the exec),
         fd3_passcred (bool: SO_PASSCRED on the helper's end, set before the exec),
         keep_fd3 (bool: the client keeps a copy of the helper's end of the socketpair),
         pending_signals [names] (blocked and raised before the exec: pending in the shim),
         ignore_all_raw (bool: every signal ignored with the raw rt_sigaction, 32 and 33 too),
         oom_score_adj (int), ioprio_idle (bool: the idle I/O scheduling class),
         timerslack_ns (int: PR_SET_TIMERSLACK, which survives exec), cpus [N, ...] (affinity),
         itimers {"REAL"|"VIRTUAL"|"PROF": SECONDS} (interval timers, which survive exec),
         personality (int: personality(2) flags, e.g. 0x0020000 UNAME26 | 0x4000000 STICKY_TIMEOUTS),
         mdwe (bool: PR_SET_MDWE refuse-exec-gain, which no exec can undo)
  steps: {"send": TEXT} | {"send_hex": HEX} | {"attach_fds": N} (to the next send)
         | {"send_creds": TEXT, "uid": U} (with SCM_CREDENTIALS: own pid/gid, uid U or own)
         | {"recv": SECONDS} | {"sleep": SECONDS} | {"close": true} | {"wait": SECONDS}
         | {"peer_shutdown": true} (shutdown(SHUT_RDWR) of the helper's end through the kept copy)
         | {"recv": SECONDS, "keep_fds": true} (the fds received stay open for "write_kept")
         | {"write_kept": TEXT, "for": SECONDS} (write TEXT to every kept fd, again every 0.1 s
           until it fails or SECONDS pass; records the errno name or "ok" and when)
         | {"reopen_kept": true} (open /proc/self/fd/N of every kept fd anew: "ok" or the errno name)
result: {"pid": P, "events": [...], "exit": CODE or null}
"""
import array
import ctypes
import json
import os
import resource
import select
import signal
import socket
import stat
import struct
import sys
import time

SHIM = "/usr/local/lib/pppup/pppup-shim"
_KEEP = []


def make_fd3(kind):
    if kind == "good":
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        return ours, theirs.detach()
    if kind == "closed":
        return None, None
    if kind == "pipe":
        return None, os.pipe()[0]
    if kind == "file":
        return None, os.open("/etc/hostname", os.O_RDONLY)
    if kind == "devnull":
        return None, os.open("/dev/null", os.O_RDWR)
    if kind == "inet":
        return None, socket.socket(socket.AF_INET, socket.SOCK_STREAM).detach()
    if kind == "stream":
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        return ours, theirs.detach()
    if kind == "dgram":
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        return ours, theirs.detach()
    if kind == "listening":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(b"\0pppup-attack-%d" % os.getpid())
        s.listen(1)
        return None, s.detach()
    if kind.startswith("connect:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.connect(kind.split(":", 1)[1])
        return None, s.detach()
    if kind == "unconnected":
        return None, socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET).detach()
    if kind == "opath":
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.bind(b"\0pppup-attack-opath-%d" % os.getpid())
        _KEEP.append(s)          # the socket itself stays open; fd 3 is only an O_PATH of it
        return None, os.open(f"/proc/self/fd/{s.fileno()}", os.O_PATH)
    if kind.startswith("received:"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(kind.split(":", 1)[1])
        _, fds, _, _ = socket.recv_fds(s, 16, 1)
        s.close()
        return None, fds[0]
    raise ValueError(kind)


_SYS_RT_SIGACTION = {"x86_64": 13, "aarch64": 134}
_SYS_IOPRIO_SET = {"x86_64": 251, "aarch64": 30}


def _syscall(table, *args):
    import platform
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.syscall(table[platform.machine()], *args) != 0:
        raise OSError(ctypes.get_errno(), "syscall")


def ignore_every_signal():
    ignore = (ctypes.c_ulong * 4)(1, 0, 0, 0)      # SIG_IGN, no flags, empty mask
    for sig in range(1, 65):
        if sig not in (signal.SIGKILL, signal.SIGSTOP):
            _syscall(_SYS_RT_SIGACTION, sig, ctypes.byref(ignore), None, ctypes.c_size_t(8))


def raw_execve(path, argv, env):
    libc = ctypes.CDLL(None, use_errno=True)
    c_argv = (ctypes.c_char_p * (len(argv) + 1))(*[a.encode() for a in argv], None)
    c_env = (ctypes.c_char_p * (len(env) + 1))(*[e.encode() for e in env], None)
    libc.execve(path.encode(), c_argv, c_env)


def spawn(spec):
    ours, theirs = make_fd3(spec.get("fd3", "good"))
    if "fd3_sndbuf" in spec:
        socket.socket(fileno=os.dup(theirs)).setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF,
                                                        spec["fd3_sndbuf"])
    if spec.get("fd3_passcred"):
        socket.socket(fileno=os.dup(theirs)).setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    kept = os.dup(theirs) if spec.get("keep_fd3") else None
    path = spec.get("path", SHIM)
    argv = spec.get("argv", [path])
    env = [f"{k}={v}" for k, v in spec.get("env", {}).items()]
    pid = os.fork()
    if pid == 0:
        try:
            if theirs is None:
                try:
                    os.close(3)
                except OSError:
                    pass
            else:
                if theirs != 3:
                    os.dup2(theirs, 3)
                os.set_inheritable(3, True)
            for name in spec.get("ignore_signals", []):
                signal.signal(getattr(signal, name), signal.SIG_IGN)
            if spec.get("block_signals"):
                signal.pthread_sigmask(signal.SIG_BLOCK, {getattr(signal, n) for n in spec["block_signals"]})
            if "umask" in spec:
                os.umask(spec["umask"])
            if "cwd" in spec:
                os.chdir(spec["cwd"])
            if "nice" in spec:
                os.nice(spec["nice"])
            for name, (soft, hard) in spec.get("rlimits", {}).items():
                resource.setrlimit(getattr(resource, "RLIMIT_" + name), (soft, hard))
            if "oom_score_adj" in spec:
                with open("/proc/self/oom_score_adj", "w") as f:
                    f.write(str(spec["oom_score_adj"]))
            if "timerslack_ns" in spec:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.prctl(29, ctypes.c_ulong(spec["timerslack_ns"]), 0, 0, 0) != 0:   # PR_SET_TIMERSLACK
                    raise OSError(ctypes.get_errno(), "PR_SET_TIMERSLACK")
            if "personality" in spec:
                ctypes.CDLL(None).personality(spec["personality"])
            if spec.get("mdwe"):
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.prctl(65, 1, 0, 0, 0) != 0:           # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
                    raise OSError(ctypes.get_errno(), "PR_SET_MDWE")
            for name, seconds in spec.get("itimers", {}).items():
                signal.setitimer(getattr(signal, "ITIMER_" + name), seconds)
            if "cpus" in spec:
                os.sched_setaffinity(0, spec["cpus"])
            if spec.get("ioprio_idle"):
                _syscall(_SYS_IOPRIO_SET, 1, 0, 3 << 13)     # IOPRIO_WHO_PROCESS, self, IDLE class
            if spec.get("ignore_all_raw"):
                ignore_every_signal()
            if spec.get("pending_signals"):
                pending = {getattr(signal, n) for n in spec["pending_signals"]}
                signal.pthread_sigmask(signal.SIG_BLOCK, pending)
                for sig in pending:
                    os.kill(os.getpid(), sig)
            if spec.get("close_stdio"):
                for fd in (0, 1, 2):
                    os.close(fd)
            raw_execve(path, argv, env)
        finally:
            os._exit(127)
    if theirs is not None and theirs != 3:
        os.close(theirs)
    return pid, ours, kept


def describe_fd(fd):
    st = os.fstat(fd)
    flags = __import__("fcntl").fcntl(fd, __import__("fcntl").F_GETFL)
    return {"chr": stat.S_ISCHR(st.st_mode), "reg": stat.S_ISREG(st.st_mode),
            "rdev": [os.major(st.st_rdev), os.minor(st.st_rdev)], "uid": st.st_uid,
            "accmode": flags & os.O_ACCMODE, "isatty": os.isatty(fd), "o_path": bool(flags & os.O_PATH),
            "link": os.readlink(f"/proc/self/fd/{fd}")}


def main():
    plan = json.load(sys.stdin)
    events = []
    pid, sock, kept = spawn(plan.get("spawn", {}))
    attach = 0
    status = None
    kept_fds = []
    for step in plan.get("steps", []):
        try:
            if sock is None and ("recv" in step or "send" in step or "send_hex" in step or "close" in step):
                events.append({"recv": "no-socket"} if "recv" in step else {"skipped": "no socket"})
            elif "attach_fds" in step:
                attach = step["attach_fds"]
            elif "send_creds" in step:
                creds = struct.pack("3i", os.getpid(), step.get("uid", os.getuid()), os.getgid())
                sock.sendmsg([step["send_creds"].encode("latin-1")],
                             [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, creds)], socket.MSG_NOSIGNAL)
                events.append({"sent": len(step["send_creds"])})
            elif "peer_shutdown" in step:
                socket.socket(fileno=os.dup(kept)).shutdown(socket.SHUT_RDWR)
                events.append({"shutdown": True})
            elif "send" in step or "send_hex" in step:
                data = step["send"].encode("latin-1") if "send" in step else bytes.fromhex(step["send_hex"])
                fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(attach)]
                anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))] if fds else []
                sock.sendmsg([data], anc, socket.MSG_NOSIGNAL)
                for fd in fds:
                    os.close(fd)
                attach = 0
                events.append({"sent": len(data)})
            elif "recv" in step:
                ready, _, _ = select.select([sock], [], [], step["recv"])
                if not ready:
                    events.append({"recv": "timeout"})
                    continue
                data, anc, flags, _ = sock.recvmsg(70000, socket.CMSG_SPACE(64))
                fds = []
                for level, kind, payload in anc:
                    arr = array.array("i")
                    arr.frombytes(payload[: len(payload) - len(payload) % 4])
                    fds.extend(arr)
                event = {"recv": "eof" if not data else "data", "fds": [describe_fd(fd) for fd in fds]}
                if step.get("keep_fds"):
                    kept_fds.extend(fds)
                else:
                    for fd in fds:
                        os.close(fd)
                if data:
                    try:
                        event["answer"] = json.loads(data)
                    except ValueError:
                        event["raw"] = data.decode("latin-1")
                events.append(event)
            elif "write_kept" in step:
                t0 = time.monotonic()
                outcome = {}
                for fd in kept_fds:
                    while True:
                        try:
                            os.write(fd, step["write_kept"].encode("latin-1"))
                            outcome[fd] = "ok"
                        except OSError as exc:
                            outcome[fd] = __import__("errno").errorcode.get(exc.errno, str(exc.errno))
                            break
                        if time.monotonic() - t0 >= step.get("for", 0):
                            break
                        time.sleep(0.1)
                events.append({"write_kept": list(outcome.values()), "after": time.monotonic() - t0})
            elif "reopen_kept" in step:
                outcome = []
                for fd in kept_fds:
                    try:
                        os.close(os.open(f"/proc/self/fd/{fd}", os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK))
                        outcome.append("ok")
                    except OSError as exc:
                        outcome.append(__import__("errno").errorcode.get(exc.errno, str(exc.errno)))
                events.append({"reopen_kept": outcome})
            elif "sleep" in step:
                time.sleep(step["sleep"])
            elif "close" in step:
                sock.close()
                sock = None
                events.append({"closed": True})
            elif "wait" in step:
                deadline = time.monotonic() + step["wait"]
                while time.monotonic() < deadline:
                    done, st = os.waitpid(pid, os.WNOHANG)
                    if done:
                        status = os.waitstatus_to_exitcode(st)
                        break
                    time.sleep(0.01)
                events.append({"exit": status})
        except OSError as exc:
            events.append({"error": type(exc).__name__, "errno": exc.errno})
    print(json.dumps({"pid": pid, "events": events, "exit": status}))


main()
