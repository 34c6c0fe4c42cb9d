"""`pppup import ...` on the command line: where files go, --force, --dry-run, errors and exit codes."""
from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

import pytest
from click.testing import CliRunner

from pppup import accounts, cli
from pppup_protocol.errors import Code

from .support import KPPP, ROOT, WVDIAL, mode


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.pppup, ["import", *args], prog_name="pppup", catch_exceptions=False)
    return result.exit_code, result.output


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setattr(accounts, "home_dir", lambda: str(tmp_path))
    monkeypatch.setattr(accounts, "SYSTEM_DIR", str(tmp_path / "no-system-accounts"))
    return tmp_path


def test_import_is_a_subcommand_not_an_account():
    code, output = run("--help")
    assert code == 0 and "pppup import peers NAME" in output
    assert "import" in accounts.RESERVED


def test_default_places_and_the_account_loads_by_name(home):
    code, output = run("peers", "home", "--root", str(ROOT))
    assert code == 0, output
    account = accounts.load_account("home")
    assert account.path == str(home / ".config/pppup/accounts/home.toml")
    assert account.auth_secret.path == str(home / ".config/pppup/home.secret")
    assert mode(home / ".config/pppup/home.secret") == 0o600
    for name in ("home.peer", "home.policy", "home.report"):
        assert (home / ".config/pppup/import" / name).is_file()
    assert mode(home / ".config/pppup/import") == 0o700
    assert "Not carried over (5):" in output and "/etc/ppp/peers/home:10: persist" in output
    assert f"give {home}/.config/pppup/import/home.peer and {home}/.config/pppup/import/home.policy" in output


def test_nothing_is_replaced_without_force(home, tmp_path):
    out = str(tmp_path / "out")
    assert run("peers", "home", "--root", str(ROOT), "-o", out)[0] == 0
    os.chmod(os.path.join(out, "home.toml"), 0o644)
    code, output = run("peers", "home", "--root", str(ROOT), "-o", out)
    assert code == Code.USAGE and "exist already" in output and "--force" in output
    assert mode(tmp_path / "out/home.toml") == 0o644
    code, output = run("peers", "home", "--root", str(ROOT), "-o", out, "--force")
    assert code == 0 and mode(tmp_path / "out/home.toml") == 0o600


def test_dry_run_writes_nothing_and_shows_no_secret(home, tmp_path):
    code, output = run("wvdial", str(WVDIAL / "wvdial.conf"), "shell", "-n", "-o", str(tmp_path / "out"))
    assert code == 0 and "sh3ll pw" not in output and "(a secret of 8 characters; not shown)" in output
    assert "Expect      login:" in output
    assert not (tmp_path / "out").exists()


def test_one_argument_is_a_file_when_it_looks_like_one(home, tmp_path):
    code, output = run("wvdial", str(WVDIAL / "wvdial-3g.conf"), "-o", str(tmp_path / "a"), "--name", "mobile")
    assert code == 0, output
    code, output = run("wvdial", "shell", "-n")          # a section of the default files: none here
    assert code == Code.USAGE and "no wvdial configuration to import" in output
    (home / ".wvdialrc").write_text("[Dialer shell]\nPhone = 5550123\nModem = /dev/ttyS3\n")
    code, output = run("wvdial", "shell", "-n")
    assert code == 0 and f"[Dialer shell] of {home}/.wvdialrc" in output and 'phone = "5550123"' in output


def test_kppp_with_one_account_and_a_user_for_the_rule(home, tmp_path):
    code, output = run("kppp", str(KPPP / "kppprc"), "--account", "Uni Login", "--user", "daemon",
                       "-o", str(tmp_path / "k"))
    assert code == 0, output
    assert 'users = ["daemon"]' in (tmp_path / "k/uni-login.policy").read_text()
    assert not (tmp_path / "k/example-net.toml").exists()


@pytest.mark.parametrize("args, words", [
    (["peers", "home", "--name", "Bad Name"], "Invalid value for '--name'"),
    (["peers", "home", "--line", "../x"], "Invalid value for '--line'"),
    (["peers", "home", "--user", "pppt-nosuchuser"], "there is no user 'pppt-nosuchuser'"),
    (["peers", "nosuchpeer", "--root", str(ROOT)], "/etc/ppp/peers/nosuchpeer"),
    (["wvdial", "a", "b", "c"], "at most a FILE and a SECTION"),
    (["kppp", str(KPPP / "kppprc"), "--account", "x"], "has no KPPP account 'x'"),
])
def test_usage_errors_exit_2(home, args, words):
    code, output = run(*args)
    assert code == Code.USAGE and words in output, output


def test_no_kppp_configuration_says_where_it_looked(home):
    code, output = run("kppp")
    assert code == Code.USAGE and "~/.config/kppprc" in output


def test_line_and_peer_names_are_taken(home, tmp_path):
    code, output = run("peers", "myisp", "--root", str(ROOT), "--line", "modem1", "--peer", "isp",
                       "-o", str(tmp_path / "o"))
    assert code == 0, output
    account = accounts.load_file(str(tmp_path / "o/myisp.toml"), "user")
    assert (account.line, account.peer) == ("modem1", "isp")
    assert "[peers.isp]" in (tmp_path / "o/myisp.policy").read_text()


@pytest.fixture
def plain_user():
    """An unprivileged user with a home, as a real importer would be (removed afterwards)."""
    if os.geteuid() != 0:
        pytest.skip("creates a user: run as root")
    name = "pppt-import"
    subprocess.run(["userdel", "-r", name], capture_output=True)
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", name], check=True)
    try:
        yield pwd.getpwnam(name)
    finally:
        subprocess.run(["userdel", "-r", name], capture_output=True)


def as_user(user, *args: str):
    pppup = os.path.join(os.path.dirname(sys.executable), "pppup")
    return subprocess.run(["setpriv", f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--init-groups",
                           "--reset-env", "--", pppup, *args], capture_output=True, text=True, timeout=60,
                          cwd="/", stdin=subprocess.DEVNULL)


@pytest.mark.root
def test_an_unprivileged_user_imports_and_pppup_accounts_loads_it(plain_user, tmp_path):
    done = as_user(plain_user, "import", "peers", "home", "--root", str(ROOT))
    assert done.returncode == 0, done.stderr
    home = plain_user.pw_dir
    secret = os.path.join(home, ".config/pppup/home.secret")
    account = os.path.join(home, ".config/pppup/accounts/home.toml")
    for path in (secret, account, os.path.join(home, ".config/pppup/accounts/home.chat")):
        info = os.stat(path)
        assert (info.st_uid, info.st_mode & 0o777) == (plain_user.pw_uid, 0o600), path
    listed = as_user(plain_user, "accounts", "--json")
    entries = json.loads(listed.stdout)
    assert [(entry["name"], entry.get("error")) for entry in entries] == [("home", None)], listed.stdout


@pytest.mark.root
def test_a_peer_file_the_user_may_not_read_is_a_usage_error_with_the_way_out(plain_user, tmp_path):
    root = tempfile.mkdtemp(prefix="pppt-import-", dir="/run")
    try:
        os.chmod(root, 0o755)
        os.makedirs(os.path.join(root, "etc/ppp/peers"), mode=0o755)
        peer = os.path.join(root, "etc/ppp/peers/secretisp")
        with open(peer, "w") as f:
            f.write('connect "chat -f /etc/chatscripts/secretisp"\n')
        os.chmod(peer, 0o640)
        done = as_user(plain_user, "import", "peers", "secretisp", "--root", root)
        assert done.returncode == Code.USAGE
        assert "you may not read the pppd option file" in done.stderr and "group dip" in done.stderr
        assert not os.path.exists(os.path.join(plain_user.pw_dir, ".config/pppup"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
