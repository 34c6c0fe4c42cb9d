"""Shell completion (contrib/completion): each script loads in its shell, and
what it offers is what the commands accept — the option lists are compared
with click's (and chat's) at every place one can complete, account names come
from the account directories, lines from `pppup status --json`, policy lines
and peers from the policy file.

Real shells do the completing: bash through its completion function (as
bash-completion calls it), zsh through its completion system in a pty, fish
through `complete -C`.  Only `pppup` and `getent` are stand-ins (on PATH),
so the lines and the home directory are the test's."""
from __future__ import annotations

import os
import shutil
import subprocess
import tomllib

import pytest

from docs_support import ROOT, option_names, options_at
from pppup.chat import cli as chat_cli
from pppup.cli import pppdown, pppup
from pppup.status import format_json
from pppup_helper import admin

COMPLETION = os.path.join(ROOT, "contrib", "completion")
BASH = os.path.join(COMPLETION, "bash", "pppup")
ZSH_DIR = os.path.join(COMPLETION, "zsh")
FISH_DIR = os.path.join(COMPLETION, "fish")
ZSH_DRIVER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zsh_complete.zsh")
EXAMPLE_POLICY = os.path.join(ROOT, "policy", "policy.example.toml")
COMMANDS = ("pppup", "pppdown", "pppup-chat", "pppup-policy")
MANIFEST = "/usr/local/lib/pppup/installed-files"
INSTALLED = [f"/usr/local/share/bash-completion/completions/{name}" for name in COMMANDS] + \
            ["/usr/local/share/zsh/site-functions/_pppup"] + \
            [f"/usr/local/share/fish/vendor_completions.d/{name}.fish" for name in COMMANDS]

imports = pppup.commands["import"]
CHAT_OPTIONS = {"-" + chr(letter) for letter in chat_cli._FLAGS + chat_cli._WITH_VALUE}

# (command line being completed, what must be offered: exactly these)
OPTION_CASES = [
    ("pppup -", option_names(pppup)),
    ("pppup up work -", options_at(pppup, "up")),
    ("pppup work -", options_at(pppup, "up")),
    ("pppup work --line modem1 -", options_at(pppup, "up")),
    ("pppup status -", options_at(pppup, "status")),
    ("pppup accounts -", options_at(pppup, "accounts")),
    ("pppup down -", options_at(pppup, "down")),
    ("pppup import -", options_at(pppup, "import")),
    ("pppup import peers -", options_at(pppup, "import", "peers")),
    ("pppup import wvdial -", options_at(pppup, "import", "wvdial")),
    ("pppup import kppp --name x -", options_at(pppup, "import", "kppp")),
    ("pppdown -", option_names(pppdown)),
    ("pppup-chat -", CHAT_OPTIONS),
    ("pppup-policy -", option_names(admin.main)),
    ("pppup-policy check -", options_at(admin.main, "check")),
    ("pppup-policy explain -", options_at(admin.main, "explain")),
    ("pppup-policy --policy x edit -", options_at(admin.main, "edit")),
    ("pppup import ", set(imports.commands)),
    ("pppup-policy ", set(admin.main.commands)),
]
LINES = ("modem1", "modem2")


def example_policy(kind: str) -> set[str]:
    with open(EXAMPLE_POLICY, "rb") as source:
        return set(tomllib.load(source)[kind])


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A home with two accounts, and stand-ins for getent (that home) and for
    `pppup status --json` (two lines, in pppup's own JSON format)."""
    root = tmp_path_factory.mktemp("completion")
    home = root / "home"
    (home / ".config/pppup/accounts").mkdir(parents=True)
    for name in ("work", "office"):
        (home / f".config/pppup/accounts/{name}.toml").write_text('line = "modem1"\n')
    bin_dir = root / "bin"
    bin_dir.mkdir()
    status = root / "status.json"
    status.write_text(format_json([
        {"line": line, "state": "free", "last": {"line": "not-a-line", "user": "bob"}} for line in LINES]) + "\n")
    (bin_dir / "pppup").write_text(f'#!/bin/sh\n[ "$*" = "status --json" ] && exec cat {status}\nexit 2\n')
    (bin_dir / "getent").write_text(f'#!/bin/sh\necho "someone:x:{os.getuid()}:{os.getgid()}::{home}:/bin/sh"\n')
    for tool in ("pppup", "getent"):
        (bin_dir / tool).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8", "TERM": "dumb"}
    system = {name[:-5] for name in _listdir("/etc/pppup/accounts") if name.endswith(".toml")}
    accounts = {"work", "office"} | system
    return {"env": env, "accounts": accounts, "root": root}


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except OSError:
        return []


# ------------------------------------------------------------------ bash
def bash_complete(world, line: str) -> set[str]:
    words = line.split(" ")
    script = (f"source {BASH}\n"
              f"COMP_WORDS=({' '.join(_bash_quote(word) for word in words)})\n"
              f"COMP_CWORD={len(words) - 1}\n"
              f"$(complete -p {words[0]} | sed 's/.*-F \\([^ ]*\\) .*/\\1/')\n"
              'printf "%s\\n" "${COMPREPLY[@]}"\n')
    done = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True,
                          env=world["env"], timeout=30, cwd=world["root"])
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return set(done.stdout.split("\n")) - {""}


def _bash_quote(word: str) -> str:
    return "'" + word.replace("'", "'\\''") + "'"


def test_bash_script_parses_and_registers_every_command(world):
    subprocess.run(["bash", "-n", BASH], check=True, timeout=30)
    done = subprocess.run(["bash", "--norc", "-c", f"source {BASH}; complete -p {' '.join(COMMANDS)}"],
                          capture_output=True, text=True, timeout=30, check=True)
    assert len(done.stdout.strip().splitlines()) == len(COMMANDS)


@pytest.mark.parametrize("line,expected", OPTION_CASES)
def test_bash_offers_exactly_the_commands_options(world, line, expected):
    assert bash_complete(world, line) == expected


def test_bash_completes_subcommands_accounts_and_lines(world):
    assert bash_complete(world, "pppup ") == set(pppup.commands) | world["accounts"]
    assert bash_complete(world, "pppup st") == {"status"}
    assert bash_complete(world, "pppup up ") == world["accounts"]
    assert bash_complete(world, "pppup up work ") == set()
    assert bash_complete(world, "pppup work --line ") == set(LINES)
    assert bash_complete(world, "pppdown ") == world["accounts"] | set(LINES)
    assert bash_complete(world, "pppdown w") == {"work"}
    assert bash_complete(world, "pppup down modem1 ") == set()
    assert bash_complete(world, f"pppup-policy --policy {EXAMPLE_POLICY} explain --line ") == \
        example_policy("lines")
    assert bash_complete(world, f"pppup-policy --policy {EXAMPLE_POLICY} explain -u root -p ") == \
        example_policy("peers")
    assert bash_complete(world, "pppup-chat -f /etc/ppp/peer") == {"/etc/ppp/peers"}
    assert bash_complete(world, "pppup-chat -t 5 ATZ OK ") == set()


# ------------------------------------------------------------------ zsh
needs_zsh = pytest.mark.skipif(shutil.which("zsh") is None,
                               reason="zsh is not installed (make bootstrap installs it)")


def zsh_complete(world, line: str) -> set[str]:
    out = world["root"] / "zsh.out"
    for stale in (out, world["root"] / "zsh.out.ready", world["root"] / "zsh.out.done"):
        stale.unlink(missing_ok=True)
    null_before = os.lstat("/dev/null")
    done = subprocess.run(["zsh", "-f", ZSH_DRIVER, ZSH_DIR, str(out), line], env=world["env"],
                          capture_output=True, text=True, timeout=90, cwd=world["root"])
    assert done.returncode == 0, f"zsh did not finish completing {line!r}: {done.stderr}"
    # compinit replaces its dump file: the driver once named /dev/null there,
    # and the machine's /dev/null became a regular file.
    null_after = os.lstat("/dev/null")
    assert (null_after.st_ino, null_after.st_mode, null_after.st_rdev) == \
        (null_before.st_ino, null_before.st_mode, null_before.st_rdev), "zsh replaced /dev/null"
    return set(out.read_text().split("\n")) - {""}


@needs_zsh
def test_zsh_script_parses():
    subprocess.run(["zsh", "-n", os.path.join(ZSH_DIR, "_pppup")], check=True, timeout=30)


@needs_zsh
@pytest.mark.parametrize("line,expected", [case for case in OPTION_CASES if case[0].endswith("-")][::3])
def test_zsh_offers_the_commands_options(world, line, expected):
    # zsh lists only the long forms after "--", and does not offer again an
    # option already on the line: together, all the others.
    offered = zsh_complete(world, line) | zsh_complete(world, line + "-")
    assert offered == expected - set(line.split())


@needs_zsh
def test_zsh_completes_subcommands_accounts_and_lines(world):
    assert zsh_complete(world, "pppup ") == set(pppup.commands) | world["accounts"]
    assert zsh_complete(world, "pppdown ") == world["accounts"] | set(LINES)
    assert zsh_complete(world, f"pppup-policy --policy {EXAMPLE_POLICY} explain --line ") == \
        example_policy("lines")


# ------------------------------------------------------------------ fish
needs_fish = pytest.mark.skipif(shutil.which("fish") is None,
                                reason="fish is not installed (make bootstrap installs it)")


def fish_complete(world, command: str, line: str) -> set[str]:
    script = os.path.join(FISH_DIR, f"{command}.fish")
    done = subprocess.run(["fish", "--no-config", "-c", f"source {script}; complete -C {_bash_quote(line)}"],
                          env=world["env"], capture_output=True, text=True, timeout=30, cwd=world["root"])
    assert done.returncode == 0 and done.stderr == "", done.stderr
    return {entry.split("\t", 1)[0] for entry in done.stdout.split("\n") if entry}


@needs_fish
@pytest.mark.parametrize("command", COMMANDS)
def test_fish_script_parses(command):
    subprocess.run(["fish", "--no-config", "-n", os.path.join(FISH_DIR, f"{command}.fish")], check=True,
                   timeout=30)


@needs_fish
@pytest.mark.parametrize("line,expected", OPTION_CASES)
def test_fish_offers_exactly_the_commands_options(world, line, expected):
    assert fish_complete(world, line.split(" ", 1)[0], line) == expected


@needs_fish
def test_fish_completes_subcommands_accounts_and_lines(world):
    assert fish_complete(world, "pppup", "pppup ") == set(pppup.commands) | world["accounts"]
    assert fish_complete(world, "pppup", "pppup up ") == world["accounts"]
    assert fish_complete(world, "pppup", "pppup work --line ") == set(LINES)
    assert fish_complete(world, "pppdown", "pppdown ") == world["accounts"] | set(LINES)
    assert fish_complete(world, "pppup-policy", f"pppup-policy --policy {EXAMPLE_POLICY} explain --line ") == \
        example_policy("lines")


# ------------------------------------------------------------------ install
@pytest.mark.installed
def test_make_install_put_every_script_in_place():
    if not os.path.exists(MANIFEST):
        pytest.skip(f"pppup is not installed ({MANIFEST} missing): run make install")
    with open(MANIFEST, encoding="utf-8") as manifest:
        recorded = set(manifest.read().split())
    for path in INSTALLED:
        assert f"file:{path}" in recorded and os.path.isfile(path), f"{path}: run make install"
