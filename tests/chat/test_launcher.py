"""The installed pppup-chat launcher (client/pppup-chat.py)."""
from __future__ import annotations

import os
import subprocess

import pytest

from pppup_protocol import paths

from .launcher import LAUNCHER, dev_launcher


def test_the_launcher_looks_in_the_installed_venv_only() -> None:
    source = LAUNCHER.read_text()
    assert source.startswith("#!/usr/bin/python3.11 -IS\n")
    assert f'SITE_PACKAGES = "{paths.VENV}/lib/python3.11/site-packages"' in source
    assert os.access(LAUNCHER, os.X_OK)


def test_the_launcher_ignores_the_callers_python_environment(tmp_path) -> None:
    """PYTHONPATH cannot slip a module in front of pppup's (pppd may run it as root)."""
    (tmp_path / "pppup").mkdir()
    (tmp_path / "pppup" / "__init__.py").write_text("raise SystemExit(99)\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path), PYTHONSTARTUP=str(tmp_path / "x.py"))
    done = subprocess.run([str(dev_launcher()), "-x"], env=env, capture_output=True, timeout=30)
    assert done.returncode == 1                          # chat's usage error, from our code
    assert done.stderr.startswith(b"Usage: ")


def test_the_launcher_reaches_the_compiled_scanner() -> None:
    """Without the cffi backend on its path the engine would fall back to the slow loop."""
    site = dev_launcher().parent / "site"
    probe = ("import sys; sys.path.append(sys.argv[1]); import pppup.chat.scanner as s; "
             "sys.exit(0 if s.compiled_scanner() else 3)")
    assert subprocess.run([paths.PYTHON, "-I", "-S", "-c", probe, str(site)], timeout=30).returncode == 0


@pytest.mark.installed
def test_the_installed_command_is_the_launcher() -> None:
    command = os.path.join(paths.PREFIX, "bin", "pppup-chat")
    if not os.path.lexists(command):
        pytest.skip(f"{command} is not installed (make install)")
    assert not os.path.islink(command), f"{command} is pip's wrapper: reinstall (make install)"
    with open(command) as stream:
        assert stream.read() == LAUNCHER.read_text(), f"{command} is stale: reinstall (make install)"
    site = f"{paths.VENV}/lib/python3.11/site-packages"
    probe = ("import sys; sys.path.append(sys.argv[1]); import pppup.chat.scanner as s; "
             "sys.exit(0 if s.compiled_scanner() else 3)")
    assert subprocess.run([paths.PYTHON, "-I", "-S", "-c", probe, site], timeout=30).returncode == 0
