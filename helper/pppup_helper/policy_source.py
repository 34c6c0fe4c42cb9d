"""Read an admin-owned file safely: one open, checks on the opened fd, read once.

The policy (and pppd's companion files) decide what root does, so a file an
ordinary user could have written, swapped or replaced is refused, whatever
its content (attack class C1):
- every directory on the way is walked with O_NOFOLLOW from "/", each one
  fstat'ed: root-owned, not group/other-writable, not a symlink;
- the file is opened relative to its verified directory with
  O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC (no symlink, no hang on a FIFO),
  then fstat'ed: regular, root-owned, not group/other-writable, one link,
  not larger than the cap;
- it is read once from that fd, up to cap + 1 bytes, so a file that grows
  between fstat and read is still caught (C3: the check and the use are the
  same bytes).

Errors are `FileProblem(path, message, fix)`; the policy module turns them
into PolicyErrors.
"""
from __future__ import annotations

import errno
import os
import stat

OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class FileProblem(Exception):
    def __init__(self, path: str, message: str, fix: str, missing: bool = False):
        super().__init__(f"{path}: {message}; {fix}")
        self.path = path
        self.message = message
        self.fix = fix
        self.missing = missing  # the file (or a directory on the way) does not exist


def _owner_fix(path: str) -> str:
    return f"run `chown root:root {path} && chmod go-w {path}`"


def check_mode(path: str, st: os.stat_result, what: str) -> None:
    """Root-owned and not writable by group or others."""
    if st.st_uid != 0:
        raise FileProblem(path, f"{what} is owned by uid {st.st_uid}, not root "
                          "(anyone who owns it could change what root does)", _owner_fix(path))
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        # A shared sticky directory such as /tmp is meant to stay writable:
        # the fix is to keep the file elsewhere, not to chmod the directory.
        shared = stat.S_ISDIR(st.st_mode) and st.st_mode & stat.S_ISVTX
        fix = ("keep the file in a root-owned directory such as /etc/pppup; to check only "
               "a draft's text, run `pppup-policy check --content-only FILE`"
               if shared else _owner_fix(path))
        raise FileProblem(path, f"{what} is writable by group or others "
                          f"(mode {stat.S_IMODE(st.st_mode):04o})", fix)


def _split(path: str) -> list[str]:
    if not path.startswith("/"):
        raise FileProblem(path, "is not an absolute path", "name the file by its absolute path")
    parts = [part for part in path.split("/") if part]
    if any(part in (".", "..") for part in parts):
        raise FileProblem(path, "contains '.' or '..' components", "name the file by its plain absolute path")
    if not parts:
        raise FileProblem(path, "names no file", "name a file, not /")
    return parts


def open_directory(path: str) -> int:
    """Open a directory by walking from / without following links; check every step."""
    parts = [] if path == "/" else _split(path)
    try:
        fd = os.open("/", DIR_FLAGS)
    except OSError as error:
        raise _open_problem("/", error, "directory") from None
    try:
        check_mode("/", os.fstat(fd), "directory")
        walked = ""
        for part in parts:
            walked += "/" + part
            try:
                next_fd = os.open(part, DIR_FLAGS, dir_fd=fd)
            except OSError as error:
                raise _open_problem(walked, error, "directory", _is_link(part, fd)) from None
            os.close(fd)
            fd = next_fd
            check_mode(walked, os.fstat(fd), "directory")
        return fd
    except BaseException:
        os.close(fd)
        raise


def _is_link(name: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _open_problem(path: str, error: OSError, what: str, is_link: bool = False) -> FileProblem:
    if error.errno == errno.ENOENT:
        return FileProblem(path, f"{what} does not exist", "create it (root-owned) or fix the path", missing=True)
    if error.errno in (errno.ELOOP, errno.EMLINK) or is_link:
        return FileProblem(path, f"{what} is a symbolic link", "replace the link by the real "
                           f"{what} (links can be re-pointed; root only follows what it checked)")
    if error.errno == errno.ENOTDIR:
        return FileProblem(path, "is not a directory", "fix the path")
    if error.errno in (errno.EMFILE, errno.ENFILE):
        return FileProblem(path, "cannot be opened: too many open files", "retry with a higher fd limit")
    return FileProblem(path, f"cannot be opened: {os.strerror(error.errno or 0)}", "check the file")


def stat_file(path: str, missing_ok: bool) -> os.stat_result | None:
    """fstat a file through a verified directory, without reading it."""
    fd = open_file(path, missing_ok)
    if fd is None:
        return None
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def open_file(path: str, missing_ok: bool = False, what: str = "file") -> int | None:
    parts = _split(path)
    directory = "/" + "/".join(parts[:-1])
    dir_fd = open_directory(directory)
    try:
        try:
            fd = os.open(parts[-1], OPEN_FLAGS, dir_fd=dir_fd)
        except OSError as error:
            if error.errno == errno.ENOENT and missing_ok:
                return None
            raise _open_problem(path, error, what) from None
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise FileProblem(path, f"is a directory, not a {what}", "fix the path")
        check_mode(path, st, what)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_file(path: str, limit: int, what: str = "file", missing_ok: bool = False) -> bytes | None:
    """The whole content of a checked regular file, at most `limit` bytes."""
    fd = open_file(path, missing_ok=missing_ok, what=what)
    if fd is None:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileProblem(path, f"is not a regular file ({_kind(st.st_mode)})",
                              f"replace it by a regular {what}")
        # nlink 0: the name was replaced (rename) after our open; what we hold is still
        # the whole, checked old version, which is what an atomic replace promises.
        if st.st_nlink > 1:
            raise FileProblem(path, f"has {st.st_nlink} hard links (another name could be "
                              "used to change it unseen)", f"make it a single file: `cp {path} "
                              f"{path}.new && mv {path}.new {path}`")
        if st.st_size > limit:
            raise FileProblem(path, f"is {st.st_size} bytes, more than the {limit} allowed",
                              "shorten it")
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, limit + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise FileProblem(path, f"grew beyond the {limit} bytes allowed while being read",
                              "shorten it; do not edit it in place while pppup runs")
        return b"".join(chunks)
    except OSError as error:
        raise FileProblem(path, f"cannot be read: {os.strerror(error.errno or 0)}",
                          "check the file and the disk") from None
    finally:
        os.close(fd)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"
