"""Windowed support metrics (streams.core.metrics): expectations computed by hand."""
from __future__ import annotations

import math
import time
from datetime import timedelta

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.engine import SlaEngine
from streams.core.events import decode_event
from streams.core.metrics import (
    WINDOW_US,
    MetricWindows,
    WindowAggregate,
    entity_dims,
    record_dims,
    window_id,
)
from streams.core.policy import load_policies_text
from streams.core.records import SlaRecord
from streams.core.timeutil import US, to_us
from tests.scenario import T0, Scenario

M = WINDOW_US  # one minute in µs
WEB = ("conversation", "web", None, None, "regular", None, "A1")
WEB_NOAGENT = ("conversation", "web", None, None, "regular", None, None)
APP = ("conversation", "app", "q1", None, "vip", None, "A2")


def rec(metric: str, status: str, at_s: float, elapsed_s: float, dims=WEB, target_s=30,
        entity_id="c1", cycle=1) -> SlaRecord:
    kind, channel, queue, priority, tier, category, agent = dims
    return SlaRecord(kind, entity_id, metric, "p", cycle, status, target_s * US,
                     round(elapsed_s * US), None, round(at_s * US), channel, priority, tier,
                     category, agent, queue, None)


def exact_quantile(values: list[float], q: float) -> float:
    # DDSketch's rank convention: the value of rank floor(q * (n - 1)) in sorted order.
    s = sorted(values)
    return s[math.floor(q * (len(s) - 1))]


def close_rel(estimate: float, exact: float, tol: float) -> bool:
    return abs(estimate - exact) <= tol * abs(exact) + 1e-12


def fed(values_s: list[float], within: bool = True) -> WindowAggregate:
    agg = WindowAggregate()
    for v in values_s:
        agg.add_first_response(round(v * US), within)
    return agg


# ---------------------------------------------------------------- counts per window and dims
def test_records_counted_per_window_and_dims():
    mw = MetricWindows()
    mw.observe_record(rec("first_response", "achieved", 10, 10))              # w0 WEB
    mw.observe_record(rec("first_response", "completed_late", 59.999999, 45))  # w0 WEB
    mw.observe_record(rec("first_response", "breached", 30, 30, dims=WEB_NOAGENT))  # w0
    mw.observe_record(rec("first_response", "achieved", 60, 5, dims=APP))     # w1: 60 s opens it
    mw.observe_record(rec("first_response", "abandoned", 61, 61, dims=APP))   # w1
    mw.observe_record(rec("resolution", "achieved", 70, 70, dims=APP))        # w1
    mw.observe_record(rec("resolution", "completed_late", 75, 4000, dims=APP))  # w1
    mw.observe_record(rec("resolution", "cancelled", 80, 80, dims=APP))       # w1
    mw.observe_record(rec("next_response", "warning", 81, 30, dims=APP))      # w1
    mw.observe_record(rec("resolution", "paused", 82, 82, dims=APP))          # not counted
    mw.observe_record(rec("resolution", "resumed", 150, 82, dims=WEB))        # not counted: no cell
    assert mw.open_windows == 3

    out = mw.close_until(2 * M)
    assert [(s, d) for s, d, _ in out] == [(0, WEB_NOAGENT), (0, WEB), (M, APP)]
    noagent, web, app = (a for _, _, a in out)

    assert web.first_responses == 2 and web.responded_within_target == 1
    assert web.first_response_sum_us == 55 * US
    assert web.sla == {("first_response", "achieved"): 1, ("first_response", "completed_late"): 1}
    assert web.abandoned == web.resolved == web.started == 0
    assert noagent.sla == {("first_response", "breached"): 1} and noagent.first_responses == 0

    assert app.first_responses == 1 and app.responded_within_target == 1
    assert app.abandoned == 1
    assert app.resolved == 2 and app.resolution_sum_us == 4070 * US
    assert app.sla == {
        ("first_response", "achieved"): 1, ("first_response", "abandoned"): 1,
        ("resolution", "achieved"): 1, ("resolution", "completed_late"): 1,
        ("resolution", "cancelled"): 1, ("next_response", "warning"): 1,
    }
    d = app.to_dict()
    assert d["sla"] == {"first_response": {"abandoned": 1, "achieved": 1},
                        "next_response": {"warning": 1},
                        "resolution": {"achieved": 1, "cancelled": 1, "completed_late": 1}}
    assert d["resolution_seconds"]["count"] == 2 and d["resolution_seconds"]["sum"] == 4070
    orjson.dumps(d)  # JSON-ready


def test_events_started_csat_reopened():
    mw = MetricWindows()
    tdims = ("ticket", "email", None, "high", "regular", "payment", None)
    mw.observe_event("conversation", WEB_NOAGENT, "conversation.started", 1 * US)
    mw.observe_event("conversation", WEB_NOAGENT, "conversation.started", 2 * US)
    mw.observe_event("conversation", WEB_NOAGENT, "conversation.rated", 3 * US, score=5)
    mw.observe_event("conversation", WEB_NOAGENT, "conversation.rated", 4 * US, score=2)
    mw.observe_event("conversation", WEB_NOAGENT, "conversation.rated", 5 * US, score=5)
    mw.observe_event("conversation", WEB_NOAGENT, "conversation.message", 6 * US)  # ignored
    mw.observe_event("ticket", tdims, "ticket.created", 7 * US)
    mw.observe_event("ticket", tdims, "ticket.status_changed", 8 * US, reopened=True)
    mw.observe_event("ticket", tdims, "ticket.status_changed", 9 * US)  # not a reopen: ignored
    mw.observe_event("ticket", tdims, "ticket.rated", 10 * US, score=1)
    (_, _, conv), (_, _, ticket) = mw.close_until(M)
    assert conv.started == 2
    assert (conv.csat_count, conv.csat_sum, conv.csat_hist) == (3, 12, [0, 1, 0, 0, 2])
    assert conv.reopened == 0
    assert ticket.started == 1 and ticket.reopened == 1
    assert (ticket.csat_count, ticket.csat_sum, ticket.csat_hist) == (1, 1, [1, 0, 0, 0, 0])
    assert conv.to_dict()["csat"] == {"count": 3, "sum": 12, "hist": [0, 1, 0, 0, 2]}


def test_observe_event_rejects_bad_input():
    mw = MetricWindows()
    with pytest.raises(ValueError):
        mw.observe_event("conversation", WEB, "conversation.rated", 0, score=6)
    with pytest.raises(ValueError):
        mw.observe_event("conversation", WEB, "conversation.rated", 0, score=None)
    with pytest.raises(ValueError):
        mw.observe_event("ticket", WEB, "ticket.created", 0)
    assert mw.open_windows == 0


# ---------------------------------------------------------------- percentiles
def test_percentiles_within_one_percent_of_exact():
    # Response times from 0.5 s to ~25 min, spread over several orders of magnitude.
    values = [0.5 * 1.07 ** i for i in range(120)] + [3.0, 3.0, 3.0, 45.25, 1200.0]
    agg = fed(values)
    d = agg.to_dict()["first_response_seconds"]
    assert d["count"] == len(values)
    assert d["sum"] == pytest.approx(sum(values), rel=1e-9)
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99)):
        assert close_rel(d[name], exact_quantile(values, q), 0.01), name
    assert d["max"] == pytest.approx(max(values), abs=1e-6)  # exact, up to the µs rounding


def test_percentiles_of_hand_list():
    # 1..100 s: p50 is the value of rank floor(0.5 * 99) = 49 -> 50 s; p90 rank 89 -> 90 s;
    # p99 rank 98 -> 99 s.
    agg = WindowAggregate()
    for v in range(1, 101):
        agg.add_resolution(v * US)
    d = agg.to_dict()["resolution_seconds"]
    assert d["count"] == 100 and d["sum"] == 5050
    assert close_rel(d["p50"], 50, 0.01)
    assert close_rel(d["p90"], 90, 0.01)
    assert close_rel(d["p99"], 99, 0.01)


def test_zero_elapsed_is_counted():
    agg = fed([0.0, 0.0, 10.0])
    d = agg.to_dict()["first_response_seconds"]
    # Ranks floor(0.5 * 2) = 1 and floor(0.99 * 2) = 1 are both the second 0 s.
    assert d["count"] == 3 and d["p50"] == 0 and d["p99"] == 0
    assert WindowAggregate.from_dict(agg.to_dict()).to_dict() == agg.to_dict()


def test_empty_aggregate_serialises():
    d = WindowAggregate().to_dict()
    assert d["first_response_seconds"]["count"] == 0
    assert d["first_response_seconds"]["p50"] is None
    assert WindowAggregate.from_dict(orjson.loads(orjson.dumps(d))).to_dict() == d


# ---------------------------------------------------------------- merge
response_times = st.lists(st.integers(min_value=0, max_value=3 * 86_400 * US), max_size=300)


@settings(max_examples=150, deadline=None)
@given(a=response_times, b=response_times, within=st.booleans())
def test_merge_equals_one_aggregate_fed_everything(a, b, within):
    left, right, whole = WindowAggregate(), WindowAggregate(), WindowAggregate()
    for v in a:
        left.add_first_response(v, within)
        whole.add_first_response(v, within)
    for v in b:
        right.add_first_response(v, within)
        whole.add_first_response(v, within)
    left.sla[("first_response", "achieved")] = len(a)
    right.sla[("first_response", "achieved")] = len(b)
    whole.sla[("first_response", "achieved")] = len(a) + len(b)
    left.merge(right)
    assert left.first_responses == whole.first_responses == len(a) + len(b)
    assert left.responded_within_target == whole.responded_within_target
    assert left.first_response_sum_us == whole.first_response_sum_us == sum(a) + sum(b)
    assert left.sla == whole.sla
    m, w = left.to_dict(), whole.to_dict()
    for q in ("p50", "p90", "p99"):
        if w["first_response_seconds"][q] is None:
            assert m["first_response_seconds"][q] is None
        else:
            assert close_rel(m["first_response_seconds"][q], w["first_response_seconds"][q], 0.02)
    # Bin counts add exactly, so the merged cell is in fact identical.
    assert m == w
    assert right.first_responses == len(b)  # the merged-in side is left unchanged


def test_merge_adds_every_field():
    x, y = WindowAggregate(), WindowAggregate()
    x.started, y.started = 2, 3
    x.abandoned, y.reopened, y.late_events = 1, 4, 2
    x.add_csat(5)
    y.add_csat(3)
    y.add_csat(5)
    x.add_resolution(10 * US)
    y.add_resolution(20 * US)
    x.sla[("resolution", "achieved")] = 1
    y.sla[("resolution", "achieved")] = 1
    y.sla[("first_response", "breached")] = 2
    x.merge(y)
    assert (x.started, x.abandoned, x.reopened, x.late_events) == (5, 1, 4, 2)
    assert (x.csat_count, x.csat_sum, x.csat_hist) == (3, 13, [0, 0, 1, 0, 2])
    assert x.resolved == 2 and x.resolution_sum_us == 30 * US
    assert x.sla == {("resolution", "achieved"): 2, ("first_response", "breached"): 2}


# ---------------------------------------------------------------- closing
def test_close_boundary_exactly_at_window_end():
    mw = MetricWindows()
    mw.observe_record(rec("first_response", "achieved", 59, 5))
    assert mw.close_until(M - 1) == []          # one µs before the end: still open
    assert mw.open_windows == 1
    out = mw.close_until(M)                      # exactly at the end: emitted
    assert [(s, d) for s, d, _ in out] == [(0, WEB)]
    assert mw.open_windows == 0
    assert mw.close_until(M) == [] and mw.close_until(10 * M) == []  # never twice


def test_close_emits_each_window_once_in_order():
    mw = MetricWindows()
    for at in (5, 65, 125, 185, 3):
        mw.observe_record(rec("first_response", "achieved", at, 1))
    mw.observe_record(rec("first_response", "achieved", 66, 1, dims=WEB_NOAGENT))
    first = mw.close_until(2 * M + 30 * US)
    assert [(s, d) for s, d, _ in first] == [(0, WEB), (M, WEB_NOAGENT), (M, WEB)]
    assert first[0][2].first_responses == 2
    assert mw.close_until(M) == []              # a watermark going back closes nothing
    second = mw.close_until(4 * M)
    assert [(s, d) for s, d, _ in second] == [(2 * M, WEB), (3 * M, WEB)]
    assert mw.open_windows == 0


def test_dims_sorted_with_none_first():
    mw = MetricWindows()
    a = ("ticket", "web", None, "high", "vip", "payment", "A1")
    b = ("ticket", "web", None, "high", "vip", "payment", None)
    c = ("ticket", "web", "q", "high", "vip", "payment", None)
    d = ("conversation", "web", None, None, "vip", None, None)
    for dims in (a, b, c, d):
        mw.observe_event(dims[0], dims, "ticket.created" if dims[0] == "ticket"
                         else "conversation.started", 1)
    assert [dims for _, dims, _ in mw.close_until(M)] == [d, b, a, c]


def test_late_observation_counted_not_folded():
    mw = MetricWindows()
    mw.observe_record(rec("first_response", "achieved", 10, 10))
    [(_, _, w0)] = mw.close_until(M + 30 * US)   # watermark in window 1
    assert w0.first_responses == 1
    # Arrives after window 0 closed: not folded into w0, counted on the open window 1.
    mw.observe_record(rec("first_response", "achieved", 20, 20))
    mw.observe_event("conversation", WEB, "conversation.rated", 30 * US, score=4)
    mw.observe_record(rec("resolution", "paused", 40, 40))  # not a contribution: not late
    assert w0.first_responses == 1 and w0.csat_count == 0
    assert mw.late_events == 2
    mw.observe_record(rec("first_response", "achieved", 70, 3))  # on time, window 1
    [(start, dims, w1)] = mw.close_until(2 * M)
    assert (start, dims) == (M, WEB)
    assert w1.late_events == 2
    assert w1.first_responses == 1 and w1.first_response_sum_us == 3 * US
    assert w1.csat_count == 0


def test_late_counted_on_current_window_even_without_other_data():
    mw = MetricWindows()
    mw.close_until(5 * M)
    mw.observe_event("conversation", APP, "conversation.started", 2 * M + 1)
    assert mw.open_windows == 1
    [(start, dims, agg)] = mw.close_until(6 * M)
    assert (start, dims, agg.late_events, agg.started) == (5 * M, APP, 1, 0)


# ---------------------------------------------------------------- snapshot / restore
def _load(mw: MetricWindows) -> None:
    for i, at in enumerate((1, 15, 59, 61, 62, 130)):
        mw.observe_record(rec("first_response", "achieved" if i % 2 else "completed_late",
                              at, 3 + 7 * i))
        mw.observe_record(rec("resolution", "achieved", at, 100 + i, dims=APP))
    mw.observe_event("conversation", WEB_NOAGENT, "conversation.started", 2 * US)
    mw.observe_event("conversation", APP, "conversation.rated", 63 * US, score=3)


def test_snapshot_restore_round_trip():
    live = MetricWindows()
    _load(live)
    live.close_until(60 * US)                 # window 0 emitted before the "crash"
    live.observe_record(rec("first_response", "achieved", 30, 30))  # late: counted on w1
    state = orjson.loads(orjson.dumps(live.snapshot()))
    restored = MetricWindows.restore(state)
    assert restored.open_windows == live.open_windows == 4
    assert restored.late_events == live.late_events == 1
    assert restored.watermark == live.watermark
    # Both continue with the same input and close with identical results.
    for mw in (live, restored):
        mw.observe_record(rec("first_response", "achieved", 100, 9))
        mw.observe_record(rec("first_response", "achieved", 10, 9))   # late in both
    a, b = live.close_until(3 * M), restored.close_until(3 * M)
    assert [(s, d) for s, d, _ in a] == [(s, d) for s, d, _ in b] == [
        (M, APP), (M, WEB), (2 * M, APP), (2 * M, WEB)]
    assert [x.to_dict() for _, _, x in a] == [x.to_dict() for _, _, x in b]
    assert a[1][2].late_events == 2 and a[1][2].first_responses == 3   # 61 s, 62 s, 100 s


def test_restore_rejects_other_version():
    with pytest.raises(ValueError):
        MetricWindows.restore({"version": 99, "window_us": M})


# ---------------------------------------------------------------- to_dict / from_dict
def test_to_dict_from_dict_keeps_a_mergeable_sketch():
    a_vals = [0.25, 1.0, 2.5, 2.5, 30.0, 3600.0]
    b_vals = [0.5, 7.0, 90.0, 86400.0]
    a, b = fed(a_vals, within=False), fed(b_vals)
    a.resolution_sketch  # an empty sketch made by the property must not break anything
    wire = orjson.loads(orjson.dumps(a.to_dict()))
    restored = WindowAggregate.from_dict(wire)
    assert restored.to_dict() == a.to_dict()
    restored.merge(b)
    whole = fed(a_vals, within=False)
    whole.merge(b)
    assert restored.to_dict() == whole.to_dict()
    d = restored.to_dict()["first_response_seconds"]
    assert d["count"] == 10 and d["sum"] == pytest.approx(sum(a_vals + b_vals))
    for q in ("p50", "p90", "p99"):
        assert close_rel(d[q], exact_quantile(a_vals + b_vals, float(q[1:]) / 100), 0.01)
    # And a live sketch merges a restored one (the other direction).
    live = fed(b_vals)
    live.merge(WindowAggregate.from_dict(wire))
    assert live.to_dict()["first_response_seconds"] == d
    # Compact: only non-empty bins, as [key, count] pairs.
    sk = wire["first_response_seconds"]["sketch"]
    assert sum(c for _, c in sk["bins"]) + sk["zero"] == len(a_vals)
    assert len(sk["bins"]) == 5
    assert any(c == 2 for _, c in sk["bins"])  # the two 2.5 s share a bin


def test_from_dict_rejects_inconsistent_counts():
    d = fed([1.0, 2.0]).to_dict()
    d["first_responses"] = 3
    with pytest.raises(ValueError):
        WindowAggregate.from_dict(d)


# ---------------------------------------------------------------- window_id
def test_window_id_stable_and_distinct():
    wid = window_id(M, WEB)
    assert wid == window_id(M, tuple(list(WEB)))
    assert len(wid) == 32 and int(wid, 16) >= 0
    others = {
        window_id(0, WEB), window_id(2 * M, WEB), window_id(M, WEB_NOAGENT),
        window_id(M, ("conversation", "web", None, None, "regular", None, "")),
        window_id(M, ("conversation", "web", None, None, "regular", "A1", None)),
        window_id(M, APP),
    }
    assert wid not in others and len(others) == 6


# ---------------------------------------------------------------- with the engine
RULES = """
policies:
  - name: chat
    match: {kind: conversation}
    targets:
      first_response: {within: 30s}
      resolution: {within: 1h}
  - name: tickets
    match: {kind: ticket}
    targets:
      first_response: {within: 1h}
      assignment: {within: 10m}
      resolution: {within: 4h}
"""


def test_engine_records_into_windows():
    """A worker-shaped driver: engine first, then metrics, then close at the watermark."""
    s = Scenario()
    s.started("c1", 0)
    s.msg("c1", 10, "agent", author_id="A1")        # FR achieved @10, elapsed 10
    s.started("c2", 5)                               # FR breached @35; late @50, elapsed 45
    s.started("c3", 20, channel="app")               # FR breached @50; abandoned @70
    s.msg("c2", 50, "agent", author_id="A1")
    s.ended("c3", 70, outcome="abandoned")           # + resolution cancelled @70
    s.ended("c1", 100)                               # resolution achieved @100, elapsed 100
    s.add("conversation.rated", 110, conversation_id="c1", score=4)
    s.ended("c2", 130)                               # resolution achieved @130, elapsed 125
    s.created("t1", 0, priority="high", category="payment")
    s.comment("t1", 30, "agent", author_id="A2")    # FR achieved @30
    s.status("t1", 40, "solved")                     # resolution achieved @40; assignment cancelled
    s.status("t1", 90, "open")                       # reopen (engine: resolution resumed)
    s.status("t1", 150, "solved")                    # resolution achieved again, elapsed 100

    engine = SlaEngine(load_policies_text(RULES))
    mw = MetricWindows()
    emitted: dict[tuple[int, tuple], WindowAggregate] = {}
    events = sorted(((to_us(decode_event(e).occurred_at), i, decode_event(e))
                     for i, e in enumerate(s.lines())), key=lambda x: x[:2])
    t0 = to_us(T0)

    def close(watermark):
        for start, dims, agg in mw.close_until(watermark):
            key = ((start - t0) // M, dims)
            assert key not in emitted
            emitted[key] = agg

    for t, _, ev in events:
        kind = ev.kind
        eid = ev.conversation_id if kind == "conversation" else ev.ticket_id
        before = engine.entity(kind, eid)
        prev_status = before.status if before is not None else None
        dims_before = entity_dims(before) if before is not None else None
        engine.apply(ev, t)
        mw.observe_records(engine.drain())
        after = engine.entity(kind, eid)
        if ev.type in ("conversation.started", "ticket.created"):
            mw.observe_event(kind, entity_dims(after), ev.type, t)
        elif ev.type == "conversation.rated":
            # The conversation has ended (engine state freed): the worker keeps the last dims.
            mw.observe_event(kind, ("conversation", "web", None, None, "regular", None, "A1"),
                             ev.type, t, score=ev.score)
        elif ev.type == "ticket.status_changed":
            reopen = prev_status in ("solved", "closed") and ev.status in ("open", "pending")
            if reopen:
                mw.observe_event(kind, dims_before, ev.type, t, reopened=True)
        close(t)
    engine.advance(events[-1][0] + 1)
    mw.observe_records(engine.drain())
    close(t0 + 10 * M)
    assert mw.open_windows == 0

    web_a1 = ("conversation", "web", None, None, "regular", None, "A1")
    web_none = ("conversation", "web", None, None, "regular", None, None)
    app_none = ("conversation", "app", None, None, "regular", None, None)
    t_a2 = ("ticket", "email", None, "high", "regular", "payment", "A2")
    t_none = ("ticket", "email", None, "high", "regular", "payment", None)
    assert set(emitted) == {(0, web_a1), (0, web_none), (0, app_none), (0, t_a2), (0, t_none),
                            (1, app_none), (1, web_a1), (1, t_a2), (2, web_a1), (2, t_a2)}

    w = emitted[(0, web_a1)]                         # c1 achieved 10 s, c2 late 45 s
    assert (w.first_responses, w.responded_within_target) == (2, 1)
    assert w.first_response_sum_us == 55 * US
    assert w.sla == {("first_response", "achieved"): 1, ("first_response", "completed_late"): 1}
    fr = w.to_dict()["first_response_seconds"]
    assert close_rel(fr["p50"], 10, 0.01) and fr["max"] == 45
    w = emitted[(0, web_none)]                       # c1, c2 started; c2 breached (no agent yet)
    assert w.started == 2 and w.sla == {("first_response", "breached"): 1}
    w = emitted[(0, app_none)]                       # c3 started, breached @50
    assert w.started == 1 and w.sla == {("first_response", "breached"): 1}
    w = emitted[(0, t_none)]
    assert w.started == 1 and w.sla == {}
    w = emitted[(0, t_a2)]                           # FR 30 s, solved @40
    assert (w.first_responses, w.responded_within_target, w.resolved) == (1, 1, 1)
    assert w.resolution_sum_us == 40 * US
    assert w.sla == {("first_response", "achieved"): 1, ("resolution", "achieved"): 1,
                     ("assignment", "cancelled"): 1}

    w = emitted[(1, app_none)]                       # c3 abandoned @70
    assert w.abandoned == 1
    assert w.sla == {("first_response", "abandoned"): 1, ("resolution", "cancelled"): 1}
    w = emitted[(1, web_a1)]                         # c1 resolved @100 after 100 s; rated 4
    assert w.resolved == 1 and w.resolution_sum_us == 100 * US
    assert (w.csat_count, w.csat_sum, w.csat_hist) == (1, 4, [0, 0, 0, 1, 0])
    w = emitted[(1, t_a2)]                           # reopen @90; `resumed` is not counted
    assert w.reopened == 1 and w.sla == {}
    w = emitted[(2, web_a1)]                         # c2 resolved @130 after 125 s
    assert w.resolved == 1 and w.resolution_sum_us == 125 * US
    w = emitted[(2, t_a2)]                           # t1 solved again @150: 40 + 60 s
    assert w.resolved == 1 and w.resolution_sum_us == 100 * US
    assert w.sla == {("resolution", "achieved"): 1}
    assert mw.late_events == 0
    assert sum(a.late_events for a in emitted.values()) == 0


def test_record_dims_matches_observe():
    r = rec("first_response", "achieved", 1, 1, dims=APP)
    assert record_dims(r) == APP
    mw = MetricWindows()
    mw.observe_record(r)
    assert [d for _, d, _ in mw.close_until(M)] == [APP]


# ---------------------------------------------------------------- cost
def test_observe_record_is_cheap():
    recs = [rec("first_response", "achieved" if i % 3 else "completed_late", i * 0.01, i % 97,
                dims=WEB if i % 2 else APP) for i in range(20_000)]
    mw = MetricWindows()
    t = time.perf_counter()
    mw.observe_records(recs)
    per = (time.perf_counter() - t) / len(recs)
    # A few µs on any machine; the bound is loose so that a busy CI host does not flake.
    assert per < 50e-6, f"{per * 1e6:.1f} µs per record"


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 1e6)), max_size=400),
       qs=st.lists(st.floats(0, 1), min_size=1, max_size=5))
def test_quantile_values_equal_the_sketch_libraries_own(values, qs):
    from streams.core.metrics import _new_sketch, quantile_values
    sketch = _new_sketch()
    for v in values:
        sketch.add(v)
    assert quantile_values(sketch, qs + [0.0, 0.5, 0.9, 0.99, 1.0]) == \
        [sketch.get_quantile_value(q) for q in qs + [0.0, 0.5, 0.9, 0.99, 1.0]]


@settings(max_examples=200, deadline=None)
@given(a=st.lists(st.one_of(st.just(0.0), st.floats(1e-3, 1e6)), max_size=300),
       b=st.lists(st.floats(1e-3, 1e6), max_size=300))
def test_small_bin_chunks_change_nothing_but_allocation(a, b):
    """Our sketches grow their bins 16 at a time (ddsketch: 128); every value, quantile, merge
    and serialised state must be what ddsketch's own default sketch gives."""
    from ddsketch import DDSketch

    from streams.core.metrics import RELATIVE_ACCURACY, _new_sketch, _sketch_state, quantile_values
    ours, theirs = [_new_sketch(), _new_sketch()], [DDSketch(RELATIVE_ACCURACY), DDSketch(RELATIVE_ACCURACY)]
    for values, o, t in zip((a, b), ours, theirs):
        for v in values:
            o.add(v)
            t.add(v)
    ours[0].merge(ours[1])
    theirs[0].merge(theirs[1])
    qs = [0.0, 0.25, 0.5, 0.9, 0.99, 1.0]
    assert ours[0].count == theirs[0].count
    assert quantile_values(ours[0], qs) == [theirs[0].get_quantile_value(q) for q in qs]
    assert _sketch_state(ours[0], 7) == _sketch_state(theirs[0], 7)
