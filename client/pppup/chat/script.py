"""chat(8) scripts, from a file or from argv, into typed immutable steps.

Tokenising follows chat 2.4.9 exactly (chat.md section 2): the file is read
in fgets pieces of at most 1023 bytes, each piece split on its own; a piece
whose first byte is `#` is a comment; tokens are separated by space and TAB
only; a token starting with a quote runs to the same quote, a backslash
keeps the next byte from ending it and stays in the token.

Pairing follows chat too: tokens take turns expect/send; a keyword in expect
position takes the next token as its argument; an expect token is split at
unescaped dashes into expect[-send-expect...] pieces.

`iter_file_steps` yields steps while it reads, so a caller can run the file
as it is read, as chat does (pairs before a syntax error have already run);
`parse_*` return a whole `Script` and raise on a syntax error.
"""
from __future__ import annotations

from ._record import Record

TYPE_CHECKING = False           # typing imports cost start-up time; annotations only
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import BinaryIO

PIECE = 1023               # chat's fgets buffer is 1024 bytes
_BLANKS = b" \t"
_QUOTES = b"'\""


class Token(Record):
    """One script word after quote removal.

    `line`/`column` are 1-based positions of the word in the file (column in
    bytes; for argv, line 0 and column = the word's index); `chat_line` is
    chat's own line counter, which counts fgets pieces, not lines.
    """

    __slots__ = ("text", "line", "column", "chat_line")
    text: bytes
    line: int
    column: int
    chat_line: int


class Expect(Record):
    """An expect token: `pieces` alternate expect, send, expect, ...

    An empty tuple (the token `''`) succeeds at once without waiting.
    """

    __slots__ = ("token", "pieces")
    token: Token
    pieces: tuple[bytes, ...]


class Send(Record):
    __slots__ = ("token",)
    token: Token


class Keyword(Record):
    """A keyword in expect position with its argument (the next token)."""

    __slots__ = ("name", "argument")
    name: str
    argument: Token


KEYWORDS = frozenset({"HANGUP", "ABORT", "CLR_ABORT", "REPORT", "CLR_REPORT",
                      "TIMEOUT", "ECHO", "SAY"})
_KEYWORD_BYTES = {name.encode(): name for name in KEYWORDS}

Step = Expect | Send | Keyword


class Script(Record):
    __slots__ = ("steps", "source")
    steps: tuple[Step, ...]
    source: str


def split_expect(text: bytes) -> tuple[bytes, ...]:
    """Split at unescaped '-' like chat's expect_strtok (backslashes stay)."""
    pieces: list[bytes] = []
    current = bytearray()
    escaped = False
    for byte in text:
        if escaped:
            current.append(byte)
            escaped = False
        elif byte == 0x5C:
            current.append(byte)
            escaped = True
        elif byte == 0x2D:
            pieces.append(bytes(current))
            current.clear()
        else:
            current.append(byte)
    pieces.append(bytes(current))
    # strtok returns nothing once only an empty remainder is left.
    if not pieces[-1]:
        pieces.pop()
    return tuple(pieces)


def pair_tokens(tokens: Iterable[Token]) -> Iterator[Step]:
    """Turn a token stream into steps, yielding each as soon as it is complete."""
    sending = False
    pending: str | None = None
    for token in tokens:
        if sending:
            if pending is not None:
                yield Keyword(pending, token)
                pending = None
            else:
                yield Send(token)
        else:
            keyword = _KEYWORD_BYTES.get(token.text)
            if keyword is not None:
                pending = keyword
            else:
                yield Expect(token, split_expect(token.text))
        sending = not sending
    # A keyword left without an argument at the end is ignored, as in chat.


def argv_tokens(words: Iterable[bytes]) -> Iterator[Token]:
    """argv mode: each word is one token, used as it is (no quotes, no comments)."""
    for index, word in enumerate(words):
        yield Token(word, 0, index + 1, 0)


def file_tokens(stream: BinaryIO, source: str) -> Iterator[Token]:
    """Tokenise a script file the way chat's do_file() does, lazily."""
    chat_line = 0
    line = 1
    column = 1               # column of the current piece's first byte
    while True:
        piece = stream.readline(PIECE)
        if not piece:
            return
        chat_line += 1
        ends_line = piece.endswith(b"\n")
        # fgets data is used as a C string: a NUL ends the piece.
        text = piece.split(b"\0", 1)[0]
        if text.endswith(b"\n"):
            text = text[:-1]
        if not text.startswith(b"#"):
            yield from _piece_tokens(text, source, line, column, chat_line)
        if ends_line:
            line += 1
            column = 1
        else:
            column += len(piece)


def _piece_tokens(text: bytes, source: str, line: int, column: int,
                  chat_line: int) -> Iterator[Token]:
    length = len(text)
    position = 0
    while position < length:
        byte = text[position]
        if byte in _BLANKS:
            position += 1
            continue
        start = position
        if byte in _QUOTES:
            position += 1
            body = position
            while True:
                if position >= length:
                    # Imported here: pppup_protocol.errors brings enum (~3 ms
                    # of pppup-chat's start-up) and only errors need it.
                    from .errors import ChatScriptError
                    raise ChatScriptError(
                        source, line, column + start, chat_line,
                        f"unterminated quote: the {chr(byte)} here has no closing "
                        f"{chr(byte)} on the same line (or within chat's {PIECE}-byte line limit); "
                        "close the quote")
                current = text[position]
                if current == byte:
                    break
                position += 1
                if current == 0x5C and position < length:
                    position += 1
            word = text[body:position]
            position += 1                       # the closing quote
        else:
            while position < length and text[position] not in _BLANKS:
                position += 1
            word = text[start:position]
            position += 1                       # the separator, if any
        yield Token(word, line, column + start, chat_line)


def iter_file_steps(stream: BinaryIO, source: str) -> Iterator[Step]:
    """Steps of a script file, read lazily; raises ChatScriptError when reached."""
    return pair_tokens(file_tokens(stream, source))


def parse_bytes(data: bytes, source: str = "<script>") -> Script:
    """Parse a whole chat script file's contents."""
    import io
    return Script(tuple(iter_file_steps(io.BytesIO(data), source)), source)


def parse_file(path: str) -> Script:
    """Parse a chat script file; raises OSError if unreadable, ChatScriptError if invalid."""
    with open(path, "rb") as stream:
        return Script(tuple(iter_file_steps(stream, path)), path)


def parse_argv(words: Iterable[bytes | str], source: str = "<argv>") -> Script:
    """Parse script words given on the command line."""
    encoded = [word if isinstance(word, bytes) else word.encode() for word in words]
    return Script(tuple(pair_tokens(argv_tokens(encoded))), source)
