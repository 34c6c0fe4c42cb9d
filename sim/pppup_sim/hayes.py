"""A Hayes-style modem as a pure state machine: bytes and events in, bytes and requests out.

No I/O and no clock: every input carries `now` (seconds, monotonic) and the
owner asks `next_deadline` when to call `tick`.  The owner (world.py) moves
`take_output()` to the DTE port, hands `take_requests()` to the phone
network and `take_events()` to the event log.

The DTE side follows V.250: bytes arrive one by one or in any split; a
command line is whatever lies between the `AT` (or `at`) prefix and S3
(CR); bytes before the prefix are discarded, so a line without one is
ignored; `A/` repeats the last line at once.  In data mode the `+++`
escape needs S12 of silence before, between (at most) and after the three
characters, and the characters themselves still go to the line, as on
real modems.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from . import cmdline
from .cmdline import Basic, Dial, Extended, Register, Unparsable
from .profile import (S_AUTO_ANSWER, S_BACKSPACE, S_CARRIER_WAIT, S_COMMA_PAUSE, S_CR,
                      S_ESCAPE_CHAR, S_GUARD, S_LF, S_REGISTER_COUNT, S_RING_COUNT, Profile,
                      factory_profile)
from .results import (CONNECT, ERROR, NO_CARRIER, NO_DIALTONE, OK, RING, frame_info,
                      frame_result, numeric_code)

MAX_LINE = 1024          # a longer command line is answered with ERROR
IDENTITY = "pppup_sim"


class Mode(str, Enum):
    COMMAND = "command"                # on- or off-hook, no call
    DIALLING = "dialling"              # ATD sent, waiting for the network and carrier
    ANSWERING = "answering"            # ATA or auto-answer, waiting for carrier
    DATA = "data"                      # online: DTE bytes go to the line
    ONLINE_COMMAND = "online-command"  # escaped from a call that is still up


# ------------------------------------------------------------ requests out

@dataclass(frozen=True)
class PlaceCall:
    number: str
    pause: float          # seconds of `,` pauses in the dial string


@dataclass(frozen=True)
class AnswerCall:
    pass


@dataclass(frozen=True)
class EndCall:
    cause: str


@dataclass(frozen=True)
class SendToLine:
    data: bytes


Request = PlaceCall | AnswerCall | EndCall | SendToLine

# Vendor commands accepted with OK and no effect (kept in the profile so &V
# shows them): key -> highest value accepted.  `\`, `%` and `#` commands
# are vendor name spaces: any letter(s) with a value up to 255 is accepted.
_HARMLESS_BASIC = {"B": 1, "L": 3, "M": 3, "N": 1, "W": 2, "Y": 1}
_HARMLESS_AMP = {"&A": 3, "&B": 2, "&G": 2, "&H": 7, "&I": 5, "&K": 6, "&M": 5,
                 "&N": 15, "&Q": 9, "&R": 2, "&S": 1, "&X": 2, "&Y": 3}
_VENDOR_PREFIXES = ("\\", "%", "#")
_INFO_EXTENDED = {"GMI": "pppup", "GMM": IDENTITY, "GMR": "1.0", "GSN": "0", "GCAP": "+FCLASS"}
_DIAL_DIGITS = set("0123456789*#ABCD")


class _LineEnded(Exception):
    """Raised inside command execution when the rest of the line must be skipped."""


class HayesModem:
    def __init__(self, profile: Profile | None = None, *, dialtone: bool = True,
                 has_dtr: bool = False) -> None:
        self.active = (profile or factory_profile()).copy()
        self.stored = self.active.copy()
        self.dialtone = dialtone
        self.mode = Mode.COMMAND
        self.off_hook = False
        self.ringing = False
        self.speed: int | None = None
        self.dtr_high: bool | None = True if has_dtr else None
        self.peer: str | None = None            # set by the owner for snapshots
        self.discarded_line_bytes = 0           # data from the line while not in data mode
        self._line = bytearray()
        self._last_body: str | None = None
        self._selected_register = 0
        self._last_dialled = ""
        self._s7_deadline: float | None = None
        self._skip_lf_after_dial = False
        # +++ escape detection
        self._last_rx: float | None = None
        self._pluses = 0
        self._escape_at: float | None = None
        # outputs
        self._out = bytearray()
        self._requests: list[Request] = []
        self._events: list[tuple[str, dict]] = []

    # ------------------------------------------------------------ outputs

    def take_output(self) -> bytes:
        out, self._out = bytes(self._out), bytearray()
        return out

    def take_requests(self) -> list[Request]:
        out, self._requests = self._requests, []
        return out

    def take_events(self) -> list[tuple[str, dict]]:
        out, self._events = self._events, []
        return out

    @property
    def next_deadline(self) -> float | None:
        times = [t for t in (self._s7_deadline, self._escape_at) if t is not None]
        return min(times) if times else None

    def snapshot(self) -> dict:
        p = self.active
        return {"hook": "off" if self.off_hook else "on", "mode": self.mode.value,
                "ringing": self.ringing, "echo": p.echo, "verbose": p.verbose,
                "quiet": p.quiet, "dcd_mode": p.dcd_mode, "dtr_mode": p.dtr_mode,
                "s": p.as_dict()["s"], "extras": dict(p.extras), "stored": self.stored.as_dict(),
                "dtr": self.dtr_high, "call": self.peer, "speed": self.speed}

    # ------------------------------------------------------------ framing

    def _result(self, text: str) -> None:
        p = self.active
        self._out += frame_result(text, verbose=p.verbose, quiet=p.quiet,
                                  cr=p.s[S_CR], lf=p.s[S_LF])
        self._events.append(("result", {"text": text, "code": numeric_code(text),
                                        "suppressed": p.quiet}))

    def _info(self, lines: list[str]) -> None:
        p = self.active
        self._out += frame_info(lines, verbose=p.verbose, cr=p.s[S_CR], lf=p.s[S_LF])

    # ------------------------------------------------------------ DTE input

    def receive(self, data: bytes, now: float) -> None:
        if not data:
            return
        if self.mode is Mode.DATA:
            self._receive_data(data, now)
            return
        for index, byte in enumerate(data):
            if self.mode in (Mode.DIALLING, Mode.ANSWERING):
                skip_lf, self._skip_lf_after_dial = self._skip_lf_after_dial, False
                if skip_lf and byte == 0x0A:
                    continue     # the LF of a DTE ending lines with CR LF must not abort the dial
                self._abort_attempt("abort-key", NO_CARRIER)
                continue     # the aborting byte is consumed, as on real modems
            if self.mode is Mode.DATA:      # a command line went online (ATO, ATD)
                self._receive_data(data[index:], now)
                return
            self._receive_command_byte(byte, now)
        self._last_rx = now

    def _receive_command_byte(self, byte: int, now: float) -> None:
        p = self.active
        if p.echo:
            self._out.append(byte)
        if byte == p.s[S_CR]:
            line, self._line = bytes(self._line), bytearray()
            self._command_line(line, now)
            return
        if byte == p.s[S_BACKSPACE]:
            if self._line:
                del self._line[-1]
            return
        if len(self._line) <= MAX_LINE:
            self._line.append(byte)
        if byte == ord("/") and len(self._line) >= 2 and self._line[-2] in b"Aa" \
                and self._prefix_at(bytes(self._line[:-2])) < 0:
            self._line = bytearray()
            if self._last_body is not None:
                self._execute(self._last_body, now)

    @staticmethod
    def _prefix_at(line: bytes) -> int:
        hits = [i for i in (line.find(b"AT"), line.find(b"at")) if i >= 0]
        return min(hits) if hits else -1

    def _command_line(self, line: bytes, now: float) -> None:
        start = self._prefix_at(line)
        if start < 0:
            return
        if len(line) > MAX_LINE:
            self._result(ERROR)
            return
        body = line[start + 2:].decode("latin-1")
        self._events.append(("command", {"line": line[start:].decode("latin-1")}))
        self._last_body = body
        self._execute(body, now)

    # ------------------------------------------------------------ data mode and +++

    def _receive_data(self, data: bytes, now: float) -> None:
        p = self.active
        esc = p.s[S_ESCAPE_CHAR]
        guard = p.s[S_GUARD] / 50.0
        silence = now - self._last_rx if self._last_rx is not None else float("inf")
        self._escape_at = None
        if esc <= 127:
            # only the first 4 bytes matter: more than 3 escape characters are data
            pluses = 0
            while pluses < min(len(data), 4) and data[pluses] == esc:
                pluses += 1
            only_pluses = pluses == len(data)
            if self._pluses and only_pluses and silence <= guard and self._pluses + pluses <= 3:
                self._pluses += pluses
            elif only_pluses and pluses <= 3 and silence >= guard:
                self._pluses = pluses
            else:
                self._pluses = 0
            if self._pluses == 3:
                self._escape_at = now + guard
        self._last_rx = now
        self._requests.append(SendToLine(data))

    # ------------------------------------------------------------ timers

    def tick(self, now: float) -> None:
        if self._escape_at is not None and now >= self._escape_at:
            self._escape_at = None
            self._pluses = 0
            if self.mode is Mode.DATA:
                self.mode = Mode.ONLINE_COMMAND
                self._events.append(("escape", {"how": "+++"}))
                self._result(OK)
        if self._s7_deadline is not None and now >= self._s7_deadline:
            self._abort_attempt("s7-timeout", NO_CARRIER)

    # ------------------------------------------------------------ DTR

    def set_dtr(self, high: bool, now: float) -> None:
        was = self.dtr_high
        self.dtr_high = high
        if was is high:
            return
        self._events.append(("dtr", {"high": high}))
        if high:
            return
        mode = self.active.dtr_mode
        in_call = self.mode is not Mode.COMMAND
        self._line = bytearray()
        if mode == 1:
            if self.mode is Mode.DATA:
                self.mode = Mode.ONLINE_COMMAND
                self._escape_at = None
                self._events.append(("escape", {"how": "dtr"}))
                self._result(OK)
            elif self.mode in (Mode.DIALLING, Mode.ANSWERING):
                self._abort_attempt("dtr", OK)
        elif mode in (2, 3):
            if in_call or self.off_hook:
                self._hang_up("dtr")
                if in_call:
                    self._result(OK)
            self.ringing = False
            if mode == 3:
                self._reset(self.stored, "stored", "dtr")

    def _auto_answer_blocked(self) -> bool:
        # &D2/&D3: no RING and no auto-answer while DTR is off.
        return self.dtr_high is False and self.active.dtr_mode in (2, 3)

    # ------------------------------------------------------------ network side

    def free_for_incoming(self) -> bool:
        """False means the network answers the caller BUSY."""
        return self.mode is Mode.COMMAND and not self.off_hook

    def incoming_ring(self, now: float) -> None:
        if not self.free_for_incoming():
            return
        p = self.active
        self.ringing = True
        p.s[S_RING_COUNT] = min(p.s[S_RING_COUNT] + 1, 255)
        if self._auto_answer_blocked():
            self._events.append(("ring", {"count": p.s[S_RING_COUNT], "shown": False}))
            return
        self._events.append(("ring", {"count": p.s[S_RING_COUNT], "shown": True}))
        self._result(RING)
        if p.s[S_AUTO_ANSWER] and p.s[S_RING_COUNT] >= p.s[S_AUTO_ANSWER]:
            self._answer("auto", now)

    def incoming_ended(self, now: float) -> None:
        """The caller gave up before the call was connected."""
        if self.mode is Mode.ANSWERING:
            self._abort_attempt("remote", NO_CARRIER, tell_network=False)
        self.ringing = False
        self.active.s[S_RING_COUNT] = 0

    def call_connected(self, speed: int, now: float) -> None:
        if self.mode not in (Mode.DIALLING, Mode.ANSWERING):
            self._requests.append(EndCall("not-waiting"))
            return
        self.mode = Mode.DATA
        self.speed = speed
        self.ringing = False
        self.active.s[S_RING_COUNT] = 0
        self._s7_deadline = None
        self._pluses = 0
        self._last_rx = now       # the guard before a first +++ counts from CONNECT
        self._events.append(("connect", {"speed": speed}))
        self._result(f"{CONNECT} {speed}")

    def call_failed(self, result: str, now: float) -> None:
        if self.mode is not Mode.DIALLING:
            return
        self._abort_attempt(result.lower().replace(" ", "-"), result, tell_network=False)

    def carrier_lost(self, now: float, cause: str = "remote") -> None:
        if self.mode is Mode.COMMAND:
            return
        self._hang_up(cause, tell_network=False)
        self._events.append(("no_carrier", {"cause": cause}))
        self._result(NO_CARRIER)

    def line_data(self, data: bytes) -> None:
        if self.mode is Mode.DATA:
            self._out += data
        else:
            self.discarded_line_bytes += len(data)

    # ------------------------------------------------------------ call state helpers

    def _hang_up(self, cause: str, tell_network: bool = True) -> None:
        was_connected = self.mode is not Mode.COMMAND or self.off_hook
        if tell_network and self.mode is not Mode.COMMAND:
            self._requests.append(EndCall(cause))
        self.mode = Mode.COMMAND
        self.off_hook = False
        self.speed = None
        self.peer = None
        self._s7_deadline = None
        self._escape_at = None
        self._pluses = 0
        if was_connected:
            self._events.append(("hangup", {"cause": cause}))

    def _abort_attempt(self, cause: str, result: str, tell_network: bool = True) -> None:
        self._hang_up(cause, tell_network)
        self._result(result)

    def _answer(self, how: str, now: float) -> None:
        self.mode = Mode.ANSWERING
        self.off_hook = True
        self._start_s7(now)
        self._skip_lf_after_dial = True
        self._events.append(("answer", {"how": how}))
        if self.ringing:
            self._requests.append(AnswerCall())

    def _start_s7(self, now: float) -> None:
        wait = self.active.s[S_CARRIER_WAIT]
        self._s7_deadline = now + wait if wait else None

    def _reset(self, profile: Profile, which: str, how: str) -> None:
        self.active = profile.copy()
        self._selected_register = 0
        self._events.append(("reset", {"profile": which, "how": how}))

    # ------------------------------------------------------------ command execution

    def _execute(self, body: str, now: float) -> None:
        commands = cmdline.parse(body)
        final = OK
        try:
            for command in commands:
                result = self._run(command, now)
                if result is not None:
                    final = result
                    break
        except _LineEnded as ended:
            final = ended.args[0] if ended.args else None
        if final is not None:
            self._result(final)

    def _run(self, command: cmdline.Command, now: float) -> str | None:
        """Execute one command; a returned string ends the line with that result."""
        if isinstance(command, Unparsable):
            return ERROR
        if isinstance(command, Register):
            return self._register(command)
        if isinstance(command, Dial):
            return self._dial(command, now)
        if isinstance(command, Extended):
            return self._extended(command)
        return self._basic(command, now)

    def _register(self, command: Register) -> str | None:
        number = self._selected_register if command.number is None else command.number
        if not 0 <= number < S_REGISTER_COUNT:
            return ERROR
        self._selected_register = number
        if command.op == "query":
            self._info([f"{self.active.s[number]:03d}"])
        elif command.op == "set":
            if command.value is None or command.value > 255:
                return ERROR
            self.active.s[number] = command.value
        return None

    def _extended(self, command: Extended) -> str | None:
        if command.name in _INFO_EXTENDED and command.op == "exec":
            self._info([_INFO_EXTENDED[command.name]])
            return None
        if command.name == "FCLASS":
            # a data modem: class 0 only
            if command.op == "query":
                self._info(["0"])
            elif command.op == "test":
                self._info(["0"])
            elif command.op == "set" and command.value not in ("0", ""):
                return ERROR
            return None
        if command.name == "MS" and command.op in ("set", "query", "test"):
            if command.op != "set":
                self._info(["+MS: 11,1,300,33600"])
            return None
        return ERROR

    def _basic(self, command: Basic, now: float) -> str | None:
        key, value = command.key, command.value
        p = self.active
        if key in ("E", "V", "Q"):
            if value not in (None, 0, 1):
                return ERROR
            on = bool(value)
            if key == "E":
                p.echo = on
            elif key == "V":
                p.verbose = on
            else:
                p.quiet = on
            return None
        if key == "X":
            if value is not None and value > 4:
                return ERROR
            p.result_set = value or 0
            return None
        if key == "I":
            if value is not None and value > 9:
                return ERROR
            self._info([IDENTITY if value in (None, 0) else f"{IDENTITY} I{value}"])
            return None
        if key == "Z":
            if value not in (None, 0):
                return ERROR
            if self.mode is not Mode.COMMAND or self.off_hook:
                self._hang_up("atz")
            self._reset(self.stored, "stored", "atz")
            raise _LineEnded(OK)
        if key == "H":
            return self._hook(value)
        if key == "A":
            if value not in (None, 0) or self.mode is not Mode.COMMAND:
                return ERROR
            self._answer("ata", now)
            raise _LineEnded(None)
        if key == "O":
            if value not in (None, 0, 1) or self.mode is not Mode.ONLINE_COMMAND:
                return ERROR
            self.mode = Mode.DATA
            self._pluses = 0
            raise _LineEnded(f"{CONNECT} {self.speed}")
        if key in ("P", "T"):
            return None if value is None else ERROR
        if key == "&C":
            return self._set_choice(value, 1, "dcd_mode")
        if key == "&D":
            return self._set_choice(value, 3, "dtr_mode")
        if key == "&F":
            if value not in (None, 0):
                return ERROR
            self._reset(factory_profile(), "factory", "&f")
            return None
        if key == "&W":
            if value not in (None, 0):
                return ERROR
            self.stored = p.copy()
            return None
        if key == "&V":
            if value not in (None, 0):
                return ERROR
            self._info(["ACTIVE PROFILE:", p.switches(), p.registers_text(), "",
                        "STORED PROFILE:", self.stored.switches(), self.stored.registers_text()])
            return None
        limit = _HARMLESS_BASIC.get(key, _HARMLESS_AMP.get(key))
        if limit is None and command.prefix in _VENDOR_PREFIXES:
            limit = 255
        if limit is None or (value or 0) > limit:
            return ERROR
        p.extras[key] = value or 0
        return None

    def _set_choice(self, value: int | None, highest: int, attribute: str) -> str | None:
        if value is not None and value > highest:
            return ERROR
        setattr(self.active, attribute, value or 0)
        return None

    def _hook(self, value: int | None) -> str | None:
        if value not in (None, 0, 1):
            return ERROR
        if value == 1:
            if self.mode is not Mode.COMMAND:
                return ERROR
            self.off_hook = True
            return None
        if self.mode is not Mode.COMMAND or self.off_hook:
            self._hang_up("ath")
        return None

    def _dial(self, command: Dial, now: float) -> str | None:
        if self.mode is not Mode.COMMAND:
            return ERROR
        text = command.text
        if text[:1] in ("L", "l"):
            text = self._last_dialled
        digits: list[str] = []
        pauses = 0
        for ch in text.upper():
            if ch in _DIAL_DIGITS:
                digits.append(ch)
            elif ch == ",":
                pauses += 1
            # T, P, W, @, !, R and punctuation are tolerated and ignored (V.250 6.3.1)
        number = "".join(digits)
        if not number:
            return ERROR
        self._last_dialled = text
        self._events.append(("dial", {"number": number}))
        self.off_hook = True
        if not self.dialtone:
            self._hang_up("no-dialtone", tell_network=False)
            raise _LineEnded(NO_DIALTONE)
        if command.stay_in_command_mode:
            # voice dialling is not simulated: off-hook, back to command mode
            return None
        self.mode = Mode.DIALLING
        self._start_s7(now)
        self._skip_lf_after_dial = True
        self._requests.append(PlaceCall(number, pauses * self.active.s[S_COMMA_PAUSE]))
        raise _LineEnded(None)
