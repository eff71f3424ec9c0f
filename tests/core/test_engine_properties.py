"""Properties of the engine as a whole: input order does not matter, duplicates do not matter."""
from __future__ import annotations

import random
from datetime import datetime

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.scenario import Scenario, run_replay

RULES = """
calendars:
  office:
    timezone: Asia/Shanghai
    hours: {mon-fri: ["09:00-12:00", "13:00-18:00"], sat: ["10:00-16:00"]}
policies:
  - name: vip-chat
    match: {kind: conversation, customer_tier: vip}
    targets: {first_response: {within: 15s}, next_response: {within: 30s}, resolution: {within: 10m}}
    warn_at: [0.5, 0.8]
  - name: chat
    match: {kind: conversation}
    targets: {first_response: {within: 30s}, next_response: {within: 60s}, resolution: {within: 20m}}
    warn_at: [0.5]
    count_bot_replies: true
  - name: urgent
    match: {kind: ticket, priority: urgent}
    targets: {first_response: {within: 10m}, assignment: {within: 5m}, resolution: {within: 1h}}
    warn_at: [0.5, 0.8]
  - name: tickets
    match: {kind: ticket}
    targets:
      first_response: {within: 1h, calendar: office}
      next_response: {within: 30m, calendar: office}
      resolution: {within: 4h, calendar: office}
"""


def random_scenario(seed: int) -> Scenario:
    """A few entities with random but valid-shaped histories; every event at a distinct instant."""
    rnd = random.Random(seed)
    s = Scenario()
    times = iter(sorted(rnd.sample(range(0, 6 * 3600), 200)))
    for i in range(rnd.randint(1, 4)):
        cid = f"c{i}"
        s.started(cid, next(times), channel=rnd.choice(["web", "app"]), tier=rnd.choice(["vip", "regular"]))
        for _ in range(rnd.randint(0, 8)):
            kind = rnd.random()
            if kind < 0.4:
                s.msg(cid, next(times), "customer")
            elif kind < 0.75:
                s.msg(cid, next(times), rnd.choice(["agent", "bot", "system"]), author_id="A1")
            elif kind < 0.85:
                s.assigned(cid, next(times), "A2", queue=rnd.choice([None, "vip", "pre_sales"]))
            else:
                s.transferred(cid, next(times), to_agent="A3", to_queue="after_sales")
        if rnd.random() < 0.8:
            s.ended(cid, next(times), rnd.choice(["resolved", "unresolved", "abandoned", "timeout"]))
    for i in range(rnd.randint(1, 4)):
        tid = f"t{i}"
        s.created(tid, next(times), priority=rnd.choice(["normal", "urgent", "high"]))
        for _ in range(rnd.randint(0, 10)):
            kind = rnd.random()
            if kind < 0.3:
                s.comment(tid, next(times), rnd.choice(["agent", "customer"]), public=rnd.random() < 0.8)
            elif kind < 0.6:
                s.status(tid, next(times), rnd.choice(["open", "pending", "on_hold", "solved", "closed"]))
            elif kind < 0.8:
                s.tassigned(tid, next(times), "A4", group=rnd.choice([None, "billing"]))
            else:
                s.priority(tid, next(times), rnd.choice(["low", "normal", "urgent"]))
    return s


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**9), data=st.data())
def test_records_identical_for_any_permutation_of_the_input(seed, data):
    lines = random_scenario(seed).lines()
    expected = run_replay(lines, RULES)
    shuffled = data.draw(st.permutations(lines))
    assert run_replay(list(shuffled), RULES) == expected


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**9), data=st.data())
def test_redelivered_events_change_nothing(seed, data):
    lines = random_scenario(seed).lines()
    expected = run_replay(lines, RULES)
    extra = data.draw(st.lists(st.sampled_from(lines), max_size=20))
    mixed = data.draw(st.permutations(lines + extra))
    assert run_replay(list(mixed), RULES) == expected


def test_random_scenarios_produce_every_kind_of_record():
    """Guards the property tests above against testing nothing: the scenarios are rich."""
    statuses = set()
    for seed in range(200):
        statuses |= {r["status"] for r in run_replay(random_scenario(seed).lines(), RULES)}
    assert statuses == {"warning", "breached", "achieved", "completed_late", "abandoned",
                        "paused", "resumed", "cancelled"}


def test_output_is_sorted_by_at_entity_metric_cycle_status():
    recs = run_replay(random_scenario(7).lines() + random_scenario(8).lines(), RULES)
    at = lambda r: datetime.fromisoformat(r["at"].replace("Z", "+00:00"))  # noqa: E731
    keys = [(at(r), r["entity_id"], r["metric"], r["cycle"], r["status"]) for r in recs]
    assert len(keys) > 5 and keys == sorted(keys)
    assert all(orjson.loads(orjson.dumps(r)) == r for r in recs)
