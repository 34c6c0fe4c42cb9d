"""The scripted remote hosts, driven by a terminal on a simulated modem's pty.

On the host there is no PPP in the kernel, so the hosts' "pppd" is a
harmless program on the host's pty (`/bin/cat` echoes, a shell exits); real
pppd at the far end is exercised by the VM tests.
"""
import time

import pytest

from pppup_sim import ConfigError, World, remote

CAT = ["/bin/cat"]


def world_with(make_world, hosts, numbers, modem_profile=""):
    return make_world({"modems": {"U": {"number": "5550001", "profile": modem_profile}},
                       "hosts": hosts, "numbers": numbers})


def dial(world, dte, number, init="AT"):
    u = dte(world.tty_path("U"))
    u.send(f"{init}D{number}\r")
    u.expect("CONNECT 33600\r\n")
    return u


# ---------------------------------------------------------------- isp

def test_isp_runs_its_program_at_once_and_relays_both_ways(make_world, dte):
    world = world_with(make_world, {"isp": {"kind": "isp", "pppd": CAT}},
                       {"8765432": {"host": "isp"}})
    u = dial(world, dte, "8765432")
    started = world.wait_event("host", step="pppd-start")
    assert started.data["argv"] == CAT
    u.send(b"~\xff}#\xc0!\x7e")                  # PPP-ish bytes, all 8 bits
    u.expect(b"~\xff}#\xc0!\x7e")


def test_program_exit_hangs_up_the_call(make_world, dte):
    world = world_with(make_world,
                       {"isp": {"kind": "isp",
                                "pppd": ["/bin/sh", "-c", "printf 'bye\\r\\n'; exit 3"]}},
                       {"1": {"host": "isp"}})
    u = dial(world, dte, "1")
    u.expect("bye\r\n")                          # its last words still arrive
    u.expect("NO CARRIER\r\n")
    assert world.wait_event("host", step="pppd-exit").data["status"] == 3
    assert world.state("U")["hook"] == "on"


def test_caller_hang_up_stops_the_program(make_world, dte):
    world = world_with(make_world, {"isp": {"kind": "isp", "pppd": CAT}}, {"1": {"host": "isp"}})
    u = dial(world, dte, "1")
    pid = world.wait_event("host", step="pppd-start").data["pid"]
    time.sleep(1.05)
    u.send("+++")
    u.expect("OK\r\n")
    u.send("ATH0\r")
    u.expect("OK\r\n")
    ev = world.wait_event("host", step="pppd-exit")   # cat saw its tty hang up
    assert ev.data["pid"] == pid


def test_program_ignoring_the_hang_up_is_terminated(make_world, dte, monkeypatch):
    monkeypatch.setattr(remote, "EXIT_GRACE", 0.3)
    world = world_with(make_world,
                       {"isp": {"kind": "isp", "pppd": ["/bin/sh", "-c", "exec sleep 60"]}},
                       {"1": {"host": "isp"}})
    dial(world, dte, "1")
    world.wait_event("host", step="pppd-start")
    world.drop_carrier("U")
    ev = world.wait_event("host", step="pppd-exit", timeout=5)
    assert ev.data["status"] == -15              # SIGTERM after the grace


def test_program_that_cannot_start(make_world, dte):
    world = world_with(make_world, {"isp": {"kind": "isp", "pppd": ["/nonexistent/pppd"]}},
                       {"1": {"host": "isp"}})
    u = dial(world, dte, "1")
    u.expect("NO CARRIER\r\n")
    assert "No such file" in world.wait_event("host", step="pppd-start-failed").data["error"]


def test_program_stderr_becomes_log_events(make_world, dte):
    world = world_with(make_world,
                       {"isp": {"kind": "isp",
                                "pppd": ["/bin/sh", "-c", "echo 'Using interface ppp0' >&2; cat"]}},
                       {"1": {"host": "isp"}})
    dial(world, dte, "1")
    assert world.wait_event("host", step="pppd-log").data["line"] == "Using interface ppp0"


def test_pap_secrets_are_added_and_removed(make_world, dte, tmp_path):
    secrets = tmp_path / "pap-secrets"
    secrets.write_text("# admin's own line\nbob * bobsecret *\n")
    world = make_world({"modems": {"U": {}},
                        "hosts": {"isp": {"kind": "isp", "pppd": CAT,
                                          "pap_secrets": {"alice": "s3cret"}}},
                        "pap_secrets_file": str(secrets)})
    text = secrets.read_text()
    assert text.startswith("# admin's own line\nbob * bobsecret *\n")
    assert '"alice" * "s3cret" *' in text
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"
    world.stop()
    assert secrets.read_text() == "# admin's own line\nbob * bobsecret *\n"


def test_lines_limit_makes_further_callers_busy(make_world, dte):
    world = make_world({"modems": {"U": {}, "V": {}},
                        "hosts": {"isp": {"kind": "isp", "pppd": CAT, "lines": 1}},
                        "numbers": {"1": {"host": "isp"}}})
    u, v = dte(world.tty_path("U")), dte(world.tty_path("V"))
    u.send("ATD1\r")
    u.expect("CONNECT")
    v.send("ATD1\r")
    v.expect("BUSY\r\n")


# ---------------------------------------------------------------- login server

def login_world(make_world, **options):
    return world_with(make_world, {"shell": {"kind": "login", "pppd": CAT,
                                             "users": {"alice": "secret"}, **options}},
                      {"2": {"host": "shell"}})


def test_login_server_wrong_then_right_password_then_ppp(make_world, dte):
    world = login_world(make_world)
    u = dial(world, dte, "2")
    u.expect("login: ")
    u.send("alice\r")
    u.expect("alice\r\n")                        # the name is echoed
    u.expect("Password: ")
    u.send("wrong\r")
    assert u.expect("Login incorrect\r\n") == b"\r\n\r\nLogin incorrect\r\n"   # no echo
    u.expect("login: ")
    u.send("alice\r")
    u.expect("Password: ")
    u.send("secret\r")
    u.expect("$ ")
    u.send("ls -l\r")
    u.expect("ls: command not found\r\n$ ")
    u.send("ppp\r")
    world.wait_event("host", step="pppd-start")
    u.send("frames")
    u.expect("frames")
    steps = [e.data["step"] for e in world.events(kind="host")]
    assert steps[:5] == ["login-prompt", "login-failed", "login-prompt", "login-ok",
                         "shell-command"]


def test_login_server_accepts_lf_and_crlf_line_ends(make_world, dte):
    world = login_world(make_world)
    u = dial(world, dte, "2")
    u.expect("login: ")
    u.send("alice\r\n")
    u.expect("Password: ")
    u.send("secret\n")
    u.expect("$ ")


def test_login_server_hangs_up_after_max_tries(make_world, dte):
    world = login_world(make_world, max_tries=2)
    u = dial(world, dte, "2")
    for _ in range(2):
        u.expect("login: ")
        u.send("mallory\r")
        u.expect("Password: ")
        u.send("guess\r")
    u.expect("NO CARRIER\r\n")


def test_login_server_idle_timeout(make_world, dte):
    world = login_world(make_world, idle_timeout=0.3)
    u = dial(world, dte, "2")
    u.expect("login: ")
    u.expect("NO CARRIER\r\n", timeout=3)
    world.wait_event("host", step="idle-timeout")


def test_login_server_custom_texts(make_world, dte):
    world = login_world(make_world, login_prompt="Username:", password_prompt="Secret:",
                        prompt="annex> ", ppp_commands=["go"])
    u = dial(world, dte, "2")
    u.expect("Username:")
    u.send("alice\r")
    u.expect("Secret:")
    u.send("secret\r")
    u.expect("annex> ")
    u.send("go\r")
    world.wait_event("host", step="pppd-start")


# ---------------------------------------------------------------- callback server

def callback_world(make_world, **options):
    host = {"kind": "callback", "pppd": CAT, "callback_delay": 0.1, "relogin_wait": 0.3,
            "users": {"userxyz": {"password": "secret",
                                  "callback": {"userxyz-home": "5550001",
                                               "userxyz-office": "5550777"}}}}
    host.update(options)
    return world_with(make_world, {"cb": host}, {"5559000": {"host": "cb"}})


def test_callback_flow_of_the_kppp_seed(make_world, dte):
    """The seed's script, step by step: it sends nothing after the call-back's prompts."""
    world = callback_world(make_world)
    u = dial(world, dte, "5559000", init="AT&C0S0=1")   # KPPP's dial string AT&C0S0=1DT
    u.expect("ogin:")                                   # Expect ogin:
    u.send("userxyz\r")                                 # ID ""
    menu = u.expect("for userxyz:")                     # Expect for userxyz:
    assert b"userxyz-home" in menu and b"userxyz-office" in menu
    u.send("userxyz-home\r")                            # Send userxyz-home
    u.expect("NO CARRIER\r\n")                          # the server hangs up
    u.expect("RING\r\n")                                # ... and calls back
    u.expect("CONNECT 33600\r\n")                       # S0=1 answered it
    u.expect("ogin:")                                   # Expect ogin:
    u.expect("assword:")                                # Expect assword:
    u.expect(">")                                       # Expect >
    u.send("start_ppp\r")                               # Send start_ppp
    world.wait_event("host", step="pppd-start")
    u.send("LCP")
    u.expect("LCP")
    chosen = world.wait_event("host", step="callback-chosen")
    assert chosen.data == {"step": "callback-chosen", "user": "userxyz", "alias": "userxyz-home",
                           "number": "5550001"}
    assert world.wait_event("answer", source="U").data["how"] == "auto"
    assert world.wait_event("host", step="login-ok", phase="callback").data["user"] == "userxyz"


def test_callback_client_that_answers_the_second_login(make_world, dte):
    world = callback_world(make_world)
    u = dial(world, dte, "5559000", init="AT&C0S0=1")
    u.expect("ogin:")
    u.send("userxyz\r")
    u.expect("for userxyz:")
    u.send("userxyz-home\r")
    u.expect("CONNECT")
    u.expect("ogin:")
    u.send("userxyz\r")
    u.expect("assword:")
    u.send("secret\r")
    u.expect("> ")
    u.send("start_ppp\r")
    world.wait_event("host", step="pppd-start")


def test_callback_wrong_password_at_the_second_login(make_world, dte):
    world = callback_world(make_world)
    u = dial(world, dte, "5559000", init="AT&C0S0=1")
    u.expect("ogin:")
    u.send("userxyz\r")
    u.expect("for userxyz:")
    u.send("userxyz-home\r")
    u.expect("CONNECT")
    u.expect("ogin:")
    u.send("userxyz\r")
    u.expect("assword:")
    u.send("guess\r")
    u.expect("Login incorrect")
    u.expect("NO CARRIER")


def test_callback_password_mode_requires_the_answers(make_world, dte):
    world = callback_world(make_world, second_login="password")
    u = dial(world, dte, "5559000", init="AT&C0S0=1")
    u.expect("ogin:")
    u.send("userxyz\r")
    u.expect("for userxyz:")
    u.send("userxyz-home\r")
    u.expect("CONNECT")
    u.expect("ogin:")
    assert b"assword:" not in u.collect(0.6)           # waits for the name, past relogin_wait
    u.send("userxyz\r")
    u.expect("assword:")
    u.send("secret\r")
    u.expect("> ")


def test_callback_unknown_alias_is_refused_with_a_hang_up(make_world, dte):
    world = callback_world(make_world)
    u = dial(world, dte, "5559000")
    u.expect("ogin:")
    u.send("userxyz\r")
    u.expect("for userxyz:")
    u.send("mallory-home\r")
    u.expect("No callback number mallory-home for userxyz")
    u.expect("NO CARRIER\r\n")
    assert world.events(kind="host", step="callback-dial") == []


def test_callback_unknown_user_gets_login_incorrect(make_world, dte):
    world = callback_world(make_world)
    u = dial(world, dte, "5559000")
    u.expect("ogin:")
    u.send("nobody\r")
    u.expect("Login incorrect\r\n")
    u.expect("ogin:")


def test_callback_without_auto_answer_rings_until_ata(make_world, dte):
    world = callback_world(make_world)
    u = dial(world, dte, "5559000")                    # S0=0: no auto-answer
    u.expect("ogin:")
    u.send("userxyz\r")
    u.expect("for userxyz:")
    u.send("userxyz-home\r")
    u.expect("NO CARRIER\r\n")
    u.expect("RING\r\n")
    u.expect("RING\r\n")
    u.send("ATA\r")
    u.expect("CONNECT")
    u.expect("ogin:")


def test_callback_to_a_busy_number_is_retried_then_given_up(make_world, dte):
    world = callback_world(make_world, callback_attempts=2, callback_retry_delay=0.05)
    world.set_number("5550777", outcome="busy")
    u = dial(world, dte, "5559000")
    u.expect("ogin:")
    u.send("userxyz\r")
    u.expect("for userxyz:")
    u.send("userxyz-office\r")
    u.expect("NO CARRIER")
    world.wait_event("host", step="callback-failed", attempt=2, result="BUSY")


# ---------------------------------------------------------------- blob and echo

def test_blob_host_sends_noise_then_the_trailer(make_world, dte):
    world = world_with(make_world, {"noise": {"kind": "blob", "size": 200_000,
                                              "pattern": "CONNEC\r\n", "trailer": "MATCH\r\n"}},
                       {"9": {"host": "noise"}})
    u = dial(world, dte, "9")
    data = u.expect("MATCH\r\n", timeout=10)
    assert len(data) == 200_000 + len("MATCH\r\n")
    assert data.startswith(b"CONNEC\r\nCONNEC\r\n")
    assert world.wait_event("host", step="blob-done").data["bytes"] == 200_007


def test_echo_host(make_world, dte):
    world = world_with(make_world, {"e": {"kind": "echo"}}, {"3": {"host": "e"}})
    u = dial(world, dte, "3")
    u.send(bytes(range(256)))
    u.expect(bytes(range(256)))


# ---------------------------------------------------------------- configuration of hosts

@pytest.mark.parametrize("host,message", [
    ({"kind": "login"}, "needs the argv of its pppd"),
    ({"kind": "moon"}, "expected one of isp"),
    ({"kind": "echo", "colour": "red"}, "unknown key"),
    ({"kind": "blob", "size": "big"}, "size: expected int"),
    ({"kind": "callback", "pppd": CAT, "users": {"u": {"password": "p"}}}, "at least one alias"),
    ({"kind": "callback", "pppd": CAT, "second_login": "maybe"}, "trust"),
    ({"kind": "isp", "pppd": CAT, "pap_secrets": {"a": 1}}, "pap_secrets"),
])
def test_host_configuration_errors(host, message):
    with pytest.raises(ConfigError, match=message):
        World({"hosts": {"h": host}})


# ---------------------------------------------------------------- script host and DTE capture

def test_script_host_plays_steps_with_any_bytes(make_world, dte):
    world = world_with(make_world, {"s": {"kind": "script", "steps": [
        {"send": "\x00\xffuser? "},
        {"wait": "me\r", "timeout": 5},
        {"send": "pass? ", "after": 0.2},
        {"sleep": 0.05},
        {"wait": "x"},
        {"hangup": True}]}}, {"4": {"host": "s"}})
    u = dial(world, dte, "4")
    u.expect(b"\x00\xffuser? ")
    start = time.monotonic()
    u.send("me\r")
    u.expect("pass? ")
    assert time.monotonic() - start >= 0.2
    u.send("x")
    u.expect("NO CARRIER\r\n")
    indexes = [e.data["index"] for e in world.events(kind="host", step="script-step")]
    assert indexes == [0, 1, 2, 3, 4]


def test_script_host_wait_timeout_stops_playing(make_world, dte):
    world = world_with(make_world, {"s": {"kind": "script", "steps": [
        {"wait": "never", "timeout": 0.1}, {"send": "unreached"}]}}, {"4": {"host": "s"}})
    u = dial(world, dte, "4")
    ev = world.wait_event("host", step="script-timeout")
    assert ev.data["waited_for"] == "never"
    assert b"unreached" not in u.collect(0.2)
    assert world.state("U")["mode"] == "data"          # still on the line


def test_dte_log_records_every_byte_with_its_arrival_time(make_world, dte):
    world = world_with(make_world, {"e": {"kind": "echo"}}, {"3": {"host": "e"}})
    before = time.monotonic()
    u = dial(world, dte, "3")
    u.send(b"\x00\x80zz")
    u.expect(b"\x00\x80zz")
    log = world.dte_log("U", after=before)
    assert b"".join(data for _, data in log) == b"ATD3\r\x00\x80zz"
    assert all(before < t for t, _ in log) and [t for t, _ in log] == sorted(t for t, _ in log)
    assert world.dte_log("U", after=log[-1][0]) == []


@pytest.mark.parametrize("steps,message", [
    ([{"send": "a", "wait": "b"}], "exactly one of"),
    ([{"sleep": "long"}], "number of seconds"),
    ([{"send": "\u20ac"}], "U\\+0000..U\\+00FF"),
    ([{"wait": "a", "after": 1}], "unknown key"),
])
def test_script_step_errors(steps, message):
    with pytest.raises(ConfigError, match=message):
        World({"hosts": {"s": {"kind": "script", "steps": steps}}})
