"""Find the line of a key or value in TOML text that tomllib has accepted.

Shared by the policy (pppup_helper) and the client's account files (pppup):
both must name `file:LINE` in their errors, and tomllib returns plain dicts
without positions.  Pure stdlib, like the rest of pppup_protocol.
`locate(text)` scans the text once and maps every key path to the line where
its key starts, and every array element to the line where the element starts:

    ("lines", "modem1")                  the [lines.modem1] header
    ("lines", "modem1", "device")        device = ... in that table
    ("rules", 2)                          the third [[rules]] header
    ("rules", 2, "users", 1)             the second element of its users array

The scanner relies on tomllib having accepted the text (it does not check
syntax), but it must follow TOML's lexical rules exactly where they matter
for positions: comments, the four string forms (escapes, multi-line strings
with embedded quotes and newlines), arrays and inline tables spanning lines,
dotted and quoted keys, and arrays of tables.
"""
from __future__ import annotations

import bisect
import re

Path = tuple[object, ...]

_BLANK = re.compile(r"(?:[ \t]+|#[^\n]*)*")
_BLANK_LINES = re.compile(r"(?:[ \t\r\n]+|#[^\n]*)*")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]*")
_BASIC = re.compile(r'"((?:[^"\\\n]|\\.)*)"?')
_LITERAL = re.compile(r"'([^'\n]*)'?")
_ML_BASIC_END = re.compile(r'(?:[^"\\]|\\.|"(?!""))*"""(?:"{0,2})', re.S)
_SCALAR = re.compile(r"[^,\]}\n#]*")


class _Scanner:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.newlines = [match.start() for match in re.finditer("\n", text)]
        self.lines: dict[Path, int] = {}
        self.table_arrays: dict[tuple[str, ...], int] = {}

    # -- low level -------------------------------------------------------
    @property
    def line(self) -> int:
        return bisect.bisect_left(self.newlines, self.pos) + 1

    def peek(self, offset: int = 0) -> str:
        index = self.pos + offset
        return self.text[index] if index < len(self.text) else ""

    def skip_blank(self, newlines: bool) -> None:
        """Skip spaces/tabs and comments; also newlines when `newlines`."""
        self.pos = (_BLANK_LINES if newlines else _BLANK).match(self.text, self.pos).end()

    def record(self, path: Path, line: int) -> None:
        self.lines.setdefault(path, line)

    # -- keys ------------------------------------------------------------
    def key(self) -> list[str]:
        parts = [self.simple_key()]
        while True:
            self.skip_blank(newlines=False)
            if self.peek() != ".":
                return parts
            self.pos += 1
            self.skip_blank(newlines=False)
            parts.append(self.simple_key())

    def simple_key(self) -> str:
        char = self.peek()
        if char == '"':
            return _unescape(self.basic_string())
        if char == "'":
            return self.literal_string()
        match = _BARE_KEY.match(self.text, self.pos)
        self.pos = match.end()
        return match.group()

    # -- strings ---------------------------------------------------------
    def basic_string(self) -> str:
        match = _BASIC.match(self.text, self.pos)
        self.pos = match.end()
        return match.group(1)

    def literal_string(self) -> str:
        match = _LITERAL.match(self.text, self.pos)
        self.pos = match.end()
        return match.group(1)

    def multiline_string(self, quote: str) -> None:
        start = self.pos + 3
        if quote == '"':
            match = _ML_BASIC_END.match(self.text, start)
            self.pos = match.end() if match else len(self.text)
            return
        end = self.text.find("\'\'\'", start)
        if end < 0:
            self.pos = len(self.text)
            return
        end += 3
        while end < len(self.text) and self.text[end] == "'" and end - start < len(self.text):
            end += 1  # up to two quotes may directly precede the closing delimiter
        self.pos = end

    # -- values ----------------------------------------------------------
    def value(self, path: Path) -> None:
        char = self.peek()
        if self.text.startswith('"""', self.pos) or self.text.startswith("\'\'\'", self.pos):
            self.multiline_string(char)
        elif char == '"':
            self.basic_string()
        elif char == "'":
            self.literal_string()
        elif char == "[":
            self.array(path)
        elif char == "{":
            self.inline_table(path)
        else:
            self.pos = _SCALAR.match(self.text, self.pos).end()

    def array(self, path: Path) -> None:
        self.pos += 1  # [
        index = 0
        while True:
            self.skip_blank(newlines=True)
            char = self.peek()
            if char in ("]", ""):
                self.pos += 1
                return
            if char == ",":
                self.pos += 1
                continue
            element = path + (index,)
            self.record(element, self.line)
            self.value(element)
            index += 1

    def inline_table(self, path: Path) -> None:
        self.pos += 1  # {
        while True:
            self.skip_blank(newlines=False)
            char = self.peek()
            if char in ("}", ""):
                self.pos += 1
                return
            if char == ",":
                self.pos += 1
                continue
            self.key_value(path)

    def key_value(self, table: Path) -> None:
        line = self.line
        parts = self.key()
        for depth in range(1, len(parts) + 1):
            self.record(table + tuple(parts[:depth]), line)
        self.skip_blank(newlines=False)
        self.pos += 1  # =
        self.skip_blank(newlines=False)
        self.value(table + tuple(parts))

    # -- tables ----------------------------------------------------------
    def header(self) -> Path:
        is_array = self.text.startswith("[[", self.pos)
        self.pos += 2 if is_array else 1
        self.skip_blank(newlines=False)
        names = tuple(self.key())
        self.skip_blank(newlines=False)
        self.pos += 2 if is_array else 1
        if is_array:
            self.table_arrays[names] = self.table_arrays.get(names, 0) + 1
        return self.resolve(names)

    def resolve(self, names: tuple[str, ...]) -> Path:
        """Insert the current element index after every array-of-tables prefix."""
        path: list[object] = []
        for depth in range(1, len(names) + 1):
            path.append(names[depth - 1])
            count = self.table_arrays.get(names[:depth])
            if count:
                path.append(count - 1)
        return tuple(path)

    def document(self) -> dict[Path, int]:
        table: Path = ()
        while True:
            self.skip_blank(newlines=True)
            if self.pos >= len(self.text):
                return self.lines
            line = self.line
            if self.peek() == "[":
                table = self.header()
                for depth in range(1, len(table) + 1):
                    self.record(table[:depth], line)
                self.lines[table] = line
            else:
                self.key_value(table)


_ESCAPES = {"b": "\b", "t": "\t", "n": "\n", "f": "\f", "r": "\r", '"': '"', "\\": "\\"}


def _unescape(raw: str) -> str:
    """Decode a basic string's escapes (only needed for quoted keys)."""
    out: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char != "\\" or index + 1 >= len(raw):
            out.append(char)
            index += 1
            continue
        code = raw[index + 1]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            index += 2
        elif code in "uU":
            width = 4 if code == "u" else 8
            digits = raw[index + 2:index + 2 + width]
            try:
                out.append(chr(int(digits, 16)))
            except ValueError:
                out.append(digits)
            index += 2 + width
        else:
            out.append(code)
            index += 2
    return "".join(out)


def locate(text: str) -> dict[Path, int]:
    """Map key paths and array elements of valid TOML `text` to 1-based lines."""
    return _Scanner(text).document()


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of `path`, or of its nearest located ancestor."""
    for depth in range(len(path), 0, -1):
        found = lines.get(path[:depth])
        if found is not None:
            return found
    return None
