"""The user's commands: `pppup ACCOUNT`, `pppup status`, `pppup accounts`, `pppdown`.

`pppup NAME` runs account NAME unless NAME is a subcommand (accounts.RESERVED:
up, down, status, accounts, import); `pppup up NAME` always runs the account, so an
account may have any name.  Exit statuses are pppup_protocol.errors.Code
(README "Exit status"); click's own usage errors exit 2, which is Code.USAGE.
"""
from __future__ import annotations

import sys
from typing import Any, NoReturn

import click

from pppup_protocol.errors import Code, PppupError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _fail(error: PppupError, prog: str) -> NoReturn:
    message = error.message
    for prefix in ("pppup: ", "pppdown: "):
        message = message.removeprefix(prefix)
    click.echo(f"{prog}: {message}", err=True)
    sys.exit(int(error.code))


def _interrupted(prog: str, name: str = "interrupted") -> NoReturn:
    click.echo(f"{prog}: {name}; stopped", err=True)
    sys.exit(int(Code.INTERRUPTED))


class AccountGroup(click.Group):
    """A group whose first argument, when it is not a subcommand, is an account to bring up."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help", "--version"):
            args = ["up", *args]
        return super().parse_args(ctx, args)


@click.group(cls=AccountGroup, context_settings=CONTEXT)
@click.version_option(package_name="pppup", message="%(prog)s %(version)s")
def pppup() -> None:
    """Bring a dial-up PPP link up for ACCOUNT, or look at the lines.

    \b
      pppup ACCOUNT [options]   dial, log in and start PPP (same as `pppup up ACCOUNT`)
      pppup status [--json]     every line: state, owner, account, addresses, bytes
      pppup accounts [--json]   your accounts and the system's
      pppdown [ACCOUNT|LINE]    end your link (also `pppup down`)

    Accounts live in ~/.config/pppup/accounts/NAME.toml (yours win) and
    /etc/pppup/accounts/NAME.toml.  An account named like a subcommand
    (up, down, status, accounts, import) is run with `pppup up NAME`.
    """


@pppup.command(context_settings=CONTEXT)
@click.argument("account")
@click.option("--line", "line", metavar="LINE", help="Use this policy line instead of the account's.")
@click.option("--callback", "callback", metavar="ALIAS", help="The call-back number to ask the server for.")
@click.option("--wait", "wait", is_flag=True, help="If the line is busy, wait until it is free.")
@click.option("--wait-timeout", "wait_timeout", type=click.IntRange(1, 86400), default=600, show_default=True,
              metavar="SECONDS", help="How long --wait waits.")
@click.option("--foreground", "-f", "foreground", is_flag=True,
              help="Stay until Ctrl-C, which ends the link.")
@click.option("--verbose", "-v", "verbose", is_flag=True, help="Show the conversation on the line (secrets masked).")
@click.option("--quiet", "-q", "quiet", is_flag=True, help="No progress lines, only the result and errors.")
def up(account: str, line: str | None, callback: str | None, wait: bool, wait_timeout: int,
       foreground: bool, verbose: bool, quiet: bool) -> None:
    """Dial ACCOUNT, log in, start PPP; exit 0 with the link up (the helper keeps it)."""
    from .accounts import load_account
    from .interrupts import Interrupted
    from .progress import Progress, seconds
    from .session import Session, UpOptions, stay_in_foreground
    progress = Progress(verbose=verbose, quiet=quiet)
    try:
        loaded = load_account(account)
        for warning in loaded.script.warnings if loaded.script else ():
            if verbose:
                progress.warn(warning)
        options = UpOptions(line=line, callback=callback, wait=wait, wait_timeout=float(wait_timeout),
                            foreground=foreground)
        link = Session(loaded, options, progress).run()
        limits = _limits_text(link.link)
        progress.step(f"PPP up in {seconds(link.ppp_seconds)} ({seconds(link.total_seconds)} in all)"
                      + (f"; {limits}" if limits else ""))
        click.echo(f"{link.account}: link up on {link.line} ({link.ifname}): local {link.local}, "
                   f"remote {link.remote}")
        if foreground:
            sys.exit(stay_in_foreground(link, progress))
        progress.step(f"the link stays up; end it with: pppdown {link.account}")
    except PppupError as error:
        progress.close()
        _fail(error, "pppup")
    except Interrupted as signal_:
        progress.close()
        _interrupted("pppup", signal_.name)
    except KeyboardInterrupt:
        progress.close()
        _interrupted("pppup")


def _limits_text(link: dict[str, Any]) -> str:
    from .progress import seconds
    parts = []
    if link.get("idle"):
        parts.append(f"idle limit {seconds(float(link['idle']))}")
    if link.get("maxconnect"):
        parts.append(f"connect time limit {seconds(float(link['maxconnect']))}")
    return ", ".join(parts)


@pppup.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(as_json: bool) -> None:
    """Every line of the policy: state, owner, account, since when, addresses, bytes."""
    from .helper_client import HelperClient
    from .status import format_json, format_status
    try:
        with HelperClient() as helper:
            lines = helper.status()
    except PppupError as error:
        _fail(error, "pppup")
    except KeyboardInterrupt:
        _interrupted("pppup")
    click.echo(format_json(lines) if as_json else format_status(lines))


@pppup.command(context_settings=CONTEXT)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def accounts(as_json: bool) -> None:
    """Your accounts and the system's (yours win), with what each one does."""
    from .accounts import list_accounts, user_dir
    from .status import accounts_json, format_accounts, format_json
    listed = list_accounts()
    click.echo(format_json(accounts_json(listed)) if as_json else format_accounts(listed, user_dir()))


def _down(target: str | None, all_: bool, as_json: bool, prog: str) -> None:
    from .down import pppdown as stop
    from .session import _helper_client, describe_stop
    from .status import format_json
    try:
        stopped = stop(target, all_, _helper_client)
    except PppupError as error:
        _fail(error, prog)
    except KeyboardInterrupt:
        _interrupted(prog)
    if as_json:
        click.echo(format_json(stopped))
    else:
        for entry in stopped:
            click.echo(f"{prog}: {describe_stop(entry)}")
    if not any(entry.get("stopped") for entry in stopped):
        sys.exit(int(Code.NO_LINK))


_DOWN_HELP = """End a link: yours (the only one, or the one of ACCOUNT or on LINE),
another user's if the policy makes you an admin of that line, or with
--all every link you may stop.  Returns when pppd has exited and the line
is free, and says how long the link was up and how much it carried."""


@pppup.command("down", context_settings=CONTEXT, help=_DOWN_HELP)
@click.argument("target", required=False, metavar="[ACCOUNT|LINE]")
@click.option("--all", "all_", is_flag=True, help="Every link you may stop (admins).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def down(target: str | None, all_: bool, as_json: bool) -> None:
    _down(target, all_, as_json, "pppup")


@click.command("pppdown", context_settings=CONTEXT, help=_DOWN_HELP)
@click.argument("target", required=False, metavar="[ACCOUNT|LINE]")
@click.option("--all", "all_", is_flag=True, help="Every link you may stop (admins).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def pppdown(target: str | None, all_: bool, as_json: bool) -> None:
    _down(target, all_, as_json, "pppdown")


# `pppup import peers|wvdial|kppp` (cli_import.py, importers/): migration from pon, wvdial, KPPP.
from .cli_import import import_group  # noqa: E402
pppup.add_command(import_group)


def _main(command: click.Command, prog: str, args: list[str] | None = None) -> NoReturn:
    """click's standalone mode, except that Ctrl-C exits 130 (Code.INTERRUPTED), not 1."""
    try:
        command.main(args=args, prog_name=prog, standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except (click.exceptions.Abort, KeyboardInterrupt):
        _interrupted(prog)
    sys.exit(0)


def pppup_main(args: list[str] | None = None) -> NoReturn:
    _main(pppup, "pppup", args)


def pppdown_main(args: list[str] | None = None) -> NoReturn:
    _main(pppdown, "pppdown", args)
