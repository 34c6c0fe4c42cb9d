"""Reading the documentation the way a reader does: man pages rendered by groff,
roff sections and their item headings, Markdown code blocks, and the options
click really accepts.  Shared by the tests in this directory."""
from __future__ import annotations

import os
import re
import shlex
import subprocess
from typing import Iterator

import click

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAN_DIR = os.path.join(ROOT, "docs", "man")
PAGE_PATTERN = re.compile(r".+\.[1-8]")


def read(path: str) -> str:
    with open(os.path.join(ROOT, path), encoding="utf-8") as source:
        return source.read()


def man_pages() -> list[str]:
    return sorted(name for name in os.listdir(MAN_DIR) if PAGE_PATTERN.fullmatch(name))


def render(page: str) -> tuple[str, str]:
    """(text, warnings) of a page as man shows it: ASCII, no hyphenation, lines
    wide enough that nothing is wrapped inside an option or a key."""
    done = subprocess.run(["groff", "-man", "-Tascii", "-ww", "-P-cbou", "-rHY=0", "-rLL=400n",
                           os.path.join(MAN_DIR, page)], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"groff failed on {page}: {done.stderr}")
    return done.stdout, done.stderr


def flat(text: str) -> str:
    """Whitespace runs made single spaces, for phrase searches."""
    return " ".join(text.split())


def rendered_section(text: str, title: str) -> str:
    """One section of a rendered page: from its unindented title to the next one."""
    found = re.search(rf"^{re.escape(title)}\n(.*?)(?=^\S|\Z)", text, re.M | re.S)
    if found is None:
        raise AssertionError(f"no section {title!r}")
    return found.group(1)


def roff_sections(source: str) -> dict[str, list[str]]:
    """The lines of each `.SH` section of a roff source, by title (quotes removed)."""
    sections: dict[str, list[str]] = {}
    current: list[str] = []
    for line in source.splitlines():
        if line.startswith(".SH "):
            current = sections.setdefault(line[4:].strip().strip('"'), [])
        else:
            current.append(line)
    return sections


def item_headings(lines: list[str]) -> list[str]:
    """The heading line of every `.TP` item."""
    return [lines[index + 1] for index, line in enumerate(lines[:-1]) if line.startswith(".TP")]


def bold_words(heading: str) -> list[str]:
    """The words a `.B`/`.BR`/`.RB`/`.BI`/`.IB` heading sets in bold, roff escapes undone."""
    macro, _, rest = heading.partition(" ")
    arguments = shlex.split(rest.replace("\\(dq", "\x00"), posix=True)
    first_bold = {".B": 0, ".BR": 0, ".BI": 0, ".RB": 1, ".IB": 1}.get(macro)
    if first_bold is None:
        return []
    if macro == ".B":
        return [unescape(word) for word in arguments]
    return [unescape(word) for word in arguments[first_bold::2]]


def unescape(text: str) -> str:
    return (text.replace("\\-", "-").replace("\\e", "\\").replace("\\(aq", "'").replace("\\(dq", '"')
            .replace("\x00", '"').replace("\\(em", "--").replace("\\&", ""))


def code_blocks(markdown: str, languages: tuple[str, ...] = ("sh",)) -> list[str]:
    """The contents of fenced code blocks in those languages."""
    pattern = re.compile(r"^```([a-z]*)\n(.*?)^```", re.M | re.S)
    return [body for language, body in pattern.findall(markdown) if language in languages]


def option_names(command: click.Command, parent: click.Context | None = None) -> set[str]:
    """Every option string a command accepts, hidden ones excluded, its help
    option included (whose names a subcommand inherits from its group)."""
    names: set[str] = set()
    for parameter in command.get_params(context_of(command, parent)):
        if isinstance(parameter, click.Option) and not parameter.hidden:
            names.update(parameter.opts)
            names.update(parameter.secondary_opts)
    return names


def context_of(command: click.Command, parent: click.Context | None = None) -> click.Context:
    return click.Context(command, parent=parent, **command.context_settings)


def options_at(root: click.Command, *path: str) -> set[str]:
    """The options of the subcommand `path` of `root` (e.g. "import", "peers")."""
    context = context_of(root)
    command = root
    for name in path:
        command = command.commands[name]            # type: ignore[attr-defined]
        context = context_of(command, context)
    return option_names(command, context.parent)


def commands_of(command: click.Command, path: tuple[str, ...] = (),
                parent: click.Context | None = None) -> Iterator[tuple[tuple[str, ...], click.Command, set[str]]]:
    """The command and every subcommand under it: the words that reach it, it, its options."""
    yield path, command, option_names(command, parent)
    if isinstance(command, click.Group):
        context = context_of(command, parent)
        for name, sub in sorted(command.commands.items()):
            if not sub.hidden:
                yield from commands_of(sub, path + (name,), context)
