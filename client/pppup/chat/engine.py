"""Run a chat(8) script on a modem channel, with chat 2.4.9's exact behaviour.

The engine mirrors chat.c's control flow (chat_expect / get_string /
chat_send / put_string / terminate) so that its results, its bytes on the
line, their timing and its log/echo/report output are the same.  Where the
two differ on purpose, docs/chat.md lists it.

I/O goes through `Channel` (bounded reads, no over-reading: matcher.py);
deadlines are time.monotonic() values, one per expect and one per send,
like chat's alarm(timeout).  Output goes out as events (events.py), in the
order chat would write it.
"""
from __future__ import annotations

import os
import time

from . import events as ev
from .channel import Channel, LineClosed, sleep_until
from .escapes import BREAK, PAUSE, SLEEP, EscapeContext, atoi, character, clean, send_operations, visible
from .masking import MASK, StreamMasker, mask
from .matcher import Matcher
from .scanner import wait_quietly
from .script import Expect, Keyword, Send, Step
from .watch import ExpectWatcher

TYPE_CHECKING = False           # typing imports cost start-up time; annotations only
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

DEFAULT_TIMEOUT = 45
MAX_ABORTS = 50
MAX_REPORTS = 50
MAX_STRING = 49          # ABORT/REPORT strings live in chat's 50-byte fail_buffer
EXPECT_LIMIT = 1024      # chat's STR_LEN
LOG_LINE = 1023          # chat formats log lines into a 1024-byte buffer
REPORT_LIMIT = 255       # chat 2.4.9's 256-byte report buffer (unbounded there: a bug)
PACING = 0.01            # chat's usleep(10000) before every byte it writes
_NEWLINE = 0x0A
_CR = 0x0D

if TYPE_CHECKING:
    EventSink = Callable[[object], None]


class ChatOptions:
    """How to run: chat's command-line settings plus the library's extras.

    timeout: the -t value (seconds; 0 = no timeout at all, as chat's alarm(0)).
    echo / verbose / trace: -e, -v (produce the verbose log), -V.
    pacing: chat's 10 ms before every byte; False sends at full speed.
    escapes: -T, -U, -E.
    secrets: strings masked in every output and event (sent or received).
    received_events: also emit `Received` for every block read.
    """

    __slots__ = ("timeout", "echo", "verbose", "trace", "pacing", "escapes", "secrets",
                 "received_events")

    def __init__(self, *, timeout: int = DEFAULT_TIMEOUT, echo: bool = False,
                 verbose: bool = False, trace: bool = False, pacing: bool = True,
                 escapes: EscapeContext | None = None, secrets: Iterable[bytes] = (),
                 received_events: bool = False) -> None:
        self.timeout = timeout
        self.echo = echo
        self.verbose = verbose
        self.trace = trace
        self.pacing = pacing
        self.escapes = escapes or EscapeContext()
        self.secrets = frozenset(secrets)
        self.received_events = received_events


class Terminate(Exception):
    """Unwinds a run the way chat's terminate(code) ends the process."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


class Alarmed(Exception):
    """A SIGALRM from outside: pppup-chat's handler raises it through `ChatEngine.alarm()`.

    chat's own timeouts are alarms, so a stray SIGALRM does what a timeout
    does: the wait in progress fails (exit 3 or the sub-send), a sleep in
    a send is cut short and the next byte is refused.  Our timeouts are
    deadlines; this is the only way an alarm reaches the engine.
    """


def _ignore(event: object) -> None:
    pass


class ChatEngine:
    """One run of a script: state that chat keeps in globals lives here."""

    def __init__(self, channel: Channel, options: ChatOptions | None = None,
                 on_event: EventSink | None = None) -> None:
        self.channel = channel
        self.options = options or ChatOptions()
        self._emit = on_event or _ignore
        self.timeout = self.options.timeout
        self.echo = self.options.echo
        self.aborts: list[bytes] = []
        self.reports: list[bytes | None] = []    # None: fired (chat keeps the slot)
        self.exit_code = 0
        self.fail_reason: bytes | None = None
        self.abort_index: int | None = None
        self.report_gathering = False
        self.report_buffer = bytearray()
        self.report_lines: list[bytes] = []
        self.connect_speed: int | None = None
        self._need_newline = False               # echo_stderr's need_lf
        self._nonblocking = False                # chat left O_NONBLOCK set (see _put_string)
        self._interruptible = False              # may alarm() raise Alarmed now?
        self._masker = StreamMasker(self.options.secrets)
        self._matchers: dict[tuple[bytes, ...], Matcher] = {}

    # ------------------------------------------------------------ output

    def log(self, text: bytes, error: bool = False) -> None:
        self._emit(ev.Log(text[:LOG_LINE], error))

    def fatal(self, code: int, text: bytes) -> None:
        """chat's fatal(): an error log line, then terminate(code)."""
        self.log(text, error=True)
        raise Terminate(code)

    def _mask(self, text: bytes) -> bytes:
        return mask(text, self.options.secrets) if self.options.secrets else text

    # ------------------------------------------------------------ running

    def run(self, steps: Iterable[Step]) -> int:
        """Run the steps; returns the exit code (0 when the script ran to the end).

        Call `finish()` afterwards (chat's terminate(): the final echo newline
        and the rest of a report line being collected).
        """
        self._interruptible = True
        try:
            for step in steps:
                try:
                    if type(step) is Expect:
                        self.chat_expect(step.pieces)
                    elif type(step) is Send:
                        self.chat_send(step.token.text)
                    elif type(step) is Keyword:
                        self.keyword(step.name, step.argument.text)
                    else:
                        raise TypeError(f"not a chat script step: {step!r}")
                except Alarmed:
                    # An outside SIGALRM between waits: chat's handler has
                    # set O_NONBLOCK, so the next wait fails if nothing is queued.
                    self._nonblocking = True
                    self.channel.queued()
        except Terminate as end:
            return end.code
        except Exception as error:
            # A script error from a file parsed as it runs.  ChatScriptError is
            # imported only now: it brings enum (~3 ms of pppup-chat's start-up).
            from .errors import ChatScriptError
            if not isinstance(error, ChatScriptError):
                raise
            self.log(error.chat_message.encode(), error=True)
            return 1
        finally:
            self._interruptible = False
        return 0

    def alarm(self) -> None:
        """A SIGALRM from outside, taken as chat's handler takes it (see Alarmed).

        Logs "alarm" (with -v); while a script runs, raises Alarmed to cut
        short the wait or sleep in progress.
        """
        if self.options.verbose:
            self.log(b"alarm")
        if self._interruptible:
            raise Alarmed()

    def result(self, code: int) -> ev.ChatResult:
        messages = {0: "the script ran to the end", 1: "the script failed (error or send failure)",
                    2: "interrupted, or the line could not be used", 3: "an expected string did not come"}
        message = messages.get(code, "")
        if code >= 4 and self.fail_reason is not None:
            message = "abort string received: " + self.fail_reason.decode("latin-1")
        abort = self.fail_reason if code >= 4 else None
        return ev.ChatResult(code, code - 4 if code >= 4 else None, abort, self.connect_speed,
                             tuple(self.report_lines), message)

    # ------------------------------------------------------------ keywords

    def keyword(self, name: str, argument: bytes) -> None:
        """The keyword branches of chat_send()."""
        verbose = self.options.verbose
        if name == "SAY":
            self._emit(ev.Say(self._mask(clean(argument, True, self.options.escapes).text)))
        elif name == "HANGUP":
            self._emit(ev.HangupPolicy(argument == b"OFF"))
        elif name == "ECHO":
            self.echo = argument == b"ON"
        elif name == "ABORT":
            if len(self.aborts) >= MAX_ABORTS:
                self.fatal(2, b"Too many ABORT strings")
            self.aborts.append(self._checked_string(argument, b"ABORT"))
            if verbose:
                self.log(b"abort on (" + visible(argument) + b")")
        elif name == "CLR_ABORT":
            string = self._checked_string(argument, b"CLR_ABORT")
            kept = [entry for entry in self.aborts if entry != string]
            if verbose:
                for _ in range(len(self.aborts) - len(kept)):
                    self.log(b"clear abort on (" + visible(argument) + b")")
            self.aborts = kept
        elif name == "REPORT":
            if len(self.reports) >= MAX_REPORTS:
                self.fatal(2, b"Too many REPORT strings")
            self.reports.append(self._checked_string(argument, b"REPORT"))
            if verbose:
                self.log(b"report (" + visible(argument) + b")")
        elif name == "CLR_REPORT":
            # chat says "REPORT" here too.  (chat 2.4.9 crashes on strcmp(NULL)
            # if a report has already fired; fired slots are simply kept.)
            string = self._checked_string(argument, b"REPORT")
            kept = [entry for entry in self.reports if entry is None or entry != string]
            if verbose:
                for _ in range(len(self.reports) - len(kept)):
                    self.log(b"clear report (" + visible(argument) + b")")
            live = [entry for entry in kept if entry is not None]
            self.reports = live + [None] * (len(kept) - len(live))
        elif name == "TIMEOUT":
            value = atoi(clean(argument, False, self.options.escapes).text)
            self.timeout = value if value > 0 else DEFAULT_TIMEOUT
            if verbose:
                self.log(b"timeout set to %d seconds" % self.timeout)
        else:
            raise ValueError(f"unknown chat keyword {name!r}")

    def _checked_string(self, argument: bytes, what: bytes) -> bytes:
        string = clean(argument, False, self.options.escapes).text
        if len(string) > len(argument) or len(string) + 1 > MAX_STRING + 1:
            self.fatal(1, b"Illegal or too-long " + what + b" string ('" + visible(argument) + b"')")
        return string

    # ------------------------------------------------------------ expect

    def chat_expect(self, pieces: tuple[bytes, ...]) -> None:
        """expect[-send-expect...]: on a timeout send the sub-send and try again."""
        index = 0
        while index < len(pieces):
            if self.get_string(pieces[index]):
                return
            reply = pieces[index + 1] if index + 1 < len(pieces) else None
            if reply is None or self.exit_code != 3:
                break
            self.chat_send(reply)
            index += 2
        else:
            return
        if self.fail_reason is not None:
            self.log(b"Failed (" + self.fail_reason + b")")
        else:
            self.log(b"Failed")
        raise Terminate(self.exit_code)

    def _deadline(self) -> float | None:
        # alarm() takes an unsigned int: 0 is "no alarm", a negative -t is huge.
        seconds = self.timeout & 0xFFFFFFFF
        return None if seconds == 0 else time.monotonic() + seconds

    def _matcher(self, patterns: tuple[bytes, ...]) -> Matcher:
        matcher = self._matchers.get(patterns)
        if matcher is None:
            if len(self._matchers) > 64:
                self._matchers.clear()
            matcher = self._matchers[patterns] = Matcher(patterns)
        matcher.reset()
        return matcher

    def get_string(self, raw: bytes) -> bool:
        """Wait for one expect string; False with exit_code set when it fails."""
        self.fail_reason = None
        string = clean(raw, False, self.options.escapes).text
        verbose = self.options.verbose
        if verbose:
            self.log(b"expect (" + visible(string) + b")")
        if len(string) > EXPECT_LIMIT:
            self.log(b"expect string is too long")
            self.exit_code = 1
            return False
        if not string:
            if verbose:
                self.log(b"got it")
            return True
        self._emit(ev.Expecting(string))
        deadline = self._deadline()
        matcher = self._matcher((string,) + tuple(self.aborts))
        slow = (verbose or self.echo or self.options.trace or self.report_gathering
                or self.options.received_events or any(entry is not None for entry in self.reports))
        try:
            if slow:
                outcome = ExpectWatcher(self, string).run(matcher, deadline)
            else:
                outcome = self._wait_quietly(matcher, deadline)
        except Alarmed:
            outcome = "timeout"         # the blocked read fails, as at chat's own alarm
            # It may have come between a read and its bookkeeping: recount
            # what is queued so that no later read blocks past a deadline.
            self.channel.queued()
        return self._conclude(outcome, string)

    def _read(self, size: int, deadline: float | None) -> bytes | str:
        """One bounded read; a str says why there is no data: timeout/eof/error."""
        if self._nonblocking:
            # chat's SIGALRM handler left O_NONBLOCK on fd 0: the next read
            # fails at once if nothing is queued (and clears the flag).
            if not self.channel.readable_now():
                self._nonblocking = False
                return "error"
        try:
            data = self.channel.read(size, deadline)
        except LineClosed:
            self.log(b"warning: read() on stdin returned 0")
            return "eof"
        except OSError:
            return "error"
        if not data:
            if self.options.verbose:
                self.log(b"alarm")
            return "timeout"
        return data

    def _wait_quietly(self, matcher: Matcher, deadline: float | None) -> int | str:
        """The fast path: nothing to echo or log, only find the match."""
        def slow_read(size: int) -> bytes | str:
            return self._read(size, deadline)

        if self._nonblocking:
            return matcher.scan(slow_read)
        return wait_quietly(self.channel, matcher, deadline, slow_read)

    def _conclude(self, outcome: int | str, string: bytes) -> bool:
        if outcome == 0:
            self._emit(ev.Matched(string))
            return True
        if type(outcome) is int:
            index = outcome - 1
            self.exit_code = 4 + index
            self.fail_reason = self.aborts[index]
            self.abort_index = index
            self._emit(ev.AbortSeen(index, self.fail_reason))
            return False
        self.exit_code = 3
        if outcome == "timeout" and self.channel.readable_now():
            # chat's alarm came while it was still reading queued input, not
            # blocked in read(): the O_NONBLOCK its handler set stays, so the
            # next wait fails as soon as the queue runs dry (see _read).
            self._nonblocking = True
        self._emit(ev.TimedOut(string, outcome))   # type: ignore[arg-type]
        return False

    # ------------------------------------------------------------ reports

    def report_byte(self, byte: int, window: bytearray) -> None:
        """REPORT handling for one received byte (window: this expect's bytes so far)."""
        if not self.report_gathering:
            for index, string in enumerate(self.reports):
                if string is not None and window.endswith(string):
                    stamp = time.strftime("%b %d %H:%M:%S ", time.localtime()).encode()
                    self.report_buffer = bytearray(stamp + string)
                    self.reports[index] = None
                    self.report_gathering = True
                    break
        elif byte >= 32 and byte != 127:
            if len(self.report_buffer) < REPORT_LIMIT:
                self.report_buffer.append(byte)
        else:
            self.report_gathering = False
            self._report_line()

    def _report_line(self) -> None:
        line = bytes(self.report_buffer)
        self.report_lines.append(line)
        self._emit(ev.ReportLine(line))
        speed = _connect_speed(line)
        if speed is not None:
            self.connect_speed = speed
            self._emit(ev.ConnectSpeed(speed))

    # ------------------------------------------------------------ send

    def chat_send(self, raw: bytes) -> None:
        """A send string (or sub-send): @file, EOT, BREAK, then put_string()."""
        if raw[:1] == b"@":
            name = raw[1:].lstrip(b" \t")
            if name:
                raw = self._file_contents(name)
        if raw == b"EOT":
            raw = b"^D\\c"
        elif raw == b"BREAK":
            raw = b"\\K\\c"
        try:
            sent = self._put_string(raw)
        except Alarmed:
            # An outside alarm while writing (not sleeping): chat refuses the next byte.
            sent = self._write_timed_out()
        if not sent:
            self.fatal(1, b"Failed")

    def _file_contents(self, name: bytes) -> bytes:
        try:
            with open(name, "rb") as stream:
                data = stream.read(EXPECT_LIMIT - 1)
        except IsADirectoryError:
            data = b""          # chat's fopen() succeeds on a directory, fread() gets nothing
        except OSError as error:
            reason = os.strerror(error.errno) if error.errno else str(error)
            self.fatal(1, name + b" -- open failed: " + reason.encode())
        if data.endswith(b"\n"):
            data = data[:-1]
        return data.split(b"\0", 1)[0]

    def _put_string(self, raw: bytes) -> bool:
        cleaned = clean(raw, True, self.options.escapes)
        shown = MASK if cleaned.quiet else self._mask(cleaned.text)
        if self.options.verbose:
            self.log(b"send (" + (b"??????" if cleaned.quiet else visible(shown)) + b")")
        self._emit(ev.Sending(shown))
        alarm = _SendAlarm(self._deadline(), self)
        pacing = self.options.pacing
        channel = self.channel
        for operation in send_operations(cleaned):
            if operation is SLEEP:
                alarm.sleep(1.0)
            elif operation is PAUSE:
                alarm.sleep(PACING)
            elif operation is BREAK:
                channel.send_break()
            else:
                try:
                    if not pacing:
                        if alarm.expired() or not alarm.writable(channel):
                            return self._write_timed_out()
                        channel.write(operation)       # type: ignore[arg-type]
                        continue
                    for byte in operation:
                        if alarm.expired():
                            return self._write_timed_out()
                        alarm.sleep(PACING)
                        if not alarm.writable(channel):
                            return self._write_timed_out()
                        channel.write(bytes((byte,)))
                except OSError as error:
                    if self.options.verbose:
                        reason = os.strerror(error.errno) if error.errno else str(error)
                        self.log(b" -- write failed: " + reason.encode())
                    return False
        if alarm.alarmed:
            # chat's SIGALRM handler set O_NONBLOCK on fd 0 and nothing cleared it.
            self._nonblocking = True
        return True

    def _write_timed_out(self) -> bool:
        if self.options.verbose:
            self.log(b" -- write timed out")
        return False

    # ------------------------------------------------------------ the end

    def finish(self) -> None:
        """chat's terminate() before it restores the tty: echo newline, last report line."""
        held = self._masker.flush()
        if held and self.echo:
            self._echo_bytes(held)
        if self._need_newline:
            self._emit(ev.Echo(b"\n"))
            self._need_newline = False
        if not self.report_gathering:
            return
        self.report_gathering = False
        # Keep reading, one byte at a time with a one-second alarm each, until
        # a control character: the rest of the line may still be arriving.
        self._interruptible = True
        try:
            while len(self.report_buffer) + 1 <= REPORT_LIMIT + 1:
                data = self._read(1, time.monotonic() + 1.0)
                if type(data) is str:
                    break
                byte = data[0] & 0x7F            # type: ignore[index]
                if byte < 32 or byte == 127:
                    break
                self.report_buffer.append(byte)
        except Alarmed:
            pass                                 # an outside alarm ends the read, as chat's does
        finally:
            self._interruptible = False
        self._report_line()

    def _echo_bytes(self, data: bytes) -> None:
        out = bytearray()
        for byte in data:
            if byte == _CR:
                continue
            if byte == _NEWLINE:
                out.append(_NEWLINE)
                self._need_newline = False
            else:
                out += character(byte)
                self._need_newline = True
        if out:
            self._emit(ev.Echo(bytes(out)))


class _SendAlarm:
    """chat's alarm during a send, on the monotonic clock.

    alarm(timeout) fires at the deadline; its handler logs "alarm", sets
    `alarmed` and re-arms alarm(1), so after the deadline it fires again
    every second until the send ends.  Sleeps (\\d, \\p, the 10 ms pacing)
    end early when it fires; a byte is only refused once `alarmed` is set.
    """

    __slots__ = ("next_at", "alarmed", "engine")

    def __init__(self, deadline: float | None, engine: ChatEngine) -> None:
        self.next_at = deadline
        self.alarmed = False
        self.engine = engine

    def _fire_due(self) -> None:
        while self.next_at is not None and time.monotonic() >= self.next_at:
            if self.engine.options.verbose:
                self.engine.log(b"alarm")
            self.alarmed = True
            self.next_at += 1.0

    def sleep(self, seconds: float) -> None:
        try:
            end = time.monotonic() + seconds
            if self.next_at is not None and self.next_at < end:
                sleep_until(self.next_at, seconds)
                self._fire_due()
                return
            sleep_until(None, end - time.monotonic())
            self._fire_due()
        except Alarmed:
            # An outside SIGALRM: the sleep ends, the handler re-arms alarm(1).
            self.alarmed = True
            self.next_at = time.monotonic() + 1.0

    def expired(self) -> bool:
        self._fire_due()
        return self.alarmed

    def writable(self, channel: Channel) -> bool:
        """Wait until a write would not block (output stopped by XOFF, say).

        chat's write blocks there until its alarm, which makes the
        restarted write fail; False when the alarm comes first.
        """
        if channel.wait_writable(self.next_at):
            return True
        self._fire_due()
        return False


def _connect_speed(line: bytes) -> int | None:
    """The number after CONNECT in a report line (`May 20 12:00:00 CONNECT 33600/ARQ`)."""
    at = line.find(b"CONNECT")
    if at < 0:
        return None
    rest = line[at + len(b"CONNECT"):].lstrip(b" ")
    digits = bytearray()
    for byte in rest:
        if not 0x30 <= byte <= 0x39:
            break
        digits.append(byte)
    return int(digits) if digits else None


def run_chat(steps: Iterable[Step], channel: Channel, options: ChatOptions | None = None,
             on_event: EventSink | None = None) -> ev.ChatResult:
    """Parse-once / run-many entry point for the client: run, finish, result."""
    engine = ChatEngine(channel, options, on_event)
    code = engine.run(steps)
    try:
        engine.finish()
    except Terminate as end:
        code = end.code
    return engine.result(code)
