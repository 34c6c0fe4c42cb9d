"""The installed entry file's own checks (helper/pppup-helper.py), run as
functions: the ownership walk (Y1), the checked import finder (Y2) and the
hand-written JSON of its refusal."""
from __future__ import annotations

import importlib.util
import json
import os
import stat
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root-owned test directories")


class Refused(Exception):
    pass


@pytest.fixture
def entry(monkeypatch):
    spec = importlib.util.spec_from_file_location("pppup_entry_under_test", os.path.join(ROOT, "helper",
                                                                                          "pppup-helper.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def refuse(message):
        raise Refused(message)
    monkeypatch.setattr(module, "refuse", refuse)
    return module


@pytest.fixture
def tree():
    """A root-owned, 0755 tree under /run (not /tmp, which is world-writable)."""
    import shutil
    import tempfile
    base = tempfile.mkdtemp(prefix="pppup-entry-", dir="/run")
    os.chmod(base, 0o755)
    os.makedirs(os.path.join(base, "pkg", "__pycache__"))
    for path in ("pkg/__init__.py", "pkg/mod.py"):
        with open(os.path.join(base, path), "w") as f:
            f.write("VALUE = 1\n")
    yield base
    shutil.rmtree(base)


def test_safe_tree_passes(entry, tree):
    entry.check_safe(os.path.join(tree, "pkg", "mod.py"), set())


@pytest.mark.parametrize("tamper, why", [
    (lambda t: os.chmod(os.path.join(t, "pkg"), 0o775), "writable by group or other"),
    (lambda t: os.chmod(os.path.join(t, "pkg", "mod.py"), 0o646), "writable by group or other"),
    (lambda t: os.chown(os.path.join(t, "pkg", "mod.py"), 4242, 4242), "not owned by root"),
    (lambda t: os.symlink("/etc/hostname", os.path.join(t, "pkg", "link.py")), "symbolic link"),
])
def test_unsafe_paths_refused(entry, tree, tamper, why):
    tamper(tree)
    target = os.path.join(tree, "pkg", "link.py" if "symbolic" in why else "mod.py")
    with pytest.raises(Refused, match=why):
        entry.check_safe(target, set())


def test_checked_finder_refuses_a_planted_module(entry, tree, monkeypatch):
    finder = entry.CheckedPathFinder(set())
    monkeypatch.setattr(sys, "path", [tree])
    sys.path_importer_cache.clear()
    assert finder.find_spec("pkg") is not None
    os.chmod(os.path.join(tree, "pkg", "__pycache__"), 0o777)
    spec = finder.find_spec("pkg")       # the package itself is fine; its cache dir is not
    with pytest.raises(Refused, match="__pycache__ is not owned by root or is writable"):
        entry.check_location(spec.cached, set())
    with pytest.raises(Refused):
        entry.CheckedPathFinder(set()).find_spec("pkg.mod", [os.path.join(tree, "pkg")])


@pytest.mark.parametrize("text", ['plain', 'quote " and \\\\ backslash', "ctl \x1b[2J\n\t", "non-ascii é ☃ \U0001f600"])
def test_refusal_json_is_valid(entry, text):
    decoded = json.loads(entry.json_string(text))
    expected = "".join(c if ord(c) <= 0xFFFF else chr(0xFFFF) for c in text)
    assert decoded == expected
    assert entry.json_string(text).isascii()
