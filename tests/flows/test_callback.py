"""The call-back state machine against the simulator's KPPP-seed callback server (host, up to start_ppp)."""
from __future__ import annotations

import os
import pty
import select
import threading
import time

import pytest

from pppup.callback import CallbackLogin, choose_alias
from pppup.credentials import Credentials, gather
from pppup.dialer import Budget, Dialer
from pppup_protocol.errors import Code, PppupError
from pppup_sim import World

from .seeds import SEED1_ALIAS, SEED1_LOGIN_SCRIPT, SEED1_MENU_PROMPT, SEED1_USER
from .support import FAST, Recorder, account_from_text, open_line

CLIENT, SERVER, ELSEWHERE = "5550001", "5559000", "5550009"


def callback_account(tmp_path, script: str = SEED1_LOGIN_SCRIPT, login: str = f'user = "{SEED1_USER}"',
                     callback: str = "", name: str = "office"):
    text = (f'line = "modem1"\npeer = "office"\nphone = "{SERVER}"\nlogin_script = \'\'\'\n{script}\'\'\'\n'
            f"[login]\n{login}\n[callback]\nmenu_prompt = \"{SEED1_MENU_PROMPT}\"\n{callback}\n")
    return account_from_text(tmp_path, text, name=name)


def server_world(**host: object) -> World:
    spec = {"kind": "callback", "pppd": ["/bin/cat"], "callback_delay": 0.3,
            "users": {SEED1_USER: {"callback": {SEED1_ALIAS: CLIENT, "userxyz-office": ELSEWHERE}}}}
    spec.update(host)
    return World({"delays": dict(FAST), "modems": {"A": {"number": CLIENT}},
                  "numbers": {SERVER: {"host": "cb"}}, "hosts": {"cb": spec}}).start()


def run_flow(world: World, account, alias: str, credentials: Credentials | None = None, terminal="/nonexistent"):
    progress = Recorder()
    credentials = credentials or Credentials(account.login_user, None, None, None)
    modem = open_line(world, progress=progress, secrets=credentials.secrets())
    flow = None
    try:
        budget = Budget(1, time.monotonic() + 300)
        Dialer(modem, account, budget, progress, callback=True).connect()
        flow = CallbackLogin(account, modem, credentials, progress, alias, budget.deadline, terminal)
        flow.run()
        return flow, progress
    except PppupError as error:
        error.progress = progress          # type: ignore[attr-defined]
        error.state = flow.state if flow else None     # type: ignore[attr-defined]
        raise
    finally:
        modem.close()


def test_the_first_seeds_script_runs_verbatim_to_start_ppp(tmp_path):
    account = callback_account(tmp_path)
    world = server_world()
    try:
        flow, progress = run_flow(world, account, choose_alias(account, None, "/nonexistent"))
        assert flow.state == "logged in"
        chosen = world.wait_event("host", step="callback-chosen", timeout=1)
        assert (chosen.data["alias"], chosen.data["number"]) == (SEED1_ALIAS, CLIENT)
        world.wait_event("host", step="shell-command", command="start_ppp", timeout=5)
        # the modem answered the call-back itself (S0=1) after the expected hang-up
        assert world.events(kind="answer", source="A")[-1].data["how"] == "auto"
        assert world.events(kind="no_carrier", source="A")
        assert progress.ticks, "no countdown while waiting for the call-back"
        for words in ("asking for a call-back at userxyz-home", "the server hung up as expected",
                      "RING: the server is calling back", "call-back answered: CONNECT 33600",
                      "logged in again after the call-back"):
            assert words in progress.text, progress.text
    finally:
        world.stop()


def test_callback_alias_chooses_another_number(tmp_path):
    # office is our number here, home is someone else's: only the chosen alias can call us back
    account = callback_account(tmp_path, callback='aliases = ["userxyz-home", "userxyz-office"]')
    world = server_world(users={SEED1_USER: {"callback": {SEED1_ALIAS: ELSEWHERE, "userxyz-office": CLIENT}}})
    try:
        alias = choose_alias(account, "userxyz-office", "/nonexistent")
        run_flow(world, account, alias)
        chosen = world.wait_event("host", step="callback-chosen", timeout=1)
        assert (chosen.data["alias"], chosen.data["number"]) == ("userxyz-office", CLIENT)
    finally:
        world.stop()


def test_the_id_and_password_are_asked_once_for_both_logins(tmp_path):
    script = ("Expect ogin:\nID \"\"\nExpect for userxyz:\nSend userxyz-home\n"
              "Expect ogin:\nID \"\"\nExpect assword:\nPassword \"\"\nExpect >\nSend start_ppp\n")
    account = callback_account(tmp_path, script=script, login="")
    world = server_world(second_login="password",
                         users={SEED1_USER: {"password": "s3cret", "callback": {SEED1_ALIAS: CLIENT}}})
    master, slave = pty.openpty()
    asked = bytearray()

    done = threading.Event()

    def user_types() -> None:
        # The "user" at the terminal answers each prompt it sees.
        answers = {b"Login name": b"userxyz\n", b"Password": b"s3cret\n"}
        while not done.is_set():
            if not select.select([master], [], [], 0.2)[0]:
                continue
            asked.extend(os.read(master, 1024))
            for prompt, answer in list(answers.items()):
                if prompt in asked:
                    os.write(master, answer)
                    del answers[prompt]
    typist = threading.Thread(target=user_types, daemon=True)
    typist.start()
    try:
        credentials = gather(account, terminal=os.ttyname(slave))
        assert (credentials.login_user, credentials.login_password) == (SEED1_USER, "s3cret")
        flow, progress = run_flow(world, account, SEED1_ALIAS, credentials)
        ok = world.wait_event("host", step="login-ok", phase="callback", timeout=5)
        assert ok.data["user"] == SEED1_USER
        assert asked.count(b"Login name") == 1 and asked.count(b"Password") == 1
        assert b"s3cret" not in progress.text.encode() and "??????" in progress.text
    finally:
        done.set()
        typist.join(timeout=5)
        world.stop()
        os.close(master)
        os.close(slave)


def test_no_call_back_in_time_is_a_callback_error(tmp_path):
    account = callback_account(tmp_path, callback="wait = 5")
    world = server_world(callback_delay=6.5)      # later than our 5 s (and the session ends soon after)
    try:
        with pytest.raises(PppupError) as caught:
            run_flow(world, account, SEED1_ALIAS)
        error = caught.value
        assert error.code == Code.CALLBACK and "no call-back within 5 s" in error.message
        assert "Calling you back at userxyz-home" in error.message     # what the server had said
        assert error.state == "waiting for the call-back"              # type: ignore[attr-defined]
        assert 4 <= len(error.progress.ticks) <= 7                     # type: ignore[attr-defined]
    finally:
        world.stop()


def test_an_alias_the_server_refuses(tmp_path):
    account = callback_account(tmp_path, callback="wait = 5")
    world = server_world()
    try:
        with pytest.raises(PppupError) as caught:
            run_flow(world, account, "nowhere")
        assert caught.value.code == Code.CALLBACK
        assert "No callback number nowhere for userxyz" in caught.value.message
        world.wait_event("host", step="callback-refused", timeout=1)
    finally:
        world.stop()


def test_a_server_that_does_not_hang_up(tmp_path):
    account = callback_account(tmp_path, callback="hangup_timeout = 2")
    steps = [{"send": "login: "}, {"wait": "userxyz"}, {"send": "\r\nChoose a number for userxyz: "},
             {"wait": "userxyz-home"}, {"sleep": 3}]
    world = World({"delays": dict(FAST), "modems": {"A": {"number": CLIENT}},
                   "numbers": {SERVER: {"host": "cb"}}, "hosts": {"cb": {"kind": "script", "steps": steps}}}
                  ).start()
    try:
        with pytest.raises(PppupError) as caught:
            run_flow(world, account, SEED1_ALIAS)
        assert caught.value.code == Code.CALLBACK and "did not hang up within 2 s" in caught.value.message
    finally:
        world.stop()


# ------------------------------------------------------------------ choosing the alias

def test_choose_alias(tmp_path):
    listed = callback_account(tmp_path, callback='aliases = ["userxyz-home", "userxyz-office"]')
    assert choose_alias(listed, None, "/nonexistent") == SEED1_ALIAS          # the script's own Send
    assert choose_alias(listed, "userxyz-office", "/nonexistent") == "userxyz-office"
    with pytest.raises(PppupError) as caught:
        choose_alias(listed, "userxyz-moon", "/nonexistent")
    assert caught.value.code == Code.USAGE and "one of: userxyz-home, userxyz-office" in caught.value.message
    prompt = callback_account(tmp_path, script=SEED1_LOGIN_SCRIPT.replace(
        "Send         userxyz-home", "Prompt       Which?      "), name="ask")
    assert prompt.callback.default is None and prompt.callback.ask
    with pytest.raises(PppupError) as caught:
        choose_alias(prompt, None, "/nonexistent")          # nothing to ask on, no default
    assert caught.value.code == Code.USAGE and "--callback ALIAS" in caught.value.message
    master, slave = pty.openpty()
    try:
        os.write(master, b"userxyz-office\n")
        assert choose_alias(prompt, None, os.ttyname(slave)) == "userxyz-office"
    finally:
        os.close(master)
        os.close(slave)
