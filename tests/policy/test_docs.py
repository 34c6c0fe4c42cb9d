"""The example policy loads (with its placeholder names mapped to real accounts),
and the documentation names every key and flag the code accepts."""
import os
import re

from click.testing import CliRunner

from pppup_helper.admin import main
from pppup_helper.policy_flags import SAFE_FLAGS, SYSTEM_FLAGS
from pppup_helper.policy_schema import LINE_KEYS, PEER_KEYS, RULE_KEYS, TOP_KEYS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "policy", "policy.example.toml")
README = os.path.join(ROOT, "policy", "README.md")
MAN5 = os.path.join(ROOT, "docs", "man", "pppup.policy.5")
MAN8 = os.path.join(ROOT, "docs", "man", "pppup-policy.8")
# Placeholder accounts of the example → system accounts present on every Debian.
NAMES = {'"alice"': '"bin"', '"bob"': '"daemon"', '"carol"': '"sys"', '"netadmin"': '"adm"'}


def read(path):
    with open(path, encoding="utf-8") as source:
        return source.read()


def example_text():
    text = read(EXAMPLE)
    for placeholder, real in NAMES.items():
        text = text.replace(placeholder, real)
    return text


def test_example_is_valid(world):
    world.write("ppp/peers/office", "noauth\n")
    policy = world.load(example_text())
    assert set(policy.lines) == {"modem1", "usb", "softmodem"}
    assert set(policy.peers) == {"isp", "office"}
    assert [rule.name for rule in policy.rules] == ["staff", "students-evenings", "softmodem-any-time"]
    result = CliRunner().invoke(main, ["--policy", world.policy, "--ppp-dir", world.ppp, "explain",
                                       "--user", "daemon", "--at", "Sat 23:00", "--peer", "isp"])
    assert result.exit_code == 0, result.output
    assert 'allowed by rule 2 "students-evenings"' in result.output


def test_example_shows_every_key():
    text = read(EXAMPLE)
    for key in TOP_KEYS + LINE_KEYS + PEER_KEYS + RULE_KEYS:
        assert re.search(rf"^#? *{key} =|\[{key}\.|\[\[{key}\]\]", text, re.M), key


def test_documents_name_every_key_and_flag():
    for path in (README, MAN5):
        text = read(path).replace("\\-", "-").replace("\\(em", "")
        for key in TOP_KEYS + LINE_KEYS + PEER_KEYS + RULE_KEYS:
            assert key in text, (path, key)
        for flag in SAFE_FLAGS:
            assert flag in text, (path, flag)
        plain = " ".join(text.replace("**", "").replace(".B ", "").lower().split())
        assert "first matching rule wins" in plain and "default deny" in plain, path
    for flag in SYSTEM_FLAGS:
        assert "system-wide" in read(README)


def test_man_pages_are_roff():
    for path in (MAN5, MAN8):
        text = read(path)
        assert text.startswith(".TH ") or text.startswith('.\\"'), path
        assert ".SH NAME" in text and ".SH DESCRIPTION" in text
    assert "check" in read(MAN8) and "explain" in read(MAN8) and "edit" in read(MAN8)
