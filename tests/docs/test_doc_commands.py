"""The commands the README, the troubleshooting page and the man pages' examples
show work: pppup's own are accepted by their real command-line parsers (every
option and argument) and their --help runs; make targets exist; other
programs are installed; pages named with `man` exist.  The troubleshooting
page's hand reset of a modem is run against a simulated modem."""
from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess

import click
import pytest
from click.testing import CliRunner

from docs_support import ROOT, code_blocks, man_pages, read, roff_sections, unescape
from pppup.chat import cli as chat_cli
from pppup.cli import pppdown, pppup
from pppup_helper import admin

DOCUMENTS = ("README.md", "docs/troubleshooting.md")
MAN_EXAMPLES = ("pppup.1", "pppdown.1", "pppup-policy.8")
CLICK_COMMANDS = {"pppup": pppup, "pppdown": pppdown, "pppup-policy": admin.main}
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def shell_commands(text: str) -> list[list[str]]:
    """Each command line as words: comments, environment assignments, pipes
    (only the first command counts) and redirections dropped."""
    commands = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = shlex.split(line, comments=True)
        if "|" in words:
            words = words[:words.index("|")]
        words = [word for word in words if not word.startswith(("<", ">"))]
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            words = words[1:]
        if words:
            commands.append(words)
    return commands


def documented_commands() -> list[tuple[str, list[str]]]:
    found = []
    for document in DOCUMENTS:
        for block in code_blocks(read(document)):
            found += [(document, words) for words in shell_commands(block)]
    for page in MAN_EXAMPLES:
        lines = roff_sections(read(os.path.join("docs", "man", page)))["EXAMPLES"]
        text = "\n".join(unescape(line) for line in lines if not line.startswith("."))
        found += [(page, words) for words in shell_commands(text)]
    return found


def resolve(root: click.Command, prog: str, args: list[str]) -> tuple[click.Command, list[str]]:
    """Parse `args` as the real command does (options, arguments, subcommands)
    without running it; the command reached and the words leading to it."""
    context = root.make_context(prog, list(args))
    command, path = root, []
    while isinstance(command, click.Group):
        rest = [*getattr(context, "_protected_args", []), *context.args]
        if not rest:
            break
        name, command, rest = command.resolve_command(context, rest)
        path.append(name)
        context = command.make_context(name, rest, parent=context)
    return command, path


def check_chat_options(words: list[str]) -> None:
    known = chat_cli._FLAGS + chat_cli._WITH_VALUE
    index = 1
    while index < len(words) and words[index].startswith("-") and words[index] != "-":
        letters = words[index][1:].encode()
        for position, letter in enumerate(letters):
            assert letter in known, f"pppup-chat has no option -{chr(letter)}"
            if letter in chat_cli._WITH_VALUE:
                index += position == len(letters) - 1     # its value is the next word
                break
        index += 1


COMMANDS = documented_commands()


def test_the_documents_show_commands():
    programs = {words[0] for _, words in COMMANDS}
    assert {"pppup", "pppdown", "pppup-policy", "pppup-chat", "make"} <= programs


@pytest.mark.parametrize("where,words", COMMANDS, ids=[" ".join(words) for _, words in COMMANDS])
def test_documented_command_is_valid(where, words):
    program, args = words[0], words[1:]
    if program in CLICK_COMMANDS:
        try:
            command, path = resolve(CLICK_COMMANDS[program], program, args)
        except click.ClickException as error:
            pytest.fail(f"{where}: `{' '.join(words)}` is refused: {error.format_message()}")
        shown = CliRunner().invoke(command, ["--help"], prog_name=" ".join([program, *path]))
        assert shown.exit_code == 0 and "Usage:" in shown.output, shown.output
    elif program == "pppup-chat":
        check_chat_options(words)
    elif program == "make":
        for target in args:
            assert re.search(rf"^{re.escape(target)}:", read("Makefile"), re.M), f"{where}: make {target}"
    else:
        assert shutil.which(program, path=SYSTEM_PATH), f"{where}: `{program}` is not installed here"


def test_pages_named_with_man_exist():
    for document in DOCUMENTS:
        for section, name in re.findall(r"`man (?:(\d) )?([\w.-]+)`", read(document)):
            pages = [page for page in man_pages() if page.rsplit(".", 1)[0] == name]
            assert pages, f"{document}: there is no man page {name}"
            if section:
                assert f"{name}.{section}" in pages, f"{document}: man {section} {name}"


def test_documents_named_exist():
    for document in DOCUMENTS:
        for path in re.findall(r"`((?:docs|policy|tests|contrib)/[\w./-]+|[A-Z]+\.md)`", read(document)):
            assert os.path.exists(os.path.join(ROOT, path)), f"{document} names {path}"


def test_the_hand_reset_of_a_modem_resets_it(tmp_path):
    """docs/troubleshooting.md's reset, on a simulated modem that auto-answers
    and has S0=1 in its stored profile."""
    from pppup_sim import World
    block = next(block for block in code_blocks(read("docs/troubleshooting.md")) if "AT&W" in block)
    line = next(text for text in block.splitlines() if text.startswith("pppup-chat"))
    chat = os.path.join(ROOT, ".venv", "bin", "pppup-chat")
    world = World({"modems": {"A": {"number": "5550001", "profile": "S0=1&W"}}})
    with world:
        before = world.state("A")
        assert before["s"][0] == 1 and before["stored"]["s"][0] == 1
        command = line.replace("pppup-chat", shlex.quote(chat), 1).replace("/dev/ttyS0", world.tty_path("A"))
        done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        after = world.state("A")
    assert after["s"][0] == 0 and after["stored"]["s"][0] == 0


@pytest.mark.parametrize("document", ["README.md", "docs/accounts.md"])
def test_account_examples_load(document, tmp_path):
    from pppup import accounts
    examples = [block for block in code_blocks(read(document), ("toml",)) if re.search(r"^peer = ", block, re.M)]
    assert examples, document
    (tmp_path / "isp.chat").write_text("ABORT BUSY\n'' ATZ\nOK ATDT\\T\nCONNECT ''\n")
    for index, text in enumerate(examples):
        path = tmp_path / f"example{index}.toml"
        path.write_text(text)
        path.chmod(0o600)
        assert accounts.load_file(str(path), "user").peer, text
