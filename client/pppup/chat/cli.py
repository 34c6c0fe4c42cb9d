"""pppup-chat: a drop-in for chat(8) 2.4.9 (usable as pppd's `connect` program).

Same command line (chat's own little option scanner: bundled flags, values
glued on or in the next word, options end at the first non-option or `--`),
same start-up order (options, -r file, syslog, signals, tty set-up, then the
-f file), same outputs (syslog LOCAL2 ident "chat", stderr with -s, the -r
file, ECHO/-V/SAY on stderr) and the same exit codes (0-3, 4+n).

This module only wires the process to the engine; what chat does with the
script is engine.py.  It keeps its imports small: it is started for every
dial and its start-up time is benchmarked.
"""
from __future__ import annotations

import _signal as signal      # signal.py only adds enums to it: enum is ~3 ms of start-up
import os
import sys
import termios

from . import events as ev
from .channel import Channel
from .engine import ChatEngine, ChatOptions, Terminate
from .escapes import EscapeContext, atoi

USAGE = (b"Usage: %s [-e] [-E] [-v] [-V] [-t timeout] [-r report-file]\n"
         b"     [-T phone-number] [-U phone-number2] {-f chat-file | chat-script}\n")
# chat sleeps 10 ms before every byte it writes; PPPUP_CHAT_NO_PACING=1 turns
# that off.  An environment variable, not an option: any new option letter
# would change what chat's own option syntax accepts.
NO_PACING_VARIABLE = "PPPUP_CHAT_NO_PACING"
_FLAGS = b"eEvVsS"
_WITH_VALUE = b"ftrTU"
_SIGNAL_NAMES = {signal.SIGINT: b"SIGINT", signal.SIGTERM: b"SIGTERM", signal.SIGHUP: b"SIGHUP"}


def _write_stderr(data: bytes) -> None:
    """Unbuffered, like chat's stderr; write errors are ignored as chat ignores them."""
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(2, view):]
        except InterruptedError:
            continue
        except OSError:
            return


def _syslog_bytes(priority: int, text: bytes) -> None:
    """libc's syslog() with bytes that are not UTF-8 (a latin-1 file name), as chat logs them.

    Python's syslog module only takes str; openlog() was made through it,
    and libc keeps that state.  ctypes costs start-up time, so it is only
    imported for such a line.
    """
    import ctypes
    ctypes.CDLL(None).syslog(ctypes.c_int(priority), b"%s", ctypes.c_char_p(text))


class _SignalExit(Exception):
    def __init__(self, name: bytes) -> None:
        super().__init__(name)
        self.name = name


class ChatProcess:
    """chat's globals and main(): options, outputs, tty, and terminate()."""

    def __init__(self, argv: list[bytes]) -> None:
        self.program = argv[0] if argv else b"pppup-chat"
        self.echo = 0
        self.use_env = False
        self.verbose = 0
        self.trace = False
        self.to_stderr = False
        self.to_log = True
        self.timeout = 45
        self.chat_file: bytes | None = None
        self.phone: bytes | None = None
        self.phone2: bytes | None = None
        self.report_file: bytes | None = None
        self.report_stream = None          # an open -r file, or None for stderr
        self.saved_tty: list | None = None
        self.terminating = False
        self.engine: ChatEngine | None = None
        self.words = self._parse_options(argv[1:])

    # ---------------------------------------------------------- command line

    def usage(self) -> None:
        """Usage on stderr and exit(1), straight away, as chat does (the tty is not restored)."""
        _write_stderr(USAGE % self.program)
        self._flush_report()
        os._exit(1)

    def _parse_options(self, args: list[bytes]) -> list[bytes]:
        index = 0
        while index < len(args):
            word = args[index]
            if word == b"--":
                return args[index + 1:]
            if len(word) < 2 or word[0] != 0x2D:
                break
            index += 1
            position = 1
            while position < len(word):
                option = word[position]
                position += 1
                if option in _FLAGS:
                    self._flag(option)
                    continue
                if option not in _WITH_VALUE:
                    self.usage()
                if position < len(word):
                    value: bytes | None = word[position:]
                    position = len(word)
                elif index < len(args):
                    value = args[index]
                    index += 1
                else:
                    value = None
                self._valued(option, value)
        return args[index:]

    def _flag(self, option: int) -> None:
        if option == ord("e"):
            self.echo += 1
        elif option == ord("E"):
            self.use_env = True
        elif option == ord("v"):
            self.verbose += 1
        elif option == ord("V"):
            self.trace = True
        elif option == ord("s"):
            self.to_stderr = True
        else:
            self.to_log = False

    def _valued(self, option: int, value: bytes | None) -> None:
        if option == ord("r"):
            # chat opens the report file right here, and a missing name is ignored.
            if value is not None:
                self._open_report(value)
            return
        if value is None:
            self.usage()
            return
        if option == ord("f"):
            self.chat_file = value
        elif option == ord("t"):
            self.timeout = atoi(value)
        elif option == ord("T"):
            self.phone = value
        else:
            self.phone2 = value

    def _open_report(self, name: bytes) -> None:
        if self.report_stream is not None:
            self.report_stream.close()
        self.report_file = name
        try:
            self.report_stream = open(name, "ab")
        except OSError:
            self.report_stream = None          # reports then go to stderr, silently
            return
        if self.verbose:
            self.report_stream.write(b'Opening "' + name + b'"...\n')

    def _flush_report(self) -> None:
        if self.report_stream is not None:
            try:
                self.report_stream.flush()
            except OSError:
                pass

    # ---------------------------------------------------------- outputs

    def open_log(self) -> None:
        if not self.to_log:
            return
        import syslog
        syslog.openlog("chat", syslog.LOG_PID | syslog.LOG_NDELAY, syslog.LOG_LOCAL2)
        syslog.setlogmask(syslog.LOG_UPTO(syslog.LOG_INFO if self.verbose else syslog.LOG_WARNING))
        self._syslog = syslog

    def log(self, text: bytes, error: bool = False) -> None:
        """chat's msgf()/fatal() output: syslog (filtered by the mask) and stderr with -s."""
        if self.to_log:
            priority = self._syslog.LOG_ERR if error else self._syslog.LOG_INFO
            try:
                # Python's syslog sends a str as UTF-8: ASCII and UTF-8 text
                # (a file name) come out as the bytes they were.
                self._syslog.syslog(priority, text.decode("utf-8"))
            except UnicodeDecodeError:
                _syslog_bytes(priority, text)
        if self.to_stderr:
            _write_stderr(text + b"\n")

    def event(self, event: object) -> None:
        kind = type(event)
        if kind is ev.Log:
            self.log(event.text, event.error)                  # type: ignore[attr-defined]
        elif kind is ev.Echo or kind is ev.Trace or kind is ev.Say:
            _write_stderr(event.text)                          # type: ignore[attr-defined]
        elif kind is ev.ReportLine:
            line = b"chat:  " + event.text + b"\n"             # type: ignore[attr-defined]
            if self.report_stream is not None:
                self.report_stream.write(line)
            else:
                _write_stderr(line)
        elif kind is ev.HangupPolicy:
            handler = signal.SIG_IGN if event.ignore else self._on_signal  # type: ignore[attr-defined]
            signal.signal(signal.SIGHUP, handler)

    # ---------------------------------------------------------- signals, tty

    def _on_signal(self, number: int, frame: object) -> None:
        name = _SIGNAL_NAMES.get(number, b"SIGNAL")
        if self.terminating:
            # fatal() inside terminate(): log and exit at once.
            self.log(name, error=True)
            self._flush_report()
            os._exit(2)
        raise _SignalExit(name)

    def _on_alarm(self, number: int, frame: object) -> None:
        # chat's own timeouts are alarms; one sent from outside does what a
        # timeout does (engine.Alarmed).  Before the engine exists only "alarm".
        if self.engine is not None:
            self.engine.alarm()
        elif self.verbose:
            self.log(b"alarm")

    def install_signals(self) -> None:
        for number in _SIGNAL_NAMES:
            signal.signal(number, self._on_signal)
        # Python ignores SIGPIPE; chat does not.
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)

    def setup_tty(self) -> None:
        try:
            attributes = termios.tcgetattr(0)
        except termios.error as error:
            raise Terminate(self._fatal_text(2, b"Can't get terminal parameters", error))
        self.saved_tty = [list(part) if isinstance(part, list) else part for part in attributes]
        attributes[0] |= termios.IGNBRK | termios.ISTRIP | termios.IGNPAR
        attributes[1] = 0
        attributes[3] = 0
        special = list(attributes[6])
        special[termios.VERASE] = 0
        special[termios.VKILL] = 0
        special[termios.VMIN] = 1
        special[termios.VTIME] = 0
        attributes[6] = special
        try:
            termios.tcsetattr(0, termios.TCSANOW, attributes)
        except termios.error as error:
            raise Terminate(self._fatal_text(2, b"Can't set terminal parameters", error))

    def _fatal_text(self, code: int, what: bytes, error: termios.error | OSError) -> int:
        number = error.args[0] if error.args and isinstance(error.args[0], int) else 0
        self.log(what + b": " + os.strerror(number).encode(), error=True)
        return code

    # ---------------------------------------------------------- run, terminate

    def run(self) -> int:
        self.open_log()
        self.install_signals()
        try:
            code = self._run_script()
        except _SignalExit as stop:
            self.log(stop.name, error=True)
            code = 2
        except Terminate as end:
            code = end.code
        except Exception as error:      # a bug of ours: say so, still restore the tty
            message = f"pppup-chat: internal error: {type(error).__name__}: {error}; please report it"
            _write_stderr(message.encode() + b"\n")
            code = 2
        return self.terminate(code)

    def _run_script(self) -> int:
        self.setup_tty()
        options = ChatOptions(
            timeout=self.timeout, echo=bool(self.echo), verbose=bool(self.verbose),
            trace=self.trace, pacing=os.environ.get(NO_PACING_VARIABLE) != "1",
            escapes=EscapeContext(self.phone, self.phone2, self.use_env))
        self.engine = ChatEngine(Channel(0, 1), options, self.event)
        # chat installs its SIGALRM handler once the tty is set up (before
        # that, SIGALRM kills it, as it kills us).
        signal.signal(signal.SIGALRM, self._on_alarm)
        if self.chat_file is None:
            from .script import argv_tokens, pair_tokens
            return self.engine.run(pair_tokens(argv_tokens(self.words)))
        if self.words:
            self.usage()
        try:
            stream = open(self.chat_file, "rb")
        except IsADirectoryError:
            # chat's fopen() succeeds on a directory and its first fgets()
            # fails: an empty script.
            return 0
        except OSError as error:
            raise Terminate(self._fatal_text(1, self.chat_file + b" -- open failed", error))
        from .script import iter_file_steps
        with stream:
            return self.engine.run(iter_file_steps(stream, os.fsdecode(self.chat_file)))

    def terminate(self, code: int) -> int:
        """chat's terminate(): echo newline, last report line, close -r file, restore tty."""
        self.terminating = True
        try:
            if self.engine is not None:
                self.engine.finish()
        except _SignalExit as stop:                      # pragma: no cover - raced signal
            self.log(stop.name, error=True)
        if self.report_file is not None:
            if self.verbose:
                line = b'Closing "' + self.report_file + b'".\n'
                if self.report_stream is not None:
                    self.report_stream.write(line)
                else:
                    _write_stderr(line)
            if self.report_stream is not None:
                try:
                    self.report_stream.close()
                except OSError:
                    pass
                self.report_stream = None
            else:
                # The -r file could not be opened, so chat's report stream is
                # stderr, and it fclose()s that: what follows (a tty restore
                # error) no longer reaches stderr.
                try:
                    os.close(2)
                except OSError:
                    pass
        if self.saved_tty is not None:
            try:
                termios.tcsetattr(0, termios.TCSANOW, self.saved_tty)
            except termios.error as error:
                return self._fatal_text(2, b"Can't restore terminal parameters", error)
        return code


def main(argv: list[str] | None = None) -> int:
    words = [os.fsencode(word) for word in (sys.argv if argv is None else argv)]
    return ChatProcess(words).run()


def main_and_exit() -> None:
    """main(), then exit without the interpreter's teardown (~3 ms at every call).

    Everything pppup-chat writes is already out when main() returns: stderr
    and syslog unbuffered, the -r file closed by terminate().  sys.stdout is
    flushed in case a library ever printed to it.
    """
    code = main()
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
