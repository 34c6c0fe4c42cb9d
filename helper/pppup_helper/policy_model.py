"""A validated policy and its decisions.

Decisions are pure functions of (policy, caller, request, now): no file,
clock or user database is consulted here, so they can be tested
exhaustively.  Match order: rules are tried in file order and the first rule
that matches the request decides; when no rule matches, the answer is no
(default deny).  A rule matches when it names the caller (by user, or by a
group among the caller's process groups), names the line, names the peer
(for starting pppd) and, if it has `hours`, `now` is inside them.  Flags and
limits are not matching criteria: the deciding rule's flags are the only
ones allowed and its limits apply.
"""
from __future__ import annotations

import math
from collections import namedtuple
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from pppup_protocol.errors import Code, PppupError

from .policy_flags import CONFLICTS, SAFE_FLAGS, SYSTEM_FLAGS
from .policy_hours import Hours, describe_moment

TYPE_CHECKING = False
if TYPE_CHECKING:      # annotations only: a status request never needs datetime
    from datetime import datetime

DEFAULT_DIAL_SECONDS = 300
DEFAULT_DTR_HOLD = 1.0


# Plain named tuples (immutable, `_replace`, keyword construction), not
# typing.NamedTuple: importing typing costs every request through the shim
# about 3 ms of helper start-up (DEVELOPERS.md "Start-up budget").
class Caller(namedtuple("Caller", [
        "uid", "gid",          # int
        "groups",              # frozenset[int]: the process groups (the primary one included)
        "name",                # str
        ])):
    """Who asks: built by the gate from the shim's argv (kernel ids) and pwd."""
    __slots__ = ()


class Principals(namedtuple("Principals", [
        "users", "groups",             # frozenset[int]
        "user_names", "group_names",   # tuple[str, ...]
        ], defaults=(frozenset(), frozenset(), (), ()))):
    """Users and groups named in a rule or a line's admins (resolved at load)."""
    __slots__ = ()

    def matches(self, caller: Caller) -> bool:
        # Membership is only ever a reason to allow (never "deny if in group X"),
        # so a caller who drops groups can only lose rights (attack I4).
        return caller.uid in self.users or not self.groups.isdisjoint(caller.groups | {caller.gid})

    def describe(self) -> str:
        parts = [f"user {name}" for name in self.user_names]
        parts += [f"group {name}" for name in self.group_names]
        return ", ".join(parts) if parts else "nobody"


class LineConfig(namedtuple("LineConfig", [
        "name",
        "device",              # str: the path as written (may be a /dev/serial/by-id link)
        "rdev",                # tuple[int, int] | None: explicit (major, minor) pin, or None: pinned at open
        "pty",                 # bool: a root-owned pseudo-terminal (softmodem, simulator)
        "dtr_hold",            # float: seconds DTR stays low on hang-up
        "reset",               # str | None: modem command sent after the DTR drop at cleanup
        "admins",              # Principals: may stop other users' links on this line
        "description",         # str | None
        ], defaults=(None,))):
    __slots__ = ()


class PeerConfig(namedtuple("PeerConfig", [
        "name",                # str: file name in /etc/ppp/peers
        "description",         # str | None
        ], defaults=(None,))):
    __slots__ = ()


class Rule(namedtuple("Rule", [
        "number",              # int: 1-based, in file order
        "name",                # str | None
        "who",                 # Principals
        "lines", "peers", "flags",     # tuple[str, ...]
        "idle", "maxconnect",  # int | None
        "hours",               # Hours | None
        "max_links", "dial_attempts",  # int | None
        "dial_seconds",        # int
        ])):
    __slots__ = ()


class LineGrant(namedtuple("LineGrant", [
        "line",                # LineConfig
        "rule",                # str: e.g. 'rule 2 "staff" (policy.toml:31)'
        "peers", "flags",      # frozenset[str]
        "idle",                # int | None
        "maxconnect",          # int | None: the rule's value; PppdGrant clips it to window_end
        "window_end",          # datetime | None: end of the allowed-hours period, None if unbounded
        "max_links",           # int | None
        "dial_attempts",       # int | None: advisory for the client: the helper enforces dial_seconds
        "dial_seconds",        # int: the helper revokes the line this long after acquire
        "user",                # str
        ], defaults=("",))):
    __slots__ = ()

    def check_link_count(self, active_links: int) -> None:
        """Refuse when the caller already has `max_links` links (counted by the caller of this)."""
        if self.max_links is not None and active_links >= self.max_links:
            raise PppupError(
                f"{self.user} already has {active_links} link(s); {self.rule} allows at most "
                f"{self.max_links}: stop one with pppdown first", Code.DENIED)


class PppdGrant(namedtuple("PppdGrant", [
        "peer",                # PeerConfig
        "flags",               # tuple[str, ...]: requested, allowed by the rule and the built-in list, deduplicated
        "idle",                # int | None
        "maxconnect",          # int | None: already clipped to the end of the allowed hours
        "rule",                # str
        "window_end",          # datetime | None
        ], defaults=(None,))):
    __slots__ = ()


def _denied(message: str) -> PppupError:
    return PppupError(message, Code.DENIED)


class Policy:
    """The validated policy file: lines, peers, rules; answers who may do what."""

    def __init__(self, path: str, lines: Mapping[str, LineConfig], peers: Mapping[str, PeerConfig],
                 rules: Sequence[Rule], text: str = ""):
        self.path = path
        self.lines: Mapping[str, LineConfig] = MappingProxyType(dict(lines))
        self.peers: Mapping[str, PeerConfig] = MappingProxyType(dict(peers))
        self.rules: tuple[Rule, ...] = tuple(rules)
        self._file = path.rsplit("/", 1)[-1]
        self._text = text
        self._located: dict[tuple[object, ...], int] | None = None

    def source_line(self, key_path: tuple[object, ...]) -> int | None:
        """The line of a key path, e.g. ("rules", 0) or ("lines", "modem1").

        Located on first use: a status request never pays for it."""
        if self._located is None:
            from .policy_locate import locate
            self._located = locate(self._text)
        return self._located.get(key_path)

    def label(self, rule: Rule) -> str:
        name = f' "{rule.name}"' if rule.name else ""
        line = self.source_line(("rules", rule.number - 1))
        where = f"{self._file}:{line}" if line else self._file
        return f"rule {rule.number}{name} ({where})"

    # -- decisions ---------------------------------------------------------
    def _rules_for(self, caller: Caller, line: str) -> list[Rule]:
        return [rule for rule in self.rules if line in rule.lines and rule.who.matches(caller)]

    def _known_line(self, line: str) -> None:
        if line not in self.lines:
            known = ", ".join(sorted(self.lines)) or "none"
            raise _denied(f"there is no line {line!r} in the policy (lines: {known}); "
                          "see `pppup status` for the lines you can use")

    def _no_rule(self, caller: Caller, line: str) -> PppupError:
        granted = sorted({name for rule in self.rules if rule.who.matches(caller) for name in rule.lines})
        also = f" (lines granted to you: {', '.join(granted)})" if granted else ""
        return _denied(f"{caller.name} may not use line {line}: no rule of the policy grants it{also}; "
                       f"ask your administrator (`pppup-policy explain --user {caller.name}`)")

    def _outside_hours(self, caller: Caller, line: str, rules: list[Rule], now: datetime) -> PppupError:
        windows = "; ".join(f"{self.label(rule)}: {', '.join(rule.hours.texts)}"
                            for rule in rules if rule.hours is not None)
        return _denied(f"{caller.name} may not use line {line} now ({describe_moment(now)}, local time): "
                       f"allowed only at these hours: {windows}; try again then")

    def deciding_rule(self, caller: Caller, line: str, now: datetime, peer: str | None = None) -> Rule:
        """The first rule naming the caller, the line (and the peer, if given) whose hours
        contain `now`; PppupError(DENIED) saying why and what to do if there is none."""
        self._known_line(line)
        rules = self._rules_for(caller, line)
        if not rules:
            raise self._no_rule(caller, line)
        if peer is not None:
            if peer not in self.peers:
                known = ", ".join(sorted(self.peers)) or "none"
                raise _denied(f"there is no peer {peer!r} in the policy (peers: {known})")
            with_peer = [rule for rule in rules if peer in rule.peers]
            if not with_peer:
                offered = sorted({name for rule in rules for name in rule.peers})
                raise _denied(f"{caller.name} may not start peer {peer!r} on line {line}: the rules "
                              f"granting this line ({', '.join(self.label(r) for r in rules)}) allow "
                              f"only peers {', '.join(offered)}; choose one of those")
            rules = with_peer
        for rule in rules:
            if rule.hours is None or rule.hours.contains(now):
                return rule
        raise self._outside_hours(caller, line, rules, now)

    def grant_line(self, caller: Caller, line: str, account: str, now: datetime) -> LineGrant:
        rule = self.deciding_rule(caller, line, now)
        return LineGrant(
            line=self.lines[line], rule=self.label(rule), peers=frozenset(rule.peers),
            flags=frozenset(rule.flags), idle=rule.idle, maxconnect=rule.maxconnect,
            window_end=rule.hours.period_end(now) if rule.hours else None,
            max_links=rule.max_links, dial_attempts=rule.dial_attempts,
            dial_seconds=rule.dial_seconds, user=caller.name)

    def grant_pppd(self, caller: Caller, line: str, peer: str, flags: Sequence[str],
                   now: datetime) -> PppdGrant:
        rule = self.deciding_rule(caller, line, now, peer)
        return self._pppd_grant(caller, rule, peer, flags, now)

    def _pppd_grant(self, caller: Caller, rule: Rule, peer: str, flags: Sequence[str],
                    now: datetime) -> PppdGrant:
        label = self.label(rule)
        chosen: list[str] = []
        for flag in flags:
            if flag not in SAFE_FLAGS:
                raise _denied(f"pppd flag {flag!r} is not one pppup lets users add "
                              f"(see pppup.policy(5), FLAGS); drop it ({label})")
            if flag not in rule.flags:
                allowed = ", ".join(rule.flags) or "none"
                raise _denied(f"{label} does not allow pppd flag {flag!r} (allowed: {allowed}); drop it")
            if flag not in chosen:
                chosen.append(flag)
        for pair in CONFLICTS:
            if pair <= set(chosen):
                raise PppupError(f"pppd flags {' and '.join(sorted(pair))} contradict each other; "
                                 "ask for one of them", Code.USAGE)
        window_end = rule.hours.period_end(now) if rule.hours else None
        maxconnect = rule.maxconnect
        if window_end is not None:
            remaining = max(1, math.ceil(window_end.timestamp() - now.timestamp()))
            maxconnect = remaining if maxconnect is None else min(maxconnect, remaining)
        return PppdGrant(peer=self.peers[peer], flags=tuple(chosen), idle=rule.idle,
                         maxconnect=maxconnect, rule=label, window_end=window_end)

    def may_stop(self, caller: Caller, line: str, owner_uid: int) -> bool:
        """The link's owner, root, or an admin of that line may stop it."""
        if caller.uid == owner_uid or caller.uid == 0:
            return True
        config = self.lines.get(line)
        return config is not None and config.admins.matches(caller)

    def is_admin(self, caller: Caller) -> bool:
        return caller.uid == 0 or any(config.admins.matches(caller) for config in self.lines.values())

    def system_wide_flags(self, rule: Rule) -> list[str]:
        return [flag for flag in rule.flags if flag in SYSTEM_FLAGS]
