"""`pppup import peers`: Debian's provider, pppconfig's peers, the second seed's script, a hand-made peer."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from pppup.chat.script import parse_argv, parse_bytes
from pppup.importers import outputs
from pppup.importers.draft import ImportOptions
from pppup.importers.peers import import_peers
from pppup.importers.report import Report
from pppup_protocol.errors import Code, PppupError

from flows.seeds import SEED2_CHAT_SCRIPT
from .support import ROOT, mode, peers


def steps_of(script) -> list[tuple[str, bytes]]:
    """A script's steps as comparable tuples (kind and text, not positions)."""
    out = []
    for step in script.steps:
        kind = type(step).__name__
        if kind == "Keyword":
            out.append((step.name, step.argument.text))
        else:
            out.append((kind, step.token.text))
    return out


def test_debians_default_provider(tmp_path):
    result = peers("provider", tmp_path)
    account = result.account()
    assert (account.name, account.line, account.peer) == ("provider", "modem", "pppup-provider")
    assert account.auth_user == "myusername@realm" and account.auth_secret.kind == "prompt"
    assert account.speed == 115200 and account.phone == ()
    # the chat script is carried byte for byte and is what the account runs
    assert result.file(".chat").read_bytes() == (ROOT / "etc/chatscripts/pap").read_bytes()
    assert account.script.kind == "chat" and account.script.source == str(result.file(".chat"))
    assert any("'********' is not a phone number" in text for text in result.fixes())
    assert 'FIX: phone = "NUMBER"' in result.text(".toml")
    assert any(text.endswith("persist: pppup supervises the link: it never lets pppd redial, wait for traffic "
                             "or detach by itself (run pppup again after a link ends)") for text in result.dropped())
    assert result.peer_options() == ["noipdefault", "usepeerdns", "defaultroute", "noauth"]
    assert 'device = "/dev/modem"' in result.text(".policy")


def test_a_filled_in_provider_with_its_secret_from_pap_secrets(tmp_path):
    result = peers("home", tmp_path)
    account = result.account()
    assert account.phone == ("0191-555-1234",) and account.speed == 57600 and account.rtscts
    assert account.auth_user == "alice@isp.example"
    assert account.auth_secret.kind == "file" and account.auth_secret.path == str(result.file(".secret"))
    assert result.file(".secret").read_text() == "alice-pw\n" and mode(result.file(".secret")) == 0o600
    assert mode(result.file(".toml")) == 0o600
    assert not result.fixes()
    dropped = "\n".join(result.dropped())
    for word in ("persist:", "holdoff 30:", "maxfail 5:", "lock:"):
        assert word in dropped
    assert "idle = 600" in result.text(".policy")
    assert result.peer_options() == ["crtscts", "noipdefault", "usepeerdns", "defaultroute", "noauth"]


def test_pppconfig_pap_peer_takes_the_secret_for_its_remotename(tmp_path):
    result = peers("myisp", tmp_path)
    account = result.account()
    assert result.file(".secret").read_text() == "bob secret\n"       # not the `bob * wrong-one` line
    assert account.phone == () and account.script.kind == "chat"
    original = parse_bytes((ROOT / "etc/chatscripts/myisp").read_bytes())
    assert steps_of(account.script.parsed) == steps_of(original)
    assert result.peer_options() == ["hide-password", "noauth", "debug", "defaultroute", "noipdefault",
                                     "remotename myisp", "ipparam myisp", "usepeerdns"]


def test_pppconfig_chat_login_keeps_its_script_and_says_it_holds_a_secret(tmp_path):
    result = peers("oldisp", tmp_path)
    account = result.account()
    assert account.auth_user is None
    assert result.file(".chat").read_bytes() == (ROOT / "etc/chatscripts/oldisp").read_bytes()
    assert mode(result.file(".chat")) == 0o600
    assert any(text.startswith("/etc/chatscripts/oldisp:18: this line sends a secret") for text in result.notes())


def test_the_second_seeds_chat_script_is_used_unchanged(tmp_path):
    assert (ROOT / "etc/chatscripts/seedisp").read_text() == SEED2_CHAT_SCRIPT
    result = peers("seedisp", tmp_path)
    account = result.account()
    assert result.file(".chat").read_text() == SEED2_CHAT_SCRIPT
    assert steps_of(account.script.parsed) == steps_of(parse_bytes(SEED2_CHAT_SCRIPT.encode()))
    assert account.speed == 38400 and account.auth_user == "dave"
    assert result.file(".secret").read_text() == "d4ve\n"


def test_a_hand_made_peer_with_crlf_an_include_inline_chat_and_a_password(tmp_path):
    result = peers("office", tmp_path)
    account = result.account()
    # chat's command line words, as chat would get them from the shell, make the same steps
    words = ["ABORT", "BUSY", "ABORT", "NO CARRIER", "", "ATZ", "OK", r"AT\\N3", "OK", r"ATDT\T", "CONNECT", ""]
    assert steps_of(account.script.parsed) == steps_of(parse_argv(words))
    assert account.phone == ("5553003",) and account.script_timeout == 40 and account.speed == 230400
    assert account.auth_user == "erin" and result.file(".secret").read_text() == "pa ss#word\n"
    assert result.peer_options() == ["novj", "mru 1500", "asyncmap 0", "lcp-echo-interval 30",
                                     "lcp-echo-failure 4", "kdebug 1"]
    policy = result.text(".policy")
    assert "idle = 120" in policy and "maxconnect = 7200" in policy and 'device = "/dev/ttyACM0"' in policy
    dropped = "\n".join(result.dropped())
    for what in ("demand:", "nodetach:", "'silly-option' is not a pppd 2.4.9 option", "plugin rp-pppoe.so:",
                 "'2>/dev/null'"):
        assert what in dropped, what
    assert any("file /etc/ppp/options.office" in text for text in result.notes())
    for output in result.plan.outputs:
        if not output.secret:
            assert b"pa ss#word" not in output.data, output.path


def write_peer(tmp_path: Path, text: str, name: str = "peer") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_a_trusted_chat_script_is_used_where_it_is(tmp_path):
    script = tmp_path / "isp.chat"
    script.write_text("'' ATZ\nOK ATDT5550000\nCONNECT ''\n")
    os.chmod(script, 0o644)
    peer = write_peer(tmp_path, f'connect "chat -f {script}"\n/dev/ttyS2\n')
    out = tmp_path / "out"
    result = peers(str(peer), out, root=Path("/"))
    assert f'chat_file = "{script}"' in result.text(".toml")
    assert not result.file(".chat").exists()
    assert result.account().script.source == str(script)
    copied = peers(str(peer), tmp_path / "copied", root=Path("/"), copy_scripts=True)
    assert copied.file(".chat").read_bytes() == script.read_bytes()


def test_a_chat_script_others_may_change_is_copied(tmp_path):
    script = tmp_path / "isp.chat"
    script.write_text("'' ATZ\nOK ATDT5550000\nCONNECT ''\n")
    os.chmod(script, 0o666)
    peer = write_peer(tmp_path, f"connect 'chat -f {script}'\n")
    result = peers(str(peer), tmp_path / "out", root=Path("/"))
    assert result.file(".chat").read_bytes() == script.read_bytes()
    assert any("was copied, unchanged, because pppup would not use it where it is" in text
               and "writable by group or others" in text for text in result.notes())


def test_a_connect_that_is_not_chat_is_reported_and_the_account_says_so(tmp_path):
    peer = write_peer(tmp_path, 'connect "/etc/ppp/ppp-on-dialer"\n/dev/ttyS0\n')
    result = peers(str(peer), tmp_path / "out", root=Path("/"))
    assert any("it runs '/etc/ppp/ppp-on-dialer', not chat" in text for text in result.fixes())
    assert result.plan.account_error is not None and "neither what to dial nor how" in result.plan.account_error
    with pytest.raises(PppupError):
        result.account()


def test_a_chat_t_that_is_an_apn_goes_into_a_copy_of_the_script(tmp_path):
    result = peers("mobile", tmp_path)
    account = result.account()
    assert account.phone == () and account.speed == 460800 and account.line == "ttyusb2"
    original = (ROOT / "etc/chatscripts/gprs-apn").read_bytes()
    copy = result.file(".chat").read_bytes()
    assert copy == original.replace(b'"\\T"', b'"web.example-mobile.net"')
    assert b"# the \\T below is the APN" in copy                  # comments are left alone
    assert account.script.source == str(result.file(".chat"))
    assert account.auth_user == "web" and result.file(".secret").read_text() == "web\n"
    assert not result.fixes()
    assert any("mobile:2: chat -T web.example-mobile.net is the APN" in text for text in result.notes())
    assert not any("copied unchanged" in text for text in result.notes())
    assert "replacedefaultroute" in result.peer_options() and "persist" not in result.peer_options()


def test_an_apn_placeholder_and_an_apn_the_script_expects_are_fixes(tmp_path):
    result = peers("gprs-unset", tmp_path)
    assert any("-T '********' is a placeholder, and the script sends \\T as the APN" in text
               for text in result.fixes())
    assert result.file(".chat").read_bytes() == (ROOT / "etc/chatscripts/gprs-apn").read_bytes()
    # \T in an expect string is not replaced by chat: the text cannot go into the script
    script = tmp_path / "odd"
    script.write_text("'' AT\nOK AT+CGDCONT=1,\"IP\",\"\\T\"\n\\T-AT-OK ATD*99#\nCONNECT ''\n")
    peer = write_peer(tmp_path, f'connect "/usr/sbin/chat -v -f {script} -T internet.example"\n/dev/ttyUSB2\n')
    result = peers(str(peer), tmp_path / "out", root=Path("/"))
    assert result.account().phone == ()
    assert any("'internet.example' is not a phone number: the script sends \\T as something else (an APN?)"
               in text for text in result.fixes())


def test_a_sim_pin_given_as_chat_t_and_a_disconnect_script(tmp_path):
    result = peers("umts", tmp_path)
    account = result.account()
    assert account.phone == ("4711",) and account.line == "ttys4" and account.rtscts
    assert result.file(".chat").read_bytes() == (ROOT / "etc/ppp/peers/umts-chat").read_bytes()
    assert any("chat -T 4711 -> phone (the script sends it as \\T; in pppup that is the phone number)" in text
               for text in result.notes())
    dropped = "\n".join(result.dropped())
    for what in ("umts:2: nodetach", "umts:3: lock", "umts:18: disconnect \"chat -s -v -f /etc/ppp/peers/umts-hangup\""):
        assert what in dropped, what
    assert "ipcp-accept-local" in result.peer_options() and "modem" in result.peer_options()


def test_placeholders_left_in_a_chat_script_are_fixes(tmp_path):
    result = peers("unfilled", tmp_path)
    fixes = "\n".join(result.fixes())
    for line, text in ((5, "<put phone number here>"), (6, "<put login name here>"), (7, "<put password here>")):
        assert f"/etc/chatscripts/unfilled:{line}: the chat script still says {text}" in fixes
    assert "# FIX: /etc/chatscripts/unfilled:5 still says <put phone number here>" in result.text(".toml")


def test_a_peer_without_connect_is_refused(tmp_path):
    peer = write_peer(tmp_path, "noauth\n/dev/ttyS0\n")
    with pytest.raises(PppupError) as caught:
        import_peers(str(peer), ImportOptions(), Report())
    assert caught.value.code == Code.CONFIG and "has no `connect` command" in caught.value.message
    # a tunnel is no modem at all: the error says so
    with pytest.raises(PppupError) as caught:
        import_peers("tunnel", ImportOptions(), Report(), str(ROOT))
    assert caught.value.code == Code.CONFIG
    assert "/etc/ppp/peers/tunnel:2: the peer uses `pty`, not a modem line" in caught.value.message


def test_a_missing_peer_names_the_file(tmp_path):
    with pytest.raises(PppupError) as caught:
        import_peers("nosuchpeer", ImportOptions(), Report(), str(tmp_path))
    assert "/etc/ppp/peers/nosuchpeer" in caught.value.message and caught.value.code == Code.USAGE


def test_the_last_connect_wins_as_in_pppd(tmp_path):
    peer = write_peer(tmp_path, "connect 'chat \"\" ATDT111 CONNECT \"\"'\n"
                                "connect 'chat \"\" ATDT222 CONNECT \"\"'\n")
    result = peers(str(peer), tmp_path / "out", root=Path("/"))
    assert "ATDT222" in result.text(".toml") and "ATDT111" not in result.text(".toml")
    assert any("replaced by a later one" in text for text in result.dropped())


def test_existing_files_are_kept_without_force(tmp_path):
    peers("home", tmp_path)
    before = (tmp_path / "home.toml").read_text()
    report = Report()
    draft = import_peers("home", ImportOptions(user="root"), report, str(ROOT))
    plan = outputs.plan(draft, report, str(tmp_path), "root")
    (tmp_path / "home.toml").write_text("# mine\n")
    with pytest.raises(PppupError) as caught:
        outputs.write(plan.outputs, force=False)
    assert caught.value.code == Code.USAGE and "home.toml" in caught.value.message
    assert (tmp_path / "home.toml").read_text() == "# mine\n"
    outputs.write(plan.outputs, force=True)
    assert (tmp_path / "home.toml").read_text() == before
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".import-")]


def test_dry_run_shows_no_secret(tmp_path):
    report = Report()
    draft = import_peers("home", ImportOptions(user="root"), report, str(ROOT))
    shown = outputs.show(outputs.plan(draft, report, str(tmp_path), "root").outputs)
    assert "alice-pw" not in shown and "(a secret of 8 characters; not shown)" in shown
    assert os.listdir(tmp_path) == []


def test_idle_0_is_no_limit_and_not_a_rule(tmp_path):
    peer = write_peer(tmp_path, "connect 'chat \"\" ATDT555 CONNECT \"\"'\n/dev/ttyS0\nidle 0\nmaxconnect x\n")
    result = peers(str(peer), tmp_path / "out", root=Path("/"))
    assert "idle" not in result.text(".policy").split("[[rules]]")[1]
    dropped = "\n".join(result.dropped())
    assert "idle 0: no limit in pppd" in dropped and "maxconnect 'x' is not a positive number" in dropped
