"""The live QA stage of `slawatch sink` on the embedded broker and chdb, end to end.

Generated input goes to the real input topics; `sinks.kafka_to_clickhouse.serve` (what
`slawatch sink` runs) writes targeted cases as soon as they end, draws the day when its clock
passes midnight + grace, writes the samples, masked transcripts and checks to ClickHouse, counts them on /metrics, and a restarted sink
resumes from its `qa_days` boundary without drawing the day again.
"""
from __future__ import annotations

import asyncio
import socket
import urllib.request
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from sinks.kafka_to_clickhouse import serve
from streams.core.policy import load_policies
from streams.core.qa_rules import load_qa_rules
from streams.core.timeutil import parse_rfc3339
from streams.generator import GeneratorConfig, generate
from streams.producer import produce
from streams.core.qa_sampler import QASampler
from streams.qa_day import run_qa_day, summaries_from_events
from streams.replay import replay_lines
from streams.settings import Settings

US = 1_000_000
TZ8 = timezone(timedelta(hours=8))
DAY1 = "2026-11-02"
CLOSE = int(datetime(2026, 11, 3, 1, 0, tzinfo=TZ8).timestamp()) * US  # midnight + 1 h grace


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def settings(broker, topic_prefix, tmp_path):
    s = Settings(
        broker_url=broker.url, embedded=True, app_id=topic_prefix,
        conversations_topic=f"{topic_prefix}-support.conversations",
        tickets_topic=f"{topic_prefix}-support.tickets",
        sla_events_topic=f"{topic_prefix}-sla.events",
        metrics_topic=f"{topic_prefix}-sla.metric-windows",
        dead_letter_topic=f"{topic_prefix}-support.dead-letter",
        broker_session_timeout_s=1.0, http_port=0, sink_http_port=free_port(),
        qa_close_after_s=3600)
    broker.create_topics({t: 2 for t in (s.conversations_topic, s.tickets_topic, s.sla_events_topic,
                                          s.metrics_topic, s.dead_letter_topic)})
    return s


def events() -> list[dict]:
    """A day and a bit, cut a minute after the close so that what the stage knows at the draw
    is all of it."""
    cfg = GeneratorConfig(seed=5, start=datetime(2026, 11, 2, tzinfo=TZ8), days=1.1,
                          conversations_per_day=300, tickets_per_day=40)
    evs = [e for e in generate(cfg) if parse_rfc3339(e["occurred_at"]) < CLOSE + 60 * US]
    # Nights are quiet: one more chat moves the event-time clock past the close.
    tick = datetime.fromtimestamp(CLOSE / US + 120, tz=TZ8).isoformat()
    def pii(n, typ, minute, **f):
        at = datetime(2026, 11, 2, 15, minute, tzinfo=TZ8).isoformat()
        return {"event_id": f"pii-{n}", "type": typ, "occurred_at": at, "conversation_id": "PII1", **f}

    # Rated 1 (always reviewed), and the agent repeats the customer's phone number.
    evs += [pii(1, "conversation.started", 0, channel="web", customer_id="U9", customer_tier="vip"),
            pii(2, "conversation.message", 1, message_id="p1", author_role="customer",
                text="我的手机是 13812345678，快点处理"),
            pii(3, "conversation.assigned", 1, agent_id="A003"),
            pii(4, "conversation.message", 2, message_id="p2", author_role="agent",
                author_id="A003", text="您好，您的手机 13812345678 已登记"),
            pii(5, "conversation.ended", 5, outcome="resolved"),
            pii(6, "conversation.rated", 6, score=1)]
    return evs + [{"event_id": "tick", "type": "conversation.started", "occurred_at": tick,
                   "conversation_id": "TICK", "channel": "web", "customer_id": "U0",
                   "customer_tier": "regular"}]


async def run_until(settings: Settings, dsn: str, done, timeout: float = 60.0):
    """Run the whole sink until `done(runner, qa)` holds; returns what it returned."""
    stop = asyncio.Event()
    parts: dict = {}
    task = asyncio.create_task(serve(settings, dsn, stop, batch_seconds=0.2,
                                     on_start=lambda r, q: parts.update(runner=r, qa=q)))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while True:
            await asyncio.sleep(0.2)
            if task.done():
                task.result()
            if parts and (value := await asyncio.to_thread(done, parts["runner"], parts["qa"])):
                return value, parts
            assert loop.time() < deadline, f"timed out; QA stats {parts['qa'].stats if parts else None}"
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


def scrape(settings: Settings) -> dict[str, float]:
    body = urllib.request.urlopen(f"http://127.0.0.1:{settings.sink_http_port}/metrics", timeout=5).read()
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_sink_draws_the_day_live_equal_to_the_offline_draw_and_counts_it(settings, tmp_path):
    evs = events()
    asyncio.run(produce(evs, settings))
    dsn = f"chdb://{tmp_path / 'ch'}"

    def drawn(runner, qa):
        # Everything read and written: the qa_days mark goes after the day's rows, early rows
        # right after it.
        if (qa.stats["messages"] < len(evs) or qa.pending is not None or qa.pending_early
                or qa.live._early
                or not runner.sink.read("SELECT count() FROM qa_days WHERE notEmpty(days)")["rows"][0][0]):
            return None
        day1 = {"d": DAY1}
        rows = runner.sink.read("SELECT sample_id, reasons, priority, agent_id, toString(day) "
                                "FROM qa_samples FINAL ORDER BY sample_id")["rows"]
        n_checks = runner.sink.read(
            "SELECT count() FROM qa_checks FINAL WHERE sample_id IN "
            "(SELECT sample_id FROM qa_samples FINAL WHERE day = {d:String})", day1)["rows"][0][0]
        n_tr = runner.sink.read("SELECT count(), countIf(transcript LIKE '%1381234%') "
                                "FROM qa_transcripts FINAL")["rows"][0]
        days = runner.sink.read("SELECT toString(arrayJoin(days)) FROM qa_days")["rows"]
        return rows, n_checks, n_tr, days, scrape(settings)

    (all_rows, n_checks, n_transcripts, days, metrics), _ = asyncio.run(run_until(settings, dsn, drawn))
    rows = [r for r in all_rows if r[4] == DAY1]
    early = [r for r in all_rows if r[4] != DAY1]

    policies = load_policies(settings.rules)
    records = replay_lines([orjson.dumps(e) for e in evs], policies).records
    expected = run_qa_day(evs, records, load_qa_rules(settings.qa_rules), day=DAY1)
    assert len(expected) > 20
    assert [(r[0], list(r[1]), r[2], r[3], r[4]) for r in rows] == sorted(
        (e["sample_id"], list(e["reasons"]), e["priority"], e["agent_id"], e["day"]) for e in expected)
    assert days == [[DAY1]]
    assert n_checks == sum(len(e["checks"]) for e in expected)
    assert tuple(n_transcripts) == (len(all_rows), 0)  # stored masked: no phone number survives
    # Day 2 is not drawn yet, but its targeted cases are already there for review.
    summaries, _ = summaries_from_events(evs, records)
    sampler = QASampler(load_qa_rules(settings.qa_rules))
    want_early = sorted((x.sample_id, list(x.reasons), x.priority, x.agent_id, x.day)
                        for x in map(sampler.select_targeted, summaries)
                        if x is not None and x.day != DAY1)
    assert want_early and [(r[0], list(r[1]), r[2], r[3], r[4]) for r in early] == want_early
    early_counted = {k: v for k, v in metrics.items() if k.startswith("slawatch_qa_early_samples_total")}
    assert sum(early_counted.values()) >= len(want_early), early_counted
    pii = next(e for e in expected if e["entity_id"] == "PII1")
    assert "low_csat" in pii["reasons"]
    assert any(c["check"] == "privacy" and not c["passed"] for c in pii["checks"])
    for reason in {r for e in expected for r in e["reasons"]}:
        want = sum(reason in e["reasons"] for e in expected)
        assert metrics[f'slawatch_qa_samples_total{{reason="{reason}"}}'] == want
    failed = sum(not c["passed"] for e in expected for c in e["checks"])
    assert sum(v for k, v in metrics.items() if k.startswith("slawatch_qa_check_failures_total")) == failed
    assert metrics["slawatch_qa_stage_up"] == 1
    assert metrics["slawatch_qa_days_closed_total"] == 1

    # Restarted: resumes from the stored boundary, re-reads what was held, draws nothing again.
    def resumed(runner, qa):
        if qa.live.closed_through_us is None or qa.stats["messages"] == 0 or qa.stats["clock_us"] is None:
            return None
        return qa.live.closed_through_us, qa.live.stats["days_closed"], runner.sink.read(
            "SELECT count() FROM qa_days")["rows"][0][0]

    (through, closed, marks), _ = asyncio.run(run_until(settings, dsn, resumed))
    assert through == int(datetime(2026, 11, 3, tzinfo=TZ8).timestamp()) * US
    assert closed == 0 and marks == 1
