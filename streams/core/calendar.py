"""Business-hours calendars: how much SLA time passes between two instants, and when a target is reached.

An SLA target on a business calendar only runs while the support team is open (weekly hours,
minus holidays, plus make-up working days). Instants are integer microseconds since the epoch,
UTC (see `timeutil`); a calendar turns each local date into UTC intervals once and caches them,
so `elapsed` and `add` are a few dictionary look-ups per day spanned. Pure: no I/O, no wall clock.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Iterable, Mapping, Protocol, Sequence, runtime_checkable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_US = 1_000_000
_DAY_US = 86_400 * _US
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_EPOCH_ORD = date(1970, 1, 1).toordinal()
_ONE_US = timedelta(microseconds=1)
# `add` gives up after this many days: a calendar whose every date is a holiday would
# otherwise loop forever instead of reporting the broken configuration.
_MAX_ADD_DAYS = 3700

_Interval = tuple[int, int]
_CLOSED = ((), 0, 0, 0)


@runtime_checkable
class Calendar(Protocol):
    name: str

    def elapsed(self, start_us: int, end_us: int) -> int:
        """Business microseconds in [start_us, end_us); 0 if end_us <= start_us."""
        ...

    def add(self, start_us: int, amount_us: int) -> int:
        """Earliest t >= start_us with elapsed(start_us, t) == amount_us; start_us if amount_us <= 0."""
        ...


class AlwaysOpen:
    """The 24x7 calendar: business time is real time."""

    __slots__ = ("name",)

    def __init__(self, name: str = "24x7") -> None:
        self.name = name

    def elapsed(self, start_us: int, end_us: int) -> int:
        return end_us - start_us if end_us > start_us else 0

    def add(self, start_us: int, amount_us: int) -> int:
        return start_us + amount_us if amount_us > 0 else start_us

    def __repr__(self) -> str:
        return f"AlwaysOpen({self.name!r})"


def _check_ranges(day: int, ranges: Sequence[tuple[int, int]]) -> tuple[_Interval, ...]:
    out: list[_Interval] = []
    prev_end = 0
    for start, end in sorted((int(s), int(e)) for s, e in ranges):
        if not 0 <= start < end <= 86_400:
            raise ValueError(f"{WEEKDAYS[day]}: bad range {start}-{end} (seconds of day, 0 <= start < end <= 86400)")
        if start < prev_end:
            raise ValueError(f"{WEEKDAYS[day]}: overlapping ranges")
        if out and start == prev_end:
            # Touching ranges merged: fewer intervals to walk on the hot path.
            out[-1] = (out[-1][0], end)
        else:
            out.append((start, end))
        prev_end = end
    return tuple(out)


class BusinessCalendar:
    """Weekly opening hours in a time zone, with holidays and make-up working days."""

    def __init__(
        self,
        name: str,
        timezone: str,
        weekly: Mapping[int, Sequence[tuple[int, int]]],
        holiday_dates: Iterable[date] = (),
        country: str | None = None,
        subdivision: str | None = None,
        country_workdays: bool = False,
        workdays: Iterable[date] = (),
    ) -> None:
        self.name = name
        self.timezone = timezone
        try:
            self._tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"calendar {name}: unknown timezone {timezone!r}") from exc
        week: list[tuple[_Interval, ...]] = [()] * 7
        for day, ranges in weekly.items():
            if not isinstance(day, int) or not 0 <= day <= 6:
                raise ValueError(f"calendar {name}: weekday must be 0 (mon) .. 6 (sun), got {day!r}")
            try:
                week[day] = _check_ranges(day, ranges)
            except ValueError as exc:
                raise ValueError(f"calendar {name}: {exc}") from None
        self._weekly = tuple(week)
        self._holiday_dates = frozenset(holiday_dates)
        self._workdays = frozenset(workdays)
        self._country_workdays = bool(country_workdays) and country is not None
        self._country = None
        if country is not None:
            # Imported here so that 24x7-only deployments never pay for the holidays import.
            import holidays

            try:
                self._country = holidays.country_holidays(country, subdiv=subdivision)
            except NotImplementedError as exc:
                raise ValueError(f"calendar {name}: {exc}") from None
        # Make-up days borrow Monday's hours, so a week with no hours at all can never open.
        self._has_hours = any(self._weekly)
        # Keyed by proleptic ordinal (an int hashes faster than a date):
        # (intervals, total_us, first_start_us, last_end_us).
        self._days: dict[int, tuple[tuple[_Interval, ...], int, int, int]] = {}

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.name!r}, {self.timezone!r})"

    # -- per-date intervals -------------------------------------------------------------

    def _ranges_for(self, day: date) -> tuple[_Interval, ...]:
        country = self._country
        if day in self._workdays:
            return self._weekly[0]
        is_country_holiday = country is not None and day in country  # also expands the year
        if self._country_workdays and day in country.weekend_workdays:
            return self._weekly[0]
        if is_country_holiday or day in self._holiday_dates:
            return ()
        return self._weekly[day.weekday()]

    def _wall_to_us(self, ordinal: int, second: int) -> int:
        """Local wall time -> UTC µs through a non-decreasing mapping.

        DST rule: an ambiguous wall time (fall back) is its first occurrence (fold=0); a wall
        time that does not exist (spring forward gap) is the transition instant, i.e. the
        first real instant after the gap. The mapping is therefore monotonic in wall time, so
        sorted non-overlapping local ranges give sorted non-overlapping UTC intervals, also
        across midnight, and a range's business time is the real time between its ends
        (a 00:00-24:00 day lasts 23 h or 25 h). A range lying wholly in a gap is empty.
        """
        tz = self._tz
        naive = datetime.fromordinal(ordinal) + timedelta(seconds=second)
        aware = naive.replace(tzinfo=tz)
        us = (aware - _EPOCH) // _ONE_US
        if (_EPOCH + timedelta(microseconds=us)).astimezone(tz).replace(tzinfo=None) == naive:
            return us
        # In a gap fold=0 uses the offset before the transition and fold=1 the one after, so
        # the transition lies in (lo, hi]; offsets and transitions are whole seconds.
        before = aware.utcoffset()
        lo = (aware.replace(fold=1) - _EPOCH) // timedelta(seconds=1)
        hi = us // _US
        if lo >= hi:
            return us  # not a plain forward gap; the clipping in _build keeps order
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if (_EPOCH + timedelta(seconds=mid)).astimezone(tz).utcoffset() == before:
                lo = mid
            else:
                hi = mid
        return hi * _US

    def _build(self, ordinal: int) -> tuple[tuple[_Interval, ...], int, int, int]:
        ranges = self._ranges_for(date.fromordinal(ordinal))
        if not ranges:
            entry = _CLOSED
        else:
            out: list[_Interval] = []
            prev = None
            for s, e in ranges:
                start = self._wall_to_us(ordinal, s)
                end = self._wall_to_us(ordinal, e)
                # Belt and braces for exotic zone data: never go backwards or overlap.
                if prev is not None and start < prev:
                    start = prev
                if end > start:
                    out.append((start, end))
                    prev = end
            entry = (tuple(out), sum(e - s for s, e in out), out[0][0], out[-1][1]) if out else _CLOSED
        self._days[ordinal] = entry
        return entry

    def day_intervals(self, day: date) -> tuple[tuple[int, int], ...]:
        """That local date's open intervals as UTC µs (start, end) pairs, sorted."""
        ordinal = day.toordinal()
        entry = self._days.get(ordinal)
        if entry is None:
            entry = self._build(ordinal)
        return entry[0]

    # -- arithmetic ---------------------------------------------------------------------
    # Local date D's intervals lie within UTC days D-1 .. D+1 (offsets are under a day), so a
    # walk starts at the UTC date of start_us minus one and stops at the first date whose
    # UTC day before it begins at or after end_us.

    def elapsed(self, start_us: int, end_us: int) -> int:
        if end_us <= start_us:
            return 0
        days = self._days
        ordinal = start_us // _DAY_US + _EPOCH_ORD - 1
        stop = end_us // _DAY_US + _EPOCH_ORD + 2  # first ordinal that cannot reach end_us
        total = 0
        while ordinal < stop:
            entry = days.get(ordinal)
            if entry is None:
                entry = self._build(ordinal)
            if entry[1]:
                if entry[2] >= start_us and entry[3] <= end_us:
                    total += entry[1]
                elif entry[3] > start_us and entry[2] < end_us:
                    for s, e in entry[0]:
                        if s < start_us:
                            s = start_us
                        if e > end_us:
                            e = end_us
                        if e > s:
                            total += e - s
            ordinal += 1
        return total

    def add(self, start_us: int, amount_us: int) -> int:
        if amount_us <= 0:
            return start_us
        if not self._has_hours:
            raise ValueError(f"calendar {self.name} has no business hours")
        days = self._days
        ordinal = start_us // _DAY_US + _EPOCH_ORD - 1
        remaining = amount_us
        for _ in range(_MAX_ADD_DAYS + 2):
            entry = days.get(ordinal)
            if entry is None:
                entry = self._build(ordinal)
            if entry[1] and entry[3] > start_us:
                if entry[2] >= start_us and entry[1] < remaining:
                    remaining -= entry[1]
                else:
                    for s, e in entry[0]:
                        if e <= start_us:
                            continue
                        if s < start_us:
                            s = start_us
                        # `<=` so a target met exactly at a range end is that end (12:00), not
                        # the next range start (13:00).
                        if remaining <= e - s:
                            return s + remaining
                        remaining -= e - s
            ordinal += 1
        raise ValueError(
            f"calendar {self.name}: no {amount_us / _US:g}s of business time within {_MAX_ADD_DAYS} days"
        )
