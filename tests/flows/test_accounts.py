"""Account files: the format, strict validation with file:line, ssh-like file permissions."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pppup import accounts
from pppup.accounts import AccountError, load_account, load_file
from pppup.credentials import gather, read_secret_file
from pppup_protocol.errors import Code, PppupError

from .seeds import SEED1_LOGIN_SCRIPT, SEED2_CHAT_SCRIPT

CALLBACK_ACCOUNT = f"""\
description = "the KPPP seed's callback server"
line = "modem1"
peer = "office"
phone = "5559000"
login_script = '''
{SEED1_LOGIN_SCRIPT}'''

[login]
user = "userxyz"

[callback]
menu_prompt = "for userxyz:"
aliases = ["userxyz-home", "userxyz-office"]
wait = 90
"""


@pytest.fixture
def homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A user account directory and a system one, both empty, the user's first."""
    home = tmp_path / "home"
    user_dir = home / ".config/pppup/accounts"
    system_dir = tmp_path / "etc-accounts"
    user_dir.mkdir(parents=True)
    system_dir.mkdir()
    monkeypatch.setattr(accounts, "home_dir", lambda: str(home))
    monkeypatch.setattr(accounts, "SYSTEM_DIR", str(system_dir))
    return user_dir, system_dir


def write(path: Path, text: str, mode: int = 0o644) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def problem(text: str, tmp_path: Path, mode: int = 0o644) -> PppupError:
    path = write(tmp_path / "acct.toml", text, mode)
    with pytest.raises(PppupError) as caught:
        load_file(str(path), "user")
    return caught.value


# ------------------------------------------------------------------ good files

def test_the_seed_callback_account_loads_with_its_script_verbatim(homes):
    user_dir, _ = homes
    write(user_dir / "office.toml", CALLBACK_ACCOUNT)
    account = load_account("office")
    assert (account.name, account.origin, account.line, account.peer) == ("office", "user", "modem1", "office")
    assert account.phone == ("5559000",) and account.pppup_dials
    assert account.script.kind == "login" and account.needs_login_user and not account.needs_login_password
    callback = account.callback
    # the Send after `Expect for userxyz:` chooses the alias; its text is the default
    assert callback.default == "userxyz-home" and not callback.ask and callback.wait == 90
    assert account.script.parsed.commands[callback.choose_index].argument == "userxyz-home"
    # the comments the web page wrapped are warnings, with the account file's own line numbers
    assert any(warning.startswith(f"{user_dir / 'office.toml'}:8: ") and "the main dialog" in warning
               for warning in account.script.warnings), account.script.warnings


def test_the_seed_pap_chat_script_loads_from_a_file(homes, tmp_path):
    user_dir, _ = homes
    write(user_dir / "isp.chat", SEED2_CHAT_SCRIPT)
    write(user_dir / "isp.secret", "s3cret\n", 0o600)
    write(user_dir / "isp.toml", 'line = "modem1"\npeer = "isp"\nchat_file = "isp.chat"\n'
          '[auth]\nuser = "alice"\nsecret_file = "isp.secret"\n')
    account = load_account("isp")
    assert account.script.kind == "chat" and not account.pppup_dials and account.phone == ()
    assert account.auth_user == "alice" and account.auth_secret.kind == "file"
    credentials = gather(account, terminal="/nonexistent")
    assert credentials.auth_secret == "s3cret" and credentials.secrets() == {b"s3cret"}


def test_defaults(homes):
    user_dir, _ = homes
    write(user_dir / "plain.toml", 'line = "modem1"\npeer = "isp"\nphone = ["5551", "5552"]\n')
    account = load_account("plain")
    assert account.init == ("ATZ",) and account.dial_command == "ATDT" and account.speed == 115200
    assert account.line_ending == "CR" and account.redial == accounts.Redial(3, 5.0, 60.0)
    assert account.script is None and account.callback is None and account.auth_user is None
    assert account.ppp_timeout == 60 and account.connect_timeout == 90 and not account.pacing


def test_the_users_file_wins_over_the_system_one(homes):
    user_dir, system_dir = homes
    write(system_dir / "work.toml", 'line = "modem1"\npeer = "isp"\nphone = "1"\n')
    assert load_account("work").origin == "system"
    write(user_dir / "work.toml", 'line = "modem2"\npeer = "isp"\nphone = "2"\n')
    assert (load_account("work").origin, load_account("work").line) == ("user", "modem2")
    listed = {(entry.name, entry.origin): entry for entry in accounts.list_accounts()}
    assert listed[("work", "system")].shadowed and not listed[("work", "user")].shadowed


def test_listing_shows_broken_files_with_their_error(homes):
    user_dir, _ = homes
    write(user_dir / "bad.toml", 'line = "modem1"\npeer = "isp"\nphone = "1"\nspeed = 12345\n')
    write(user_dir / "Bad Name.toml", 'line = "modem1"\n')
    entries = {entry.name: entry for entry in accounts.list_accounts()}
    assert entries["bad"].account is None and ":4: speed = 12345 is not a serial speed" in entries["bad"].error
    assert "not a valid account name" in entries["Bad Name"].error


def test_unknown_account_names_both_places(homes):
    with pytest.raises(PppupError) as caught:
        load_account("nosuch")
    assert caught.value.code == Code.USAGE and "nosuch.toml" in caught.value.message
    with pytest.raises(PppupError, match="not an account name"):
        load_account("../etc/passwd")


# ------------------------------------------------------------------ errors name file:line and the fix

@pytest.mark.parametrize("text, line, words", [
    ('line = "modem1"\npeer = "isp"\nphone = "1"\nspede = 9600\n', 4, "did you mean 'speed'?"),
    ('line = "modem1"\npeer = "isp"\nphone = "1"\n\n[redial]\nattempts = 0\n', 6, "from 1 to 100"),
    ('line = "modem1"\npeer = "isp"\nphone = ["1", "x"]\n', 3, "is not valid"),
    ('line = "Modem1"\npeer = "isp"\nphone = "1"\n', 1, "policy"),
    ('line = "modem1"\npeer = "isp"\nphone = "1"\ninit = ["ATZ", "ATX4\\r"]\n', 4, "starts with AT"),
    ('line = "modem1"\npeer = "isp"\nphone = "1"\nline_ending = "CRCR"\n', 4, "not CR, LF or CRLF"),
    ('line = "modem1"\npeer = "isp"\nphone = "1"\ndial_command = "ATX"\n', 4, "ATDT"),
    ('line = "modem1"\npeer = "isp"\nphone = "1"\nchat = "x"\nlogin_script = "Expect x"\n', 5, "keep one"),
    ('line = "modem1"\npeer = "isp"\nphone = "1"\n[callback]\nmenu_prompt = "x"\n', 4, "KPPP login script"),
    ('line = "modem1"\npeer = "isp"\nphone = "1"\npppd_flags = ["debug", "plugin /x"]\n', 4, "pppd option"),
    ('line = "modem1"\npeer = "isp"\n[auth]\nsecret = "x"\nchat = "x"\n', 5, "unknown key 'auth.chat'"),
    ('line = "modem1"\npeer = "isp"\nphone = "1"\n[auth]\nuser = "a b"\n', 5, "without spaces"),
    ('line = "modem1"\npeer = "isp"\nphone = "1"\n[auth]\nsecret = "x"\n', 4, "no user"),
    ('line = "modem1"\npeer = "isp"\nchat = "\'\' AT"\nabort = ["Login incorrect"]\n', 4, "login scripts only"),
    ('line = "modem1"\npeer = "isp"\nphone = "1"\nlogin_script = "Send ppp"\nabort = [""]\n', 5, "at most 49"),
])
def test_validation_errors_name_the_line_and_a_fix(tmp_path, text, line, words):
    error = problem(text, tmp_path, 0o600)
    assert error.line == line, error.message
    assert words in error.message and "; " in error.message
    assert error.message.startswith(f"{tmp_path / 'acct.toml'}:{line}: ")
    assert error.code == Code.CONFIG


def test_toml_syntax_errors_give_the_line(tmp_path):
    error = problem('line = "modem1"\npeer = "isp"\nchat = """\n"" AT\nOK-\\d\\d+++\n"""\n', tmp_path)
    # a chat script in a basic string: TOML refuses the \d escape; the fix says which quotes to use
    assert error.line == 5
    assert "'''" in error.fix


def test_inline_script_errors_use_the_account_files_line_numbers(tmp_path):
    text = 'line = "modem1"\npeer = "isp"\nphone = "1"\nlogin_script = \'\'\'\nExpect ogin:\nSnd user\n\'\'\'\n'
    error = problem(text, tmp_path)
    assert error.line == 6 and "unknown command 'Snd'" in error.message


def test_inline_chat_script_errors_too(tmp_path):
    text = "line = \"modem1\"\npeer = \"isp\"\n\nchat = '''\n'' AT\nOK 'unterminated\n'''\n"
    error = problem(text, tmp_path)
    assert error.line == 6 and "unterminated quote" in error.message


def test_phone_numbers_with_a_chat_script_that_never_dials_them(tmp_path):
    error = problem("line = \"modem1\"\npeer = \"isp\"\nphone = \"1\"\nchat = \"'' ATDT555 CONNECT ''\"\n",
                    tmp_path)
    assert error.line == 3 and r"ATDT\T" in error.fix


def test_callback_needs_the_menu_prompt_in_the_script(tmp_path):
    text = CALLBACK_ACCOUNT.replace('menu_prompt = "for userxyz:"', 'menu_prompt = "for someone:"')
    error = problem(text, tmp_path)
    assert "Expect for someone:" in error.message and error.line == text.splitlines().index(
        'menu_prompt = "for someone:"') + 1


def test_callback_default_must_be_offered(tmp_path):
    error = problem(CALLBACK_ACCOUNT.replace("wait = 90", 'wait = 90\ndefault = "elsewhere"'), tmp_path)
    assert "not among callback.aliases" in error.message


# ------------------------------------------------------------------ permissions (as ssh)

def test_an_inline_password_needs_mode_600(tmp_path):
    text = 'line = "modem1"\npeer = "isp"\nphone = "1"\n[auth]\nuser = "alice"\nsecret = "s3cret"\n'
    error = problem(text, tmp_path, 0o640)
    assert f"chmod 600 {tmp_path / 'acct.toml'}" in error.message and "(mode 0640)" in error.message
    path = write(tmp_path / "ok.toml", text, 0o600)
    assert load_file(str(path), "user").auth_secret.value == "s3cret"


def test_a_secret_file_must_be_mine_and_private(tmp_path):
    secret = write(tmp_path / "s", "pw\n", 0o644)
    with pytest.raises(PppupError, match=rf"chmod 600 {secret}"):
        read_secret_file(str(secret))
    os.chmod(secret, 0o600)
    assert read_secret_file(str(secret)) == "pw"
    os.chown(secret, 4242, -1)     # someone else's
    with pytest.raises(PppupError, match="owned by uid 4242, not you"):
        read_secret_file(str(secret))


def test_account_files_writable_by_others_are_refused(tmp_path):
    error = problem('line = "modem1"\npeer = "isp"\nphone = "1"\n', tmp_path, 0o666)
    assert "chmod go-w" in error.message
    path = write(tmp_path / "theirs.toml", 'line = "modem1"\npeer = "isp"\nphone = "1"\n')
    os.chown(path, 4242, -1)
    with pytest.raises(PppupError, match="neither you nor root"):
        load_file(str(path), "user")


def test_a_system_account_may_not_hold_a_secret(tmp_path):
    path = write(tmp_path / "sys.toml", 'line = "modem1"\npeer = "isp"\nphone = "1"\n[auth]\nuser = "a"\n'
                 'secret = "x"\n')
    with pytest.raises(AccountError, match="system account cannot hold a secret"):
        load_file(str(path), "system")


def test_a_scripts_file_writable_by_others_is_refused(homes):
    user_dir, _ = homes
    write(user_dir / "isp.chat", SEED2_CHAT_SCRIPT, 0o666)
    write(user_dir / "isp.toml", 'line = "modem1"\npeer = "isp"\nchat_file = "isp.chat"\n')
    with pytest.raises(PppupError, match="writable by group or others"):
        load_account("isp")


def test_no_terminal_and_no_secret_says_where_to_put_it(homes):
    user_dir, _ = homes
    write(user_dir / "isp.toml", 'line = "modem1"\npeer = "isp"\nphone = "1"\n[auth]\nuser = "alice"\n')
    with pytest.raises(PppupError) as caught:
        gather(load_account("isp"), terminal="/nonexistent")
    assert "no terminal to ask on" in caught.value.message and "secret_file" in caught.value.message
