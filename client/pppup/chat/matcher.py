"""Pure incremental multi-pattern matching with chat(8)'s rules.

chat checks, after each received byte (bit 7 stripped), whether the expect
string is a suffix of the bytes received during this expect, then each ABORT
string from index 0 up.  So the pattern that *completes first* wins, and on
a tie the expect wins, then the lowest ABORT index.  `Matcher` gives the
same answer with an Aho-Corasick automaton whose transitions are computed
lazily (most of a 128 x states table is never visited).

It also answers the question that lets a reader take bytes off a tty in
blocks without ever taking one too many: `safe_size()` is the number of
bytes that can be read before any pattern could possibly complete, given
what has been seen.  Reading at most that many bytes means a completion can
only fall on the last byte read, so nothing past the match is ever
consumed, exactly as chat's one-byte reads leave it queued.  See
docs/chat.md "Reading in blocks without reading too much".
"""
from __future__ import annotations

TYPE_CHECKING = False           # typing imports cost start-up time; annotations only
if TYPE_CHECKING:
    import array
    from collections.abc import Callable, Sequence


NO_MATCH = -1
MAX_READ = 4096            # a tty's input buffer; a block read never needs more
SYMBOLS = 128              # bytes lose bit 7 before matching: 7-bit symbols
_CACHE_LIMIT = 4096        # cached chunk transitions per state


class Matcher:
    """Patterns in priority order (index 0 wins ties); feed it received bytes.

    A pattern that contains a byte >= 0x80 can never match, because received
    bytes lose bit 7 first; it is accepted and never reported.  An empty
    pattern completes on the first byte fed (chat's empty ABORT string).
    """

    __slots__ = ("patterns", "state", "_goto", "_fail", "_winner", "_distance", "_rows",
                 "_chunk_cache", "_tables")

    def __init__(self, patterns: Sequence[bytes]) -> None:
        self.patterns = tuple(patterns)
        goto: list[dict[int, int]] = [{}]
        depth = [0]
        output = [NO_MATCH]
        for index, pattern in enumerate(self.patterns):
            if any(byte >= 0x80 for byte in pattern):
                continue
            node = 0
            for byte in pattern:
                child = goto[node].get(byte)
                if child is None:
                    child = len(goto)
                    goto[node][byte] = child
                    goto.append({})
                    depth.append(depth[node] + 1)
                    output.append(NO_MATCH)
                node = child
            if output[node] == NO_MATCH:
                output[node] = index          # duplicates: the lowest index wins
        fail = [0] * len(goto)
        order = _breadth_first(goto)
        for node in order:
            for byte, child in goto[node].items():
                if node == 0:
                    fail[child] = 0
                    continue
                link = fail[node]
                while link and byte not in goto[link]:
                    link = fail[link]
                fail[child] = goto[link].get(byte, 0)
        # The winner of a state: the lowest index among the patterns that are
        # suffixes of it (its own output and, through fail links, shorter ones).
        winner = list(output)
        for node in order[1:]:
            inherited = winner[fail[node]]
            if inherited != NO_MATCH and (winner[node] == NO_MATCH or inherited < winner[node]):
                winner[node] = inherited
        # Distance to the nearest completion: through the trie below a node,
        # then the same for every shorter suffix (fail links).
        unreachable = MAX_READ
        below = [0 if output[node] != NO_MATCH else unreachable for node in range(len(goto))]
        for node in reversed(order):
            for child in goto[node].values():
                if below[child] + 1 < below[node]:
                    below[node] = below[child] + 1
        distance = list(below)
        for node in order[1:]:
            if distance[fail[node]] < distance[node]:
                distance[node] = distance[fail[node]]
        self._goto = goto
        self._fail = fail
        self._winner = winner
        self._distance = distance
        self._rows: list[list[int] | None] = [None] * len(goto)
        self._chunk_cache: list[dict[bytes, int] | None] = [None] * len(goto)
        self._tables: tuple[array.array, array.array, array.array] | None = None
        self.state = 0

    def reset(self) -> None:
        """Forget what was seen (a new expect starts with an empty buffer)."""
        self.state = 0

    def safe_size(self) -> int:
        """How many bytes may be read now without passing a possible completion."""
        distance = self._distance[self.state]
        return distance if distance > 0 else 1

    def tables(self) -> tuple[array.array, array.array, array.array]:
        """The whole automaton as flat arrays, for the compiled scan loop (scanner.py).

        (next, distance, winner): next[state * SYMBOLS + (byte & 0x7F)] is
        the state after a byte (array "I", C unsigned int); distance[state]
        is what safe_size() is built on ("I"); winner[state] the pattern
        completed there or NO_MATCH ("i", C int).  Built once per matcher:
        a state's row is its fail state's row with its own trie edges on top,
        so breadth-first order has every row's source ready.
        """
        if self._tables is None:
            import array        # here: it imports collections, ~1.5 ms of pppup-chat's start-up
            goto, fail = self._goto, self._fail
            rows: list[list[int]] = [[]] * len(goto)
            for node in _breadth_first(goto):
                row = [0] * SYMBOLS if node == 0 else list(rows[fail[node]])
                for symbol, child in goto[node].items():
                    row[symbol] = child
                rows[node] = row
            flat = array.array("I")
            for row in rows:
                flat.extend(row)
            self._tables = (flat, array.array("I", self._distance), array.array("i", self._winner))
        return self._tables

    def _step(self, state: int, byte: int) -> int:
        row = self._rows[state]
        if row is None:
            row = self._rows[state] = [-1] * 256
        target = row[byte]
        if target < 0:
            symbol = byte & 0x7F
            node = state
            goto = self._goto
            while node and symbol not in goto[node]:
                node = self._fail[node]
            target = goto[node].get(symbol, 0)
            row[byte] = target
        return target

    def feed(self, data: bytes) -> tuple[int, int]:
        """Feed bytes one by one; stop at the first completion.

        Returns (bytes consumed, pattern index), or (len(data), NO_MATCH).
        """
        state = self.state
        winner = self._winner
        for position, byte in enumerate(data):
            state = self._step(state, byte)
            if winner[state] != NO_MATCH:
                self.state = state
                return position + 1, winner[state]
        self.state = state
        return len(data), NO_MATCH

    def feed_safe(self, data: bytes) -> int:
        """Feed at most safe_size() bytes; returns the pattern completed by the last one.

        The caller guarantees len(data) <= safe_size(), so no pattern can
        complete before the last byte; this is the fast path of block reads.
        """
        state = self.state
        cache = self._chunk_cache[state]
        if cache is None:
            cache = self._chunk_cache[state] = {}
        target = cache.get(data)
        if target is None:
            target = state
            for byte in data:
                target = self._step(target, byte)
            if len(cache) < _CACHE_LIMIT:
                cache[data] = target
        self.state = target
        return self._winner[target]


    def scan(self, read: Callable[[int], bytes | str]) -> int | str:
        """Feed blocks from `read(size)` until a pattern completes; the hot loop.

        `size` is always safe_size(), so no byte past the completion is ever
        requested.  `read` returns bytes, or a str saying why input ended
        (returned as is).  Returns the completed pattern's index.
        """
        state = self.state
        distance = self._distance
        winner = self._winner
        caches = self._chunk_cache
        step = self._step
        while True:
            size = distance[state]
            data = read(size if size > 0 else 1)
            if type(data) is str:
                self.state = state
                return data
            cache = caches[state]
            if cache is None:
                cache = caches[state] = {}
            target = cache.get(data)
            if target is None:
                target = state
                for byte in data:           # type: ignore[union-attr]
                    target = step(target, byte)
                if len(cache) < _CACHE_LIMIT:
                    cache[data] = target    # type: ignore[index]
            state = target
            if winner[state] != NO_MATCH:
                self.state = state
                return winner[state]


def _breadth_first(goto: list[dict[int, int]]) -> list[int]:
    order = [0]
    for node in order:
        order.extend(goto[node].values())
    return order


def naive_first_completion(patterns: Sequence[bytes], data: bytes,
                           history: bytes = b"") -> tuple[int, int]:
    """Reference for tests: chat's own per-byte suffix comparison, literally.

    Returns (bytes of `data` consumed, pattern index) like Matcher.feed.
    """
    received = bytearray(byte & 0x7F for byte in history)
    for position, byte in enumerate(data):
        received.append(byte & 0x7F)
        for index, pattern in enumerate(patterns):
            if received.endswith(pattern):
                return position + 1, index
    return len(data), NO_MATCH
