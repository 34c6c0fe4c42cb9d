"""KDE's KConfig ini files (kppprc), read as KConfig reads them.

Learnt from KDE's kconfig (src/core/kconfigini.cpp, kconfiggroup.cpp):

* lines are trimmed; empty lines and lines starting with '#' are skipped;
  `[Group]` starts a group (`[A][B]` nests, `[$i]` marks immutability);
* `key=value` splits at the first '='; both sides trimmed; `key[$i]=` and
  other `[$...]` markers are options, `key[de]=` is a translation (only the
  untranslated entry is used here); a later duplicate replaces an earlier;
* values are unescaped: \\s space, \\t, \\n, \\r, \\\\ backslash, \\xhh a
  byte (the value is UTF-8); `\\;` and `\\,` keep their backslash, because
  they belong to the list syntax;
* a string list (ScriptCommands, ScriptArguments) is split at ',' after
  that, a backslash escaping the next character (`\\,` a comma in an
  item); `\\0` alone is a list of one empty item.

An unknown escape makes KConfig give up on the value; here it is kept as
written and reported, so a hand-edited file still imports.
"""
from __future__ import annotations

from typing import NamedTuple

from .report import Report, where


class Entry(NamedTuple):
    key: str
    raw: str            # as written after '='
    value: str          # unescaped
    path: str
    line: int

    @property
    def where(self) -> str:
        return where(self.path, self.line)


class KConfig:
    def __init__(self) -> None:
        self.groups: dict[str, dict[str, Entry]] = {}
        self.order: list[str] = []

    def load(self, text: str, path: str, report: Report) -> None:
        group: dict[str, Entry] | None = None
        for number, raw_line in enumerate(text.splitlines(), 1):
            line = raw_line.strip()
            if not line or line.startswith("#"):
                continue
            if line == "[$i]":
                continue                      # the whole file is immutable: nothing to read here
            if line.startswith("["):
                name = _group_name(line)
                if name is None:
                    report.dropped(where(path, number), f"{line!r} is not a valid group header; skipped")
                    group = None
                    continue
                if name not in self.groups:
                    self.groups[name] = {}
                    self.order.append(name)
                group = self.groups[name]
                continue
            key, equals, raw = line.partition("=")
            key = key.strip()
            if not equals or not key:
                report.dropped(where(path, number), f"{line!r} is not key=value; skipped")
                continue
            if group is None:
                group = self.groups.setdefault("<default>", {})
            base, translated = _strip_markers(key)
            if translated:
                continue
            value, problem = unescape(raw.strip())
            if problem:
                report.note(where(path, number), f"{base}: {problem}; the value is used as written")
            group[base] = Entry(base, raw.strip(), value, path, number)

    def group(self, name: str) -> dict[str, Entry]:
        return self.groups.get(name, {})

    def get(self, group: str, key: str) -> Entry | None:
        return self.groups.get(group, {}).get(key)


def _group_name(line: str) -> str | None:
    parts: list[str] = []
    rest = line
    while rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            return None
        part = rest[1:close]
        if part != "$i":
            parts.append(unescape(part)[0])
        rest = rest[close + 1:]
    if rest.strip() or not parts:
        return None
    return "/".join(parts)


def _strip_markers(key: str) -> tuple[str, bool]:
    """`Name[$i]` -> (Name, False); `Name[de]` -> (Name, True: a translation)."""
    translated = False
    while key.endswith("]") and "[" in key:
        start = key.rindex("[")
        marker = key[start + 1:-1]
        if not marker.startswith("$"):
            translated = True
        key = key[:start].rstrip()
    return key, translated


def unescape(text: str) -> tuple[str, str | None]:
    """KConfig's printableToString: (value, problem or None)."""
    if "\\" not in text:
        return text, None
    out = bytearray()
    data = text.encode("utf-8")
    index = 0
    problem = None
    simple = {ord("s"): b" ", ord("t"): b"\t", ord("n"): b"\n", ord("r"): b"\r", ord("\\"): b"\\",
              ord(";"): b"\\;", ord(","): b"\\,"}
    while index < len(data):
        byte = data[index]
        if byte != 0x5C:
            out.append(byte)
            index += 1
            continue
        if index + 1 >= len(data):
            out.append(byte)
            break
        following = data[index + 1]
        if following in simple:
            out += simple[following]
            index += 2
        elif following == ord("x") and index + 3 < len(data) and _is_hex(data[index + 2:index + 4]):
            out.append(int(data[index + 2:index + 4], 16))
            index += 4
        else:
            problem = problem or f"unknown escape \\{chr(following)}"
            out += bytes([byte, following])
            index += 2
    return out.decode("utf-8", errors="replace"), problem


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(chr(byte) in "0123456789abcdefABCDEF" for byte in pair)


def split_list(value: str) -> list[str]:
    """KConfig's string-list syntax (after unescape)."""
    if value == "":
        return []
    if value == "\\0":
        return [""]
    items: list[str] = []
    current: list[str] = []
    escaped = False
    for char in value:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ",":
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return items


def number(entry: Entry | None, default: int) -> int:
    """KConfig's integer reading, forgiving: `1`, `true`, ` 60 `; anything else is the default."""
    if entry is None:
        return default
    text = entry.value.strip().lower()
    if text in ("true", "yes", "on"):
        return 1
    if text in ("false", "no", "off"):
        return 0
    try:
        return int(text)
    except ValueError:
        return default
