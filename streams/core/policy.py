"""SLA policy file: load, validate, and match entities to policies (spec sla.md, "Policy file").

The policy file is edited by hand by support managers. A mistake in it must stop start-up with a
message that points at the file, the key and the line, and every mistake should be reported at
once, so that fixing a file is one round trip and not one per typo. Pydantic models mirror the
file (unknown keys are errors: a misspelt key would otherwise silently fall back to a default),
and the validated file is turned into small frozen objects (`PolicySet`, `Policy`, `Target`) that
the SLA engine reads on its hot path.
"""
from __future__ import annotations

import difflib
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays as _holidays
import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainValidator,
    StrictBool,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from .calendar import WEEKDAYS, AlwaysOpen, BusinessCalendar, Calendar
from .timeutil import US

__all__ = [
    "METRICS", "MATCH_KEYS", "ALWAYS_OPEN", "Target", "Policy", "PolicySet", "PolicyError",
    "parse_duration", "load_policies", "load_policies_text",
]

METRICS = ("first_response", "next_response", "assignment", "resolution")
MATCH_KEYS = ("kind", "channel", "priority", "customer_tier", "category", "queue", "group")
# The built-in calendar a target uses when it names none; reserved as a calendar name.
ALWAYS_OPEN = "24x7"

# Match keys whose values come from a closed set in the event contract (events.md). A typo in
# one of them ("urgnet") would make the policy silently never match, so they are checked.
_CLOSED_VALUES: dict[str, tuple[str, ...]] = {
    "kind": ("conversation", "ticket"),
    "priority": ("low", "normal", "high", "urgent"),
    "customer_tier": ("vip", "regular", "new"),
}

_DURATION_HINT = "(use e.g. 30s, 15m, 4h, 3d)"
_DURATION_RE = re.compile(
    r"(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?", re.ASCII)
_SECONDS_RE = re.compile(r"\d+", re.ASCII)
_TIME_RANGE_RE = re.compile(r"\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*", re.ASCII)
_ISO_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_DAY_INDEX = {day: i for i, day in enumerate(WEEKDAYS)}
# Distinct attribute tuples seen in practice are few (channels x tiers x priorities x ...), but
# free-form keys (category, queue, group) could grow without bound on bad input.
_MATCH_CACHE_MAX = 65_536


# --------------------------------------------------------------------------- durations


def parse_duration(text: str | int) -> int:
    """`30s`, `15m`, `4h`, `3d`, combinations like `1h30m`, or whole seconds -> microseconds.

    A day is 24 hours of the metric's calendar time, so `3d` on a business calendar is 72
    business hours, not three working days (spec sla.md, "Durations").
    """
    if isinstance(text, bool):  # bool is an int subclass; `within: true` is not 1 second
        raise ValueError(f"invalid duration {text!r} {_DURATION_HINT}")
    if isinstance(text, int):
        secs = text
    elif isinstance(text, str):
        s = text.strip().lower()
        if _SECONDS_RE.fullmatch(s):
            secs = int(s)
        else:
            m = _DURATION_RE.fullmatch(s)
            if m is None or not any(m.groups()):
                raise ValueError(f"invalid duration {text!r} {_DURATION_HINT}")
            d, h, mi, se = (int(g) if g else 0 for g in m.groups())
            secs = ((d * 24 + h) * 60 + mi) * 60 + se
    else:
        raise ValueError(f"invalid duration {text!r} {_DURATION_HINT}")
    if secs <= 0:
        raise ValueError(f"duration {text!r} must be greater than zero")
    return secs * US


# --------------------------------------------------------------------------- runtime objects


@dataclass(frozen=True, slots=True)
class Target:
    metric: str
    target_us: int
    calendar: Calendar
    calendar_name: str


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    index: int
    match: tuple[tuple[str, frozenset[str]], ...]
    targets: Mapping[str, Target]
    warn_at: tuple[float, ...]
    count_bot_replies: bool

    def matches(self, attrs: Mapping[str, str | None]) -> bool:
        # Allowed values are non-empty strings, so a missing attribute (None) never matches.
        for key, allowed in self.match:
            if attrs.get(key) not in allowed:
                return False
        return True

    # Explicit because `targets` is a read-only mapping and so not hashable; names are unique
    # within a file, which is all the engine needs to key on.
    def __hash__(self) -> int:
        return hash((self.name, self.index))


class PolicySet:
    """The loaded policy file: ordered policies, the calendars they use, and where it came from."""

    __slots__ = ("policies", "calendars", "source", "_by_name", "_cache")

    def __init__(self, policies: tuple[Policy, ...], calendars: Mapping[str, Calendar],
                 source: str) -> None:
        self.policies = tuple(policies)
        # Includes the built-in "24x7" calendar, so every Target.calendar_name can be looked up.
        self.calendars: Mapping[str, Calendar] = MappingProxyType(dict(calendars))
        self.source = source
        self._by_name = {p.name: p for p in self.policies}
        self._cache: dict[tuple[str | None, ...], Policy | None] = {}

    def match(self, attrs: Mapping[str, str | None]) -> Policy | None:
        """The first policy, in file order, whose match holds for `attrs`; None if none does."""
        key = tuple(map(attrs.get, MATCH_KEYS))  # once per new entity: map, not a genexpr
        cache = self._cache
        try:
            return cache[key]
        except KeyError:
            pass
        found = None
        for policy in self.policies:
            if policy.matches(attrs):
                found = policy
                break
        if len(cache) >= _MATCH_CACHE_MAX:
            cache.clear()
        cache[key] = found
        return found

    def get(self, name: str) -> Policy | None:
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[Policy]:
        return iter(self.policies)

    def __len__(self) -> int:
        return len(self.policies)

    def __repr__(self) -> str:
        return f"PolicySet({self.source!r}, {[p.name for p in self.policies]!r})"


# --------------------------------------------------------------------------- errors

Loc = tuple[Any, ...]


def format_path(loc: Loc) -> str:
    """('policies', 1, 'targets') -> 'policies[1].targets'."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class PolicyError(ValueError):
    """Everything wrong with a policy file, one line per problem."""

    def __init__(self, file: str, problems: list[tuple[str, int | None, str]]) -> None:
        self.file = file
        self.problems = list(problems)
        super().__init__(self._render())

    def _render(self) -> str:
        lines = []
        for path, line, message in self.problems:
            where = self.file
            if path:
                where += f": {path}"
                if line is not None:
                    where += f" (line {line})"
            elif line is not None:
                where += f": line {line}"
            lines.append(f"{where}: {message}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self._render()

    def __reduce__(self):  # the default would call __init__ with the message alone
        return (PolicyError, (self.file, self.problems))


def _problems(problems: list[tuple[Loc, str]]) -> PydanticCustomError:
    """One pydantic error carrying several problems at sub-paths of the field being validated.

    Pydantic gives a validator a single error location (the field); cross-key checks such as
    "mon is given twice" need to point at the offending key, with its own line.
    """
    return PydanticCustomError(
        "slawatch", "{message}", {"message": "; ".join(m for _, m in problems), "problems": problems})


def _show(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, (int, float)):
        return f"{value!r} (a number)"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value)


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


# --------------------------------------------------------------------------- field validators


def _text(v: Any, what: str = "text") -> str:
    if not isinstance(v, str):
        raise ValueError(f"must be {what}, got {_show(v)}")
    if not v.strip():
        raise ValueError("must not be empty")
    return v.strip()


def _name(v: Any) -> str:
    return _text(v, "a name")


def _version(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return str(v)  # `version: 1` is what people write; the contract only needs a label
    return _text(v, "a version string")


def _duration(v: Any) -> int:
    return parse_duration(v)


def _timezone(v: Any) -> str:
    name = _text(v, "a time zone name like Asia/Shanghai")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{name}' (use an IANA name such as Asia/Shanghai)"
                         + _did_you_mean(name, available_timezones())) from None
    return name


def _parse_days(spec: str) -> list[int]:
    hint = "use mon..sun, a range like mon-fri or a list like mon,wed"
    days: list[int] = []
    for part in spec.split(","):
        part = part.strip().lower()
        first, dash, last = part.partition("-")
        first, last = first.strip(), last.strip()
        for day in (first, last) if dash else (first,):
            if day not in _DAY_INDEX:
                raise ValueError(f"unknown day '{day}' in '{spec}' ({hint})")
        if dash:
            a, b = _DAY_INDEX[first], _DAY_INDEX[last]
            if a > b:
                raise ValueError(f"day range '{part}' runs backwards ({hint})")
            days.extend(range(a, b + 1))
        else:
            days.append(_DAY_INDEX[first])
    return days


def _clock_seconds(hh: str, mm: str, text: str, is_end: bool) -> int:
    h, m = int(hh), int(mm)
    if (h <= 23 and m <= 59) or (is_end and h == 24 and m == 0):
        return (h * 60 + m) * 60
    raise ValueError(f"invalid time '{hh}:{mm}' in '{text}' (00:00 to 23:59; 24:00 only as an end)")


def _time_range(v: Any) -> tuple[int, int]:
    if not isinstance(v, str):
        raise ValueError(f"must be a time range like \"09:00-18:00\", got {_show(v)}")
    m = _TIME_RANGE_RE.fullmatch(v)
    if m is None:
        raise ValueError(f"invalid time range '{v}' (use HH:MM-HH:MM, e.g. 09:00-18:00)")
    start = _clock_seconds(m.group(1), m.group(2), v, is_end=False)
    end = _clock_seconds(m.group(3), m.group(4), v, is_end=True)
    if start >= end:
        raise ValueError(f"time range '{v}' must end after it starts (a shift past midnight is "
                         f"two ranges: ...-24:00 on one day and 00:00-... on the next)")
    return start, end


def _hours(v: Any) -> dict[int, tuple[tuple[int, int], ...]]:
    if not isinstance(v, dict):
        raise ValueError(f"must be a mapping of days to time ranges, e.g. "
                         f"mon-fri: [\"09:00-18:00\"], got {_show(v)}")
    problems: list[tuple[Loc, str]] = []
    weekly: dict[int, list[tuple[int, int]]] = {d: [] for d in range(7)}
    given_by: dict[int, str] = {}
    for key, ranges in v.items():
        if not isinstance(key, str):
            continue  # reported for every mapping by the YAML walk
        days: list[int] | None
        try:
            days = _parse_days(key)
        except ValueError as exc:
            problems.append(((key,), str(exc)))
            days = None
        parsed: list[tuple[int, int, int, str]] = []  # start, end, index, text
        if not isinstance(ranges, list):
            problems.append(((key,), f"must be a list of time ranges like [\"09:00-12:00\", "
                                     f"\"13:00-18:00\"] ([] for closed), got {_show(ranges)}"))
        else:
            for i, item in enumerate(ranges):
                try:
                    start, end = _time_range(item)
                except ValueError as exc:
                    problems.append(((key, i), str(exc)))
                else:
                    parsed.append((start, end, i, item))
        parsed.sort()
        for prev, cur in zip(parsed, parsed[1:]):
            if cur[0] < prev[1]:
                problems.append(((key, cur[2]), f"time range '{cur[3]}' overlaps '{prev[3]}'"))
        if days is None:
            continue
        twice = sorted({d for d in days if d in given_by} | {d for d in days if days.count(d) > 1})
        if twice:
            where = sorted({given_by[d] for d in twice if d in given_by})
            problems.append(((key,), f"{', '.join(WEEKDAYS[d] for d in twice)} given twice"
                             + (f" (also in '{', '.join(where)}')" if where else "")))
        for d in days:
            given_by.setdefault(d, key)
            weekly[d] = [(s, e) for s, e, _, _ in parsed]
    if problems:
        raise _problems(problems)
    if not any(weekly.values()):
        raise ValueError("no opening hours: give at least one day a time range")
    return {d: tuple(r) for d, r in weekly.items()}


def _iso_date(v: Any) -> date:
    if isinstance(v, datetime):
        raise ValueError(f"must be a date without a time, got {v.isoformat()}")
    if isinstance(v, date):
        return v
    if isinstance(v, str) and _ISO_DATE_RE.fullmatch(v.strip()):
        try:
            return date.fromisoformat(v.strip())
        except ValueError:
            pass
    raise ValueError(f"invalid date {_show(v)} (use YYYY-MM-DD, e.g. \"2026-10-01\")")


def _date_list(v: Any) -> tuple[date, ...]:
    if v is None:
        return ()
    if not isinstance(v, list):
        raise ValueError(f"must be a list of dates like [\"2026-10-01\"], got {_show(v)}")
    out: list[date] = []
    problems: list[tuple[Loc, str]] = []
    for i, item in enumerate(v):
        try:
            out.append(_iso_date(item))
        except ValueError as exc:
            problems.append(((i,), str(exc)))
    if problems:
        raise _problems(problems)
    return tuple(sorted(set(out)))


def _country(v: Any) -> str | None:
    if v is None:
        return None
    code = _text(v, "a country code like CN").upper()
    supported = _holidays.list_supported_countries()
    if code not in supported:
        raise ValueError(f"unknown country '{v}' (use a country code the holidays package "
                         f"supports, e.g. CN, HK, SG, US){_did_you_mean(code, supported)}")
    return code


def _optional_text(v: Any) -> str | None:
    return None if v is None else _text(v)


def _match_values(key: str) -> Callable[[Any], frozenset[str]]:
    allowed = _CLOSED_VALUES.get(key)

    def validate(v: Any) -> frozenset[str]:
        if isinstance(v, str):
            items, in_list = [v], False
        elif isinstance(v, list):
            if not v:
                raise ValueError("must not be an empty list (leave the key out to match any value)")
            items, in_list = v, True
        else:
            hint = f" (quote it: \"{v}\")" if isinstance(v, (int, float)) and not isinstance(v, bool) else ""
            raise ValueError(f"must be a value or a list of values, got {_show(v)}{hint}")
        problems: list[tuple[Loc, str]] = []
        for i, item in enumerate(items):
            sub = (i,) if in_list else ()
            if not isinstance(item, str):
                hint = f" (quote it: \"{item}\")" if isinstance(item, (int, float)) else ""
                problems.append((sub, f"must be text, got {_show(item)}{hint}"))
            elif not item.strip():
                problems.append((sub, "must not be empty"))
            elif allowed is not None and item not in allowed:
                problems.append((sub, f"invalid {key} '{item}' (allowed: {', '.join(allowed)})"
                                      + _did_you_mean(item.lower(), allowed)))
        if problems:
            raise _problems(problems)
        return frozenset(items)

    return validate


def _calendar_ref(v: Any, info: ValidationInfo) -> str | None:
    if v is None:
        return None
    name = _text(v, "a calendar name")
    defined = (info.context or {}).get("calendars", frozenset())
    if name != ALWAYS_OPEN and name not in defined:
        known = ", ".join(sorted(set(defined) - {ALWAYS_OPEN}) + [ALWAYS_OPEN])
        raise ValueError(f"unknown calendar '{name}' (defined: {known})"
                         + _did_you_mean(name, list(defined)))
    return name


def _warn_at(v: Any) -> tuple[float, ...]:
    if v is None:
        return ()
    if not isinstance(v, list):
        raise ValueError(f"must be a list of fractions like [0.5, 0.8], got {_show(v)}")
    problems: list[tuple[Loc, str]] = []
    for i, f in enumerate(v):
        if isinstance(f, bool) or not isinstance(f, (int, float)):
            problems.append(((i,), f"must be a number between 0 and 1, got {_show(f)}"))
        elif not 0 < f < 1:
            problems.append(((i,), f"warn_at fraction {f!r} must be strictly between 0 and 1 "
                                   f"(e.g. 0.8 warns at 80% of the target)"))
    if problems:
        raise _problems(problems)
    return tuple(sorted({float(f) for f in v}))


# --------------------------------------------------------------------------- file models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _HolidaysModel(_Model):
    country: Annotated[str | None, PlainValidator(_country)] = None
    subdivision: Annotated[str | None, PlainValidator(_optional_text)] = None
    # Extension: also open on the country's official make-up working days (e.g. CN's weekend
    # days swapped for Golden Week), which otherwise have to be listed under `workdays`.
    country_workdays: StrictBool = False
    dates: Annotated[tuple[date, ...], PlainValidator(_date_list)] = ()

    @model_validator(mode="after")
    def _needs_country(self) -> _HolidaysModel:
        problems: list[tuple[Loc, str]] = []
        if self.country is None:
            if self.subdivision is not None:
                problems.append((("subdivision",), "needs a country"))
            if self.country_workdays:
                problems.append((("country_workdays",), "needs a country"))
        elif self.subdivision is not None:
            try:
                _holidays.country_holidays(self.country, subdiv=self.subdivision)
            except (NotImplementedError, ValueError, KeyError):
                subs = _holidays.list_supported_countries().get(self.country, [])
                known = f" (known: {', '.join(subs)})" if subs else " (it has none)"
                problems.append((("subdivision",), f"unknown subdivision '{self.subdivision}' "
                                                   f"of {self.country}{known}"))
        if problems:
            raise _problems(problems)
        return self


class _CalendarModel(_Model):
    timezone: Annotated[str, PlainValidator(_timezone)]
    hours: Annotated[dict[int, tuple[tuple[int, int], ...]], PlainValidator(_hours)]
    holidays: _HolidaysModel | None = None
    workdays: Annotated[tuple[date, ...], PlainValidator(_date_list)] = ()

    @model_validator(mode="after")
    def _no_day_both_ways(self) -> _CalendarModel:
        off = set(self.holidays.dates) if self.holidays is not None else set()
        both = sorted(off.intersection(self.workdays))
        if both:
            raise _problems([(("workdays",), f"{', '.join(d.isoformat() for d in both)} listed "
                                             f"both as a holiday and as a workday")])
        return self


class _TargetModel(_Model):
    within: Annotated[int, PlainValidator(_duration)]
    calendar: Annotated[str | None, PlainValidator(_calendar_ref)] = None


class _TargetsModel(_Model):
    first_response: _TargetModel | None = None
    next_response: _TargetModel | None = None
    assignment: _TargetModel | None = None
    resolution: _TargetModel | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> _TargetsModel:
        if all(getattr(self, m) is None for m in METRICS):
            raise ValueError(f"needs at least one target ({', '.join(METRICS)})")
        return self


class _MatchModel(_Model):
    kind: Annotated[frozenset[str] | None, PlainValidator(_match_values("kind"))] = None
    channel: Annotated[frozenset[str] | None, PlainValidator(_match_values("channel"))] = None
    priority: Annotated[frozenset[str] | None, PlainValidator(_match_values("priority"))] = None
    customer_tier: Annotated[frozenset[str] | None,
                             PlainValidator(_match_values("customer_tier"))] = None
    category: Annotated[frozenset[str] | None, PlainValidator(_match_values("category"))] = None
    queue: Annotated[frozenset[str] | None, PlainValidator(_match_values("queue"))] = None
    group: Annotated[frozenset[str] | None, PlainValidator(_match_values("group"))] = None


class _PolicyModel(_Model):
    name: Annotated[str, PlainValidator(_name)]
    # Required (use `{}` for a catch-all): a forgotten match would catch everything and silently
    # shadow every policy after it.
    match: _MatchModel
    targets: _TargetsModel
    warn_at: Annotated[tuple[float, ...], PlainValidator(_warn_at)] = ()
    count_bot_replies: StrictBool = False


class _FileModel(_Model):
    version: Annotated[str | None, PlainValidator(_version)] = None
    calendars: Annotated[dict[str, _CalendarModel],
                         BeforeValidator(lambda v: {} if v is None else v)] = {}
    policies: list[_PolicyModel]

    @field_validator("policies")
    @classmethod
    def _not_empty(cls, v: list[_PolicyModel]) -> list[_PolicyModel]:
        if not v:
            raise ValueError("must list at least one policy")
        return v


def _allowed_keys(loc: Loc) -> tuple[str, ...]:
    """Keys allowed in the mapping at `loc`, for 'unknown key' messages."""
    model: type[BaseModel] | None = None
    n = len(loc)
    if n == 0:
        model = _FileModel
    elif loc[0] == "calendars":
        if n == 2:
            model = _CalendarModel
        elif n == 3 and loc[2] == "holidays":
            model = _HolidaysModel
    elif loc[0] == "policies":
        if n == 2:
            model = _PolicyModel
        elif n == 3:
            model = {"match": _MatchModel, "targets": _TargetsModel}.get(loc[2])
        elif n == 4 and loc[2] == "targets":
            model = _TargetModel
    return tuple(model.model_fields) if model is not None else ()


_MAPPING_ERRORS = ("model_type", "dict_type", "model_attributes_type")


def pydantic_problems(exc: ValidationError,
                      refine: Callable[[Loc, str, Any, str], str]) -> list[tuple[Loc, str]]:
    """pydantic's errors as (key path, problem) pairs in the words of a rules file.

    Shared by the policy and the QA rules loaders: `refine(loc, kind, value, message)` turns the
    common wording into the file's own (allowed keys, hints)."""
    out: list[tuple[Loc, str]] = []
    for err in exc.errors():
        loc, kind, value = tuple(err["loc"]), err["type"], err.get("input")
        if "[key]" in loc:
            continue  # non-text keys are reported by the YAML walk, with their line
        ctx = err.get("ctx") or {}
        if kind == "slawatch":
            out.extend((loc + tuple(sub), msg) for sub, msg in ctx["problems"])
            continue
        if kind == "extra_forbidden":
            msg = f"unknown key '{loc[-1]}'"
        elif kind == "missing":
            msg = f"missing required key '{loc[-1]}'"
        elif kind in _MAPPING_ERRORS:
            msg = f"must be a mapping, got {_show(value)}"
        elif kind.startswith("bool"):
            msg = f"must be true or false, got {_show(value)}"
        elif kind == "value_error":
            msg = str(ctx.get("error", err["msg"]))
        else:
            msg = err["msg"]
        out.append((loc, refine(loc, kind, value, msg)))
    return out


def _policy_wording(loc: Loc, kind: str, value: Any, msg: str) -> str:
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        if allowed:
            msg += f" (allowed: {', '.join(allowed)})" + _did_you_mean(str(loc[-1]), allowed)
    elif kind == "missing" or kind in _MAPPING_ERRORS:
        if loc and loc[-1] == "match":
            msg += " (use match: {} to match everything)"
    elif kind == "list_type":
        msg = f"must be a list, got {_show(value)}"
    if not loc:
        msg = msg.replace("must be a mapping", "the file must be a mapping with keys "
                          "calendars, policies", 1)
    return msg


def _pydantic_problems(exc: ValidationError) -> list[tuple[Loc, str]]:
    return pydantic_problems(exc, _policy_wording)


def _cross_checks(data: Any, lines: dict[Loc, int]) -> list[tuple[Loc, str]]:
    """Checks spanning several keys, run on the raw data so they report even when other parts
    of the same policy are invalid."""
    out: list[tuple[Loc, str]] = []
    if not isinstance(data, dict):
        return out
    calendars = data.get("calendars")
    if isinstance(calendars, dict):
        for name in calendars:
            if isinstance(name, str) and name.strip() == ALWAYS_OPEN:
                out.append((("calendars", name), f"'{ALWAYS_OPEN}' is the built-in always-open "
                                                 f"calendar; choose another name"))
            elif isinstance(name, str) and not name.strip():
                out.append((("calendars", name), "calendar name must not be empty"))
    policies = data.get("policies")
    if not isinstance(policies, list):
        return out
    first_index: dict[str, int] = {}
    for i, pol in enumerate(policies):
        if not isinstance(pol, dict):
            continue
        name = pol.get("name")
        if isinstance(name, str) and name.strip():
            j = first_index.setdefault(name.strip(), i)
            if j != i:
                first = f"policies[{j}]"
                if ("policies", j, "name") in lines:
                    first += f", line {lines[('policies', j, 'name')]}"
                out.append((("policies", i, "name"), f"duplicate policy name '{name.strip()}' "
                                                     f"(already used by {first})"))
        match, targets = pol.get("match"), pol.get("targets")
        if isinstance(match, dict) and isinstance(targets, dict) and "assignment" in targets:
            kind = match.get("kind")
            kinds = {kind} if isinstance(kind, str) else set(kind) if isinstance(kind, list) else None
            if kinds == {"conversation"}:
                out.append((("policies", i, "targets", "assignment"),
                            "assignment applies to tickets only, but this policy matches only "
                            "conversations (match.kind: conversation)"))
    return out


# --------------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """YAML with YAML 1.2 scalars: only true/false are booleans, no sexagesimal or octal numbers,
    and dates stay text.

    Under PyYAML's YAML 1.1 rules `country: NO` (Norway) is false, `9:30` is the number 570 and
    an impossible date like 2026-02-30 aborts parsing with no line number; here they reach the
    validators as text and get proper messages.
    """


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers
            if tag.rsplit(":", 1)[-1] not in ("bool", "int", "float", "timestamp")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^[-+]?(?:0|[1-9][0-9]*)$"), list("-+0123456789"))
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?$"
               r"|^[-+]?[0-9]+[eE][-+]?[0-9]+$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."))


def _walk(node: yaml.Node, path: Loc, lines: dict[Loc, int], problems: list[tuple],
          constructor: yaml.constructor.SafeConstructor, depth: int = 0) -> None:
    """Record the line of every key and list item, and report duplicate and non-text keys
    (PyYAML silently keeps the last of two equal keys)."""
    if depth > 64:  # recursive aliases
        return
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append((path, f"line {key_node.start_mark.line + 1}: keys must be text"))
                continue
            key = constructor.construct_object(key_node)
            line = key_node.start_mark.line + 1
            sub = path + (key,)
            if not isinstance(key, str):
                problems.append((sub, f"key {key!r} must be text"))
            elif key in seen:
                # Same path as the first occurrence, so the line is given explicitly.
                problems.append((sub, f"duplicate key '{key}' (first at line {seen[key]})", line))
                continue
            else:
                seen[key] = line
            lines[sub] = line
            _walk(value_node, sub, lines, problems, constructor, depth + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            sub = path + (i,)
            lines[sub] = item.start_mark.line + 1
            _walk(item, sub, lines, problems, constructor, depth + 1)


def _line_of(loc: Loc, lines: dict[Loc, int]) -> int | None:
    # A missing key has no line of its own: point at the nearest enclosing key or item.
    for n in range(len(loc), 0, -1):
        line = lines.get(loc[:n])
        if line is not None:
            return line
    return None


def _raise(source: str, problems: list[tuple], lines: dict[Loc, int]) -> None:
    """Problems are (loc, message) or (loc, message, line) when the line is not the loc's."""
    rows: list[tuple[str, int | None, str]] = []
    seen = set()
    for loc, msg, *line in problems:
        row = (format_path(loc), line[0] if line else _line_of(loc, lines), msg)
        if row not in seen:
            seen.add(row)
            rows.append(row)
    rows.sort(key=lambda r: (r[1] is None, r[1] or 0))
    raise PolicyError(source, rows)


# --------------------------------------------------------------------------- loading


def read_rules_file(path: str | os.PathLike, error: type, what: str) -> tuple[str, str]:
    """(text, source) of a rules file; `error(source, problems)` if it cannot be read."""
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as f:
            return f.read(), source
    except OSError as exc:
        raise error(source, [("", None, f"cannot read {what}: {exc.strerror or exc}")]) from None
    except UnicodeDecodeError as exc:
        raise error(source, [("", None, f"not UTF-8 text: {exc}")]) from None


def parse_rules_yaml(text: str, source: str, error: type, empty: str):
    """Strict YAML -> (data, lines, problems): the document, the line of every key path, and
    the problems found while walking it (duplicate keys, non-text keys). Syntax errors and an
    empty document raise `error(source, problems)` with `empty` as the message for the latter.
    Shared by every rules file (SLA policies, QA rules) so they report problems alike."""
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        msg = f"YAML syntax error: {exc.problem or exc.context}"
        if exc.context and exc.problem and exc.context_mark is not None:
            msg += f" ({exc.context} at line {exc.context_mark.line + 1})"
        raise error(source, [("", mark.line + 1 if mark else None, msg)]) from None
    except yaml.YAMLError as exc:
        raise error(source, [("", None, f"YAML error: {exc}")]) from None
    finally:
        loader.dispose()
    if data is None:
        raise error(source, [("", None, empty)])
    lines: dict[Loc, int] = {}
    problems: list[tuple] = []
    if root is not None:
        _walk(root, (), lines, problems, yaml.constructor.SafeConstructor())
    return data, lines, problems


def load_policies(path: str | os.PathLike) -> PolicySet:
    """Read and validate a policy file; PolicyError (naming the file) on any problem."""
    return load_policies_text(*read_rules_file(path, PolicyError, "policy file"))


def load_policies_text(text: str, source: str = "<string>") -> PolicySet:
    """Validate policy YAML given as text; `source` names it in error messages."""
    data, lines, problems = parse_rules_yaml(text, source, PolicyError,
                                             "the file is empty (it needs a `policies` list)")
    # Names of calendars as written, even invalid ones, so that a broken calendar is reported
    # once and not again by every target that uses it.
    raw_calendars = data.get("calendars") if isinstance(data, dict) else None
    calendar_names = frozenset(
        k for k in raw_calendars if isinstance(k, str)) if isinstance(raw_calendars, dict) else frozenset()
    model: _FileModel | None = None
    try:
        model = _FileModel.model_validate(data, context={"calendars": calendar_names})
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc))
    problems.extend(_cross_checks(data, lines))
    if problems or model is None:
        _raise(source, problems, lines)
    assert model is not None
    return _build(model, source, lines)


def _build(model: _FileModel, source: str, lines: dict[Loc, int]) -> PolicySet:
    calendars: dict[str, Calendar] = {ALWAYS_OPEN: AlwaysOpen(ALWAYS_OPEN)}
    problems: list[tuple[Loc, str]] = []
    for name, cal in model.calendars.items():
        hol = cal.holidays
        try:
            calendars[name] = BusinessCalendar(
                name=name,
                timezone=cal.timezone,
                weekly=cal.hours,
                holiday_dates=hol.dates if hol is not None else (),
                country=hol.country if hol is not None else None,
                subdivision=hol.subdivision if hol is not None else None,
                country_workdays=hol.country_workdays if hol is not None else False,
                workdays=cal.workdays,
            )
        except (ValueError, TypeError, LookupError, NotImplementedError) as exc:
            problems.append((("calendars", name), f"invalid calendar: {exc}"))
    if problems:
        _raise(source, problems, lines)

    policies = []
    for index, pol in enumerate(model.policies):
        targets: dict[str, Target] = {}
        for metric in METRICS:
            tgt: _TargetModel | None = getattr(pol.targets, metric)
            if tgt is not None:
                cal_name = tgt.calendar or ALWAYS_OPEN
                targets[metric] = Target(metric, tgt.within, calendars[cal_name], cal_name)
        match = tuple((key, getattr(pol.match, key)) for key in MATCH_KEYS
                      if getattr(pol.match, key) is not None)
        policies.append(Policy(
            name=pol.name,
            index=index,
            match=match,
            targets=MappingProxyType(targets),
            warn_at=pol.warn_at,
            count_bot_replies=pol.count_bot_replies,
        ))
    return PolicySet(tuple(policies), calendars, source)
