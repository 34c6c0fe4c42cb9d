"""wvdial's configuration: the ini format of wvstreams' UniIniGen, read the way wvdial 1.60+ reads it.

wvdial (1.60 and later, what distributions ship) loads its files through
WvConfEmu over UniConf's "ini:" generator.  Learnt from wvstreams
(uniconf/uniinigen.cc, utils/wvtclstring.cc, uniconf/wvconfemu.cc) and
wvdial (wvdialer.cc, wvdial.cc):

* the file is cut into entries at line ends, except inside {braces}, inside
  an entry that starts with a double quote, and after a backslash (a
  backslash-newline joins lines); an entry left open at the end of the file
  costs its first line, which is dropped;
* each entry is trimmed; `#` first is a comment; `[name]` (nothing after
  the `]`) starts a section; otherwise `key = value` splits at the first
  `=` outside braces and escapes;
* key and value are Tcl-unescaped: `{...}` around the whole value is
  removed and the rest kept as it is (`Username = { }` is one blank), a
  whole value in double quotes loses them, and elsewhere a backslash keeps
  the next character and goes (`\\\\` is one backslash);
* section and key names are case-insensitive; a later value replaces an
  earlier one (in the same file, or from ~/.wvdialrc after
  /etc/wvdial.conf), and an empty value is a value (it hides defaults);
* wvdial looks a setting up in the chosen section, then along its
  `Inherits = NAME` chain, then in [Dialer Defaults], then its built-in
  default.

We also skip lines starting with ';' (wvdialconf's `; Phone = ...`, which
UniIniGen keeps as keys wvdial never asks for), and accept a section header
with text after its ']' (reported: wvdial would not see a section there).
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

from .report import Report, where

DEFAULTS = "dialer defaults"


class Value(NamedTuple):
    key: str            # as written (unescaped)
    value: str          # unescaped
    path: str
    line: int

    @property
    def where(self) -> str:
        return where(self.path, self.line)


def tcl_unescape(text: str) -> str:
    """wvstreams' wvtcl_unescape: {braces} kept verbatim, "quotes" and backslashes removed."""
    if len(text) >= 2 and text[0] == "{" and text[-1] == "}":
        return text[1:-1]
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    out: list[str] = []
    escaped = False
    for char in text:
        if char == "\\" and not escaped:
            escaped = True
            continue
        escaped = False
        out.append(char)
    return "".join(out)


def entries(text: str, path: str, report: Report) -> Iterator[tuple[int, str]]:
    """The file's entries (line number, text) as UniIniGen cuts them."""
    size = len(text)
    index, line = 0, 1
    while index < size:
        char = text[index]
        if char in "\r\n":
            line += char == "\n"
            index += 1
            continue
        start, start_line = index, line
        quoted = char == '"'
        scan = index + 1 if quoted else index
        braces, escaped, closed = 0, False, False
        while scan < size:
            char = text[scan]
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif braces == 0 and quoted and char == '"':
                scan += 1
                closed = True
                break
            elif braces == 0 and not quoted and char in "\r\n":
                closed = True
                break
            elif not quoted and char == "{":
                braces += 1
            elif not quoted and char == "}" and braces > 0:
                braces -= 1
            scan += 1
        if not closed and (braces or quoted or escaped):
            # Open at the end of the file: UniIniGen drops the first line and reads on.
            end = text.find("\n", start)
            end = size if end < 0 else end
            report.dropped(where(path, start_line), f"{text[start:end].strip()!r} opens a brace or quote that "
                           "never closes; wvdial ignores this line")
            index, line = end, start_line
            continue
        line += text.count("\n", start, scan)
        yield start_line, text[start:scan]
        index = scan


def split_key(entry: str) -> tuple[str, str] | None:
    """`key = value` at the first '=' outside braces and escapes; None if there is none."""
    braces, escaped = 0, False
    for position, char in enumerate(entry):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "{":
            braces += 1
        elif char == "}" and braces > 0:
            braces -= 1
        elif char == "=" and braces == 0:
            return entry[:position], entry[position + 1:]
    return None


class WvConf:
    def __init__(self) -> None:
        self.sections: dict[str, dict[str, Value]] = {}
        self.names: dict[str, str] = {}              # lower-case -> as first written
        self.header: dict[str, tuple[str, int]] = {}

    def load(self, text: str, path: str, report: Report) -> None:
        current: dict[str, Value] | None = None
        for number, raw in entries(text, path, report):
            line = raw.strip()
            if not line or line[0] in ";#":
                continue
            if line.startswith("["):
                close = line.find("]")
                if close > 0:
                    if line[close + 1:].strip():
                        report.note(where(path, number), f"text after the section header {line[:close + 1]} "
                                    "was ignored (wvdial itself would not see a section here)")
                    name = tcl_unescape(line[1:close].strip())
                    key = name.lower()
                    if key not in self.sections:
                        self.sections[key] = {}
                        self.names[key] = name
                        self.header[key] = (path, number)
                    current = self.sections[key]
                    continue
            pair = split_key(line)
            if pair is None or not tcl_unescape(pair[0].strip()):
                report.dropped(where(path, number), f"{line!r} is not `key = value`; wvdial ignores it")
                continue
            if current is None:
                report.dropped(where(path, number), f"{line!r} is outside any section; wvdial ignores it")
                continue
            key = tcl_unescape(pair[0].strip())
            current[key.lower()] = Value(key, tcl_unescape(pair[1].strip()), path, number)

    def has(self, section: str) -> bool:
        return section.lower() in self.sections

    def section_name(self, section: str) -> str:
        return self.names.get(section.lower(), section)

    def chain(self, section: str, report: Report | None = None) -> list[str]:
        """The section, then what it inherits from (wvdial's fuzzy_get order), without loops."""
        order: list[str] = []
        key: str | None = section.lower()
        while key is not None and key in self.sections and key not in order:
            order.append(key)
            inherits = self.sections[key].get("inherits")
            key = None
            if inherits is not None:
                wanted = inherits.value.lower()
                for candidate in (wanted, "dialer " + wanted):
                    if candidate in self.sections:
                        key = candidate
                        break
                else:
                    if report is not None:
                        report.dropped(inherits.where, f"Inherits = {inherits.value}: there is no such "
                                       "section; nothing inherited")
        return order

    def lookup(self, section: str, key: str, report: Report | None = None) -> Value | None:
        """A setting as wvdial finds it for `section`: its chain first, then [Dialer Defaults]."""
        lower = key.lower()
        for name in self.chain(section, report):
            found = self.sections[name].get(lower)
            if found is not None:
                return found
        return self.sections.get(DEFAULTS, {}).get(lower)

    def keys_seen(self, section: str) -> dict[str, Value]:
        """Every key that applies to `section` (chain and defaults), the effective value of each."""
        seen: dict[str, Value] = {}
        for name in self.chain(section) + [DEFAULTS]:
            for lower, value in self.sections.get(name, {}).items():
                seen.setdefault(lower, value)
        return seen
