"""`pppup import wvdial`: wvdialconf's output with hand edits, Inherits chains, a login prompt, a 3G stick."""
from __future__ import annotations

import pytest

from pppup.importers.draft import ImportOptions
from pppup.importers.report import Report
from pppup.importers.wvconf import WvConf
from pppup.importers.wvdial import import_wvdial, truth
from pppup_protocol.errors import Code, PppupError

from .support import WVDIAL, mode, wvdial


def test_dialer_defaults_from_wvdialconf_plus_hand_edits(tmp_path):
    result = wvdial("wvdial.conf", None, tmp_path)
    account = result.account()
    assert account.name == "wvdial" and account.line == "ttys1" and account.phone == ("5554001",)
    assert account.init == ("ATZ", "ATQ0 V1 E1 S0=0 &C1 &D2 +FCLASS=0")
    assert account.speed == 115200 and account.rtscts and account.script is None
    assert account.auth_user == "frank" and result.file(".secret").read_text() == "fr4nk!pw\n"
    assert mode(result.file(".secret")) == 0o600
    assert "idle = 900" in result.text(".policy")
    assert result.peer_options() == ["noauth", "modem", "crtscts", "defaultroute", "noipdefault", "usepeerdns"]
    assert not result.fixes()
    # the commented-out placeholders of wvdialconf are comments, not settings
    assert not any("Phone" in text and "placeholder" in text for text in result.report.texts())


def test_a_section_inherits_along_the_chain_then_from_the_defaults(tmp_path):
    result = wvdial("wvdial.conf", "shh", tmp_path)
    account = result.account()
    assert account.phone == ("5554002", "5554003")            # [Dialer backup], through [Dialer pulse]
    assert account.dial_command == "ATDP"                     # [Dialer pulse]
    assert account.init == ("ATZ", "ATQ0 V1 E1 S0=0 &C1 &D2 +FCLASS=0", "ATM0")   # Init3 of [Dialer shh]
    assert account.auth_user == "frank"                       # [Dialer Defaults]
    assert any("looked up in [Dialer shh], [Dialer pulse], [Dialer backup], [Dialer Defaults]" in text
               for text in result.notes())


def test_login_and_password_prompts_become_a_login_script(tmp_path):
    result = wvdial("wvdial.conf", "Dialer shell", tmp_path)
    account = result.account()
    assert account.script.kind == "login"
    assert [(c.name, c.argument) for c in account.script.parsed.commands] == [
        ("Expect", "login:"), ("ID", ""), ("Expect", "Password:"), ("Password", "")]
    assert account.login_user == "frank" and account.auth_user == "frank"
    # one secret, one file, named by both tables
    assert account.login_password.path == account.auth_secret.path == str(result.file(".secret"))
    assert result.file(".secret").read_text() == "sh3ll pw\n"
    assert account.redial.attempts == 100
    assert any("Check DNS" in text for text in result.dropped())


def test_a_3g_stick_with_crlf_lines_and_placeholder_credentials(tmp_path):
    result = wvdial("wvdial-3g.conf", None, tmp_path, name="mobile")
    account = result.account()
    assert account.name == "mobile" and account.phone == ("*99#",) and account.speed == 460800
    assert account.init[-1] == 'AT+CGDCONT=1,"IP","internet.example"'
    assert account.connect_timeout == 30 and account.redial.attempts == 3
    assert account.auth_user is None and not result.file(".secret").exists()
    assert any("Username = '{ }'" in text for text in result.fixes())
    dropped = "\n".join(result.dropped())
    for what in ("Carrier Check = off", "Abort on No Dialtone = no", "Country:", "Provider:", "Auto Reconnect"):
        assert what in dropped, what


def test_a_file_with_one_section_and_no_defaults_imports_that_section(tmp_path):
    conf = tmp_path / "wvdial.conf"
    conf.write_text("[Dialer isp]\nphone=5550777\nMODEM=/dev/ttyS2\n")
    draft = import_wvdial(str(conf), None, ImportOptions(), Report())
    assert (draft.name, draft.phone, draft.device) == ("isp", ["5550777"], "/dev/ttyS2")


def test_an_unknown_section_lists_the_sections():
    with pytest.raises(PppupError) as caught:
        import_wvdial(str(WVDIAL / "wvdial.conf"), "nosuch", ImportOptions(), Report())
    assert caught.value.code == Code.USAGE
    assert "[Dialer Defaults], [Dialer backup], [Dialer pulse], [Dialer shh], [Dialer shell]" in caught.value.message


def load(text: str, path: str = "w.conf", conf: WvConf | None = None) -> WvConf:
    conf = conf or WvConf()
    conf.load(text, path, Report())
    return conf


def test_wvconf_first_block_keeps_the_first_value_a_reopened_section_overrides():
    conf = load("[Dialer Defaults]\nPhone = 1\nphone = 2\n[Dialer x]\nInit1 = ATZ\n[dialer defaults]\nPHONE = 3\n")
    assert conf.lookup("dialer x", "Phone").value == "3"
    conf = load("[Dialer Defaults]\nPhone = 1\nphone = 2\n")
    assert conf.lookup("Dialer Defaults", "PHONE").value == "1"
    # a second file (~/.wvdialrc) reopens the section: it overrides, and an empty value deletes
    conf = load("[Dialer Defaults]\nPhone = 5\nUsername = u\n", "rc", load("[Dialer Defaults]\nPhone = 4\n"))
    assert conf.lookup("Dialer Defaults", "phone").value == "5"
    conf = load("[Dialer Defaults]\nPhone =\n", "rc", conf)
    assert conf.lookup("Dialer Defaults", "phone") is None


def test_wvconf_values_keep_equals_signs_and_inherit_loops_end():
    conf = load("[Dialer a]\nInherits = b\nInit3 = AT+CGDCONT=1,\"IP\",\"x\"\n[Dialer b]\nInherits = Dialer a\n"
                "Phone = 9\n")
    assert conf.lookup("dialer a", "init3").value == 'AT+CGDCONT=1,"IP","x"'
    assert conf.lookup("dialer a", "phone").value == "9"
    assert conf.chain("dialer a") == ["dialer a", "dialer b"]


@pytest.mark.parametrize("text, value", [("on", 1), ("Yes", 1), ("true", 1), ("off", 0), ("no", 0), ("none", 0),
                                         ("1", 1), ("0", 0), ("30", 30), ("bogus", 0)])
def test_wvdial_truth_values(text, value):
    assert truth(text) == value
