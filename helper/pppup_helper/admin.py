"""pppup-policy: check, explain and edit the policy (run by root, not through the shim).

    pppup-policy check [FILE]            like `visudo -c`: every problem, file:line and fix
    pppup-policy explain --user U        what U may do, and which rule decides
    pppup-policy edit                    edit a copy, validate, replace atomically

Only the console script imports this module (it uses click); the helper's
own import graph never reaches it.
"""
from __future__ import annotations

import fcntl
import grp
import os
import pwd
import shlex
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta

import click

from pppup_protocol import paths
from pppup_protocol.errors import Code, PppupError

from .policy import (PPP_DIR, Caller, Policy, PolicyError, Rule, check_policy, load_policy, read_draft,
                     read_policy)
from .policy_flags import SYSTEM_FLAGS
from .policy_hours import DAY_NAMES, describe_moment
from .policy_source import FileProblem, open_directory

MATCH_ORDER = "first matching rule wins; no matching rule means denied"
TEMPLATE = b"""# pppup policy: see pppup.policy(5).  First matching rule wins; no match = denied.
version = 1
"""


def _fail(message: str, code: Code) -> "click.exceptions.Exit":
    click.echo(f"pppup-policy: {message}", err=True)
    return click.exceptions.Exit(int(code))


def _summary(policy: Policy) -> str:
    def count(number: int, word: str) -> str:
        return f"{number} {word}{'' if number == 1 else 's'}"
    return (f"{count(len(policy.lines), 'line')}, {count(len(policy.peers), 'peer')}, "
            f"{count(len(policy.rules), 'rule')} ({MATCH_ORDER})")


def _shadows(earlier: Rule, later: Rule) -> bool:
    """`earlier` matches every request `later` would (so `later` never decides)."""
    hours_covered = earlier.hours is None or (later.hours is not None and earlier.hours.covers(later.hours))
    return (earlier.who.users >= later.who.users and earlier.who.groups >= later.who.groups
            and set(earlier.lines) >= set(later.lines) and set(earlier.peers) >= set(later.peers)
            and hours_covered)


def _warnings(policy: Policy) -> list[str]:
    warnings = []
    for index, later in enumerate(policy.rules):
        for earlier in policy.rules[:index]:
            if _shadows(earlier, later):
                warnings.append(f"warning: {policy.label(later)} never decides anything: {policy.label(earlier)} "
                                f"comes first and matches every request it would ({MATCH_ORDER}); "
                                "move it up, narrow the earlier rule, or delete it")
                break
    return warnings


def _report(errors: list[PolicyError], where: str) -> None:
    for error in errors:
        click.echo(str(error), err=True)
    plural = "s" if len(errors) > 1 else ""
    click.echo(f"{where}: {len(errors)} problem{plural}: pppup refuses every request until "
               f"{'they are' if plural else 'it is'} fixed", err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--policy", "policy_path", default=paths.POLICY, show_default=True,
              help="The policy file to work on.")
@click.option("--ppp-dir", default=PPP_DIR, hidden=True, help="pppd's directory (tests only).")
@click.pass_context
def main(ctx: click.Context, policy_path: str, ppp_dir: str) -> None:
    """Check, explain and edit pppup's policy (pppup-policy(8))."""
    if os.geteuid() != 0:
        raise _fail("run pppup-policy as root: it reads files only root may read", Code.USAGE)
    ctx.obj = {"policy": os.path.abspath(policy_path), "ppp_dir": os.path.abspath(ppp_dir)}


@main.command()
@click.argument("file", required=False)
@click.option("--content-only", is_flag=True,
              help="Check a draft's text only: skip the owner/mode checks of FILE and its directories.")
@click.pass_obj
def check(obj: dict[str, str], file: str | None, content_only: bool) -> None:
    """Validate FILE (default: the policy) as the helper would; list every problem."""
    path = os.path.abspath(file) if file else obj["policy"]
    try:
        data = read_policy(path, secure=not content_only)
    except PolicyError as error:
        _report([error], path)
        raise click.exceptions.Exit(int(Code.CONFIG))
    policy, errors = check_policy(data, path, ppp_dir=obj["ppp_dir"])
    if errors or policy is None:
        _report(errors, path)
        raise click.exceptions.Exit(int(Code.CONFIG))
    click.echo(f"{path}: OK: {_summary(policy)}")
    for warning in _warnings(policy):
        click.echo(warning)


# ---------------------------------------------------------------- explain
def _parse_at(text: str, now: datetime) -> datetime:
    """now | HH:MM (today) | DAY HH:MM (this day, today or later) | ISO date and time."""
    if text == "now":
        return now
    parts = text.split()
    try:
        if len(parts) == 2 and parts[0][:3].title() in DAY_NAMES and len(parts[0]) == 3:
            clock = datetime.strptime(parts[1], "%H:%M")
            ahead = (DAY_NAMES.index(parts[0].title()) - now.weekday()) % 7
            day = now + timedelta(days=ahead)
            return day.replace(hour=clock.hour, minute=clock.minute, second=0, microsecond=0)
        if len(parts) == 1 and len(text) == 5 and text[2] == ":":
            clock = datetime.strptime(text, "%H:%M")
            return now.replace(hour=clock.hour, minute=clock.minute, second=0, microsecond=0)
        return datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: write now, HH:MM, DAY HH:MM (e.g. 'Sat 22:30') "
                                 "or YYYY-MM-DD HH:MM") from None


def _caller_for(user: str) -> tuple[Caller, list[str]]:
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        raise _fail(f"no such user {user!r}", Code.USAGE) from None
    gids = os.getgrouplist(entry.pw_name, entry.pw_gid)
    names = []
    for gid in gids:
        try:
            names.append(grp.getgrgid(gid).gr_name)
        except KeyError:
            names.append(str(gid))
    return Caller(entry.pw_uid, entry.pw_gid, frozenset(gids), entry.pw_name), names


def _limits(grant_idle: int | None, maxconnect: int | None, max_links: int | None,
            dial_attempts: int | None, dial_seconds: int) -> str:
    def seconds(value: int | None) -> str:
        return "none from the policy (the peer file decides)" if value is None else f"{value} s"
    return (f"idle {seconds(grant_idle)}; maxconnect {seconds(maxconnect)}; "
            f"links at once {max_links if max_links is not None else 'unlimited'}; "
            f"dial attempts {dial_attempts if dial_attempts is not None else 'unlimited'} "
            f"(advisory); dial phase at most {dial_seconds} s")


def _explain_line(policy: Policy, caller: Caller, line: str, peer: str | None, at: datetime) -> bool:
    config = policy.lines.get(line)
    device = f" ({config.device}{', pty' if config.pty else ''})" if config else ""
    click.echo(f"line {line}{device}")
    try:
        grant = policy.grant_line(caller, line, "explain", at)
    except PppupError as denial:
        click.echo(f"  denied: {denial.message}")
        _other_rules(policy, caller, line, None)
        return False
    click.echo(f"  allowed by {grant.rule}")
    click.echo(f"  peers: {', '.join(sorted(grant.peers))}")
    rule = policy.deciding_rule(caller, line, at)
    flags = [f"{flag} (system-wide)" if flag in SYSTEM_FLAGS else flag for flag in rule.flags]
    click.echo(f"  pppd flags the user may add: {', '.join(flags) if flags else 'none'}")
    if rule.hours is None:
        click.echo("  hours: any time")
    else:
        end = f"until {describe_moment(grant.window_end)}" if grant.window_end else "with no end"
        click.echo(f"  hours: {', '.join(rule.hours.texts)} (allowed now, {end})")
    limits = _limits(grant.idle, grant.maxconnect, grant.max_links, grant.dial_attempts, grant.dial_seconds)
    click.echo(f"  limits: {limits}")
    allowed = True
    if peer is not None:
        try:
            pppd = policy.grant_pppd(caller, line, peer, [], at)
            clipped = "" if pppd.maxconnect == grant.maxconnect else " (clipped to the end of the hours)"
            click.echo(f"  peer {peer}: allowed by {pppd.rule}; a link started then gets "
                       f"maxconnect {pppd.maxconnect if pppd.maxconnect is not None else 'none'}"
                       f"{' s' if pppd.maxconnect is not None else ''}{clipped}")
        except PppupError as denial:
            click.echo(f"  peer {peer}: denied: {denial.message}")
            allowed = False
    stop = policy.may_stop(caller, line, owner_uid=-1)
    click.echo(f"  may stop other users' links on this line: {'yes' if stop else 'no'}")
    _other_rules(policy, caller, line, grant.rule)
    return allowed


def _other_rules(policy: Policy, caller: Caller, line: str, deciding: str | None) -> None:
    others = [rule for rule in policy.rules
              if line in rule.lines and rule.who.matches(caller) and policy.label(rule) != deciding]
    for rule in others:
        hours = ", ".join(rule.hours.texts) if rule.hours else "any time"
        click.echo(f"  also names this user and line: {policy.label(rule)}, hours {hours}")


@main.command()
@click.option("--user", "-u", "user", required=True, help="The user to explain.")
@click.option("--line", "-l", "line", help="Only this line.")
@click.option("--peer", "-p", "peer", help="Also whether this pppd peer may be started.")
@click.option("--at", "at_text", default="now", show_default=True,
              help="When: now, HH:MM, 'DAY HH:MM' or 'YYYY-MM-DD HH:MM' (local time).")
@click.pass_obj
def explain(obj: dict[str, str], user: str, line: str | None, peer: str | None, at_text: str) -> None:
    """Show what USER may do, and which rule decides.  Exit 0 if something asked is allowed, 4 if not."""
    at = _parse_at(at_text, datetime.now())
    try:
        policy = load_policy(obj["policy"], ppp_dir=obj["ppp_dir"])
    except PolicyError as error:
        _report(list(error.errors), obj["policy"])
        raise click.exceptions.Exit(int(Code.CONFIG))
    caller, group_names = _caller_for(user)
    click.echo(f"policy {obj['policy']}: {_summary(policy)}")
    click.echo(f"user {caller.name} (uid {caller.uid}), groups {', '.join(group_names)}")
    click.echo("  (groups from the group database; the helper uses the groups of the calling process, "
               "which differ after newgrp, sg or group changes since login)")
    click.echo(f"at {describe_moment(at)} local time")
    lines = [line] if line else sorted(policy.lines)
    if not lines:
        click.echo("the policy defines no lines: everything is denied")
    allowed = [_explain_line(policy, caller, name, peer, at) for name in lines]
    if policy.is_admin(caller):
        click.echo(f"{caller.name} may stop other users' links (pppdown) on the lines above that say so")
    if not any(allowed):
        raise click.exceptions.Exit(int(Code.DENIED))


# ------------------------------------------------------------------- edit
def _write_atomically(directory_fd: int, directory: str, name: str, data: bytes) -> None:
    """Replace directory/name by `data`: temp file, fsync, rename, fsync the directory."""
    fd, temp = tempfile.mkstemp(prefix=".policy.", suffix=".new", dir=directory)
    try:
        os.fchown(fd, 0, 0)
        os.fchmod(fd, 0o644)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.rename(temp, os.path.join(directory, name))
        temp = ""
        os.fsync(directory_fd)
    finally:
        if fd >= 0:
            os.close(fd)
        if temp:
            os.unlink(temp)


def _run_editor(path: str) -> None:
    command = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    argv = shlex.split(command) + [path]
    try:
        status = subprocess.run(argv, check=False).returncode
    except OSError as error:
        raise _fail(f"cannot run the editor {argv[0]!r}: {error.strerror}; set VISUAL or EDITOR",
                    Code.FAILURE) from None
    if status != 0:
        raise _fail(f"the editor {argv[0]!r} exited with status {status}; the policy is unchanged",
                    Code.FAILURE)


def _ask_again() -> bool:
    if not sys.stdin.isatty():
        return False
    answer = click.prompt("What now? (e)dit again, (q)uit without saving", default="e",
                          type=click.Choice(["e", "q"]), show_choices=False)
    return answer == "e"


@main.command()
@click.pass_obj
def edit(obj: dict[str, str]) -> None:
    """Edit a copy of the policy in $VISUAL/$EDITOR, validate it, then replace the policy atomically."""
    path = obj["policy"]
    directory, name = os.path.split(path)
    try:
        directory_fd = open_directory(directory)
    except FileProblem as problem:
        raise _fail(str(problem), Code.CONFIG) from None
    lock = -1
    draft = ""
    try:
        lock = os.open(".policy.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                       dir_fd=directory_fd)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _fail(f"someone else is editing {path} (lock {directory}/.policy.lock); try again later",
                        Code.BUSY) from None
        original = _current(path)
        draft_fd, draft = tempfile.mkstemp(prefix=".policy.", suffix=".toml", dir=directory)
        with os.fdopen(draft_fd, "wb") as out:
            out.write(original if original is not None else _starting_point(path))
        while True:
            _run_editor(draft)
            try:
                edited = read_draft(draft)
            except FileProblem as problem:
                raise _fail(str(problem), Code.FAILURE) from None
            if edited == original:
                click.echo(f"{path}: no changes")
                return
            policy, errors = check_policy(edited, path, ppp_dir=obj["ppp_dir"])
            if policy is not None and not errors:
                break
            click.echo(f"your edited copy of {path} is not valid:", err=True)
            _report(errors, path)
            if not _ask_again():
                click.echo(f"{path} left unchanged", err=True)
                raise click.exceptions.Exit(int(Code.CONFIG))
        _write_atomically(directory_fd, directory, name, edited)
        click.echo(f"{path}: installed: {_summary(policy)}")
    finally:
        if draft:
            try:
                os.unlink(draft)
            except FileNotFoundError:
                pass
        if lock >= 0:
            os.close(lock)
        os.close(directory_fd)


def _current(path: str) -> bytes | None:
    try:
        return read_draft(path)
    except FileProblem as problem:
        if os.path.lexists(path):
            raise _fail(str(problem), Code.CONFIG) from None
        return None


def _starting_point(path: str) -> bytes:
    try:
        return read_draft(path + ".example")
    except FileProblem:
        return TEMPLATE
