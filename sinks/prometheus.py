"""Live metrics of a worker in the Prometheus text format (prometheus-client).

Counters and histograms are fed from what each processing step produced (records, dead letters,
per-processor counters); gauges are computed at scrape time from the worker's open entities and
clocks, so they are always current and cost nothing between scrapes.

Label sets are bounded: values that come from events (channel, queue) are mapped onto the
contract's known channels or a capped set of queues, anything else becomes "other", so hostile
or buggy input cannot explode the series count. No entity, customer or agent ids are labels.
With several workers every counter and gauge adds up across instances (each worker owns
disjoint partitions); `slawatch_oldest_wait_seconds` is aggregated with `max`.
"""
from __future__ import annotations

from typing import Any, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily

from streams.core.engine import RUNNING
from streams.core.policy import PolicySet
from streams.core.records import SlaRecord
from streams.core.timeutil import US

KNOWN_CHANNELS = frozenset(("web", "app", "phone", "wechat", "email", "social", "other"))
MAX_QUEUES = 50
_BASE_BUCKETS = (1, 5, 10, 15, 20, 30, 45, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 28800,
                 86400, 172800, 259200, 604800)


def buckets_for(policies: PolicySet, metric: str) -> tuple[float, ...]:
    """Standard buckets plus a boundary at every configured target of `metric`, so the share
    answered within target is an exact bucket ratio, not an interpolation."""
    targets = {t.target_us / US for p in policies.policies for m, t in p.targets.items() if m == metric}
    return tuple(sorted(set(_BASE_BUCKETS) | targets))


class _Bounded:
    """Maps free-form label values onto a capped set (first come, first kept)."""

    def __init__(self, known: Iterable[str] = (), limit: int = 0) -> None:
        self.known = set(known)
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str | None) -> str:
        if value is None:
            return ""
        if value in self.known or value in self.seen:
            return value
        if len(self.seen) < self.limit:
            self.seen.add(value)
            return value
        return "other"


class WorkerMetrics:
    def __init__(self, policies: PolicySet, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.channel = _Bounded(KNOWN_CHANNELS)
        self.queue = _Bounded(limit=MAX_QUEUES)
        self.received = Counter("slawatch_events_received", "Input messages received", ["kind"], registry=r)
        self.applied = Counter("slawatch_events_applied", "Events applied to the SLA engine", ["type"], registry=r)
        self.duplicates = Counter("slawatch_duplicates", "Events dropped as duplicates (same event_id)", ["kind"], registry=r)
        self.late = Counter("slawatch_late_events", "Events older than the watermark (applied, counted)", ["kind"], registry=r)
        self.dead = Counter("slawatch_dead_letters", "Messages written to the dead-letter topic", ["kind", "code"], registry=r)
        self.records = Counter("slawatch_sla_records", "SLA records by metric and status",
                               ["metric", "status", "policy", "channel", "priority"], registry=r)
        self.first_response = Histogram(
            "slawatch_first_response_seconds", "First response time (calendar seconds of the policy)",
            ["entity_kind", "channel", "policy"], buckets=buckets_for(policies, "first_response"), registry=r)
        self.resolution = Histogram(
            "slawatch_resolution_seconds", "Resolution time (calendar seconds of the policy)",
            ["entity_kind", "channel", "priority", "policy"], buckets=buckets_for(policies, "resolution"), registry=r)
        self.sink_failures = Counter("slawatch_sink_failures", "Failed sink writes (retried)", ["sink"], registry=r)
        self._seen: dict[int, dict[str, int]] = {}
        # Histogram children by label tuple (3 labels: first response, 4: resolution); label
        # sets are bounded (see above), and never removed, so the cache is too.
        self._children: dict[tuple, Any] = {}
        self._processors: callable = lambda: []
        self._wall: callable = lambda: 0
        self._lag: callable = lambda: {}
        self.last_event_wall_us = 0
        r.register(_LiveGauges(self))

    # ------------------------------------------------------------------ feeding
    def bind(self, processors, wall, lag=None) -> None:
        """Where the scrape-time gauges come from: a callable returning the live processors,
        one returning the wall clock in µs, and optionally one returning the consumer lag
        in messages per (topic, partition)."""
        self._processors = processors
        self._wall = wall
        if lag is not None:
            self._lag = lag

    def observe_records(self, records: Iterable[SlaRecord]) -> None:
        # Counts are summed per label set first and each histogram child is looked up once per
        # label set: `.labels()` (validation, lock, dict) per record was ~5 % of the worker.
        counts: dict[tuple, int] = {}
        children = self._children
        for rec in records:
            channel = self.channel(rec.channel)
            key = (rec.metric, rec.status, rec.policy, channel, rec.priority or "")
            counts[key] = counts.get(key, 0) + 1
            if rec.status in ("achieved", "completed_late"):
                if rec.metric == "first_response":
                    hkey = (rec.entity_kind, channel, rec.policy)
                elif rec.metric == "resolution":
                    hkey = (rec.entity_kind, channel, rec.priority or "", rec.policy)
                else:
                    continue
                child = children.get(hkey)
                if child is None:
                    metric = self.first_response if len(hkey) == 3 else self.resolution
                    child = children[hkey] = metric.labels(*hkey)
                child.observe(rec.elapsed_us / US)
        for key, n in counts.items():
            self.records.labels(*key).inc(n)

    def observe_dead_letters(self, kind: str, dead_letters) -> None:
        for dl in dead_letters:
            self.dead.labels(kind, dl.code).inc()

    def observe_processor(self, p) -> None:
        """Fold the processor's cumulative counters in as deltas since the last call."""
        last = self._seen.setdefault(id(p), {})
        stats = p.engine.stats
        current = {"received": p.counts["received"], "duplicates": stats.duplicates, "late": stats.late,
                   **{f"type:{t}": n for t, n in p.by_type.items()}}
        for key, value in current.items():
            delta = value - last.get(key, 0)
            if delta <= 0:
                continue
            last[key] = value
            if key == "received":
                self.received.labels(p.kind).inc(delta)
                self.last_event_wall_us = self._wall()
            elif key == "duplicates":
                self.duplicates.labels(p.kind).inc(delta)
            elif key == "late":
                self.late.labels(p.kind).inc(delta)
            else:
                self.applied.labels(key[5:]).inc(delta)

    def forget_processor(self, p) -> None:
        self._seen.pop(id(p), None)


class _LiveGauges:
    """Scrape-time gauges from the worker's open entities (one pass over them per scrape)."""

    def __init__(self, m: WorkerMetrics) -> None:
        self.m = m

    def collect(self):
        m = self.m
        wall = m._wall()
        awaiting = GaugeMetricFamily("slawatch_awaiting_first_response",
                                     "Open entities still waiting for a first response", labels=["channel", "queue"])
        oldest = GaugeMetricFamily("slawatch_oldest_wait_seconds",
                                   "Oldest wait for a first response (event time)", labels=["channel", "queue"])
        oldest_target = GaugeMetricFamily("slawatch_oldest_wait_target_seconds",
                                          "First-response target of that oldest waiting entity", labels=["channel", "queue"])
        breached = GaugeMetricFamily("slawatch_clocks_breached",
                                     "Running clocks already past their deadline", labels=["metric", "channel", "priority"])
        lag = GaugeMetricFamily("slawatch_watermark_lag_seconds", "Wall clock minus the partition's watermark",
                                labels=["topic", "partition"])
        held = GaugeMetricFamily("slawatch_held_events", "Events held until the watermark passes them",
                                 labels=["topic", "partition"])
        counts: dict[tuple, int] = {}
        waits: dict[tuple, tuple[float, float]] = {}
        breaching: dict[tuple, int] = {}
        for p in m._processors():
            seq = p.sequencer
            if seq.newest is not None:
                lag.add_metric([p.topic, str(p.partition)], max(0.0, (wall - seq.watermark) / US))
            held.add_metric([p.topic, str(p.partition)], seq.pending)
            wm = seq.watermark
            for e in p.engine.entities[p.kind].values():
                if e.ended_at is not None:
                    continue
                channel = m.channel(e.channel)
                clock = e.first_response
                if clock is not None and clock.state == RUNNING:
                    key = (channel, m.queue(e.queue))
                    counts[key] = counts.get(key, 0) + 1
                    # Elapsed on the clock's own calendar, as its target is: a business-hours
                    # queue must not look overdue at night.
                    wait = clock.elapsed_at(wm) / US
                    if key not in waits or wait > waits[key][0]:
                        waits[key] = (wait, clock.target.target_us / US)
                for c in (e.first_response, e.next_response, e.assignment, e.resolution):
                    if c is not None and c.state == RUNNING and c.breached_at is not None:
                        bkey = (c.metric, channel, e.priority or "")
                        breaching[bkey] = breaching.get(bkey, 0) + 1
        for key, n in counts.items():
            awaiting.add_metric(list(key), n)
            oldest.add_metric(list(key), waits[key][0])
            oldest_target.add_metric(list(key), waits[key][1])
        for key, n in breaching.items():
            breached.add_metric(list(key), n)
        last = GaugeMetricFamily("slawatch_last_event_timestamp_seconds",
                                 "Wall time the last input message was received")
        last.add_metric([], m.last_event_wall_us / US)
        # Kafka lag (messages behind the partition's end) next to the event-time lag above: a
        # growing backlog with a steady watermark lag means the worker is too slow, not the input.
        behind = GaugeMetricFamily("slawatch_consumer_lag_messages",
                                   "Messages in the partition not yet read by this worker",
                                   labels=["topic", "partition"])
        for (topic, partition), n in sorted(m._lag().items()):
            behind.add_metric([topic, str(partition)], n)
        return [awaiting, oldest, oldest_target, breached, lag, held, last, behind]


class SinkCollector:
    """Scrape-time metrics of a running Kafka -> ClickHouse sink (`slawatch sink`)."""

    def __init__(self, runner, name: str = "clickhouse") -> None:
        self.runner = runner
        self.name = name

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        stats, ch = self.runner.stats, self.runner.sink
        failures = CounterMetricFamily("slawatch_sink_failures", "Failed sink writes (retried)", labels=["sink"])
        failures.add_metric([self.name], stats["write_failures"])
        rows = CounterMetricFamily("slawatch_sink_rows_written", "Rows written", labels=["sink", "table"])
        for table, n in sorted(ch.rows_written_total.items()):
            rows.add_metric([self.name, table], n)
        messages = CounterMetricFamily("slawatch_sink_messages", "Messages consumed", labels=["sink"])
        messages.add_metric([self.name], stats["messages"])
        backlog = GaugeMetricFamily("slawatch_sink_backlog_rows", "Rows read but not yet written",
                                    labels=["sink"])
        backlog.add_metric([self.name], stats["pending"])
        outage = GaugeMetricFamily("slawatch_sink_outage", "1 while the sink cannot write", labels=["sink"])
        outage.add_metric([self.name], 1 if stats["outage"] else 0)
        return [failures, rows, messages, backlog, outage]


class QACollector:
    """Scrape-time metrics of the live QA stage (sinks/qa_stage.py) in `slawatch sink`.

    Labels are the configured reasons and check names (a fixed, small set), never agent ids:
    per-agent QA results live in ClickHouse behind the token-protected API, not on /metrics.
    """

    def __init__(self, stage) -> None:
        self.stage = stage

    def collect(self):
        from prometheus_client.core import CounterMetricFamily

        st = self.stage
        samples = CounterMetricFamily("slawatch_qa_samples", "QA samples drawn, by reason "
                                      "(a sample with several reasons counts under each)",
                                      labels=["reason"])
        for reason, n in sorted(st.samples_by_reason.items()):
            samples.add_metric([reason], n)
        checks = CounterMetricFamily("slawatch_qa_checks", "Automatic QA checks run on samples",
                                     labels=["check"])
        failures = CounterMetricFamily("slawatch_qa_check_failures",
                                       "Automatic QA checks failed, by check", labels=["check"])
        for check, n in sorted(st.checks_by_check.items()):
            checks.add_metric([check], n)
            failures.add_metric([check], st.check_failures_by_check.get(check, 0))
        early = CounterMetricFamily("slawatch_qa_early_samples", "Targeted samples written as "
                                    "soon as the conversation/ticket entered the pool, by reason "
                                    "(the day's draw later confirms them)", labels=["reason"])
        for reason, n in sorted(st.early_by_reason.items()):
            early.add_metric([reason], n)
        days = CounterMetricFamily("slawatch_qa_days_closed", "QA days drawn")
        days.add_metric([], st.live.stats["days_closed"])
        late = CounterMetricFamily("slawatch_qa_late_entities",
                                   "Conversations/tickets that ended on a day already drawn")
        late.add_metric([], st.live.stats["late_entities"])
        kept = GaugeMetricFamily("slawatch_qa_open_entities",
                                 "Conversations/tickets kept by the QA stage until their day is drawn")
        kept.add_metric([], st.live.open_entities)
        up = GaugeMetricFamily("slawatch_qa_stage_up", "1 while the live QA stage runs")
        up.add_metric([], 1 if st.stats.get("up") else 0)
        outage = GaugeMetricFamily("slawatch_qa_outage", "1 while a drawn QA day waits for ClickHouse")
        outage.add_metric([], 1 if st.stats["outage"] else 0)
        lag = GaugeMetricFamily("slawatch_qa_clock_seconds", "The QA clock (unix seconds)")
        if st.stats["clock_us"] is not None:
            lag.add_metric([], st.stats["clock_us"] / US)
        return [samples, early, checks, failures, days, late, kept, up, outage, lag]
