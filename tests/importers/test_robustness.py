"""Whatever the old files hold, an import ends in a draft or in a PppupError, never in a traceback.

The inputs are built from the words real files are made of (section
headers, keys, options, quotes, escapes, CR, odd spacing) and from the
samples with lines dropped, so the importers see near-real files.  What
they produce must still be rendered and checked by the account loader.
"""
from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pppup.importers import outputs
from pppup.importers.draft import ImportOptions
from pppup.importers.kppp import import_kppp
from pppup.importers.peers import import_peers
from pppup.importers.report import Report
from pppup.importers.wvdial import import_wvdial
from pppup_protocol.errors import PppupError

from .support import KPPP, ROOT, WVDIAL

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

PEER_WORDS = ["connect", '"chat -v -f /etc/chatscripts/pap -T 555"', "'chat \"\" ATZ OK ATDT\\\\T'", "user",
              '"me"', "password", "pw", "/dev/ttyS0", "ttyS1", "115200", "persist", "idle", "30", "file",
              "/etc/ppp/options.office", "call", "home", "noauth", "#", "\\", "'", '"', "\r", "\n", " ", "\t",
              "crtscts", "plugin", "x.so", "10.0.0.1:", "lcp-echo-interval", "-T", "$(x)", "|"]
WV_LINES = ["[Dialer Defaults]", "[Dialer x]", "[Dialer y] ; c", "Inherits = x", "Inherits = y", "Phone = 555",
            "Phone1 = <Target Phone Number>", "Modem = /dev/ttyS1", "Baud = 9600x", "Init2 = ATZ", "Init3 =",
            "Username = u", "Password = p w", "Stupid Mode = yes", "Login Prompt = login:", "Dial Command = ATX",
            "Dial Attempts = -3", "Idle Seconds = x", "; comment", "garbage", "=", "Ask Password = 1", "\r",
            "Username = { }", "Password = {open", "Init4 = AT\\", 'Username = "q"', "}", '"']
KPPP_LINES = ["[Account0]", "[Account1]", "[Modem]", "[Modem0]", "[General]", "Name=A", "Name=B", "Phonenumber=555:",
              "Phonenumber=", "Authentication=1", "Authentication=0", "Authentication=9", "Username=u",
              "Password=p\\,w", "ScriptCommands=Expect,Send,LoopStart,Answer", "ScriptArguments=a\\,b,\\s,",
              "ScriptCommands=Expect,ID,Expect,Send,Expect", "ScriptArguments=ogin:,,for u:,home,ogin:",
              "DialString=AT&C0S0=1DT", "DialString=ATZ", "Speed=abc", "Timeout=x", "pppdArguments=idle 5,pty x",
              "CallbackType=2", "[$i]", "Key[$i]=v", "Name[de]=C", "broken", "\\x4", "[A][B]", "IPAddr=1.2.3.4",
              "NumberOfAccounts=1", "NumberOfModems=0", "[Modem1]", "DefaultModem=A", "pppdArguments="]


def render_all(results, tmp_path) -> None:
    for draft, report in results:
        try:
            outputs.plan(draft, report, str(tmp_path / "out"), "root")
        except PppupError as error:
            assert "this is a bug" not in error.message, error.message


@SETTINGS
@given(st.lists(st.sampled_from(PEER_WORDS), max_size=30))
def test_peer_files(tmp_path, words):
    path = tmp_path / "peer"
    path.write_text(" ".join(words))
    report = Report()
    try:
        draft = import_peers(str(path), ImportOptions(), report, str(ROOT))
    except PppupError:
        return
    render_all([(draft, report)], tmp_path)


@SETTINGS
@given(st.lists(st.sampled_from(WV_LINES), max_size=25), st.sampled_from([None, "x", "y", "Dialer x"]))
def test_wvdial_files(tmp_path, lines, section):
    path = tmp_path / "wvdial.conf"
    path.write_text("\n".join(lines))
    report = Report()
    try:
        draft = import_wvdial(str(path), section, ImportOptions(), report)
    except PppupError:
        return
    render_all([(draft, report)], tmp_path)


@SETTINGS
@given(st.lists(st.sampled_from(KPPP_LINES), max_size=25))
def test_kppp_files(tmp_path, lines):
    path = tmp_path / "kppprc"
    path.write_text("\n".join(lines))
    try:
        results = import_kppp(str(path), None, ImportOptions(), Report())
    except PppupError:
        return
    render_all(results, tmp_path)


@SETTINGS
@given(st.data())
def test_samples_with_lines_missing(tmp_path, data):
    sample = data.draw(st.sampled_from([KPPP / "kppprc", KPPP / "kppprc-callback", KPPP / "kppprc-3g",
                                        WVDIAL / "wvdial.conf", WVDIAL / "wvdial-quoted.conf",
                                        ROOT / "etc/ppp/peers/office", ROOT / "etc/ppp/peers/home",
                                        ROOT / "etc/ppp/peers/mobile", ROOT / "etc/ppp/peers/umts"]))
    lines = sample.read_text().splitlines(keepends=True)
    kept = data.draw(st.lists(st.booleans(), min_size=len(lines), max_size=len(lines)))
    path = tmp_path / os.path.basename(sample)
    path.write_text("".join(line for line, keep in zip(lines, kept) if keep))
    report = Report()
    try:
        if "kppprc" in path.name:
            results = import_kppp(str(path), None, ImportOptions(), report)
        elif path.name.startswith("wvdial"):
            section = data.draw(st.sampled_from([None, "shh", "shell", "backslash"]))
            results = [(import_wvdial(str(path), section, ImportOptions(), report), report)]
        else:
            results = [(import_peers(str(path), ImportOptions(), report, str(ROOT)), report)]
    except PppupError:
        return
    render_all(results, tmp_path)
