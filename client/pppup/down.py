"""`pppdown [ACCOUNT|LINE] [--all]`: which link to stop, then stop it through the helper.

Without a name: the caller's own link, when there is exactly one (poff's
ambiguity is an error here, listing the links).  A name is a line if the
policy has such a line, else one of the caller's accounts with a link up.
Whose link may be stopped is the helper's decision (owner, or an admin of
that line in the policy); `--all` stops every link the caller may stop.
The helper answers once pppd has exited and the line is free.
"""
from __future__ import annotations

import os
import pwd
from typing import Any, Callable

from pppup_protocol.errors import Code, PppupError

ACTIVE = ("dialling", "starting", "up", "stopping")


def me() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def choose_line(lines: list[dict[str, Any]], target: str | None, user: str) -> str:
    """The line to stop, from the helper's status answer."""
    names = {entry.get("line") for entry in lines}
    if target is not None and target in names:
        return target
    mine = [entry for entry in lines if entry.get("state") in ACTIVE and entry.get("user") == user]
    if target is not None:
        matching = [entry for entry in mine if entry.get("account") == target]
        if len(matching) == 1:
            return str(matching[0]["line"])
        if len(matching) > 1:
            raise PppupError(f"you have {len(matching)} links of account {target}: "
                             f"{_listing(matching)}; say which line: pppdown LINE", Code.USAGE)
        raise PppupError(f"{target!r} is neither a line nor an account of yours with a link up; "
                         "`pppup status` shows the lines", Code.NO_LINK)
    if not mine:
        raise PppupError("you have no link to stop; `pppup status` shows the lines", Code.NO_LINK)
    if len(mine) > 1:
        raise PppupError(f"you have {len(mine)} links: {_listing(mine)}; say which: pppdown ACCOUNT "
                         "or pppdown LINE", Code.USAGE)
    return str(mine[0]["line"])


def _listing(entries: list[dict[str, Any]]) -> str:
    return ", ".join(f"{entry.get('line')} ({entry.get('account')})" for entry in entries)


def pppdown(target: str | None, all_: bool, helper_factory: Callable[[], Any]) -> list[dict[str, Any]]:
    helper = helper_factory()
    try:
        if all_:
            if target is not None:
                raise PppupError("give a name or --all, not both", Code.USAGE)
            return helper.stop(None, True)
        # One connection: status, then stop (the permit table allows both).
        line = choose_line(helper.status(), target, me())
        return helper.stop(line, False)
    finally:
        helper.close()
