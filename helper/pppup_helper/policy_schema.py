"""Strict validation of the parsed policy (a dict from tomllib) into a Policy.

Every key is known, every value has the right type and range, every name
follows its pattern, every reference resolves, users and groups exist.
Problems are collected (not raised) so `pppup-policy check` can list them
all; each is (key path, message, fix) and the caller turns the path into a
line of the file.  Nothing half-valid is ever returned: the caller refuses
the whole file if there is one problem (C2).
"""
from __future__ import annotations

import grp
import math
import pwd
import re
from collections import namedtuple

from .policy_flags import SAFE_FLAGS
from .policy_hours import HOURS_FIX, Hours, HoursSyntaxError
from .policy_model import (DEFAULT_DIAL_SECONDS, DEFAULT_DTR_HOLD, LineConfig, PeerConfig,
                           Principals, Rule)

TYPE_CHECKING = False
if TYPE_CHECKING:      # annotations only: typing costs every request ~3 ms of helper start-up
    from typing import Any

FORMAT_VERSION = 1

# Names of lines and peers reach file names (/etc/ppp/peers/NAME), lock and
# state names and pppd's argv (`call NAME`): a strict charset, no leading
# dash or dot, no "..", no whitespace (O1, O7, O9).
NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,31}")
NAME_FIX = "use 1-32 characters from a-z 0-9 . _ - starting with a letter or digit, without '..'"
ACCOUNT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,31}\$?")
DEVICE_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._:+@=,~-]{0,254}")
RDEV = re.compile(r"([0-9]{1,4}):([0-9]{1,7})")
RESET = re.compile(r"[Aa][Tt][\x20-\x7e]{0,58}")
# Devices that are never modem lines (D2): the controlling tty, consoles, VTs, the pty master.
NOT_A_LINE = re.compile(r"/dev/(tty|console|ptmx|tty[0-9]+|vcsa?[0-9]*|pts/ptmx|null|zero|full|u?random|mem|kmem|port"
                        r"|fd/.*|stdin|stdout|stderr)")
PTY_MAJORS = range(136, 144)

RANGES: dict[str, tuple[float, float, str]] = {
    "idle": (1, 604800, "seconds"),
    "maxconnect": (1, 2592000, "seconds"),
    "max_links": (1, 16, "links"),
    "dial_attempts": (1, 100, "attempts"),
    "dial_seconds": (10, 3600, "seconds"),
    "dtr_hold": (0.1, 10.0, "seconds"),
}

TOP_KEYS = ("version", "lines", "peers", "rules")
LINE_KEYS = ("device", "rdev", "pty", "dtr_hold", "reset", "admin_users", "admin_groups", "description")
PEER_KEYS = ("description",)
RULE_KEYS = ("name", "users", "groups", "lines", "peers", "flags", "idle", "maxconnect", "hours",
             "max_links", "dial_attempts", "dial_seconds")

Path = tuple[object, ...]


# What is wrong where: path (Path: keys from the top of the document), message, fix.
Problem = namedtuple("Problem", "path message fix")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _type_name(value: object) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
            list: "an array", dict: "a table"}.get(type(value), type(value).__name__)


def _suggest(word: str, choices: tuple[str, ...] | list[str]) -> str:
    import difflib  # only on the error path: keeps the helper's startup lean
    close = difflib.get_close_matches(word, choices, n=1)
    return f"did you mean {close[0]!r}? " if close else ""


class _Validator:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        # One lookup per name per load: rules repeat the same users and groups.
        self.uids: dict[str, int | None] = {}
        self.gids: dict[str, int | None] = {}
        self.hours: dict[tuple[str, ...], Hours] = {}

    def problem(self, path: Path, message: str, fix: str) -> None:
        self.problems.append(Problem(path, message, fix))

    # -- typed getters: return None (after recording a problem) when wrong ---
    def keys(self, table: dict[str, Any], allowed: tuple[str, ...], path: Path, what: str) -> None:
        for key in table:
            if key not in allowed:
                self.problem(path + (key,), f"unknown key {key!r} in {what}",
                             f"{_suggest(key, allowed)}keys of {what}: {', '.join(allowed)}")

    def text(self, value: object, path: Path, what: str, limit: int = 200) -> str | None:
        if not isinstance(value, str):
            self.problem(path, f"{what} must be a string, not {_type_name(value)}", 'write it in double quotes')
            return None
        if not value.isprintable():
            self.problem(path, f"{what} contains a control or invisible character",
                         "use printable characters only")
            return None
        if len(value) > limit:
            self.problem(path, f"{what} is longer than {limit} characters", "shorten it")
            return None
        return value

    def integer(self, value: object, path: Path, key: str) -> int | None:
        low, high, unit = RANGES[key]
        if type(value) is not int:  # bool is an int subclass: true/false are not numbers here
            self.problem(path, f"{key} must be a whole number of {unit}, not {_type_name(value)}",
                         f"write a number from {_number(low)} to {_number(high)}")
            return None
        if not low <= value <= high:
            self.problem(path, f"{key} = {value} is out of range", f"use {_number(low)} to {_number(high)} {unit}")
            return None
        return value

    def number(self, value: object, path: Path, key: str) -> float | None:
        low, high, unit = RANGES[key]
        if type(value) not in (int, float) or not math.isfinite(value):  # type: ignore[arg-type]
            self.problem(path, f"{key} must be a number of {unit}, not {_type_name(value)}",
                         f"write a number from {_number(low)} to {_number(high)}")
            return None
        if not low <= value <= high:  # type: ignore[operator]
            self.problem(path, f"{key} = {value} is out of range", f"use {_number(low)} to {_number(high)} {unit}")
            return None
        return float(value)  # type: ignore[arg-type]

    def boolean(self, value: object, path: Path, key: str) -> bool | None:
        if type(value) is not bool:
            self.problem(path, f"{key} must be true or false, not {_type_name(value)}", "write true or false")
            return None
        return value

    def string_list(self, value: object, path: Path, key: str) -> list[str]:
        if not isinstance(value, list):
            self.problem(path, f"{key} must be an array of strings, not {_type_name(value)}",
                         f'write {key} = ["..."]')
            return []
        items: list[str] = []
        for index, item in enumerate(value):
            text = self.text(item, path + (index,), f"an element of {key}", limit=64)
            if text is None:
                continue
            if text in items:
                self.problem(path + (index,), f"{text!r} is listed twice in {key}", "remove the duplicate")
                continue
            items.append(text)
        return items

    def name(self, value: str, path: Path, what: str) -> bool:
        if NAME.fullmatch(value) is None or ".." in value:
            self.problem(path, f"{what} name {value!r} is not allowed", NAME_FIX)
            return False
        return True

    # -- users and groups ----------------------------------------------------
    def principals(self, table: dict[str, Any], path: Path, users_key: str, groups_key: str) -> Principals:
        uids: set[int] = set()
        gids: set[int] = set()
        user_names = self.string_list(table.get(users_key, []), path + (users_key,), users_key)
        group_names = self.string_list(table.get(groups_key, []), path + (groups_key,), groups_key)
        for index, name in enumerate(user_names):
            where = path + (users_key, index)
            if ACCOUNT_NAME.fullmatch(name) is None:
                self.problem(where, f"{name!r} is not a user name", "write the login name, e.g. \"alice\"")
                continue
            if name not in self.uids:
                try:
                    self.uids[name] = pwd.getpwnam(name).pw_uid
                except KeyError:
                    self.uids[name] = None
            uid = self.uids[name]
            if uid is not None:
                uids.add(uid)
            else:
                self.problem(where, f"unknown user {name!r}",
                             f"check the spelling (`getent passwd {name}`) or create the user first")
        for index, name in enumerate(group_names):
            where = path + (groups_key, index)
            if ACCOUNT_NAME.fullmatch(name) is None:
                self.problem(where, f"{name!r} is not a group name", "write the group name, e.g. \"dialout\"")
                continue
            if name not in self.gids:
                try:
                    self.gids[name] = grp.getgrnam(name).gr_gid
                except KeyError:
                    self.gids[name] = None
            gid = self.gids[name]
            if gid is not None:
                gids.add(gid)
            else:
                self.problem(where, f"unknown group {name!r}",
                             f"check the spelling (`getent group {name}`) or create the group first")
        return Principals(frozenset(uids), frozenset(gids), tuple(user_names), tuple(group_names))

    # -- lines ---------------------------------------------------------------
    def device(self, value: object, path: Path, pty: bool) -> str | None:
        device = self.text(value, path, "device", limit=255)
        if device is None:
            return None
        parts = device.split("/")
        if not device.startswith("/dev/") or any(DEVICE_PART.fullmatch(part) is None for part in parts[1:]):
            self.problem(path, f"device {device!r} is not a plain absolute path under /dev",
                         'write the device path, e.g. "/dev/ttyS0" or "/dev/serial/by-id/usb-...", '
                         "without '..', '.', '//', spaces or a trailing '/'")
            return None
        if NOT_A_LINE.fullmatch(device):
            self.problem(path, f"{device} is not a modem line (a console, VT, pty master, fd alias or memory device)",
                         "name the modem's serial device")
            return None
        if device.startswith("/dev/pts/") and not pty:
            self.problem(path, f"{device} is a pseudo-terminal but the line does not say pty = true",
                         "add pty = true (only for root-owned ptys of softmodem daemons or the simulator)")
            return None
        return device

    def rdev(self, value: object, path: Path, pty: bool) -> tuple[int, int] | None:
        text = self.text(value, path, "rdev", limit=16)
        if text is None:
            return None
        match = RDEV.fullmatch(text)
        if match is None or int(match[1]) > 4095 or int(match[2]) > 1048575:
            self.problem(path, f"rdev {text!r} is not a device number",
                         'write "MAJOR:MINOR" as `stat -L -c "%Hr:%Lr" DEVICE` prints it, e.g. "4:65"')
            return None
        major, minor = int(match[1]), int(match[2])
        if (major == 4 and minor < 64) or major == 5 or (major in PTY_MAJORS) != pty:
            kind = "a virtual console or /dev/tty" if major in (4, 5) else \
                "a pseudo-terminal" if major in PTY_MAJORS else "not a pseudo-terminal"
            self.problem(path, f"rdev {text} is {kind}, which does not fit this line",
                         "pin the modem's serial device (pty = true only for pseudo-terminals)")
            return None
        return major, minor

    def line(self, name: str, table: object, path: Path) -> LineConfig | None:
        if not isinstance(table, dict):
            self.problem(path, f"lines.{name} must be a table, not {_type_name(table)}",
                         f"write [lines.{name}] with device = ...")
            return None
        self.keys(table, LINE_KEYS, path, f"line {name}")
        pty = table.get("pty", False)
        pty = bool(self.boolean(pty, path + ("pty",), "pty"))
        if "device" not in table:
            self.problem(path, f"line {name} has no device", 'add device = "/dev/..."')
        device = self.device(table["device"], path + ("device",), pty) if "device" in table else None
        rdev = self.rdev(table["rdev"], path + ("rdev",), pty) if "rdev" in table else None
        dtr_hold = DEFAULT_DTR_HOLD
        if "dtr_hold" in table:
            dtr_hold = self.number(table["dtr_hold"], path + ("dtr_hold",), "dtr_hold") or DEFAULT_DTR_HOLD
        reset = None
        if "reset" in table:
            reset = self.text(table["reset"], path + ("reset",), "reset", limit=60)
            if reset is not None and RESET.fullmatch(reset) is None:
                self.problem(path + ("reset",), f"reset {reset!r} is not a modem command",
                             'write an AT command of printable ASCII, e.g. "ATZ" (the helper adds the CR)')
                reset = None
        description = self.text(table["description"], path + ("description",), "description") \
            if "description" in table else None
        admins = self.principals(table, path, "admin_users", "admin_groups")
        if device is None:
            return None
        return LineConfig(name=name, device=device, rdev=rdev, pty=pty, dtr_hold=dtr_hold, reset=reset,
                          admins=admins, description=description)

    # -- rules ---------------------------------------------------------------
    def references(self, table: dict[str, Any], key: str, path: Path, defined: dict[str, Any],
                   kind: str) -> tuple[str, ...]:
        if key not in table:
            self.problem(path, f"rule has no {key}", f'add {key} = ["..."] naming the {kind}s it grants')
            return ()
        names = self.string_list(table[key], path + (key,), key)
        if not names and isinstance(table[key], list):
            self.problem(path + (key,), f"{key} is empty: the rule would grant nothing",
                         f"name at least one {kind}, or delete the rule")
        for index, name in enumerate(names):
            if name not in defined:
                known = ", ".join(sorted(defined)) or "none defined"
                self.problem(path + (key, index), f"undefined {kind} {name!r}",
                             f"{_suggest(name, sorted(defined))}define [{kind}s.{name}] or use a defined "
                             f"{kind} ({known})")
        return tuple(names)

    def rule(self, number: int, table: object, path: Path, lines: dict[str, Any],
             peers: dict[str, Any]) -> Rule | None:
        if not isinstance(table, dict):
            self.problem(path, f"rule {number} must be a table", "write it as a [[rules]] section")
            return None
        before = len(self.problems)
        self.keys(table, RULE_KEYS, path, f"rule {number}")
        name = self.text(table["name"], path + ("name",), "name", limit=64) if "name" in table else None
        who = self.principals(table, path, "users", "groups")
        if not who.user_names and not who.group_names and len(self.problems) == before:
            self.problem(path, f"rule {number} names no users and no groups",
                         'add users = ["..."] and/or groups = ["..."] (everyone allowed to run pppup: '
                         'groups = ["pppup"])')
        rule_lines = self.references(table, "lines", path, lines, "line")
        rule_peers = self.references(table, "peers", path, peers, "peer")
        flags = self.string_list(table.get("flags", []), path + ("flags",), "flags")
        for index, flag in enumerate(flags):
            if flag not in SAFE_FLAGS:
                self.problem(path + ("flags", index), f"pppd flag {flag!r} is not in pppup's built-in "
                             "list of safe, argument-free flags",
                             f"{_suggest(flag, list(SAFE_FLAGS))}remove it; allowed: {', '.join(SAFE_FLAGS)}")
        limits = {key: self.integer(table[key], path + (key,), key)
                  for key in ("idle", "maxconnect", "max_links", "dial_attempts", "dial_seconds")
                  if key in table}
        hours = None
        if "hours" in table:
            texts = self.string_list(table["hours"], path + ("hours",), "hours")
            if not texts and isinstance(table["hours"], list):
                self.problem(path + ("hours",), "hours is empty: the rule would never apply",
                             "list windows, or remove hours to allow any time")
            try:
                hours = self.hours.get(tuple(texts)) or Hours.parse(tuple(texts))
                self.hours[tuple(texts)] = hours
            except HoursSyntaxError as error:
                self.problem(path + ("hours",), f"bad hours: {error}", HOURS_FIX)
        if len(self.problems) != before:
            return None
        return Rule(number=number, name=name, who=who, lines=rule_lines,
                    peers=rule_peers, flags=tuple(flags), idle=limits.get("idle"),
                    maxconnect=limits.get("maxconnect"), hours=hours, max_links=limits.get("max_links"),
                    dial_attempts=limits.get("dial_attempts"),
                    dial_seconds=limits.get("dial_seconds") or DEFAULT_DIAL_SECONDS)


# validate's result: lines {name: LineConfig}, peers {name: PeerConfig},
# rules [Rule], problems [Problem] (empty when the document is valid).
Validated = namedtuple("Validated", "lines peers rules problems")


def validate(document: dict[str, Any]) -> Validated:
    """Check a parsed policy document; problems empty ⇔ everything is valid."""
    check = _Validator()
    check.keys(document, TOP_KEYS, (), "the policy (top level)")
    version = document.get("version")
    if version is None:
        check.problem((), "the policy does not say its format version",
                      f"add `version = {FORMAT_VERSION}` at the top of the file")
    elif type(version) is not int or version != FORMAT_VERSION:
        check.problem(("version",), f"unsupported format version {version!r}",
                      f"this pppup reads version = {FORMAT_VERSION}")

    sections: dict[str, dict[str, Any]] = {}
    for section in ("lines", "peers"):
        value = document.get(section, {})
        if not isinstance(value, dict):
            check.problem((section,), f"{section} must be tables like [{section}.NAME]", f"write [{section}.NAME]")
            value = {}
        sections[section] = value

    lines: dict[str, LineConfig] = {}
    devices: dict[str, str] = {}
    pins: dict[tuple[int, int], str] = {}
    for name, table in sections["lines"].items():
        path = ("lines", name)
        if not check.name(name, path, "line"):
            continue
        config = check.line(name, table, path)
        if config is None:
            continue
        if config.device in devices:
            check.problem(path + ("device",), f"line {name} uses device {config.device}, like line "
                          f"{devices[config.device]}", "give every line its own device")
            continue
        if config.rdev is not None and config.rdev in pins:
            check.problem(path + ("rdev",), f"line {name} pins rdev {config.rdev[0]}:{config.rdev[1]}, like "
                          f"line {pins[config.rdev]}", "give every line its own device")
            continue
        devices[config.device] = name
        if config.rdev is not None:
            pins[config.rdev] = name
        lines[name] = config

    peers: dict[str, PeerConfig] = {}
    for name, table in sections["peers"].items():
        path = ("peers", name)
        if not check.name(name, path, "peer"):
            continue
        if not isinstance(table, dict):
            check.problem(path, f"peers.{name} must be a table", f"write [peers.{name}]")
            continue
        check.keys(table, PEER_KEYS, path, f"peer {name}")
        description = check.text(table["description"], path + ("description",), "description") \
            if "description" in table else None
        peers[name] = PeerConfig(name=name, description=description)

    rules: list[Rule] = []
    raw_rules = document.get("rules", [])
    if not isinstance(raw_rules, list):
        check.problem(("rules",), "rules must be an array of tables", "write each rule as a [[rules]] section")
        raw_rules = []
    names: dict[str, int] = {}
    for index, table in enumerate(raw_rules):
        rule = check.rule(index + 1, table, ("rules", index), sections["lines"], sections["peers"])
        if rule is None:
            continue
        if rule.name is not None:
            if rule.name in names:
                check.problem(("rules", index, "name"), f"rule name {rule.name!r} is used by rule "
                              f"{names[rule.name]} too", "give every rule its own name")
            names.setdefault(rule.name, rule.number)
        rules.append(rule)
    return Validated(lines, peers, rules, check.problems)
