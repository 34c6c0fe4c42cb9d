"""Keep secrets out of logs, echo and events.

chat's `\\q` hides a send string from the verbose log, and nothing else:
when the remote echoes the password back (most login prompts echo what you
type until the password prompt turns echo off, and some never do), chat's
ECHO, -V and -v output show it.  The engine passes every received byte
through a `StreamMasker` before deriving any output from it, and every sent
string through `mask()`, so a secret never reaches an output in clear.

Received data arrives in arbitrary pieces, so the stream masker holds back
the longest tail that could still be the start of a secret; `flush()`
releases it (it was not a secret) when the run ends.
"""
from __future__ import annotations

TYPE_CHECKING = False           # typing imports cost start-up time; annotations only
if TYPE_CHECKING:
    from collections.abc import Iterable


MASK = b"??????"     # fixed width: the mask does not tell the secret's length


def _usable(secrets: Iterable[bytes]) -> tuple[bytes, ...]:
    # Longest first, so a secret containing another is masked whole.
    return tuple(sorted({secret for secret in secrets if secret}, key=len, reverse=True))


def mask(data: bytes, secrets: Iterable[bytes]) -> bytes:
    """Replace every occurrence of every secret in a complete text."""
    for secret in _usable(secrets):
        data = data.replace(secret, MASK)
    return data


class StreamMasker:
    """Masks secrets in a byte stream that arrives in pieces."""

    __slots__ = ("_secrets", "_pending", "_longest")

    def __init__(self, secrets: Iterable[bytes]) -> None:
        self._secrets = _usable(secrets)
        self._pending = b""
        self._longest = max((len(secret) for secret in self._secrets), default=0)

    @property
    def active(self) -> bool:
        return bool(self._secrets)

    def add(self, secret: bytes) -> None:
        """Mask one more secret from now on (e.g. a password typed at a prompt)."""
        self._secrets = _usable(self._secrets + (secret,))
        self._longest = max((len(known) for known in self._secrets), default=0)

    def feed(self, data: bytes) -> bytes:
        """Return what can be shown now; keep a possible secret's beginning back."""
        if not self._secrets:
            return data
        text = mask(self._pending + data, self._secrets)
        keep = self._held_back(text)
        self._pending = text[len(text) - keep:] if keep else b""
        return text[:len(text) - keep]

    def flush(self) -> bytes:
        """Release what was held back: the stream ended without completing a secret."""
        text, self._pending = self._pending, b""
        return text

    def _held_back(self, text: bytes) -> int:
        # The longest suffix of `text` that is a proper prefix of some secret.
        for size in range(min(len(text), self._longest - 1), 0, -1):
            tail = text[len(text) - size:]
            if any(secret.startswith(tail) for secret in self._secrets):
                return size
        return 0
