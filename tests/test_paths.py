"""The setuid shim's compiled-in paths (Makefile -D defines) agree with
pppup_protocol.paths, which every Python part uses."""
import os
import subprocess

from pppup_protocol import paths

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_makefile_shim_defines_match_paths_py():
    out = subprocess.run(["make", "-s", "-C", ROOT, "print-shim-defines"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    defines = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    assert defines == {"PYTHON": paths.PYTHON, "HELPER_ENTRY": paths.HELPER_ENTRY, "LIBDIR": paths.LIBDIR}


def test_paths_are_absolute_and_fixed():
    for name in ("PYTHON", "HELPER_ENTRY", "SHIM", "LIBDIR", "VENV", "POLICY", "STATE_DIR", "LOCK_DIR", "PPPD"):
        value = getattr(paths, name)
        assert value.startswith("/") and ".." not in value and "//" not in value, name
