"""The supervisor status snapshot, checked by hand on a few hand-made events.

Timeline (seconds after T0 = Mon 2026-11-02 09:00 +08:00, rules/sla.yaml):

conversations partition (watermark T0+60):
  c1 web regular  started 0                     -> waiting 60 s, web-chat 15 s: over target
  c2 app          started 10, agent reply 25    -> answered in 15 s (app-chat 20 s: achieved)
  c3 web vip      started 20                    -> waiting 40 s, vip-chat 15 s: over target
  c4 web          started 30, ended 35          -> closed, not counted
  c5 web regular  started 50                    -> waiting 10 s, not over
  c6 app          started 45                    -> waiting 15 s, not over
tickets partition (watermark T0+120):
  t1 web urgent   created 0                     -> waiting 120 s, urgent-ticket 2 h
"""
from __future__ import annotations

import orjson
import pytest

from streams.core.metrics import WindowAggregate
from streams.core.policy import load_policies
from streams.core.timeutil import US, format_us, to_us
from streams.processor import PartitionProcessor
from streams.settings import DEFAULT_RULES
from streams.status import snapshot, tally_records
from tests.scenario import T0, ts

POLICIES = load_policies(DEFAULT_RULES)
T0_US = to_us(T0)
WALL = T0_US + 150 * US


def proc(topic: str, partition: int, kind: str) -> PartitionProcessor:
    return PartitionProcessor(topic, partition, kind, POLICIES, lateness_us=10 * US,
                              idle_after_us=US, future_skew_us=300 * US)


def started(cid, sec, channel="web", tier="regular", **kw):
    return {"event_id": f"{cid}-s", "type": "conversation.started", "occurred_at": ts(sec),
            "conversation_id": cid, "channel": channel, "customer_id": "C1",
            "customer_tier": tier, **kw}


def message(cid, sec, role, eid, author_id=None):
    return {"event_id": eid, "type": "conversation.message", "occurred_at": ts(sec),
            "conversation_id": cid, "message_id": eid, "author_role": role,
            "author_id": author_id, "text": "hi"}


def feed(p: PartitionProcessor, events, start_offset=0):
    for offset, ev in enumerate(events, start=start_offset):
        raw = ev if isinstance(ev, bytes) else orjson.dumps(ev)
        p.ingest(offset, raw, WALL)


@pytest.fixture
def world():
    conv = proc("support.conversations", 0, "conversation")
    tick = proc("support.tickets", 1, "ticket")
    idle = proc("support.tickets", 0, "ticket")   # no data yet: must not pull the watermark down
    feed(conv, [
        started("c1", 0),
        started("c2", 10, channel="app"),
        message("c2", 25, "agent", "c2-m1", author_id="A001"),
        started("c3", 20, tier="vip"),
        started("c4", 30),
        {"event_id": "c4-e", "type": "conversation.ended", "occurred_at": ts(35),
         "conversation_id": "c4", "outcome": "abandoned"},
        started("c6", 45, channel="app"),
        started("c5", 50),
        started("c5", 50),            # redelivered: a duplicate
        b"{broken",                   # dead letter
    ])
    conv.sequencer.advance_to(T0_US + 60 * US)
    # After the watermark: a late (but valid) event is applied at once and counted.
    feed(conv, [message("c1", 40, "system", "c1-sys")], start_offset=100)
    feed(tick, [{"event_id": "t1-c", "type": "ticket.created", "occurred_at": ts(0),
                 "ticket_id": "t1", "channel": "web", "priority": "urgent", "category": "payment",
                 "customer_id": "C9", "customer_tier": "regular"}])
    tick.sequencer.advance_to(T0_US + 120 * US)
    return conv, tick, idle


def test_watermark_partitions_and_totals(world):
    conv, tick, idle = world
    tallies: dict[str, int] = {}
    windows = []
    for p in world:
        out = p.drain()
        tally_records(tallies, out.records)
        windows += out.windows
    s = snapshot(world, WALL, tallies=tallies, recent_windows=windows)

    assert s["wall"] == format_us(WALL)
    # The minimum over partitions with data (the idle one has none).
    assert s["watermark"] == format_us(T0_US + 60 * US) == "2026-11-02T01:01:00Z"
    assert s["watermark_lag_s"] == 90.0
    assert s["partitions"] == [
        {"topic": "support.conversations", "partition": 0, "watermark": "2026-11-02T01:01:00Z",
         "published_watermark": None, "pending": 0, "late": 1, "open_entities": 5},
        {"topic": "support.tickets", "partition": 0, "watermark": None,
         "published_watermark": None, "pending": 0, "late": 0, "open_entities": 0},
        {"topic": "support.tickets", "partition": 1, "watermark": "2026-11-02T01:02:00Z",
         "published_watermark": None, "pending": 0, "late": 0, "open_entities": 1},
    ]
    assert s["published_watermark"] is None   # the worker did not say what is confirmed
    t = s["totals"]
    assert (t["events"], t["invalid"], t["dead_letters"], t["late"], t["duplicates"]) == (12, 1, 1, 1, 1)
    # Breaches: c1 at 15 s, c3 at 35 s. Warnings (at 50 % and 80 %): c1 7.5/12, c3 27.5/32,
    # c2 at 20 (10 s of 20), c6 at 55, c5 at 57.5; c4 ended before its first one (37.5).
    assert t["breaches"] == 2 and t["warnings"] == 7
    assert t["records_by_status"]["achieved"] == 1          # c2's first response
    assert t["records_by_status"]["abandoned"] == 1         # c4's first response
    assert sum(t["records_by_status"].values()) == sum(tallies.values())
    orjson.dumps(s)  # JSON-ready


def test_published_watermark_is_what_the_broker_confirmed(world):
    conv, tick, idle = world
    one_minute = T0_US + 60 * US
    # Only the conversations' partition has confirmed outputs: the minimum is not claimed yet.
    s = snapshot(world, WALL, published={(conv.topic, conv.partition): T0_US + 30 * US})
    parts = {(p["topic"], p["partition"]): p for p in s["partitions"]}
    assert parts[(conv.topic, conv.partition)]["published_watermark"] == format_us(T0_US + 30 * US)
    assert parts[(tick.topic, tick.partition)]["published_watermark"] is None
    assert s["published_watermark"] is None
    # Every partition with a clock has published: the minimum; never ahead of the clock itself,
    # and nothing for a partition without data (the idle one).
    s = snapshot(world, WALL, published={(conv.topic, conv.partition): one_minute + 5 * US,
                                         (tick.topic, tick.partition): T0_US + 90 * US,
                                         (idle.topic, idle.partition): T0_US})
    parts = {(p["topic"], p["partition"]): p for p in s["partitions"]}
    assert parts[(conv.topic, conv.partition)]["published_watermark"] == format_us(one_minute)
    assert parts[(idle.topic, idle.partition)]["published_watermark"] is None
    assert s["published_watermark"] == format_us(one_minute)


def test_channels_awaiting_first_response(world):
    s = snapshot(world, WALL)
    assert s["channels"] == {
        # c1 (60 s), c3 (40 s), c5 (10 s) and ticket t1 (120 s on its own partition's clock);
        # web-chat is the most common policy (c1, c5); c1 and c3 are past their 15 s target,
        # t1 is far within its 2 h.
        "web": {"awaiting_first_response": 4, "oldest_wait_s": 120.0,
                "first_response_target_s": 15.0, "over_target": 2},
        "app": {"awaiting_first_response": 1, "oldest_wait_s": 15.0,
                "first_response_target_s": 20.0, "over_target": 0},
    }
    # Without tallies or windows the other sections are still there, empty.
    assert s["totals"]["breaches"] == 0 and s["totals"]["records_by_status"] == {}
    assert s["first_response_last_windows"] == {} and s["last_windows"] is None


def test_first_response_windows_from_real_processors(world):
    conv = world[0]
    windows = conv.drain().windows
    s = snapshot(world, WALL, recent_windows=windows)
    # The closed minute [T0, T0+60) holds c2's first response (15 s, app-chat target 20 s).
    fr = s["first_response_last_windows"]
    assert fr["app"]["count"] == 1
    assert fr["app"]["p50_s"] == pytest.approx(15.0, rel=0.01)
    assert fr["app"]["p90_s"] == pytest.approx(15.0, rel=0.01)
    assert fr["app"]["target_s"] == 20.0
    # web had starts in that minute but no first response: count 0, no quantiles.
    assert fr["web"] == {"count": 0, "p50_s": None, "p90_s": None, "target_s": 15.0}
    assert s["last_windows"] == {"from": "2026-11-02T01:00:00Z", "to": "2026-11-02T01:01:00Z",
                                 "cells": len(windows)}


def test_windows_merge_per_channel_without_touching_the_inputs():
    regular = ("conversation", "app", None, None, "regular", None, "A001")
    vip = ("conversation", "app", None, None, "vip", "x", "A002")
    web = ("conversation", "web", None, None, "regular", None, None)
    a, b, c = WindowAggregate(), WindowAggregate(), WindowAggregate()
    for sec in (10, 12, 14):
        a.add_first_response(sec * US, True)
    b.add_first_response(30 * US, False)
    c.add_first_response(5 * US, True)
    windows = [(T0_US, regular, a), (T0_US + 60 * US, vip, b), (T0_US + 60 * US, web, c)]
    s = snapshot([proc("support.conversations", 0, "conversation")], WALL, recent_windows=windows)
    fr = s["first_response_last_windows"]
    # app: 10, 12, 14, 30 -> p50 12 (rank 1.5), p90 14 (rank 2.7); app-chat (3 of 4) is 20 s.
    assert fr["app"]["count"] == 4
    assert fr["app"]["p50_s"] == pytest.approx(12.0, rel=0.01)
    assert fr["app"]["p90_s"] == pytest.approx(14.0, rel=0.01)
    assert fr["app"]["target_s"] == 20.0
    assert fr["web"]["count"] == 1 and fr["web"]["target_s"] == 15.0
    assert s["last_windows"] == {"from": "2026-11-02T01:00:00Z", "to": "2026-11-02T01:02:00Z",
                                 "cells": 3}
    assert a.first_responses == 3 and b.first_responses == 1   # inputs not merged into
    # No partition has data: no watermark, no lag, no channels.
    assert s["watermark"] is None and s["watermark_lag_s"] is None and s["channels"] == {}


def test_most_common_policy_tie_goes_to_the_earlier_policy():
    # One vip (vip-chat, 15 s, first in the file) and one regular (app-chat, 20 s) app chat.
    p = proc("support.conversations", 0, "conversation")
    feed(p, [started("a", 0, channel="app", tier="vip"), started("b", 1, channel="app")])
    p.sequencer.advance_to(T0_US + 5 * US)
    ch = snapshot([p], WALL)["channels"]["app"]
    assert ch["awaiting_first_response"] == 2 and ch["oldest_wait_s"] == 5.0
    assert ch["first_response_target_s"] == 15.0 and ch["over_target"] == 0
