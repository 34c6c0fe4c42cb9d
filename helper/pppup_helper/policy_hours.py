"""Allowed hours of a policy rule: parse "Mon-Fri 08:00-18:00" windows and
answer "is this moment inside?" and "when does the allowed period end?".

Times are local wall-clock time (the machine's /etc/localtime, the same
clock `date` shows).  A window whose end is not after its start crosses
midnight: "Sat 22:00-02:00" starts on Saturday 22:00 and ends on Sunday
02:00.  The weekday always names the day a window *starts*.

Internally a week is the range [0, WEEK) of seconds from Monday 00:00; the
windows become a sorted list of disjoint intervals (adjacent and overlapping
windows merged), so the end of the allowed period is the end of one merged
interval, followed across the Sunday/Monday boundary when needed.
"""
from __future__ import annotations

import re

TYPE_CHECKING = False
if TYPE_CHECKING:      # annotations only: a status request never needs datetime
    from datetime import datetime

DAY = 86400
WEEK = 7 * DAY
DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_INDEX = {name.lower(): i for i, name in enumerate(DAY_NAMES)}

# Compiled by `re` on first use: only a policy with hours pays for it.
_WINDOW = (r"(?:(?P<days>[A-Za-z]{3}(?:-[A-Za-z]{3})?(?:,[A-Za-z]{3}(?:-[A-Za-z]{3})?)*) +)?"
           r"(?P<start>[0-9]{2}:[0-9]{2})-(?P<end>[0-9]{2}:[0-9]{2})")

HOURS_FIX = ('write windows as "DAYS HH:MM-HH:MM", e.g. "Mon-Fri 08:00-18:00", '
             '"Sat,Sun 10:00-02:00" or "22:00-06:00" (every day); '
             "days Mon Tue Wed Thu Fri Sat Sun, 24:00 allowed as an end")


class HoursSyntaxError(ValueError):
    """A window string that does not follow the syntax; str() says what is wrong."""


def _clock(text: str, allow_24: bool) -> int:
    hours, minutes = int(text[:2]), int(text[3:])
    if hours == 24 and minutes == 0 and allow_24:
        return DAY
    if hours > 23 or minutes > 59:
        raise HoursSyntaxError(f"{text} is not a time of day")
    return hours * 3600 + minutes * 60


def _day(name: str) -> int:
    try:
        return _DAY_INDEX[name.lower()]
    except KeyError:
        raise HoursSyntaxError(f"{name!r} is not a day name") from None


def _days(spec: str | None) -> list[int]:
    if spec is None:
        return list(range(7))
    days: list[int] = []
    for item in spec.split(","):
        first, _, last = item.partition("-")
        start = _day(first)
        stop = _day(last) if last else start
        # A range may wrap around the week end: "Fri-Mon" is Fri Sat Sun Mon.
        span = (stop - start) % 7
        for offset in range(span + 1):
            day = (start + offset) % 7
            if day in days:
                raise HoursSyntaxError(f"day {DAY_NAMES[day]} is listed twice")
            days.append(day)
    return days


def parse_window(text: str) -> list[tuple[int, int]]:
    """One window string → week intervals [start, end) in seconds (end may exceed WEEK)."""
    match = re.fullmatch(_WINDOW, text)
    if match is None:
        raise HoursSyntaxError(f"{text!r} is not a window")
    start = _clock(match["start"], allow_24=False)
    end = _clock(match["end"], allow_24=True)
    if start == end:
        raise HoursSyntaxError(f"{text!r} is an empty window (start equals end); "
                               "for the whole day write 00:00-24:00")
    length = end - start if end > start else end + DAY - start
    return [(day * DAY + start, day * DAY + start + length) for day in _days(match["days"])]


class Hours:
    """The union of a rule's windows, as disjoint sorted week intervals."""

    __slots__ = ("texts", "_intervals")

    def __init__(self, texts: tuple[str, ...], intervals: list[tuple[int, int]]):
        self.texts = texts
        self._intervals = _merge(intervals)

    @classmethod
    def parse(cls, texts: tuple[str, ...]) -> "Hours":
        intervals: list[tuple[int, int]] = []
        for text in texts:
            intervals.extend(parse_window(text))
        return cls(texts, intervals)

    @property
    def always(self) -> bool:
        return self._intervals == [(0, WEEK)]

    def contains(self, now: datetime) -> bool:
        return self._find(_week_second(now)) is not None

    def period_end(self, now: datetime) -> datetime | None:
        """End of the allowed period containing `now`; None if it never ends.

        Raises ValueError if `now` is outside every window.
        """
        t = _week_second(now)
        found = self._find(t)
        if found is None:
            raise ValueError("outside the allowed hours")
        if self.always:
            return None
        end = found[1]
        if end == WEEK and self._intervals[0][0] == 0:
            end = WEEK + self._intervals[0][1]
        from datetime import timedelta
        return now.replace(microsecond=0) + timedelta(seconds=end - t)

    def covers(self, other: "Hours") -> bool:
        """True if every moment inside `other` is inside these hours."""
        return all(any(start <= o_start and o_end <= end for start, end in self._intervals)
                   for o_start, o_end in other._intervals)

    def _find(self, t: int) -> tuple[int, int] | None:
        for start, end in self._intervals:
            if start <= t < end:
                return start, end
        return None

    def __repr__(self) -> str:
        return f"Hours({list(self.texts)!r})"


def _week_second(now: datetime) -> int:
    return now.weekday() * DAY + now.hour * 3600 + now.minute * 60 + now.second


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Fold intervals into [0, WEEK) (splitting those that pass Sunday night), then merge."""
    folded: list[tuple[int, int]] = []
    for start, end in intervals:
        if end > WEEK:
            folded.append((start, WEEK))
            folded.append((0, end - WEEK))
        else:
            folded.append((start, end))
    folded.sort()
    merged: list[tuple[int, int]] = []
    for start, end in folded:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def describe_moment(now: datetime) -> str:
    return f"{DAY_NAMES[now.weekday()]} {now:%Y-%m-%d %H:%M}"
