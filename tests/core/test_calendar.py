"""Business calendars against a minute-by-minute brute force, plus the spec's worked examples."""
from __future__ import annotations

import bisect
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.calendar import WEEKDAYS, AlwaysOpen, BusinessCalendar, Calendar
from streams.core.timeutil import US, format_us, to_us

H = 3600
M = 60
MIN_US = 60 * US
HOUR_US = H * US
DAY_US = 24 * HOUR_US
WEEKDAYS_MON_FRI = range(5)
LUNCH = [(9 * H, 12 * H), (13 * H, 18 * H)]


def local(tz: str, *args: int) -> int:
    return to_us(datetime(*args, tzinfo=ZoneInfo(tz)))


# Calendar configurations for the property tests, each with local start dates of the spans the
# brute force covers. Range boundaries inside the DST hour (01:00-03:00 local) are whole hours:
# the brute force classifies each real minute by its wall time, which agrees with the
# calendar's DST rule exactly at whole-hour boundaries (see test_dst_rule_* for the rest).
CONFIGS: dict[str, dict] = {
    "shanghai": dict(
        timezone="Asia/Shanghai",
        weekly={**{d: LUNCH for d in WEEKDAYS_MON_FRI}, 5: [(10 * H, 16 * H)]},  # short Saturday
        holiday_dates=[date(2026, 11, 11)],
        workdays=[date(2026, 11, 14), date(2026, 11, 15)],  # a Saturday and a Sunday
        spans=[date(2026, 11, 5)],
    ),
    "berlin": dict(
        timezone="Europe/Berlin",
        weekly={
            **{d: [(8 * H + 30 * M, 12 * H), (13 * H, 17 * H + 45 * M)] for d in WEEKDAYS_MON_FRI},
            5: [(10 * H, 14 * H)],
            6: [(0, 2 * H), (3 * H, 24 * H)],  # open on Sundays so the DST switches count
        },
        holiday_dates=[date(2026, 4, 3), date(2026, 10, 23)],
        workdays=[date(2026, 3, 28), date(2026, 4, 5), date(2026, 10, 31)],
        spans=[date(2026, 3, 23), date(2026, 10, 19)],
    ),
    "new_york": dict(
        timezone="America/New_York",
        weekly={
            **{d: [(9 * H, 12 * H), (12 * H + 30 * M, 17 * H)] for d in WEEKDAYS_MON_FRI},
            5: [(7 * H, 11 * H)],
            6: [(1 * H, 3 * H), (22 * H, 24 * H)],
        },
        holiday_dates=[date(2026, 11, 3)],
        workdays=[date(2026, 3, 7), date(2026, 11, 1)],
        spans=[date(2026, 3, 2), date(2026, 10, 27)],
    ),
    "utc": dict(
        timezone="UTC",
        weekly={**{d: [(9 * H, 17 * H)] for d in range(4)}, 4: [(9 * H, 17 * H), (22 * H, 24 * H)]},
        holiday_dates=[date(2026, 12, 25)],
        workdays=[date(2026, 12, 26), date(2026, 12, 27)],
        spans=[date(2026, 12, 18)],
    ),
    "cn_country": dict(
        timezone="Asia/Shanghai",
        weekly={d: LUNCH for d in WEEKDAYS_MON_FRI},
        country="CN",
        country_workdays=True,
        spans=[date(2026, 9, 16)],  # 09-20 make-up Sunday, National Day week, 10-10 make-up Saturday
    ),
    "bavaria": dict(
        timezone="Europe/Berlin",
        weekly={d: [(9 * H, 17 * H)] for d in range(6)},
        country="DE",
        subdivision="BY",
        workdays=[date(2026, 1, 6)],  # explicit workday beats the Epiphany holiday
        spans=[date(2025, 12, 22)],
    ),
}
SPAN_DAYS = 14
WINDOW_MINUTES = 10 * 24 * 60


def make_calendar(key: str) -> BusinessCalendar:
    cfg = {k: v for k, v in CONFIGS[key].items() if k != "spans"}
    return BusinessCalendar(key, **cfg)


CALENDARS = {key: make_calendar(key) for key in CONFIGS}


def reference_ranges(cfg: dict, day: date) -> list[tuple[int, int]]:
    """The spec's rule, written independently of the implementation."""
    country = cfg.get("country")
    h = holidays.country_holidays(country, subdiv=cfg.get("subdivision"), years=range(2024, 2029)) if country else None
    monday = list(cfg["weekly"].get(0, []))
    if day in cfg.get("workdays", ()):
        return monday
    if h is not None and cfg.get("country_workdays") and day in h.weekend_workdays:
        return monday
    if day in cfg.get("holiday_dates", ()) or (h is not None and day in h):
        return []
    return list(cfg["weekly"].get(day.weekday(), []))


@lru_cache(maxsize=None)
def brute_force(key: str, span: int) -> tuple[int, list[int]]:
    """(first minute's UTC µs, prefix counts of open minutes), walking real minutes one by one."""
    cfg = CONFIGS[key]
    tz = ZoneInfo(cfg["timezone"])
    start = to_us(datetime.combine(cfg["spans"][span], datetime.min.time(), tzinfo=tz))
    ranges_cache: dict[date, list[tuple[int, int]]] = {}
    prefix = [0]
    for i in range(SPAN_DAYS * 24 * 60):
        wall = datetime.fromtimestamp((start + i * MIN_US) // US, tz)
        day = wall.date()
        if day not in ranges_cache:
            ranges_cache[day] = reference_ranges(cfg, day)
        second = wall.hour * H + wall.minute * M
        is_open = any(s <= second < e for s, e in ranges_cache[day])
        prefix.append(prefix[-1] + is_open)
    return start, prefix


SPANS = [(key, i) for key, cfg in CONFIGS.items() for i in range(len(cfg["spans"]))]


@st.composite
def minute_window(draw):
    key, span = draw(st.sampled_from(SPANS))
    i = draw(st.integers(0, SPAN_DAYS * 24 * 60 - WINDOW_MINUTES))
    j = i + draw(st.integers(0, WINDOW_MINUTES))
    return key, span, i, j


# -- brute-force properties --------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(minute_window())
def test_elapsed_matches_minute_brute_force(window):
    key, span, i, j = window
    start, prefix = brute_force(key, span)
    cal = CALENDARS[key]
    assert cal.elapsed(start + i * MIN_US, start + j * MIN_US) == (prefix[j] - prefix[i]) * MIN_US
    assert cal.elapsed(start + j * MIN_US, start + i * MIN_US) == 0


@settings(max_examples=200, deadline=None)
@given(minute_window(), st.integers(0, 5000))
def test_add_is_earliest_instant_matching_brute_force(window, n):
    key, span, i, _ = window
    start, prefix = brute_force(key, span)
    cal = CALENDARS[key]
    a = start + i * MIN_US
    t = cal.add(a, n * MIN_US)
    assert t >= a
    assert cal.elapsed(a, t) == n * MIN_US
    if n > 0:
        assert cal.elapsed(a, t - 1) < n * MIN_US
        assert cal.elapsed(a, t - MIN_US) < n * MIN_US
    # The brute force's earliest minute j with n open minutes in [i, j), when the span reaches it.
    j = bisect.bisect_left(prefix, prefix[i] + n, lo=i)
    if j < len(prefix):
        assert t == start + j * MIN_US, (format_us(t), format_us(start + j * MIN_US))
    else:
        assert t > start + (len(prefix) - 1) * MIN_US


instants = st.integers(to_us(datetime(2025, 12, 1, tzinfo=timezone.utc)), to_us(datetime(2027, 2, 1, tzinfo=timezone.utc)))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(CALENDARS)), instants, st.integers(0, 40 * DAY_US), st.integers(0, 40 * DAY_US))
def test_elapsed_is_additive_at_any_microsecond(key, a, d1, d2):
    cal = CALENDARS[key]
    b, c = a + d1, a + d1 + d2
    ab, bc, ac = cal.elapsed(a, b), cal.elapsed(b, c), cal.elapsed(a, c)
    assert ac == ab + bc
    assert 0 <= ab <= b - a
    assert cal.elapsed(c, a) == 0


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(CALENDARS)), instants, st.integers(-HOUR_US, 30 * DAY_US))
def test_add_inverts_elapsed_at_any_microsecond(key, a, n):
    cal = CALENDARS[key]
    t = cal.add(a, n)
    if n <= 0:
        assert t == a
        return
    assert t > a
    assert cal.elapsed(a, t) == n
    assert cal.elapsed(a, t - 1) == n - 1  # earliest: one µs less is one business µs short


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(CALENDARS)), st.dates(date(2025, 12, 1), date(2027, 1, 31)))
def test_day_intervals_sorted_disjoint_and_match_rules(key, day):
    cal = CALENDARS[key]
    ivs = cal.day_intervals(day)
    prev_end = None
    for s, e in ivs:
        assert s < e
        assert prev_end is None or s > prev_end  # touching ranges are merged
        prev_end = e
    nxt = cal.day_intervals(day + timedelta(days=1))
    if ivs and nxt:
        assert ivs[-1][1] <= nxt[0][0]
    assert bool(ivs) == bool(reference_ranges(CONFIGS[key], day))


# -- worked examples ---------------------------------------------------------------------

SH = "Asia/Shanghai"


def cn_office(**kw) -> BusinessCalendar:
    return BusinessCalendar(
        "cn_office", SH, {**{d: LUNCH for d in WEEKDAYS_MON_FRI}, 5: [(10 * H, 16 * H)]}, **kw
    )


def test_deadline_at_end_of_morning_not_after_lunch():
    cal = cn_office()
    monday_11 = local(SH, 2026, 11, 9, 11)
    assert cal.add(monday_11, HOUR_US) == local(SH, 2026, 11, 9, 12)
    assert cal.add(monday_11, 2 * HOUR_US) == local(SH, 2026, 11, 9, 14)
    assert cal.add(monday_11, HOUR_US + 1) == local(SH, 2026, 11, 9, 13) + 1
    assert cal.elapsed(local(SH, 2026, 11, 9, 11), local(SH, 2026, 11, 9, 13)) == HOUR_US
    assert cal.elapsed(local(SH, 2026, 11, 9, 12), local(SH, 2026, 11, 9, 13)) == 0


def test_across_weekend_with_short_saturday():
    cal = BusinessCalendar("weekdays", SH, {d: LUNCH for d in WEEKDAYS_MON_FRI})
    friday_17 = local(SH, 2026, 11, 6, 17)
    assert cal.add(friday_17, 2 * HOUR_US) == local(SH, 2026, 11, 9, 10)
    assert cal.elapsed(friday_17, local(SH, 2026, 11, 9, 10)) == 2 * HOUR_US
    with_sat = cn_office()
    assert with_sat.add(friday_17, 2 * HOUR_US) == local(SH, 2026, 11, 7, 11)
    assert with_sat.elapsed(local(SH, 2026, 11, 7, 0), local(SH, 2026, 11, 8, 0)) == 6 * HOUR_US


def test_explicit_holiday_is_closed():
    cal = cn_office(holiday_dates=[date(2026, 11, 11)])
    assert cal.day_intervals(date(2026, 11, 11)) == ()
    tuesday_17 = local(SH, 2026, 11, 10, 17)
    assert cal.add(tuesday_17, 2 * HOUR_US) == local(SH, 2026, 11, 12, 10)
    assert cal.elapsed(local(SH, 2026, 11, 10, 0), local(SH, 2026, 11, 13, 0)) == 16 * HOUR_US
    assert cn_office().elapsed(local(SH, 2026, 11, 10, 0), local(SH, 2026, 11, 13, 0)) == 24 * HOUR_US


def test_makeup_workday_uses_mondays_hours_even_on_saturday_and_weekday():
    cal = BusinessCalendar(
        "x", SH,
        {**{d: LUNCH for d in range(4)}, 4: [(9 * H, 15 * H)], 5: [(10 * H, 16 * H)]},
        holiday_dates=[date(2026, 10, 10)],
        workdays=[date(2026, 10, 10), date(2026, 10, 11), date(2026, 10, 16)],  # Sat (also a holiday), Sun, Fri
    )
    monday = [(s - local(SH, 2026, 10, 12), e - local(SH, 2026, 10, 12)) for s, e in cal.day_intervals(date(2026, 10, 12))]
    for day in (date(2026, 10, 10), date(2026, 10, 11), date(2026, 10, 16)):
        midnight = local(SH, day.year, day.month, day.day)
        assert [(s - midnight, e - midnight) for s, e in cal.day_intervals(day)] == monday
    assert monday == [(9 * HOUR_US, 12 * HOUR_US), (13 * HOUR_US, 18 * HOUR_US)]
    assert cal.elapsed(local(SH, 2026, 10, 10), local(SH, 2026, 10, 11)) == 8 * HOUR_US
    assert cal.add(local(SH, 2026, 10, 10, 11), HOUR_US) == local(SH, 2026, 10, 10, 12)


CN_MAKEUP = sorted(d for d in holidays.country_holidays("CN", years=2026).weekend_workdays if d.year == 2026)


def test_country_holidays_and_official_makeup_days():
    weekly = {d: LUNCH for d in WEEKDAYS_MON_FRI}
    plain = BusinessCalendar("cn", SH, weekly, country="CN")
    makeup = BusinessCalendar("cn", SH, weekly, country="CN", country_workdays=True)
    for cal in (plain, makeup):
        assert cal.day_intervals(date(2026, 10, 1)) == ()  # National Day, a Thursday
        assert cal.elapsed(local(SH, 2026, 10, 1), local(SH, 2026, 10, 8)) == 0
        assert len(cal.day_intervals(date(2026, 10, 8))) == 2
    saturdays = [d for d in CN_MAKEUP if d.weekday() == 5]
    sundays = [d for d in CN_MAKEUP if d.weekday() == 6]
    assert saturdays and sundays
    for day in (saturdays[0], sundays[0]):
        midnight = local(SH, day.year, day.month, day.day)
        assert plain.day_intervals(day) == ()
        assert makeup.day_intervals(day) == (
            (midnight + 9 * HOUR_US, midnight + 12 * HOUR_US),
            (midnight + 13 * HOUR_US, midnight + 18 * HOUR_US),
        )
    # An ordinary weekend stays closed even with country_workdays.
    assert makeup.day_intervals(date(2026, 10, 17)) == ()


def test_country_subdivision_holidays():
    weekly = {d: [(9 * H, 17 * H)] for d in WEEKDAYS_MON_FRI}
    bavaria = BusinessCalendar("by", "Europe/Berlin", weekly, country="DE", subdivision="BY")
    berlin = BusinessCalendar("be", "Europe/Berlin", weekly, country="DE", subdivision="BE")
    assert bavaria.day_intervals(date(2026, 1, 6)) == ()  # Epiphany, Bavaria only
    assert len(berlin.day_intervals(date(2026, 1, 6))) == 1
    assert bavaria.day_intervals(date(2026, 6, 4)) == ()  # Corpus Christi, not a holiday in Berlin
    assert len(berlin.day_intervals(date(2026, 6, 4))) == 1
    assert bavaria.day_intervals(date(2026, 12, 25)) == berlin.day_intervals(date(2026, 12, 25)) == ()


BER = "Europe/Berlin"


def test_dst_days_last_23_and_25_hours():
    cal = BusinessCalendar("ber", BER, {d: [(0, 24 * H)] for d in range(7)})
    spring, autumn = date(2026, 3, 29), date(2026, 10, 25)
    (s, e), = cal.day_intervals(spring)
    assert e - s == 23 * HOUR_US
    (s, e), = cal.day_intervals(autumn)
    assert e - s == 25 * HOUR_US
    assert cal.elapsed(local(BER, 2026, 3, 29), local(BER, 2026, 3, 30)) == 23 * HOUR_US
    assert cal.elapsed(local(BER, 2026, 10, 25), local(BER, 2026, 10, 26)) == 25 * HOUR_US
    assert cal.add(local(BER, 2026, 3, 29), 24 * HOUR_US) == local(BER, 2026, 3, 30, 1)
    assert cal.add(local(BER, 2026, 10, 25), 24 * HOUR_US) == local(BER, 2026, 10, 25, 23)
    # Ordinary 09:00-18:00 hours on a DST day are still 9 real hours.
    nine_to_six = BusinessCalendar("ber", BER, {d: [(9 * H, 18 * H)] for d in range(7)})
    assert nine_to_six.elapsed(local(BER, 2026, 3, 29), local(BER, 2026, 3, 30)) == 9 * HOUR_US
    assert nine_to_six.elapsed(local(BER, 2026, 10, 25), local(BER, 2026, 10, 26)) == 9 * HOUR_US


def utc_us(*args: int) -> int:
    return to_us(datetime(*args, tzinfo=timezone.utc))


def test_dst_rule_nonexistent_time_is_the_transition_instant():
    # 2026-03-29 Berlin: 02:00 CET jumps to 03:00 CEST at 01:00 UTC.
    cal = BusinessCalendar("ber", BER, {6: [(0, 1 * H), (2 * H + 30 * M, 5 * H)], 0: [(2 * H, 2 * H + 30 * M)]})
    assert cal.day_intervals(date(2026, 3, 29)) == (
        (utc_us(2026, 3, 28, 23), utc_us(2026, 3, 29, 0)),
        (utc_us(2026, 3, 29, 1), utc_us(2026, 3, 29, 3)),
    )
    # A range lying wholly in the gap is empty (make-up day with Monday's 02:00-02:30 hours).
    gap_only = BusinessCalendar("g", BER, {0: [(2 * H, 2 * H + 30 * M)]}, workdays=[date(2026, 3, 29)])
    assert gap_only.day_intervals(date(2026, 3, 29)) == ()
    assert gap_only.elapsed(local(BER, 2026, 3, 28), local(BER, 2026, 3, 30)) == 0


def test_dst_rule_ambiguous_time_is_first_occurrence():
    # 2026-10-25 Berlin: 03:00 CEST falls back to 02:00 CET at 01:00 UTC; 02:30 happens twice.
    cal = BusinessCalendar("ber", BER, {6: [(0, 1 * H), (2 * H + 30 * M, 5 * H)]})
    assert cal.day_intervals(date(2026, 10, 25)) == (
        (utc_us(2026, 10, 24, 22), utc_us(2026, 10, 24, 23)),
        (utc_us(2026, 10, 25, 0, 30), utc_us(2026, 10, 25, 4)),
    )
    assert cal.elapsed(local(BER, 2026, 10, 25), local(BER, 2026, 10, 26)) == 4 * HOUR_US + 30 * MIN_US


def test_always_open_fast_path():
    cal = AlwaysOpen()
    assert cal.name == "24x7"
    assert AlwaysOpen("x").name == "x"
    assert cal.elapsed(10, 25) == 15
    assert cal.elapsed(25, 10) == 0
    assert cal.add(10, 15) == 25
    assert cal.add(10, 0) == 10
    assert cal.add(10, -5) == 10
    assert isinstance(cal, Calendar)
    assert isinstance(CALENDARS["utc"], Calendar)


def test_no_business_hours_raises_from_add():
    cal = BusinessCalendar("closed", "UTC", {}, workdays=[date(2026, 1, 5)])
    with pytest.raises(ValueError, match="calendar closed has no business hours"):
        cal.add(utc_us(2026, 1, 1), 1)
    assert cal.add(utc_us(2026, 1, 1), 0) == utc_us(2026, 1, 1)
    assert cal.elapsed(utc_us(2026, 1, 1), utc_us(2027, 1, 1)) == 0


def test_add_gives_up_when_every_open_day_is_a_holiday():
    mondays = [date(2026, 1, 5) + timedelta(weeks=k) for k in range(600)]
    cal = BusinessCalendar("mondays", "UTC", {0: [(9 * H, 17 * H)]}, holiday_dates=mondays)
    with pytest.raises(ValueError, match="mondays"):
        cal.add(utc_us(2026, 1, 1), 1)
    # Past the holidays it opens again: long spans are still answered.
    t = BusinessCalendar("mondays", "UTC", {0: [(9 * H, 17 * H)]}, holiday_dates=mondays[:300]).add(utc_us(2026, 1, 1), HOUR_US)
    assert t == to_us(datetime.combine(mondays[300], datetime.min.time(), tzinfo=timezone.utc)) + 10 * HOUR_US


def test_long_spans():
    cal = cn_office(holiday_dates=[date(2026, 11, 11)])
    year = cal.elapsed(local(SH, 2026, 1, 1), local(SH, 2027, 1, 1))
    # 2026: 261 weekdays x 8 h + 52 Saturdays x 6 h, minus one Wednesday holiday.
    assert year == (261 * 8 + 52 * 6 - 8) * HOUR_US
    assert cal.add(local(SH, 2026, 1, 1), year) == local(SH, 2026, 12, 31, 18)


def test_invalid_configuration():
    with pytest.raises(ValueError, match="timezone"):
        BusinessCalendar("x", "Mars/Olympus", {})
    with pytest.raises(ValueError, match="overlapping"):
        BusinessCalendar("x", "UTC", {0: [(9 * H, 12 * H), (11 * H, 13 * H)]})
    with pytest.raises(ValueError, match="bad range"):
        BusinessCalendar("x", "UTC", {0: [(9 * H, 25 * H)]})
    with pytest.raises(ValueError, match="weekday"):
        BusinessCalendar("x", "UTC", {7: [(9 * H, 12 * H)]})
    with pytest.raises(ValueError):
        BusinessCalendar("x", "UTC", {}, country="XX")


def test_weekdays_constant():
    assert WEEKDAYS == ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
