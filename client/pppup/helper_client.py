"""The client's side of the root helper: spawn the setuid shim, one method per operation.

    with HelperClient() as helper:
        fd, limits = helper.acquire("modem1", "work")
        ...                                   # dial on fd (unprivileged)
        link = helper.start_pppd("isp1", ["debug"], "alice", "secret")

One HelperClient is one connection, and one connection follows the helper's
permit table (pppup_protocol.permits): status any time; acquire once; hangup
while holding the line; start_pppd once, after which the helper becomes the
link's supervisor and the connection ends; release; stop (pppdown) only on a
connection that has not acquired.  Every wait is bounded.  Errors arrive as
PppupError with the helper's code and message.
"""
from __future__ import annotations

import array
import os
import pwd
import select
import socket
import time
from typing import Any, Sequence

from pppup_protocol import paths
from pppup_protocol.codec import MAX_ANSWER, ProtocolError, decode_answer, encode_request
from pppup_protocol.errors import Code, PppupError
from pppup_protocol.ops import ANSWER_KEYS, Op

COMM_FD = 3

# What the shim's exit codes mean (csrc/pppup-shim.c, enum shim_exit).
SHIM_EXITS = {
    110: "the shim was started with arguments (it takes none)",
    111: "the shim could not set up its standard file descriptors",
    112: "the shim is not running as setuid root (nosuid mount or no-new-privs?), or you are in too many groups",
    113: "fd 3 was not this client's socket",
    114: "the shim could not reset its process state (resource limits lowered below its floor?)",
    115: "the shim could not become root",
    116: "the shim could not turn off core dumps or set no-new-privs",
    117: "the Python interpreter or the helper file is not root-owned or is writable by others",
    118: "the shim could not execute the Python interpreter",
}


def _me() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


class HelperClient:
    def __init__(self, shim: str = paths.SHIM, timeout: float = 15.0):
        self.shim = shim
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.pid: int | None = None
        self.supervising = False      # start_pppd succeeded: the helper now outlives us

    # -- connection ---------------------------------------------------------
    def __enter__(self) -> "HelperClient":
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # Only fd 3 is handed over (Python's fds are close-on-exec; dup2
            # onto 3 clears it for that one); the shim ignores the environment.
            self.pid = os.posix_spawn(self.shim, [self.shim], {},
                                      file_actions=_hand_over_only(theirs.fileno()))
        except PermissionError:
            ours.close()
            raise PppupError(f"pppup: you are not in group {paths.GROUP}, so you may not run {self.shim}; "
                             f"ask your administrator (pppup-policy explain --user {_me()})", Code.DENIED) from None
        except FileNotFoundError:
            ours.close()
            raise PppupError(f"pppup: the root helper is not installed ({self.shim} is missing); "
                             "ask your administrator to run `make install`", Code.HELPER) from None
        finally:
            theirs.close()
        self.sock = ours

    def close(self, wait: float = 5.0) -> None:
        """Close the connection and reap the helper (it cleans up and exits at
        EOF; waited for at most `wait` seconds).  After a successful start_pppd
        it lives on as the link's supervisor and is not waited for."""
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        if self.pid is None:
            return
        if not self.supervising:
            _wait_exit(self.pid, wait)
        try:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            pid = self.pid
        if pid:
            self.pid = None

    # -- one method per operation (names match pppup_protocol.ops.Op) ------
    def status(self) -> list[dict[str, Any]]:
        return self._call(Op.STATUS, {})[0]["lines"]

    def acquire(self, line: str, account: str, timeout: float = 60.0) -> tuple[int, dict[str, Any]]:
        """The tty fd (O_RDWR|O_NOCTTY, the caller must close it) and the policy's limits."""
        answer, fds = self._call(Op.ACQUIRE, {"line": line, "account": account}, timeout, max_fds=1)
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise ProtocolError("the root helper granted the line but sent no tty fd")
        return fds[0], answer["limits"]

    def hangup(self, timeout: float = 30.0) -> None:
        self._call(Op.HANGUP, {}, timeout)

    def start_pppd(self, peer: str, flags: Sequence[str], user: str | None, secret: str | None,
                   timeout: int = 90) -> dict[str, Any]:
        values = {"peer": peer, "flags": list(flags), "user": user or "", "secret": secret or "",
                  "timeout": timeout}
        link = self._call(Op.START_PPPD, values, timeout + 10.0)[0]["link"]
        self.supervising = True
        return link

    def release(self, timeout: float = 30.0) -> None:
        self._call(Op.RELEASE, {}, timeout)

    def stop(self, target: str | None, all_: bool, timeout: float = 60.0) -> list[dict[str, Any]]:
        return self._call(Op.STOP, {"target": target or "", "all": all_}, timeout)[0]["stopped"]

    # -- the wire --------------------------------------------------------------
    def _call(self, op: Op, values: dict[str, Any], timeout: float | None = None,
              max_fds: int = 0) -> tuple[dict[str, Any], list[int]]:
        sock = self.sock
        if sock is None:
            self.connect()
            sock = self.sock
        if sock is None:
            raise PppupError("pppup: no connection to the root helper", Code.HELPER)
        data = encode_request(op, values)
        deadline = time.monotonic() + (timeout or self.timeout)
        try:
            sock.sendmsg([data], [], socket.MSG_NOSIGNAL)
        except (BrokenPipeError, ConnectionResetError):
            raise self._helper_gone(op, deadline) from None
        if not _wait_readable(sock, deadline):
            raise PppupError(f"pppup: the root helper did not answer {op.value} within "
                             f"{timeout or self.timeout:.0f} s", Code.TIMEOUT)
        fd_size = array.array("i").itemsize
        try:
            raw, ancdata, flags, _ = sock.recvmsg(MAX_ANSWER + 1, socket.CMSG_SPACE(max(1, max_fds) * fd_size),
                                                       socket.MSG_CMSG_CLOEXEC)
        except ConnectionResetError:
            raw, ancdata, flags = b"", [], 0
        fds = _received_fds(ancdata)
        if len(fds) > max_fds or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            for fd in fds:
                os.close(fd)
            raise ProtocolError(f"the root helper's answer to {op.value} was truncated or carried "
                                "unexpected file descriptors")
        if not raw:
            raise self._helper_gone(op, deadline)
        try:
            answer = decode_answer(raw)
        except PppupError:
            for fd in fds:
                os.close(fd)
            raise
        missing = ANSWER_KEYS[op] - answer.keys()
        if missing:
            for fd in fds:
                os.close(fd)
            raise ProtocolError(f"the root helper's answer to {op.value} lacks {', '.join(sorted(missing))}")
        return answer, fds

    def _helper_gone(self, op: Op, deadline: float) -> PppupError:
        """The helper closed the connection without answering: say why, from its exit status."""
        status = None
        if self.pid is not None:
            while time.monotonic() < deadline:
                pid, st = os.waitpid(self.pid, os.WNOHANG)
                if pid:
                    status, self.pid = os.waitstatus_to_exitcode(st), None
                    break
                time.sleep(0.01)
        if status in SHIM_EXITS:
            why = SHIM_EXITS[status]
        elif status is None:
            why = "it is still running"
        elif status < 0:
            why = f"it was killed by signal {-status}"
        else:
            why = f"it exited with status {status}"
        return PppupError(f"pppup: the root helper ended without answering {op.value}: {why}; "
                          "see the system log (journalctl -t pppup-helper)", Code.HELPER)


def _hand_over_only(comm: int) -> list[tuple[int, ...]]:
    """File actions for the shim: `comm` becomes fd 3, and every other
    inheritable fd of ours above 2 is closed (Python's own fds are
    close-on-exec already; these came from our parent or a careless caller)."""
    actions: list[tuple[int, ...]] = [(os.POSIX_SPAWN_DUP2, comm, COMM_FD)]
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > COMM_FD and fd != comm:
            try:
                if os.get_inheritable(fd):
                    actions.append((os.POSIX_SPAWN_CLOSE, fd))
            except OSError:
                pass  # the listing's own fd, closed by now
    return actions


def _wait_readable(sock: socket.socket, deadline: float) -> bool:
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select([sock], [], [], left)
        if ready:
            return True


def _wait_exit(pid: int, seconds: float) -> None:
    """Wait (at most `seconds`) until process `pid` has exited, without reaping it."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([pidfd], [], [], seconds)
    finally:
        os.close(pidfd)


def _received_fds(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(payload[: len(payload) - len(payload) % arr.itemsize])
            fds.extend(arr)
    return fds
