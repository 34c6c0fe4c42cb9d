"""The world description: TOML and dict forms, and errors that name the key and the fix."""
import pytest

from pppup_sim import ConfigError, load_config, parse_config
from pppup_sim.config import Delays


def test_full_toml_world(tmp_path):
    path = tmp_path / "world.toml"
    path.write_text('''
control = "/run/sim.sock"
[delays]
dial = 1
ring_interval = 0.5
[modems.A]
number = "5550001"
speed = 28800
profile = "S0=1&C0"
[modems.L]
port = "uart"
uart = "ttyS1"
vport = "line1"
[numbers."8765432"]
host = "isp"
busy_first = 2
delay = 0.25
[numbers."555"]
outcome = "no-dialtone"
[hosts.isp]
kind = "isp"
pppd = ["/usr/sbin/pppd", "nodetach"]
pap_secrets = { alice = "secret" }
[hosts.cb]
kind = "callback"
pppd = ["/usr/sbin/pppd"]
[hosts.cb.users.userxyz]
callback = { "userxyz-home" = "5550001" }
''')
    config = load_config(path)
    assert config.control == "/run/sim.sock"
    assert config.delays == Delays(dial=1.0, ring_interval=0.5)
    assert config.modems["A"].speed == 28800 and config.modems["L"].vport == "line1"
    assert config.numbers["8765432"].busy_first == 2 and config.numbers["8765432"].delay == 0.25
    assert config.numbers["5550001"].modem == "A"            # a modem's own number
    assert config.hosts["isp"].pppd == ("/usr/sbin/pppd", "nodetach")
    assert config.hosts["isp"].options["pap_secrets"] == {"alice": "secret"}
    cb = config.hosts["cb"].options
    assert cb["users"]["userxyz"] == {"password": None, "callback": {"userxyz-home": "5550001"}}
    assert cb["login_prompt"] == "login: " and cb["prompt"] == "> "


@pytest.mark.parametrize("raw,message", [
    ({"delays": {"dial": "fast"}}, "delays.dial: expected float"),
    ({"delays": {"warp": 1}}, "unknown key"),
    ({"modems": {"A": {"port": "usb"}}}, 'modems.A.port: expected "pty" or "uart"'),
    ({"modems": {"A": {"number": "55-5"}}}, "must be digits"),
    ({"modems": {"A": {"dialtone": "yes"}}}, "dialtone: expected bool"),
    ({"modems": {"A": {"colour": 1}}}, "unknown key"),
    ({"numbers": {"1": {}}}, "exactly one of host, modem, outcome"),
    ({"numbers": {"1": {"host": "nobody"}}}, "no host named 'nobody'"),
    ({"numbers": {"1": {"modem": "Z"}}}, "no modem named 'Z'"),
    ({"numbers": {"1": {"outcome": "maybe"}}}, "expected one of busy"),
    ({"numbers": {"1": {"outcome": "busy", "busy_first": -1}}}, "must be 0 or more"),
    ({"numbers": {"1": {"outcome": "busy"}}, "modems": {"A": {"number": "1"}}},
     "also modem A's own number"),
    ({"hosts": {"h": {"kind": "isp", "pppd": "pppd"}}}, "pppd: expected list"),
    ({"hosts": {"h": {"kind": "isp", "pppd": ["pppd", 1]}}}, "list of strings"),
    ({"surprise": 1}, "unknown key"),
])
def test_errors_name_the_key(raw, message):
    with pytest.raises(ConfigError, match=message) as caught:
        parse_config(raw)
    assert caught.value.code == 3


def test_toml_syntax_error_names_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[modems.A\n")
    with pytest.raises(ConfigError, match="bad.toml: .*fix the TOML syntax"):
        load_config(path)


def test_pap_secret_with_a_quote_is_refused(make_world):
    with pytest.raises(ConfigError, match="free of quotes"):
        make_world({"hosts": {"isp": {"kind": "isp", "pppd": ["x"],
                                      "pap_secrets": {"alice": 'se"cret'}}},
                    "pap_secrets_file": "/nonexistent/never-written"})
