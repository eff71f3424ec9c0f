"""`slawatch report` (streams/report.py): figures of a generated month checked against figures
computed independently from the events and the replay's records; the ClickHouse path (real chdb,
written by ClickHouseSink as the live sink would, two partitions' partial windows) and the
--events path agree; empty periods, a period without tickets and bad arguments."""
from __future__ import annotations

import io
import math
import zlib
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import orjson
import pytest
from rich.console import Console
from typer.testing import CliRunner

from sinks.clickhouse import ClickHouseSink
from streams.cli import app
from streams.core.policy import load_policies
from streams.core.qa_rules import load_qa_rules
from streams.core.timeutil import parse_rfc3339
from streams.generator import GeneratorConfig, generate
from streams.replay import replay_lines
from streams.report import (OVER_HOURS, Period, ReportError, build_report, clickhouse_inputs,
                            events_inputs, render)
from streams.settings import DEFAULT_RULES
from streams.worker import window_message

QA_RULES = DEFAULT_RULES.parent / "qa.yaml"
TZ = ZoneInfo("Asia/Shanghai")
CST = timezone(timedelta(hours=8))
FROM, TO = "2026-11-01", "2026-11-30"
runner = CliRunner()


def _entity(e: dict) -> str:
    return e["ticket_id"] if e["type"].startswith("ticket.") else e["conversation_id"]


def _local(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, tz=timezone.utc).astimezone(TZ)


@pytest.fixture(scope="module")
def month(tmp_path_factory):
    """A small-volume November, with days before and after it (so the period cuts the log)."""
    d = tmp_path_factory.mktemp("report")
    events = list(generate(GeneratorConfig(seed=11, start=datetime(2026, 10, 30, tzinfo=CST),
                                           days=33, conversations_per_day=40,
                                           tickets_per_day=12)))
    path = d / "events.jsonl"
    lines = [orjson.dumps(e) for e in events]
    path.write_bytes(b"\n".join(lines) + b"\n")
    policies = load_policies(DEFAULT_RULES)
    period = Period.parse(FROM, TO)
    inputs = events_inputs(lines, policies, period, load_qa_rules(QA_RULES))
    report = build_report(period, inputs.cells, inputs.counts, inputs.qa, "events")
    # The independent path: the replay command's own function.
    records = replay_lines(lines, policies).records
    return {"dir": d, "events": events, "lines": lines, "path": path, "policies": policies,
            "period": period, "inputs": inputs, "report": report, "records": records}


@pytest.fixture(scope="module")
def history(month):
    """The month in embedded ClickHouse, written like the live sink: SLA records, and metric
    windows as two input partitions emit them (partial cells of one window id), QA rows."""
    dsn = f"chdb://{month['dir'] / 'ch'}"
    newest = max(parse_rfc3339(e["occurred_at"]) for e in month["events"])
    with ClickHouseSink(dsn).connect() as sink:
        sink.migrate()
        for part in range(2):
            lines = [line for line, e in zip(month["lines"], month["events"])
                     if zlib.crc32(_entity(e).encode()) % 2 == part]
            got = events_inputs(lines, month["policies"], month["period"], until_us=newest)
            sink.write_records(got.records)
            sink.write_windows([orjson.loads(window_message(s, dims, agg, part)[1])
                                for s, dims, agg in got.windows])
        rows = month["inputs"].qa_rows
        sink.write_qa_samples(rows)
        sink.write_qa_checks([c for r in rows for c in r["checks"]])
        cells, counts, qa = clickhouse_inputs(lambda sql, params: sink.read(sql, params),
                                              month["period"])
        empty = clickhouse_inputs(lambda sql, params: sink.read(sql, params),
                                  Period.parse("2027-03-01", "2027-03-31"))
    return {"dsn": dsn, "report": build_report(month["period"], cells, counts, qa, "events"),
            "empty": build_report(Period.parse("2027-03-01", "2027-03-31"), *empty, "ch")}


# ------------------------------------------------------------------ independent expectations

def _in_period(us: int, period: Period) -> bool:
    return period.start_us <= us < period.end_us


def _period_records(month):
    p = month["period"]
    return [r for r in month["records"] if _in_period(r.at_us, p)]


def _exact_quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[math.floor(q * (len(values) - 1))]


def _assert_timing(timing, values: list[float]) -> None:
    assert timing.count == len(values)
    if not values:
        assert timing.mean is None
        return
    assert timing.mean == pytest.approx(sum(values) / len(values), rel=1e-9)
    for got, q in ((timing.p50, 0.5), (timing.p90, 0.9)):
        want = _exact_quantile(values, q)
        # DDSketch: 1 % relative accuracy on the value at that rank.
        assert got == pytest.approx(want, rel=0.0101, abs=1e-9), (q, got, want)


def test_volume_and_channel_share(month):
    p, report = month["period"], month["report"]
    want = Counter((e["type"].split(".")[0], e["channel"]) for e in month["events"]
                   if e["type"] in ("conversation.started", "ticket.created")
                   and _in_period(parse_rfc3339(e["occurred_at"]), p))
    assert {(r.entity_kind, r.channel): r.started for r in report.volume} == dict(want)
    for kind in ("conversation", "ticket"):
        total = sum(n for (k, _), n in want.items() if k == kind)
        assert report.started[kind] == total > 0
        assert sum(r.share for r in report.volume if r.entity_kind == kind) == pytest.approx(1.0)


def test_first_response_by_channel_hour_daytype_tier(month):
    report = month["report"]
    responded = defaultdict(list)
    unanswered = Counter()
    for r in _period_records(month):
        if r.metric != "first_response":
            continue
        local = _local(r.at_us)
        keys = [("channel", r.entity_kind, r.channel), ("hour", r.entity_kind, f"{local.hour:02d}"),
                ("days", r.entity_kind, "weekend" if local.isoweekday() >= 6 else "weekday"),
                ("tier", r.entity_kind, r.customer_tier)]
        for key in keys:
            if r.status in ("achieved", "completed_late"):
                responded[key].append(r.elapsed_us / 1e6)
            elif r.status in ("abandoned", "cancelled"):
                unanswered[key] += 1
    tables = {"channel": report.first_response_by_channel, "hour": report.first_response_by_hour,
              "days": report.first_response_by_daytype, "tier": report.response_by_tier}
    seen = set()
    for name, rows in tables.items():
        assert rows, name
        for row in rows:
            key = (name, row.entity_kind, row.group)
            seen.add(key)
            _assert_timing(row.timing, responded[key])
            assert row.unanswered == unanswered[key]
            n = len(responded[key])
            assert row.response_rate == pytest.approx(n / (n + unanswered[key]))
    assert seen == set(responded) | set(unanswered)
    # Within target is the achieved share of the responses.
    achieved = Counter(r.channel for r in _period_records(month)
                       if r.metric == "first_response" and r.status == "achieved"
                       and r.entity_kind == "conversation")
    for row in report.first_response_by_channel:
        if row.entity_kind == "conversation":
            assert row.within_target == achieved[row.group]


def test_resolution_by_category_and_48h(month):
    p, report = month["period"], month["report"]
    created = Counter(e["category"] for e in month["events"] if e["type"] == "ticket.created"
                      and _in_period(parse_rfc3339(e["occurred_at"]), p))
    times = defaultdict(list)
    for r in _period_records(month):
        if r.entity_kind == "ticket" and r.metric == "resolution" and r.status in ("achieved", "completed_late"):
            times[r.category].append(r.elapsed_us / 1e6)
    rows = {r.category: r for r in report.resolution_by_category if r.entity_kind == "ticket"}
    assert set(rows) == set(created) | set(times)
    for cat, row in rows.items():
        assert row.created == created[cat]
        assert row.resolved == len(times[cat])
        _assert_timing(row.timing, times[cat])
        assert row.over_48h == sum(t > OVER_HOURS * 3600 for t in times[cat])
    all_times = [t for ts in times.values() for t in ts]
    assert report.tickets_resolved == len(all_times)
    assert report.tickets_resolved_over_48h == sum(t > OVER_HOURS * 3600 for t in all_times)


def test_resolved_over_48h_counts_the_long_ones():
    # The generated month resolves everything within 48 business hours, so the tail is
    # planted here: urgent tickets run 24x7, one solved after 50 h, one after 10 h.
    def ev(i, type_, tid, at, **extra):
        return orjson.dumps({"event_id": f"x{i}", "type": type_, "ticket_id": tid,
                             "occurred_at": at, **extra})

    base = dict(channel="web", priority="urgent", category="payment", customer_id="C1",
                customer_tier="regular")
    lines = [ev(1, "ticket.created", "T1", "2026-11-02T08:00:00+08:00", **base),
             ev(2, "ticket.status_changed", "T1", "2026-11-04T10:00:00+08:00", status="solved"),
             ev(3, "ticket.created", "T2", "2026-11-02T09:00:00+08:00", **base),
             ev(4, "ticket.status_changed", "T2", "2026-11-02T19:00:00+08:00", status="solved")]
    period = Period.parse("2026-11-01", "2026-11-30")
    got = events_inputs(lines, load_policies(DEFAULT_RULES), period)
    report = build_report(period, got.cells, got.counts, got.qa)
    assert (report.tickets_resolved_over_48h, report.tickets_resolved) == (1, 2)
    assert report.tickets_over_48h_share == 0.5
    (row,) = [r for r in report.resolution_by_category if r.category == "payment"]
    assert (row.created, row.resolved, row.over_48h) == (2, 2, 1)
    assert row.timing.mean == pytest.approx(30 * 3600)


def test_sla_attainment_urgent_and_policy(month):
    report = month["report"]
    per_policy = defaultdict(Counter)
    urgent = defaultdict(Counter)
    for r in _period_records(month):
        per_policy[(r.policy, r.metric)][r.status] += 1
        if r.priority == "urgent":
            urgent[r.metric][r.status] += 1
    got = {(r.policy, r.metric): r for r in report.sla_by_policy}
    assert set(got) == set(per_policy)
    for key, row in got.items():
        c = per_policy[key]
        assert (row.met, row.missed, row.completed_late, row.abandoned, row.warnings) == (
            c["achieved"], c["breached"], c["completed_late"], c["abandoned"], c["warning"])
        if c["achieved"] + c["breached"]:
            assert row.attainment == pytest.approx(c["achieved"] / (c["achieved"] + c["breached"]))
    assert {r.metric: (r.met, r.missed) for r in report.urgent} == {
        m: (c["achieved"], c["breached"]) for m, c in urgent.items()}
    assert report.urgent and any(r.missed for r in report.sla_by_policy)


def test_csat_and_reopens(month):
    p, report = month["period"], month["report"]
    ratings = defaultdict(list)
    status: dict[str, str] = {}
    reopens = 0
    for e in sorted(month["events"], key=lambda e: parse_rfc3339(e["occurred_at"])):
        t = parse_rfc3339(e["occurred_at"])
        if e["type"].endswith(".rated") and _in_period(t, p):
            ratings[e["type"].split(".")[0]].append(e["score"])
        if e["type"] == "ticket.status_changed":
            before = status.get(e["ticket_id"])
            status[e["ticket_id"]] = e["status"]
            if before in ("solved", "closed") and e["status"] not in ("solved", "closed") and _in_period(t, p):
                reopens += 1
    rows = {r.entity_kind: r for r in report.csat if r.channel == "all"}
    tickets = ratings["ticket"]
    assert rows["ticket"].count == len(tickets) > 0
    assert rows["ticket"].mean == pytest.approx(sum(tickets) / len(tickets))
    assert list(rows["ticket"].hist) == [tickets.count(s) for s in range(1, 6)]
    convs = ratings["conversation"]  # given after the chat ended: counted all the same
    assert rows["conversation"].count == len(convs) > 0
    assert rows["conversation"].mean == pytest.approx(sum(convs) / len(convs))
    assert report.reopened == reopens > 0
    assert report.reopen_rate == pytest.approx(reopens / report.ticket_resolutions)


def test_qa_section(month):
    first, last = FROM, TO
    rows = [r for r in month["inputs"].qa_rows if first <= r["day"] <= last]
    qa = month["report"].qa
    assert qa is not None and qa.samples == len(rows) > 0
    assert dict(qa.reasons) == dict(Counter(x for r in rows for x in r["reasons"]))
    want = defaultdict(lambda: [0, 0])
    for r in rows:
        for c in r["checks"]:
            want[c["check"]][0 if c["passed"] else 1] += 1
    assert {c.check: [c.passed, c.failed] for c in qa.checks} == dict(want)


def test_events_path_records_are_the_replay(month):
    assert [r.record_id for r in month["inputs"].records] == [r.record_id for r in month["records"]]


def test_clickhouse_path_agrees_with_events_path(month, history):
    assert history["report"].to_dict() == month["report"].to_dict()


def test_empty_period(month, history):
    period = Period.parse("2027-03-01", "2027-03-31")
    got = events_inputs([], month["policies"], period)
    for report in (history["empty"], build_report(period, got.cells, got.counts, got.qa)):
        assert report.empty
        assert not report.volume and not report.sla_by_policy and report.qa is None
        assert report.reopen_rate is None and report.tickets_over_48h_share is None
        assert any("No QA data" in n for n in report.notes)
        assert any("No tickets" in n for n in report.notes)
        out = io.StringIO()
        render(report, Console(file=out, width=120))
        assert "no data in this period" in out.getvalue()


def test_events_outside_the_period_give_an_empty_report(month):
    period = Period.parse("2027-03-01", "2027-03-31")
    got = events_inputs(month["lines"], month["policies"], period)
    report = build_report(period, got.cells, got.counts, got.qa)
    assert report.empty and got.records  # the log was replayed, nothing fell in the period


def test_period_without_tickets(month):
    lines = [line for line, e in zip(month["lines"], month["events"]) if not e["type"].startswith("ticket.")]
    period = month["period"]
    got = events_inputs(lines, month["policies"], period)
    report = build_report(period, got.cells, got.counts, got.qa)
    assert report.started["conversation"] == month["report"].started["conversation"]
    assert "ticket" not in report.started
    assert not report.urgent and not report.resolution_by_category[1:]
    assert all(r.entity_kind == "conversation" for r in report.resolution_by_category)
    assert report.tickets_resolved == 0 and report.tickets_over_48h_share is None
    assert report.reopen_rate is None
    assert "No tickets in this period." in report.notes
    out = io.StringIO()
    render(report, Console(file=out, width=140))
    assert "Urgent tickets" not in out.getvalue() and "web" in out.getvalue()


def test_period_boundaries_follow_the_time_zone():
    p = Period.parse("2026-11-01", "2026-11-30")
    assert p.start_us == parse_rfc3339("2026-11-01T00:00:00+08:00")
    assert p.end_us == parse_rfc3339("2026-12-01T00:00:00+08:00")
    utc = Period.parse("2026-11-01", "2026-11-01", "UTC")
    assert (utc.start_us, utc.end_us) == (parse_rfc3339("2026-11-01T00:00:00Z"),
                                          parse_rfc3339("2026-11-02T00:00:00Z"))
    # Across a DST change the local day is 25 h long.
    ny = Period.parse("2026-11-01", "2026-11-01", "America/New_York")
    assert ny.end_us - ny.start_us == 25 * 3600 * 10**6
    assert p.days == 30 and p.from_day == date(2026, 11, 1)


@pytest.mark.parametrize("args, message", [
    (["--from", "2026-11-3", "--to", "2026-11-30"], "--from must be a date YYYY-MM-DD"),
    (["--from", "2026-11-01", "--to", "November"], "--to must be a date YYYY-MM-DD"),
    (["--from", "2026-11-30", "--to", "2026-11-01"], "is before --from"),
    (["--from", "2026-11-01", "--to", "2026-11-30", "--tz", "Mars/Olympus"], "unknown time zone"),
    (["--from", "2026-11-01", "--to", "2026-11-30"], "give --api URL, --clickhouse DSN"),
    (["--from", "2026-11-01", "--to", "2026-11-30", "--events", "/nonexistent/e.jsonl"], "cannot read"),
])
def test_bad_arguments_exit_2_with_a_clear_message(args, message, monkeypatch):
    monkeypatch.delenv("SLAWATCH_CLICKHOUSE_DSN", raising=False)
    result = runner.invoke(app, ["report", *args])
    assert result.exit_code == 2
    assert message in result.output
    with pytest.raises(ReportError):
        Period.parse("2026-02-30", "2026-03-01")


def test_cli_events_and_clickhouse_json_agree(month, history, tmp_path):
    common = ["report", "--from", FROM, "--to", TO, "--json"]
    a = runner.invoke(app, [*common, "--events", str(month["path"]),
                            "--html", str(tmp_path / "r.html")])
    assert a.exit_code == 0, a.output
    b = runner.invoke(app, [*common, "--clickhouse", history["dsn"]])
    assert b.exit_code == 0, b.output
    ja = orjson.loads(a.stdout)
    jb = orjson.loads(b.stdout)
    assert ja.pop("source").startswith("events ") and jb.pop("source") == "ClickHouse history"
    assert ja == jb
    assert (tmp_path / "r.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    text = runner.invoke(app, ["report", "--from", FROM, "--to", TO, "--clickhouse", history["dsn"]])
    assert text.exit_code == 0
    for heading in ("Volume and channel share", "First response by channel", "hour of day",
                    "weekday vs weekend", "customer tier", "Resolution by category",
                    f"over {OVER_HOURS} h", "Urgent tickets", "CSAT", "SLA attainment by policy",
                    "QA:", "Notes"):
        assert heading in text.stdout, heading


def test_terminal_render_treats_values_as_text(month):
    lines = [orjson.dumps({**e, "channel": "[bold red]x[/]"}) if e["type"] == "conversation.started"
             else line for line, e in zip(month["lines"][:3000], month["events"][:3000])]
    got = events_inputs(lines, month["policies"], Period.parse("2026-10-30", "2026-11-02"))
    report = build_report(Period.parse("2026-10-30", "2026-11-02"), got.cells, got.counts, got.qa)
    out = io.StringIO()
    render(report, Console(file=out, width=140))
    assert "[bold red]x[/]" in out.getvalue()
