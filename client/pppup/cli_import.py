"""`pppup import peers|wvdial|kppp`: make pppup accounts from an existing dial-up set-up.

Each subcommand reads the old configuration, writes the user's account
(and its 0600 secret file, and a copied chat script when one is needed),
and for the administrator a peer file and a policy snippet, then prints a
report of what could not be carried over.  The work is in pppup.importers;
this module is the command line only.  docs/migrating.md explains the
mapping.
"""
from __future__ import annotations

import os
import pwd
import sys
from typing import Any, Callable

import click

from pppup_protocol.errors import Code, PppupError

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from .importers.modem_strings import valid_name
    if value is not None and not valid_name(value):
        raise click.BadParameter(f"{value!r}: use 1-32 lower-case letters, digits, '.', '_' or '-', starting "
                                 "with a letter or digit")
    return value


def _common(command: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--name", callback=_name, metavar="NAME", help="Name of the new account (default: from "
                     "the imported configuration)."),
        click.option("--output", "-o", type=click.Path(file_okay=False), metavar="DIR",
                     help="Write every file into DIR (default: your ~/.config/pppup)."),
        click.option("--dry-run", "-n", is_flag=True, help="Print the files instead of writing them "
                     "(secrets are not shown)."),
        click.option("--force", is_flag=True, help="Replace files that exist already."),
        click.option("--line", callback=_name, metavar="NAME", help="The policy's name for the modem line "
                     "(default: from the device, e.g. ttys0)."),
        click.option("--peer", callback=_name, metavar="NAME", help="The policy's name for the new peer "
                     "file (default: pppup-ACCOUNT)."),
        click.option("--user", metavar="USER", help="Whom the policy rule is for (default: you)."),
        click.option("--copy-scripts", is_flag=True, help="Copy chat scripts next to the account even when "
                     "they could be used where they are."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


@click.group("import", context_settings=CONTEXT)
def import_group() -> None:
    """Make pppup accounts from pppd peers (pon), wvdial or KPPP.

    \b
      pppup import peers NAME              /etc/ppp/peers/NAME and its chat script
      pppup import wvdial [FILE] [SECTION] /etc/wvdial.conf + ~/.wvdialrc, or FILE
      pppup import kppp [FILE]             KPPP's kppprc (every account, or --account)

    Writes your account (~/.config/pppup/accounts/NAME.toml), a secret file
    (mode 0600) if a password was stored, and for your administrator a peer
    file and a policy snippet (~/.config/pppup/import/), then lists what
    could not be carried over and why.  Existing chat scripts are used
    unchanged.  Nothing is replaced without --force.
    """


@import_group.command("peers", context_settings=CONTEXT)
@click.argument("peer_file", metavar="NAME")
@click.option("--root", type=click.Path(exists=True, file_okay=False), default="/", metavar="DIR",
              help="Read /etc/ppp and /etc/chatscripts under DIR (a copy of the old machine's files).")
@_common
def peers(peer_file: str, root: str, **options: Any) -> None:
    """A pppd peer file: /etc/ppp/peers/NAME (or a path) with its connect "chat ..." script."""
    from .importers.peers import import_peers
    _run(lambda opts, report: [(import_peers(peer_file, opts, report, root), report)], options)


@import_group.command("wvdial", context_settings=CONTEXT)
@click.argument("where", nargs=-1, metavar="[FILE] [SECTION]")
@_common
def wvdial(where: tuple[str, ...], **options: Any) -> None:
    """A wvdial section: [Dialer SECTION] (default [Dialer Defaults]) with what it inherits."""
    from .importers.wvdial import import_wvdial
    if len(where) > 2:
        raise click.UsageError("give at most a FILE and a SECTION")
    file = section = None
    if len(where) == 2:
        file, section = where
    elif len(where) == 1:
        if "/" in where[0] or os.path.isfile(where[0]):
            file = where[0]
        else:
            section = where[0]
    _run(lambda opts, report: [(import_wvdial(file, section, opts, report), report)], options)


@import_group.command("kppp", context_settings=CONTEXT)
@click.argument("file", required=False, metavar="[FILE]")
@click.option("--account", metavar="NAME", help="Only this KPPP account (its name, or its number).")
@_common
def kppp(file: str | None, account: str | None, **options: Any) -> None:
    """KPPP's accounts with their login scripts (~/.config/kppprc or ~/.kde/share/config/kppprc)."""
    from .importers.kppp import import_kppp
    _run(lambda opts, report: import_kppp(file, account, opts, report), options)


def _run(importer: Callable[..., Any], options: dict[str, Any]) -> None:
    from .importers import outputs
    from .importers.draft import ImportOptions
    from .importers.report import Report
    user = options["user"] or _my_name()
    try:
        if options["user"]:
            try:
                pwd.getpwnam(options["user"])
            except KeyError:
                raise PppupError(f"there is no user {options['user']!r} for the policy rule; give an existing "
                                 "user name to --user", Code.USAGE) from None
        chosen = ImportOptions(name=options["name"], line=options["line"], peer=options["peer"], user=user,
                               copy_scripts=options["copy_scripts"])
        results = importer(chosen, Report())
        plans = [(draft, report, outputs.plan(draft, report, options["output"], user)) for draft, report in results]
        names = [draft.name for draft, _, _ in plans]
        if len(set(names)) != len(names):
            raise PppupError(f"two imported accounts would be named alike ({', '.join(names)}); import them one "
                             "by one with --account and --name", Code.USAGE)
        if options["dry_run"]:
            for _, _, plan in plans:
                click.echo(outputs.show(plan.outputs))
            return
        everything = [output for _, _, plan in plans for output in plan.outputs]
        outputs.write(everything, options["force"])
    except PppupError as error:
        click.echo(f"pppup: {error.message.removeprefix('pppup: ')}", err=True)
        sys.exit(int(error.code))
    for draft, report, plan in plans:
        click.echo(_summary(draft, report, plan))


def _summary(draft: Any, report: Any, plan: Any) -> str:
    lines = [f"pppup import: account {draft.name} ({draft.source})"]
    width = max(len(output.role) for output in plan.outputs)
    for output in plan.outputs:
        lines.append(f"  {output.role:<{width}}  {output.path}")
    lines.append("")
    lines.append(report.render().rstrip("\n"))
    lines.append("")
    admin = [output.path for output in plan.outputs if "administrator" in output.role]
    first = f"fix what is listed under \"Must be fixed\" in {plan.outputs[0].path}, " if report.of_kind("fix") else ""
    lines.append(f"Next: {first}give {' and '.join(admin)} to your administrator; then `pppup {draft.name}` "
                 "dials.")
    if os.geteuid() == 0:
        lines.append("These files belong to root: an account and its secret file must belong to the user "
                     "who dials (chown them).")
    return "\n".join(lines) + "\n"


def _my_name() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())
