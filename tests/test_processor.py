"""The live partition processor without Kafka: ingest, clock, outputs, restart from state."""
from __future__ import annotations

import orjson

from streams.core.events import decode_event
from streams.core.policy import load_policies
from streams.core.state import load_entity
from streams.core.timeutil import US, to_us
from streams.generator import GeneratorConfig, generate
from streams.processor import PartitionProcessor
from streams.replay import replay_lines
from streams.settings import DEFAULT_RULES

POLICIES = load_policies(DEFAULT_RULES)


def proc(kind="conversation", **kw) -> PartitionProcessor:
    args = dict(lateness_us=10 * US, idle_after_us=US, future_skew_us=300 * US)
    args.update(kw)
    return PartitionProcessor("support.conversations" if kind == "conversation" else "support.tickets",
                              0, kind, POLICIES, **args)


def conversation_lines(seed=5, days=0.05, disorder=8.0):
    cfg = GeneratorConfig(seed=seed, days=days, tickets_per_day=0, disorder_seconds=disorder)
    return [orjson.dumps(e) for e in generate(cfg)]


def test_stream_with_disorder_equals_replay():
    lines = conversation_lines()
    p = proc()
    records = []
    wall = 0  # wall time far behind: never idle-advances, event time drives the clock
    for offset, line in enumerate(lines):
        p.ingest(offset, line, wall_us=10**18)  # far future wall: nothing is "from the future"
        if offset % 50 == 0:
            p.tick(wall)
            records += p.drain().records
    newest = max(to_us(decode_event(l).occurred_at) for l in lines)
    p.sequencer.advance_to(newest + 1)
    records += p.drain().records
    expected = replay_lines(lines, POLICIES).records
    key = lambda r: r.to_json(extended=True)
    assert sorted(map(key, records)) == sorted(map(key, expected))
    assert p.sequencer.late == 0 and len(expected) > 100


def test_invalid_future_and_wrong_topic_go_to_dead_letters():
    p = proc()
    now = 1_800_000_000 * US
    good = {"event_id": "e1", "type": "conversation.started", "occurred_at": "2027-01-15T08:00:00Z",
            "conversation_id": "c1", "channel": "web", "customer_id": "x"}
    future = dict(good, event_id="e2", occurred_at="2027-01-15T09:00:00Z")
    ticket = {"event_id": "e3", "type": "ticket.rated", "occurred_at": "2027-01-15T08:00:00Z",
              "ticket_id": "T1", "score": 5}
    assert p.ingest(0, b"{broken", now) == [0]
    assert p.ingest(1, orjson.dumps(future), now) == [1]
    assert p.ingest(2, orjson.dumps(ticket), now) == [2]
    assert p.ingest(3, orjson.dumps(good), now) == []       # held by the sequencer, not done yet
    dead = p.drain().dead_letters
    assert [(d.offset, d.code) for d in dead] == [(0, "invalid_json"), (1, "future_timestamp"),
                                                  (2, "wrong_topic")]
    body = orjson.loads(dead[1].to_json())
    assert body["source_offset"] == 1 and "ahead of the wall clock" in body["reason"]
    assert orjson.loads(__import__("base64").b64decode(body["raw_base64"]))["event_id"] == "e2"
    assert p.counts == {"received": 4, "invalid": 1, "future": 1, "wrong_topic": 1}


def test_restart_from_persisted_state_gives_each_record_once_by_id():
    lines = conversation_lines(seed=9, disorder=0)
    cut = len(lines) // 2
    first = proc()
    store: dict[str, bytes] = {}
    ids = []
    for offset, line in enumerate(lines[:cut]):
        first.ingest(offset, line, wall_us=10**18)
        first.tick(0)
    out = first.drain()
    ids += [r.record_id for r in out.records]
    store.update({k: v for k, v in out.states.items() if v is not None})
    clock = first.clock_state()
    # restart: a fresh processor restores, then re-reads from an earlier offset (uncommitted)
    second = proc()
    second.restore_clock(clock, wall_us=0)
    second.engine.restore(load_entity(v, second.engine) for v in store.values())
    for offset, line in enumerate(lines[cut - 40:], start=cut - 40):
        second.ingest(offset, line, wall_us=10**18)
        second.tick(0)
    newest = max(to_us(decode_event(l).occurred_at) for l in lines)
    second.sequencer.advance_to(newest + 1)
    ids += [r.record_id for r in second.drain().records]
    expected = sorted(r.record_id for r in replay_lines(lines, POLICIES).records)
    assert sorted(set(ids)) == expected


def test_metric_windows_close_behind_the_watermark():
    lines = conversation_lines(seed=2, disorder=0)
    p = proc()
    windows = []
    for offset, line in enumerate(lines):
        p.ingest(offset, line, wall_us=10**18)
        p.tick(0)
        windows += p.drain().windows
    assert windows, "a generated hour closes many one-minute windows"
    starts = [w[0] for w in windows]
    assert starts == sorted(starts)
    assert all(start + 60 * US <= p.sequencer.watermark for start in starts)
    started = sum(w[2].started for w in windows)
    assert 0 < started <= sum(1 for l in lines if b'"conversation.started"' in l)


def test_conversation_ratings_after_the_end_count_in_csat_once():
    """Customers rate after the chat ends: the rating reaches the window, a redelivery does not."""
    lines = conversation_lines(seed=4, disorder=0)
    ratings = [l for l in lines if b'"conversation.rated"' in l]
    assert ratings, "the generator rates some conversations"
    p = proc()
    windows = []
    for offset, line in enumerate(lines + ratings[:5]):  # five ratings redelivered
        p.ingest(offset, line, wall_us=10**18)
        p.tick(0)
        windows += p.drain().windows
    p.sequencer.advance_to(max(to_us(decode_event(l).occurred_at) for l in lines) + 120 * US)
    windows += p.drain().windows
    scores = [orjson.loads(l)["score"] for l in ratings]
    assert sum(w[2].csat_count for w in windows) == len(scores)
    assert sum(w[2].csat_sum for w in windows) == sum(scores)
