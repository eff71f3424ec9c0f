"""The SLA summary over hand-built records; expectations worked out by hand in each test."""
from __future__ import annotations

import random

import pytest
from rich.console import Console

from streams.summary import render, summarise

# One clock per entity unless said otherwise; `at` advances one minute per record.
_BASE = dict(entity_kind="conversation", metric="first_response", policy="default", cycle=1,
             target_seconds=30, deadline="2026-11-02T01:00:30Z", channel="web", priority=None,
             customer_tier="regular", category=None, agent_id=None)
_n = 0


def rec(entity_id: str, status: str, elapsed: float = 0, **kw) -> dict:
    global _n
    _n += 1
    r = dict(_BASE, entity_id=entity_id, status=status, elapsed_seconds=elapsed,
             at=kw.pop("at", f"2026-11-02T01:{_n // 60 % 60:02d}:{_n % 60:02d}Z"))
    r.update(kw)
    return r


def web_first_response() -> list[dict]:
    return [
        rec("c1", "achieved", 10),
        rec("c2", "achieved", 20),
        rec("c3", "warning", 15),
        rec("c3", "achieved", 30),
        rec("c4", "warning", 15),
        rec("c4", "breached", 30),
        rec("c4", "completed_late", 50),
        rec("c5", "abandoned", 40),
        rec("c6", "breached", 30),           # still open at the end
        rec("c7", "breached", 30),
        rec("c7", "cancelled", 35),          # stopped for a non-SLA reason: no outcome
    ]


def test_counts_attainment_and_breaches_per_metric_and_channel():
    s = summarise(web_first_response())
    g = s.by_metric[("conversation", "first_response", "web")]
    # stopped: achieved c1 c2 c3 + completed_late c4 + abandoned c5 = 5
    assert (g.achieved, g.completed_late, g.abandoned) == (3, 1, 1)
    assert g.stopped == 5
    # outcomes: 5 stopped + c6 breached and still open = 6; c7 cancelled is no outcome
    assert g.open_breached == 1
    assert g.outcomes == 6
    assert g.attainment == pytest.approx(100 * 3 / 6)
    assert g.breaches == 3  # c4, c6, c7
    assert g.warnings == 2  # c3, c4
    assert s.records == 11


def test_elapsed_percentiles_over_achieved_and_late_only():
    g = summarise(web_first_response()).by_metric[("conversation", "first_response", "web")]
    # achieved + completed_late elapsed: 10, 20, 30, 50 (abandoned 40 and cancelled 35 excluded)
    # p50: rank floor(0.5 * 3) = 1 -> 20; p90: rank floor(0.9 * 3) = 2 -> 30
    assert g.p50 == pytest.approx(20, rel=0.01)
    assert g.p90 == pytest.approx(30, rel=0.01)


def test_percentiles_on_ten_values():
    records = [rec(f"e{i}", "achieved", 10 * i) for i in range(1, 11)]  # 10, 20, ..., 100
    g = summarise(records).by_metric[("conversation", "first_response", "web")]
    # p50: rank floor(0.5 * 9) = 4 -> 50; p90: rank floor(0.9 * 9) = 8 -> 90
    assert g.p50 == pytest.approx(50, rel=0.01)
    assert g.p90 == pytest.approx(90, rel=0.01)
    assert g.attainment == 100.0


def test_groups_by_channel_metric_and_policy():
    records = [
        rec("a", "achieved", 5, channel="app", policy="vip-chat", target_seconds=15),
        rec("b", "breached", 15, channel="app", policy="vip-chat", target_seconds=15),
        rec("b", "completed_late", 25, channel="app", policy="vip-chat", target_seconds=15),
        rec("c", "achieved", 12, channel="web"),
        rec("c", "achieved", 40, metric="next_response", cycle=1, channel="web", target_seconds=60),
        rec("c", "breached", 60, metric="next_response", cycle=2, channel="web", target_seconds=60),
        rec("t1", "achieved", 3600, entity_kind="ticket", metric="resolution", channel="email",
            policy="tickets", target_seconds=14400),
    ]
    s = summarise(records)
    assert set(s.by_metric) == {
        ("conversation", "first_response", "app"),
        ("conversation", "first_response", "web"),
        ("conversation", "next_response", "web"),
        ("ticket", "resolution", "email"),
    }
    app = s.by_metric[("conversation", "first_response", "app")]
    assert (app.achieved, app.completed_late, app.attainment) == (1, 1, 50.0)
    nr = s.by_metric[("conversation", "next_response", "web")]
    # cycle 1 achieved, cycle 2 breached and open: two clocks, 1 of 2 achieved
    assert (nr.stopped, nr.open_breached, nr.attainment) == (1, 1, 50.0)
    # policy default: c first_response + c next_response cycles 1 and 2 -> 2 achieved of 3
    default = s.by_policy["default"]
    assert (default.achieved, default.outcomes, default.breaches) == (2, 3, 1)
    assert default.attainment == pytest.approx(200 / 3)
    assert s.by_policy["vip-chat"].attainment == 50.0
    assert s.by_policy["tickets"].p50 == pytest.approx(3600, rel=0.01)


def test_first_response_per_channel_against_targets():
    records = [
        rec("v1", "achieved", 8, policy="vip-chat", target_seconds=15),
        rec("v2", "achieved", 12, policy="vip-chat", target_seconds=15),
        rec("r1", "achieved", 25),
        rec("r2", "breached", 30),
        rec("r2", "completed_late", 70),
        rec("r3", "abandoned", 90),                       # not a response
        rec("x", "achieved", 5, metric="next_response"),  # not first response
        rec("t", "achieved", 1800, entity_kind="ticket", target_seconds=3600),
    ]
    s = summarise(records)
    web = s.first_response[("conversation", "web")]
    assert web.count == 4
    assert web.targets == {15, 30}
    # 8, 12, 25, 70: p50 rank floor(1.5) = 1 -> 12; p90 rank floor(2.7) = 2 -> 25
    assert web.p50 == pytest.approx(12, rel=0.01)
    assert web.p90 == pytest.approx(25, rel=0.01)
    ticket = s.first_response[("ticket", "web")]
    assert (ticket.count, ticket.targets) == (1, {3600})


def test_input_order_does_not_matter():
    records = web_first_response()
    shuffled = records[:]
    random.Random(1).shuffle(shuffled)
    a = summarise(records).by_metric[("conversation", "first_response", "web")]
    b = summarise(shuffled).by_metric[("conversation", "first_response", "web")]
    assert (a.stopped, a.open_breached, a.breaches, a.warnings) == (
        b.stopped, b.open_breached, b.breaches, b.warnings)
    assert a.attainment == b.attainment


def test_breach_and_stop_at_same_instant_is_not_open():
    # Sorted by status text, "completed_late" comes before "breached"; the breach still counts
    # as the earlier state of the clock.
    at = "2026-11-02T02:00:00Z"
    s = summarise([rec("z", "completed_late", 31, at=at), rec("z", "breached", 30, at=at)])
    g = s.by_metric[("conversation", "first_response", "web")]
    assert (g.open_breached, g.completed_late, g.attainment) == (0, 1, 0.0)


def test_fractional_seconds_ordered_by_time_not_text():
    # "…00.5Z" sorts before "…00Z" as text but is later in time: the stop comes after the breach.
    s = summarise([rec("f", "achieved", 10, at="2026-11-02T03:00:00.500000Z"),
                   rec("f", "breached", 10, at="2026-11-02T03:00:00Z")])
    assert s.by_metric[("conversation", "first_response", "web")].open_breached == 0


def test_paused_breached_clock_stays_open_and_reopen_counts_again():
    t = dict(entity_kind="ticket", metric="resolution", channel="email", target_seconds=7200)
    records = [
        rec("T1", "breached", 7200, **t),
        rec("T1", "paused", 8000, **t),          # breached, then waiting on the customer
        rec("T2", "achieved", 3000, **t),
        rec("T2", "resumed", 3000, **t),         # reopened
        rec("T2", "breached", 7200, **t),        # ... and now late, still open
    ]
    g = summarise(records).by_metric[("ticket", "resolution", "email")]
    # outcomes: T2 achieved + T1 open breach + T2 open breach = 3, 1 achieved
    assert (g.achieved, g.open_breached, g.outcomes) == (1, 2, 3)
    assert g.attainment == pytest.approx(100 / 3)


def test_empty_groups_have_no_attainment_or_percentiles():
    g = summarise([rec("w", "warning", 15)]).by_metric[("conversation", "first_response", "web")]
    assert (g.outcomes, g.attainment, g.p50, g.p90) == (0, None, None, None)


def test_render_shows_tables():
    console = Console(record=True, width=200)
    render(summarise(web_first_response()), console)
    text = console.export_text()
    for heading in ("Conversations: SLA by metric and channel", "SLA by policy",
                    "First response by channel"):
        assert heading in text
    assert "50.0%" in text
    assert "first_response" in text and "default" in text
    assert "Tickets:" not in text  # no ticket records, no ticket table


def test_render_fits_80_columns():
    kinds = {"conversation": ("first_response", "next_response", "resolution"),
             "ticket": ("first_response", "assignment", "next_response", "resolution")}
    records = [rec(f"{kind}-{metric}-{channel}", status, 4000, entity_kind=kind, metric=metric,
                   channel=channel, policy="standard-ticket", target_seconds=7200)
               for kind, metrics in kinds.items() for metric in metrics
               for channel in ("wechat", "social") for status in ("breached", "completed_late")]
    # four-digit counts, as in a day of real traffic
    records += [rec(f"busy{i}", status, 12, channel="wechat", policy="other-chat")
                for i in range(1000) for status in ("warning", "achieved")]
    console = Console(record=True, width=80)
    render(summarise(records), console)
    text = console.export_text()
    assert "…" not in text  # nothing truncated
    assert "first_response" in text and "standard-ticket" in text


def test_render_empty():
    console = Console(record=True, width=100)
    render(summarise([]), console)
    assert "no SLA records" in console.export_text()
