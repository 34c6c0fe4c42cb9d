"""What an import produces, before anything is written: the account, its secret, the admin's part.

`Draft` collects values as the importers find them; the render functions
turn it into text in pppup's formats (docs/accounts.md, policy/README.md,
pppd option files).  Writing is strict: every string is quoted for its
format, and the secret never appears in any text rendered here (the
account names the secret file instead).
"""
from __future__ import annotations

import json
from typing import NamedTuple

from .pppd_words import quote_word


class ImportOptions(NamedTuple):
    """The command line's choices that every importer honours."""

    name: str | None = None          # the account name (default: from the imported file)
    line: str | None = None          # the policy line name (default: from the device)
    peer: str | None = None          # the policy peer name (default: pppup-ACCOUNT)
    user: str | None = None          # who the policy rule is for (default: the caller)
    copy_scripts: bool = False       # copy chat scripts even when they could be used where they are


class CopiedScript(NamedTuple):
    """A chat script to copy next to the account, byte for byte."""

    source: str
    data: bytes


class Draft:
    def __init__(self, name: str, source: str, command: str) -> None:
        self.name = name                     # account name
        self.source = source                 # the file imported (for comments)
        self.command = command               # e.g. "pppup import peers provider"
        self.description = ""
        self.line = "modem"                  # policy line name
        self.device: str | None = None       # for the policy's [lines.NAME]
        self.peer = f"pppup-{name}"[:32].rstrip("-._")   # policy peer name (a file in /etc/ppp/peers)
        self.phone: list[str] = []
        self.init: list[str] = []
        self.dial_command: str | None = None
        self.speed: int | None = None
        self.rtscts = False
        self.connect_timeout: int | None = None
        self.chat_text: str | None = None            # inline chat script (from a command line)
        self.chat_file: str | None = None            # a chat script used where it is
        self.chat_copy: CopiedScript | None = None   # a chat script copied next to the account
        self.login_script: str | None = None         # KPPP-style login script text
        self.line_ending: str | None = None
        self.script_timeout: int | None = None
        self.login_user: str | None = None
        self.login_password: str | None = None   # goes into a 0600 file; the account names the file
        self.auth_user: str | None = None
        self.auth_secret: str | None = None      # likewise (the same file when both are equal)
        self.callback: dict[str, object] | None = None
        self.redial: dict[str, float | int] = {}
        self.ppp_timeout: int | None = None
        self.fix_comments: list[str] = []    # shown at the top of the account file
        # The administrator's part.
        self.peer_options: list[str] = []    # rendered option lines for the peer file
        self.peer_comments: list[str] = []
        self.rule_idle: int | None = None
        self.rule_maxconnect: int | None = None
        self.rule_comments: list[str] = []

    def add_peer_option(self, name: str, argument: str | None = None) -> None:
        line = quote_word(name) if argument is None else f"{quote_word(name)} {quote_word(argument)}"
        if line not in self.peer_options:
            self.peer_options.append(line)


# ------------------------------------------------------------------ TOML

def toml_string(text: str) -> str:
    """A TOML basic string (one line) holding exactly `text`."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def toml_multiline(text: str) -> str:
    """A TOML multi-line string for a script: literal when possible, so it reads as written."""
    body = text if text.endswith("\n") else text + "\n"
    if "'''" not in body and all(char in "\n\t" or char >= " " for char in body) and "\x7f" not in body:
        return "'''\n" + body + "'''"
    escaped = []
    for char in body:
        if char in '\\"':
            escaped.append("\\" + char)
        elif char == "\n":
            escaped.append(char)
        elif char < " " or char == "\x7f":
            escaped.append(f"\\u{ord(char):04x}")
        else:
            escaped.append(char)
    return '"""\n' + "".join(escaped) + '"""'


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return _toml_value(value[0])
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def render_account(draft: Draft, login_ref: str | None, auth_ref: str | None, chat_ref: str | None) -> str:
    """The account file.  The refs: how the account names the secret files and a copied chat script."""
    out = [f"# pppup account {draft.name}: made by `{draft.command}` from {draft.source}.",
           "# Format: docs/accounts.md.  Check it with `pppup accounts`."]
    for comment in draft.fix_comments:
        out.append(f"# FIX: {comment}")
    out.append("")

    def put(key: str, value: object) -> None:
        if value is None or value == [] or value == "":
            return
        out.append(f"{key} = {_toml_value(value)}")

    put("description", draft.description)
    put("line", draft.line)
    put("peer", draft.peer)
    put("phone", draft.phone)
    put("init", draft.init)
    put("dial_command", draft.dial_command)
    put("speed", draft.speed)
    if draft.rtscts:
        put("rtscts", True)
    put("connect_timeout", draft.connect_timeout)
    put("line_ending", draft.line_ending)
    put("script_timeout", draft.script_timeout)
    put("ppp_timeout", draft.ppp_timeout)
    if chat_ref is not None:
        put("chat_file", chat_ref)
    elif draft.chat_text is not None:
        out.append(f"chat = {toml_multiline(draft.chat_text)}")
    if draft.login_script is not None:
        out.append(f"login_script = {toml_multiline(draft.login_script)}")
    if draft.login_user is not None or login_ref is not None:
        out += ["", "[login]"]
        put("user", draft.login_user)
        put("password_file", login_ref)
    if draft.auth_user is not None:
        out += ["", "[auth]"]
        put("user", draft.auth_user)
        put("secret_file", auth_ref)
    if draft.callback is not None:
        out += ["", "[callback]"]
        for key, value in draft.callback.items():
            put(key, value)
    if draft.redial:
        out += ["", "[redial]"]
        for key, value in draft.redial.items():
            put(key, value)
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ the administrator's part

def render_peer_file(draft: Draft, date: str) -> str:
    out = [f"# /etc/ppp/peers/{draft.peer}: pppd options for pppup account {draft.name},",
           f"# made by `{draft.command}` on {date} from {draft.source}.",
           "# pppup's helper starts `pppd call " + draft.peer + " nodetach ...` on the line it locked;",
           "# the device, connect script, persist/demand and limits are pppup's business (policy).",
           "# Install: install -o root -g root -m 0644 THIS-FILE /etc/ppp/peers/" + draft.peer]
    out += [f"# {comment}" for comment in draft.peer_comments]
    out.append("")
    out += draft.peer_options
    return "\n".join(out) + "\n"


def render_policy(draft: Draft, user: str, date: str) -> str:
    """Tables to merge into /etc/pppup/policy.toml: the line, the peer, a rule for this user."""
    out = [f"# Policy for pppup account {draft.name} of user {user}: made by `{draft.command}` on {date}.",
           "# Merge into /etc/pppup/policy.toml with `pppup-policy edit` (keep [lines.*] and",
           "# [peers.*] tables you already have; a rule decides only if no rule above it matches),",
           "# then `pppup-policy check` and `pppup-policy explain --user " + user + "`.",
           f"# Install the peer file first (/etc/ppp/peers/{draft.peer}).", ""]
    out.append(f"[lines.{draft.line}]")
    if draft.device is not None:
        out.append(f"device = {toml_string(draft.device)}")
    else:
        out.append('# FIX: device = "/dev/ttyS0"   (the import found no modem device)')
    out += ["", f"[peers.{draft.peer}]", f"description = {toml_string('imported from ' + draft.source)}",
            "", "[[rules]]", f"name = {toml_string(f'{user} {draft.name}')}",
            f"users = [{toml_string(user)}]", f"lines = [{toml_string(draft.line)}]",
            f"peers = [{toml_string(draft.peer)}]"]
    if draft.rule_idle is not None:
        out.append(f"idle = {draft.rule_idle}")
    if draft.rule_maxconnect is not None:
        out.append(f"maxconnect = {draft.rule_maxconnect}")
    out += [f"# {comment}" for comment in draft.rule_comments]
    return "\n".join(out) + "\n"


def settle_names(draft: Draft, options: ImportOptions) -> None:
    """Apply --line/--peer (already checked) or derive the line name from the device."""
    from .modem_strings import line_name_for
    if options.line:
        draft.line = options.line
    elif draft.device:
        draft.line = line_name_for(draft.device)
    if options.peer:
        draft.peer = options.peer
