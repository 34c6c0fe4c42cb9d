"""The command line (click), status and account listings, pppdown's choice of link, signal handling."""
from __future__ import annotations

import os
import signal
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner

from pppup import accounts, cli
from pppup.down import choose_line
from pppup.interrupts import Interrupted, Interrupts
from pppup.session import describe_stop
from pppup.status import format_accounts, format_status
from pppup_protocol.errors import Code, PppupError

from .support import account_from_text


@pytest.fixture
def no_accounts(tmp_path, monkeypatch):
    monkeypatch.setattr(accounts, "home_dir", lambda: str(tmp_path))
    monkeypatch.setattr(accounts, "SYSTEM_DIR", str(tmp_path / "none"))


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.pppup, list(args), prog_name="pppup", catch_exceptions=False)
    return result.exit_code, result.output


def test_the_reserved_names_are_the_subcommands():
    assert set(accounts.RESERVED) == set(cli.pppup.commands)


@pytest.mark.parametrize("args", [["work"], ["-v", "work"], ["--callback", "home", "work"], ["up", "work"],
                                  ["work", "--wait", "--wait-timeout", "5", "-f"]])
def test_a_first_word_that_is_not_a_subcommand_is_an_account(no_accounts, args):
    code, output = run(*args)
    assert code == Code.USAGE and "there is no account 'work'" in output, output


def test_an_account_named_like_a_subcommand_runs_with_up(no_accounts):
    code, output = run("up", "status")
    assert code == Code.USAGE and "there is no account 'status'" in output


def test_usage_errors_exit_2():
    code, output = run("work", "--no-such-option")
    assert code == Code.USAGE and "No such option" in output
    code, output = run("work", "--wait-timeout", "0")
    assert code == Code.USAGE


def test_help():
    code, output = run("--help")
    assert code == 0 and "pppup ACCOUNT [options]" in output and "pppdown [ACCOUNT|LINE]" in output
    code, output = run("up", "--help")
    assert code == 0 and "--callback ALIAS" in output and "--foreground" in output


def test_accounts_listing(no_accounts, tmp_path):
    code, output = run("accounts")
    assert code == 0 and "no accounts" in output
    directory = tmp_path / ".config/pppup/accounts"
    directory.mkdir(parents=True)
    (directory / "work.toml").write_text('line = "modem1"\npeer = "isp"\nphone = ["5551", "5552"]\n')
    (directory / "bad.toml").write_text('line = "modem1"\n')
    code, output = run("accounts")
    lines = output.splitlines()
    assert code == 0 and lines[0].split() == ["ACCOUNT", "FROM", "LINE", "PEER", "DIALS", "HOW"]
    assert lines[2].split()[:5] == ["work", "user", "modem1", "isp", "5551"] and "(+1)" in lines[2]
    assert lines[1].startswith("bad") and "INVALID" in lines[1] and "names no peer" in lines[1]


def test_main_turns_ctrl_c_into_130(monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli.pppup, "main", interrupted)
    with pytest.raises(SystemExit) as done:
        cli.pppup_main(["status"])
    assert done.value.code == Code.INTERRUPTED


def test_pppdown_refuses_a_name_with_all(monkeypatch):
    class Helper:
        def stop(self, *args):
            raise AssertionError("must not be called")

        def close(self):
            pass
    monkeypatch.setattr("pppup.session._helper_client", lambda: Helper())
    with pytest.raises(SystemExit) as done:
        cli.pppdown_main(["work", "--all"])
    assert done.value.code == Code.USAGE


# ------------------------------------------------------------------ pppdown: which link

LINES = [
    {"line": "modem1", "state": "up", "user": "ann", "account": "work"},
    {"line": "modem2", "state": "up", "user": "bob", "account": "work"},
    {"line": "modem3", "state": "free"},
    {"line": "modem4", "state": "dialling", "user": "ann", "account": "home"},
]


def test_pppdown_chooses_the_callers_link():
    assert choose_line(LINES, None, "bob") == "modem2"
    assert choose_line(LINES, "work", "ann") == "modem1"         # an account of hers
    assert choose_line(LINES, "modem2", "ann") == "modem2"       # a line: the helper decides if she may
    with pytest.raises(PppupError) as caught:
        choose_line(LINES, None, "ann")                          # two links: say which
    assert caught.value.code == Code.USAGE and "modem1 (work), modem4 (home)" in caught.value.message
    with pytest.raises(PppupError) as caught:
        choose_line(LINES, None, "cat")
    assert caught.value.code == Code.NO_LINK
    with pytest.raises(PppupError) as caught:
        choose_line(LINES, "nothing", "ann")
    assert caught.value.code == Code.NO_LINK and "neither a line nor an account" in caught.value.message


def test_describe_stop():
    entry = {"line": "modem1", "user": "ann", "account": "work", "stopped": True, "duration": 125,
             "bytes_sent": 1500, "bytes_received": 2_500_000, "reason": "stopped on request"}
    assert describe_stop(entry) == ("stopped work on modem1 (ann); up 2 min 5 s; sent 1.5 kB, received "
                                    "2.5 MB; stopped on request")
    assert "not stopped: still dialling" in describe_stop({"line": "m", "stopped": False,
                                                           "reason": "still dialling (no link yet)"})


# ------------------------------------------------------------------ status

def test_status_table():
    today = datetime(2026, 11, 21, 15, 0, tzinfo=timezone.utc)
    lines = [
        {"line": "modem1", "state": "up", "user": "ann", "account": "work", "since": "2026-11-21T14:01:00+0000",
         "link_start": "2026-11-21T14:02:11+0000", "ifname": "ppp0", "local": "10.0.0.2", "remote": "10.0.0.1",
         "bytes_sent": 1234, "bytes_received": 56789},
        {"line": "modem2", "state": "free", "last": {"user": "bob", "account": "home", "reason": "idle timeout",
                                                      "ended": "2026-11-20T13:01:05+0000", "duration": 302}},
        {"line": "modem3", "state": "in use by another program", "holder": "minicom (pid 4321)"},
    ]
    text = format_status(lines, today).splitlines()
    assert text[0].split() == ["LINE", "STATE", "USER", "ACCOUNT", "SINCE", "LOCAL", "REMOTE", "SENT", "RECEIVED"]
    assert text[1].split() == ["modem1", "up", "ann", "work", "14:02:11", "10.0.0.2", "10.0.0.1", "1.2", "kB",
                               "56.8", "kB"]
    assert text[2].split()[:2] == ["modem2", "free"]
    assert text[3].strip() == "last: bob (home) ended Fri 13:01 after 5 min 2 s: idle timeout"
    assert "in use by another program (minicom (pid 4321))" in text[4]


def test_accounts_format_marks_shadowed(tmp_path):
    account = account_from_text(tmp_path, 'line = "m"\npeer = "p"\nchat = "\'\' AT"\n')
    listed = [accounts.Listed("x", "system", "/etc/x.toml", account, None, True)]
    text = format_accounts(listed, "~")
    assert "system (hidden by yours)" in text and "by its chat script" in text


# ------------------------------------------------------------------ signals

def test_a_signal_interrupts_at_once_outside_deferred_sections():
    with Interrupts() as interrupts:
        with pytest.raises(Interrupted) as caught:
            os.kill(os.getpid(), signal.SIGTERM)
            signal.sigtimedwait([], 0.5)        # a point where Python runs handlers
        assert caught.value.name == "SIGTERM" and interrupts.pending == signal.SIGTERM


def test_a_signal_in_a_deferred_section_waits_for_its_end():
    notices: list[str] = []
    with Interrupts(notices.append) as interrupts:
        with interrupts.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            signal.sigtimedwait([], 0.2)
            finished = True                     # the section ran to its end
        assert finished and notices and "finishing this step first" in notices[0]
        with pytest.raises(Interrupted):
            interrupts.check()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
