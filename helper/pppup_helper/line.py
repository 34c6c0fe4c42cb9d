"""Open the policy's serial line, pin it, and work its modem-control lines.

Resolution (attack class D1).  The policy may name the line through a symlink
(/dev/modem, /dev/serial/by-id/...).  The helper resolves the path itself,
component by component with lstat: every directory on the way must be
root-owned and not writable by group or others, every symlink root-owned, and
the node at the end a character device that is not writable by others.  The
node's identity (st_rdev, and st_dev/st_ino of the node) is taken then:
the policy's explicit `rdev` if it has one, else what this request resolved.

Open.  openat2(RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS) on the resolved
path with O_RDWR|O_NOCTTY|O_NONBLOCK|O_CLOEXEC: no link is followed (a swap
after resolution fails), no controlling tty is acquired, no wait for carrier.
fstat must then show the same node and the pinned device number.

Allowed devices (D2): serial majors only, a pseudo-terminal only for a line
marked `pty = true` whose slave is owned by root (a user's own pty is owned
by the user, so it never passes).  Virtual consoles (major 4, minor < 64),
/dev/tty, /dev/console and every other device are refused.

Side effects of opening (D4).  The first open of a UART port raises DTR and
RTS: the kernel's serial core does so when the port is activated and the
speed is not B0.  Nothing else here raises DTR: it only goes up again after
our own drop (hangup) on purpose.  A modem set to &D2/&D3 sees DTR rise then.

Exclusive use (D6).  TIOCEXCL is set on the tty right after opening: while
the session lasts every further open() of the device by a process without
CAP_SYS_ADMIN fails with EBUSY (a dialout member's `cat /dev/ttyS1` included);
descriptors opened before are not affected, and root's opens still succeed.
The flag belongs to the tty and goes away with its last close.

End of session (F5).  revoke() is TIOCVHANGUP: the kernel hangs up the tty
and every open file description of it, the user's included, answers reads
with end-of-file and writes with EIO from then on.  It needs CAP_SYS_ADMIN.

The kernel may hang up the tty before that: pppd, a session leader of its
own, re-opens its stdin tty by name without O_NOCTTY, so the line becomes its
controlling tty and is hung up when pppd exits (carrier loss does the same).
Then our own description is dead too; renew() opens the pinned device again
so cleanup (DTR drop, reset, revoke) still happens.
"""
from __future__ import annotations

import errno
import fcntl
import os
import select
import stat
import struct
import termios
import time
from collections import namedtuple

from pppup_protocol.errors import Code, PppupError

# pppup_helper.syscalls (the cffi module) is imported where a system call
# needs it: a status request only resolves paths and never loads it.

# Character-device majors of serial ports (Documentation/admin-guide/devices.txt).
SERIAL_MAJORS: dict[int, str] = {
    4: "ttyS: 8250/16550 UARTs (minors 64 and up; below are virtual consoles)",
    166: "ttyACM: USB CDC-ACM modems",
    188: "ttyUSB: USB serial converters",
    204: "low-density serial ports (ttyAMA, ttySC, ttyPS, ...)",
    207: "ttymxc: Freescale i.MX UARTs",
    208: "ttyU: user-space serial ports",
    216: "rfcomm: Bluetooth serial (dial-up networking)",
}
TTYS_FIRST_MINOR = 64
PTY_SLAVE_MAJORS = range(136, 144)   # Unix98 pty slaves (/dev/pts/N)
OPEN_FLAGS = os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC
MAX_LINK_HOPS = 16


def _line_error(message: str) -> PppupError:
    return PppupError(message, Code.LINE)


class Device(namedtuple("Device", [
        "configured",       # str: the path as the policy writes it
        "path",             # str: resolved, free of symlinks
        "st_dev", "st_ino",  # int: the node's identity
        "rdev",             # tuple[int, int]: the pinned (major, minor)
        "owner",            # int: the node's uid
        "is_pty",           # bool
        ])):
    """The device node a policy path resolved to, with the identity to pin."""
    __slots__ = ()

    @property
    def aliases(self) -> tuple[str, ...]:
        return () if self.configured == self.path else (self.configured,)


def resolve_device(configured: str, rdev: tuple[int, int] | None, pty: bool) -> Device:
    """Resolve the policy's path safely and decide whether the device may be used."""
    if not configured.startswith("/"):
        raise _line_error(f"device {configured!r} is not an absolute path; fix the policy")
    _check_dir("/", os.lstat("/"))
    current = "/"
    pending = [p for p in configured.split("/") if p]
    hops = 0
    node: os.stat_result | None = None
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            current = os.path.dirname(current) if current != "/" else "/"
            continue
        candidate = os.path.join(current, part)
        try:
            st = os.lstat(candidate)
        except OSError as e:
            raise _line_error(f"device {configured}: {candidate}: {e.strerror}; is the modem "
                              "plugged in and the policy's path right?") from e
        if stat.S_ISLNK(st.st_mode):
            hops += 1
            if hops > MAX_LINK_HOPS:
                raise _line_error(f"device {configured}: too many symbolic links")
            if st.st_uid != 0:
                raise _line_error(f"device {configured}: symlink {candidate} is not owned by root")
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = "/"
            pending = [p for p in target.split("/") if p] + pending
            continue
        if stat.S_ISDIR(st.st_mode):
            _check_dir(candidate, st)
            current = candidate
            continue
        if pending:
            raise _line_error(f"device {configured}: {candidate} is not a directory")
        current, node = candidate, st
    if node is None:
        raise _line_error(f"device {configured} resolves to a directory, not a device")
    if not stat.S_ISCHR(node.st_mode):
        raise _line_error(f"device {configured} ({current}) is not a character device")
    if node.st_mode & stat.S_IWOTH:
        raise _line_error(f"device {current} is writable by everyone; refusing it")
    found = (os.major(node.st_rdev), os.minor(node.st_rdev))
    pinned = rdev if rdev is not None else found
    if found != pinned:
        raise _line_error(f"device {configured} is {found[0]}:{found[1]} but the policy pins "
                          f"{pinned[0]}:{pinned[1]}; a different device is plugged in there "
                          "(fix the policy's rdev if this one is right)")
    is_pty = _check_kind(configured, current, pinned, node.st_uid, pty)
    return Device(configured=configured, path=current, st_dev=node.st_dev, st_ino=node.st_ino,
                  rdev=pinned, owner=node.st_uid, is_pty=is_pty)


def _check_dir(path: str, st: os.stat_result) -> None:
    if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise _line_error(f"directory {path} on the device path is not root-owned or is writable "
                          "by group/others; the device cannot be trusted")


def _check_kind(configured: str, path: str, rdev: tuple[int, int], owner: int, pty: bool) -> bool:
    major, minor = rdev
    if major in PTY_SLAVE_MAJORS:
        if not pty:
            raise _line_error(f"device {configured} ({path}) is a pseudo-terminal; the policy "
                              "must mark the line `pty = true` to use one")
        if owner != 0:
            raise _line_error(f"device {configured} ({path}) is a pseudo-terminal owned by uid "
                              f"{owner}, not root; only a root daemon's pty may be a line")
        return True
    if major not in SERIAL_MAJORS or (major == 4 and minor < TTYS_FIRST_MINOR):
        raise _line_error(f"device {configured} ({path}, {major}:{minor}) is not a serial port; "
                          "pppup uses serial ports only (see line.SERIAL_MAJORS)")
    if pty:
        raise _line_error(f"line device {configured} is a serial port but the policy says "
                          "`pty = true`; fix the policy")
    return False


class Line:
    """An open, pinned, exclusive tty of a policy line; owns the fd."""

    def __init__(self, device: Device, fd: int):
        self.device = device
        self.fd = fd

    @classmethod
    def open(cls, device: Device) -> "Line":
        from pppup_helper import syscalls
        try:
            fd = syscalls.openat2(device.path, OPEN_FLAGS,
                                  resolve=syscalls.RESOLVE_NO_SYMLINKS | syscalls.RESOLVE_NO_MAGICLINKS)
        except OSError as e:
            hint = "; another program holds it exclusively" if e.errno == errno.EBUSY else ""
            raise _line_error(f"cannot open {device.path} ({device.configured}): {e.strerror}{hint}") from e
        try:
            _check_same_node(fd, device)
            fcntl.ioctl(fd, termios.TIOCEXCL)
        except BaseException:
            os.close(fd)
            raise
        return cls(device, fd)

    @classmethod
    def adopt(cls, fd: int, path: str) -> "Line":
        """The line as an inherited fd (the supervisor's fd 3): pinned to the
        node it is open on, which must be a terminal character device."""
        st = os.fstat(fd)
        if not stat.S_ISCHR(st.st_mode) or not os.isatty(fd):
            raise _line_error(f"fd {fd} is not the line {path}: not a terminal")
        rdev = (os.major(st.st_rdev), os.minor(st.st_rdev))
        device = Device(configured=path, path=path, st_dev=st.st_dev, st_ino=st.st_ino, rdev=rdev,
                        owner=st.st_uid, is_pty=rdev[0] in PTY_SLAVE_MAJORS)
        return cls(device, fd)

    def reopen(self) -> int:
        """A second open file description of the same pinned tty (its own O_NONBLOCK
        etc.), so the client or pppd changing their file flags never blocks ours."""
        self._need_open()
        fd = os.open(f"/proc/self/fd/{self.fd}", OPEN_FLAGS)
        try:
            _check_same_node(fd, self.device)
        except BaseException:
            os.close(fd)
            raise
        return fd

    # -- modem-control lines
    def modem_bits(self) -> int | None:
        """TIOCMGET, or None when the tty has no modem-control lines (a pty)."""
        self._need_open()
        try:
            return struct.unpack("i", fcntl.ioctl(self.fd, termios.TIOCMGET, bytes(4)))[0]
        except OSError as e:
            if e.errno in (errno.ENOTTY, errno.EINVAL):
                return None
            raise

    def set_dtr(self, on: bool) -> bool:
        """Raise or lower DTR; False when there are no modem-control lines."""
        self._need_open()
        request = termios.TIOCMBIS if on else termios.TIOCMBIC
        try:
            fcntl.ioctl(self.fd, request, struct.pack("i", termios.TIOCM_DTR))
            return True
        except OSError as e:
            if e.errno in (errno.ENOTTY, errno.EINVAL):
                return False
            raise

    def drop_dtr(self, hold: float, raise_again: bool = True, dropped_at: float | None = None) -> str:
        """Hang up by DTR: low for `hold` seconds, then (optionally) high again.

        `dropped_at` (time.monotonic()): DTR already went low then (the link
        supervisor drops it the moment pppd exits); only the rest of the hold
        is waited here."""
        if dropped_at is None:
            if not self.set_dtr(False):
                return "no modem-control lines"
            dropped_at = time.monotonic()
        deadline = dropped_at + max(0.0, hold)
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(left)
        if raise_again:
            self.set_dtr(True)
        return f"DTR dropped for {hold:g} s"

    # -- data
    def send_reset(self, command: str, timeout: float = 2.0) -> str:
        """Write the admin's modem reset command (+CR) and wait, bounded, for an answer.

        Non-blocking throughout: flow control or a dead modem cannot stall cleanup.
        """
        self._need_open()
        data = command.encode("ascii") + b"\r"
        deadline = time.monotonic() + timeout
        termios.tcflush(self.fd, termios.TCIFLUSH)
        while data:
            left = deadline - time.monotonic()
            if left <= 0:
                termios.tcflush(self.fd, termios.TCOFLUSH)
                return "reset command not sent: the line does not accept output"
            if not select.select([], [self.fd], [], left)[1]:
                continue
            try:
                data = data[os.write(self.fd, data):]
            except BlockingIOError:
                continue
        answer = b""
        while b"OK" not in answer and b"ERROR" not in answer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                break
            try:
                chunk = os.read(self.fd, 256)
            except BlockingIOError:
                continue
            if not chunk:
                break
            answer = (answer + chunk)[-64:]
        termios.tcflush(self.fd, termios.TCIOFLUSH)
        if b"OK" in answer:
            return "reset command answered OK"
        return "reset command answered ERROR" if b"ERROR" in answer else "reset command got no answer"

    def revoke(self) -> None:
        """TIOCVHANGUP: hang up every open file description of this tty (F5)."""
        self._need_open()
        try:
            termios.tcflush(self.fd, termios.TCIOFLUSH)   # nothing left to drain on close
        except termios.error:
            pass
        from pppup_helper import syscalls
        fcntl.ioctl(self.fd, syscalls.TIOCVHANGUP)

    def hung_up(self) -> bool:
        """Whether the kernel has hung up our description (carrier loss, or pppd,
        whose controlling tty this became, exiting as a session leader)."""
        self._need_open()
        try:
            termios.tcgetattr(self.fd)
            return False
        except termios.error as e:
            if e.args and e.args[0] == errno.EIO:
                return True
            raise

    def end_session(self, hold: float, reset: str | None, reset_timeout: float,
                    dtr_dropped_at: float | None = None) -> tuple[str | None, str | None, list[str]]:
        """The line's part of every session's end, each step run even when one
        before it failed: a fresh description if the kernel hung ours up, DTR
        low for `hold` (raised again only for the reset command), the admin's
        reset command, TIOCVHANGUP (every fd on the line dies), close.

        Returns what the DTR drop and the reset did (None if not done) and the
        problems met.  `dtr_dropped_at`: see drop_dtr."""
        problems: list[str] = []

        def step(name: str, action):
            try:
                return action()
            except Exception as exc:  # noqa: BLE001 - every step runs, problems are reported
                problems.append(f"{name}: {exc}")
                return None

        if step("check line", self.hung_up):
            step("reopen line", self.renew)
        dtr = step("DTR drop", lambda: self.drop_dtr(hold, raise_again=bool(reset), dropped_at=dtr_dropped_at))
        done_reset = step("reset", lambda: self.send_reset(reset, reset_timeout)) if reset else None
        step("revoke", self.revoke)
        step("close", self.close)
        return dtr, done_reset, problems

    def renew(self) -> None:
        """Replace a hung-up description by a fresh open of the same pinned device."""
        fresh = Line.open(self.device)
        self.close()
        self.fd, fresh.fd = fresh.fd, -1

    def close(self) -> None:
        if self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    @property
    def closed(self) -> bool:
        return self.fd < 0

    def _need_open(self) -> None:
        if self.fd < 0:
            raise _line_error(f"line {self.device.configured} is already closed")


def _check_same_node(fd: int, device: Device) -> None:
    st = os.fstat(fd)
    found = (os.major(st.st_rdev), os.minor(st.st_rdev))
    if not stat.S_ISCHR(st.st_mode) or (st.st_dev, st.st_ino) != (device.st_dev, device.st_ino) \
            or found != device.rdev:
        raise _line_error(f"{device.path} changed between resolving and opening it "
                          f"(now {found[0]}:{found[1]}); refusing it, try again")
    if not os.isatty(fd):
        raise _line_error(f"{device.path} is not a terminal")
