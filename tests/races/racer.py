"""One racing user (tests/races): takes lines through the installed setuid shim when told to.

Runs as an unprivileged test user under the installed venv's interpreter, so
it uses the installed client library, exactly what `pppup` uses:

    setpriv --reuid U ... /usr/local/lib/pppup/venv/bin/python -I racer.py

It reads one JSON command per line on stdin and answers each with one JSON
line on stdout (times are time.monotonic(): the coordinator's clock too):

    {"op": "race", "trial": N, "line": L, "account": A}
        -> {"trial": N, "line": L, "ok": true, "helper_pid": P, "t_start": T, "t_done": T}
        -> {"trial": N, "line": L, "ok": false, "code": C, "message": M, "t_start": T, "t_done": T}
    {"op": "release"}   -> {"released": true, "t_release": T}    (the winner lets go of its line)
                        -> {"released": false}                    (it holds nothing)
    {"op": "quit"}      -> exits

A winner keeps its helper connection and the tty fd until told to release,
so every other racer of the trial meets a held line.
"""
from __future__ import annotations

import json
import os
import sys
import time

from pppup.helper_client import HelperClient
from pppup_protocol.errors import PppupError


class Holding:
    def __init__(self, helper: HelperClient, fd: int) -> None:
        self.helper = helper
        self.fd = fd

    def release(self) -> None:
        try:
            self.helper.release()
        finally:
            os.close(self.fd)
            self.helper.close()


def race(command: dict) -> tuple[dict, Holding | None]:
    report: dict = {"trial": command["trial"], "line": command["line"]}
    helper = HelperClient()
    report["t_start"] = time.monotonic()
    try:
        fd, _limits = helper.acquire(command["line"], command["account"])
    except PppupError as error:
        report.update(ok=False, code=int(error.code), message=error.message, t_done=time.monotonic())
        helper.close()
        return report, None
    report.update(ok=True, helper_pid=helper.pid, t_done=time.monotonic())
    return report, Holding(helper, fd)


def main() -> int:
    holding: Holding | None = None
    for raw in sys.stdin:
        command = json.loads(raw)
        op = command["op"]
        if op == "race":
            if holding is not None:
                answer: dict = {"trial": command["trial"], "line": command["line"], "ok": False, "code": -1,
                                "message": "racer still holds a line from the last trial"}
            else:
                answer, holding = race(command)
        elif op == "release":
            if holding is None:
                answer = {"released": False}
            else:
                answer = {"released": True, "t_release": time.monotonic()}
                try:
                    holding.release()
                except PppupError as error:
                    answer.update(released=False, message=error.message)
                holding = None
        elif op == "quit":
            break
        else:
            answer = {"error": f"unknown op {op!r}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
    if holding is not None:
        holding.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
