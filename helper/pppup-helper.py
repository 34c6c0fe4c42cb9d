"""pppup root helper entry, installed as /usr/local/lib/pppup/pppup-helper.py.

The setuid shim execs `/usr/bin/python3.11 -I -S` on this file.  -I ignores
PYTHON* variables and the user's site; -S skips site.py, so no .pth file is
ever read.  This file then sets sys.path itself (the standard library and
pppup's root-owned venv), checks that every directory on it, and each of its
parents, is owned by root and not writable by group or other (attack Y1),
imports the helper, and checks every loaded module's file, its directory and
its __pycache__ the same way (Y2: a planted .pyc).  It never writes bytecode:
the install byte-compiles everything.  Standard library only until the checks
have passed.
"""
import os
import stat
import sys

# The interpreter's own path finder, taken from the frozen bootstrap: no
# module file is read before the checks below.
from _frozen_importlib_external import PathFinder

sys.dont_write_bytecode = True

STDLIB = "/usr/lib/python3.11"
SITE_PACKAGES = "/usr/local/lib/pppup/venv/lib/python3.11/site-packages"  # paths.VENV + lib/python3.11
COMM_FD = 3
HELPER_EXIT = 13   # Code.HELPER


def json_string(text):
    """A JSON string literal, ASCII only (json itself may be what is unsafe)."""
    out = []
    for char in text:
        if char in '"\\':
            out.append("\\" + char)
        elif " " <= char <= "~":
            out.append(char)
        else:
            out.append("\\u%04x" % min(ord(char), 0xFFFF))
    return '"' + "".join(out) + '"'


def refuse(message):
    """Tell the client (one error answer on fd 3) and the system log, then exit.

    Uses only modules built into the interpreter (no file to plant): the
    refusal may be about the very directories imports come from."""
    import select
    import syslog
    text = f"pppup helper refused to start: {message}; reinstall pppup (make install) or fix the permissions"
    syslog.openlog("pppup-helper", 0, syslog.LOG_AUTHPRIV)
    syslog.syslog(syslog.LOG_ERR, text.encode("ascii", "backslashreplace").decode("ascii"))
    answer = '{"v":1,"ok":false,"code":%d,"message":%s}' % (HELPER_EXIT, json_string(text))
    try:
        # Take the client's first request off the socket before answering:
        # closing a socket with unread data would reset the answer away.
        poller = select.poll()
        poller.register(COMM_FD, select.POLLIN)
        if poller.poll(2000):
            os.read(COMM_FD, 8192)
        os.write(COMM_FD, answer.encode("ascii"))
    except OSError:
        pass
    os._exit(HELPER_EXIT)


def check_safe(path, checked):
    """`path` and every parent: root-owned, not group/other-writable, no symlink."""
    while path not in checked:
        try:
            st = os.lstat(path)
        except OSError as exc:
            refuse(f"cannot check {path}: {exc.strerror}")
        if stat.S_ISLNK(st.st_mode):
            refuse(f"{path} is a symbolic link")
        if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            refuse(f"{path} is not owned by root or is writable by group or other")
        checked.add(path)
        if path == "/":
            return
        path = os.path.dirname(path)


def check_location(path, checked):
    """A module's source or bytecode file, or (if it has none yet) its __pycache__."""
    if os.path.exists(path):
        check_safe(os.path.abspath(path), checked)
        return
    parent = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(parent):
        check_safe(parent, checked)


def check_modules(checked):
    """The modules loaded before this file ran (the interpreter's start-up)."""
    for module in list(sys.modules.values()):
        for attr in ("__file__", "__cached__"):
            path = getattr(module, attr, None)
            if isinstance(path, str):
                check_location(path, checked)


class CheckedPathFinder:
    """The standard path finder, but every module it finds is checked before it
    is loaded, whenever the import happens (lazy imports included)."""

    def __init__(self, checked):
        self.checked = checked

    def find_spec(self, name, path=None, target=None):
        spec = PathFinder.find_spec(name, path, target)
        if spec is not None and spec.has_location:
            check_location(spec.origin, self.checked)
            if spec.cached:
                check_location(spec.cached, self.checked)
        return spec

    def invalidate_caches(self):
        PathFinder.invalidate_caches()


def main():
    sys.path[:] = [STDLIB, STDLIB + "/lib-dynload", SITE_PACKAGES]
    sys.path_importer_cache.clear()
    checked = set()
    for directory in sys.path:
        check_safe(directory, checked)
    check_modules(checked)
    sys.meta_path[:] = [CheckedPathFinder(checked) if finder is PathFinder else finder
                        for finder in sys.meta_path]
    import pppup_helper.main as helper_main
    code = helper_main.main()
    # Nothing is buffered (0-2 are /dev/null, the audit goes straight to
    # syslog): skip the interpreter's teardown, which the client waits for.
    os._exit(code)


if __name__ == "__main__":
    main()
