"""`pppup import kppp`: a KDE 3 kppprc (PAP, a script login) and a KDE 4 one (the callback chapter's account)."""
from __future__ import annotations

import pytest

from pppup.importers.draft import ImportOptions
from pppup.importers.kconfig import KConfig, split_list, unescape
from pppup.importers.kppp import import_kppp
from pppup.importers.report import Report
from pppup_protocol.errors import Code, PppupError

from flows.seeds import SEED1_ALIAS, SEED1_MENU_PROMPT, SEED1_USER

from .support import KPPP, kppp


def test_every_account_of_a_kde3_kppprc(tmp_path):
    pap, script = kppp("kppprc", tmp_path)
    account = pap.account()
    assert account.name == "example-net" and account.line == "ttys0" and account.peer == "pppup-example-net"
    assert account.phone == ("0191 5550100", "0191 5550101")          # DialPrefix 0 + the ':' list
    assert account.init == ("ATZ", "AT&F&C1&D2", "ATM0L0")             # InitString, InitString1, Volume=0
    assert account.speed == 57600 and account.rtscts and account.connect_timeout == 60
    assert account.ppp_timeout == 45 and account.redial.delay == 10.0
    assert account.auth_user == "gina@example.net" and pap.file(".secret").read_text() == "g1na-pw\n"
    assert account.script is None
    assert pap.peer_options() == ["crtscts", "refuse-chap", "defaultroute", "usepeerdns", "noauth",
                                  "lcp-echo-interval 30", "lcp-echo-failure 4", "novj"]
    assert any("pppd argument persist" in text for text in pap.dropped())
    assert any("AutomaticRedial" in text for text in pap.dropped())

    login = script.account()
    assert login.name == "uni-login" and login.auth_user is None and login.login_user == "hans"
    assert [(c.name, c.argument) for c in login.script.parsed.commands] == [
        ("Expect", "login:"), ("ID", ""), ("Expect", "Password:"), ("Password", ""),
        ("Expect", "Choice (1,2,3):"), ("Send", "2"), ("Expect", "$ ")]
    assert script.file(".password").read_text() == "h@ns,pw\n"
    assert login.login_password.path == str(script.file(".password"))


def test_the_callback_chapters_account_becomes_a_callback_account(tmp_path):
    office, bbs = kppp("kppprc-callback", tmp_path)
    account = office.account()
    assert account.name == "office-callback" and account.line == "ttys1"     # [General] DefaultModem
    assert account.callback is not None
    assert account.callback.menu_prompt == SEED1_MENU_PROMPT and account.callback.default == SEED1_ALIAS
    assert account.login_user == SEED1_USER and account.login_password.kind == "prompt"
    assert [c.name for c in account.script.parsed.commands] == [
        "Expect", "ID", "Expect", "Send", "Expect", "ID", "Expect", "Expect", "Send"]
    # the dial string's AT&C0S0=1 is the call-back set-up pppup does itself; Volume=2, no dial tone wait
    assert account.init == ("ATZ", "ATM1L3", "ATX3") and account.dial_command == "ATDT"
    assert account.rtscts is False

    other = bbs.account()
    assert other.callback is None and other.script is None
    assert other.init[-1] == "AT&C0S0=1"
    assert any("terminal-based login" in text for text in bbs.fixes())
    dropped = "\n".join(bbs.dropped())
    for what in ("CBCP call-back", "Command = '/usr/local/bin/fetch-news'", "DNS = '10.1.1.1,10.1.1.2'"):
        assert what in dropped, what


def test_one_account_by_name_with_another_name(tmp_path):
    (result,) = kppp("kppprc-callback", tmp_path, account="Office (callback)", name="office")
    assert result.account().name == "office"
    with pytest.raises(PppupError) as caught:
        import_kppp(str(KPPP / "kppprc"), None, ImportOptions(name="x"), Report())
    assert caught.value.code == Code.USAGE and "--name needs one" in caught.value.message
    with pytest.raises(PppupError) as caught:
        import_kppp(str(KPPP / "kppprc"), "Nope", ImportOptions(), Report())
    assert "it has: Example Net, Uni Login" in caught.value.message


def test_a_script_with_an_answer_command_is_a_callback_without_it(tmp_path):
    rc = tmp_path / "kppprc"
    rc.write_text("[Account0]\nName=cb\nPhonenumber=555\nUsername=u\n"
                  "ScriptCommands=Expect,ID,Expect,Send,Hangup,Answer,Expect,ID,Expect,Send\n"
                  "ScriptArguments=ogin:,,number:,home,,,ogin:,,>,ppp\n[Modem]\nDialString=ATDT\n")
    results = import_kppp(str(rc), None, ImportOptions(user="root"), Report())
    draft, report = results[0]
    assert draft.callback == {"menu_prompt": "number:", "default": "home"}
    assert "Hangup" not in draft.login_script and "Answer" not in draft.login_script


def test_script_commands_kppp_never_had_are_reported(tmp_path):
    rc = tmp_path / "kppprc"
    rc.write_text("[Account0]\nName=x\nPhonenumber=555\nScriptCommands=Expect,Frobnicate,Pause (sec),Send\n"
                  "ScriptArguments=ogin:,now,3,hello\n")
    draft, report = import_kppp(str(rc), None, ImportOptions(), Report())[0]
    assert draft.login_script.splitlines()[1:] == ["Expect      ogin:", "Pause       3", "Send        hello"]
    assert any("script command 2 (Frobnicate 'now'): KPPP has no such command" in text
               for text in report.texts("fix"))


@pytest.mark.parametrize("raw, value", [(r"a\sb\tc", "a b\tc"), (r"\\server", "\\server"), (r"\x41\x42", "AB"),
                                        (r"one\,two", r"one\,two"), ("plain=text", "plain=text")])
def test_kconfig_unescapes_values(raw, value):
    assert unescape(raw) == (value, None)


def test_kconfig_lists_and_their_escapes():
    assert split_list("") == [] and split_list("\\0") == [""]
    assert split_list("a,,b") == ["a", "", "b"]
    assert split_list(unescape(r"x\\,y,z")[0]) == ["x,y", "z"]      # KF5 writes a comma in an item as \\,
    assert split_list(unescape(r"x\,y,z")[0]) == ["x,y", "z"]       # older files as \,
    assert split_list(unescape(r"back\\\\slash,q")[0]) == ["back\\slash", "q"]


def test_kconfig_groups_markers_translations_and_duplicates():
    conf = KConfig()
    report = Report()
    conf.load("# c\n[$i]\n[A]\nName=one\nName[de]=eins\nKey[$i]=v\nName=two\n[B][C]\nx=1\n[bad\n", "rc", report)
    assert conf.get("A", "Name").value == "two" and conf.get("A", "Key").value == "v"
    assert conf.get("B/C", "x").value == "1"
    assert any("'[bad' is not a valid group header" in text for text in report.texts())


def test_a_kde4_kppprc_with_modem_profiles_and_leftover_groups(tmp_path):
    # [Account1] (a new account given up on) and [Account2] (past NumberOfAccounts, emptied when
    # deleted) are KPPP's leftovers: one account comes out, not three
    (result,) = kppp("kppprc-3g", tmp_path)
    account = result.account()
    assert account.name == "field-3g" and account.phone == ("*99***1#",)
    # DefaultModem names [Modem2]; [Modem3] (past NumberOfModems) has the same name but is not used
    assert account.line == "ttyacm0" and account.speed == 460800 and account.rtscts
    assert account.init == ("AT+cfun=1", 'at+cgdcont=1,"IP","field.example"', "AT")   # no dial-tone wait: AT
    assert account.dial_command == "ATD" and account.connect_timeout == 60
    assert account.auth_user == "field" and result.file(".secret").read_text() == "fieldpw\n"
    assert result.peer_options() == ["crtscts", "defaultroute", "usepeerdns", "noauth", "replacedefaultroute",
                                     "modem", "noipdefault", "novj", "debug"]
    notes = "\n".join(result.notes())
    assert "kppprc-3g [Account1]: skipped: an empty account" in notes
    assert "kppprc-3g [Account2]: skipped: [General] NumberOfAccounts = 2" in notes
    assert any("BeforeConnect = 'xterm -e /usr/local/bin/signal-check /dev/ttyUSB0'" in text
               for text in result.dropped())
    assert not result.fixes()


def test_an_installer_written_kppprc_with_the_old_modem_group(tmp_path):
    (result,) = kppp("kppprc-installer", tmp_path)
    account = result.account()
    assert account.name == "dialup" and account.phone == ("0 800 555 0123",)
    assert account.line == "modem" and account.speed == 115200 and account.rtscts    # FlowControl=CRTSCTS
    assert account.init == ("ATZ", "ATM0L0") and account.ppp_timeout == 30
    assert account.auth_user == "ivy" and result.file(".secret").read_text() == "ivy.pw\n"
    assert "refuse-chap" in result.peer_options() and not result.fixes()


def test_a_file_of_leftovers_only_has_no_accounts(tmp_path):
    rc = tmp_path / "kppprc"
    rc.write_text("[Account0]\npppdArguments=\n[Account1]\nName=\nPhonenumber=\n[General]\nNumberOfAccounts=1\n")
    with pytest.raises(PppupError) as caught:
        import_kppp(str(rc), None, ImportOptions(), Report())
    assert caught.value.code == Code.USAGE and "has no KPPP accounts" in caught.value.message


def test_lists_ending_in_a_comma_as_kppps_provider_database_writes_them(tmp_path):
    rc = tmp_path / "kppprc"
    rc.write_text("[Account0]\nName=Wizard ISP\nPhonenumber=5550303\nAuthentication=0\nUsername=wiz\n"
                  "Password=wpw\nStorePassword=1\nScriptCommands=Expect,Send,Expect,Send,Send,\n"
                  "ScriptArguments=ogin:,%USERNAME%,word:,%PASSWORD%,ppp,\npppdArguments=-detach,\n"
                  "[Modem]\nDevice=/dev/ttyS1\n")
    draft, report = import_kppp(str(rc), None, ImportOptions(user="root"), Report())[0]
    assert draft.login_script.splitlines()[1:] == ["Expect      ogin:", "Send        %USERNAME%",
                                                   "Expect      word:", "Send        %PASSWORD%", "Send        ppp"]
    assert draft.login_user == "wiz" and draft.login_password == "wpw"
    assert not report.texts("fix")
    assert report.texts("dropped") == [f"{rc}:10: pppd argument -detach: pppup supervises the link: it never lets "
                                       "pppd redial, wait for traffic or detach by itself (run pppup again after "
                                       "a link ends)"]


def test_idle_0_in_pppd_arguments_is_no_limit(tmp_path):
    rc = tmp_path / "kppprc"
    rc.write_text("[Account0]\nName=x\nPhonenumber=555\npppdArguments=idle 0,maxconnect 3600\n")
    draft, report = import_kppp(str(rc), None, ImportOptions(), Report())[0]
    assert draft.rule_idle is None and draft.rule_maxconnect == 3600
    assert not any(line.startswith("idle") for line in draft.peer_options)
    assert any("pppd argument idle 0: no limit" in text for text in report.texts("dropped"))
