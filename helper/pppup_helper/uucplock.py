"""UUCP (HDB) lock files that every other serial program on the machine sees.

Names.  Tools disagree on the name of a device's lock, so we write all of
them (checked in each tool's source):

  pppd 2.4.9  (utils.c lock())    LCK.. + the path after the first "dev/",
                                  every "/" -> "_"     /dev/usb/ttyUSB0 -> LCK..usb_ttyUSB0
  mgetty, wvdial, minicom, cu     LCK.. + basename     -> LCK..ttyUSB0
  lockdev (_dl_filename_2)        LCK.. + path under /dev, "/" -> ":"   -> LCK..usb:ttyUSB0
  lockdev (_dl_filename_1), SVR4  LK.<major of the node's filesystem>.<major>.<minor>,
                                  "%03u" each          -> LK.000.188.000 (devtmpfs is 0:N)

For a plain /dev/ttyS1 the first three are the same name.  When the policy
names the line through an alias (/dev/modem, /dev/serial/by-id/...), the
alias's names are written too, since a tool configured with the alias locks
under it (the LK name already covers aliases: it is the device's identity).

Format: "%10d\\n" with the holder's pid, 11 bytes, mode 0644.  Each name is its
own inode (nlink 1), created complete in an O_TMPFILE (or a named temporary
file) and published with link(), which never replaces an existing name;
nothing ever opens an existing lock file for writing.  All names or none: a
failure part-way removes the names already made.

Reading a lock: open O_NOFOLLOW|O_NONBLOCK (a symlink is refused, a FIFO does
not block), fstat must show a regular file, at most 11 bytes are parsed by
`^ *[0-9]{1,10}\\n?$`, and the number must be in 0..PID_MAX.  Liveness is kill(pid,
0) through syscalls.pid_exists (ESRCH = dead, EPERM = alive); no signal is
ever sent to a pid read from a file.  As in pppd, 0 is stale; 1 (init) is
held, as every other tool would see it (attack L3: no takeover).

Stale locks (dead pid, or unparsable content that stays unparsable past a
short grace for a writer between create and write) are removed only when the
file is a regular file with one link, by renaming it to a unique name with
RENAME_NOREPLACE, re-reading the renamed file and unlinking it only if it is
still the same dead lock; otherwise it is linked back.  Among pppup helpers
this runs under an flock on a serialisation file (/run/pppup/lockdir.lock);
other tools are covered by link()'s atomicity and the recheck.  Symlinks,
FIFOs, directories and hard-linked files at a lock name are never touched:
the line is refused with a message naming the file.
"""
from __future__ import annotations

import errno
import fcntl
import os
import pwd
import re
import stat
import time
from collections import namedtuple
from collections.abc import Iterable, Sequence
from enum import Enum

from pppup_protocol import paths
from pppup_protocol.errors import Code, PppupError

from pppup_helper.procinfo import PID_MAX_LIMIT

# pppup_helper.syscalls (the cffi module) is imported where a system call
# needs it: a status request that finds no lock file never loads it.

LOCK_FILE_MODE = 0o644
LOCK_CONTENT_MAX = 11          # "%10d\n"
_PID = rb" *([0-9]{1,10})\n?"        # compiled by `re` on first use
_NAME_MAX = 255
SERIAL_LOCK = paths.STATE_DIR + "/lockdir.lock"
# A writer that creates then writes (pppd's O_EXCL + write) leaves the file
# empty for a moment: unparsable content is re-read after this grace.
INVALID_GRACE_S = 0.3
# An inode unlinked between our open and fstat (another helper moving a stale
# lock aside) is read again under its name, a bounded number of times.
_REREAD_ATTEMPTS = 3
SERIALISE_TIMEOUT_S = 5.0
_CREATE_ATTEMPTS = 4


class LockState(Enum):
    ABSENT = "absent"
    HELD = "held"            # names a live process other than us
    STALE = "stale"          # names a dead process
    OURS = "ours"            # names our own pid
    INVALID = "invalid"      # regular file, content not a lock we can parse
    UNSAFE = "unsafe"        # symlink, FIFO, directory, hard-linked or oversized file


class LockFile(namedtuple("LockFile", [
        "name",             # str
        "state",            # LockState
        "pid",              # int | None
        "ident",            # tuple[int, int] | None: (st_dev, st_ino)
        "nlink",            # int
        "detail",           # str
        ], defaults=(None, None, 0, ""))):
    __slots__ = ()


class Holder(namedtuple("Holder", "pid uid user process lock_name")):
    """Who holds a lock, for the message that refuses the line: pid, real uid
    and user name, process name (uid, user, process may be None), lock name."""
    __slots__ = ()

    def describe(self) -> str:
        who = f"pid {self.pid}"
        extra = [x for x in (self.process and f"'{self.process}'",
                             self.user and f"user {self.user}") if x]
        return who + (f" ({', '.join(extra)})" if extra else "")


class LockBusy(PppupError):
    """A live process other than us holds one of the line's lock names."""
    code = Code.BUSY

    def __init__(self, message: str, holder: Holder):
        super().__init__(message)
        self.holder = holder


# ------------------------------------------------------------------ names
def _check_name(name: str) -> str:
    raw = os.fsencode(name)
    if (not raw or b"/" in raw or b"\0" in raw or name in (".", "..")
            or len(raw) > _NAME_MAX or not name.isprintable()):
        raise PppupError(f"cannot lock device: derived lock name {name!r} is not a valid file "
                         "name; name the device by a simpler path in the policy", Code.LINE)
    return name


def pppd_name(path: str) -> str:
    """pppd 2.4.9 utils.c: text after the first "dev/", "/" -> "_"; else basename."""
    at = path.find("dev/")
    rest = path[at + 4:].replace("/", "_") if at >= 0 else path.rsplit("/", 1)[-1]
    return _check_name("LCK.." + rest)


def basename_name(path: str) -> str:
    """mgetty, wvdial (wvstreams), minicom: LCK.. + the last path component."""
    return _check_name("LCK.." + path.rsplit("/", 1)[-1])


def lockdev_name(path: str) -> str:
    """lockdev _dl_filename_2: path with a leading "/dev/" stripped, "/" -> ":"."""
    rest = path[5:] if path.startswith("/dev/") else path.rsplit("/", 1)[-1]
    return _check_name("LCK.." + rest.replace("/", ":"))


def svr4_name(node: os.stat_result) -> str:
    """lockdev _dl_filename_1 / SVR4: LK.<fs major>.<major>.<minor> of the device node."""
    return _check_name(f"LK.{os.major(node.st_dev):03d}.{os.major(node.st_rdev):03d}."
                       f"{os.minor(node.st_rdev):03d}")


def lock_names(device_path: str, node: os.stat_result, aliases: Iterable[str] = ()) -> tuple[str, ...]:
    """Every lock name other tools use for this character device, without repeats."""
    if not stat.S_ISCHR(node.st_mode):
        raise PppupError(f"cannot lock {device_path}: not a character device", Code.LINE)
    names: list[str] = []
    for path in (device_path, *aliases):
        names += [pppd_name(path), basename_name(path), lockdev_name(path)]
    names.append(svr4_name(node))
    return tuple(dict.fromkeys(names))


# ---------------------------------------------------------------- parsing
def parse_pid(data: bytes) -> int | None:
    """The number in an ASCII HDB lock (0..PID_MAX), or None unless it is exactly that format."""
    if len(data) > LOCK_CONTENT_MAX:
        return None
    m = re.fullmatch(_PID, data)
    if m is None:
        return None
    pid = int(m.group(1))
    return pid if pid <= PID_MAX_LIMIT else None


def _describe_type(mode: int) -> str:
    for test, what in ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISDIR, "a directory"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return what
    return "not a regular file"


def holder_of(pid: int, lock_name: str) -> Holder:
    """Describe a live pid from /proc (real uid, user name, process name), best effort."""
    uid = user = process = None
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f.read(8192).split(b"\n"):
                if line.startswith(b"Uid:"):
                    fields = line.split()
                    if len(fields) > 1 and fields[1].isdigit():
                        uid = int(fields[1])
                    break
    except OSError:
        pass
    try:
        with open(f"/proc/{pid}/comm", "rb") as f:
            comm = f.read(64).rstrip(b"\n")
        # comm is chosen by whoever runs the process: keep it printable ASCII.
        process = "".join(c if 32 <= ord(c) < 127 else "?" for c in comm.decode("latin-1"))[:16]
    except OSError:
        pass
    if uid is not None:
        try:
            user = pwd.getpwuid(uid).pw_name
        except KeyError:
            user = f"uid {uid}"
    return Holder(pid=pid, uid=uid, user=user, process=process, lock_name=lock_name)


# --------------------------------------------------------------- lock dir
class LockDir:
    """The UUCP lock directory, held open by fd; every operation is relative to it."""

    def __init__(self, path: str = paths.LOCK_DIR, serial_path: str = SERIAL_LOCK):
        self.path = path
        self.serial_path = serial_path
        self._serial_fd = -1
        self._serial_depth = 0
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as e:
            raise PppupError(f"cannot open the lock directory {path}: {e.strerror}; "
                             "it must exist (Debian: /run/lock)", Code.LINE) from e
        st = os.fstat(self.fd)
        # A world-writable lock dir (Debian: 1777) is safe only when sticky:
        # then nobody but root can remove or replace our root-owned files.  A
        # group-writable one (Fedora: root:lock 0775) trusts that group, as
        # the distribution intends.
        if st.st_uid != 0 or (st.st_mode & stat.S_IWOTH and not st.st_mode & stat.S_ISVTX):
            os.close(self.fd)
            raise PppupError(f"refusing the lock directory {path}: it must be owned by root and "
                             "not writable by others unless sticky (chmod 1777 or 0755)",
                             Code.LINE)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "LockDir":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serialisation among pppup helpers (L5)
    def serialised(self, timeout: float = SERIALISE_TIMEOUT_S) -> "_Serial":
        """The flock serialising pppup helpers; re-entrant within this LockDir
        (the session holds it across counting, locking and recording)."""
        return _Serial(self, timeout)

    # -- reading
    def inspect(self, name: str, our_pid: int | None = None) -> LockFile:
        """What is at `name`, without following links, blocking or writing."""
        our_pid = os.getpid() if our_pid is None else our_pid
        for _ in range(_REREAD_ATTEMPTS):
            seen = self._inspect_once(name, our_pid)
            if seen.ident is None or seen.nlink != 0:
                return seen
        # Removed under us every time: whatever was there is gone now.
        return LockFile(name, LockState.ABSENT)

    def _inspect_once(self, name: str, our_pid: int) -> LockFile:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
                         | os.O_CLOEXEC, dir_fd=self.fd)
        except FileNotFoundError:
            return LockFile(name, LockState.ABSENT)
        except OSError as e:
            try:
                st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
                what = _describe_type(st.st_mode)
            except OSError:
                what = f"unreadable ({e.strerror})"
            if e.errno == errno.ENOENT:
                return LockFile(name, LockState.ABSENT)
            return LockFile(name, LockState.UNSAFE, detail=what)
        try:
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino)
            if not stat.S_ISREG(st.st_mode):
                return LockFile(name, LockState.UNSAFE, ident=ident, nlink=st.st_nlink,
                                detail=_describe_type(st.st_mode))
            data = os.read(fd, LOCK_CONTENT_MAX + 1)
        finally:
            os.close(fd)
        if st.st_size > LOCK_CONTENT_MAX or len(data) > LOCK_CONTENT_MAX:
            return LockFile(name, LockState.UNSAFE, ident=ident, nlink=st.st_nlink,
                            detail=f"{st.st_size} bytes long, not a lock file")
        pid = parse_pid(data)
        if pid is None:
            return LockFile(name, LockState.INVALID, ident=ident, nlink=st.st_nlink,
                            detail="content is not a process id")
        if pid == our_pid:
            state = LockState.OURS
        elif pid == 0:
            state = LockState.STALE      # as pppd: no process is 0
        elif pid == 1:
            state = LockState.HELD       # init is always alive; every other tool sees it held
        else:
            from pppup_helper import syscalls
            state = LockState.HELD if syscalls.pid_exists(pid) else LockState.STALE
        return LockFile(name, state, pid=pid, ident=ident, nlink=st.st_nlink)

    # -- writing
    def create(self, name: str, pid: int) -> tuple[int, int]:
        """Publish a complete lock file at `name` (FileExistsError if taken); its (dev, ino)."""
        content = b"%10d\n" % pid
        fd, temp = self._complete_temp(content)
        try:
            if temp is None:
                os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=self.fd, follow_symlinks=True)
            else:
                os.link(temp, name, src_dir_fd=self.fd, dst_dir_fd=self.fd, follow_symlinks=False)
            st = os.fstat(fd)
            return (st.st_dev, st.st_ino)
        finally:
            if temp is not None:
                _unlink_quietly(temp, self.fd)
            os.close(fd)

    def _complete_temp(self, content: bytes) -> tuple[int, str | None]:
        """A file holding `content`, fsynced, mode 0644: an O_TMPFILE, else a named temp."""
        temp: str | None = None
        try:
            fd = os.open(".", os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, LOCK_FILE_MODE,
                         dir_fd=self.fd)
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                raise
            temp = f".pppup-tmp.{os.getpid()}.{os.urandom(6).hex()}"
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         LOCK_FILE_MODE, dir_fd=self.fd)
        try:
            os.fchmod(fd, LOCK_FILE_MODE)     # independent of the umask (R5)
            if os.write(fd, content) != len(content):   # short write: RLIMIT_FSIZE, full fs (R2, X2)
                raise OSError(errno.ENOSPC, "short write of the lock content")
            os.fsync(fd)
        except BaseException:
            os.close(fd)
            if temp is not None:
                _unlink_quietly(temp, self.fd)
            raise
        return fd, temp

    def remove_stale(self, seen: LockFile, our_pid: int | None = None) -> bool:
        """Remove a lock inspected as stale, invalid or naming our pid, if it is still
        that same file with that same content; True if it is gone.

        Rename-aside + recheck, never check-then-unlink (L5).  Only regular files
        with one link are ever removed (L2).
        """
        our_pid = os.getpid() if our_pid is None else our_pid
        removable = (LockState.STALE, LockState.INVALID, LockState.OURS)
        if seen.state not in removable:
            return False
        return self._move_aside_and_unlink(
            seen, lambda now: now.state in removable and now.pid == seen.pid, our_pid)

    def _move_aside_and_unlink(self, seen: LockFile, still_removable, our_pid: int) -> bool:
        if seen.ident is None or seen.nlink != 1:
            return False
        aside = f".pppup-stale.{os.getpid()}.{os.urandom(6).hex()}"
        from pppup_helper import syscalls
        try:
            syscalls.rename_noreplace(seen.name, aside, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except FileNotFoundError:
            return True
        now = self.inspect(aside, our_pid=our_pid)
        if now.ident == seen.ident and now.nlink == 1 and still_removable(now):
            _unlink_quietly(aside, self.fd)
            return True
        # Someone replaced or rewrote it in between: put it back untouched, by
        # rename so that no other reader ever sees it with a second link.
        try:
            syscalls.rename_noreplace(aside, seen.name, src_dir_fd=self.fd, dst_dir_fd=self.fd)
        except FileExistsError:
            _unlink_quietly(aside, self.fd)   # a third party already holds the name; theirs stands
        return False

    def unlink_if(self, name: str, ident: tuple[int, int]) -> bool:
        """Unlink `name` only if it is still the inode we created."""
        try:
            st = os.stat(name, dir_fd=self.fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if (st.st_dev, st.st_ino) != ident:
            return False
        # The dir is root-owned (and sticky when world-writable): only root can
        # replace our root-owned file between the stat and the unlink.
        os.unlink(name, dir_fd=self.fd)
        return True


class _Serial:
    """An exclusive flock on the serialisation file, waited for with a deadline."""

    def __init__(self, lockdir: "LockDir", timeout: float):
        self.lockdir = lockdir
        self.timeout = timeout

    def __enter__(self) -> "_Serial":
        ld = self.lockdir
        if ld._serial_depth:
            ld._serial_depth += 1
            return self
        path = ld.serial_path
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                         0o600)
        except OSError as e:
            raise PppupError(f"cannot open {path} to serialise lock handling: {e.strerror}",
                             Code.LINE) from e
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    raise PppupError(f"timed out waiting for {path}: another pppup helper "
                                     "is stuck handling locks; try again", Code.LINE) from None
                time.sleep(0.02)
        ld._serial_fd, ld._serial_depth = fd, 1
        return self

    def __exit__(self, *exc: object) -> None:
        ld = self.lockdir
        ld._serial_depth -= 1
        if ld._serial_depth == 0:
            fd, ld._serial_fd = ld._serial_fd, -1
            os.close(fd)   # closing drops the flock


def _unlink_quietly(name: str, dir_fd: int) -> None:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass


# --------------------------------------------------------------- the lock
class UucpLock:
    """The set of lock names held for one device by one pid (normally ours)."""

    def __init__(self, lockdir: LockDir, device: str, created: Sequence[tuple[str, tuple[int, int]]],
                 pid: int):
        self.lockdir = lockdir
        self.device = device
        self.created = list(created)
        self.pid = pid

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.created)

    @classmethod
    def acquire(cls, lockdir: LockDir, device: str, names: Sequence[str],
                pid: int | None = None) -> "UucpLock":
        """Create every name or none; LockBusy naming the holder, PppupError(LINE) otherwise."""
        pid = os.getpid() if pid is None else pid
        created: list[tuple[str, tuple[int, int]]] = []
        with lockdir.serialised():
            try:
                for name in names:
                    created.append((name, _take_name(lockdir, device, name, pid)))
                # Paranoia after the race window of stale removal: every name
                # must still be our inode (lockdev does the same final check).
                for name, ident in created:
                    now = lockdir.inspect(name, our_pid=pid)
                    if now.ident != ident or now.state is not LockState.OURS:
                        raise PppupError(f"cannot lock {device}: {name} changed hands while "
                                         "locking; another program is racing for the line, "
                                         "try again", Code.BUSY)
            except BaseException:
                for name, ident in reversed(created):
                    try:
                        lockdir.unlink_if(name, ident)
                    except OSError:
                        pass
                raise
        return cls(lockdir, device, created, pid)

    @classmethod
    def held(cls, lockdir: LockDir, device: str, names: Sequence[str], pid: int | None = None) -> "UucpLock":
        """The names among `names` that hold `pid` (ours by default) now, as a
        lock to release: the link supervisor execs twice with the same pid, so
        the locks its helper created are still its own, inode for inode."""
        pid = os.getpid() if pid is None else pid
        created = []
        for name in names:
            seen = lockdir.inspect(name, our_pid=pid)
            if seen.state is LockState.OURS and seen.ident is not None:
                created.append((name, seen.ident))
        return cls(lockdir, device, created, pid)

    def release(self) -> list[str]:
        """Remove the names we created (only if still ours); returns problems, if any."""
        problems: list[str] = []
        while self.created:
            name, ident = self.created.pop()
            try:
                self.lockdir.unlink_if(name, ident)
            except OSError as e:
                problems.append(f"{name}: {e.strerror}")
        return problems


def _take_name(lockdir: LockDir, device: str, name: str, pid: int) -> tuple[int, int]:
    for _ in range(_CREATE_ATTEMPTS):
        try:
            return lockdir.create(name, pid)
        except FileExistsError:
            pass
        except OSError as e:
            raise PppupError(f"cannot create lock {lockdir.path}/{name} for {device}: {e.strerror}"
                             + ("; the lock directory's file system is full"
                                if e.errno in (errno.ENOSPC, errno.EDQUOT) else ""),
                             Code.LINE) from e
        seen = lockdir.inspect(name, our_pid=pid)
        # Both pass in a moment: a writer between its create and its write
        # (pppd), or between link() and unlinking its temporary name (lockdev).
        if seen.state is LockState.INVALID or (seen.state is not LockState.HELD
                                               and seen.nlink > 1):
            time.sleep(INVALID_GRACE_S)
            seen = lockdir.inspect(name, our_pid=pid)
        if seen.state is LockState.ABSENT:
            continue
        if seen.state is LockState.HELD:
            holder = holder_of(seen.pid or 0, name)
            raise LockBusy(f"{device} is locked by {holder.describe()} ({lockdir.path}/{name}); "
                           "wait until it is done, or stop that program", holder)
        if seen.state is LockState.UNSAFE or seen.nlink != 1:
            what = seen.detail or f"a file with {seen.nlink} links"
            raise PppupError(f"cannot lock {device}: {lockdir.path}/{name} is {what}; "
                             "an administrator must inspect and remove it", Code.LINE)
        # STALE, INVALID (after the grace) or OURS without being created by us
        # (left by a dead process whose pid we now have): move it aside.
        lockdir.remove_stale(seen, our_pid=pid)
    raise PppupError(f"cannot lock {device}: {lockdir.path}/{name} keeps changing; another "
                     "program is racing for the line, try again", Code.BUSY)


def remove_locks_of(lockdir: LockDir, names: Iterable[str], gone_pid: int) -> list[str]:
    """Remove the names that hold exactly `gone_pid`, once the caller has proven that
    pid no longer is the lock's owner even if the number is alive again (a
    supervisor whose recorded start time no longer matches: the pid was
    recycled).  Returns the names removed."""
    removed: list[str] = []
    with lockdir.serialised():
        for name in names:
            seen = lockdir.inspect(name, our_pid=-1)
            if seen.pid != gone_pid:
                continue
            if lockdir._move_aside_and_unlink(seen, lambda now: now.pid == gone_pid, -1):
                removed.append(name)
    return removed
