"""Data-driven: broken policies give `file:LINE: message; fix`, valid ones load.

Each broken case is a policy text, the line the error must name, a piece of
the message and a piece of the fix.  The line numbers are those of the
policy text as written here (BASE is 12 lines long).
"""
import pytest

from policy.support import BASE

RULE = """
[[rules]]
users = ["bin"]
lines = ["modem1"]
peers = ["isp"]
"""

BROKEN = [
    # -- TOML syntax (tomllib's own position) -------------------------------
    ("syntax", "version = 1\n[lines.modem1\n", 2, "TOML syntax", "fix the TOML syntax"),
    ("duplicate key", "version = 1\nversion = 1\n", 2, "TOML syntax", "fix the TOML syntax"),
    ("duplicate table", BASE + "[lines.modem1]\ndevice = \"/dev/ttyS3\"\n", 13, "TOML syntax", "TOML"),
    ("unterminated string", "version = 1\n[peers.isp]\ndescription = \"abc\n", 3, "TOML syntax", "TOML"),
    ("huge integer", "version = 1" + "0" * 4000 + "\n", 1, "unsupported format version", "version = 1"),
    ("line too long", "version = 1\n# " + "x" * 5000 + "\n", 2, "5002 characters long", "split long arrays"),
    # -- top level -------------------------------------------------------------
    ("no version", "[peers.isp]\n", None, "format version", "version = 1"),
    ("wrong version", "version = 2\n", 1, "unsupported format version 2", "version = 1"),
    ("string version", 'version = "1"\n', 1, "unsupported format version", "version = 1"),
    ("unknown top key", "version = 1\ndefaults = {}\n", 2, "unknown key 'defaults'", "keys of the policy"),
    ("rules as a table", BASE + "[rules]\nusers = [\"bin\"]\n", 13, "array of tables", "[[rules]]"),
    ("lines not a table", "version = 1\nlines = 3\n", 2, "lines must be tables", "[lines.NAME]"),
    # -- lines -------------------------------------------------------------------
    ("unknown line key", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\nspeed = 115200\n", 15,
     "unknown key 'speed' in line modem3", "keys of line modem3"),
    ("typo suggestion", BASE + "[lines.modem3]\ndevise = \"/dev/ttyS3\"\n", 14, "unknown key 'devise'",
     "did you mean 'device'"),
    ("missing device", BASE + "[lines.modem3]\npty = false\n", 13, "has no device", "add device"),
    ("device not under /dev", BASE + "[lines.modem3]\ndevice = \"/tmp/ttyS3\"\n", 14, "not a plain absolute path",
     "/dev/ttyS0"),
    ("device with dotdot", BASE + "[lines.modem3]\ndevice = \"/dev/../etc/shadow\"\n", 14, "not a plain", "'..'"),
    ("device with space (C4)", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS0 plugin\"\n", 14, "not a plain", "spaces"),
    ("device trailing slash", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3/\"\n", 14, "not a plain", "trailing"),
    ("device relative", BASE + "[lines.modem3]\ndevice = \"ttyS3\"\n", 14, "not a plain", "/dev/"),
    ("device is the console", BASE + "[lines.modem3]\ndevice = \"/dev/console\"\n", 14, "not a modem line", "serial"),
    ("device is a VT", BASE + "[lines.modem3]\ndevice = \"/dev/tty3\"\n", 14, "not a modem line", "serial"),
    ("device is /dev/tty", BASE + "[lines.modem3]\ndevice = \"/dev/tty\"\n", 14, "not a modem line", "serial"),
    ("device is /dev/fd/0 (D2)", BASE + "[lines.modem3]\ndevice = \"/dev/fd/0\"\n", 14, "not a modem line", "serial"),
    ("device is /dev/stdin (D2)", BASE + "[lines.modem3]\ndevice = \"/dev/stdin\"\n", 14, "not a modem line", "serial"),
    ("pts without pty", BASE + "[lines.modem3]\ndevice = \"/dev/pts/3\"\n", 14, "pseudo-terminal", "pty = true"),
    ("device not a string", BASE + "[lines.modem3]\ndevice = 3\n", 14, "must be a string", "double quotes"),
    ("same device twice", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS1\"\n", 14, "like line modem1",
     "its own device"),
    ("bad rdev", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\nrdev = \"4-67\"\n", 15, "not a device number",
     "MAJOR:MINOR"),
    ("rdev of a VT", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\nrdev = \"4:3\"\n", 15, "virtual console", "serial"),
    ("rdev of a pty on a serial line", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\nrdev = \"136:2\"\n", 15,
     "pseudo-terminal", "pty = true"),
    ("rdev as integer", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\nrdev = 467\n", 15, "must be a string", "quotes"),
    ("rdev pinned twice", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\nrdev = \"4:67\"\n"
     "[lines.modem4]\ndevice = \"/dev/ttyS4\"\nrdev = \"4:67\"\n", 18, "like line modem3", "its own device"),
    ("pty not boolean", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\npty = \"yes\"\n", 15, "true or false", "true"),
    ("dtr_hold too long", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\ndtr_hold = 60\n", 15, "out of range",
     "0.1 to 10"),
    ("dtr_hold nan", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\ndtr_hold = nan\n", 15, "must be a number",
     "0.1"),
    ("dtr_hold bool", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\ndtr_hold = true\n", 15, "must be a number",
     "0.1"),
    ("reset not AT", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\nreset = \"reboot\"\n", 15,
     "not a modem command", "AT command"),
    ("reset with control char", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\nreset = \"ATZ\\u0007\"\n", 15,
     "control or invisible", "printable"),
    ("reset with newline escape", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\nreset = \"ATZ\\r\\nATH\"\n", 15,
     "control or invisible", "printable"),
    ("unknown admin user", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\nadmin_users = [\"nosuchpppt\"]\n", 15,
     "unknown user 'nosuchpppt'", "getent passwd"),
    ("unknown admin group", BASE + "[lines.modem3]\ndevice = \"/dev/ttyS3\"\nadmin_groups = [\n  \"adm\",\n"
     "  \"nosuchpppt\",\n]\n", 17, "unknown group 'nosuchpppt'", "getent group"),
    ("bad line name", BASE + "[lines.Modem3]\ndevice = \"/dev/ttyS3\"\n", 13, "line name 'Modem3'", "a-z"),
    ("line name with dotdot", BASE + "[lines.\"a..b\"]\ndevice = \"/dev/ttyS3\"\n", 13, "line name", "'..'"),
    ("line name starting with dash (O7)", BASE + "[lines.-x]\ndevice = \"/dev/ttyS3\"\n", 13, "line name", "starting"),
    ("line name too long", BASE + "[lines." + "a" * 33 + "]\ndevice = \"/dev/ttyS3\"\n", 13, "line name", "1-32"),
    ("line not a table", "version = 1\nlines.modem2 = 5\n", 2, "must be a table", "[lines.modem2]"),
    # -- peers -------------------------------------------------------------------
    ("peer with space (C4)", BASE + "[peers.\"a b\"]\n", 13, "peer name 'a b'", "a-z"),
    ("peer with semicolon (C4)", BASE + "[peers.\"isp;id\"]\n", 13, "peer name", "a-z"),
    ("peer path", BASE + "[peers.\"../../tmp/x\"]\n", 13, "peer name", "a-z"),
    ("peer leading dot", BASE + "[peers.\".hidden\"]\n", 13, "peer name", "starting"),
    ("peer unknown key", BASE + "[peers.extra]\nfile = \"/tmp/x\"\n", 14, "unknown key 'file' in peer extra",
     "description"),
    ("peer description control", BASE.replace("[peers.isp]", "[peers.isp]\ndescription = \"\\u001b[31mred\""),
     12, "control or invisible", "printable"),
    ("peer description bidi", BASE.replace("[peers.isp]", "[peers.isp]\ndescription = \"\\u202eevil\""),
     12, "control or invisible", "printable"),
    # -- rules -------------------------------------------------------------------
    ("rule unknown key", BASE + RULE + "maxconect = 3\n", 18, "unknown key 'maxconect' in rule 1",
     "did you mean 'maxconnect'"),
    ("rule names nobody", BASE + RULE.replace('users = ["bin"]\n', ""), 14, "names no users and no groups",
     'groups = ["pppup"]'),
    ("rule unknown user", BASE + RULE.replace('"bin"', '"bin", "binn"'), 15, "unknown user 'binn'",
     "getent passwd binn"),
    ("rule duplicate user", BASE + RULE.replace('"bin"', '"bin", "bin"'), 15, "listed twice", "duplicate"),
    ("rule unknown group", BASE + RULE + "groups = [\"dialup\"]\n", 18, "unknown group 'dialup'", "getent group"),
    ("rule group not a list", BASE + RULE + "groups = \"adm\"\n", 18, "array of strings", 'groups = ["..."]'),
    ("rule user not a string", BASE + RULE.replace('["bin"]', "[0]"), 15, "must be a string", "quotes"),
    ("undefined line", BASE + RULE.replace('["modem1"]', '["modem1", "modem9"]'), 16, "undefined line 'modem9'",
     "define [lines.modem9]"),
    ("no lines", BASE + RULE.replace('lines = ["modem1"]\n', ""), 14, "rule has no lines", "add lines"),
    ("empty lines", BASE + RULE.replace('["modem1"]', "[]"), 16, "lines is empty", "at least one line"),
    ("undefined peer", BASE + RULE.replace('["isp"]', '["ips"]'), 17, "undefined peer 'ips'", "did you mean 'isp'"),
    ("no peers", BASE + RULE.replace('peers = ["isp"]\n', ""), 14, "rule has no peers", "add peers"),
    ("unsafe flag", BASE + RULE + 'flags = ["novj", "persist"]\n', 18, "pppd flag 'persist'", "remove it"),
    ("flag with argument (O3)", BASE + RULE + 'flags = ["plugin /tmp/x.so"]\n', 18, "pppd flag", "allowed:"),
    ("flag noauth (O3)", BASE + RULE + 'flags = ["noauth"]\n', 18, "pppd flag 'noauth'", "allowed:"),
    ("flag typo", BASE + RULE + 'flags = ["usepeerdsn"]\n', 18, "pppd flag", "did you mean 'usepeerdns'"),
    ("idle zero", BASE + RULE + "idle = 0\n", 18, "idle = 0 is out of range", "1 to 604800"),
    ("idle negative", BASE + RULE + "idle = -5\n", 18, "out of range", "seconds"),
    ("idle float", BASE + RULE + "idle = 1.5\n", 18, "whole number", "1 to 604800"),
    ("idle bool", BASE + RULE + "idle = true\n", 18, "whole number", "1 to"),
    ("idle string", BASE + RULE + 'idle = "600"\n', 18, "whole number", "1 to"),
    ("maxconnect too big", BASE + RULE + "maxconnect = 99999999999\n", 18, "out of range", "2592000"),
    ("max_links zero", BASE + RULE + "max_links = 0\n", 18, "out of range", "1 to 16"),
    ("dial_attempts huge", BASE + RULE + "dial_attempts = 1000\n", 18, "out of range", "1 to 100"),
    ("dial_seconds small", BASE + RULE + "dial_seconds = 1\n", 18, "out of range", "10 to 3600"),
    ("bad hours", BASE + RULE + 'hours = ["Mon-Fri 8-18"]\n', 18, "bad hours", "Mon-Fri 08:00-18:00"),
    ("empty hours", BASE + RULE + "hours = []\n", 18, "hours is empty", "remove hours"),
    ("hours not a list", BASE + RULE + 'hours = "Mon-Fri 08:00-18:00"\n', 18, "array of strings", "hours ="),
    ("duplicate rule names", BASE + RULE + 'name = "a"\n' + RULE + 'name = "a"\n', 24, "used by rule 1 too",
     "its own name"),
    ("rule name with escape", BASE + RULE + 'name = "\\u001b]0;x"\n', 18, "control or invisible", "printable"),
    ("second rule", BASE + RULE + RULE.replace('"bin"', '"nosuchpppt"'), 20, "unknown user", "getent passwd"),
]


@pytest.mark.parametrize("name, text, line, message, fix", BROKEN, ids=[case[0] for case in BROKEN])
def test_broken(world, name, text, line, message, fix):
    errors = world.errors(text)
    assert errors, f"{name}: the loader accepted a broken policy"
    matching = [error for error in errors if message in error.problem]
    assert matching, f"{name}: no error says {message!r}: {[str(e) for e in errors]}"
    error = matching[0]
    assert error.path == world.policy
    assert error.line == line, (str(error), line)
    assert message in error.problem, str(error)
    assert fix in error.fix, str(error)
    prefix = f"{world.policy}:{line}: " if line is not None else f"{world.policy}: "
    assert str(error).startswith(prefix + error.problem + "; ")


def test_integer_beyond_pythons_digit_limit_is_an_error_not_a_crash():
    from pppup_helper.policy import PolicyError, _parse_toml
    with pytest.raises(PolicyError, match="cannot be read"):
        _parse_toml("version = 1" + "0" * 5000 + "\n", "/x")


def test_every_error_is_reported(world):
    text = BASE + RULE.replace('"bin"', '"binn"') + "idle = 0\n" + RULE.replace('["isp"]', '["nope"]')
    errors = world.errors(text)
    assert [(e.line, e.problem.split(" ")[0]) for e in errors] == [(15, "unknown"), (18, "idle"), (23, "undefined")]
    assert "and 2 more problems" in str(errors[0].__class__.first_of(errors))


VALID = [
    ("no rules at all", "version = 1\n"),
    ("base only", BASE),
    ("rule", BASE + RULE),
    ("every key", BASE.replace("[lines.modem2]", """[lines.usb]
device = "/dev/serial/by-id/usb-U.S._Robotics_USB_Modem_0001-if00:port0"
rdev = "166:0"
dtr_hold = 0.5
reset = "AT&F&C1&D2"
description = "USB modem, Zimmer 3 — bürö"
[lines.soft]
device = "/dev/ttySL0"
pty = true
rdev = "136:7"
[lines.modem2]""") + """
[[rules]]
name = "staff"
users = ["bin", "sys"]
groups = ["adm", "dialout"]
lines = ["modem1", "usb", "soft"]
peers = ["isp", "work"]
flags = ["debug", "novj", "defaultroute", "nodefaultroute", "usepeerdns"]
idle = 900
maxconnect = 14400
hours = ["Mon-Fri 07:00-20:00", "Sat 22:00-02:00", "22:00-06:00"]
max_links = 2
dial_attempts = 5
dial_seconds = 240
"""),
    ("inline tables", 'version = 1\nlines = { modem1 = { device = "/dev/ttyS1" } }\npeers = { isp = {} }\n'
     'rules = [ { users = ["bin"], lines = ["modem1"], peers = ["isp"] } ]\n'),
]


@pytest.mark.parametrize("name, text", VALID, ids=[case[0] for case in VALID])
def test_valid(world, name, text):
    policy = world.load(text)
    assert set(policy.peers) <= {"isp", "work"}


def test_every_key_values(world):
    policy = world.load(VALID[3][1])
    usb = policy.lines["usb"]
    assert usb.rdev == (166, 0) and usb.dtr_hold == 0.5 and usb.reset == "AT&F&C1&D2" and not usb.pty
    assert policy.lines["soft"].pty and policy.lines["modem2"].dtr_hold == 1.0
    assert policy.lines["modem1"].admins.user_names == ("daemon",)
    rule = policy.rules[0]
    assert (rule.idle, rule.maxconnect, rule.max_links, rule.dial_attempts, rule.dial_seconds) == (900, 14400, 2, 5, 240)
    assert rule.who.users == {2, 3} and rule.who.groups == {4, 20}
    assert policy.label(rule) == 'rule 1 "staff" (policy.toml:24)'
    assert policy.source_line(("lines", "usb")) == 8
