"""Live QA sampling (streams/qa_live.py): a day drawn on the clock equals the offline QA day."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest

from streams.core.policy import load_policies
from streams.core.qa_rules import load_qa_rules
from streams.core.timeutil import parse_rfc3339
from streams.generator import GeneratorConfig, generate
from streams.qa_day import run_qa_day
from streams.qa_live import LiveQA
from streams.replay import replay_lines
from streams.settings import DEFAULT_RULES

ROOT = Path(__file__).resolve().parent.parent
QA_RULES = load_qa_rules(ROOT / "rules" / "qa.yaml")
POLICIES = load_policies(DEFAULT_RULES)
US = 1_000_000
TZ = "Asia/Shanghai"
START = datetime(2026, 11, 2, 0, 0, tzinfo=timezone(timedelta(hours=8)))
HOUR = 3600 * US


def midnight_after(day: str) -> int:
    d = datetime.fromisoformat(day).replace(tzinfo=timezone(timedelta(hours=8))) + timedelta(days=1)
    return int(d.timestamp()) * US


@pytest.fixture(scope="module")
def two_days() -> list[dict]:
    cfg = GeneratorConfig(seed=11, start=START, days=2.2, conversations_per_day=400,
                          tickets_per_day=60, duplicate_rate=0.01, disorder_seconds=5)
    return list(generate(cfg))


def t_of(ev: dict) -> int:
    return parse_rfc3339(ev["occurred_at"])


def feed(live: LiveQA, events: list[dict], start: int = 0, source=("c", 0)):
    for n, ev in enumerate(events[start:], start):
        live.add(source, n, orjson.dumps(ev))


def stream(live: LiveQA, events: list[dict], start: int = 0, lateness_us: int = 10 * US):
    """Feed in arrival order with the clock at the newest event time - lateness, as the stage
    does; yields (draw, how many events had arrived) for every draw with rows or days."""
    newest = None
    for n in range(start, len(events)):
        live.add(("c", 0), n, orjson.dumps(events[n]))
        newest = max(newest or 0, t_of(events[n]))
        result = live.advance(newest - lateness_us)
        if result is not None and result.days:
            yield result, n + 1


def offline(known: list[dict], day: str) -> list[dict]:
    """`slawatch qa sample` on the events known at the draw, for one day."""
    records = replay_lines([orjson.dumps(e) for e in known], POLICIES).records
    return run_qa_day(known, records, QA_RULES, day=day, tz=TZ)


def key(rows: list[dict]) -> list[tuple]:
    return sorted((r["sample_id"], tuple(r["reasons"]), r["priority"], r["agent_id"], r["day"],
                   orjson.dumps(r["transcript"]), orjson.dumps(r["checks"])) for r in rows)


def test_a_day_is_drawn_once_its_midnight_plus_grace_passes_and_equals_the_offline_draw(two_days):
    live = LiveQA(QA_RULES, POLICIES, tz=TZ, close_after_us=HOUR)
    day1 = "2026-11-02"
    close = midnight_after(day1) + HOUR
    # Fed up to the close: the first call draws everything before its boundary, which is
    # the midnight before day 1 one microsecond early: nothing.
    known = [e for e in two_days if t_of(e) < close]
    feed(live, known)
    early = live.advance(close - 1)
    assert early is not None and early.rows == [] and early.days == []
    assert live.advance(close - 1) is None  # the same boundary is never drawn twice
    result = live.advance(close)
    assert result is not None and result.days == [day1]
    assert len(result.rows) > 20
    assert key(result.rows) == key(offline(known, day1))
    reasons = {r for row in result.rows for r in row["reasons"]}
    assert {"random", "low_csat", "breached", "backup"} <= reasons
    assert live.advance(close + HOUR) is None


def test_streamed_days_equal_the_offline_draw_on_what_had_arrived(two_days):
    draws = list(stream(LiveQA(QA_RULES, POLICIES, tz=TZ), two_days))
    assert [d.days for d, _ in draws] == [["2026-11-02"], ["2026-11-03"]]
    for draw, arrived in draws:
        assert key(draw.rows) == key(offline(two_days[:arrived], draw.days[0]))


def test_disorder_and_duplicates_in_arrival_do_not_change_the_draw(two_days):
    shuffled = list(two_days)
    rng = random.Random(3)
    # Swap neighbours of different entities (Kafka keeps one key's order) and redeliver 5 %.
    ent = lambda e: e.get("conversation_id") or e.get("ticket_id")  # noqa: E731
    for i in range(0, len(shuffled) - 1, 2):
        if rng.random() < 0.5 and ent(shuffled[i]) != ent(shuffled[i + 1]):
            shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
    shuffled += rng.sample(shuffled, len(shuffled) // 20)
    close = midnight_after("2026-11-03") + HOUR
    a = LiveQA(QA_RULES, POLICIES, tz=TZ)
    feed(a, two_days)
    b = LiveQA(QA_RULES, POLICIES, tz=TZ)
    feed(b, shuffled)
    ra, rb = a.advance(close), b.advance(close)
    assert ra.days == rb.days == ["2026-11-02", "2026-11-03"]
    assert key(ra.rows) == key(rb.rows)
    assert b.stats["duplicates"] >= len(shuffled) - len(two_days) - 1


def test_restart_from_the_committed_offsets_draws_no_day_twice_and_misses_none(two_days):
    whole = [d for d, _ in stream(LiveQA(QA_RULES, POLICIES, tz=TZ), two_days)]
    # Run 1 draws day 1, reads on a while, commits, then dies.
    first = LiveQA(QA_RULES, POLICIES, tz=TZ)
    gen = stream(first, two_days)
    drawn1, arrived = next(gen)
    cut = arrived + 500
    gen.close()
    for n in range(arrived, cut):  # the same offsets as the stream gave
        first.add(("c", 0), n, orjson.dumps(two_days[n]))
    committed = first.committable()[("c", 0)]
    assert 0 < committed < arrived  # tickets and day-2 conversations still held
    # Run 2 resumes from the boundary stored with the draw and the committed offset.
    second = LiveQA(QA_RULES, POLICIES, tz=TZ)
    second.restore(drawn1.boundary_us)
    (drawn2, _), = list(stream(second, two_days, start=committed))
    assert drawn2.days == ["2026-11-03"] and drawn2.late == 0
    assert key(drawn1.rows) == key(whole[0].rows)
    assert key(drawn2.rows) == key(whole[1].rows)


def _conv(cid: str, start: str, end: str, agent: str = "A001", n: int = 0) -> list[dict]:
    return [
        {"event_id": f"{cid}-1", "type": "conversation.started", "occurred_at": start,
         "conversation_id": cid, "channel": "web", "customer_id": "U1", "customer_tier": "regular"},
        {"event_id": f"{cid}-2", "type": "conversation.assigned", "occurred_at": start,
         "conversation_id": cid, "agent_id": agent},
        {"event_id": f"{cid}-3", "type": "conversation.message", "occurred_at": start,
         "conversation_id": cid, "message_id": f"{cid}-m", "author_role": "agent",
         "author_id": agent, "text": "您好，请问有什么可以帮您？"},
        {"event_id": f"{cid}-4", "type": "conversation.ended", "occurred_at": end,
         "conversation_id": cid, "outcome": "resolved"},
    ]


def test_late_conversation_of_a_drawn_day_is_counted_and_drawn_at_the_next_close():
    live = LiveQA(QA_RULES, POLICIES, tz=TZ, close_after_us=HOUR)
    feed(live, _conv("C1", "2026-11-02T10:00:00+08:00", "2026-11-02T10:05:00+08:00"))
    first = live.advance(midnight_after("2026-11-02") + HOUR)
    assert [r["entity_id"] for r in first.rows] == ["C1"]  # backup: the agent's minimum
    feed(live, _conv("C2", "2026-11-02T11:00:00+08:00", "2026-11-02T11:05:00+08:00"),
         source=("c", 1))
    second = live.advance(midnight_after("2026-11-03") + HOUR)
    assert second.late == 1 and second.days == ["2026-11-02"]
    assert live.stats["late_entities"] == 1


def test_a_rating_after_the_draw_is_counted_and_holds_nothing_back():
    live = LiveQA(QA_RULES, POLICIES, tz=TZ)
    feed(live, _conv("C1", "2026-11-02T10:00:00+08:00", "2026-11-02T10:05:00+08:00"))
    live.advance(midnight_after("2026-11-02") + HOUR)
    assert live.open_entities == 0 and live.committable() == {}
    live.add(("c", 0), 99, orjson.dumps({
        "event_id": "C1-5", "type": "conversation.rated", "occurred_at": "2026-11-03T02:00:00+08:00",
        "conversation_id": "C1", "score": 1}))
    assert live.stats["after_draw"] == 1 and live.committable() == {}


def test_reopened_ticket_is_drawn_again_on_the_day_it_is_solved_again():
    def ev(n, typ, at, **f):
        return {"event_id": f"T-{n}", "type": typ, "occurred_at": at, "ticket_id": "T1", **f}

    live = LiveQA(QA_RULES, POLICIES, tz=TZ)
    feed(live, [
        ev(1, "ticket.created", "2026-11-02T09:00:00+08:00", channel="email", priority="normal",
           category="refund", customer_id="U1", customer_tier="regular"),
        ev(2, "ticket.assigned", "2026-11-02T09:01:00+08:00", assignee_id="A002"),
        ev(3, "ticket.status_changed", "2026-11-02T10:00:00+08:00", status="solved"),
    ])
    first = live.advance(midnight_after("2026-11-02") + HOUR)
    assert [(r["entity_id"], r["day"]) for r in first.rows] == [("T1", "2026-11-02")]
    assert live.open_entities == 1  # solved is not closed: it may come back
    feed(live, [ev(4, "ticket.status_changed", "2026-11-03T09:00:00+08:00", status="open"),
                ev(5, "ticket.status_changed", "2026-11-03T10:00:00+08:00", status="solved"),
                ev(6, "ticket.status_changed", "2026-11-03T11:00:00+08:00", status="closed")], start=0)
    second = live.advance(midnight_after("2026-11-03") + HOUR)
    assert [(r["entity_id"], r["day"]) for r in second.rows] == [("T1", "2026-11-03")]
    assert "reopened" in second.rows[0]["reasons"]
    assert live.open_entities == 0  # closed: let go


def test_silent_entities_are_dropped_after_retention_and_invalid_input_is_skipped():
    live = LiveQA(QA_RULES, POLICIES, tz=TZ, retention_us=2 * 86400 * US)
    started = _conv("C9", "2026-11-02T10:00:00+08:00", "2026-11-02T10:05:00+08:00")[:3]
    feed(live, started)
    assert live.add(("c", 0), 50, b"{not json") is False
    assert live.add(("c", 0), 51, None) is False
    assert live.stats["invalid"] == 1
    live.advance(midnight_after("2026-11-02") + HOUR)
    assert live.open_entities == 1 and live.committable() == {("c", 0): 0}
    live.advance(midnight_after("2026-11-05") + HOUR)
    assert live.open_entities == 0 and live.stats["expired"] == 1


def test_targeted_cases_are_written_early_and_the_day_draw_confirms_them():
    live = LiveQA(QA_RULES, POLICIES, tz=TZ)
    conv = _conv("C1", "2026-11-02T10:00:00+08:00", "2026-11-02T10:05:00+08:00")
    conv[2]["text"] = "您好"  # no escalation word from the agent (only customers' words count)
    conv.insert(3, {"event_id": "C1-c", "type": "conversation.message",
                    "occurred_at": "2026-11-02T10:01:00+08:00", "conversation_id": "C1",
                    "message_id": "C1-mc", "author_role": "customer", "text": "我要投诉你们"})
    feed(live, conv[:-1])
    assert live.early() == []  # not ended: nothing yet
    feed(live, conv[-1:], start=0)
    first = live.early()
    # The complaint went unanswered for four minutes: breached (next response) as well.
    assert [(r["entity_id"], r["reasons"]) for r in first] == [("C1", ["breached", "escalation_words"])]
    assert first[0]["transcript"] and first[0]["checks"]
    rating = {"event_id": "C1-5", "type": "conversation.rated", "occurred_at": "2026-11-02T10:06:00+08:00",
              "conversation_id": "C1", "score": 1}
    live.add(("c", 0), 10, orjson.dumps(rating))
    second = live.early()
    assert [r["reasons"] for r in second] == [["low_csat", "breached", "escalation_words"]]
    live.add(("c", 0), 11, orjson.dumps(rating))  # redelivered: nothing new
    assert live.early() == []
    final = live.advance(midnight_after("2026-11-02") + HOUR).rows
    row = next(r for r in final if r["entity_id"] == "C1")
    assert row["sample_id"] == first[0]["sample_id"] == second[0]["sample_id"]
    assert set(second[0]["reasons"]) <= set(row["reasons"])


def test_no_early_rows_for_a_day_already_drawn():
    live = LiveQA(QA_RULES, POLICIES, tz=TZ)
    live.advance(midnight_after("2026-11-02") + HOUR)  # day 2026-11-02 drawn (empty)
    conv = _conv("C2", "2026-11-02T10:00:00+08:00", "2026-11-02T10:05:00+08:00")
    feed(live, conv + [{"event_id": "C2-5", "type": "conversation.rated",
                        "occurred_at": "2026-11-02T10:06:00+08:00", "conversation_id": "C2",
                        "score": 1}])
    assert live.early() == []  # late for its day: the next close takes it
    late = live.advance(midnight_after("2026-11-03") + HOUR)
    assert late.late == 1 and "low_csat" in late.rows[0]["reasons"]


def test_an_early_sample_stays_when_a_later_rating_takes_it_out_of_its_pool():
    import dataclasses

    # No backup, a 0 % random share: only the early sample can put C3 in the day's sample.
    rules = dataclasses.replace(QA_RULES, backup=False, rate=0.0)
    live = LiveQA(rules, POLICIES, tz=TZ)
    feed(live, _conv("C3", "2026-11-02T10:00:00+08:00", "2026-11-02T10:05:00+08:00"))
    rate = lambda n, score, minute: {  # noqa: E731
        "event_id": f"C3-r{n}", "type": "conversation.rated", "conversation_id": "C3",
        "occurred_at": f"2026-11-02T10:{minute:02d}:00+08:00", "score": score}
    live.add(("c", 0), 10, orjson.dumps(rate(1, 1, 6)))
    [early] = live.early()
    assert early["reasons"] == ["low_csat"]
    live.add(("c", 0), 11, orjson.dumps(rate(2, 5, 7)))   # the customer thought again
    assert live.early() == []
    rows = live.advance(midnight_after("2026-11-02") + HOUR).rows
    assert [(r["sample_id"], r["reasons"]) for r in rows] == [(early["sample_id"], ["low_csat"])]
    assert rows[0]["transcript"] and rows[0]["checks"] and live.stats["kept_early"] == 1
