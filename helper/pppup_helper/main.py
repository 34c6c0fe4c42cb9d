"""The root helper's entry, run by pppup-helper.py after the setuid shim's exec.

    python3.11 -I -S pppup-helper.py --uid U --gid G --groups G1,G2,...

The argv is built by the shim from the kernel's ids (getresuid, getresgid,
getgroups), never by the user; it is still parsed strictly, and the uid is
cross-checked with SO_PEERCRED on fd 3 (the client's end of the socketpair).
"""
from __future__ import annotations

import re
import struct
import sys
from collections.abc import Sequence

# The C module under socket.py: socket.py's enum conversions (and its
# selectors import) would cost every request about 2 ms of start-up.
import _socket as socket

from pppup_protocol.errors import Code, PppupError

from . import harden

COMM_FD = 3
EXIT_OK = 0
EXIT_REFUSED = 1
_ID = re.compile(r"[0-9]{1,10}", re.ASCII)
_GROUPS = re.compile(r"([0-9]{1,10}(,[0-9]{1,10}){0,1023})?", re.ASCII)
_MAX_ID = 2**32 - 2          # (uid_t)-1 is "no id", never a caller


class ShimArgs:
    def __init__(self, uid: int, gid: int, groups: frozenset[int]):
        self.uid, self.gid, self.groups = uid, gid, groups


def parse_shim_argv(argv: Sequence[str]) -> ShimArgs:
    """Exactly `--uid N --gid N --groups LIST`, in that order; anything else is a PppupError."""
    if len(argv) != 6 or argv[0] != "--uid" or argv[2] != "--gid" or argv[4] != "--groups":
        raise PppupError("the helper was not started by the pppup shim (unexpected arguments)", Code.HELPER)
    uid, gid, groups = argv[1], argv[3], argv[5]
    if _ID.fullmatch(uid) is None or _ID.fullmatch(gid) is None or _GROUPS.fullmatch(groups) is None:
        raise PppupError("the helper was not started by the pppup shim (malformed ids)", Code.HELPER)
    ids = [int(uid), int(gid)] + [int(g) for g in groups.split(",") if g]
    if any(i > _MAX_ID for i in ids):
        raise PppupError("the helper was not started by the pppup shim (id out of range)", Code.HELPER)
    return ShimArgs(ids[0], ids[1], frozenset(ids[2:]))


def comm_socket(expected_uid: int) -> socket.socket:
    """fd 3 as a socket, re-checked: AF_UNIX SEQPACKET whose peer is the caller."""
    sock = socket.socket(fileno=COMM_FD)
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_SEQPACKET:
        raise PppupError("fd 3 is not the pppup client's socket", Code.HELPER)
    pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                                                         struct.calcsize("3i")))
    if uid != expected_uid or pid <= 0:
        raise PppupError("the socket on fd 3 does not belong to the caller", Code.HELPER)
    return sock


def build_caller(args: ShimArgs):  # -> policy.Caller
    import pwd

    from .policy import Caller
    try:
        name = pwd.getpwuid(args.uid).pw_name
    except KeyError:
        name = f"#{args.uid}"       # no passwd entry: policy rules by name can never match it
    # The primary group counts as a process group (as for file access).
    return Caller(uid=args.uid, gid=args.gid, groups=frozenset(args.groups | {args.gid}), name=name)


def require_initial_user_namespace(uid_map: str = "/proc/self/uid_map") -> None:
    """Refuse to run as the "root" of a user namespace: inside one, the shim's
    ids and SO_PEERCRED all read 0 although nothing is privileged, and the
    caller would look like root to the policy."""
    with open(uid_map, "rb") as f:
        fields = f.read(256).split()
    if fields != [b"0", b"0", b"4294967295"]:
        raise PppupError("pppup cannot be used from inside a user namespace (container); "
                         "run it on the host", Code.DENIED)


def main(argv: Sequence[str] | None = None) -> int:
    # First: nothing to dump, no way to gain privileges, capabilities trimmed.
    harden.harden_process()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--finish"]:
        # The last step of a link's supervisor (execed by csrc/pppup-supervise.c
        # as root, never by the shim, which builds every argv a user can start).
        return _finish(list(argv[1:]))
    try:
        require_initial_user_namespace()
        args = parse_shim_argv(argv)
        sock = comm_socket(args.uid)
    except PppupError as exc:
        _refuse_on_fd3(exc)
        return EXIT_REFUSED
    from .admission import admit
    try:
        admission = admit(args.uid)
    except (PppupError, OSError) as exc:
        if not isinstance(exc, PppupError):
            exc = PppupError(f"pppup: cannot take a request slot: {exc}", Code.HELPER)
        _refuse_on_fd3(exc, sock)
        return EXIT_REFUSED
    try:
        from . import handlers, server
        caller = build_caller(args)
        gate = handlers.Gate(caller, handlers.real_backend(), admission)
    except Exception as exc:  # noqa: BLE001 - a broken install must still answer, without details
        _log(f"start-up failed: {type(exc).__name__}: {exc}")
        _refuse_on_fd3(PppupError("internal error in the pppup helper at start-up, see the system log "
                                  "(journalctl -t pppup-helper)", Code.FAILURE), sock)
        return EXIT_REFUSED
    server.serve(server.Connection(sock), gate)
    return EXIT_OK


def _finish(argv: list[str]) -> int:
    try:
        from . import finish
        return finish.main(argv)
    except Exception as exc:  # noqa: BLE001 - the last word of a supervisor: log, never a traceback
        _log(f"link cleanup failed: {type(exc).__name__}: {exc}; the next `pppup status` cleans up the line")
        return EXIT_REFUSED


def _log(message: str) -> None:
    import syslog
    syslog.openlog("pppup-helper", 0, syslog.LOG_AUTHPRIV)
    syslog.syslog(syslog.LOG_ERR, message[:1000].encode("ascii", "backslashreplace").decode("ascii"))


def _refuse_on_fd3(exc: PppupError, sock: socket.socket | None = None) -> None:
    """One error answer to whatever the client sends first, then the helper exits.

    The first request is read (waiting at most 2 s) before answering: closing
    a socket with unread data would reset the connection and lose the answer."""
    import select

    from pppup_protocol.codec import encode_error
    try:
        conn = sock if sock is not None else socket.socket(fileno=COMM_FD)
    except OSError:
        return
    try:
        poller = select.poll()
        poller.register(conn.fileno(), select.POLLIN)
        if poller.poll(2000):
            conn.recv(8192, socket.MSG_DONTWAIT)
        conn.send(encode_error(exc.code, exc.message), socket.MSG_NOSIGNAL | socket.MSG_DONTWAIT)
    except OSError:
        pass
    finally:
        conn.close()
