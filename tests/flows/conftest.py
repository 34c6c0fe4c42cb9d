"""Fixtures for the flow tests that run `pppup` for real: installed, as unprivileged users, on pty lines.

Marked `root` and `installed` (they create users, write /etc/pppup/policy.toml
and run the installed setuid shim).  The policy that was there before comes
back after each test; the users and the test peer file go at the end.
"""
from __future__ import annotations

import os
import pwd
import subprocess
from typing import Iterator

import pytest

from pppup_protocol import paths
from tests import machine_lock

from .runner import FLOW_PEER, FLOW_USERS, FlowUser, PolicyWriter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTALLED_MODULES = ("accounts", "session", "callback", "dialer", "cli")


@pytest.fixture(scope="session")
def installed() -> None:
    if os.geteuid() != 0:
        pytest.fail("the flow tests install pppup and create users: run them as root (make test does)")
    machine_lock.hold()
    subprocess.run(["make", "-s", "-C", ROOT, "install"], check=True, timeout=900, stdout=subprocess.DEVNULL)
    site = os.path.join(paths.VENV, "lib/python3.11/site-packages/pppup")
    missing = [name for name in INSTALLED_MODULES if not os.path.exists(os.path.join(site, name + ".py"))]
    if missing:
        pytest.fail(f"make install did not install pppup.{', pppup.'.join(missing)}")


@pytest.fixture(scope="session")
def flow_users(installed) -> Iterator[dict[str, FlowUser]]:
    created: dict[str, FlowUser] = {}
    for name, in_group in FLOW_USERS.items():
        subprocess.run(["userdel", "-r", name], capture_output=True)
        groups = ["-G", paths.GROUP] if in_group else []
        subprocess.run(["useradd", "-m", "-s", "/bin/sh", *groups, name], check=True)
        entry = pwd.getpwnam(name)
        created[name] = FlowUser(name, entry.pw_uid, entry.pw_gid, entry.pw_dir)
    yield created
    for name in created:
        subprocess.run(["userdel", "-r", name], capture_output=True)


@pytest.fixture(scope="session")
def flow_peer(installed) -> Iterator[str]:
    os.makedirs(paths.PEERS_DIR, exist_ok=True)
    path = os.path.join(paths.PEERS_DIR, FLOW_PEER)
    with open(path, "w") as f:
        f.write("# pppup flow tests: the host has no PPP, pppd never gets far\nnoauth\n")
    os.chmod(path, 0o644)
    yield FLOW_PEER
    os.unlink(path)


@pytest.fixture
def policy(installed, flow_peer) -> Iterator[PolicyWriter]:
    writer = PolicyWriter()
    try:
        yield writer
    finally:
        writer.restore()


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here + os.sep) and "installed" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.root)
            item.add_marker(pytest.mark.installed)
