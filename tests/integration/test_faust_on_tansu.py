"""How faust-streaming 0.15.3 behaves on the embedded tansu broker, proven with real workers.

Each test runs ``tests/integration/faust_probe_app.py`` as a separate worker process
(``python -m tests.integration.faust_probe_app worker --without-web``), feeds it with
aiokafka, reads what it reports (JSON lines) and what it wrote to Kafka (changelog
topics, committed offsets), and kills it with SIGKILL where a crash is the point.

Findings (numbers are recorded as ``measure:*`` and printed after the run):
  a. table state is rebuilt from the changelog after SIGKILL, but only with
     ``streams.tansu_compat.enable()``; without it recovery stops early;
  b. ``noack_take`` yields Event objects (topic/partition/offset on ``event.message``);
     ``await stream.ack(event)`` acks; un-acked events are re-delivered after a kill;
  c. after ``noack_take`` there is no current event: ``table[k] = v`` raises, and
     ``use_partitioner=True`` sends by hash of the *serialized table key*; writing the
     store + ``table.send_changelog(event.message.partition, ...)`` keeps table
     partition == source partition;
  d. one agent on two topics works, and Faust's assignor gives partition p of both
     topics and of the table changelog to the same worker;
  e. ``@app.timer`` keeps firing while the input is idle;
  f. raw aiokafka vs Faust ``noack_take(1000, 0.05)`` throughput.
"""
from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from streams.broker import EmbeddedBroker

ROOT = Path(__file__).resolve().parents[2]
PARTITIONS = 4
ALL = list(range(PARTITIONS))


# -- harness ---------------------------------------------------------------------------
class ProbeWorker:
    """One ``faust_probe_app`` worker process and its report file."""

    def __init__(self, broker: EmbeddedBroker, workdir: Path, name: str, **probe_env: Any) -> None:
        self.name = name
        self.out = workdir / f"{name}.jsonl"
        self.log = workdir / f"{name}.log"
        self.out.write_bytes(b"")
        env = dict(os.environ, PYTHONPATH=str(ROOT), PROBE_BROKER=broker.kafka_url, PROBE_OUT=str(self.out))
        env.update({f"PROBE_{key.upper()}": str(value) for key, value in probe_env.items()})
        self.started = time.monotonic()
        with open(self.log, "wb") as log:
            # --without-web: the CLI's default (--with-web) overrides web_enabled=False
            # in the App settings and binds 0.0.0.0:6066, which two workers cannot share.
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.integration.faust_probe_app", "worker", "--without-web", "-l", "info"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )

    def lines(self, kind: str | None = None) -> list[dict]:
        # The worker may be mid-write: only lines that already end in "\n" are complete.
        complete = self.out.read_bytes().split(b"\n")[:-1]
        lines = [orjson.loads(raw) for raw in complete]
        return [line for line in lines if kind is None or line["kind"] == kind]

    def rows(self) -> list[list]:
        """[topic, partition, offset, key] of every event a batch reported."""
        return [row for line in self.lines("batch") for row in line["rows"]]

    def wait_for(self, predicate: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if self.proc.poll() is not None:
                pytest.fail(f"worker {self.name} exited ({self.proc.returncode}) waiting for {what}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                pytest.fail(f"worker {self.name}: no {what} within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.05)

    def ready(self, timeout: float = 30.0) -> dict:
        """The first 'ready' report: sent after table recovery, before streams resume."""
        return self.wait_for(lambda: self.lines("ready")[:1], timeout, "ready")[0]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()  # SIGKILL: no graceful shutdown, no final commit
        self.proc.wait(timeout=10)

    def log_tail(self, limit: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-limit:]


@pytest.fixture
def start_worker(broker: EmbeddedBroker, tmp_path: Path) -> Iterator[Callable[..., ProbeWorker]]:
    workers: list[ProbeWorker] = []

    def start(name: str, **probe_env: Any) -> ProbeWorker:
        worker = ProbeWorker(broker, tmp_path, name, **probe_env)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.kill()


def run(coro_factory: Callable[[], Any], timeout: float = 60.0) -> Any:
    return asyncio.run(asyncio.wait_for(coro_factory(), timeout))


def produce(broker: EmbeddedBroker, topic: str, items: list[tuple[bytes, bytes, int | None]]) -> list[tuple[int, int]]:
    """Send (key, value, partition-or-None) and return each record's (partition, offset)."""

    async def go() -> list[tuple[int, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=broker.url, linger_ms=5)
        await producer.start()
        try:
            futures = [await producer.send(topic, value, key=key, partition=p) for key, value, p in items]
            return [(m.partition, m.offset) for m in await asyncio.gather(*futures)]
        finally:
            await producer.stop()

    return run(go)


def read_topic(broker: EmbeddedBroker, topic: str) -> list:
    """Every record of a topic, read to the end offsets (shim-corrected)."""

    async def go() -> list:
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.url, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in ALL]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            records: list = []
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for batch in (await consumer.getmany(timeout_ms=300)).values():
                    records.extend(batch)
            return records
        finally:
            await consumer.stop()

    return run(go)


def committed_and_end(broker: EmbeddedBroker, group: str, topic: str) -> tuple[dict, dict]:
    """The group's committed offsets (None = never committed) and the end offsets."""

    async def go() -> tuple[dict, dict]:
        # A consumer with group_id that never subscribes only sends OffsetFetch.
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.url, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in ALL]
            committed = {tp.partition: await consumer.committed(tp) for tp in tps}
            ends = {tp.partition: offset for tp, offset in (await consumer.end_offsets(tps)).items()}
            return committed, ends
        finally:
            await consumer.stop()

    return run(go)


def all_committed(broker: EmbeddedBroker, group: str, topic: str) -> bool:
    """True once the group's committed offset is the end offset of every partition.

    A partition that never had a record has nothing to commit (committed stays None).
    """
    committed, ends = committed_and_end(broker, group, topic)
    return all(committed[p] == ends[p] or (ends[p] == 0 and committed[p] is None) for p in ALL)


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout} s")
        time.sleep(0.1)


def expected_table(topic: str, items: list, placed: list) -> dict:
    """What the probe's table must hold: key -> {"topic/partition": [offsets]}."""
    table: dict = defaultdict(lambda: defaultdict(list))
    for (key, _value, _p), (partition, offset) in zip(items, placed):
        table[key.decode()][f"{topic}/{partition}"].append(offset)
    return {k: {tp: sorted(o) for tp, o in v.items()} for k, v in table.items()}


def normalized(table: dict) -> dict:
    return {k: {tp: sorted(o) for tp, o in v.items()} for k, v in table.items()}


def json_key_partition(key: str) -> int:
    """Where Kafka's default partitioner puts a table key serialized as JSON (Faust's default)."""
    return DefaultPartitioner()(orjson.dumps(key), ALL, ALL)


# -- a. recovery after SIGKILL ---------------------------------------------------------
def test_table_recovered_from_changelog_after_sigkill(broker, topic_prefix, start_worker, record_property) -> None:
    topic = f"{topic_prefix}-in"
    app_id = topic_prefix
    broker.create_topics({topic: PARTITIONS})

    # Produced before the worker starts, so it reads them in full noack_take batches of
    # 100: each batch's table writes leave as multi-record changelog batches, the shape
    # that tansu's ListOffsets gets wrong (the no-shim check below relies on it).
    items = [(f"k{i % 50}".encode(), b"{}", None) for i in range(2000)]
    placed = produce(broker, topic, items)

    first = start_worker("w1", app_id=app_id, topics=topic)
    first.ready()
    record_property("measure:faust worker start-up, empty state (s)", time.monotonic() - first.started)
    first.wait_for(lambda: len({(r[1], r[2]) for r in first.rows()}) >= 2000, 60, "2000 processed events")
    # Everything acked must be committed before the kill, or the next worker would
    # legitimately re-process (that case is test b).
    wait_until(lambda: all_committed(broker, app_id, topic), 15, "offsets committed")
    changelog = f"{app_id}-seen-changelog"
    wait_until(lambda: len(read_topic(broker, changelog)) >= 2000, 15, "changelog flushed")
    first.kill()
    expected = expected_table(topic, items, placed)

    # Without the shim tansu's short end offsets stop recovery early: state is lost.
    unshimmed = start_worker("w2-no-shim", app_id=app_id, topics=topic, tansu_compat=0)
    partial = normalized(unshimmed.ready()["table"])
    recovered_offsets = sum(len(o) for v in partial.values() for o in v.values())
    record_property("measure:events still in the table recovered WITHOUT the shim (of 2000)", recovered_offsets)
    assert recovered_offsets < 2000, "tansu end offsets are right now? then drop streams/tansu_compat.py"
    unshimmed.kill()

    # With the shim the whole table comes back from the changelog.
    second = start_worker("w3", app_id=app_id, topics=topic)
    ready = second.ready()
    record_property("measure:faust worker start-up + recovery of 2000 changelog records (s)",
                    time.monotonic() - second.started)
    assert normalized(ready["table"]) == expected
    assert ready["assigned"] and [topic, 0] in ready["assigned"]

    # Acked + committed events are not re-delivered: only new ones are processed.
    more = [(f"k{i}".encode(), b"{}", None) for i in range(40)]
    more_placed = produce(broker, topic, more)
    second.wait_for(lambda: len(second.rows()) >= 40, 30, "40 new events")
    time.sleep(0.5)
    assert sorted((r[1], r[2]) for r in second.rows()) == sorted(more_placed)


# -- b. noack_take batches, ack, re-delivery --------------------------------------------
def test_noack_take_batches_ack_and_redelivery_after_sigkill(broker, topic_prefix, start_worker) -> None:
    topic = f"{topic_prefix}-in"
    app_id = topic_prefix
    broker.create_topics({topic: PARTITIONS})

    # First worker never acks.
    first = start_worker("noack", app_id=app_id, topics=topic, ack=0)
    first.ready()
    items = [(f"k{i % 10}".encode(), b"{}", None) for i in range(40)]
    placed = produce(broker, topic, items)
    first.wait_for(lambda: len(first.rows()) >= 40, 30, "40 events")
    # Each batch element is an Event: the probe reported its message.topic/partition/offset.
    assert sorted((r[1], r[2]) for r in first.rows()) == sorted(placed)
    assert {r[0] for r in first.rows()} == {topic}
    assert all(len(line["rows"]) <= 100 for line in first.lines("batch"))  # noack_take(max_=100)
    time.sleep(1.0)  # five commit intervals: an acked event would be committed by now
    committed, _ends = committed_and_end(broker, app_id, topic)
    assert all(committed[p] is None for p in ALL), committed
    first.kill()

    # Second worker acks (the plain sync ``event.ack()``; the other tests use
    # ``await stream.ack(event)``): it gets the very same events again, then commits them.
    second = start_worker("ack", app_id=app_id, topics=topic, ack="event")
    second.ready()
    second.wait_for(lambda: len(second.rows()) >= 40, 30, "re-delivered events")
    assert sorted((r[1], r[2]) for r in second.rows()) == sorted(placed)
    wait_until(lambda: all_committed(broker, app_id, topic), 10, "acked offsets committed")


# -- c. which partition a table write from a batch lands in -----------------------------
def test_table_changelog_partition_after_noack_take(broker, topic_prefix, start_worker) -> None:
    modes = ("plain", "partitioner", "explicit")
    topics = {mode: f"{topic_prefix}-{mode}" for mode in modes}
    broker.create_topics({t: PARTITIONS for t in topics.values()})
    workers = {mode: start_worker(mode, app_id=f"{topic_prefix}-{mode}", topics=topics[mode], table_mode=mode)
               for mode in modes}
    for worker in workers.values():
        worker.ready()
    # Keys placed on explicit partitions, deliberately not where their hash would go.
    items = [(f"k{i}".encode(), b"{}", i % PARTITIONS) for i in range(16)]
    source_partition = {f"k{i}": i % PARTITIONS for i in range(16)}
    for mode in modes:
        produce(broker, topics[mode], items)
    for worker in workers.values():
        worker.wait_for(lambda w=worker: len(w.rows()) >= 16, 30, "16 events")

    def changelog(mode: str, n: int) -> dict[str, int]:
        name = f"{topic_prefix}-{mode}-seen-changelog"
        records = wait_until(lambda: (r := read_topic(broker, name)) and len(r) >= n and r, 15, f"{mode} changelog")
        return {orjson.loads(r.key): r.partition for r in records}

    # plain: no current event in the agent task after noack_take -> every write fails.
    errors = [e for line in workers["plain"].lines("batch") for e in line["errors"]]
    assert errors and all("Cannot modify table key from outside of stream iteration" in e for e in errors)
    time.sleep(0.3)
    assert read_topic(broker, f"{topic_prefix}-plain-seen-changelog") == []

    # use_partitioner=True: partition = murmur2(serialized table key) -- the JSON bytes
    # b'"k3"', not the source key -- so it generally differs from the source partition.
    by_key = changelog("partitioner", 16)
    assert by_key == {key: json_key_partition(key) for key in source_partition}
    assert any(by_key[k] != source_partition[k] for k in by_key)

    # explicit: store write + send_changelog(event.message.partition): same partition.
    assert changelog("explicit", 16) == source_partition


# -- d. one agent, two topics, co-partitioned with the table ----------------------------
def test_one_agent_two_topics_copartitioned_across_two_workers(broker, topic_prefix, start_worker,
                                                               record_property) -> None:
    topic_a, topic_b = f"{topic_prefix}-a", f"{topic_prefix}-b"
    app_id = topic_prefix
    changelog = f"{app_id}-seen-changelog"
    broker.create_topics({topic_a: PARTITIONS, topic_b: PARTITIONS})
    started = time.monotonic()
    workers = [start_worker(f"w{i}", app_id=app_id, topics=f"{topic_a},{topic_b}") for i in range(2)]

    def settled() -> list[dict[str, set[int]]] | None:
        views = []
        for worker in workers:
            ready = worker.lines("ready")
            if not ready:
                return None
            owned: dict[str, set[int]] = defaultdict(set)
            for topic, partition in ready[-1]["assigned"]:
                owned[topic].add(partition)
            views.append(owned)
        inputs = [(t, p) for view in views for t in (topic_a, topic_b) for p in view[t]]
        if len(inputs) == 2 * PARTITIONS and len(set(inputs)) == len(inputs):
            return views
        return None

    views = wait_until(settled, 45, "a stable two-worker assignment")
    record_property("measure:two workers joined and assigned (s)", time.monotonic() - started)
    for view in views:
        assert view[topic_a] and view[topic_a] == view[topic_b] == view[changelog], view

    items = [(f"conv-{i}".encode(), b"{}", None) for i in range(40)]
    placed_a = produce(broker, topic_a, items)
    placed_b = produce(broker, topic_b, items)
    # The same key goes to the same partition number in both topics.
    assert [p for p, _ in placed_a] == [p for p, _ in placed_b]
    wait_until(lambda: sum(len(w.rows()) for w in workers) >= 80, 30, "80 events over two workers")
    for worker, view in zip(workers, views):
        seen = {(row[0], row[1]) for row in worker.rows()}
        assert seen <= {(t, p) for t in (topic_a, topic_b) for p in view[t]}, "a worker processed a foreign partition"
    source = {key.decode(): p for (key, _v, _p), (p, _o) in zip(items, placed_a)}
    records = wait_until(lambda: (r := read_topic(broker, changelog)) and len(r) >= 80 and r, 15, "changelog")
    assert {orjson.loads(r.key): r.partition for r in records} == source


# -- e. timers ---------------------------------------------------------------------------
def test_timer_fires_while_input_is_idle(broker, topic_prefix, start_worker) -> None:
    topic = f"{topic_prefix}-in"
    broker.create_topics({topic: PARTITIONS})
    worker = start_worker("timer", app_id=topic_prefix, topics=topic, timer=1)
    ready_at = worker.ready()["t"]
    worker.wait_for(lambda: len([x for x in worker.lines("tick") if x["t"] > ready_at]) >= 6, 10, "6 idle ticks")
    ticks = [x["t"] for x in worker.lines("tick") if x["t"] > ready_at]
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert 0.15 < statistics.median(gaps) < 0.35, gaps
    assert worker.rows() == []  # nothing consumed: the ticks came from the timer alone


# -- f. throughput ----------------------------------------------------------------------
THROUGHPUT_EVENTS = 200_000


def produce_bulk(broker: EmbeddedBroker, topic: str, n: int) -> None:
    """Small JSON events, round-robin over the partitions, sent as full batches (fast)."""

    async def go() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=broker.url, max_batch_size=256 * 1024)
        await producer.start()
        try:
            for partition in ALL:
                batch = producer.create_batch()
                for i in range(partition, n, PARTITIONS):
                    value = orjson.dumps({"id": i, "kind": "message", "conversation": f"c{i % 1000}",
                                          "at": 1_700_000_000 + i})
                    if batch.append(key=None, value=value, timestamp=None) is None:
                        batch.close()
                        await (await producer.send_batch(batch, topic, partition=partition))
                        batch = producer.create_batch()
                        batch.append(key=None, value=value, timestamp=None)
                batch.close()
                await (await producer.send_batch(batch, topic, partition=partition))
        finally:
            await producer.stop()

    run(go, timeout=120)


def aiokafka_rate(broker: EmbeddedBroker, topic: str, n: int) -> float:
    async def go() -> float:
        consumer = AIOKafkaConsumer(bootstrap_servers=broker.url, enable_auto_commit=False,
                                    max_partition_fetch_bytes=4 << 20, fetch_max_bytes=16 << 20)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in ALL]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            loads = orjson.loads
            done = 0
            started = time.monotonic()
            while done < n:
                for batch in (await consumer.getmany(timeout_ms=1000, max_records=10_000)).values():
                    for record in batch:
                        loads(record.value)
                    done += len(batch)
            return done / (time.monotonic() - started)
        finally:
            await consumer.stop()

    return run(go, timeout=120)


@pytest.mark.slow
def test_throughput_aiokafka_vs_faust_noack_take(broker, topic_prefix, start_worker, record_property) -> None:
    topic = f"{topic_prefix}-in"
    broker.create_topics({topic: PARTITIONS})
    produce_bulk(broker, topic, THROUGHPUT_EVENTS)

    raw = aiokafka_rate(broker, topic, THROUGHPUT_EVENTS)
    record_property("measure:aiokafka getmany + orjson.loads (events/s)", raw)

    # Faust: noack_take(1000, 0.05), loads each value, ack the whole batch. Default
    # commit_every (10k acks) as in production.
    worker = start_worker("throughput", app_id=topic_prefix, topics=topic, mode="throughput",
                          expect=THROUGHPUT_EVENTS, batch=1000, commit_every=10_000)
    worker.ready()
    result = worker.wait_for(lambda: worker.lines("throughput"), 90, "200k events through Faust")[0]
    record_property("measure:faust noack_take(1000,0.05) + loads + ack (events/s)", result["per_second"])
    assert result["events"] == THROUGHPUT_EVENTS
    assert raw > 20_000 and result["per_second"] > 1_000  # sanity floors only; the numbers are the point
    wait_until(lambda: all_committed(broker, topic_prefix, topic), 15, "acked batches committed")
