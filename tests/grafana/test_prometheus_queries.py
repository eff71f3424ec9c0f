"""Every PromQL panel query of the dashboards returns data on a real Prometheus (Debian binary,
the shipped rules file loaded unchanged) scraping a real `slawatch worker` (job `slawatch`) and
a real `slawatch sink` (job `slawatch-sink`), both on an embedded tansu broker, fed live
generated traffic: the last 20 minutes of a busy day in a few bursts a second apart (so the
counters move between scrapes), plus a customer left waiting past target, a late event, a
duplicate and a broken message.

Variables are substituted the way the dashboards' "All" option does (`.*`), and again with a
real channel, and `$__rate_interval` with 1m.
"""
from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from streams.broker import EmbeddedBroker
from streams.generator import GeneratorConfig, generate
from tests.integration.test_live_pipeline import Worker, free_port, produce
from tests.monitoring.daemons import Daemon, start_prometheus

from .dashboards import queries_of
from .macros import ALL, expand_promql

ROOT = Path(__file__).resolve().parents[2]
QUERIES = [(label, t) for label, _, t in queries_of("prometheus")]
VARIABLES = ("channel", "queue", "priority", "tier")
DEADLINE_S = 30


def _iso(t: datetime) -> str:
    return t.isoformat()


def traffic(now: datetime) -> list[list[dict]]:
    """Bursts of events in event-time order: generated chat and ticket traffic of the last 20
    minutes, then customers waiting since 10 minutes ago and since now (no reply)."""
    start = now - timedelta(minutes=20)
    events = [e for e in generate(GeneratorConfig(seed=29, start=start, days=20 / 1440,
                                                  conversations_per_day=40_000, tickets_per_day=4_000,
                                                  duplicate_rate=0.02))
              if datetime.fromisoformat(e["occurred_at"]) <= now - timedelta(seconds=5)]
    events.sort(key=lambda e: datetime.fromisoformat(e["occurred_at"]))
    waiting = [{"event_id": f"grafana-wait-{i}", "type": "conversation.started",
                "occurred_at": _iso(now - timedelta(minutes=m)), "conversation_id": f"CV-wait-{i}",
                "channel": "web", "queue": "payment", "customer_id": f"U-wait-{i}"}
               for i, m in enumerate((10, 3))]
    n = 8
    size = math.ceil(len(events) / n)
    bursts = [events[i * size:(i + 1) * size] for i in range(n)]
    bursts[0] = waiting[:1] + bursts[0]
    bursts[-1] = bursts[-1] + waiting[1:]
    return bursts


class Sink:
    """`slawatch sink` on the worker's output topics, into a chdb directory, serving /metrics."""

    def __init__(self, kafka: EmbeddedBroker, worker: Worker, tmp: Path) -> None:
        self.port = free_port()
        t = worker.topics
        env = dict(os.environ, PYTHONPATH=str(ROOT), SLAWATCH_BROKER_URL=kafka.url,
                   SLAWATCH_EMBEDDED="true", SLAWATCH_APP_ID=worker.app_id,
                   SLAWATCH_SLA_EVENTS_TOPIC=t["sla.events"], SLAWATCH_METRICS_TOPIC=t["sla.metric-windows"],
                   SLAWATCH_DEAD_LETTER_TOPIC=t["support.dead-letter"],
                   SLAWATCH_BROKER_SESSION_TIMEOUT_S="2", SLAWATCH_SINK_HTTP_PORT=str(self.port))
        env.pop("SLAWATCH_API_TOKEN", None)
        self.log = tmp / "sink.log"
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "sink", "--clickhouse",
                                      f"chdb://{tmp / 'ch'}"], cwd=ROOT, env=env,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        self.url = f"http://127.0.0.1:{self.port}/metrics"

    def wait_ready(self, timeout: float = 60) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                urllib.request.urlopen(self.url, timeout=1).read()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError("sink did not come up:\n" + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def wait_for_events(worker: Worker, n: int, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while worker.status()["totals"]["events"] < n:
        assert time.monotonic() < end, f"worker consumed nothing in {timeout}s: {worker.status()}"
        time.sleep(0.2)


def start_prometheus_on(tmp: Path, worker_port: int, sink_port: int) -> Daemon:
    """The shipped rules as they are, scraping one worker (job slawatch) and the sink."""
    return start_prometheus(tmp, [
        {"job_name": "slawatch", "static_configs": [{"targets": [f"127.0.0.1:{worker_port}"]}]},
        {"job_name": "slawatch-sink", "static_configs": [{"targets": [f"127.0.0.1:{sink_port}"]}]},
    ])


async def produce_raw(kafka: EmbeddedBroker, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.url)
    await producer.start()
    try:
        for v in values:
            await producer.send_and_wait(topic, v, key=b"broken")
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory):
    """A Prometheus that has scraped a worker and a sink through a burst of live traffic."""
    tmp = tmp_path_factory.mktemp("grafana-prom")
    started = time.monotonic()
    with EmbeddedBroker() as kafka:
        worker = Worker(kafka, tmp)
        sink = prom = None
        try:
            worker.start()
            sink = Sink(kafka, worker, tmp)
            prom = start_prometheus_on(tmp, worker.port, sink.port)
            sink.wait_ready()
            prom.wait_ready()
            now = datetime.now(timezone.utc)
            bursts = traffic(now)
            # The worker joins its group and restores state before it consumes: the first burst
            # waits for that, so the following ones land in separate scrapes.
            asyncio.run(produce(kafka, worker, bursts[0]))
            wait_for_events(worker, len(bursts[0]))
            for burst in bursts[1:]:
                time.sleep(1.0)
                asyncio.run(produce(kafka, worker, burst))
            # A late event (older than the watermark) and a message that is not an event.
            late = {"event_id": "grafana-late-1", "type": "conversation.message",
                    "occurred_at": _iso(now - timedelta(minutes=8)), "conversation_id": "CV-wait-0",
                    "message_id": "m-late", "author_role": "customer", "text": "still there?"}
            asyncio.run(produce(kafka, worker, [late, bursts[0][1]]))
            asyncio.run(produce_raw(kafka, worker.topics["support.conversations"], [b"{oops"]))
            time.sleep(3.0)  # a few more scrapes and rule evaluations after the last burst
            yield prom, time.monotonic() - started
        finally:
            for d in (prom, sink, worker):
                if d is not None:
                    d.stop()


def query(prom: Daemon, expr: str) -> list[dict]:
    url = f"{prom.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as r:
        body = json.loads(r.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def has_data(result: list[dict]) -> bool:
    return any(not math.isnan(float(s["value"][1])) for s in result)


def test_there_are_prometheus_queries_on_worker_and_sink_metrics():
    exprs = "\n".join(t["expr"] for _, t in QUERIES)
    for metric in ("slawatch_awaiting_first_response", "slawatch_oldest_wait_seconds",
                   "slawatch_first_response_seconds_bucket", "slawatch_sla_records_total",
                   "slawatch_events_received_total", "slawatch_late_events_total",
                   "slawatch_dead_letters_total", "slawatch_watermark_lag_seconds",
                   "slawatch_sink_backlog_rows", "slawatch_sink_outage"):
        assert metric in exprs, f"no panel shows {metric}"


def test_every_promql_query_returns_data(prometheus, record_property):
    prom, setup_s = prometheus
    every_all = {v: ALL for v in VARIABLES}
    web = dict(every_all, channel=["web"])
    pending = {label: t["expr"] for label, t in QUERIES}
    results = {}
    deadline = time.monotonic() + DEADLINE_S
    while pending and time.monotonic() < deadline:
        for label, expr in list(pending.items()):
            got = [query(prom, expand_promql(expr, values)) for values in (every_all, web)]
            results[label] = got
            if all(has_data(r) for r in got):
                del pending[label]
        if pending:
            time.sleep(1.0)
    record_property("measure:grafana promql setup s", round(setup_s, 1))
    assert not pending, "queries without data (All / channel=web):\n" + "\n".join(
        f"{label}: {expand_promql(pending[label], every_all)} -> {results.get(label)}" for label in pending)
