"""`pppup import wvdial [FILE] [SECTION]`: a wvdial.conf section (with [Dialer Defaults] and Inherits).

Without FILE both /etc/wvdial.conf and ~/.wvdialrc are read, the second
overriding the first, as wvdial does.  SECTION is `NAME` or `Dialer NAME`
(default: [Dialer Defaults]); its settings come from the section, the
sections it inherits from, then [Dialer Defaults], then wvdial's own
defaults (wvdialer.cc).

wvdial dials with its own pppd options (`modem crtscts defaultroute
noipdefault`, `usepeerdns` with Auto DNS) and pppd reads
/etc/ppp/peers/wvdial (`noauth`); the new peer file says the same.  What
wvdial guesses at run time (its "brain" that answers login prompts and
menus) cannot be written down: with Login Prompt / Password Prompt set the
account gets a login script doing that part, otherwise PPP starts right
after CONNECT as in Stupid Mode, and the report says so.
"""
from __future__ import annotations

import os
import shlex

from pppup_protocol.errors import Code, PppupError

from .. import accounts
from ..accounts import _AUTH_USER
from .draft import Draft, ImportOptions, settle_names
from .login_text import parse_checked, render_line, representable
from .modem_strings import name_from, speed_of, split_dial_string, valid_init, valid_phone
from .pppd_words import FLAG_OPTIONS
from .report import Report
from .sources import read_text
from .wvconf import DEFAULTS, Value, WvConf

SYSTEM_FILE = "/etc/wvdial.conf"
USER_FILE = ".wvdialrc"
DEFAULT_BAUD = 57600
# Settings we read, and those that only matter to wvdial itself (reported when set).
USED = {"modem", "baud", "init", "dial command", "dial prefix", "area code", "username", "password",
        "ask password", "login prompt", "password prompt", "stupid mode", "dial timeout", "dial attempts",
        "idle seconds", "auto dns", "force address", "pppd option", "isdn", "inherits", "auto reconnect",
        "abort on busy", "abort on no dialtone", "default reply", "remote name", "pppd path",
        "carrier check", "compuserve", "tonline", "new pppd", "modem type"} | \
       {f"init{n}" for n in range(1, 10)} | {"phone"} | {f"phone{n}" for n in range(1, 5)}
WVDIAL_ONLY = {
    "check dns": "pppup does not test DNS after the link is up",
    "check def route": "pppup does not test the default route after the link is up",
    "dns test1": "pppup does not test DNS after the link is up",
    "dns test2": "pppup does not test DNS after the link is up",
    "country": "shown by wvdial only", "provider": "shown by wvdial only", "product": "shown by wvdial only",
    "homepage": "shown by wvdial only", "dialmessage1": "shown by wvdial only",
    "dialmessage2": "shown by wvdial only",
}


def truth(text: str) -> int:
    """wvstreams' check_for_bool_string: on/true/yes, off/false/no*, else the leading number."""
    lowered = text.strip().lower()
    if lowered in ("off", "false") or lowered.startswith("no"):
        return 0
    if lowered in ("on", "true", "yes"):
        return 1
    digits = ""
    for char in lowered.lstrip("+-"):
        if not char.isdigit():
            break
        digits += char
    number = int(digits) if digits else 0
    return -number if lowered.startswith("-") else number


class WvdialImport:
    def __init__(self, files: list[str], section: str | None, options: ImportOptions, report: Report,
                 explicit_file: bool) -> None:
        self.files = files
        self.explicit_file = explicit_file
        self.options = options
        self.report = report
        self.conf = WvConf()
        self.section_arg = section

    def run(self) -> Draft:
        conf, report = self.conf, self.report
        for path in self.files:
            conf.load(read_text(path, "wvdial configuration", report), path, report)
        section = self.choose_section()
        self.section = section
        label = conf.section_name(section)
        short = label[len("dialer "):] if label.lower().startswith("dialer ") else label
        name = self.options.name or ("wvdial" if section == DEFAULTS else name_from(short, "wvdial"))
        files = " + ".join(self.files)
        command = "pppup import wvdial" + (f" {shlex.quote(self.files[0])}" if self.explicit_file else "") + \
            (f" {shlex.quote(short)}" if self.section_arg else "")
        self.draft = draft = Draft(name, f"[{label}] of {files}", command)
        draft.description = f"imported from [{label}] of {files}"
        chain = [f"[{conf.names[key]}]" for key in conf.chain(section, report)]
        if len(chain) > 1 or section != DEFAULTS:
            path, line = conf.header[section]
            report.note(f"{path}:{line}", "settings were looked up in " + ", ".join(chain) +
                        (", [Dialer Defaults]" if section != DEFAULTS and conf.has(DEFAULTS) else "") +
                        ", then wvdial's defaults, as wvdial does")
        self.modem()
        self.numbers()
        self.login()
        self.behaviour()
        self.pppd()
        self.leftovers()
        settle_names(draft, self.options)
        return draft

    def choose_section(self) -> str:
        conf = self.conf
        wanted = self.section_arg
        if wanted is None:
            if not conf.has(DEFAULTS) and len(conf.sections) == 1:
                return next(iter(conf.sections))
            if not conf.has(DEFAULTS):
                raise PppupError(f"{' and '.join(self.files)} has no [Dialer Defaults]; name a section: "
                                 f"{self.available()}", Code.USAGE)
            return DEFAULTS
        for candidate in (f"dialer {wanted}", wanted):
            if conf.has(candidate):
                return candidate.lower()
        raise PppupError(f"there is no section [Dialer {wanted}] in {' and '.join(self.files)}; the sections "
                         f"are: {self.available()}", Code.USAGE)

    def available(self) -> str:
        return ", ".join(f"[{self.conf.names[key]}]" for key in self.conf.sections) or "none"

    def get(self, key: str) -> Value | None:
        return self.conf.lookup(self.section, key, self.report)

    def text(self, key: str, default: str = "") -> str:
        found = self.get(key)
        return found.value if found is not None else default

    def flag(self, key: str, default: bool) -> bool:
        found = self.get(key)
        return bool(truth(found.value)) if found is not None else default

    def where(self, key: str) -> str:
        found = self.get(key)
        return found.where if found is not None else f"{self.files[-1]} [{self.conf.section_name(self.section)}]"

    # ------------------------------------------------------------------ the modem
    def modem(self) -> None:
        draft, report = self.draft, self.report
        device = self.text("modem") or "/dev/modem"
        draft.device = device if device.startswith("/") else "/dev/" + device
        if self.get("modem") is None:
            report.note("", "no Modem setting: wvdial's default /dev/modem goes into the policy's line")
        baud = self.text("baud", str(DEFAULT_BAUD))
        speed = speed_of(baud)
        if speed is None:
            report.dropped(self.where("baud"), f"Baud = {baud} is not a serial speed pppup can set; the "
                           "account uses its default (115200)")
        else:
            draft.speed = speed
        init_values: list[tuple[str, str]] = []
        first = self.get("init") or self.get("init1")
        init_values.append(("Init1", first.value if first is not None else "ATZ"))
        for number in range(2, 10):
            init_values.append((f"Init{number}", self.text(f"init{number}")))
        for key, command in init_values:
            if not command:
                continue
            if valid_init(command):
                draft.init.append(command)
            else:
                report.fix(self.where(key.lower()), f"{key} = {command!r} is not an AT command pppup can "
                           "send (AT + at most 58 printable characters): left out")
        dial = self.text("dial command", "ATDT")
        split = split_dial_string(dial)
        if split is None:
            report.fix(self.where("dial command"), f"Dial Command = {dial!r} does not end in D, DT or DP: "
                       "the account dials with ATDT")
        else:
            draft.dial_command = split.command if split.command != "ATDT" else None
            if split.extra:
                draft.init.append(split.extra)
                report.note(self.where("dial command"), f"Dial Command = {dial} -> init {split.extra!r} then "
                            f"{split.command}")
        draft.rtscts = True
        timeout = self.get("dial timeout")
        if timeout is not None:
            seconds = truth(timeout.value)
            draft.connect_timeout = min(max(seconds, 5), 600)
            if draft.connect_timeout != seconds:
                report.note(timeout.where, f"Dial Timeout = {timeout.value} -> connect_timeout = "
                            f"{draft.connect_timeout} (pppup takes 5 to 600 s)")

    def numbers(self) -> None:
        draft, report = self.draft, self.report
        prefix = self.text("dial prefix")
        area = self.text("area code")
        keys = ["phone"]
        for number in range(1, 5):
            if not self.text(f"phone{number}"):
                break
            keys.append(f"phone{number}")
        for key in keys:
            given = self.text(key)
            if not given:
                continue
            number = (f"{prefix}," if prefix else "") + area + given
            if valid_phone(number):
                draft.phone.append(number)
            else:
                report.fix(self.where(key), f"{key.title()} = {given!r} is not a phone number pppup can dial "
                           "(digits and , W P T * # - ( ) + . and spaces): write it as phone in the account")
        if prefix or area:
            report.note(self.where("dial prefix" if prefix else "area code"), "Dial Prefix and Area Code are "
                        "written in front of each number, as wvdial dials them")
        if not draft.phone:
            report.fix(self.where("phone"), "no phone number to dial: add phone = \"NUMBER\" to the account")
            draft.fix_comments.append('phone = "NUMBER"   (wvdial.conf gave no usable Phone)')
        if not self.text("phone1") and any(self.text(f"phone{n}") for n in range(2, 5)):
            report.dropped(self.where("phone2"), "Phone2..Phone4 without Phone1 are never dialled by wvdial")

    # ------------------------------------------------------------------ logging in
    def login(self) -> None:
        draft, report = self.draft, self.report
        user = self.text("username")
        password = self.text("password")
        ask = self.flag("ask password", False)
        if user.startswith("<") and user.endswith(">"):
            report.fix(self.where("username"), f"Username = {user} is wvdialconf's placeholder: put your "
                       "login name into the account ([auth] user)")
            user = ""
        if password.startswith("<") and password.endswith(">"):
            report.fix(self.where("password"), f"Password is wvdialconf's placeholder: pppup will ask for "
                       "the password when dialling, or write it into the secret file")
            password = ""
        if user and not user.strip():
            # `Username = { }`: wvdial refuses an empty name, so mobile set-ups give it a blank one
            # that the network ignores.  pppd cannot take a blank name from pppup; without one it
            # offers no PAP/CHAP, which such networks accept (Debian's gprs peer has no user either).
            report.note(self.where("username"), f"Username = {self.get('username').value!r} is a blank name "
                        "(the filler for networks that take any name): the account has no [auth] user, so "
                        "pppd offers no name and no password; if your network insists on one, set [auth] "
                        "user and secret_file")
            user = password = ""
        if user:
            if _AUTH_USER.fullmatch(user):
                draft.auth_user = user
            else:
                report.fix(self.where("username"), f"Username = {user!r} has characters pppd cannot take "
                           "from pppup (spaces or control characters): set [auth] user by hand")
        if password and user and draft.auth_user is not None:
            if ask:
                report.note(self.where("ask password"), "Ask Password is on: pppup asks for the password "
                            "(hidden) when dialling; the stored Password was not copied")
            else:
                draft.auth_secret = password
                report.note(self.where("password"), "Password -> a secret file of yours (mode 0600); wvdial "
                            "wrote it into /etc/ppp/pap-secrets, pppup hands it to pppd through a pipe")
        stupid = self.flag("stupid mode", False)
        login_prompt = self.text("login prompt")
        pass_prompt = self.text("password prompt")
        if stupid:
            report.note(self.where("stupid mode"), "Stupid Mode: PPP starts right after CONNECT (no login "
                        "script), as wvdial did")
            return
        if login_prompt or pass_prompt:
            self.login_script(login_prompt, pass_prompt, user, password if not ask else "")
            return
        report.note("", "wvdial's automatic login (it answers login and password prompts and menus it "
                    "recognises, and sends `ppp`) cannot be written down: PPP starts right after CONNECT, "
                    "which suits PAP/CHAP providers.  If yours shows a login prompt, set Login Prompt and "
                    "Password Prompt in wvdial.conf and import again, or add a login script "
                    "(docs/migrating.md)")
        if self.get("default reply") is not None:
            report.dropped(self.where("default reply"), "Default Reply belongs to wvdial's automatic login")

    def login_script(self, login_prompt: str, pass_prompt: str, user: str, password: str) -> None:
        draft, report = self.draft, self.report
        lines = [f"# Made from Login Prompt / Password Prompt of {draft.source}"]
        for prompt, command, key in ((login_prompt, "ID", "login prompt"),
                                     (pass_prompt, "Password", "password prompt")):
            if not prompt:
                continue
            if not representable(prompt):
                report.fix(self.where(key), f"{key.title()} holds control characters; write the login "
                           "script by hand")
                return
            lines += [render_line("Expect", prompt), render_line(command, "")]
        text = "\n".join(lines) + "\n"
        parse_checked(text, draft.source)
        draft.login_script = text
        draft.login_user = user or None
        if password:
            draft.login_password = password
        report.note(self.where("login prompt" if login_prompt else "password prompt"),
                    "Login Prompt / Password Prompt -> a login script (Expect, ID, Expect, Password); if the "
                    "server wants a command after the password (e.g. ppp), add `Expect >` and `Send ppp`")

    # ------------------------------------------------------------------ what wvdial does around pppd
    def behaviour(self) -> None:
        draft, report = self.draft, self.report
        attempts = self.get("dial attempts")
        if attempts is not None:
            count = truth(attempts.value)
            if count <= 0:
                draft.redial["attempts"] = 100
                report.note(attempts.where, "Dial Attempts = 0 (for ever) -> 100 attempts, pppup's most; the "
                            "policy may allow fewer")
            else:
                draft.redial["attempts"] = min(count, 100)
        if self.flag("auto reconnect", True) and truth(self.text("idle seconds", "0")) <= 0:
            report.dropped(self.where("auto reconnect"), "Auto Reconnect: pppup never redials a link that "
                           "dropped by itself (every call costs); run pppup again")
        for key, what in (("abort on busy", "BUSY"), ("abort on no dialtone", "NO DIALTONE")):
            found = self.get(key)
            if found is not None:
                report.dropped(found.where, f"{found.key} = {found.value}: pppup redials after {what} within "
                               "the account's [redial] attempts and the policy's budget")
        carrier = self.get("carrier check")
        if carrier is not None and not truth(carrier.value):
            report.dropped(carrier.where, "Carrier Check = off: pppup does not look at the carrier line "
                           "while dialling, so nothing needs turning off")
        for key in ("compuserve", "tonline"):
            found = self.get(key)
            if found is not None and truth(found.value):
                report.dropped(found.where, f"{found.key}: wvdial's special login for that provider is not "
                               "carried over; write a login script")

    def pppd(self) -> None:
        draft, report = self.draft, self.report
        idle = truth(self.text("idle seconds", "0"))
        if idle > 0:
            draft.rule_idle = idle
            draft.rule_comments.append(f"idle {idle}: Idle Seconds of {draft.source}")
            report.note(self.where("idle seconds"), f"Idle Seconds = {idle} -> idle in the policy rule")
        draft.add_peer_option("noauth")
        draft.add_peer_option("modem")
        draft.add_peer_option("crtscts")
        draft.add_peer_option("defaultroute")
        force = self.text("force address")
        if force:
            draft.add_peer_option(force if ":" in force else force + ":")
        else:
            draft.add_peer_option("noipdefault")
        if self.flag("auto dns", True):
            draft.add_peer_option("usepeerdns")
        if self.flag("isdn", False):
            draft.add_peer_option("default-asyncmap")
        draft.peer_comments.append("The options wvdial gave pppd (wvdialer.cc) and /etc/ppp/peers/wvdial's noauth.")
        option = self.text("pppd option")
        if option:
            if option in FLAG_OPTIONS:
                draft.add_peer_option(option)
                report.note(self.where("pppd option"), f"PPPD Option = {option} -> the new peer file")
            else:
                report.dropped(self.where("pppd option"), f"PPPD Option = {option!r} is not an argument-free "
                               "pppd option; ask the administrator to add it to the peer file")
        path = self.get("pppd path")
        if path is not None and path.value != "/usr/sbin/pppd":
            report.dropped(path.where, f"PPPD Path = {path.value}: pppup's helper always runs /usr/sbin/pppd")
        remote = self.get("remote name")
        if remote is not None and remote.value != "*":
            report.dropped(remote.where, f"Remote Name = {remote.value}: it only chose the line of "
                           "pap-secrets; pppup hands the secret to pppd directly")
        report.note("", "wvdial's pppd options (modem crtscts defaultroute noipdefault, usepeerdns with Auto "
                    "DNS, noauth) -> the new peer file for the administrator")

    def leftovers(self) -> None:
        report = self.report
        for lower, value in self.conf.keys_seen(self.section).items():
            if lower in USED:
                continue
            if lower in WVDIAL_ONLY:
                report.dropped(value.where, f"{value.key}: {WVDIAL_ONLY[lower]}")
            else:
                report.dropped(value.where, f"{value.key} is not a wvdial setting pppup knows; ignored")


def default_files(report: Report) -> list[str]:
    files = []
    user_file = os.path.join(accounts.home_dir(), USER_FILE)
    for path in (SYSTEM_FILE, user_file):
        if not os.path.exists(path):
            continue
        if not os.access(path, os.R_OK):
            report.note(path, "not readable by you (Debian makes it root:dialout 0640); skipped")
            continue
        files.append(path)
    if not files:
        raise PppupError(f"no wvdial configuration to import: neither {SYSTEM_FILE} nor {user_file} is "
                         "there and readable; give the file: pppup import wvdial FILE [SECTION]", Code.USAGE)
    return files


def import_wvdial(file: str | None, section: str | None, options: ImportOptions, report: Report) -> Draft:
    files = [file] if file is not None else default_files(report)
    return WvdialImport(files, section, options, report, explicit_file=file is not None).run()
