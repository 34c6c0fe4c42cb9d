"""`pppup import wvdial`: wvdialconf's output with hand edits, Inherits chains, a login prompt, a 3G stick."""
from __future__ import annotations

import pytest

from pppup.importers.draft import ImportOptions
from pppup.importers.report import Report
from pppup.importers.wvconf import DEFAULTS, WvConf, tcl_unescape
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
    # wvdial reads `{ }` as one blank (Tcl braces): the filler for networks that take any name
    assert not result.fixes() and any("Username = ' ' is a blank name" in text for text in result.notes())
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


def test_wvconf_a_later_value_replaces_an_earlier_one_and_an_empty_value_is_a_value():
    # UniIniGen (wvdial 1.60+) keeps the last value of a key, in one file or across files
    conf = load("[Dialer Defaults]\nPhone = 1\nphone = 2\n[Dialer x]\nInit1 = ATZ\n[dialer defaults]\nPHONE = 3\n")
    assert conf.lookup("dialer x", "Phone").value == "3"
    conf = load("[Dialer Defaults]\nPhone = 1\nphone = 2\n")
    assert conf.lookup("Dialer Defaults", "PHONE").value == "2"
    # a second file (~/.wvdialrc) reopens the section: it overrides, and an empty value is kept as empty
    conf = load("[Dialer Defaults]\nPhone = 5\nUsername = u\n", "rc", load("[Dialer Defaults]\nPhone = 4\n"))
    assert conf.lookup("Dialer Defaults", "phone").value == "5"
    conf = load("[Dialer Defaults]\nPhone =\n", "rc", conf)
    assert conf.lookup("Dialer Defaults", "phone").value == ""


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


def test_usb_stick_profiles_with_a_blank_user_name(tmp_path):
    result = wvdial("wvdial-sticks.conf", "zte", tmp_path)
    account = result.account()
    assert account.line == "ttyusb2" and account.speed == 460800 and account.phone == ("*99#",)
    assert account.init == ("ATZ", "AT+ZOPRT=5", 'AT+CGDCONT=1,"IP","data.example-mobile.net"',
                            'AT+CGDCONT=1,"IP","data.example-mobile.net","0.0.0.0",0,0;')
    # `{ }` is one blank for wvdial: no [auth], no secret file, and nothing to fix
    assert account.auth_user is None and not result.file(".secret").exists()
    assert not result.fixes()
    assert any("conf:12: Username = ' ' is a blank name" in text for text in result.notes())


def test_quoted_values_odd_spacing_repeated_keys_and_commented_sections(tmp_path):
    result = wvdial("wvdial-quoted.conf", None, tmp_path)
    account = result.account()
    assert account.speed == 115200                          # `Baud =57600`, then `BAUD = 115200`: the last wins
    assert account.init == ("AT&F1", "AT&F")                # Init1 given twice: the last wins
    assert account.phone == ("030-555 7788", "030 555 7789")    # `;[Dialer old]` is a comment: Phone1 stays
    assert account.auth_user == "dora" and result.file(".secret").read_text() == "d0ra's pw\n"
    assert any("Carrier Check = off" in text for text in result.dropped())
    assert "usepeerdns" in result.peer_options()            # `#Auto DNS = 0` is a comment

    braced = wvdial("wvdial-quoted.conf", "backslash", tmp_path / "b")
    account = braced.account()
    assert account.auth_user == "dora.b" and braced.file(".secret").read_text() == "back\\slash pw\n"
    assert account.init[-1] == "ATX3" and account.dial_command == "ATDT"     # Dial Command = ATX3DT


@pytest.mark.parametrize("raw, value", [("{ }", " "), ("{a \\b}", "a \\b"), ('"x y"', "x y"), ('"a\\"b"', 'a"b'),
                                        ("a\\\\b\\ c", "a\\b c"), ('AT+CGDCONT=1,"IP","x"', 'AT+CGDCONT=1,"IP","x"'),
                                        ("''", "''"), ("{", "{"), ('"', '"')])
def test_wvconf_values_are_tcl_unescaped(raw, value):
    assert tcl_unescape(raw) == value


def test_wvconf_entries_span_lines_only_inside_braces_or_after_a_backslash():
    report = Report()
    conf = load("[Dialer Defaults]\nPassword = {two\nlines}\nInit2 = AT\\\nX3\nPhone = 5\n")
    assert conf.lookup(DEFAULTS, "password") == ("Password", "two\nlines", "w.conf", 2)
    assert conf.lookup(DEFAULTS, "init2").value == "AT\nX3" and conf.lookup(DEFAULTS, "phone").line == 6
    # a brace that never closes costs its own line only
    conf = WvConf()
    conf.load("[Dialer Defaults]\nPassword = {open\nPhone = 7\n", "w.conf", report)
    assert conf.lookup(DEFAULTS, "password") is None and conf.lookup(DEFAULTS, "phone").value == "7"
    assert any(text.startswith("w.conf:2: 'Password = {open' opens a brace") for text in report.texts("dropped"))
