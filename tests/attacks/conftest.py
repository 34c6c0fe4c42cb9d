"""The attack-suite harness: the installed setuid shim, attacked by real
unprivileged users.  See README.md in this directory for the API.

Every test here is marked `root` and `installed`.  The session (re)installs
pppup with `make install`, creates the users, and a test peer file; each test
is checked afterwards: /etc unchanged (hash of every file's content and
metadata, except the policy the test wrote), no canary /tmp/pwned-*, and no
helper process of ours left running.
"""
from __future__ import annotations

import hashlib
import os
import stat
import subprocess
import sys
from typing import Any, Iterator

import pytest

from pppup_protocol import paths
from tests import machine_lock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from attack_harness import (HERE, ROOT, TEST_PEER, USERS, PolicyFile, User,  # noqa: E402
                            wait_no_helpers)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if str(item.fspath).startswith(HERE + os.sep):
            item.add_marker(pytest.mark.root)
            item.add_marker(pytest.mark.installed)


# -- session: install, users, peer ------------------------------------------
@pytest.fixture(scope="session")
def installed() -> Any:
    if os.geteuid() != 0:
        pytest.skip("the attack suite installs pppup and creates users: needs root")
    machine_lock.hold()      # tests/machine_lock.py: shared with the flow tests
    subprocess.run(["make", "-s", "-C", ROOT, "install"], check=True, timeout=900,
                   stdout=subprocess.DEVNULL)
    mode = os.stat(paths.SHIM).st_mode
    if not mode & stat.S_ISUID:
        pytest.fail(f"{paths.SHIM} is not setuid after make install")
    return paths


@pytest.fixture(scope="session")
def users(installed) -> Iterator[dict[str, User]]:
    """The attack suite's accounts.  An account that already exists (another
    run of the suite on this machine) is reused as it is, fixed up if its
    pppup membership is wrong, and left in place; only accounts this session
    created are deleted at its end."""
    import grp
    import pwd
    created, accounts = [], {}
    for name, in_pppup in USERS.items():
        try:
            pwd.getpwnam(name)
        except KeyError:
            try:
                grp.getgrnam(name)
                group = ["-g", name]          # a leftover group of that name: use it
            except KeyError:
                group = ["-U"]
            extra = ["-G", paths.GROUP] if in_pppup else []
            subprocess.run(["useradd", "-M", "-d", "/nonexistent", "-s", "/usr/sbin/nologin", *group, *extra,
                            name], check=True)
            created.append(name)
        members = grp.getgrnam(paths.GROUP).gr_mem
        if in_pppup and name not in members:
            subprocess.run(["gpasswd", "-a", name, paths.GROUP], check=True, capture_output=True)
        elif not in_pppup and name in members:
            subprocess.run(["gpasswd", "-d", name, paths.GROUP], check=True, capture_output=True)
        entry = pwd.getpwnam(name)
        accounts[name] = User(name, entry.pw_uid, entry.pw_gid, in_pppup)
    yield accounts
    for name in created:
        subprocess.run(["userdel", name], capture_output=True)
        subprocess.run(["groupdel", name], capture_output=True)


@pytest.fixture(scope="session")
def test_peer(installed) -> Iterator[str]:
    path = os.path.join(paths.PEERS_DIR, TEST_PEER)
    created = not os.path.exists(path)
    if created:
        with open(path, "w") as f:
            f.write("# pppup attack suite peer: never dials\nnoauth\n")
        os.chmod(path, 0o644)
    yield TEST_PEER
    if created:
        os.unlink(path)


@pytest.fixture(scope="session")
def mallory(users) -> User:
    return users["pppt-mallory"]


@pytest.fixture(scope="session")
def alice(users) -> User:
    return users["pppt-alice"]


@pytest.fixture(scope="session")
def eve(users) -> User:
    return users["pppt-eve"]


# -- per test: the oracle ---------------------------------------------------
def _etc_fingerprint(skip: set[str]) -> dict[str, tuple]:
    prints: dict[str, tuple] = {}
    for top, dirs, files in os.walk("/etc"):
        for name in dirs + files:
            path = os.path.join(top, name)
            if path in skip:
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            digest = ""
            if stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    digest = hashlib.sha256(f.read()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                digest = os.readlink(path)
            prints[path] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, digest)
    return prints


@pytest.fixture(autouse=True)
def oracle(installed, users, test_peer) -> Iterator[None]:
    skip = {paths.POLICY, paths.POLICY + ".attack-backup"}
    for name in os.listdir("/tmp"):
        if name.startswith("pwned-"):
            os.unlink(os.path.join("/tmp", name))
    before = _etc_fingerprint(skip)
    yield
    left = wait_no_helpers()
    canaries = [n for n in os.listdir("/tmp") if n.startswith("pwned-")]
    after = _etc_fingerprint(skip)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert not canaries, f"canary files created: {canaries}"
    assert not changed, f"/etc changed: {changed[:10]}"
    assert not left, f"helper processes still running: {left}"


# -- policy -------------------------------------------------------------------
@pytest.fixture
def policy(installed) -> Iterator[PolicyFile]:
    """A PolicyFile already holding BASE_POLICY; tests may write another."""
    handle = PolicyFile()
    handle.write()
    yield handle
    handle.restore()




@pytest.fixture
def shared_tmp() -> Iterator["os.PathLike[str]"]:
    """A fresh directory the attacking users can reach (pytest's tmp_path is
    under a root-only 0700 parent); mode 0755, removed after the test."""
    import pathlib
    import shutil
    import tempfile
    path = tempfile.mkdtemp(prefix="pppt-attack-", dir="/tmp")
    os.chmod(path, 0o755)
    yield pathlib.Path(path)
    shutil.rmtree(path, ignore_errors=True)
