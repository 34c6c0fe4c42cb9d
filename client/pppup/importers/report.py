"""What an import did, and above all what it could not carry over and why.

Every item names where it came from (`file:line`, or the file alone) so the
user can look at the original.  Three kinds, printed in this order:

* fix      - the new account or policy will not work until someone acts
             (a placeholder phone number, an unreadable chat script, ...);
* dropped  - a setting that has no place in pppup, with the reason;
* note     - carried over, but changed on the way (moved to the policy, to
             a secret file, a KPPP bug fixed, ...).
"""
from __future__ import annotations

from typing import NamedTuple

KINDS = ("fix", "dropped", "note")
_HEADINGS = {
    "fix": "Must be fixed before the account works",
    "dropped": "Not carried over",
    "note": "Carried over with changes",
}


class Item(NamedTuple):
    kind: str          # one of KINDS
    where: str         # "file:line" or "file" or "" (the import as a whole)
    text: str


class Report:
    def __init__(self) -> None:
        self.items: list[Item] = []

    def fix(self, where: str, text: str) -> None:
        self.items.append(Item("fix", where, text))

    def dropped(self, where: str, text: str) -> None:
        self.items.append(Item("dropped", where, text))

    def note(self, where: str, text: str) -> None:
        self.items.append(Item("note", where, text))

    def of_kind(self, kind: str) -> list[Item]:
        """Items of one kind, in file and line order (the import as a whole last)."""
        return sorted((item for item in self.items if item.kind == kind), key=_position)

    def texts(self, kind: str | None = None) -> list[str]:
        """Each item as one line, for tests and for the summary."""
        return [_line(item) for item in self.items if kind is None or item.kind == kind]

    def render(self) -> str:
        parts: list[str] = []
        for kind in KINDS:
            items = self.of_kind(kind)
            if not items:
                continue
            parts.append(f"{_HEADINGS[kind]} ({len(items)}):")
            parts.extend(f"  - {_line(item)}" for item in items)
        if not parts:
            parts.append("Everything was carried over unchanged.")
        return "\n".join(parts) + "\n"


def _position(item: Item) -> tuple[int, str, int]:
    path, _, line = item.where.rpartition(":")
    if path and line.isdigit():
        return (0, path, int(line))
    return (0 if item.where else 1, item.where, 0)


def _line(item: Item) -> str:
    return f"{item.where}: {item.text}" if item.where else item.text


def where(path: str, line: int | None = None) -> str:
    return f"{path}:{line}" if line else path
