"""The chat engine: chat(8)-compatible scripts and KPPP-style login scripts.

Library API (names are imported lazily, so `pppup-chat` starts fast):

    script = parse_file("/etc/chatscripts/isp")      # or parse_argv / parse_bytes
    result = run_chat(script.steps, Channel(fd), ChatOptions(pacing=False,
                      secrets={b"pw"}), on_event=print)
    result.code, result.abort_string, result.connect_speed, result.reports

    login = parse_login_script(text, "account.login")  # KPPP language
    outcome = run_login_script(login, Channel(fd), LoginOptions(username="alice", ...))

See docs/chat.md.
"""
from __future__ import annotations

_EXPORTS = {
    "parse_file": "script", "parse_bytes": "script", "parse_argv": "script",
    "Script": "script", "Expect": "script", "Send": "script", "Keyword": "script", "Token": "script",
    "Channel": "channel", "LineClosed": "channel",
    "ChatEngine": "engine", "ChatOptions": "engine", "run_chat": "engine",
    "EscapeContext": "escapes",
    "Matcher": "matcher",
    "parse_login_script": "kppp", "run_login_script": "kppp", "LoginOptions": "kppp",
    "LoginScript": "kppp", "LoginResult": "kppp", "LoginRunner": "kppp", "LoginFailed": "kppp",
    "LineIO": "kppp", "FixedAnswers": "kppp", "TerminalAnswers": "kppp", "PromptRequest": "kppp",
    "hang_up": "kppp", "answer_call": "kppp", "expect_hangup": "kppp",
    "ChatScriptError": "errors",
    "ChatResult": "events",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pppup.chat' has no attribute {name!r}")
    import importlib        # here, not above: pppup-chat never needs it
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)
