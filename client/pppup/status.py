"""`pppup status` and `pppup accounts` as text: pure formatting of what the helper and the files say."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Iterable

from .accounts import Listed
from .progress import amount, seconds

STATUS_COLUMNS = ("LINE", "STATE", "USER", "ACCOUNT", "SINCE", "LOCAL", "REMOTE", "SENT", "RECEIVED")


def when(iso: str | None, today: datetime | None = None) -> str:
    """`14:02:11` today, `Mon 14:02` within a week, else the date."""
    if not iso:
        return "-"
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        return iso
    now = today or datetime.now(moment.tzinfo)
    if moment.date() == now.date():
        return moment.strftime("%H:%M:%S")
    if abs((now - moment).days) < 7:
        return moment.strftime("%a %H:%M")
    return moment.strftime("%Y-%m-%d")


def status_rows(lines: Iterable[dict[str, Any]], today: datetime | None = None) -> list[tuple[str, ...]]:
    rows = []
    for entry in lines:
        state = str(entry.get("state", "?"))
        if entry.get("holder"):
            state += f" ({entry['holder']})"
        if entry.get("problem"):
            state += f" ({entry['problem']})"
        live = entry.get("state") in ("dialling", "starting", "up", "stopping")
        rows.append((
            str(entry.get("line", "?")), state,
            str(entry.get("user") or "-") if live else "-",
            str(entry.get("account") or "-") if live else "-",
            when(entry.get("link_start") or entry.get("since"), today) if live else "-",
            str(entry.get("local") or "-"), str(entry.get("remote") or "-"),
            amount(entry["bytes_sent"]) if entry.get("bytes_sent") is not None else "-",
            amount(entry["bytes_received"]) if entry.get("bytes_received") is not None else "-",
        ))
    return rows


def format_status(lines: list[dict[str, Any]], today: datetime | None = None) -> str:
    if not lines:
        return "no lines: the policy names none (ask your administrator)"
    rows = status_rows(lines, today)
    out = _table(STATUS_COLUMNS, rows, wide=1)
    # Under each free line: how its last session ended.
    result = [out[0]]
    for entry, text in zip(lines, out[1:]):
        result.append(text)
        last = entry.get("last")
        if last and entry.get("state") == "free":
            duration = f" after {seconds(float(last['duration']))}" if last.get("duration") else ""
            result.append(f"  last: {last.get('user') or '?'} ({last.get('account') or '?'}) ended "
                          f"{when(last.get('ended'), today)}{duration}: {last.get('reason') or '?'}")
    return "\n".join(result)


def format_json(data: Any) -> str:
    return json.dumps(data, indent=2, sort_keys=True)


def accounts_rows(listed: Iterable[Listed]) -> list[tuple[str, ...]]:
    rows = []
    for entry in listed:
        account = entry.account
        origin = entry.origin + (" (hidden by yours)" if entry.shadowed else "")
        if account is None:
            rows.append((entry.name, origin, "-", "-", "-", f"INVALID: {entry.error}"))
            continue
        if account.pppup_dials:
            dials = account.phone[0] + (f" (+{len(account.phone) - 1})" if len(account.phone) > 1 else "")
        else:
            dials = "by its chat script"
        how = []
        if account.script is not None:
            how.append("chat script" if account.script.kind == "chat" else "KPPP login script")
        if account.callback is not None:
            how.append("call-back")
        if account.auth_user:
            how.append(f"PAP/CHAP as {account.auth_user}")
        rows.append((entry.name, origin, account.line, account.peer, dials, ", ".join(how) or "-"))
    return rows


def format_accounts(listed: list[Listed], where: str) -> str:
    if not listed:
        return f"no accounts: write one in {where} (docs/accounts.md)"
    return "\n".join(_table(("ACCOUNT", "FROM", "LINE", "PEER", "DIALS", "HOW"), accounts_rows(listed),
                            wide=len(("ACCOUNT", "FROM", "LINE", "PEER", "DIALS", "HOW")) - 1))


def accounts_json(listed: list[Listed]) -> list[dict[str, Any]]:
    out = []
    for entry in listed:
        item: dict[str, Any] = {"name": entry.name, "origin": entry.origin, "path": entry.path,
                                "shadowed": entry.shadowed}
        if entry.account is None:
            item["error"] = entry.error
        else:
            account = entry.account
            item.update(line=account.line, peer=account.peer, phone=list(account.phone),
                        script=account.script.kind if account.script else None,
                        callback=bool(account.callback), auth_user=account.auth_user,
                        description=account.description)
        out.append(item)
    return out


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], wide: int) -> list[str]:
    """Aligned columns; column `wide` (a long free-text one) is not padded when it is last."""
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    if wide < len(header):
        # a very long state (a holder's description) must not push every column right
        widths[wide] = min(widths[wide], 34)

    def render(row: tuple[str, ...]) -> str:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row)]
        return "  ".join(cells).rstrip()
    return [render(header)] + [render(row) for row in rows]
