"""The live worker on a real Kafka-protocol broker (embedded tansu), as a real subprocess.

- streamed with disorder within the allowed lateness, it writes exactly the replay's records;
- killed with SIGKILL mid-stream and restarted, it still does (after de-dup by record id);
- with the input idle, a breach reaches `sla.events` within lateness + 1 s of its deadline.
"""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.broker import EmbeddedBroker
from streams.core.policy import load_policies, load_policies_text
from streams.core.timeutil import to_us
from streams.generator import GeneratorConfig, generate
from streams.replay import replay_lines
from streams.settings import DEFAULT_RULES
from tests.processes import ManagedProcess

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 4
LATENESS_S = 2.0


@pytest.fixture(scope="module")
def kafka():
    with EmbeddedBroker() as b:
        yield b


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Worker(ManagedProcess):
    """`slawatch worker` in a subprocess with its own topics, group and HTTP port."""

    def __init__(self, kafka: EmbeddedBroker, tmp: Path, rules: Path = DEFAULT_RULES, app_id: str | None = None):
        self.kafka = kafka
        tag = uuid.uuid4().hex[:8]
        self.app_id = app_id or f"slawatch-test-{tag}"
        self.topics = {name: f"{name}-{tag}" for name in
                       ("support.conversations", "support.tickets", "support.dead-letter",
                        "sla.events", "sla.metric-windows")}
        self.port = free_port()
        self.rules = rules
        self.log = tmp / f"worker-{tag}.log"
        self.proc: subprocess.Popen | None = None
        kafka.create_topics({t: PARTITIONS for t in self.topics.values()})

    def env(self) -> dict:
        t = self.topics
        return dict(os.environ, PYTHONPATH=str(ROOT),
                    SLAWATCH_BROKER_URL=self.kafka.url, SLAWATCH_EMBEDDED="true",
                    SLAWATCH_APP_ID=self.app_id, SLAWATCH_PARTITIONS=str(PARTITIONS),
                    SLAWATCH_CONVERSATIONS_TOPIC=t["support.conversations"],
                    SLAWATCH_TICKETS_TOPIC=t["support.tickets"],
                    SLAWATCH_DEAD_LETTER_TOPIC=t["support.dead-letter"],
                    SLAWATCH_SLA_EVENTS_TOPIC=t["sla.events"],
                    SLAWATCH_METRICS_TOPIC=t["sla.metric-windows"],
                    SLAWATCH_ALLOWED_LATENESS_S=str(LATENESS_S), SLAWATCH_IDLE_AFTER_S="0.5",
                    SLAWATCH_TICK_INTERVAL_S="0.1", SLAWATCH_BROKER_SESSION_TIMEOUT_S="2",
                    SLAWATCH_HTTP_PORT=str(self.port), SLAWATCH_RULES=str(self.rules))

    def start(self) -> "Worker":
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], cwd=ROOT,
                                     env=self.env(), stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()[-3000:]
            try:
                if self.status(timeout=1) is not None:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("worker did not come up:\n" + self.log.read_text()[-3000:])

    def status(self, timeout: float = 2) -> dict | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/status", timeout=timeout) as r:
            return orjson.loads(r.read())



async def produce(kafka: EmbeddedBroker, worker: Worker, events: list[dict]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.url, linger_ms=5)
    await producer.start()
    try:
        futs = []
        for ev in events:
            conv = ev["type"].startswith("conversation.")
            topic = worker.topics["support.conversations" if conv else "support.tickets"]
            key = (ev["conversation_id"] if conv else ev["ticket_id"]).encode()
            futs.append(await producer.send(topic, orjson.dumps(ev), key=key))
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


async def consume_all(kafka: EmbeddedBroker, topic: str, idle_s: float = 1.5,
                      with_timestamps: bool = False) -> list:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.url, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    out = []
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=int(idle_s * 1000), max_records=5000)
            if not batch:
                return out
            for msgs in batch.values():
                if with_timestamps:  # the producer's send time, in ms: when it reached the topic
                    out += [(m.timestamp / 1000, orjson.loads(m.value)) for m in msgs]
                else:
                    out += [orjson.loads(m.value) for m in msgs]
    finally:
        await consumer.stop()


def wait_watermark_past(worker: Worker, t_us: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = worker.status()
        # The published watermark: the records it released are confirmed in sla.events (the
        # plain one moves a broker round trip earlier, and a read then can miss the last ones).
        parts = [p for p in st["partitions"] if p.get("watermark")]
        if parts and all(p["published_watermark"] and to_us(datetime.fromisoformat(
                p["published_watermark"].replace("Z", "+00:00"))) > t_us for p in parts):
            return
        time.sleep(0.3)
    raise AssertionError(f"watermark did not pass {t_us}: {worker.status()}")


def generated(seed: int, days: float, disorder: float) -> list[dict]:
    return list(generate(GeneratorConfig(seed=seed, days=days, conversations_per_day=3000,
                                         tickets_per_day=600, disorder_seconds=disorder,
                                         duplicate_rate=0.01)))


def replay_records(events: list[dict]) -> tuple[dict[str, dict], int]:
    lines = [orjson.dumps(e) for e in events]
    newest = max(to_us(datetime.fromisoformat(e["occurred_at"])) for e in events)
    result = replay_lines(lines, load_policies(DEFAULT_RULES), newest)
    return {r.record_id: r.to_dict(extended=True) for r in result.records}, newest


def live_records(kafka, worker, newest) -> dict[str, dict]:
    raw = asyncio.run(consume_all(kafka, worker.topics["sla.events"]))
    got = {}
    for r in raw:
        if to_us(datetime.fromisoformat(r["at"].replace("Z", "+00:00"))) <= newest:
            got[r["record_id"]] = r
    return got


def test_stream_with_disorder_gives_exactly_the_replay_records(kafka, tmp_path):
    events = generated(seed=11, days=0.02, disorder=LATENESS_S * 0.7)
    expected, newest = replay_records(events)
    w = Worker(kafka, tmp_path).start()
    try:
        asyncio.run(produce(kafka, w, events))
        wait_watermark_past(w, newest)
        got = live_records(kafka, w, newest)
        st = w.status()
    finally:
        w.stop()
    assert len(expected) > 50
    assert got == expected
    assert st["totals"]["late"] == 0


def test_worker_killed_mid_stream_and_restarted_loses_and_repeats_nothing(kafka, tmp_path):
    events = generated(seed=12, days=0.02, disorder=LATENESS_S * 0.7)
    expected, newest = replay_records(events)
    half = len(events) // 2
    w = Worker(kafka, tmp_path).start()
    w2 = Worker.__new__(Worker)
    w2.__dict__.update(w.__dict__)
    w2.port, w2.proc = free_port(), None
    try:
        asyncio.run(produce(kafka, w, events[:half]))
        time.sleep(1.0)  # let it process part of the stream and write state
        w.kill()
        asyncio.run(produce(kafka, w, events[half:]))
        w2.start()
        wait_watermark_past(w2, newest)
        got = live_records(kafka, w2, newest)
    finally:
        w.stop()
        w2.stop()   # the restarted one too: a test must not leave a worker running
    assert got == expected


SHORT = """
policies:
  - name: chat
    match: {kind: conversation}
    targets: {first_response: {within: 3s}}
"""


def test_worker_starting_on_a_backlog_reads_the_state_changelog_once(kafka, tmp_path):
    """aiokafka hands out the first records while the rebalance listener is still restoring the
    partitions: the worker waits for that restore instead of reading the changelog again for
    each partition of its first batch (a second full read of the state, ~1 s each)."""
    events = generated(seed=14, days=0.01, disorder=0)
    w = Worker(kafka, tmp_path)
    asyncio.run(produce(kafka, w, events))  # the backlog is there before the worker starts
    w.start()
    try:
        deadline = time.monotonic() + 60
        while w.status()["totals"]["events"] < len(events):
            assert time.monotonic() < deadline, w.status()["totals"]
            time.sleep(0.2)
        st = w.status()
    finally:
        w.stop()
    assert st["restore"]["assignments"] == 1
    assert st["restore"]["changelog_reads"] == 1
    assert 0 < st["restore"]["seconds"] < 30


def test_breach_fires_within_lateness_plus_one_second_with_idle_input(kafka, tmp_path):
    rules = tmp_path / "short.yaml"
    rules.write_text(SHORT)
    load_policies_text(SHORT)
    w = Worker(kafka, tmp_path, rules=rules).start()
    try:
        time.sleep(1.0)  # worker settled; the input stays idle apart from one event
        start = datetime.now(timezone.utc)
        ev = {"event_id": uuid.uuid4().hex, "type": "conversation.started",
              "occurred_at": start.isoformat(), "conversation_id": "c-idle", "channel": "web",
              "customer_id": "x"}
        asyncio.run(produce(kafka, w, [ev]))
        deadline_wall = start.timestamp() + 3
        seen = None
        until = time.monotonic() + 20
        while seen is None and time.monotonic() < until:
            recs = asyncio.run(consume_all(kafka, w.topics["sla.events"], idle_s=0.3,
                                           with_timestamps=True))
            breached = [(ts, r) for ts, r in recs if r["status"] == "breached"]
            if breached:
                seen, rec = breached[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{w.port}/metrics", timeout=5) as r:
            metrics = r.read().decode()
    finally:
        w.stop()
    assert ('slawatch_sla_records_total{channel="web",metric="first_response",policy="chat",'
            'priority="",status="breached"} 1.0') in metrics
    assert 'slawatch_events_received_total{kind="conversation"} 1.0' in metrics
    assert seen is not None, "no breach record"
    assert rec["entity_id"] == "c-idle" and rec["elapsed_seconds"] == 3
    # the record reached the topic (its Kafka timestamp) within lateness + 1 s of the deadline
    assert seen - deadline_wall <= LATENESS_S + 1.0, seen - deadline_wall


def metric_value(worker: Worker, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def test_two_workers_split_the_partitions_and_their_numbers_add_up(kafka, tmp_path):
    events = generated(seed=13, days=0.02, disorder=LATENESS_S * 0.7)
    expected, newest = replay_records(events)
    w1 = Worker(kafka, tmp_path).start()
    w2 = Worker.__new__(Worker)
    w2.__dict__.update(w1.__dict__)
    w2.port = free_port()
    w2.start()
    try:
        deadline = time.monotonic() + 60     # both in the group, each with its share
        while True:
            shares = [_assigned(w) for w in (w1, w2)]
            if all(shares) and sum(shares) == 2 * PARTITIONS:
                break
            assert time.monotonic() < deadline, f"the two workers never split the partitions: {shares}"
            time.sleep(0.3)
        asyncio.run(produce(kafka, w1, events))
        for w in (w1, w2):
            wait_watermark_past(w, newest)
        got = live_records(kafka, w1, newest)
        received = [metric_value(w, "slawatch_events_received_total") for w in (w1, w2)]
        # Everything read: each worker reports its partitions, all at the end of the log.
        lag_lines = [line for w in (w1, w2) for line in _metric_lines(w, "slawatch_consumer_lag_messages")]
    finally:
        w1.stop()
        w2.stop()
    assert got == expected
    assert all(n > 0 for n in received) and sum(received) == len(events)
    assert len(lag_lines) == 2 * PARTITIONS and all(line.endswith(" 0.0") for line in lag_lines)


def _metric_lines(worker: Worker, name: str) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/metrics", timeout=5) as r:
        return [line for line in r.read().decode().splitlines() if line.startswith(name + "{")]


def _assigned(worker: Worker) -> int:
    """How many input topic-partitions the worker holds."""
    with urllib.request.urlopen(f"http://127.0.0.1:{worker.port}/health", timeout=5) as r:
        return orjson.loads(r.read())["partitions"]
