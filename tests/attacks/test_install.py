"""make install / make uninstall: the installed layout, idempotence, and a
clean uninstall that keeps the admin's policy (issue 4 point 9)."""
from __future__ import annotations

import grp
import os
import stat
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attack_harness import ROOT  # noqa: E402

from pppup_protocol import paths  # noqa: E402


def make(target: str) -> str:
    proc = subprocess.run(["make", "-s", "-C", ROOT, target], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.stdout


def manifest() -> list[str]:
    with open(os.path.join(paths.LIBDIR, "installed-files")) as f:
        return f.read().split()


def test_installed_layout(installed):
    st = os.stat(paths.SHIM)
    assert st.st_uid == 0 and st.st_gid == grp.getgrnam(paths.GROUP).gr_gid
    assert stat.S_IMODE(st.st_mode) == 0o4750
    for path in (paths.HELPER_ENTRY, paths.VENV, paths.LIBDIR):
        st = os.lstat(path)
        assert st.st_uid == 0 and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH), path
    for top, dirs, files in os.walk(paths.VENV):
        for name in dirs + files:
            st = os.lstat(os.path.join(top, name))
            assert st.st_uid == 0 and (stat.S_ISLNK(st.st_mode) or not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH))
    site = f"{paths.VENV}/lib/python3.11/site-packages"
    for package in ("pppup_helper", "pppup_protocol"):
        cache = os.path.join(site, package, "__pycache__")
        sources = [n[:-3] for n in os.listdir(os.path.join(site, package)) if n.endswith(".py")]
        compiled = {n.split(".")[0] for n in os.listdir(cache)}
        assert set(sources) <= compiled, f"{package} is not fully byte-compiled"
    assert f"file:{paths.SHIM}" in manifest()
    assert not os.path.exists(paths.POLICY) or f"file:{paths.POLICY}" not in manifest()


def test_install_is_idempotent(installed):
    before = sorted(manifest())
    make("install")
    assert sorted(manifest()) == before
    assert stat.S_IMODE(os.stat(paths.SHIM).st_mode) == 0o4750


def test_uninstall_removes_what_install_wrote_and_keeps_the_admin_policy(installed, policy):
    recorded = manifest()
    make("uninstall")
    try:
        for entry in recorded:
            kind, _, path = entry.partition(":")
            if kind in ("file", "link", "dir"):
                assert not os.path.lexists(path), f"uninstall left {path}"
        assert not os.path.exists(paths.LIBDIR)
        assert os.path.exists(paths.POLICY), "the admin's policy.toml must survive uninstall"
    finally:
        make("install")
    assert stat.S_IMODE(os.stat(paths.SHIM).st_mode) == 0o4750
