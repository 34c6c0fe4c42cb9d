"""Passwords and PAP/CHAP secrets, from where the account says: inline, a file, or a hidden prompt.

Everything is asked for before the line is taken, so nobody holds a modem
while the user types.  A secret file's first line is the secret (its newline
is not); the file must be the user's own and mode 0600 (filecheck).
Prompts go to the controlling terminal with echo off, never to stdout.
"""
from __future__ import annotations

import os
import termios
from typing import NamedTuple

from pppup_protocol.errors import Code, PppupError

from .accounts import Account, SecretSource
from .filecheck import MAX_SECRET_BYTES, Trust, read_checked

TERMINAL = "/dev/tty"


class Credentials(NamedTuple):
    login_user: str | None
    login_password: str | None
    auth_user: str | None
    auth_secret: str | None

    def secrets(self) -> set[bytes]:
        """What must never appear in a transcript or log."""
        return {value.encode() for value in (self.login_password, self.auth_secret) if value}


def gather(account: Account, terminal: str = TERMINAL) -> Credentials:
    login_user = account.login_user
    if login_user is None and account.needs_login_user:
        login_user = ask(f"Login name for {account.name}: ", secret=False, terminal=terminal,
                         why=f"the login script of account {account.name} sends an ID",
                         fix=f'add user = "NAME" to [login] in {account.path}')
    login_password = None
    if account.needs_login_password:
        login_password = resolve(account.login_password, f"Password for {account.name}: ", terminal,
                                 why=f"the script of account {account.name} sends a password",
                                 fix=f'add password_file = "~/.config/pppup/{account.name}.password" '
                                     f"to [login] in {account.path} (a file of yours, chmod 600)")
    auth_secret = None
    if account.auth_user is not None:
        auth_secret = resolve(account.auth_secret, f"PAP/CHAP secret of {account.auth_user} "
                              f"({account.name}): ", terminal,
                              why=f"pppd authenticates as {account.auth_user}",
                              fix=f'add secret_file = "~/.config/pppup/{account.name}.secret" to [auth] '
                                  f"in {account.path} (a file of yours, chmod 600)")
        if not all(0x20 <= ord(ch) <= 0x7E for ch in auth_secret) or len(auth_secret) > 128:
            raise PppupError(f"the PAP/CHAP secret for {account.name} has characters pppd cannot use; "
                             "use printable ASCII, at most 128 characters", Code.CONFIG)
    return Credentials(login_user, login_password, account.auth_user, auth_secret)


def resolve(source: SecretSource, prompt: str, terminal: str, why: str, fix: str) -> str:
    if source.kind == "inline" and source.value is not None:
        return source.value
    if source.kind == "file" and source.path is not None:
        return read_secret_file(source.path)
    return ask(prompt, secret=True, terminal=terminal, why=why, fix=fix)


def read_secret_file(path: str) -> str:
    data = read_checked(path, Trust.SECRET, "secret file", limit=MAX_SECRET_BYTES)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PppupError(f"{path}: the secret file is not UTF-8 text; write the secret on its first line",
                         Code.CONFIG) from None
    first = text.split("\n", 1)[0].rstrip("\r")
    if not first:
        raise PppupError(f"{path}: the secret file's first line is empty; write the secret there",
                         Code.CONFIG)
    return first


def ask(prompt: str, secret: bool, terminal: str, why: str, fix: str) -> str:
    """One line from the terminal (echo off for secrets)."""
    try:
        fd = os.open(terminal, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        raise PppupError(f"{why}, and there is no terminal to ask on; {fix}", Code.CONFIG) from None
    saved = None
    try:
        if secret:
            try:
                saved = termios.tcgetattr(fd)
                quiet = termios.tcgetattr(fd)
                quiet[3] &= ~(termios.ECHO | termios.ECHONL)
                termios.tcsetattr(fd, termios.TCSAFLUSH, quiet)
            except termios.error:
                raise PppupError(f"{why}, and {terminal} is not a terminal; {fix}", Code.CONFIG) from None
        os.write(fd, prompt.encode())
        answer = bytearray()
        while not answer.endswith(b"\n") and len(answer) < 1024:
            chunk = os.read(fd, 256)
            if not chunk:
                break
            answer += chunk
        if secret:
            os.write(fd, b"\n")
        text = answer.decode(errors="replace").rstrip("\r\n")
        if not text:
            raise PppupError(f"nothing was typed for {prompt.strip().rstrip(':')}; {fix}", Code.CONFIG)
        return text
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSAFLUSH, saved)
        os.close(fd)
