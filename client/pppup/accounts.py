"""Dial-up accounts: `~/.config/pppup/accounts/NAME.toml` and `/etc/pppup/accounts/NAME.toml`.

    account = load_account("work")          # the user's file wins over the system one
    for entry in list_accounts(): ...       # every file, loadable or not

The user's own file wins: a user can always adapt a system account by
copying it into their own directory (whole files, never merged, so what a
file says is what runs).  Everything is validated when the account is
loaded, scripts included, before any line is taken: errors name
`file:line: what is wrong; the fix`.  The format is docs/accounts.md.

Files are read through filecheck (ownership and modes, like ssh): an account
file with a password written in it must be the user's own and mode 0600; a
system account may not hold a secret at all (it would have to be readable by
every user), it names a secret file under the user's home instead.
"""
from __future__ import annotations

import os
import pwd
import re
import tomllib
from typing import Any, NamedTuple

from pppup_protocol import paths
from pppup_protocol.errors import Code, PppupError
from pppup_protocol.ops import AUTH_USER_PATTERN, FLAG_PATTERN, NAME_PATTERN, SECRET_PATTERN
from pppup_protocol.tomlpos import line_of, locate

from .filecheck import Trust, check_owner_and_mode, read_checked

USER_DIR = ".config/pppup/accounts"        # under the user's home (from the passwd entry)
SYSTEM_DIR = paths.SYSTEM_ACCOUNTS
SUFFIX = ".toml"
# `pppup NAME` runs an account unless NAME is one of these subcommands;
# an account with such a name is run as `pppup up NAME`.
RESERVED = ("up", "down", "status", "accounts", "import")

SPEEDS = (300, 1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800)
LINE_ENDINGS = {"CR": "CR", "LF": "LF", "CRLF": "CR/LF", "CR/LF": "CR/LF"}
DIAL_COMMANDS = ("ATDT", "ATDP", "ATD")

_NAME = re.compile(NAME_PATTERN)
_FLAG = re.compile(FLAG_PATTERN)
_AUTH_USER = re.compile(AUTH_USER_PATTERN)
_SECRET = re.compile(SECRET_PATTERN)
# Digits and the dial modifiers modems share; no ';' (it would end the dial
# string in voice mode) and nothing that is not printable.
_PHONE = re.compile(r"[0-9*#ABCD,WwPpTt!@+() .-]{1,40}")
_AT_COMMAND = re.compile(r"(?i:AT)[ -~]{0,58}")
_ABORT = re.compile(r"[ -~]{1,49}")


class AccountError(PppupError):
    """An invalid account file: `file:line: problem; fix`."""

    code = Code.CONFIG

    def __init__(self, path: str, line: int | None, problem: str, fix: str):
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {problem}; {fix}", Code.CONFIG)
        self.path, self.line, self.problem, self.fix = path, line, problem, fix


class SecretSource(NamedTuple):
    """Where a password or secret comes from: "inline", "file", "prompt" or "none"."""

    kind: str
    value: str | None = None       # inline
    path: str | None = None        # file (absolute)
    where: str = ""                # file:line of the setting, for messages


class Script(NamedTuple):
    kind: str                      # "chat" (chat(8)) or "login" (KPPP)
    parsed: Any                    # pppup.chat.Script or pppup.chat.LoginScript
    source: str                    # the file it came from (the account itself when inline)
    warnings: tuple[str, ...]


class Callback(NamedTuple):
    menu_prompt: str               # the Expect text after which the alias is chosen
    aliases: tuple[str, ...]       # what the server offers (may be empty: not checked)
    default: str | None            # the alias used when none is chosen at run time
    ask: bool                      # ask on the terminal (when there is one)
    wait: int                      # seconds from the server's hang-up to CONNECT
    hangup_timeout: int            # seconds for the server to hang up after the choice
    choose_index: int              # index of the command (Send/Prompt) that sends the alias


class Redial(NamedTuple):
    attempts: int = 3
    delay: float = 5.0
    max_delay: float = 60.0


class Account(NamedTuple):
    name: str
    path: str
    origin: str                    # "user" or "system"
    description: str
    line: str
    peer: str
    phone: tuple[str, ...]
    init: tuple[str, ...]
    dial_command: str
    speed: int
    rtscts: bool
    connect_timeout: int
    script: Script | None
    line_ending: str               # "CR", "LF" or "CR/LF" (pppup.chat.kppp.LINE_ENDINGS keys)
    aborts: tuple[str, ...]        # login scripts: texts that end the login at once (e.g. "Login incorrect")
    script_timeout: int | None     # None: the engine's default (chat 45 s, login scripts 60 s)
    pacing: bool
    login_user: str | None
    login_password: SecretSource
    answers: dict[str, str]
    auth_user: str | None
    auth_secret: SecretSource
    callback: Callback | None
    redial: Redial
    pppd_flags: tuple[str, ...]
    ppp_timeout: int

    @property
    def pppup_dials(self) -> bool:
        """pppup sends ATD itself (phone numbers and no chat script that dials)."""
        return bool(self.phone) and (self.script is None or self.script.kind == "login")

    @property
    def needs_login_password(self) -> bool:
        script = self.script
        if script is None:
            return False
        if script.kind == "chat":
            return any(b"\\U" in text for text in _chat_texts(script.parsed))
        return any(c.name == "Password" or "%PASSWORD%" in c.argument for c in script.parsed.commands)

    @property
    def needs_login_user(self) -> bool:
        script = self.script
        if script is None or script.kind != "login":
            return False
        return any(c.name == "ID" or "%USERNAME%" in c.argument for c in script.parsed.commands)


class Listed(NamedTuple):
    """One account file as `pppup accounts` shows it."""

    name: str
    origin: str
    path: str
    account: Account | None
    error: str | None
    shadowed: bool                 # a system account hidden by the user's file of that name


# ---------------------------------------------------------------- finding

def home_dir() -> str:
    # The passwd entry, not $HOME: under su/setpriv $HOME may still be someone else's.
    try:
        return pwd.getpwuid(os.getuid()).pw_dir
    except KeyError:
        return os.environ.get("HOME", "/")


def user_dir() -> str:
    return os.path.join(home_dir(), USER_DIR)


def account_paths(name: str) -> list[tuple[str, str]]:
    """[(origin, path)] in the order they are looked for."""
    return [("user", os.path.join(user_dir(), name + SUFFIX)),
            ("system", os.path.join(SYSTEM_DIR, name + SUFFIX))]


def load_account(name: str) -> Account:
    if not _NAME.fullmatch(name):
        raise PppupError(f"{name!r} is not an account name: use lower-case letters, digits, '.', '_' "
                         "and '-', starting with a letter or digit (at most 32)", Code.USAGE)
    for origin, path in account_paths(name):
        if os.path.lexists(path):
            return load_file(path, origin)
    looked = " or ".join(path for _, path in account_paths(name))
    raise PppupError(f"there is no account {name!r} (looked for {looked}); "
                     "`pppup accounts` lists yours, docs/accounts.md shows how to write one", Code.USAGE)


def list_accounts() -> list[Listed]:
    found: list[Listed] = []
    user_names: set[str] = set()
    for origin, directory in (("user", user_dir()), ("system", SYSTEM_DIR)):
        try:
            names = sorted(entry for entry in os.listdir(directory) if entry.endswith(SUFFIX))
        except OSError:
            continue
        for entry in names:
            name = entry[: -len(SUFFIX)]
            path = os.path.join(directory, entry)
            account, error = None, None
            try:
                if not _NAME.fullmatch(name):
                    raise PppupError(f"{path}: the file name is not a valid account name (lower-case "
                                     "letters, digits, '.', '_', '-'); rename it", Code.CONFIG)
                account = load_file(path, origin)
            except PppupError as problem:
                error = problem.message
            shadowed = origin == "system" and name in user_names
            if origin == "user":
                user_names.add(name)
            found.append(Listed(name, origin, path, account, error, shadowed))
    return found


# ---------------------------------------------------------------- loading

def load_file(path: str, origin: str) -> Account:
    raw = read_checked(path, Trust.USER if origin == "user" else Trust.SYSTEM, "account file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise AccountError(path, raw[: error.start].count(b"\n") + 1, "the file is not UTF-8",
                           "save it as UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        found = re.search(r"\(at line (\d+), column \d+\)$", message)
        line = int(found.group(1)) if found else None
        problem = re.sub(r"\s*\(at line \d+, column \d+\)$|\s*\(at end of document\)$", "", message)
        raise AccountError(path, line, f"invalid TOML: {problem}",
                           "fix the syntax (inline scripts belong in '''...''' literal strings)") from None
    return _Builder(path, origin, text, data).build()


class _Builder:
    """Validates one parsed file into an Account; every error names its line."""

    def __init__(self, path: str, origin: str, text: str, data: dict[str, Any]):
        self.path = path
        self.origin = origin
        self.text = text
        self.data = data
        self.base = os.path.dirname(path)
        self._lines: dict[tuple[object, ...], int] | None = None
        self.holds_secret = False

    # -- errors ----------------------------------------------------------
    def line(self, key: tuple[object, ...]) -> int | None:
        if self._lines is None:
            self._lines = locate(self.text)
        return line_of(self._lines, key)

    def fail(self, key: tuple[object, ...], problem: str, fix: str) -> AccountError:
        return AccountError(self.path, self.line(key), problem, fix)

    # -- typed getters ---------------------------------------------------
    def table(self, name: str, known: dict[str, str]) -> dict[str, Any]:
        value = self.data.get(name, {})
        if not isinstance(value, dict):
            raise self.fail((name,), f"{name} must be a table", f"write it as [{name}]")
        self.check_known(value, known, (name,))
        return value

    def check_known(self, table: dict[str, Any], known: dict[str, str], where: tuple[str, ...]) -> None:
        for key in table:
            if key not in known:
                import difflib
                close = difflib.get_close_matches(key, list(known), n=1)
                hint = f"did you mean {close[0]!r}?" if close else \
                    f"the keys here are {', '.join(sorted(known))}"
                label = ".".join(where + (key,))
                raise self.fail(where + (key,), f"unknown key {label!r}", hint)

    def string(self, table: dict[str, Any], key: str, where: tuple[str, ...], default: str | None = None,
               pattern: re.Pattern[str] | None = None, hint: str = "") -> str | None:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, str):
            raise self.fail(where + (key,), f"{'.'.join(where + (key,))} must be a string",
                            f'write it in quotes: {key} = "..."')
        if pattern is not None and not pattern.fullmatch(value):
            raise self.fail(where + (key,), f"{'.'.join(where + (key,))} = {value!r} is not valid", hint)
        return value

    def strings(self, table: dict[str, Any], key: str, where: tuple[str, ...],
                pattern: re.Pattern[str] | None = None, hint: str = "", limit: int = 16) -> tuple[str, ...]:
        if key not in table:
            return ()
        value = table[key]
        items = [value] if isinstance(value, str) else value
        label = ".".join(where + (key,))
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            raise self.fail(where + (key,), f"{label} must be a string or a list of strings",
                            f'write {key} = "..." or {key} = ["...", "..."]')
        if len(items) > limit:
            raise self.fail(where + (key,), f"{label} has {len(items)} entries", f"keep at most {limit}")
        for index, item in enumerate(items):
            if pattern is not None and not pattern.fullmatch(item):
                at = where + (key, index) if not isinstance(value, str) else where + (key,)
                raise self.fail(at, f"{label}: {item!r} is not valid", hint)
        return tuple(items)

    def integer(self, table: dict[str, Any], key: str, where: tuple[str, ...], default: int | None,
                low: int, high: int) -> int | None:
        if key not in table:
            return default
        value = table[key]
        label = ".".join(where + (key,))
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise self.fail(where + (key,), f"{label} must be a whole number from {low} to {high}",
                            f"write e.g. {key} = {default if default is not None else low}")
        return value

    def number(self, table: dict[str, Any], key: str, where: tuple[str, ...], default: float,
               low: float, high: float) -> float:
        if key not in table:
            return default
        value = table[key]
        label = ".".join(where + (key,))
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high:
            raise self.fail(where + (key,), f"{label} must be a number of seconds from {low:g} to {high:g}",
                            f"write e.g. {key} = {default:g}")
        return float(value)

    def boolean(self, table: dict[str, Any], key: str, where: tuple[str, ...], default: bool | None
                ) -> bool | None:
        if key not in table:
            return default
        value = table[key]
        if not isinstance(value, bool):
            raise self.fail(where + (key,), f"{'.'.join(where + (key,))} must be true or false",
                            f"write {key} = true or {key} = false")
        return value

    def file_path(self, value: str) -> str:
        if value.startswith("~/"):
            value = os.path.join(home_dir(), value[2:])
        return os.path.normpath(os.path.join(self.base, value))

    # -- the account -----------------------------------------------------
    def build(self) -> Account:
        data, top = self.data, ()
        self.check_known(data, TOP_KEYS, ())
        line = self.string(data, "line", top, pattern=_NAME, hint="use the line's name from the policy "
                           "(`pppup status` lists the lines)")
        peer = self.string(data, "peer", top, pattern=_NAME, hint="use a peer name the policy allows "
                           "(ask your administrator: pppup-policy explain)")
        for key, value in (("line", line), ("peer", peer)):
            if value is None:
                raise AccountError(self.path, None, f"the account names no {key}",
                                   f'add {key} = "NAME" (see `pppup status` and your policy)')
        phone = self.strings(data, "phone", top, _PHONE, "use digits and dial modifiers (, W P T * #)")
        if any(not any(ch.isdigit() for ch in number) for number in phone):
            raise self.fail(("phone",), "a phone number has no digits", "write the number to dial")
        init = self.strings(data, "init", top, _AT_COMMAND,
                            "each init command starts with AT and holds printable characters only "
                            "(at most 60)") or ("ATZ",)
        dial_command = (self.string(data, "dial_command", top, "ATDT") or "ATDT").upper()
        if dial_command not in DIAL_COMMANDS:
            raise self.fail(("dial_command",), f"dial_command = {dial_command!r} is not one of "
                            f"{', '.join(DIAL_COMMANDS)}", 'write dial_command = "ATDT" (tone) or "ATDP" (pulse)')
        speed = self.integer(data, "speed", top, 115200, 300, 460800)
        if speed not in SPEEDS:
            raise self.fail(("speed",), f"speed = {speed} is not a serial speed",
                            f"use one of {', '.join(map(str, SPEEDS))}")
        ending = self.string(data, "line_ending", top, "CR")
        if ending.upper() not in LINE_ENDINGS:
            raise self.fail(("line_ending",), f"line_ending = {ending!r} is not CR, LF or CRLF",
                            'UNIX servers want "CR", Windows "CRLF", Macintosh "LF"')
        script = self.script()
        login_user, login_password, answers = self.login_section()
        auth_user, auth_secret = self.auth_section()
        callback = self.callback_section(script, phone)
        if script is not None and script.kind == "chat" and phone:
            if not any(b"\\T" in text for text in _chat_texts(script.parsed)):
                raise self.fail(("phone",), "the account lists phone numbers but its chat script never "
                                "dials them", r"write ATDT\T in the script (\T is the number being tried), "
                                "or drop phone and let the script dial")
        if script is not None and script.kind == "login" and not phone:
            raise self.fail(("login_script",) if "login_script" in data else ("login_script_file",),
                            "a KPPP login script runs after pppup has dialled, but the account "
                            "lists no phone number", 'add phone = "NUMBER"')
        if script is None and not phone:
            raise AccountError(self.path, None, "the account says neither what to dial nor how",
                               'add phone = "NUMBER", or a chat script that dials (chat = \'\'\'...\'\'\')')
        if self.holds_secret:
            self.check_secret_holder()
        redial = self.redial_section()
        aborts = self.strings(data, "abort", top, _ABORT, "use printable text of at most 49 characters")
        if aborts and (script is None or script.kind != "login"):
            raise self.fail(("abort",), "abort applies to KPPP login scripts only",
                            "a chat script has its own ABORT lines; drop abort here")
        flags = self.strings(data, "pppd_flags", top, _FLAG, "use bare pppd option words the policy "
                             "allows (pppup-policy explain)")
        return Account(
            name=os.path.basename(self.path)[: -len(SUFFIX)], path=self.path, origin=self.origin,
            description=self.string(data, "description", top, "") or "",
            line=line, peer=peer, phone=phone, init=init, dial_command=dial_command, speed=speed,
            rtscts=bool(self.boolean(data, "rtscts", top, False)),
            connect_timeout=self.integer(data, "connect_timeout", top, 90, 5, 600),
            script=script, line_ending=LINE_ENDINGS[ending.upper()], aborts=aborts,
            script_timeout=self.integer(data, "script_timeout", top, None, 1, 3600),
            pacing=bool(self.boolean(data, "pacing", top, False)),
            login_user=login_user, login_password=login_password, answers=answers,
            auth_user=auth_user, auth_secret=auth_secret, callback=callback, redial=redial,
            pppd_flags=flags, ppp_timeout=self.integer(data, "ppp_timeout", top, 60, 5, 300))

    def script(self) -> Script | None:
        given = [key for key in ("chat", "chat_file", "login_script", "login_script_file") if key in self.data]
        if len(given) > 1:
            raise self.fail((given[1],), f"the account gives both {given[0]} and {given[1]}",
                            "keep one script: a chat(8) script or a KPPP login script, inline or as a file")
        if not given:
            return None
        key = given[0]
        kind = "chat" if key.startswith("chat") else "login"
        value = self.string(self.data, key, ())
        if key.endswith("_file"):
            source = self.file_path(value)
            raw = read_checked(source, Trust.USER if self.origin == "user" else Trust.SYSTEM,
                               "chat script" if kind == "chat" else "login script")
            offset = 0
        else:
            source = self.path
            raw = value.encode("utf-8")
            offset = self.inline_offset(key)
        # Blank lines in front make the script's own line numbers the account file's.
        raw = b"\n" * offset + raw
        from .chat.errors import ChatScriptError
        try:
            if kind == "chat":
                from .chat.script import parse_bytes
                parsed = parse_bytes(raw, source)
                return Script("chat", parsed, source, ())
            from .chat.kppp import parse_login_script
            login = parse_login_script(raw.decode("utf-8", errors="replace"), source)
            return Script("login", login, source, login.warnings)
        except ChatScriptError as error:
            problem = str(error)[len(f"{error.source}:{error.line}:{error.column}: "):]
            raise AccountError(source, error.line, f"in the {kind} script: {problem}",
                               "fix the script (docs/accounts.md shows both kinds)") from None

    def inline_offset(self, key: str) -> int:
        """Lines before an inline script's first line: its key's line, or one less
        when the string starts on that line (a multi-line string's first newline
        right after the opening quotes is not part of the value)."""
        line = self.line((key,)) or 1
        lines = self.text.splitlines()
        after = lines[line - 1].split("=", 1)[-1].strip() if line - 1 < len(lines) else ""
        return line if after in ("'''", '"""') else line - 1

    def secret(self, table: dict[str, Any], where: str, inline_key: str, file_key: str,
               pattern: re.Pattern[str] | None) -> SecretSource:
        if inline_key in table and file_key in table:
            raise self.fail((where, file_key), f"{where}.{inline_key} and {where}.{file_key} are both set",
                            "keep one")
        if inline_key in table:
            value = self.string(table, inline_key, (where,))
            if pattern is not None and not pattern.fullmatch(value):
                raise self.fail((where, inline_key), f"{where}.{inline_key} has characters pppd cannot use",
                                "use printable ASCII, at most 128 characters")
            if self.origin == "system":
                raise self.fail((where, inline_key), "a system account cannot hold a secret (every user "
                                "can read it)", f'name a file in each user\'s home instead: {file_key} = '
                                f'"~/.config/pppup/{os.path.basename(self.path)[:-len(SUFFIX)]}.secret"')
            self.holds_secret = True
            return SecretSource("inline", value=value, where=f"{self.path}:{self.line((where, inline_key))}")
        if file_key in table:
            value = self.string(table, file_key, (where,))
            return SecretSource("file", path=self.file_path(value),
                                where=f"{self.path}:{self.line((where, file_key))}")
        return SecretSource("prompt")

    def login_section(self) -> tuple[str | None, SecretSource, dict[str, str]]:
        login = self.table("login", LOGIN_KEYS)
        user = self.string(login, "user", ("login",))
        password = self.secret(login, "login", "password", "password_file", None)
        answers = login.get("answers", {})
        if not isinstance(answers, dict) or not all(isinstance(v, str) for v in answers.values()):
            raise self.fail(("login", "answers"), "login.answers must map prompt texts to answers",
                            'write answers = { "Choose:" = "2" }')
        return user, password, dict(answers)

    def auth_section(self) -> tuple[str | None, SecretSource]:
        auth = self.table("auth", AUTH_KEYS)
        user = self.string(auth, "user", ("auth",), pattern=_AUTH_USER,
                           hint="use printable ASCII without spaces, at most 64 characters")
        if user is None:
            if "secret" in auth or "secret_file" in auth:
                raise self.fail(("auth",), "auth has a secret but no user", 'add user = "NAME" to [auth]')
            return None, SecretSource("none")
        return user, self.secret(auth, "auth", "secret", "secret_file", _SECRET)

    def callback_section(self, script: Script | None, phone: tuple[str, ...]) -> Callback | None:
        if "callback" not in self.data:
            return None
        table = self.table("callback", CALLBACK_KEYS)
        where = ("callback",)
        if script is None or script.kind != "login":
            raise self.fail(where, "a callback account needs a KPPP login script (login_script or "
                            "login_script_file)", "write the server's dialogue as a login script "
                            "(docs/accounts.md, the KPPP callback example)")
        prompt = self.string(table, "menu_prompt", where)
        if not prompt:
            raise self.fail(where, "callback.menu_prompt is missing", 'give the text the script expects '
                            'before choosing the number, e.g. menu_prompt = "for userxyz:"')
        commands = script.parsed.commands
        choose = None
        for index, command in enumerate(commands[:-1]):
            if command.name == "Expect" and command.argument == prompt:
                if commands[index + 1].name in ("Send", "SendNoEcho", "Prompt"):
                    choose = index + 1
                    break
        if choose is None:
            raise self.fail(where + ("menu_prompt",), f"the login script has no `Expect {prompt}` followed "
                            "by the Send (or Prompt) that chooses the call-back number",
                            "make menu_prompt the exact text of that Expect")
        aliases = self.strings(table, "aliases", where, limit=64)
        chooser = commands[choose]
        default = self.string(table, "default", where)
        if default is None and chooser.name != "Prompt" and chooser.argument:
            default = chooser.argument
        if default is not None and aliases and default not in aliases:
            raise self.fail(where + ("default",), f"the default call-back alias {default!r} is not "
                            "among callback.aliases", "add it to aliases or choose another default")
        ask = self.boolean(table, "ask", where, None)
        return Callback(menu_prompt=prompt, aliases=aliases, default=default,
                        ask=default is None if ask is None else ask,
                        wait=self.integer(table, "wait", where, 120, 5, 3600),
                        hangup_timeout=self.integer(table, "hangup_timeout", where, 30, 1, 600),
                        choose_index=choose)

    def redial_section(self) -> Redial:
        table = self.table("redial", REDIAL_KEYS)
        where = ("redial",)
        return Redial(attempts=self.integer(table, "attempts", where, 3, 1, 100),
                      delay=self.number(table, "delay", where, 5.0, 0.0, 3600.0),
                      max_delay=self.number(table, "max_delay", where, 60.0, 0.0, 3600.0))

    def check_secret_holder(self) -> None:
        """The account file itself holds a secret: the user's own, mode 0600."""
        info = os.stat(self.path)
        check_owner_and_mode(self.path, info, Trust.SECRET, "account file")


def _chat_texts(script: Any) -> list[bytes]:
    from .chat.script import Expect, Keyword, Send
    texts: list[bytes] = []
    for step in script.steps:
        if isinstance(step, Expect):
            texts.extend(step.pieces)
        elif isinstance(step, Send):
            texts.append(step.token.text)
        elif isinstance(step, Keyword):
            texts.append(step.argument.text)
    return texts


TOP_KEYS = {
    "description": "free text", "line": "policy line name", "peer": "policy peer name",
    "phone": "numbers tried in turn", "init": "modem init commands", "dial_command": "ATDT/ATDP",
    "speed": "tty speed", "rtscts": "hardware flow control", "connect_timeout": "ATD to CONNECT",
    "chat": "inline chat(8) script", "chat_file": "chat(8) script file",
    "login_script": "inline KPPP login script", "login_script_file": "KPPP login script file",
    "line_ending": "CR, LF or CRLF", "script_timeout": "script timeout", "pacing": "chat's 10 ms pacing",
    "pppd_flags": "extra pppd flags", "ppp_timeout": "seconds until IP is up",
    "abort": "texts that end a login script at once",
    "login": "[login]", "auth": "[auth]", "callback": "[callback]", "redial": "[redial]",
}
LOGIN_KEYS = {"user": "", "password": "", "password_file": "", "answers": ""}
AUTH_KEYS = {"user": "", "secret": "", "secret_file": ""}
CALLBACK_KEYS = {"menu_prompt": "", "aliases": "", "default": "", "ask": "", "wait": "", "hangup_timeout": ""}
REDIAL_KEYS = {"attempts": "", "delay": "", "max_delay": ""}
