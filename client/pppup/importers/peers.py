"""`pppup import peers NAME`: a pppd peer file (Debian's /etc/ppp/peers/NAME, pon's world).

What goes where (docs/migrating.md has the full table):

* `connect "chat ... -f FILE -T NUMBER"` -> the account's chat script, used
  unchanged (referenced where it is, or copied when pppup could not trust
  it where it is), `-T` -> phone (an APN: into a copy of the script in place
  of `\\T`), `-U` -> the login password (a 0600 file),
  `-t` -> script_timeout; chat words on the command line -> an inline chat
  script with exactly the same steps;
* the device -> the policy's line; the speed and crtscts -> the account;
* `user` -> the account's PAP/CHAP user, its secret (from `password`, or
  from pap-/chap-secrets when readable) -> a 0600 secret file;
* `idle`, `maxconnect` -> the policy rule (the policy's limits win anyway);
* `file`/`call` includes are read and their options inlined;
* what pppup does itself (persist, demand, holdoff, maxfail, lock, the
  detach options, init/welcome/disconnect scripts) or refuses (pty, notty,
  socket, plugin, CBCP callback) is dropped and reported;
* every other pppd option stays in the new peer file for the admin.
"""
from __future__ import annotations

import os

from pppup_protocol.errors import Code, PppupError

from ..accounts import _AUTH_USER
from ..chat.errors import ChatScriptError
from ..chat.script import Expect, Keyword, Script, Send, parse_bytes
from ..filecheck import Trust, read_checked
from .chat_call import ChatCall, NotChat, parse_connect, words_as_file
from .chat_fill import fill_t, placeholders, t_use
from .draft import CopiedScript, Draft, ImportOptions, settle_names
from .modem_strings import name_from, speed_of, valid_phone
from .pppd_words import (DROPPED_OPTIONS, OptionUse, find_secret, read_secrets, read_words, render_option,
                         split_options)
from .report import Report, where
from .sources import read_bytes, read_text

PEERS_DIR = "/etc/ppp/peers"
PPP_DIR = "/etc/ppp"
MAX_INCLUDE_DEPTH = 4
_PEERS_HINT = "/etc/ppp/peers is readable only by root and group dip: run the import as root or as a " \
              "member of dip, or give the path of a readable copy"

_MOVED = ("connect", "user", "password", "idle", "maxconnect", "file", "call")


class PeerImport:
    def __init__(self, spec: str, options: ImportOptions, report: Report, root: str = "/") -> None:
        self.root = root                   # where the old system's / is (--root: a copy of it)
        self.path = spec if "/" in spec else os.path.join(PEERS_DIR, spec)
        self.literal = "/" in spec         # a path given on the command line is not under root
        base = os.path.basename(self.path)
        self.options = options
        self.report = report
        name = options.name or name_from(base, "peer")
        self.draft = Draft(name, self.path, f"pppup import peers {spec}")
        self.draft.description = f"imported from {self.path}"
        self.remotename: str | None = None
        self.connect: tuple[str, str] | None = None     # (where, command): pppd uses the last one
        self.not_modem: tuple[str, str] | None = None   # (where, option) of a pty/notty/socket
        self.script_data: bytes | None = None           # the chat script file's bytes, once read
        self.script_note: tuple[str, str] | None = None  # where the script went; said once it is final

    def run(self) -> Draft:
        draft, report = self.draft, self.report
        self.read_options(self.path, depth=0)
        if self.connect is not None:
            self.take_connect(*self.connect)
        elif self.not_modem is not None:
            at, option = self.not_modem
            raise PppupError(f"{at}: the peer uses `{option}`, not a modem line with a connect script: pppup "
                             "dials modem lines only (give another peer)", Code.CONFIG)
        else:
            raise PppupError(f"{self.path}: the peer has no `connect` command, so there is nothing to dial: "
                             "pppup imports modem peers whose connect runs chat (give another peer, or "
                             "write the account by hand: docs/accounts.md)", Code.CONFIG)
        if draft.auth_user is not None and draft.auth_secret is None:
            self.find_auth_secret()
        settle_names(draft, self.options)
        if draft.device is None:
            report.fix(self.path, "the peer names no modem device; the policy snippet has a FIX line for it")
        return draft

    # ------------------------------------------------------------------ options
    def on_disk(self, path: str) -> str:
        """Where a path of the old system is on this one."""
        if self.root == "/" or (self.literal and path == self.path):
            return path
        return os.path.join(self.root, path.lstrip("/"))

    def read_options(self, path: str, depth: int) -> None:
        hint = _PEERS_HINT if path.startswith(PEERS_DIR + "/") else ""
        text = read_text(self.on_disk(path), "pppd option file", self.report, hint)
        for use in split_options(read_words(text)):
            self.take(path, use, depth)

    def take(self, path: str, use: OptionUse, depth: int) -> None:
        draft, report = self.draft, self.report
        at = where(path, use.line)
        if use.kind == "device":
            device = use.name if use.name.startswith("/") else "/dev/" + use.name
            if draft.device is None:
                draft.device = device
                report.note(at, f"device {device} -> the policy's line (pppup's helper opens and locks it)")
            else:
                report.dropped(at, f"a second device {device}: pppd uses the last one named; the line "
                               f"keeps {draft.device}")
            return
        if use.kind == "speed":
            speed = speed_of(use.name)
            if speed is None:
                report.dropped(at, f"speed {use.name} is not a serial speed pppup can set; the account uses "
                               "its default (115200)")
            else:
                draft.speed = speed
            return
        if use.kind == "unknown":
            report.dropped(at, f"{use.name!r} is not a pppd 2.4.9 option (a typo, or an option of a "
                           "plugin): left out of the new peer file")
            return
        if use.kind == "addresses":
            draft.add_peer_option(use.name)
            return
        name = use.name
        if name in ("pty", "notty", "socket") and self.not_modem is None:
            self.not_modem = (at, name)
        if name in DROPPED_OPTIONS:
            report.dropped(at, f"{render_option(use)}: {DROPPED_OPTIONS[name]}")
            return
        if name in _MOVED:
            self.move(at, use, depth)
            return
        if name in ("crtscts", "-crtscts", "nocrtscts"):
            draft.rtscts = name == "crtscts"
        if name == "remotename":
            self.remotename = use.argument
        draft.add_peer_option(name, use.argument)

    def move(self, at: str, use: OptionUse, depth: int) -> None:
        draft, report = self.draft, self.report
        name, argument = use.name, use.argument or ""
        if name == "connect":
            if self.connect is not None:
                report.dropped(self.connect[0], "this connect command is replaced by a later one (pppd uses "
                               "the last)")
            self.connect = (at, argument)
        elif name == "user":
            if _AUTH_USER.fullmatch(argument) and argument:
                draft.auth_user = argument
                report.note(at, f"user {argument} -> the account's PAP/CHAP user ([auth] user): the user "
                            "name is the user's, not the peer file's")
            else:
                report.fix(at, f"user {argument!r} has characters pppup cannot pass to pppd (spaces or "
                           "control characters): set [auth] user by hand")
        elif name == "password":
            draft.auth_secret = argument
            report.note(at, "password -> a secret file of yours (mode 0600), named by [auth] secret_file; "
                        "it is gone from the peer file")
        elif name in ("idle", "maxconnect"):
            if argument.isdigit() and int(argument) == 0:
                report.dropped(at, f"{name} {argument}: no limit in pppd, so none for the policy rule either")
                return
            if not argument.isdigit() or int(argument) <= 0:
                report.dropped(at, f"{name} {argument!r} is not a positive number of seconds")
                return
            if name == "idle":
                draft.rule_idle = int(argument)
            else:
                draft.rule_maxconnect = int(argument)
            draft.rule_comments.append(f"{name} {argument}: from {at}")
            report.note(at, f"{name} {argument} -> the policy rule (the admin's limits apply to pppup links)")
        elif name in ("file", "call"):
            included = argument if name == "file" else os.path.join(PEERS_DIR, argument)
            if depth >= MAX_INCLUDE_DEPTH:
                report.dropped(at, f"{name} {argument}: included more than {MAX_INCLUDE_DEPTH} levels deep")
                return
            report.note(at, f"{name} {argument}: its options were read and written into the new peer file "
                        "(so pppup-policy checks them all)")
            try:
                self.read_options(included, depth + 1)
            except PppupError as problem:
                report.fix(at, f"{name} {argument}: {problem.message}")

    # ------------------------------------------------------------------ connect
    def take_connect(self, at: str, command: str) -> None:
        draft, report = self.draft, self.report
        try:
            call = parse_connect(command)
        except NotChat as why:
            report.fix(at, f"connect {command!r} cannot be carried over: {why}; pppup runs chat scripts "
                       "itself: write one (docs/chat.md) and set chat_file in the account")
            return
        script = self.take_script(at, call)
        if script is None:
            return
        texts = _chat_texts(script)
        use = t_use(script)
        if call.phone is not None:
            self.take_phone(at, call.phone, use)
        elif use is not None:
            report.fix(at, "the chat script sends \\T but the connect command gives no -T: add "
                       'phone = "NUMBER" to the account (pppup sends it as \\T)')
            draft.fix_comments.append('phone = "NUMBER"   (the script sends \\T)')
        if call.phone2 is not None:
            draft.login_password = call.phone2
            report.note(at, "chat -U (\\U in the script) -> the login password, kept in a secret file of yours "
                        "(mode 0600) named by [login] password_file")
        elif any(b"\\U" in text for text in texts):
            report.note(at, "the script sends \\U but connect gives no -U: pppup asks for the password "
                        "(hidden) when dialling, or add [login] password_file")
        if call.timeout is not None:
            if 1 <= call.timeout <= 3600:
                draft.script_timeout = call.timeout
            else:
                report.dropped(at, f"chat -t {call.timeout}: pppup takes 1 to 3600 s; the default (45 s) is used")
        if set(call.flags) & set("vVsS"):
            report.dropped(at, "chat's logging options (-v -V -s -S): `pppup -v` shows the conversation, "
                           "with secrets masked")
        if "e" in call.flags:
            report.dropped(at, "chat -e (echo): `pppup -v` shows what the modem says")
        if "E" in call.flags and any(b"$" in text for text in texts):
            report.fix(at, "chat -E: the script uses $VARIABLES, which pppup does not replace: write the "
                       "values into a copy of the script")
        if call.report_file:
            report.dropped(at, f"chat -r {call.report_file}: pppup shows the CONNECT line itself")
        for word in call.ignored:
            report.dropped(at, f"the shell redirection {word!r} in connect: pppup keeps chat's messages itself")
        if self.script_note is not None:
            report.note(*self.script_note)

    def take_phone(self, at: str, text: str, use: str | None) -> None:
        """chat's -T: pppup's \\T is the phone number, so anything else goes into a copy of the script."""
        draft, report = self.draft, self.report
        if use is None:
            report.dropped(at, f"chat -T {text}: the script never sends \\T, so the text is unused")
        elif valid_phone(text):
            draft.phone = [text]
            how = "dials it as \\T" if use == "dial" else "sends it as \\T; in pppup that is the phone number"
            report.note(at, f"chat -T {text} -> phone (the script {how})")
        elif not any(char.isalnum() for char in text):
            # Debian's peers say -T ******** until someone fills the number (or APN) in.
            if use == "apn":
                report.fix(at, f"chat -T {text!r} is a placeholder, and the script sends \\T as the APN "
                           "(AT+CGDCONT): write your APN in place of \\T in the account's copy of the script")
                draft.fix_comments.append(f"the chat script needs your APN in place of \\T (-T {text!r})")
            else:
                report.fix(at, f"chat -T {text!r} is not a phone number (Debian's examples have a "
                           'placeholder there): write the number as phone = "..." in the account')
                draft.fix_comments.append(f'phone = "NUMBER"   (chat -T {text!r} was not a number)')
        else:
            self.fill_phone(at, text, use)

    def fill_phone(self, at: str, text: str, use: str) -> None:
        """A -T that is no phone number (an APN, a PIN with letters): into a copy of the script."""
        draft, report = self.draft, self.report
        source = draft.chat_copy.source if draft.chat_copy is not None else draft.chat_file
        filled = fill_t(self.script_data, text, source) if self.script_data is not None and source else None
        if filled is None:
            report.fix(at, f"chat -T {text!r} is not a phone number: the script sends \\T as something else "
                       "(an APN?), but in pppup \\T is always the account's phone number; write that text "
                       "into a copy of the script instead of \\T and set chat_file to it")
            return
        draft.chat_copy = CopiedScript(source, filled)
        draft.chat_file = None
        self.script_note = None
        what = "the APN" if use == "apn" else "text"
        report.note(at, f"chat -T {text} is {what}, not a phone number: the account gets a copy of {source} "
                    "with it in place of \\T (in pppup \\T is the phone number), otherwise unchanged")

    def take_script(self, at: str, call: ChatCall) -> Script | None:
        draft, report = self.draft, self.report
        if call.script_file is None:
            text = words_as_file(call.words)
            if text is None:
                report.fix(at, "the chat script on the connect command line has a word that cannot be "
                           "written into a script file (a newline, or both kinds of quote): write the "
                           "script into a file and set chat_file")
                return None
            draft.chat_text = text
            report.note(at, "the chat script given on the command line -> an inline chat script with the "
                        "same steps")
            return _parse(text.encode("utf-8"), f"{self.path} (connect)")
        path = call.script_file
        disk = self.on_disk(path)
        try:
            data = read_checked(disk, Trust.USER, "chat script")
            trusted = True
        except PppupError as distrust:
            if not os.path.exists(disk):
                report.fix(at, f"{path}: the chat script does not exist; fix the path in the account's chat_file")
                draft.fix_comments.append(f'chat_file = "..."   ({path} does not exist)')
                return None
            if not os.access(disk, os.R_OK):
                hint = " (/etc/chatscripts is readable only by root and group dip)" \
                    if path.startswith("/etc/chatscripts/") else ""
                report.fix(at, f"{path}: you may not read the chat script{hint}: run the import as a "
                           "user who can, or copy the script yourself and set chat_file to the copy")
                draft.fix_comments.append(f'chat_file = "..."   (a readable copy of {path})')
                return None
            data = read_bytes(disk, "chat script")
            trusted = False
            report.note(at, f"{path} was copied, unchanged, because pppup would not use it where it is: "
                        f"{distrust.message}")
        script = _parse(data, path)
        self.script_data = data
        for line, text in placeholders(data):
            report.fix(where(path, line), f"the chat script still says {text}: write the real text there "
                       "(in the script the account's chat_file names)")
            draft.fix_comments.append(f"{path}:{line} still says {text}")
        if trusted and not self.options.copy_scripts and disk == path:
            draft.chat_file = path
            self.script_note = (at, f"chat script {path} -> used where it is, unchanged (chat_file)")
        else:
            draft.chat_copy = CopiedScript(path, data)
            if trusted:
                why = "--copy-scripts" if self.options.copy_scripts else f"read from {disk}"
                self.script_note = (at, f"chat script {path} -> copied unchanged next to the account ({why})")
        for step in script.steps:
            if isinstance(step, Send) and step.token.text.startswith(b"\\q") and b"\\U" not in step.token.text:
                report.note(where(path, step.token.line), "this line sends a secret written in the script "
                            "(\\q...): keep the script private, or send \\U and give [login] password_file")
        return script

    # ------------------------------------------------------------------ secrets
    def find_auth_secret(self) -> None:
        draft, report = self.draft, self.report
        user = draft.auth_user or ""
        unreadable = []
        for name in ("pap-secrets", "chap-secrets"):
            path = os.path.join(PPP_DIR, name)
            disk = self.on_disk(path)
            if not os.path.exists(disk):
                continue
            if not os.access(disk, os.R_OK):
                unreadable.append(path)
                continue
            entries = read_secrets(read_text(disk, "secrets file", report))
            found = find_secret(entries, user, self.remotename)
            if found is None:
                continue
            if found.secret.startswith("@"):
                report.fix(where(path, found.line), f"the secret of {user} is read from the file "
                           f"{found.secret[1:]}: put it into the account's secret file yourself")
                return
            draft.auth_secret = found.secret
            report.note(where(path, found.line), f"the secret of {user} -> a secret file of yours (mode "
                        "0600); pppup never writes the system's secrets files")
            return
        if unreadable:
            report.note(" and ".join(unreadable), f"the secret of {user} is in a file only root can read; "
                        "pppup asks for it (hidden) when dialling, or write it into a file of yours (chmod "
                        "600) and name it as [auth] secret_file")
        else:
            report.note("", f"no secret for {user} was found; pppup asks for it (hidden) when dialling")


def _parse(data: bytes, source: str) -> Script:
    try:
        return parse_bytes(data, source)
    except ChatScriptError as error:
        raise PppupError(f"{error}; chat(8) itself cannot run this script either", Code.CONFIG) from None


def _chat_texts(script: Script) -> list[bytes]:
    texts: list[bytes] = []
    for step in script.steps:
        if isinstance(step, Expect):
            texts.extend(step.pieces)
        elif isinstance(step, Send):
            texts.append(step.token.text)
        elif isinstance(step, Keyword):
            texts.append(step.argument.text)
    return texts


def import_peers(spec: str, options: ImportOptions, report: Report, root: str = "/") -> Draft:
    return PeerImport(spec, options, report, root).run()
