"""wvdial's configuration: wvstreams' WvConf ini format, read the way wvdial reads it.

Learnt from wvstreams (configfile/wvconf.cc, cfgsection.cc) and wvdial
(wvdialer.cc, wvdial.cc):

* each line is trimmed (so CRLF files work); `[name]` starts a section;
  `key = value` splits at the first '=', both sides trimmed, the value kept
  whole (no quoting: `Init3 = AT+CGDCONT=1,"IP","apn"` is one value);
* section and key names are case-insensitive;
* the first time a section appears, a key given twice keeps its first
  value; a section that appears again (also from a second file, e.g.
  ~/.wvdialrc after /etc/wvdial.conf) overrides, and an empty value there
  deletes the key;
* wvdial looks a setting up in the chosen section, then along its
  `Inherits = NAME` chain, then in [Dialer Defaults], then its built-in
  default.

WvConf has no comment syntax; wvdialconf writes `; Phone = ...` lines that
just become harmless keys.  We skip lines starting with ';' or '#' instead.
A section header with text after its ']' (wvdial would not take it as a
section) is accepted and reported.
"""
from __future__ import annotations

from typing import NamedTuple

from .report import Report, where

DEFAULTS = "dialer defaults"


class Value(NamedTuple):
    key: str            # as written
    value: str
    path: str
    line: int

    @property
    def where(self) -> str:
        return where(self.path, self.line)


class WvConf:
    def __init__(self) -> None:
        self.sections: dict[str, dict[str, Value]] = {}
        self.names: dict[str, str] = {}              # lower-case -> as first written
        self.header: dict[str, tuple[str, int]] = {}

    def load(self, text: str, path: str, report: Report) -> None:
        current: dict[str, Value] | None = None
        fresh = False
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            if not line or line[0] in ";#":
                continue
            if line.startswith("["):
                close = line.find("]")
                if close > 0:
                    if line[close + 1:].strip():
                        report.note(where(path, number), f"text after the section header {line[:close + 1]} "
                                    "was ignored (wvdial itself would not see a section here)")
                    name = line[1:close].strip()
                    key = name.lower()
                    fresh = key not in self.sections
                    if fresh:
                        self.sections[key] = {}
                        self.names[key] = name
                        self.header[key] = (path, number)
                    current = self.sections[key]
                    continue
            if current is None:
                report.dropped(where(path, number), f"{line!r} is outside any section; wvdial ignores it")
                continue
            key, _, value = line.partition("=")
            key, value = key.strip(), value.strip()
            if not key:
                continue
            lower = key.lower()
            if fresh:
                current.setdefault(lower, Value(key, value, path, number))
            elif value:
                current[lower] = Value(key, value, path, number)
            else:
                current.pop(lower, None)

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
