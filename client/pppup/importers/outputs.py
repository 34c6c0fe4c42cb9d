"""Turn a Draft into files: check the account with the real loader, then write (or print) them.

Where files go:

    without --output          ~/.config/pppup/accounts/NAME.toml   the account (0600)
                              ~/.config/pppup/accounts/NAME.chat   a copied chat script (0600)
                              ~/.config/pppup/NAME.secret          PAP/CHAP secret (0600)
                              ~/.config/pppup/NAME.password        login password, if different (0600)
                              ~/.config/pppup/import/NAME.peer     peer file for /etc/ppp/peers (0644)
                              ~/.config/pppup/import/NAME.policy   policy snippet (0644)
                              ~/.config/pppup/import/NAME.report   the report (0644)
    --output DIR              all of them in DIR, the account naming its files relatively

Nothing existing is replaced without --force, and then only by a complete
new file (written beside it, synced, renamed over it).  Secrets are only
ever in the 0600 secret files: not in the account, the report or the
dry-run output.
"""
from __future__ import annotations

import os
import tempfile
from datetime import date
from typing import NamedTuple

from pppup_protocol.errors import Code, PppupError

from .. import accounts
from .draft import Draft, render_account, render_peer_file, render_policy
from .report import Report

USER_FILE = 0o600
ADMIN_FILE = 0o644


class Output(NamedTuple):
    path: str
    data: bytes
    mode: int
    role: str
    secret: bool = False


class Plan(NamedTuple):
    outputs: list[Output]
    account_error: str | None        # the loader's complaint, when the report already says what to fix


def plan(draft: Draft, report: Report, output_dir: str | None, user: str) -> Plan:
    name = draft.name
    today = date.today().isoformat()
    if output_dir is not None:
        base = os.path.abspath(output_dir)
        account_dir = secret_dir = admin_dir = base

        def secret_ref(path: str) -> str:
            return os.path.basename(path)
    else:
        home = accounts.home_dir()
        account_dir = accounts.user_dir()
        secret_dir = os.path.join(home, ".config/pppup")
        admin_dir = os.path.join(secret_dir, "import")

        def secret_ref(path: str) -> str:
            return "~/" + os.path.relpath(path, home)

    outputs: list[Output] = []
    login_ref = auth_ref = None
    if draft.auth_secret is not None:
        path = os.path.join(secret_dir, f"{name}.secret")
        outputs.append(Output(path, draft.auth_secret.encode() + b"\n", USER_FILE, "PAP/CHAP secret", True))
        auth_ref = secret_ref(path)
    if draft.login_password is not None:
        if draft.login_password == draft.auth_secret:
            login_ref = auth_ref
        else:
            path = os.path.join(secret_dir, f"{name}.password")
            outputs.append(Output(path, draft.login_password.encode() + b"\n", USER_FILE, "login password",
                                  True))
            login_ref = secret_ref(path)
    chat_ref = draft.chat_file
    if draft.chat_copy is not None:
        path = os.path.join(account_dir, f"{name}.chat")
        outputs.append(Output(path, draft.chat_copy.data, USER_FILE, f"chat script (copy of {draft.chat_copy.source})"))
        chat_ref = os.path.basename(path)
    account_text = render_account(draft, login_ref, auth_ref, chat_ref)
    account_path = os.path.join(account_dir, f"{name}{accounts.SUFFIX}")
    account_error = check_account(name, account_text, draft)
    if account_error is not None:
        if not report.of_kind("fix"):
            raise PppupError(f"the imported account does not load ({account_error}); this is a bug of "
                             "`pppup import`: please report it with the file you imported", Code.FAILURE)
        report.fix("", f"until these are fixed, {account_path} does not load: {account_error}")
    outputs.insert(0, Output(account_path, account_text.encode(), USER_FILE, "account"))
    outputs.append(Output(os.path.join(admin_dir, f"{name}.peer"), render_peer_file(draft, today).encode(),
                          ADMIN_FILE, f"peer file for /etc/ppp/peers/{draft.peer} (administrator)"))
    outputs.append(Output(os.path.join(admin_dir, f"{name}.policy"), render_policy(draft, user, today).encode(),
                          ADMIN_FILE, "policy snippet for /etc/pppup/policy.toml (administrator)"))
    outputs.append(Output(os.path.join(admin_dir, f"{name}.report"),
                          (f"`{draft.command}` on {today}\n\n" + report.render()).encode(), ADMIN_FILE, "report"))
    return Plan(outputs, account_error)


def check_account(name: str, text: str, draft: Draft) -> str | None:
    """Load the account as `pppup NAME` would (with a copied script beside it); None if it loads."""
    with tempfile.TemporaryDirectory(prefix="pppup-import-") as scratch:
        path = os.path.join(scratch, f"{name}{accounts.SUFFIX}")
        _write_new(path, text.encode(), USER_FILE)
        if draft.chat_copy is not None:
            _write_new(os.path.join(scratch, f"{name}.chat"), draft.chat_copy.data, USER_FILE)
        try:
            accounts.load_file(path, "user")
        except PppupError as problem:
            return problem.message.replace(path, f"{name}{accounts.SUFFIX}")
    return None


def write(outputs: list[Output], force: bool) -> None:
    existing = [output.path for output in outputs if os.path.lexists(output.path)]
    if existing and not force:
        raise PppupError("these files exist already: " + ", ".join(existing) + "; nothing was written: "
                         "use --force to replace them, or --name/--output for new ones", Code.USAGE)
    for output in outputs:
        directory = os.path.dirname(output.path)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, temporary = tempfile.mkstemp(prefix=".import-", dir=directory)
        try:
            os.fchmod(fd, output.mode)
            _write_all(fd, output.data)
            os.fsync(fd)
            os.close(fd)
            fd = -1
            os.replace(temporary, output.path)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            if os.path.exists(temporary):
                os.unlink(temporary)
            raise


def show(outputs: list[Output]) -> str:
    """What --dry-run prints: every file, secrets replaced by their length."""
    parts: list[str] = []
    for output in outputs:
        parts.append(f"==> {output.path} ({output.role}, mode {output.mode:04o}) <==")
        if output.secret:
            length = len(output.data.decode(errors="replace").rstrip("\n"))
            parts.append(f"(a secret of {length} characters; not shown)\n")
        else:
            parts.append(output.data.decode(errors="replace"))
    return "\n".join(parts)


def _write_new(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        _write_all(fd, data)
    finally:
        os.close(fd)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
