"""Errors of the chat engine, in pppup's error vocabulary."""
from __future__ import annotations

from pppup_protocol.errors import Code, PppupError


class ChatScriptError(PppupError):
    """A chat or login script that cannot be parsed.

    str() is `file:line:col: message`; `chat_message` is what chat(8) itself
    prints for the same error (pppup-chat prints that, as a drop-in).
    """

    def __init__(self, source: str, line: int, column: int, chat_line: int, message: str,
                 chat_message: str | None = None) -> None:
        super().__init__(f"{source}:{line}:{column}: {message}", Code.CONFIG)
        self.source = source
        self.line = line
        self.column = column
        self.chat_line = chat_line
        self.chat_message = chat_message or f"unterminated quote (line {chat_line})"
