"""Allowed-hours windows: syntax, membership, and where the allowed period ends."""
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from pppup_helper.policy_hours import WEEK, Hours, HoursSyntaxError, parse_window

from policy.support import at

MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


@pytest.mark.parametrize("text, inside, outside", [
    ("Mon-Fri 08:00-18:00", [at(MON, 8), at(FRI, 17, 59, 59), at(WED, 12)],
     [at(MON, 7, 59, 59), at(MON, 18), at(SAT, 12), at(SUN, 9)]),
    ("22:00-06:00", [at(MON, 23), at(TUE, 5, 59), at(SUN, 22), at(MON, 0, 30)],   # Mon 00:30: Sunday's window
     [at(MON, 6), at(WED, 21, 59), at(THU, 12)]),
    ("Sat 22:00-02:00", [at(SAT, 22), at(SUN, 1, 59)], [at(SAT, 2), at(SUN, 22), at(FRI, 23)]),
    ("Sun 23:00-01:00", [at(SUN, 23, 30), at(MON, 0, 59)], [at(MON, 1), at(SAT, 23, 30)]),
    ("Fri-Mon 10:00-11:00", [at(FRI, 10), at(SAT, 10), at(SUN, 10), at(MON, 10, 30)],
     [at(TUE, 10), at(THU, 10)]),
    ("Sat,Sun 00:00-24:00", [at(SAT, 0), at(SUN, 23, 59, 59)], [at(FRI, 23, 59, 59), at(MON, 0)]),
    ("mon,wed 09:30-09:45", [at(MON, 9, 30), at(WED, 9, 44, 59)], [at(TUE, 9, 35), at(MON, 9, 45)]),
])
def test_window_membership(text, inside, outside):
    hours = Hours.parse((text,))
    for moment in inside:
        assert hours.contains(moment), (text, moment)
    for moment in outside:
        assert not hours.contains(moment), (text, moment)


@pytest.mark.parametrize("text, why", [
    ("Mon-Fri 8:00-18:00", "not a window"),
    ("Mon-Fri 08:00-18:00 ", "not a window"),
    ("Mon-Fri 08:00 - 18:00", "not a window"),
    ("Mo 08:00-18:00", "not a window"),
    ("Mon-Fry 08:00-18:00", "not a day name"),
    ("Mon 24:00-02:00", "not a time of day"),
    ("Mon 08:60-09:00", "not a time of day"),
    ("Mon 09:00-24:01", "not a time of day"),
    ("Mon 09:00-09:00", "empty window"),
    ("Mon,Tue,Mon 09:00-10:00", "listed twice"),
    ("Mon-Wed,Tue 09:00-10:00", "listed twice"),
    ("", "not a window"),
    ("always", "not a window"),
])
def test_bad_windows(text, why):
    with pytest.raises(HoursSyntaxError, match=why):
        parse_window(text)


def test_period_end_same_day():
    hours = Hours.parse(("Mon-Fri 08:00-18:00",))
    assert hours.period_end(at(TUE, 9, 15, 30)) == at(TUE, 18)


def test_period_end_crosses_midnight():
    hours = Hours.parse(("Sat 22:00-02:00",))
    assert hours.period_end(at(SAT, 23)) == at(SUN, 2)
    assert hours.period_end(at(SUN, 1)) == at(SUN, 2)


def test_adjacent_windows_merge_into_one_period():
    hours = Hours.parse(("Mon 08:00-12:00", "Mon 12:00-14:00", "Mon 13:00-15:30"))
    assert hours.period_end(at(MON, 9)) == at(MON, 15, 30)


def test_period_follows_sunday_into_monday():
    hours = Hours.parse(("Sun 20:00-24:00", "Mon 00:00-03:00"))
    assert hours.period_end(at(SUN, 21)) == at(MON + 7, 3)
    assert hours.period_end(at(MON, 1)) == at(MON, 3)


def test_every_day_all_day_never_ends():
    hours = Hours.parse(("00:00-24:00",))
    assert hours.always and hours.period_end(at(WED, 3)) is None
    joined = Hours.parse(("Mon-Thu 00:00-24:00", "Fri-Sun 00:00-24:00"))
    assert joined.always and joined.period_end(at(SUN, 23, 59)) is None


def test_outside_raises():
    with pytest.raises(ValueError):
        Hours.parse(("Mon 08:00-09:00",)).period_end(at(MON, 10))


def test_aware_datetimes_keep_their_zone():
    zone = timezone(timedelta(hours=2))
    now = datetime(2024, 5, 6, 17, 0, tzinfo=zone)
    end = Hours.parse(("Mon 08:00-18:00",)).period_end(now)
    assert end == datetime(2024, 5, 6, 18, 0, tzinfo=zone)


windows = st.tuples(
    st.sets(st.integers(0, 6), min_size=1),
    st.integers(0, 23), st.integers(0, 59), st.integers(0, 24), st.integers(0, 59),
).filter(lambda w: not (w[3] == 24 and w[4] != 0) and (w[1], w[2]) != (w[3] % 24, w[4]) and (w[3], w[4]) != (w[1], w[2]))


def _text(window):
    days, h1, m1, h2, m2 = window
    names = ",".join(["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][d] for d in sorted(days))
    return f"{names} {h1:02d}:{m1:02d}-{h2:02d}:{m2:02d}"


def _brute_contains(texts, moment):
    """Reference: walk the windows of the previous and current day directly."""
    second = moment.hour * 3600 + moment.minute * 60 + moment.second
    for text in texts:
        days_part, clock = text.split(" ")
        start_text, end_text = clock.split("-")
        start = int(start_text[:2]) * 3600 + int(start_text[3:]) * 60
        end = int(end_text[:2]) * 3600 + int(end_text[3:]) * 60
        days = [["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"].index(d) for d in days_part.split(",")]
        today, yesterday = moment.weekday(), (moment.weekday() - 1) % 7
        if end > start:
            if today in days and start <= second < end:
                return True
        else:
            if today in days and second >= start:
                return True
            if yesterday in days and second < end:
                return True
    return False


@given(st.lists(windows, min_size=1, max_size=4),
       st.integers(0, WEEK - 1))
def test_contains_agrees_with_a_direct_reading(window_list, offset):
    texts = tuple(_text(w) for w in window_list)
    moment = at(0, 0) + timedelta(seconds=offset)
    assert Hours.parse(texts).contains(moment) == _brute_contains(texts, moment)


@given(st.lists(windows, min_size=1, max_size=4), st.integers(0, WEEK - 1))
def test_period_end_is_the_first_moment_outside(window_list, offset):
    hours = Hours.parse(tuple(_text(w) for w in window_list))
    moment = at(0, 0) + timedelta(seconds=offset)
    if not hours.contains(moment):
        return
    end = hours.period_end(moment)
    if end is None:
        assert hours.always
        return
    assert end > moment and not hours.contains(end)
    # Every minute boundary before the end is inside (the period has no holes).
    probe = moment
    while probe < end:
        assert hours.contains(probe)
        probe += timedelta(minutes=17)


def test_covers():
    workdays = Hours.parse(("Mon-Fri 08:00-18:00",))
    assert workdays.covers(Hours.parse(("Tue 09:00-10:00", "Fri 17:00-18:00")))
    assert not workdays.covers(Hours.parse(("Fri 17:00-18:01",)))
    nights = Hours.parse(("22:00-06:00",))
    assert nights.covers(Hours.parse(("Sun 23:00-01:00",)))      # across the week boundary
    assert not nights.covers(Hours.parse(("Sun 21:00-01:00",)))
