"""Writing KPPP-style login scripts in pppup's text format (docs/chat.md, "KPPP login scripts").

One `Command argument` per line.  An argument is written bare when the
parser gives it back unchanged, otherwise in double quotes (`\\"` and `\\\\`
inside), so blanks at either end, '#' and quotes survive.  The result is
always parsed again with the chat engine's own parser before it is used.
"""
from __future__ import annotations

from pppup_protocol.errors import Code, PppupError

from ..chat.errors import ChatScriptError
from ..chat.kppp_script import LoginScript, parse_login_script

NO_ARGUMENT = ("Hangup", "Answer")


def render_line(command: str, argument: str) -> str:
    if command in NO_ARGUMENT or (argument == "" and command in ("ID", "Password")):
        return command
    if argument and argument == argument.strip() and "#" not in argument and not argument.startswith('"'):
        return f"{command:<11} {argument}"
    quoted = argument.replace("\\", "\\\\").replace('"', '\\"')
    return f'{command:<11} "{quoted}"'


def representable(argument: str) -> bool:
    """A line-based format cannot hold line breaks or other control characters."""
    return all(char >= " " or char == "\t" for char in argument) and "\x7f" not in argument


def parse_checked(text: str, source: str) -> LoginScript:
    try:
        return parse_login_script(text, source, strict=True)
    except ChatScriptError as error:
        raise PppupError(f"the login script made from {source} does not parse ({error}); this is a bug of "
                         "`pppup import`: please report it", Code.FAILURE) from None
