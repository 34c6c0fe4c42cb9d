"""`pppup import kppp [FILE]`: KPPP's accounts ([Account<n>] of kppprc) with their login scripts.

KPPP keeps everything in one KConfig file (kconfig.py): accounts in
[Account0], [Account1]..., the modem in [Modem] (old) or [Modem<n>] (the
one [General] DefaultModem names), settings in [General].  Key names,
defaults and meanings are KPPP's (pppdata.h/.cpp, connect.cpp, auth.h).

* Phonenumber is a ':'-separated list, dialled in turn; DialPrefix goes in
  front of each number.
* Authentication: 0 script, 1 PAP, 2 terminal window, 3 CHAP, 4 PAP/CHAP.
  PAP/CHAP -> [auth] user (Username) and a 0600 secret file (the stored
  Password); the login script (ScriptCommands/ScriptArguments, two
  KConfig string lists) becomes pppup's KPPP-style text script.
* Script call-back (KPPP's callback chapter: a dial string like
  AT&C0S0=1DT, a script that logs in, chooses a number, logs in again)
  becomes a [callback] account: the Send after the menu's Expect is the
  choice, pppup sets the modem up for the call-back itself.
* KPPP's pppd options (crtscts, defaultroute, usepeerdns, -chap/-pap, a
  static address, pppdArguments) go into the new peer file.
"""
from __future__ import annotations

import os
import re

from pppup_protocol.errors import Code, PppupError

from .. import accounts
from ..accounts import _AUTH_USER
from ..chat.errors import ChatScriptError
from ..chat.kppp_script import parse_login_script
from .draft import Draft, ImportOptions, settle_names
from .kconfig import Entry, KConfig, number, split_list
from .kppp_login import callback_table, convert_commands
from .login_text import render_line
from .modem_strings import (asks_auto_answer, name_from, speed_of, split_dial_string, valid_init, valid_phone,
                            without_callback_setup)
from .pppd_words import DROPPED_OPTIONS, Word, split_options
from .report import Report
from .sources import read_text

DEFAULT_FILES = (".config/kppprc", ".kde/share/config/kppprc", ".kde4/share/config/kppprc",
                 ".trinity/share/config/kppprc", ".kde3/share/config/kppprc")
AUTH_SCRIPT, AUTH_PAP, AUTH_TERMINAL, AUTH_CHAP, AUTH_PAPCHAP = range(5)
MODEM_DEFAULTS = {"AnswerString": "ATA", "RingResponse": "RING", "AnswerResponse": "CONNECT",
                  "HangupString": "+++ATH", "HangUpResponse": "OK", "ConnectResponse": "CONNECT",
                  "BusyResponse": "BUSY", "NoCarrierResponse": "NO CARRIER", "NoDialToneResp": "NO DIALTONE",
                  "InitResponse": "OK", "EscapeString": "+++", "EscapeResponse": "OK"}
_ACCOUNT_GROUP = re.compile(r"Account([0-9]+)")
_MODEM_GROUP = re.compile(r"Modem([0-9]+)")


class KpppFile:
    def __init__(self, path: str, report: Report) -> None:
        self.path = path
        self.conf = KConfig()
        self.conf.load(read_text(path, "KPPP configuration", report), path, report)

    def accounts(self, report: Report) -> list[tuple[int, dict[str, Entry]]]:
        """The accounts KPPP lists: [Account0] up to [General] NumberOfAccounts, leftovers skipped.

        Deleting an account leaves its last group behind with every value
        emptied, and a new account given up on leaves `pppdArguments=`:
        KPPP shows neither, so neither becomes a pppup account.
        """
        count = self.count("NumberOfAccounts")
        found = []
        for name, group in self.conf.groups.items():
            match = _ACCOUNT_GROUP.fullmatch(name)
            if match is None:
                continue
            index = int(match.group(1))
            where = f"{self.path} [{name}]"
            if count is not None and index >= count:
                report.note(where, f"skipped: [General] NumberOfAccounts = {count}, so KPPP does not use this "
                            "group (a deleted account's leftovers)")
            elif not any(group[key].value for key in ("Name", "Phonenumber", "ScriptCommands") if key in group):
                report.note(where, "skipped: an empty account (no Name, no Phonenumber), as KPPP leaves one "
                            "behind")
            else:
                found.append((index, group))
        return sorted(found, key=lambda pair: pair[0])

    def count(self, key: str) -> int | None:
        entry = self.conf.get("General", key)
        return number(entry, -1) if entry is not None and number(entry, -1) >= 0 else None

    def modem(self) -> tuple[str, dict[str, Entry]]:
        """The modem group KPPP would use: [General] DefaultModem, else the first, else the old [Modem]."""
        count = self.count("NumberOfModems")
        numbered = sorted((int(match.group(1)), name) for name, group in self.conf.groups.items()
                          if (match := _MODEM_GROUP.fullmatch(name))
                          and (count is None or int(match.group(1)) < count)
                          and any(entry.value for entry in group.values()))
        wanted = self.conf.get("General", "DefaultModem")
        for _, name in numbered:
            entry = self.conf.get(name, "Name")
            if wanted is not None and entry is not None and entry.value == wanted.value:
                return name, self.conf.group(name)
        if numbered:
            return numbered[0][1], self.conf.group(numbered[0][1])
        return "Modem", self.conf.group("Modem")


class KpppImport:
    def __init__(self, kppp: KpppFile, index: int, group: dict[str, Entry], options: ImportOptions,
                 report: Report) -> None:
        self.kppp = kppp
        self.conf = kppp.conf
        self.group = group
        self.group_name = f"Account{index}"
        self.options = options
        self.report = report
        account_name = self.text("Name") or f"account{index}"
        name = options.name or name_from(account_name, f"kppp{index}")
        command = f"pppup import kppp {kppp.path}"
        self.draft = Draft(name, f"[{self.group_name}] {account_name!r} of {kppp.path}", command)
        self.draft.description = f"KPPP account {account_name}"
        self.modem_name, self.modem_group = kppp.modem()
        self.dial_extra: str | None = None        # AT commands in front of the dial string's D
        self.auto_answer = False                  # the modem is told to answer calls (call-back)
        self.user = self.password = ""

    def text(self, key: str, default: str = "") -> str:
        entry = self.group.get(key)
        return entry.value if entry is not None else default

    def at(self, key: str, group: dict[str, Entry] | None = None) -> str:
        entry = (group if group is not None else self.group).get(key)
        if entry is not None:
            return entry.where
        name = self.group_name if group is None else self.modem_name
        return f"{self.kppp.path} [{name}]"

    def modem_text(self, key: str, default: str = "") -> str:
        entry = self.modem_group.get(key)
        return entry.value if entry is not None else default

    def run(self) -> Draft:
        self.numbers()
        self.modem()
        self.authentication()
        self.script()
        self.pppd()
        self.general()
        settle_names(self.draft, self.options)
        return self.draft

    # ------------------------------------------------------------------ dialling
    def numbers(self) -> None:
        draft, report = self.draft, self.report
        prefix = self.text("DialPrefix")
        for given in self.text("Phonenumber").split(":"):
            given = given.strip()
            if not given:
                continue
            dialled = prefix + given
            if valid_phone(dialled):
                draft.phone.append(dialled)
            else:
                report.fix(self.at("Phonenumber"), f"{dialled!r} is not a phone number pppup can dial (digits "
                           "and , W P T * # - ( ) + . and spaces): write it as phone in the account")
        if prefix:
            report.note(self.at("DialPrefix"), f"DialPrefix {prefix!r} is written in front of each number")
        if not draft.phone:
            report.fix(self.at("Phonenumber"), "no phone number to dial: add phone = \"NUMBER\" to the account")
            draft.fix_comments.append('phone = "NUMBER"   (the KPPP account has no usable Phonenumber)')

    def modem(self) -> None:
        draft, report, group = self.draft, self.report, self.modem_group
        device = self.modem_text("Device", "/dev/modem")
        draft.device = device if device.startswith("/") else "/dev/" + device
        speed_text = self.modem_text("Speed", "57600")
        speed = speed_of(speed_text)
        if speed is None:
            report.dropped(self.at("Speed", group), f"Speed {speed_text} is not a serial speed pppup can set")
        else:
            draft.speed = speed
        flow = self.modem_text("FlowControl", "Hardware [CRTSCTS]")
        if "CRTSCTS" in flow.upper():
            draft.rtscts = True
            draft.add_peer_option("crtscts")
        elif "XON" in flow.upper():
            draft.add_peer_option("xonxoff")
            report.note(self.at("FlowControl", group), "XON/XOFF flow control -> the peer file (pppd); "
                        "pppup dials without flow control")
        ending = self.modem_text("Enter", "CR").strip().upper()
        if ending in ("CR", "LF", "CR/LF"):
            draft.line_ending = ending if ending != "CR" else None
        else:
            report.dropped(self.at("Enter", group), f"Enter = {ending!r} is not CR, LF or CR/LF; CR is used")
        timeout = number(group.get("Timeout"), 60)
        draft.connect_timeout = min(max(timeout, 5), 600)
        busy_wait = number(group.get("BusyWait"), 0)
        if busy_wait > 0:
            draft.redial["delay"] = float(min(busy_wait, 3600))
        self.init_commands()
        for key, default in MODEM_DEFAULTS.items():
            value = self.modem_text(key, default)
            if value != default:
                report.dropped(self.at(key, group), f"{key} = {value!r}: pppup uses the standard modem "
                               f"strings ({default!r})")

    def init_commands(self) -> None:
        draft, report, group = self.draft, self.report, self.modem_group
        commands = [("InitString", self.modem_text("InitString", "ATZ")),
                    ("InitString1", self.modem_text("InitString1", ""))]
        tone = number(group.get("ToneDuration"), 70)
        if tone != 70:
            commands.append(("ToneDuration", f"ATS11={tone}"))
        volume = number(group.get("Volume"), 1)
        volume_key = {0: "VolumeOff", 1: "VolumeMedium", 2: "VolumeHigh"}.get(volume)
        volume_default = {0: "M0L0", 1: "M1L1", 2: "M1L3"}.get(volume, "")
        if volume_key is not None:
            setting = self.modem_text(volume_key, volume_default)
            if setting:
                commands.append((volume_key, "AT" + setting))
        if not number(group.get("WaitForDialTone"), 1):
            commands.append(("NoDialToneDetection", self.modem_text("NoDialToneDetection", "ATX3")))
        for key, command in commands:
            if not command:
                continue
            if valid_init(command):
                draft.init.append(command)
            else:
                report.fix(self.at(key, group), f"{key} {command!r} is not an AT command pppup can send "
                           "(AT + at most 58 printable characters): left out")
        dial = self.modem_text("DialString", "ATDT")
        split = split_dial_string(dial)
        if split is None:
            report.fix(self.at("DialString", group), f"DialString {dial!r} does not end in D, DT or DP: the "
                       "account dials with ATDT")
            return
        draft.dial_command = split.command if split.command != "ATDT" else None
        self.dial_extra = split.extra
        self.auto_answer = any(asks_auto_answer(command) for _, command in commands) or \
            (split.extra is not None and asks_auto_answer(split.extra))

    # ------------------------------------------------------------------ logging in
    def authentication(self) -> None:
        draft, report = self.draft, self.report
        method = number(self.group.get("Authentication"), AUTH_SCRIPT)
        user = self.text("Username")
        stored = number(self.group.get("StorePassword"), 1)
        password = self.text("Password") if stored else ""
        self.user, self.password = user, password
        if method in (AUTH_PAP, AUTH_CHAP, AUTH_PAPCHAP):
            if user and _AUTH_USER.fullmatch(user):
                draft.auth_user = user
                if password:
                    draft.auth_secret = password
                    report.note(self.at("Password"), "the stored password -> a secret file of yours (mode "
                                "0600); KPPP wrote it into /etc/ppp/pap-secrets, pppup hands it to pppd "
                                "through a pipe")
            else:
                report.fix(self.at("Username"), f"PAP/CHAP user {user!r} is missing or has characters pppd "
                           "cannot take from pppup: set [auth] user in the account")
            refuse = {AUTH_PAP: "refuse-chap", AUTH_CHAP: "refuse-pap"}.get(method)
            if refuse:
                draft.add_peer_option(refuse)
        elif method == AUTH_TERMINAL:
            report.fix(self.at("Authentication"), "terminal-based login (KPPP's window where you typed the "
                       "login yourself): pppup has no such window; write a login script with Prompt "
                       "commands, which ask you on the terminal (docs/accounts.md)")
        elif method != AUTH_SCRIPT:
            report.dropped(self.at("Authentication"), f"Authentication = {method} is not a KPPP method; "
                           "treated as script-based")
        callback = number(self.group.get("CallbackType"), 0)
        if callback:
            report.dropped(self.at("CallbackType"), "CBCP call-back (KPPP's Callback tab) is not supported; "
                           "pppup does the script call-back of KPPP's callback chapter instead")

    def script(self) -> None:
        draft, report = self.draft, self.report
        names_entry, arguments_entry = self.group.get("ScriptCommands"), self.group.get("ScriptArguments")
        names = split_list(names_entry.value) if names_entry else []
        arguments = split_list(arguments_entry.value) if arguments_entry else []
        if not names:
            self.plain_dial_extra()
            return
        at = self.at("ScriptCommands")
        if len(arguments) != len(names):
            report.note(at, f"{len(names)} script commands but {len(arguments)} arguments; missing arguments "
                        "are taken as empty")
            arguments = (arguments + [""] * len(names))[: len(names)]
        commands = convert_commands(at, names, arguments, self.report)
        callback = self.find_callback(at, commands)
        lines = [f"# KPPP login script of {draft.source}"]
        lines += [render_line(name, argument) for name, argument in commands]
        text = "\n".join(lines) + "\n"
        try:
            parsed = parse_login_script(text, draft.source, strict=True)
        except ChatScriptError as error:
            report.fix(at, f"the login script could not be carried over ({error}); write it by hand "
                       "(docs/accounts.md)")
            return
        draft.login_script = text
        uses_id = any(c.name == "ID" or "%USERNAME%" in c.argument for c in parsed.commands)
        uses_password = any(c.name == "Password" or "%PASSWORD%" in c.argument for c in parsed.commands)
        if uses_id and self.user:
            draft.login_user = self.user
        if uses_password:
            if self.password:
                draft.login_password = self.password
                report.note(self.at("Password"), "the stored password -> a secret file of yours (mode "
                            "0600) for the script's Password command")
            else:
                report.note(self.at("StorePassword"), "KPPP did not store the password: pppup asks for it "
                            "(hidden) when dialling")
        if any("%USERNAME%" in argument or "%PASSWORD%" in argument for _, argument in commands):
            report.note(at, "KPPP sent %USERNAME%/%PASSWORD% in Send literally (a KPPP bug); pppup replaces "
                        "them with the user name and password")
        report.note(at, f"the login script ({len(commands)} commands) -> login_script in pppup's KPPP text "
                    "format (docs/chat.md)")
        if callback is not None:
            draft.callback = callback
        else:
            self.plain_dial_extra()

    def find_callback(self, at: str, commands: list[tuple[str, str]]) -> dict[str, object] | None:
        """The [callback] table when this is KPPP's script call-back (the script is made fit for it)."""
        draft, report = self.draft, self.report
        table = callback_table(at, commands, self.auto_answer, report)
        if table is not None and self.dial_extra:
            rest = without_callback_setup(self.dial_extra)
            if rest:
                draft.init.append(rest)
            report.note(self.at("DialString", self.modem_group), f"DialString extras {self.dial_extra!r}: "
                        "&C0 and S0=1 are set by pppup's call-back; " + (f"{rest!r} kept" if rest else
                                                                      "nothing else to keep"))
        return table

    def plain_dial_extra(self) -> None:
        if not self.dial_extra:
            return
        self.draft.init.append(self.dial_extra)
        text = f"DialString -> init {self.dial_extra!r} then {self.draft.dial_command or 'ATDT'}"
        if asks_auto_answer(self.dial_extra):
            text += ("; it makes the modem answer calls (S0), as KPPP did for every account: pppup turns "
                     "that off when the session ends; drop it from init unless you need it")
        self.report.note(self.at("DialString", self.modem_group), text)

    # ------------------------------------------------------------------ pppd and the rest
    def pppd(self) -> None:
        draft, report = self.draft, self.report
        if number(self.group.get("DefaultRoute"), 1):
            draft.add_peer_option("defaultroute")
        if number(self.group.get("AutoDNS"), 1):
            draft.add_peer_option("usepeerdns")
        draft.add_peer_option("noauth")
        address = self.text("IPAddr", "0.0.0.0")
        gateway = self.text("Gateway", "0.0.0.0")
        if address not in ("", "0.0.0.0") or gateway not in ("", "0.0.0.0"):
            local = address if address not in ("", "0.0.0.0") else ""
            remote = gateway if gateway not in ("", "0.0.0.0") else ""
            draft.add_peer_option(f"{local}:{remote}")
            report.note(self.at("IPAddr"), "the static address -> the peer file")
        mask = self.text("SubnetMask", "0.0.0.0")
        if mask not in ("", "0.0.0.0"):
            draft.add_peer_option("netmask", mask)
        arguments = self.group.get("pppdArguments")
        if arguments is not None and arguments.value:
            words = [Word(word, arguments.line, False) for item in split_list(arguments.value)
                     for word in item.split()]
            for use in split_options(words):
                shown = use.name + (f" {use.argument}" if use.argument else "")
                if use.kind != "option":
                    report.dropped(arguments.where, f"pppd argument {shown!r} is not a pppd option; left out")
                elif use.name in DROPPED_OPTIONS:
                    report.dropped(arguments.where, f"pppd argument {shown}: {DROPPED_OPTIONS[use.name]}")
                elif use.name in ("idle", "maxconnect"):
                    seconds = int(use.argument) if use.argument and use.argument.isdigit() else 0
                    if seconds <= 0:
                        report.dropped(arguments.where, f"pppd argument {shown}: no limit (or not a number), "
                                       "so none for the policy rule")
                    elif use.name == "idle":
                        draft.rule_idle = seconds
                    else:
                        draft.rule_maxconnect = seconds
                    if seconds > 0:
                        report.note(arguments.where, f"pppd argument {shown} -> the policy rule")
                elif use.name in ("user", "password", "connect", "file", "call", "name", "remotename"):
                    report.dropped(arguments.where, f"pppd argument {use.name}: not taken from an account; "
                                   "ask the administrator if the peer file needs it")
                else:
                    draft.add_peer_option(use.name, use.argument)
                    report.note(arguments.where, f"pppd argument {shown} -> the peer file")
        draft.peer_comments.append("The options KPPP gave pppd (connect.cpp) for this account, and noauth.")
        for key, why in (("Command", "a program KPPP ran once connected"),
                         ("BeforeConnect", "a program KPPP ran before connecting"),
                         ("BeforeDisconnect", "a program KPPP ran before disconnecting"),
                         ("DisconnectCommand", "a program KPPP ran after disconnecting"),
                         ("DNS", "DNS servers KPPP wrote into /etc/resolv.conf"),
                         ("Domain", "a domain KPPP wrote into /etc/resolv.conf")):
            if self.text(key):
                report.dropped(self.at(key), f"{key} = {self.text(key)!r}: {why}; pppup runs no programs and "
                               "leaves resolv.conf to pppd (usepeerdns) and the system (/etc/ppp/ip-up.d)")
        for key, why in (("AccountingEnabled", "cost accounting"), ("VolumeAccountingEnabled", "volume accounting"),
                         ("AutoName", "setting the host name from the address")):
            if number(self.group.get(key), 0):
                report.dropped(self.at(key), f"{key}: {why} is not part of pppup (`pppup status` shows bytes)")

    def general(self) -> None:
        draft, report, conf = self.draft, self.report, self.conf
        if number(conf.get("General", "AutomaticRedial"), 0):
            report.dropped(conf.get("General", "AutomaticRedial").where, "AutomaticRedial: pppup never redials "
                           "a link that dropped by itself (every call costs); run pppup again")
        timeout = conf.get("General", "pppdTimeout")
        if timeout is not None:
            draft.ppp_timeout = min(max(number(timeout, 30), 5), 300)


def default_file() -> str:
    home = accounts.home_dir()
    for relative in DEFAULT_FILES:
        path = os.path.join(home, relative)
        if os.path.exists(path):
            return path
    raise PppupError("no KPPP configuration found (looked for ~/" + ", ~/".join(DEFAULT_FILES) + "); give the "
                     "file: pppup import kppp FILE", Code.USAGE)


def import_kppp(file: str | None, account: str | None, options: ImportOptions, report: Report
                ) -> list[tuple[Draft, Report]]:
    """One draft per KPPP account (or the one `account` names); each with its own report."""
    kppp = KpppFile(file or default_file(), report)
    found = kppp.accounts(report)
    if not found:
        raise PppupError(f"{kppp.path} has no KPPP accounts ([Account0] ...); is it the right file?", Code.USAGE)
    if account is not None:
        chosen = [(index, group) for index, group in found
                  if account in (str(index), group["Name"].value if "Name" in group else None)]
        if not chosen:
            names = ", ".join(group["Name"].value if "Name" in group else f"#{index}" for index, group in found)
            raise PppupError(f"{kppp.path} has no KPPP account {account!r}; it has: {names}", Code.USAGE)
        found = chosen
    if options.name and len(found) > 1:
        raise PppupError(f"{kppp.path} has {len(found)} accounts: --name needs one, chosen with --account",
                         Code.USAGE)
    results = []
    for index, group in found:
        own = Report()
        own.items.extend(report.items)
        results.append((KpppImport(kppp, index, group, options, own).run(), own))
    return results
