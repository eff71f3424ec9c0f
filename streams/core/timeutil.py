"""Instants as integer microseconds since the Unix epoch (UTC), and their RFC 3339 forms.

The core never uses floats for time: business-time sums and deadline comparisons must be exact,
or streaming and replay could disagree by a rounding error at a deadline.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

US = 1_000_000  # microseconds per second
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)


def to_us(dt: datetime) -> int:
    """Aware datetime -> integer microseconds since the epoch."""
    if dt.tzinfo is None:
        raise ValueError("timestamp has no UTC offset")
    return (dt - EPOCH) // _ONE_US


def from_us(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


# The date and the time of day of `format_us` come from small caches: it formats every output
# record's two times and every window start, and building a datetime to format each cost twice
# as much (BENCHMARKS.md). The text is orjson's/msgspec's for the same UTC datetime (tested).
_DAYS: dict[int, str] = {}                  # days since the epoch -> "YYYY-MM-DDT"
_TIMES: list[str | None] = [None] * 86_400  # second of the day -> "HH:MM:SS"


def format_us(us: int) -> str:
    """RFC 3339 in UTC with a `Z`; fractional seconds only when there are any (six digits)."""
    # Floor division, as `EPOCH + timedelta(microseconds=us)` does before the epoch too.
    sec = us // 1_000_000
    frac = us - sec * 1_000_000
    day = sec // 86_400
    second = sec - day * 86_400
    date = _DAYS.get(day)
    if date is None:
        if len(_DAYS) >= 100_000:
            _DAYS.clear()  # bounded: a long-running worker sees a new day every day
        d = EPOCH + timedelta(days=day)
        date = _DAYS[day] = f"{d.year:04d}-{d.month:02d}-{d.day:02d}T"
    hms = _TIMES[second]
    if hms is None:
        h = second // 3600
        m = second // 60 - h * 60
        hms = _TIMES[second] = f"{h:02d}:{m:02d}:{second % 60:02d}"
    if frac:
        return f"{date}{hms}.{frac:06d}Z"
    return date + hms + "Z"


def parse_rfc3339(text: str) -> int:
    """RFC 3339 timestamp with an offset (or `Z`) -> microseconds. Raises ValueError otherwise."""
    dt = datetime.fromisoformat(text.strip())
    if dt.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no UTC offset")
    return to_us(dt)


def seconds(us: int) -> int | float:
    """Microseconds -> seconds for output: an int when whole, else a float."""
    if us % US == 0:
        return us // US
    return us / US
