"""The man pages: they render without warnings, every page is installed, and
what they document is what the code does — every option, account key and
policy key the code accepts is documented, and nothing documented is missing
from the code; exit codes and pppd's exit reasons are the code's own; the
examples load."""
from __future__ import annotations

import os
import re
import subprocess

import pytest

from docs_support import (MAN_DIR, bold_words, commands_of, item_headings, man_pages, read, render,
                          rendered_section, roff_sections, unescape)
from pppup import accounts
from pppup.chat import cli as chat_cli
from pppup.cli import pppdown, pppup
from pppup_helper import admin, policy_schema
from pppup_helper.pppd import EXIT_REASONS
from pppup_protocol.errors import Code

# page -> the click command whose options (and its subcommands') it documents
CLICK_PAGES = {"pppup.1": pppup, "pppdown.1": pppdown, "pppup-policy.8": admin.main}
LONG_OPTION = re.compile(r"(?<![\w:/-])--[a-z][a-z0-9-]*")
MANIFEST = "/usr/local/lib/pppup/installed-files"
MAN_ROOT = "/usr/local/share/man"


def source(page: str) -> str:
    return read(os.path.join("docs", "man", page))


def token(text: str, option: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


@pytest.mark.parametrize("page", man_pages())
def test_page_renders_without_warnings(page):
    text, warnings = render(page)
    assert warnings == "", f"groff -ww warns about {page}:\n{warnings}"
    assert "NAME" in text and "SYNOPSIS" in text and "SEE ALSO" in text
    # As man shows it on a UTF-8 terminal, at its usual width.
    shown = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z", os.path.join(MAN_DIR, page)],
                           capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0 and shown.stderr == "", shown.stderr


@pytest.mark.parametrize("page", man_pages())
def test_title_line_matches_the_file_name(page):
    name, section = page.rsplit(".", 1)
    header = source(page).split(".TH ", 1)[1].split("\n", 1)[0].split()
    assert unescape(header[0]) == name.upper() and header[1] == section, header


def test_every_file_in_docs_man_is_a_page_or_pasted_into_one():
    # install.sh copies docs/man/*.[1-8]; anything else there must live inside a page.
    pages = man_pages()
    assert {"pppup.1", "pppdown.1", "pppup-chat.1", "pppup.account.5", "pppup.policy.5",
            "pppup-policy.8"} <= set(pages)
    for name in sorted(os.listdir(MAN_DIR)):
        if name not in pages:
            assert name.endswith(".inc"), f"docs/man/{name} is neither a page nor an include"
    assert 'for page in docs/man/*.[1-8]' in read("helper/install.sh")


def test_the_import_subsection_is_pasted_unchanged():
    include = [line for line in source("pppup-import.inc").splitlines() if not line.startswith('.\\"')]
    assert "\n".join(include) in source("pppup.1"), \
        "docs/man/pppup-import.inc changed: paste it again into pppup.1 (between its marker comments)"


@pytest.mark.parametrize("page", sorted(CLICK_PAGES))
def test_every_option_of_the_command_is_documented(page):
    text, _ = render(page)
    for path, _, options in commands_of(CLICK_PAGES[page]):
        for option in sorted(options):
            assert token(text, option), f"{page} does not mention {option} of {' '.join(path) or 'the command'}"
        for name in path:
            assert token(text, name), f"{page} does not mention the subcommand {name}"


@pytest.mark.parametrize("page", sorted(CLICK_PAGES))
def test_every_long_option_documented_exists(page):
    text, _ = render(page)
    known = set().union(*(options for _, _, options in commands_of(CLICK_PAGES[page])))
    documented = set(LONG_OPTION.findall(text))
    assert documented - known == set(), f"{page} documents options the command does not have"


def test_chat_page_documents_exactly_chats_options():
    code = {"-" + chr(letter) for letter in chat_cli._FLAGS + chat_cli._WITH_VALUE}
    lines = roff_sections(source("pppup-chat.1"))["OPTIONS"]
    documented = {bold_words(heading)[0] for heading in item_headings(lines)}
    assert documented == code
    usage = set(re.findall(r"(?<![\w-])-[a-zA-Z]\b", chat_cli.USAGE.decode()))
    assert usage <= code
    text, _ = render("pppup-chat.1")
    assert LONG_OPTION.findall(text) == [], "chat has no long options"
    assert token(text, chat_cli.NO_PACING_VARIABLE)


def _keys_in(lines: list[str]) -> set[str]:
    return {word for heading in item_headings(lines) for word in bold_words(heading)
            if re.fullmatch(r"[a-z_]+", word)}


def test_account_page_documents_exactly_the_accounts_keys():
    sections = roff_sections(source("pppup.account.5"))
    tables = {"login": accounts.LOGIN_KEYS, "auth": accounts.AUTH_KEYS,
              "callback": accounts.CALLBACK_KEYS, "redial": accounts.REDIAL_KEYS}
    assert _keys_in(sections["TOP-LEVEL KEYS"]) == set(accounts.TOP_KEYS) - set(tables)
    for table, keys in tables.items():
        assert _keys_in(sections[f"[{table}]"]) == set(keys), table


def test_policy_page_documents_exactly_the_policy_keys():
    sections = roff_sections(source("pppup.policy.5"))
    assert _keys_in(sections["LINES"]) == set(policy_schema.LINE_KEYS)
    assert _keys_in(sections["PEERS"]) == set(policy_schema.PEER_KEYS)
    assert _keys_in(sections["RULES"]) == set(policy_schema.RULE_KEYS)


def test_exit_status_lists_every_code():
    text, _ = render("pppup.1")
    listed = dict(re.findall(r"^ {7}(\d+) ([A-Z_]+)\b", rendered_section(text, "EXIT STATUS"), re.M))
    assert listed == {str(int(code)): code.name for code in Code}


def test_readme_exit_table_lists_every_code():
    rows = dict(re.findall(r"^\| (\d+) \| ([A-Z_]+) \|", read("README.md"), re.M))
    assert rows == {str(int(code)): code.name for code in Code}


def test_pppd_exit_reasons_are_the_helpers():
    text, _ = render("pppup.1")
    section = " ".join(rendered_section(text, "PPPD EXIT STATUS").split())
    for code, reason in EXIT_REASONS.items():
        assert f"{code} {reason}" in section, (code, reason)


def test_see_also_names_only_pages_that_exist():
    for page in man_pages():
        for name, section in re.findall(r"^\.BR (pppup\S*|pppdown) \((\d)\)", source(page), re.M):
            assert unescape(name) + "." + section in man_pages(), (page, name, section)


def _nofill_blocks(lines: list[str]) -> list[str]:
    blocks, current = [], None
    for line in lines:
        if line == ".nf":
            current = []
        elif line == ".fi" and current is not None:
            blocks.append("\n".join(unescape(text) for text in current) + "\n")
            current = None
        elif current is not None:
            current.append(line)
    return blocks


def test_account_examples_load(tmp_path):
    blocks = _nofill_blocks(roff_sections(source("pppup.account.5"))["EXAMPLES"])
    assert len(blocks) == 4
    (tmp_path / "isp.chat").write_text("ABORT BUSY\n'' ATZ\nOK ATDT\\T\nCONNECT ''\nassword: \\q\\U\n")
    for index, text in enumerate(blocks):
        path = tmp_path / f"example{index}.toml"
        path.write_text(text)
        path.chmod(0o600)
        loaded = accounts.load_file(str(path), "user")
        assert loaded.line == "modem1", text
    assert loaded.callback is not None and loaded.callback.aliases == ("userxyz-home", "userxyz-office")


def test_chat_example_script_parses():
    from pppup.chat.script import Keyword, parse_bytes
    example = _nofill_blocks(roff_sections(source("pppup-chat.1"))["EXAMPLES"])[0]
    script = example.split("# a script file\n", 1)[1]
    steps = parse_bytes(script.encode(), "pppup-chat.1").steps
    assert [step.name for step in steps if isinstance(step, Keyword)][:4] == ["ABORT", "ABORT", "ABORT", "REPORT"]


@pytest.mark.installed
def test_make_install_put_every_page_in_place():
    if not os.path.exists(MANIFEST):
        pytest.skip(f"pppup is not installed ({MANIFEST} missing): run make install")
    with open(MANIFEST, encoding="utf-8") as manifest:
        recorded = set(manifest.read().split())
    for page in man_pages():
        path = f"{MAN_ROOT}/man{page.rsplit('.', 1)[1]}/{page}"
        assert f"file:{path}" in recorded and os.path.isfile(path), f"{path}: run make install"
