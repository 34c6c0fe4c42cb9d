"""One error vocabulary for the whole of pppup.

Each code is at once the status a command exits with and the code the root
helper puts in an error answer, so a refusal reads the same on the wire, in
the audit log and in the shell.  The numbers are stable: scripts depend on
them (documented in pppup(1) "EXIT STATUS").
"""
from enum import IntEnum


class Code(IntEnum):
    OK = 0
    FAILURE = 1        # an unexpected internal error: a bug, the message says where
    USAGE = 2          # bad command line (also click's UsageError)
    CONFIG = 3         # an account, script or policy file is invalid: file:line and the fix
    DENIED = 4         # the policy does not allow this caller to do this
    BUSY = 5           # the line is held by someone else (the message names the holder)
    LINE = 6           # the line cannot be used: device missing, wrong identity, lock failed
    MODEM = 7          # the modem does not answer or says ERROR
    DIAL = 8           # every dial attempt failed (BUSY, NO ANSWER, NO CARRIER, NO DIALTONE)
    LOGIN = 9          # the login or chat script failed (timeout, ABORT string, refused)
    CALLBACK = 10      # the server did not call back in time
    PPP = 11           # pppd failed or ended (authentication, negotiation, link lost)
    NO_LINK = 12       # pppdown: there is no link to stop
    HELPER = 13        # the root helper is unavailable or broke the protocol
    TIMEOUT = 14       # a bounded wait ran out (e.g. --wait for a busy line)
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), after the line was cleaned up


class PppupError(Exception):
    """An error with a code from the vocabulary and a message for the user.

    The message says what failed, on what, and what to do about it.
    """

    code: Code = Code.FAILURE

    def __init__(self, message: str, code: Code | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""
