"""Hostile input (tests/faults/fuzz.py): nothing crashes, every invalid message becomes a dead
letter with its code, and the valid ones give exactly the replay of the valid ones alone.

- 10^5 seeded messages through the worker's `PartitionProcessor`s in-process, batch by batch as
  the worker drives them, with a fixed wall clock (reproducible to the byte);
- 10^4 (10^5 with SLAWATCH_SOAK=1) through a real worker subprocess on the real broker: the
  dead-letter topic holds one entry per invalid message, under its topic/partition/offset, with
  its code, reason and the raw bytes.
"""
from __future__ import annotations

import asyncio
import base64
import zlib
from collections import Counter
from datetime import datetime, timedelta, timezone

import orjson
import pytest
from aiokafka import AIOKafkaProducer

from streams.core.policy import load_policies
from streams.core.timeutil import US, to_us
from streams.processor import PartitionProcessor
from streams.replay import replay_lines
from streams.settings import DEFAULT_RULES
from tests.integration.test_live_pipeline import Worker, consume_all, wait_watermark_past

from . import SOAK
from .fuzz import Message, fuzzed_messages
from .harness import wait_assigned, wait_received

SEED = 20261123
PARTITIONS = 4
BATCH = 2000


def valid_replay(msgs: list[Message]) -> tuple[dict[str, dict], int]:
    """The replay's records of the valid messages alone, up to the newest valid event."""
    lines = [m.raw for m in msgs if m.code is None]
    newest = max(to_us(datetime.fromisoformat(orjson.loads(raw)["occurred_at"])) for raw in lines)
    result = replay_lines(lines, load_policies(DEFAULT_RULES), newest)
    return {r.record_id: r.to_dict(extended=True) for r in result.records}, newest


def test_1e5_fuzzed_messages_through_the_partition_processors():
    msgs, wall_dt = fuzzed_messages(SEED, 100_000, datetime(2026, 11, 2, tzinfo=timezone.utc))
    codes = Counter(m.code for m in msgs)
    assert len(msgs) == 100_000 and len(codes) == 11 and codes[None] > 50_000, codes
    expected, newest = valid_replay(msgs)

    wall = to_us(wall_dt)
    policies = load_policies(DEFAULT_RULES)
    procs = {(kind, p): PartitionProcessor(f"support.{kind}s", p, kind, policies,
                                           lateness_us=10 * US, idle_after_us=US,
                                           future_skew_us=300 * US)
             for kind in ("conversation", "ticket") for p in range(PARTITIONS)}
    next_offset: Counter = Counter()
    sent: dict[tuple[str, int, int], Message] = {}
    records, dead = [], []

    def step(wall_us: int) -> None:
        frontier = max(((p.sequencer.newest, p.sequencer.wall_at_newest) for p in procs.values()
                        if p.sequencer.newest is not None), default=None)
        for p in procs.values():
            p.tick(wall_us, frontier)
            out = p.drain()
            records.extend(out.records)
            dead.extend(out.dead_letters)

    for i in range(0, len(msgs), BATCH):   # as the worker: a batch in, a tick, outputs out
        for m in msgs[i:i + BATCH]:
            part = zlib.crc32(m.key) % PARTITIONS
            p = procs[(m.kind, part)]
            offset = next_offset[(m.kind, part)]
            next_offset[(m.kind, part)] += 1
            sent[(p.topic, part, offset)] = m
            p.ingest(offset, m.raw, wall)
        step(wall)
    step(wall + 3600 * US)   # input idle for an hour: everything held is applied

    got = {r.record_id: r.to_dict(extended=True) for r in records if r.at_us <= newest}
    assert len(got) == len([r for r in records if r.at_us <= newest]), "a record came out twice"
    assert got == expected
    assert len(expected) > 20_000

    by_key = {(d.topic, d.partition, d.offset): d for d in dead}
    assert len(by_key) == len(dead), "one dead letter per message"
    invalid = {k: m for k, m in sent.items() if m.code is not None}
    assert by_key.keys() == invalid.keys()
    for k, d in by_key.items():
        assert d.code == invalid[k].code, (k, d.code, d.reason, invalid[k].raw[:200])
        assert d.reason and d.raw == invalid[k].raw
    assert sum(p.counts["received"] for p in procs.values()) == len(msgs)


async def produce_messages(worker: Worker, msgs: list[Message]) -> dict[tuple[str, int, int], Message]:
    """Send each message to its kind's topic, keyed; returns them by (topic, partition, offset)."""
    topics = {"conversation": worker.topics["support.conversations"],
              "ticket": worker.topics["support.tickets"]}
    producer = AIOKafkaProducer(bootstrap_servers=worker.kafka.url, linger_ms=20,
                                max_request_size=4 << 20)
    await producer.start()
    try:
        futs = [(m, await producer.send(topics[m.kind], m.raw, key=m.key)) for m in msgs]
        out = {}
        for m, fut in futs:
            meta = await fut
            out[(meta.topic, meta.partition, meta.offset)] = m
        return out
    finally:
        await producer.stop()


@pytest.mark.slow
def test_fuzzed_messages_through_a_live_worker(broker, tmp_path):
    total = 100_000 if SOAK else 10_000
    now = datetime.now(timezone.utc)
    start = (now - timedelta(days=3)).replace(hour=0, minute=0, second=0, microsecond=0)
    msgs, _ = fuzzed_messages(SEED + 1, total, start, wall=now)
    expected, newest = valid_replay(msgs)
    w = Worker(broker, tmp_path).start()
    try:
        wait_assigned(w, 2 * PARTITIONS)   # a stream, not a backlog: see docs/reliability.md
        sent = asyncio.run(produce_messages(w, msgs))
        wait_received(w, len(msgs))
        wait_watermark_past(w, newest, timeout=180)
        raw_records = asyncio.run(consume_all(broker, w.topics["sla.events"]))
        letters = asyncio.run(consume_all(broker, w.topics["support.dead-letter"]))
        assert w.proc.poll() is None, "the worker died"
        st = w.status()
    finally:
        w.stop()
    got = {r["record_id"]: r for r in raw_records
           if to_us(datetime.fromisoformat(r["at"].replace("Z", "+00:00"))) <= newest}
    diff = {k for k in got.keys() | expected.keys() if got.get(k) != expected.get(k)}
    assert not diff, (len(diff), "late", st["totals"]["late"], sorted(diff)[:3])

    invalid = {k: m for k, m in sent.items() if m.code is not None}
    by_key = {(d["source_topic"], d["source_partition"], d["source_offset"]): d for d in letters}
    assert len(by_key) == len(letters) == len(invalid)
    assert by_key.keys() == invalid.keys()
    for k, d in by_key.items():
        assert d["code"] == invalid[k].code, (k, d["code"], d["reason"])
        assert d["reason"] and base64.b64decode(d["raw_base64"]) == invalid[k].raw
    assert st["totals"]["events"] == len(msgs)
