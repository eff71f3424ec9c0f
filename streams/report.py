"""Periodic service reports (`slawatch report`): the monthly/quarterly review managers read.

Pure computation, separate from I/O: aggregated history rows in, a `Report` dataclass out.

    history (ClickHouse, or an event file replayed in process)
        -> cells:   {CellKey: WindowAggregate}     metric windows merged per report dimension
        -> counts:  {RecordKey: n}                 SLA record outcomes per report dimension
        -> qa:      QaInput | None                 QA samples and check results
        -> build_report(period, cells, counts, qa) -> Report -> `render` (terminal) or report_html

Two ways to get those inputs, which give the same report for the same history:
- `clickhouse_inputs(read, period)`: three GROUP BY queries over `metric_windows FINAL`,
  `sla_records FINAL` and the QA tables; `read(sql, params)` is the caller's connection (chdb,
  a server, or the sink's /query API). Sketches are merged in SQL by adding DDSketch bins
  (`sumMap` over the stored bins: the exact DDSketch merge, all sketches share one mapping), so
  percentiles come from merged distributions, never from averaged percentiles.
- `events_inputs(lines, policies, qa_rules, period)`: the offline mode. The events go through
  the live worker's own per-event logic (`PartitionProcessor`: SLA engine + metric windows, in
  the replay's order and with its clock end), so it yields what the pipeline would have stored.

Period: local days `--from` .. `--to` (inclusive) in a time zone (default Asia/Shanghai, the QA
day's, `qa_day.DEFAULT_TZ`): [from 00:00, to+1 00:00) local. Windows count by their minute,
records by `at`, QA samples by their stored `day`. Hour of day and weekday/weekend are local.

Definitions (each figure says where it comes from):
- volume: conversations/tickets started (windows' `started`), share of the kind's total;
- first response: responses in the period (achieved + completed_late first_response), mean
  (exact sum / count) and p50/p90 from the merged sketch (1 % relative accuracy);
- response rate: responses / (responses + ended without one), "ended without one" being
  first_response `abandoned` + `cancelled` (a conversation the customer left, a ticket solved
  with no public reply); within target: achieved / responses;
- by hour of day / weekday-weekend: of the minute the outcome happened (the response, the
  abandonment), not of the arrival: windows keep outcomes by the minute they occur;
- resolution by category: resolutions / tickets created in the period (a flow ratio: windows
  carry no entity ids, so a per-ticket cohort rate cannot be computed), resolution time on the
  policy's calendar (business hours for non-urgent tickets), resolutions over 48 h from the
  records' `elapsed_seconds`;
- SLA attainment (per policy and metric, and for urgent tickets): met / (met + missed), met =
  `achieved` records, missed = `breached` records, each counted when it happened. Every
  breached clock counts once, in the period its deadline passed, so periods add up (a quarter
  is the sum of its months); abandonment is shown beside it, not as a miss;
- CSAT: ratings counted in the windows (count, mean, 1-5 distribution);
- reopen rate: ticket reopens / ticket resolutions in the period;
- QA: samples of the period's QA days, reasons, checks passed/failed per check.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .core.metrics import RELATIVE_ACCURACY, WINDOW_US, WindowAggregate
from .core.timeutil import US, parse_rfc3339, to_us
from .qa_day import DEFAULT_TZ
from .textfmt import duration

__all__ = ["DEFAULT_TZ", "OVER_HOURS", "ReportError", "Period", "CellKey", "RecordKey",
           "QaInput", "Timing", "Report", "cells_from_windows", "record_key", "count_records",
           "qa_input", "build_report", "events_inputs", "clickhouse_inputs", "render"]

OVER_HOURS = 48
_OVER_S = OVER_HOURS * 3600
_STOPPED = ("achieved", "completed_late")
# Outcome statuses a report counts; paused/resumed are clock bookkeeping.
_COUNTED = ("achieved", "completed_late", "breached", "abandoned", "cancelled", "warning")
KINDS = ("conversation", "ticket")

# Said in every report: what the stored history cannot give, so nobody reads more into a figure.
STANDING_NOTES = (
    "Hour of day and weekday/weekend are those of the outcome (the response, the abandonment), "
    "not of the customer's arrival: metric windows keep outcomes by the minute they happen.",
    "Resolution rate is resolutions in the period / tickets created in the period (a flow "
    "ratio): the history has no per-ticket creation record, so a cohort rate (share of the "
    "period's tickets resolved) cannot be computed.",
    "Resolution and response times, and the 48 h threshold, are on each policy's calendar with "
    "pauses (pending, on hold) excluded: business hours for non-urgent tickets (rules/sla.yaml), "
    "24x7 for chat and urgent tickets. Wall-clock durations are not stored.",
    "Weekend = local Saturday and Sunday; public holidays and make-up workdays are not "
    "distinguished.",
    "Conversations have no category: resolution by category is for tickets.",
)


class ReportError(ValueError):
    """Bad report arguments (dates, time zone): a message for the user."""


# ------------------------------------------------------------------------------- the period

@dataclass(frozen=True)
class Period:
    from_day: date
    to_day: date
    tz: str
    start_us: int   # from_day 00:00 local
    end_us: int     # (to_day + 1) 00:00 local, exclusive

    @classmethod
    def parse(cls, from_text: str, to_text: str, tz: str = DEFAULT_TZ) -> "Period":
        days = []
        for name, text in (("--from", from_text), ("--to", to_text)):
            try:
                days.append(date.fromisoformat(str(text).strip()))
            except ValueError:
                raise ReportError(f"{name} must be a date YYYY-MM-DD, got {text!r}") from None
        first, last = days
        if last < first:
            raise ReportError(f"--to {last} is before --from {first}")
        zone = _zone(tz)
        start = datetime.combine(first, time(), zone)
        end = datetime.combine(last + timedelta(days=1), time(), zone)
        return cls(first, last, tz, to_us(start), to_us(end))

    @property
    def zone(self) -> ZoneInfo:
        return _zone(self.tz)

    def contains(self, us: int) -> bool:
        return self.start_us <= us < self.end_us

    @property
    def days(self) -> int:
        return (self.to_day - self.from_day).days + 1


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportError(f"unknown time zone {tz!r} (an IANA name such as Asia/Shanghai)") from None


# ------------------------------------------------------------------------------- the inputs

class CellKey(NamedTuple):
    """The report dimensions of a metric window (queue, priority, agent and minute dropped)."""
    entity_kind: str
    channel: str | None
    customer_tier: str | None
    category: str | None
    hour: int          # local hour of day 0-23
    weekend: bool      # local Saturday or Sunday


class RecordKey(NamedTuple):
    entity_kind: str
    metric: str
    policy: str
    priority: str | None
    category: str | None
    status: str
    over_48h: bool     # a stopped resolution with elapsed_seconds > 48 h


@dataclass
class QaInput:
    samples: int = 0
    reasons: Counter = field(default_factory=Counter)
    checks: dict[str, list[int]] = field(default_factory=dict)   # check -> [passed, failed]


def _cell_key(start_us: int, dims: tuple, zone: ZoneInfo) -> CellKey:
    local = datetime.fromtimestamp(start_us / US, tz=timezone.utc).astimezone(zone)
    return CellKey(dims[0], dims[1], dims[4], dims[5], local.hour, local.isoweekday() >= 6)


def cells_from_windows(windows: Iterable[tuple[int, tuple, WindowAggregate]],
                       period: Period) -> dict[CellKey, WindowAggregate]:
    """Closed windows `(start_us, dims, aggregate)` (`MetricWindows.close_until`) of the period,
    merged per report dimension. Partial cells of several partitions simply add up."""
    zone = period.zone
    cells: dict[CellKey, WindowAggregate] = {}
    for start, dims, agg in windows:
        if not period.contains(start):
            continue
        key = _cell_key(start, dims, zone)
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = WindowAggregate()
        cell.merge(agg)
    return cells


def record_key(rec: Any) -> RecordKey | None:
    """The report key of an SLA record (`SlaRecord` or its dict form); None if not counted."""
    if isinstance(rec, Mapping):
        get = rec.get
        elapsed = get("elapsed_seconds")
    else:
        get = lambda k: getattr(rec, k, None)  # noqa: E731
        elapsed = rec.elapsed_us / US
    status, metric = get("status"), get("metric")
    if status not in _COUNTED:
        return None
    over = (metric == "resolution" and status in _STOPPED and elapsed is not None
            and elapsed > _OVER_S)
    return RecordKey(get("entity_kind"), metric, get("policy"), get("priority"),
                     get("category"), status, bool(over))


def _record_at(rec: Any) -> int:
    if isinstance(rec, Mapping):
        at = rec["at"]
        return at if isinstance(at, int) else parse_rfc3339(at)
    return rec.at_us


def count_records(records: Iterable[Any], period: Period) -> Counter:
    """{RecordKey: n} of the records whose `at` lies in the period."""
    counts: Counter = Counter()
    for rec in records:
        if period.contains(_record_at(rec)):
            key = record_key(rec)
            if key is not None:
                counts[key] += 1
    return counts


def qa_input(samples: Iterable[Mapping[str, Any]], period: Period) -> QaInput | None:
    """QA day rows (`qa_day.run_qa_day`: each with `day`, `reasons`, `checks`) of the period's
    days; None when there are none (no QA data: the report says so)."""
    first, last = period.from_day.isoformat(), period.to_day.isoformat()
    qa = QaInput()
    for s in samples:
        day = str(s["day"])
        if not first <= day <= last:
            continue
        qa.samples += 1
        qa.reasons.update(s.get("reasons") or ())
        for c in s.get("checks") or ():
            pair = qa.checks.setdefault(c["check"], [0, 0])
            pair[0 if c["passed"] else 1] += 1
    return qa if qa.samples else None


# ------------------------------------------------------------------------------- the report

@dataclass(frozen=True)
class Timing:
    """Durations in seconds: exact mean, p50/p90 from a merged DDSketch (1 % relative)."""
    count: int
    mean: float | None
    p50: float | None
    p90: float | None


@dataclass(frozen=True)
class VolumeRow:
    entity_kind: str
    channel: str
    started: int
    share: float | None          # of the kind's total


@dataclass(frozen=True)
class ResponseRow:
    entity_kind: str
    group: str                   # the channel, hour ("09"), "weekday"/"weekend" or tier
    responses: int
    unanswered: int              # first_response abandoned + cancelled
    within_target: int
    response_rate: float | None  # responses / (responses + unanswered)
    within_target_rate: float | None
    timing: Timing


@dataclass(frozen=True)
class ResolutionRow:
    entity_kind: str
    category: str
    created: int
    resolved: int
    resolution_rate: float | None
    timing: Timing
    over_48h: int
    over_48h_share: float | None


@dataclass(frozen=True)
class SlaRow:
    policy: str                  # "" in the urgent table (all urgent tickets)
    metric: str
    met: int
    missed: int
    attainment: float | None
    completed_late: int
    abandoned: int
    warnings: int


@dataclass(frozen=True)
class CsatRow:
    entity_kind: str
    channel: str                 # "all" for the kind's total
    count: int
    mean: float | None
    hist: tuple[int, int, int, int, int]


@dataclass(frozen=True)
class QaCheckRow:
    check: str
    passed: int
    failed: int
    pass_rate: float | None


@dataclass(frozen=True)
class QaSection:
    samples: int
    reasons: tuple[tuple[str, int], ...]
    checks: tuple[QaCheckRow, ...]


@dataclass(frozen=True)
class Report:
    from_day: str
    to_day: str
    tz: str
    source: str
    started: dict[str, int]                        # kind -> started in the period
    volume: tuple[VolumeRow, ...]
    first_response_by_channel: tuple[ResponseRow, ...]
    first_response_by_hour: tuple[ResponseRow, ...]
    first_response_by_daytype: tuple[ResponseRow, ...]
    response_by_tier: tuple[ResponseRow, ...]
    resolution_by_category: tuple[ResolutionRow, ...]
    tickets_resolved: int
    tickets_resolved_over_48h: int
    tickets_over_48h_share: float | None
    urgent: tuple[SlaRow, ...]
    csat: tuple[CsatRow, ...]
    reopened: int
    ticket_resolutions: int
    reopen_rate: float | None
    sla_by_policy: tuple[SlaRow, ...]
    qa: QaSection | None
    notes: tuple[str, ...]

    @property
    def empty(self) -> bool:
        return not any(self.started.values()) and not self.sla_by_policy and self.qa is None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(n: int, d: int) -> float | None:
    return n / d if d else None


def _timing(count: int, sum_us: int, sketch) -> Timing:
    if not count or sketch is None or not sketch.count:
        return Timing(count, None, None, None)
    return Timing(count, sum_us / US / count, sketch.get_quantile_value(0.5),
                  sketch.get_quantile_value(0.9))


def _merge(cells: Iterable[WindowAggregate]) -> WindowAggregate:
    total = WindowAggregate()
    for c in cells:
        total.merge(c)
    return total


def _group(cells: Mapping[CellKey, WindowAggregate], by: Callable[[CellKey], Any]
           ) -> dict[Any, WindowAggregate]:
    out: dict[Any, WindowAggregate] = {}
    for key, agg in cells.items():
        g = by(key)
        cell = out.get(g)
        if cell is None:
            cell = out[g] = WindowAggregate()
        cell.merge(agg)
    return out


def _response_row(kind: str, group: str, a: WindowAggregate) -> ResponseRow:
    unanswered = a.abandoned + a.sla.get(("first_response", "cancelled"), 0)
    return ResponseRow(kind, group, a.first_responses, unanswered, a.responded_within_target,
                       _ratio(a.first_responses, a.first_responses + unanswered),
                       _ratio(a.responded_within_target, a.first_responses),
                       _timing(a.first_responses, a.first_response_sum_us, a._fr_sketch))


def _kind_order(kind: str) -> tuple:
    return (KINDS.index(kind) if kind in KINDS else len(KINDS), kind)


def _label(v: str | None) -> str:
    return "-" if v is None else str(v)


def _sla_row(policy: str, metric: str, counts: Mapping[str, int]) -> SlaRow:
    met, missed = counts.get("achieved", 0), counts.get("breached", 0)
    return SlaRow(policy, metric, met, missed, _ratio(met, met + missed),
                  counts.get("completed_late", 0), counts.get("abandoned", 0),
                  counts.get("warning", 0))


_METRIC_ORDER = ("first_response", "next_response", "assignment", "resolution")


def _metric_order(m: str) -> tuple:
    return (_METRIC_ORDER.index(m) if m in _METRIC_ORDER else len(_METRIC_ORDER), m)


def build_report(period: Period, cells: Mapping[CellKey, WindowAggregate],
                 counts: Mapping[RecordKey, int], qa: QaInput | None,
                 source: str = "") -> Report:
    """The report of one period from its merged cells, record counts and QA input. Pure."""
    kinds = sorted({k.entity_kind for k in cells} | {k.entity_kind for k in counts},
                   key=_kind_order)

    by_kind_channel = _group(cells, lambda k: (k.entity_kind, k.channel))
    started = {kind: sum(a.started for (k, _), a in by_kind_channel.items() if k == kind)
               for kind in kinds}
    volume, by_channel = [], []
    for (kind, channel), a in sorted(by_kind_channel.items(),
                                     key=lambda kv: (_kind_order(kv[0][0]), -kv[1].started,
                                                     _label(kv[0][1]))):
        if a.started:
            volume.append(VolumeRow(kind, _label(channel), a.started,
                                    _ratio(a.started, started[kind])))
        row = _response_row(kind, _label(channel), a)
        if row.responses or row.unanswered:
            by_channel.append(row)

    def responses(by: Callable[[CellKey], Any], label: Callable[[Any], str],
                  order: Callable[[Any], Any]) -> tuple[ResponseRow, ...]:
        grouped = _group(cells, lambda k: (k.entity_kind, by(k)))
        rows = []
        for (kind, g), a in sorted(grouped.items(),
                                   key=lambda kv: (_kind_order(kv[0][0]), order(kv[0][1]))):
            row = _response_row(kind, label(g), a)
            if row.responses or row.unanswered:
                rows.append(row)
        return tuple(rows)

    by_hour = responses(lambda k: k.hour, lambda h: f"{h:02d}", lambda h: h)
    by_daytype = responses(lambda k: k.weekend, lambda w: "weekend" if w else "weekday",
                           lambda w: w)
    by_tier = responses(lambda k: k.customer_tier, _label,
                        lambda t: ({"vip": 0, "regular": 1, "new": 2}.get(t, 3), _label(t)))

    # Resolution by category, and the 48 h tail from the records.
    over: Counter = Counter()
    stopped: Counter = Counter()
    for key, n in counts.items():
        if key.metric == "resolution" and key.status in _STOPPED:
            stopped[(key.entity_kind, key.category)] += n
            if key.over_48h:
                over[(key.entity_kind, key.category)] += n
    resolution = []
    by_category = _group(cells, lambda k: (k.entity_kind, k.category))
    for (kind, cat), a in sorted(by_category.items(),
                                 key=lambda kv: (_kind_order(kv[0][0]), -kv[1].started,
                                                 _label(kv[0][1]))):
        if not (a.started or a.resolved):
            continue
        n_over = over.get((kind, cat), 0)
        resolution.append(ResolutionRow(
            kind, _label(cat), a.started, a.resolved, _ratio(a.resolved, a.started),
            _timing(a.resolved, a.resolution_sum_us, a._res_sketch), n_over,
            _ratio(n_over, stopped.get((kind, cat), 0))))
    t_resolved = sum(n for (k, _), n in stopped.items() if k == "ticket")
    t_over = sum(n for (k, _), n in over.items() if k == "ticket")

    # SLA attainment per policy and metric; urgent tickets per metric.
    per_policy: dict[tuple[str, str], Counter] = {}
    urgent: dict[str, Counter] = {}
    for key, n in counts.items():
        per_policy.setdefault((key.policy, key.metric), Counter())[key.status] += n
        if key.priority == "urgent":
            urgent.setdefault(key.metric, Counter())[key.status] += n
    sla_rows = tuple(_sla_row(p, m, c) for (p, m), c in
                     sorted(per_policy.items(), key=lambda kv: (kv[0][0], _metric_order(kv[0][1]))))
    urgent_rows = tuple(_sla_row("urgent", m, urgent[m]) for m in sorted(urgent, key=_metric_order))

    # CSAT per kind (all channels) and per channel.
    csat = []
    for kind in kinds:
        per = {ch: a for (k, ch), a in by_kind_channel.items() if k == kind}
        total = _merge(per.values())
        csat.append(CsatRow(kind, "all", total.csat_count,
                            _ratio(total.csat_sum, total.csat_count), tuple(total.csat_hist)))
        for ch, a in sorted(per.items(), key=lambda kv: (-kv[1].csat_count, _label(kv[0]))):
            if a.csat_count:
                csat.append(CsatRow(kind, _label(ch), a.csat_count,
                                    _ratio(a.csat_sum, a.csat_count), tuple(a.csat_hist)))

    tickets = _merge(a for k, a in cells.items() if k.entity_kind == "ticket")

    qa_section = None
    if qa is not None:
        qa_section = QaSection(
            qa.samples, tuple(sorted(qa.reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
            tuple(QaCheckRow(c, p, f, _ratio(p, p + f)) for c, (p, f) in sorted(qa.checks.items())))

    notes = list(STANDING_NOTES)
    if qa_section is None:
        notes.append("No QA data for these days (no samples stored, or QA sampling not run).")
    if not started.get("ticket"):
        notes.append("No tickets in this period.")
    if not started.get("conversation"):
        notes.append("No conversations in this period.")

    return Report(
        from_day=period.from_day.isoformat(), to_day=period.to_day.isoformat(), tz=period.tz,
        source=source, started=started, volume=tuple(volume),
        first_response_by_channel=tuple(by_channel), first_response_by_hour=by_hour,
        first_response_by_daytype=by_daytype, response_by_tier=by_tier,
        resolution_by_category=tuple(resolution), tickets_resolved=t_resolved,
        tickets_resolved_over_48h=t_over, tickets_over_48h_share=_ratio(t_over, t_resolved),
        urgent=urgent_rows, csat=tuple(csat), reopened=tickets.reopened,
        ticket_resolutions=tickets.resolved, reopen_rate=_ratio(tickets.reopened, tickets.resolved),
        sla_by_policy=sla_rows, qa=qa_section, notes=tuple(notes))


# ------------------------------------------------------------------------------- offline mode

@dataclass
class EventInputs:
    cells: dict[CellKey, WindowAggregate]
    counts: Counter
    qa: QaInput | None
    records: list           # every SlaRecord of the replay (tests compare them with `replay`)
    windows: list           # every closed window (start_us, dims, aggregate)
    qa_rows: list           # every QA day row
    invalid: list[tuple[int, str]]


def events_inputs(lines: Iterable[bytes], policies, period: Period, qa_rules=None,
                  until_us: int | None = None) -> EventInputs:
    """Replay event lines in process into the report's inputs (no ClickHouse).

    Same order and clock end as `slawatch replay` (event time, ties by line; the clock ends at
    the newest event, or `until_us`), and the live worker's own per-event step, so the records
    are the replay's and the windows those the pipeline would have written. `qa_rules` (a
    `QARules`) also draws the QA days (`qa_day.run_qa_day`, in the period's time zone).
    """
    from .processor import PartitionProcessor
    from .replay import read_events

    lines = list(lines)
    invalid: list[tuple[int, str]] = []
    items = read_events(lines, lambda n, reason: invalid.append((n, reason)))
    items.sort(key=lambda it: (it[0], it[1]))
    # One processor serves both kinds: its per-event step does not look at the topic.
    proc = PartitionProcessor("report", 0, "conversation", policies, lateness_us=0,
                              idle_after_us=US, future_skew_us=0)
    if until_us is None:
        until_us = items[-1][0] if items else None
    for t, _, ev in items:
        if t > until_us:
            break
        proc._apply(ev, t)
    until = until_us or 0
    if items:
        proc.engine.advance(until + 1)  # as replay: a deadline exactly at the end fires
    records = proc.engine.drain()
    records.sort(key=lambda r: r.sort_key())  # the replay's output order
    proc.metrics.observe_records(records)
    last = max([until, *(r.at_us for r in records)]) if items else 0
    windows = proc.metrics.close_until(last + 2 * WINDOW_US) if items else []
    qa_rows: list = []
    if qa_rules is not None and items:
        from .qa_day import json_objects, run_qa_day

        qa_rows = run_qa_day(json_objects(lines), records, qa_rules, tz=period.tz)
    return EventInputs(cells_from_windows(windows, period), count_records(records, period),
                       qa_input(qa_rows, period), records, windows, qa_rows, invalid)


# ------------------------------------------------------------------------------- ClickHouse

# Read = (sql, params) -> {"columns": [...], "rows": [[...], ...]}: ClickHouseSink.read, or
# sinks.kafka_to_clickhouse.remote_query bound to a URL and token.
Read = Callable[[str, dict], dict]

_RANGE = ("{start:Int64}", "{end:Int64}")


def _sketch_sql(prefix: str, path: str) -> str:
    # The stored sketch is {"alpha","zero","bins":[[key,count],...],"min","max","sum_us"}
    # (core/metrics.py); adding bins key-wise is DDSketch's merge.
    return (f"sumMap(arrayMap(b -> b.1, {prefix}_bins), arrayMap(b -> b.2, {prefix}_bins)) AS {prefix}_map, "
            f"sum(JSONExtractFloat(body, '{path}', 'sketch', 'zero')) AS {prefix}_zero, "
            f"min(JSONExtract(body, '{path}', 'sketch', 'min', 'Nullable(Float64)')) AS {prefix}_min, "
            f"max(JSONExtract(body, '{path}', 'sketch', 'max', 'Nullable(Float64)')) AS {prefix}_max, "
            f"sum(JSONExtractInt(body, '{path}', 'sketch', 'sum_us')) AS {prefix}_sum_us")


WINDOWS_SQL = f"""
SELECT entity_kind, channel, customer_tier, category,
       toHour(window_start, {{tz:String}}) AS hour,
       toDayOfWeek(window_start, 0, {{tz:String}}) >= 6 AS weekend,
       sum(started) AS started, sum(first_responses) AS first_responses,
       sum(responded_within_target) AS responded_within_target, sum(abandoned) AS abandoned,
       sum(resolved) AS resolved, sum(reopened) AS reopened,
       sum(sla['first_response:cancelled']) AS fr_cancelled,
       sum(csat_count) AS csat_count, sum(csat_sum) AS csat_sum,
       sumForEach(csat_hist) AS csat_hist,
       {_sketch_sql("fr", "first_response_seconds")},
       {_sketch_sql("res", "resolution_seconds")}
FROM (
    SELECT *,
           JSONExtract(body, 'first_response_seconds', 'sketch', 'bins', 'Array(Tuple(Int32, Float64))') AS fr_bins,
           JSONExtract(body, 'resolution_seconds', 'sketch', 'bins', 'Array(Tuple(Int32, Float64))') AS res_bins
    FROM metric_windows FINAL
    WHERE window_start >= fromUnixTimestamp64Micro({_RANGE[0]}, 'UTC')
      AND window_start < fromUnixTimestamp64Micro({_RANGE[1]}, 'UTC')
)
GROUP BY entity_kind, channel, customer_tier, category, hour, weekend
"""

RECORDS_SQL = f"""
SELECT entity_kind, metric, policy, priority, category, status,
       metric = 'resolution' AND status IN ('achieved', 'completed_late')
           AND elapsed_seconds > {_OVER_S} AS over_48h,
       count() AS n
FROM sla_records FINAL
WHERE at >= fromUnixTimestamp64Micro({_RANGE[0]}, 'UTC')
  AND at < fromUnixTimestamp64Micro({_RANGE[1]}, 'UTC')
  AND status IN ({", ".join(f"'{s}'" for s in _COUNTED)})
GROUP BY entity_kind, metric, policy, priority, category, status, over_48h
"""

_QA_WHERE = "day >= {from_day:Date} AND day <= {to_day:Date}"
QA_REASONS_SQL = (f"SELECT reason, count() AS n FROM qa_samples FINAL ARRAY JOIN reasons AS reason "
                  f"WHERE {_QA_WHERE} GROUP BY reason")
QA_SAMPLES_SQL = f"SELECT count() AS n FROM qa_samples FINAL WHERE {_QA_WHERE}"
QA_CHECKS_SQL = ("SELECT `check` AS check_name, countIf(passed) AS ok, countIf(NOT passed) AS bad "
                 "FROM qa_checks FINAL WHERE sample_id IN "
                 f"(SELECT sample_id FROM qa_samples FINAL WHERE {_QA_WHERE}) GROUP BY check_name")


def _rows(result: Mapping[str, Any]) -> list[dict]:
    cols = list(result["columns"])
    return [dict(zip(cols, row)) for row in result["rows"]]


def _sketch_state(r: Mapping[str, Any], prefix: str) -> dict:
    keys, counts = r[f"{prefix}_map"]
    if isinstance(keys, Mapping):  # some clients hand a (keys, values) tuple, some a mapping
        keys, counts = list(keys.keys()), list(keys.values())
    return {"alpha": RELATIVE_ACCURACY, "zero": r[f"{prefix}_zero"],
            "bins": [[int(k), c] for k, c in zip(keys, counts) if c],
            "min": r[f"{prefix}_min"], "max": r[f"{prefix}_max"],
            "sum_us": int(r[f"{prefix}_sum_us"])}


def _cell_from_row(r: Mapping[str, Any]) -> WindowAggregate:
    hist = [int(x) for x in (r["csat_hist"] or [])] or [0] * 5
    return WindowAggregate.from_dict({
        "started": r["started"], "first_responses": r["first_responses"],
        "responded_within_target": r["responded_within_target"], "abandoned": r["abandoned"],
        "resolved": r["resolved"], "reopened": r["reopened"],
        "first_response_seconds": {"sketch": _sketch_state(r, "fr")},
        "resolution_seconds": {"sketch": _sketch_state(r, "res")},
        "sla": {"first_response": {"cancelled": int(r["fr_cancelled"])}} if r["fr_cancelled"] else {},
        "csat": {"count": r["csat_count"], "sum": r["csat_sum"], "hist": hist},
    })


def clickhouse_inputs(read: Read, period: Period) -> tuple[dict, Counter, QaInput | None]:
    """The report's inputs from the ClickHouse history: (cells, record counts, QA)."""
    rng = {"start": period.start_us, "end": period.end_us}
    cells: dict[CellKey, WindowAggregate] = {}
    for r in _rows(read(WINDOWS_SQL, {**rng, "tz": period.tz})):
        key = CellKey(r["entity_kind"], r["channel"], r["customer_tier"], r["category"],
                      int(r["hour"]), bool(r["weekend"]))
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = WindowAggregate()
        cell.merge(_cell_from_row(r))
    counts: Counter = Counter()
    for r in _rows(read(RECORDS_SQL, rng)):
        counts[RecordKey(r["entity_kind"], r["metric"], r["policy"], r["priority"], r["category"],
                         r["status"], bool(r["over_48h"]))] += int(r["n"])
    days = {"from_day": period.from_day.isoformat(), "to_day": period.to_day.isoformat()}
    n = int(_rows(read(QA_SAMPLES_SQL, days))[0]["n"])
    qa = None
    if n:
        qa = QaInput(n, Counter({r["reason"]: int(r["n"]) for r in _rows(read(QA_REASONS_SQL, days))}),
                     {r["check_name"]: [int(r["ok"]), int(r["bad"])]
                      for r in _rows(read(QA_CHECKS_SQL, days))})
    return cells, counts, qa


# ------------------------------------------------------------------------------- terminal

fmt_duration = duration  # one way of writing durations (streams/textfmt.py)


def fmt_pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


_KIND_LABEL = {"conversation": "conv", "ticket": "ticket"}


def render(report: Report, console) -> None:
    """The report as rich tables on `console`."""
    from rich import box
    from rich.markup import escape
    from rich.table import Table

    def table(title: str, *columns: str, right_from: int = 1) -> Table:
        t = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, padding=(0, 1),
                  show_edge=False, pad_edge=False)
        for i, c in enumerate(columns):
            t.add_column(c, justify="right" if i >= right_from else "left", no_wrap=True)
        return t

    def add(t: Table, *cells: Any) -> None:
        # Values from the history (channels, categories, policies) are data, never markup.
        t.add_row(*(escape(str(c)) for c in cells))

    def kind(k: str) -> str:
        return _KIND_LABEL.get(k, k)

    console.print(f"[bold]slawatch report[/] {report.from_day} .. {report.to_day} "
                  f"({escape(report.tz)})  source: {escape(report.source)}")
    totals = ", ".join(f"{n} {k}s" for k, n in report.started.items())
    console.print(f"started: {totals or 'nothing'}")
    if report.empty:
        console.print("no data in this period")
    if report.volume:
        t = table("Volume and channel share", "kind", "channel", "started", "share", right_from=2)
        for r in report.volume:
            add(t, kind(r.entity_kind), r.channel, r.started, fmt_pct(r.share))
        console.print(t)

    def response_table(title: str, col: str, rows: Iterable[ResponseRow]) -> None:
        rows = list(rows)
        if not rows:
            return
        t = table(title, "kind", col, "responses", "unanswered", "response rate",
                  "within target", "avg", "p90", right_from=2)
        for r in rows:
            add(t, kind(r.entity_kind), r.group, r.responses, r.unanswered,
                fmt_pct(r.response_rate), fmt_pct(r.within_target_rate),
                fmt_duration(r.timing.mean), fmt_duration(r.timing.p90))
        console.print(t)

    response_table("First response by channel", "channel", report.first_response_by_channel)
    response_table("First response by hour of day (local, hour of the outcome)", "hour",
                   report.first_response_by_hour)
    response_table("First response: weekday vs weekend", "days", report.first_response_by_daytype)
    response_table("Response rate by customer tier", "tier", report.response_by_tier)

    if report.resolution_by_category:
        t = table("Resolution by category", "kind", "category", "created", "resolved", "rate",
                  "avg", "p50", "p90", f">{OVER_HOURS}h", right_from=2)
        for r in report.resolution_by_category:
            add(t, kind(r.entity_kind), r.category, r.created, r.resolved,
                fmt_pct(r.resolution_rate), fmt_duration(r.timing.mean),
                fmt_duration(r.timing.p50), fmt_duration(r.timing.p90),
                f"{r.over_48h} ({fmt_pct(r.over_48h_share)})")
        console.print(t)
        console.print(f"tickets resolved over {OVER_HOURS} h: {report.tickets_resolved_over_48h}"
                      f" of {report.tickets_resolved} ({fmt_pct(report.tickets_over_48h_share)});"
                      f" reopen rate: {report.reopened} reopens / {report.ticket_resolutions}"
                      f" resolutions ({fmt_pct(report.reopen_rate)})")

    def sla_table(title: str, rows: Iterable[SlaRow], with_policy: bool) -> None:
        rows = list(rows)
        if not rows:
            return
        cols = (("policy",) if with_policy else ()) + ("metric", "met", "missed", "attainment",
                                                        "late", "abandoned", "warnings")
        t = table(title, *cols, right_from=2 if with_policy else 1)
        for r in rows:
            add(t, *((r.policy,) if with_policy else ()), r.metric, r.met, r.missed,
                fmt_pct(r.attainment), r.completed_late, r.abandoned, r.warnings)
        console.print(t)

    sla_table("Urgent tickets: SLA compliance", report.urgent, False)
    if report.csat:
        t = table("CSAT", "kind", "channel", "ratings", "average", "1", "2", "3", "4", "5",
                  right_from=2)
        for r in report.csat:
            add(t, kind(r.entity_kind), r.channel, r.count,
                "-" if r.mean is None else f"{r.mean:.2f}", *r.hist)
        console.print(t)
    sla_table("SLA attainment by policy and metric", report.sla_by_policy, True)
    if report.qa is not None:
        t = table(f"QA: {report.qa.samples} samples", "check", "passed", "failed", "pass rate")
        for r in report.qa.checks:
            add(t, r.check, r.passed, r.failed, fmt_pct(r.pass_rate))
        console.print(t)
        console.print("QA reasons: " + escape(", ".join(f"{k} {n}" for k, n in report.qa.reasons)))
    console.print("[bold]Notes[/]")
    for n in report.notes:
        console.print(f"- {escape(n)}", soft_wrap=True)
