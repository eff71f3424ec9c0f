"""The event producer against a real Kafka-protocol broker (embedded tansu).

Checks the transport contract (shared/spec/events.md, "Transport"): each event arrives once, on
the topic of its type, keyed by its entity id, and all events of one entity sit in one
partition in the order they were produced.
"""
from __future__ import annotations

import asyncio
import itertools
import time
from collections import defaultdict

import orjson
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from streams.generator import GeneratorConfig, generate
from streams.producer import produce, produce_raw
from streams.settings import Settings

PARTITIONS = 4
N_EVENTS = 2000


def fresh_settings(broker, prefix: str) -> Settings:
    # Unique topic names: the broker is shared by the whole session.
    return Settings(broker_url=broker.url, conversations_topic=f"{prefix}.conversations",
                    tickets_topic=f"{prefix}.tickets", _env_file=None)


async def consume_all(settings: Settings, topics: list[str], expected: int,
                      timeout: float = 30.0, settle: float = 1.0) -> list:
    """Every record of `topics` from the beginning: stops `settle` s after `expected` have come
    (to catch extra copies) or fails after `timeout` s."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers(),
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records = []
        deadline = time.monotonic() + timeout
        settle_until = None
        while True:
            now = time.monotonic()
            if settle_until is not None and now >= settle_until:
                return records
            assert now < deadline, f"only {len(records)} of {expected} records within {timeout} s"
            batch = await consumer.getmany(timeout_ms=200, max_records=5000)
            for msgs in batch.values():
                records.extend(msgs)
            if settle_until is None and len(records) >= expected:
                settle_until = time.monotonic() + settle
    finally:
        await consumer.stop()


def entity_id(event: dict) -> str:
    return event["conversation_id" if event["type"].startswith("conversation.") else "ticket_id"]


def test_generated_events_arrive_once_keyed_and_in_entity_order(broker, topic_prefix):
    settings = fresh_settings(broker, topic_prefix)
    topics = [settings.conversations_topic, settings.tickets_topic]
    broker.create_topics({t: PARTITIONS for t in topics})
    # Some disorder so the input is not in event-time order: per-entity order is input order.
    cfg = GeneratorConfig(seed=11, days=1.0, disorder_seconds=20.0)
    events = list(itertools.islice(generate(cfg), N_EVENTS))
    assert len(events) == N_EVENTS
    assert any(e["type"].startswith("ticket.") for e in events)
    progress: list[int] = []

    async def main():
        n = await asyncio.wait_for(produce(events, settings, on_sent=progress.append), 60)
        return n, await consume_all(settings, topics, N_EVENTS)

    sent, records = asyncio.run(main())
    assert sent == N_EVENTS and progress and progress[-1] == N_EVENTS
    assert progress == sorted(progress)

    by_id = {e["event_id"]: e for e in events}
    assert len(by_id) == N_EVENTS  # no redeliveries in this input: ids identify events
    received = [(r.topic, r.partition, r.offset, r.key, orjson.loads(r.value)) for r in records]
    ids = [value["event_id"] for *_, value in received]
    assert sorted(ids) == sorted(by_id), "every event exactly once"

    partitions_of = defaultdict(set)
    log_of = defaultdict(list)   # (topic, entity) -> [(partition, offset, event_id)]
    for topic, partition, offset, key, value in received:
        assert value == by_id[value["event_id"]]           # the JSON round-trips unchanged
        want_topic = (settings.conversations_topic if value["type"].startswith("conversation.")
                      else settings.tickets_topic)
        assert topic == want_topic, value
        assert key == entity_id(value).encode()
        partitions_of[(topic, key)].add(partition)
        log_of[(topic, key)].append((partition, offset, value["event_id"]))
    assert all(len(p) == 1 for p in partitions_of.values()), "one entity, one partition"
    # Keys spread over the partitions (a constant key would pass the checks above trivially).
    for topic in topics:
        assert len({p for (t, _), ps in partitions_of.items() if t == topic for p in ps}) > 1

    produced_order = defaultdict(list)
    for e in events:
        produced_order[entity_id(e).encode()].append(e["event_id"])
    for (topic, key), log in log_of.items():
        assert [eid for *_, eid in sorted(log)] == produced_order[key], key


def test_paced_async_source_and_raw_bytes(broker, topic_prefix):
    settings = fresh_settings(broker, topic_prefix)
    topics = [settings.conversations_topic, settings.tickets_topic]
    broker.create_topics({t: PARTITIONS for t in topics})
    base = {"type": "conversation.message", "conversation_id": "c1", "message_id": "m",
            "author_role": "customer", "text": "hi"}
    # 0..10 s of event time at speedup 20: about 0.5 s of wall time.
    times = [0, 0, 2, 5, 5, 8, 10]

    async def source():
        for i, sec in enumerate(times):
            yield dict(base, event_id=f"p{i}", occurred_at=f"2026-11-02T09:00:{sec:02d}+08:00")

    async def main():
        t0 = time.monotonic()
        n = await asyncio.wait_for(produce(source(), settings, speedup=20), 30)
        elapsed = time.monotonic() - t0
        raw = [(b"bad", b"{not json"), (None, b"\xff\xfe")]
        await asyncio.wait_for(produce_raw(settings.tickets_topic, raw, settings), 30)
        return n, elapsed, await consume_all(settings, topics, len(times) + 2, settle=0.3)

    sent, elapsed, records = asyncio.run(main())
    assert sent == len(times)
    assert 0.45 <= elapsed < 5.0, elapsed
    paced = sorted((r for r in records if r.topic == settings.conversations_topic),
                   key=lambda r: r.offset)
    assert [orjson.loads(r.value)["event_id"] for r in paced] == [f"p{i}" for i in range(len(times))]
    assert len({r.partition for r in paced}) == 1 and all(r.key == b"c1" for r in paced)
    raw_back = {(r.key, r.value) for r in records if r.topic == settings.tickets_topic}
    assert raw_back == {(b"bad", b"{not json"), (None, b"\xff\xfe")}
