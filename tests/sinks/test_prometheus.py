"""Worker metrics on a fresh registry per test: counters, target buckets, live gauges, bounds."""
from __future__ import annotations

import orjson
from prometheus_client import CollectorRegistry, generate_latest

from sinks.prometheus import MAX_QUEUES, WorkerMetrics, buckets_for
from streams.core.policy import load_policies
from streams.core.timeutil import US, to_us
from streams.processor import PartitionProcessor
from streams.settings import DEFAULT_RULES
from tests.scenario import T0, Scenario

POLICIES = load_policies(DEFAULT_RULES)
T0_US = to_us(T0)


def setup(kind="conversation"):
    p = PartitionProcessor(f"support.{kind}s", 0, kind, POLICIES, lateness_us=0,
                           idle_after_us=10**15, future_skew_us=10**15)
    m = WorkerMetrics(POLICIES, CollectorRegistry())
    m.bind(lambda: [p], lambda: T0_US + 3600 * US)
    return p, m


def step(p, m, lines, until_s):
    for i, line in enumerate(lines):
        p.ingest(i, line, wall_us=T0_US)
    p.sequencer.advance_to(T0_US + int(until_s * US))
    out = p.drain()
    m.observe_processor(p)
    m.observe_records(out.records)
    m.observe_dead_letters(p.kind, out.dead_letters)
    return out


def value(m, name, **labels):
    return m.registry.get_sample_value(name, labels) or 0.0


def test_bucket_boundaries_include_every_configured_target():
    b = buckets_for(POLICIES, "first_response")
    assert {15.0, 20.0, 30.0, 7200.0, 14400.0} <= set(b)
    assert list(b) == sorted(b)


def test_counters_histograms_and_exact_attainment_ratio():
    s = Scenario()
    s.started("c1", 0)                    # web chat: 15 s target
    s.msg("c1", 10, "agent", author_id="A1")
    s.started("c2", 1)
    s.msg("c2", 40, "agent", author_id="A1")   # late
    s.started("c3", 2, event_id="dup")
    s.started("c3", 2, event_id="dup")         # duplicate
    p, m = setup()
    step(p, m, s.lines() + [b"{not json"], until_s=100)
    assert value(m, "slawatch_events_received_total", kind="conversation") == 7
    assert value(m, "slawatch_duplicates_total", kind="conversation") == 1
    assert value(m, "slawatch_dead_letters_total", kind="conversation", code="invalid_json") == 1
    assert value(m, "slawatch_events_applied_total", type="conversation.message") == 2
    labels = dict(entity_kind="conversation", channel="web", policy="web-chat")
    within = value(m, "slawatch_first_response_seconds_bucket", le="15.0", **labels)
    total = value(m, "slawatch_first_response_seconds_count", **labels)
    assert (within, total) == (1, 2)       # attainment = bucket ratio at the target
    rec = dict(metric="first_response", policy="web-chat", channel="web", priority="")
    assert value(m, "slawatch_sla_records_total", status="breached", **rec) == 2   # c2 and c3
    assert value(m, "slawatch_sla_records_total", status="achieved", **rec) == 1
    # idempotent delta accounting: observing again adds nothing
    m.observe_processor(p)
    assert value(m, "slawatch_events_received_total", kind="conversation") == 7


def test_live_gauges_awaiting_oldest_wait_and_breaching():
    s = Scenario()
    s.started("c1", 0, queue="pre_sales")
    s.started("c2", 30, queue="pre_sales")
    p, m = setup()
    step(p, m, s.lines(), until_s=40)
    q = dict(channel="web", queue="pre_sales")
    assert value(m, "slawatch_awaiting_first_response", **q) == 2
    assert value(m, "slawatch_oldest_wait_seconds", **q) == 40
    assert value(m, "slawatch_oldest_wait_target_seconds", **q) == 15
    assert value(m, "slawatch_clocks_breached", metric="first_response", channel="web", priority="") == 1
    text = generate_latest(m.registry).decode()
    assert 'slawatch_watermark_lag_seconds{partition="0",topic="support.conversations"}' in text


def test_label_values_from_events_are_bounded():
    lines = []
    for i in range(MAX_QUEUES + 20):
        lines.append(orjson.dumps({"event_id": f"e{i}", "type": "conversation.started",
                                   "occurred_at": T0.isoformat(), "conversation_id": f"c{i}",
                                   "channel": f"weird-{i}", "customer_id": "x", "queue": f"q{i}"}))
    p, m = setup()
    step(p, m, lines, until_s=1)
    text = generate_latest(m.registry).decode()
    assert "weird-" not in text                     # unknown channels become "other"
    queues = {l.split('queue="')[1].split('"')[0] for l in text.splitlines()
              if l.startswith("slawatch_awaiting_first_response{")}
    assert len(queues) == MAX_QUEUES + 1 and "other" in queues


def test_sink_collector_reports_failures_backlog_and_outage(tmp_path):
    from sinks.kafka_to_clickhouse import KafkaClickHouseSink
    from sinks.prometheus import SinkCollector
    from streams.settings import Settings

    runner = KafkaClickHouseSink(Settings(), f"chdb://{tmp_path / 'ch'}")
    registry = CollectorRegistry()
    registry.register(SinkCollector(runner))
    runner.stats.update(write_failures=3, pending=1200, outage=True)
    get = registry.get_sample_value
    assert get("slawatch_sink_failures_total", {"sink": "clickhouse"}) == 3
    assert get("slawatch_sink_backlog_rows", {"sink": "clickhouse"}) == 1200
    assert get("slawatch_sink_outage", {"sink": "clickhouse"}) == 1


def test_consumer_lag_gauge_reports_what_the_worker_gives_per_partition():
    m = WorkerMetrics(load_policies(DEFAULT_RULES))
    m.bind(lambda: [], lambda: 0, lambda: {("support.tickets", 1): 250, ("support.conversations", 0): 0})
    assert value(m, "slawatch_consumer_lag_messages", topic="support.tickets", partition="1") == 250
    assert value(m, "slawatch_consumer_lag_messages", topic="support.conversations", partition="0") == 0
