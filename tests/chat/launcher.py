"""pppup-chat as installed (the -I -S launcher, client/pppup-chat.py), run from this tree.

The differential suite and `make bench-chat` run what users run: the
launcher file itself, copied with its one site-packages path replaced by a
directory of symbolic links into this tree (pppup, pppup_protocol) and into
.venv (the cffi backend the compiled scanner needs).  Built once under
.cache/, replaced atomically when the launcher changes.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LAUNCHER = REPO / "client" / "pppup-chat.py"
INSTALLED_SITE = '"/usr/local/lib/pppup/venv/lib/python3.11/site-packages"'
VENV_SITE = REPO / ".venv" / "lib" / "python3.11" / "site-packages"
WORKDIR = REPO / ".cache" / "pppup-chat-dev"


def dev_launcher() -> Path:
    """Path of an executable pppup-chat that is the launcher, importing from this tree."""
    site = WORKDIR / "site"
    site.mkdir(parents=True, exist_ok=True)
    links = {"pppup": REPO / "client" / "pppup", "pppup_protocol": REPO / "helper" / "pppup_protocol"}
    links.update({path.name: path for path in VENV_SITE.glob("_cffi_backend*.so")})
    for name, target in links.items():
        _replace(site / name, lambda path, target=target: path.symlink_to(target),
                 lambda path, target=target: path.is_symlink() and path.readlink() == target)
    source = LAUNCHER.read_text()
    if INSTALLED_SITE not in source:
        raise RuntimeError(f"{LAUNCHER} no longer names {INSTALLED_SITE}: update {__file__}")
    text = source.replace(INSTALLED_SITE, repr(str(site)))
    launcher = WORKDIR / "pppup-chat"

    def write(path: Path) -> None:
        path.write_text(text)
        path.chmod(0o755)

    _replace(launcher, write, lambda path: path.is_file() and path.read_text() == text)
    return launcher


def _replace(path: Path, create, is_current) -> None:
    """Make `path` current, atomically (parallel test runs may build it at once)."""
    if is_current(path):
        return
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    if temporary.is_symlink() or temporary.exists():
        temporary.unlink()
    create(temporary)
    os.replace(temporary, path)
