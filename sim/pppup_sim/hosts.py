"""Scripted remote hosts that sit behind phone numbers.

- isp:      PPP straight after CONNECT: runs its pppd at once.
- login:    `login:` / `Password:`, then a shell-like prompt; a ppp command
            (`ppp`, `start_ppp`) runs its pppd; a wrong password gives
            `Login incorrect` and a new `login:`.
- callback: the KPPP seed's callback server: `login:` -> ID -> a menu of the
            user's callback aliases ending in `for <user>:` -> alias -> hang
            up -> call the alias's number back -> `login:`, `Password:`, `>`
            -> `start_ppp` runs its pppd.
- blob:     sends `size` bytes of a repeated pattern, then a trailer, then
            stays on the line (the chat benchmark's noise source).
- echo:     sends back every byte it receives.

Every text is configurable; the defaults make the seed's KPPP script run
verbatim.  The hosts' coroutines run on the simulator's loop, one task per
session; `HostService` admits at most `lines` sessions (more callers get BUSY).
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Callable

from .config import ConfigError as HostConfigError
from .hostline import CallEnded, HostLine

if TYPE_CHECKING:
    from .config import HostConfig
    from .world import Runtime

COMMON = {"banner": "", "idle_timeout": 60.0}
LOGIN_TEXTS = {
    "login_prompt": "login: ",
    "password_prompt": "Password: ",
    "incorrect": "\r\nLogin incorrect\r\n",
    "not_found": "{command}: command not found\r\n",
}
KIND_OPTIONS: dict[str, dict[str, Any]] = {
    "isp": {"pap_secrets": {}},
    "login": {**LOGIN_TEXTS, "users": {}, "prompt": "$ ", "ppp_commands": ["ppp", "start_ppp"],
              "max_tries": 3, "echo": True, "pap_secrets": {}},
    "callback": {**LOGIN_TEXTS, "users": {}, "prompt": "> ",
                 "ppp_commands": ["start_ppp", "ppp"], "max_tries": 3, "echo": True,
                 "pap_secrets": {},
                 "callback_delay": 3.0, "callback_attempts": 2, "callback_retry_delay": 5.0,
                 "answer_timeout": 60.0, "caller_number": "",
                 "second_login": "trust", "relogin_wait": 1.0,
                 "menu_header": "\r\nCallback numbers of {user}:\r\n",
                 "menu_item": "  {alias}\r\n",
                 "menu_prompt": "Choose a callback number for {user}: ",
                 "unknown_alias": "\r\nNo callback number {alias} for {user}. Goodbye.\r\n",
                 "callback_notice": "\r\nCalling you back at {alias} in {delay:g} s; hanging up.\r\n"},
    "blob": {"size": 1024 * 1024, "pattern": "CONNEC\r\n", "trailer": "\r\nCONNECT 33600\r\n"},
    "echo": {},
    "script": {"steps": []},
}
SCRIPT_STEPS = {"send": ("after",), "wait": ("timeout",), "sleep": (), "hangup": ()}


def validate_options(kind: str, spec: dict, where: str) -> dict[str, Any]:
    """Take this kind's options out of `spec` (defaults filled in); unknown keys are errors."""
    defaults = {**COMMON, **KIND_OPTIONS[kind]}
    options: dict[str, Any] = {}
    for key, default in defaults.items():
        value = spec.pop(key, default)
        expected = float if isinstance(default, float) else type(default)
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise HostConfigError(f"{where}.{key}: expected {expected.__name__}, got {value!r}")
        options[key] = value
    if spec:
        raise HostConfigError(f"{where}: unknown key(s) {', '.join(sorted(spec))} for a {kind} "
                              f"host; known: {', '.join(sorted(defaults))}")
    if kind == "callback":
        options["users"] = _callback_users(options["users"], f"{where}.users")
        if options["second_login"] not in ("trust", "password"):
            raise HostConfigError(f'{where}.second_login: expected "trust" or "password"')
    elif kind in ("login",):
        if not all(isinstance(v, str) for v in options["users"].values()):
            raise HostConfigError(f"{where}.users: expected a table user = \"password\"")
    if kind == "blob" and (options["size"] < 0 or not options["pattern"] and options["size"]):
        raise HostConfigError(f"{where}: size must be >= 0 and pattern non-empty")
    if kind == "script":
        options["steps"] = _script_steps(options["steps"], f"{where}.steps")
    if not all(isinstance(v, str) for v in options.get("pap_secrets", {}).values()):
        raise HostConfigError(f"{where}.pap_secrets: expected a table user = \"secret\"")
    return options


def _callback_users(users: dict, where: str) -> dict[str, dict[str, Any]]:
    result = {}
    for user, spec in users.items():
        if not isinstance(spec, dict) or not isinstance(spec.get("callback"), dict) or \
                not spec["callback"]:
            raise HostConfigError(f"{where}.{user}: expected {{ password = \"...\", callback = "
                                  f"{{ alias = \"number\", ... }} }} with at least one alias")
        unknown = set(spec) - {"password", "callback"}
        if unknown:
            raise HostConfigError(f"{where}.{user}: unknown key(s) {', '.join(sorted(unknown))}")
        password = spec.get("password")
        if password is not None and not isinstance(password, str):
            raise HostConfigError(f"{where}.{user}.password: expected a string")
        result[user] = {"password": password, "callback": dict(spec["callback"])}
    return result


def _script_steps(steps: list, where: str) -> tuple[tuple[str, Any, float], ...]:
    """[{send = "..", after = 0.1}, {wait = "..", timeout = 5}, {sleep = 1}, {hangup = true}]

    Strings are bytes through latin-1 ("\u0000".."\u00ff"), so any byte can be sent or awaited.
    """
    result = []
    for index, step in enumerate(steps):
        here = f"{where}[{index}]"
        kinds = [k for k in SCRIPT_STEPS if isinstance(step, dict) and k in step]
        if len(kinds) != 1:
            raise HostConfigError(f"{here}: a step is a table with exactly one of "
                                  f"{', '.join(SCRIPT_STEPS)}")
        kind = kinds[0]
        unknown = set(step) - {kind, *SCRIPT_STEPS[kind]}
        if unknown:
            raise HostConfigError(f"{here}: unknown key(s) {', '.join(sorted(unknown))}")
        value = step[kind]
        try:
            if kind in ("send", "wait"):
                payload: Any = value.encode("latin-1")
                extra = float(step.get("after" if kind == "send" else "timeout",
                                       0.0 if kind == "send" else 10.0))
            elif kind == "sleep":
                payload, extra = None, float(value)
            else:
                payload, extra = None, 0.0
        except (AttributeError, UnicodeEncodeError, TypeError, ValueError):
            raise HostConfigError(f"{here}: {kind} takes a string of characters U+0000..U+00FF "
                                  f"(send, wait) or a number of seconds (sleep, after, timeout)") \
                from None
        result.append((kind, payload, extra))
    return tuple(result)


class HostService:
    """One configured host: admits calls, runs one session coroutine per call."""

    def __init__(self, runtime: "Runtime", config: "HostConfig") -> None:
        self.rt = runtime
        self.config = config
        self.options = config.options
        self.sessions: set[asyncio.Task] = set()
        self._behaviour: Callable[[HostLine], Any] = {
            "isp": self._isp, "login": self._login, "callback": self._callback,
            "blob": self._blob, "echo": self._echo, "script": self._script}[config.kind]

    @property
    def name(self) -> str:
        return self.config.name

    def new_line(self, call: Any) -> HostLine | None:
        """The host's end of an incoming call, or None (BUSY) when all its lines are in use."""
        if len(self.sessions) >= self.config.lines:
            return None
        return HostLine(self.name, self.config.speed, self.rt.network,
                        self.rt.config.delays.host_answer_rings, on_connected=self.start_session)

    def start_session(self, line: HostLine) -> None:
        task = self.rt.loop.create_task(self._session(line))
        self.sessions.add(task)
        task.add_done_callback(self.sessions.discard)

    async def _session(self, line: HostLine) -> None:
        try:
            banner = self.options["banner"]
            if banner:
                line.write(banner)
            await self._behaviour(line)
        except CallEnded:
            pass
        except TimeoutError:
            self.rt.log.emit("host", self.name, step="idle-timeout")
            line.hang_up("host")
        except asyncio.CancelledError:
            line.hang_up("shutdown")
            raise
        except Exception as error:          # a bug in a host must not kill the simulator
            self.rt.log.emit("host", self.name, step="error", error=repr(error))
            line.hang_up("host")

    def _step(self, step: str, **data: Any) -> None:
        self.rt.log.emit("host", self.name, step=step, **data)

    async def _run_pppd(self, line: HostLine) -> None:
        program = self.rt.remote_program(line, self.config.pppd, self.name)
        await program.run()

    # ------------------------------------------------------------ kinds

    async def _isp(self, line: HostLine) -> None:
        await self._run_pppd(line)

    async def _echo(self, line: HostLine) -> None:
        line.sink = line.write
        if line.buffer:
            line.write(bytes(line.buffer))
            line.buffer.clear()
        await line.wait_end()

    async def _blob(self, line: HostLine) -> None:
        size, pattern = self.options["size"], self.options["pattern"].encode("latin-1")
        noise = (pattern * (size // len(pattern) + 1))[:size] if size else b""
        line.write(noise + self.options["trailer"].encode("latin-1"))
        self._step("blob-done", bytes=size + len(self.options["trailer"]))
        await line.wait_end()

    async def _script(self, line: HostLine) -> None:
        for index, (kind, payload, extra) in enumerate(self.options["steps"]):
            if kind == "send":
                if extra > 0:
                    await asyncio.sleep(extra)
                line.write(payload)
            elif kind == "wait":
                if not await line.wait_for(payload, extra):
                    # as a scripted remote that lost its place: stop playing, stay on the line
                    self._step("script-timeout", index=index, waited_for=payload.decode("latin-1"))
                    await line.wait_end()
                    return
            elif kind == "sleep":
                await asyncio.sleep(extra)
            else:
                line.hang_up("host")
                return
            self._step("script-step", index=index, action=kind)
        await line.wait_end()

    async def _login(self, line: HostLine) -> None:
        user = await self._authenticate(line, lambda u, p: self.options["users"].get(u) == p)
        if user is None:
            return
        await self._shell(line, user)

    async def _authenticate(self, line: HostLine, check: Callable[[str, str], bool]) -> str | None:
        o = self.options
        for _ in range(o["max_tries"]):
            self._step("login-prompt")
            line.write(o["login_prompt"])
            user = await line.read_line(o["idle_timeout"], echo=o["echo"])
            line.write(o["password_prompt"])
            password = await line.read_line(o["idle_timeout"], echo=False)
            line.write("\r\n")
            if check(user, password):
                self._step("login-ok", user=user)
                return user
            self._step("login-failed", user=user)
            line.write(o["incorrect"])
        line.hang_up("host")
        return None

    async def _shell(self, line: HostLine, user: str) -> None:
        o = self.options
        while True:
            line.write(o["prompt"])
            command = (await line.read_line(o["idle_timeout"], echo=o["echo"])).strip()
            if not command:
                continue
            self._step("shell-command", user=user, command=command)
            if command in o["ppp_commands"]:
                await self._run_pppd(line)
                return
            if command in ("exit", "logout"):
                line.hang_up("host")
                return
            line.write(o["not_found"].format(command=command.split()[0]))

    async def _callback(self, line: HostLine) -> None:
        o = self.options
        users = o["users"]
        user = None
        for _ in range(o["max_tries"]):
            self._step("login-prompt")
            line.write(o["login_prompt"])
            name = (await line.read_line(o["idle_timeout"], echo=o["echo"])).strip()
            if name in users:
                user = name
                break
            self._step("login-failed", user=name)
            line.write(o["incorrect"])
        if user is None:
            line.hang_up("host")
            return
        aliases = users[user]["callback"]
        self._step("menu", user=user)
        line.write(o["menu_header"].format(user=user) +
                   "".join(o["menu_item"].format(user=user, alias=a) for a in aliases) +
                   o["menu_prompt"].format(user=user))
        alias = (await line.read_line(o["idle_timeout"], echo=o["echo"])).strip()
        if alias not in aliases:
            self._step("callback-refused", user=user, alias=alias)
            line.write(o["unknown_alias"].format(user=user, alias=alias))
            line.hang_up("host")
            return
        self._step("callback-chosen", user=user, alias=alias, number=aliases[alias])
        line.write(o["callback_notice"].format(user=user, alias=alias, delay=o["callback_delay"]))
        line.hang_up("host")
        back = await self._call_back(aliases[alias])
        if back is None:
            return
        if await self._second_login(back, user):
            await self._shell(back, user)

    async def _call_back(self, number: str) -> HostLine | None:
        o = self.options
        await asyncio.sleep(o["callback_delay"])
        for attempt in range(1, o["callback_attempts"] + 1):
            line = HostLine(self.name, self.config.speed, self.rt.network, 1)
            self._step("callback-dial", number=number, attempt=attempt)
            call = self.rt.network.dial(line, number, caller_number=o["caller_number"])
            try:
                outcome = await asyncio.wait_for(asyncio.shield(line.outcome), o["answer_timeout"])
            except asyncio.TimeoutError:
                outcome = "no answer in time"
                self.rt.network.hang_up(line, call, "host")
            if outcome == "up":
                return line
            self._step("callback-failed", number=number, attempt=attempt, result=outcome)
            if attempt < o["callback_attempts"]:
                await asyncio.sleep(o["callback_retry_delay"])
        return None

    async def _second_login(self, line: HostLine, user: str) -> bool:
        """After the call-back: `login:`, `Password:`, then the prompt.

        In "trust" mode (default) the call-back itself vouches for the user
        (the server dialled the number it has on file), so each prompt waits
        only `relogin_wait` seconds for an answer: the seed's KPPP script,
        which sends nothing there, works, and a client that does answer is
        checked (the same user; the password, if one is configured).  In
        "password" mode both answers are required, as at a normal login.
        """
        o = self.options
        trust = o["second_login"] == "trust"
        expected_password = o["users"][user]["password"]
        self._step("login-prompt", phase="callback")
        line.write(o["login_prompt"])
        if not trust or await line.wait_input(o["relogin_wait"]):
            name = (await line.read_line(o["idle_timeout"], echo=o["echo"])).strip()
            if name != user:
                return self._refuse(line, name)
        line.write(o["password_prompt"])
        if not trust or await line.wait_input(o["relogin_wait"]):
            password = await line.read_line(o["idle_timeout"], echo=False)
            if expected_password is not None and password != expected_password:
                line.write("\r\n")
                return self._refuse(line, user)
        line.write("\r\n")
        self._step("login-ok", user=user, phase="callback")
        return True

    def _refuse(self, line: HostLine, user: str) -> bool:
        self._step("login-failed", user=user, phase="callback")
        line.write(self.options["incorrect"])
        line.hang_up("host")
        return False
