"""A worker starting on a backlog: a partition whose first fetch arrives a step after the others'
must not have its watermark moved past its own backlog by theirs (its events would all be
applied late, and warnings and breaches between them lost). Found by the fuzz test on the real
worker; this is the same situation driven deterministically through the processors."""
from __future__ import annotations

import zlib
from datetime import datetime

import orjson

from streams.core.policy import load_policies
from streams.core.timeutil import US, to_us
from streams.processor import PartitionProcessor
from streams.replay import replay_lines
from streams.settings import DEFAULT_RULES
from tests.integration.test_live_pipeline import generated


def test_a_partition_read_one_step_later_is_not_late():
    events = [e for e in generated(seed=21, days=0.05, disorder=0) if e["type"].startswith("conversation.")]
    policies = load_policies(DEFAULT_RULES)
    first, second = (PartitionProcessor("conv", p, "conversation", policies, lateness_us=2 * US,
                                        idle_after_us=US // 2, future_skew_us=300 * US) for p in (0, 1))
    mine = [e for e in events if zlib.crc32(e["conversation_id"].encode()) % 2 == 0]
    theirs = [e for e in events if zlib.crc32(e["conversation_id"].encode()) % 2 == 1]
    wall = 1_800_000_000 * US   # long after the events: a backlog
    records = []

    def step(wall_us: int) -> None:
        frontier = max(((p.sequencer.newest, p.sequencer.wall_at_newest) for p in (first, second)
                        if p.sequencer.newest is not None), default=None)
        for p in (first, second):
            p.tick(wall_us, frontier)
            records.extend(p.drain().records)

    for i, e in enumerate(theirs):          # step 1: only the other partition's fetch is in
        first.ingest(i, orjson.dumps(e), wall)
    step(wall)
    wall += US                              # a second later (> idle_after) this one's arrives
    for i, e in enumerate(mine):
        second.ingest(i, orjson.dumps(e), wall)
    step(wall)
    step(wall + 3600 * US)

    assert second.sequencer.late == 0 and first.sequencer.late == 0
    newest = max(to_us(datetime.fromisoformat(e["occurred_at"])) for e in events)
    expected = {r.record_id for r in replay_lines([orjson.dumps(e) for e in events], policies, newest).records}
    assert len(expected) > 100
    assert {r.record_id for r in records if r.at_us <= newest} == expected
