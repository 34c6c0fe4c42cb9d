"""KPPP's login scripts (ScriptCommands + ScriptArguments) as pppup's, and its script call-back.

KPPP stored a script as two string lists; its command names and their
arguments are KPPP's (scriptedit.cpp, connect.cpp).  The conversion keeps
every command pppup's runner has (docs/chat.md) and reports what it cannot
keep: commands KPPP never had, arguments with line breaks, an empty Expect
(KPPP matched it at once), a zero Timeout, a Save of anything but the
password.
"""
from __future__ import annotations

import re

from .login_text import representable
from .report import Report

COMMAND_ALIASES = {"Pause (sec)": "Pause", "Timeout (sec)": "Timeout"}
COMMANDS = ("Expect", "Send", "Pause", "Hangup", "Answer", "Timeout", "Password", "ID", "Prompt", "PWPrompt",
            "LoopStart", "LoopEnd", "Scan", "Save", "SendNoEcho")
CHOOSERS = ("Send", "SendNoEcho", "Prompt")


def convert_commands(at: str, names: list[str], arguments: list[str], report: Report) -> list[tuple[str, str]]:
    """KPPP's (command, argument) pairs as pppup's login-script commands; what cannot be is reported."""
    kept: list[tuple[str, str]] = []
    for position, (raw_name, argument) in enumerate(zip(names, arguments), 1):
        name = COMMAND_ALIASES.get(raw_name.strip(), raw_name.strip())
        if not name and not argument.strip():
            # KPPP's provider database ends its lists with a comma (`Expect,Send,`):
            # the empty last item is no command, and KPPP runs nothing for it.
            continue
        label = f"script command {position} ({raw_name} {argument!r})"
        if name not in COMMANDS:
            report.fix(at, f"{label}: KPPP has no such command; left out")
            continue
        if not representable(argument):
            report.fix(at, f"{label}: the argument holds a line break or control character, which a "
                       "script line cannot; left out")
            continue
        if name in ("Pause", "Timeout"):
            digits = re.match(r"\s*([0-9]+)", argument)
            seconds = int(digits.group(1)) if digits else 0
            if name == "Timeout" and seconds == 0:
                report.dropped(at, f"{label}: a zero timeout; left out")
                continue
            argument = str(seconds)
        if name == "Expect" and argument == "":
            report.dropped(at, f"{label}: an empty Expect waits for nothing; left out")
            continue
        if name == "Save" and argument.strip().lower() != "password":
            report.dropped(at, f"{label}: KPPP can only save the password; left out")
            continue
        if name in ("Hangup", "Answer"):
            argument = ""
        kept.append((name, argument))
    return kept


def callback_table(at: str, commands: list[tuple[str, str]], auto_answer: bool, report: Report
                   ) -> dict[str, object] | None:
    """The [callback] table when the script is KPPP's script call-back; its Hangup/Answer are removed.

    A call-back script logs in, chooses a number (a Send or Prompt right
    after an Expect) and logs in again (an Expect seen before comes back),
    or hangs up and answers itself (Hangup/Answer).  The modem set to
    auto-answer (`auto_answer`) or an Answer command says it is meant as one.
    """
    answer = next((i for i, (name, _) in enumerate(commands) if name in ("Answer", "Hangup")), None)
    expects: list[str] = []
    boundary = answer
    for index, (name, argument) in enumerate(commands):
        if boundary is not None:
            break
        if name == "Expect":
            if argument in expects:
                boundary = index
            expects.append(argument)
    if not auto_answer and answer is None:
        return None
    chooser = None
    for index in range(1, boundary if boundary is not None else len(commands)):
        if commands[index][0] in CHOOSERS and commands[index - 1][0] == "Expect":
            chooser = index
    if chooser is None or boundary is None:
        report.fix(at, "the modem is set up for call-back (auto-answer, or an Answer command) but the "
                   "login script shows no choice of call-back number followed by a second login: "
                   "add [callback] by hand (docs/accounts.md)")
        return None
    menu_prompt = commands[chooser - 1][1]
    table: dict[str, object] = {"menu_prompt": menu_prompt}
    choice_name, choice = commands[chooser]
    if choice_name != "Prompt" and choice:
        table["default"] = choice
    for index in reversed(range(len(commands))):
        if commands[index][0] in ("Answer", "Hangup"):
            report.note(at, f"script command {commands[index][0]}: pppup's call-back waits for the "
                        "server's hang-up and answers the call itself; left out")
            del commands[index]
    report.note(at, f"script call-back: `Expect {menu_prompt}` then `{choice_name} {choice}` choose the "
                "number -> [callback] (pppup sets the modem to AT&C0&D3S0=1 for it and resets it after)")
    return table
