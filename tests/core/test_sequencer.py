"""The live event-time clock: disorder within lateness gives the replay's records; idle time
still fires breaches; late events are applied and counted."""
from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.engine import SlaEngine
from streams.core.events import decode_event
from streams.core.policy import load_policies_text
from streams.core.sequencer import Sequencer
from streams.core.timeutil import US, to_us
from tests.core.test_engine_properties import RULES, random_scenario
from tests.scenario import Scenario, T0, run_replay

LATENESS = 10 * US


def arrivals(lines, jitter_s: float, seed: int):
    """Events in an arrival order that is out of event-time order by at most `jitter_s`."""
    rnd = random.Random(seed)
    evs = [decode_event(l) for l in lines]
    keyed = [(to_us(e.occurred_at) + rnd.uniform(0, jitter_s) * US, i, e) for i, e in enumerate(evs)]
    keyed.sort(key=lambda x: (x[0], x[1]))
    return [e for _, _, e in keyed]


def stream(evs, policies, lateness=LATENESS):
    """Feed a sequencer as a busy partition would (wall time tracks event time), then idle."""
    seq = Sequencer(SlaEngine(policies), lateness)
    applied = []
    for offset, ev in enumerate(evs):
        t = to_us(ev.occurred_at)
        applied += seq.offer(ev, t, offset, wall=0, token=offset)
        applied += seq.tick(wall=0)
    return seq, applied


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10**6), jitter=st.floats(0, 9.9))
def test_disorder_within_lateness_gives_replay_records(seed, jitter):
    lines = random_scenario(seed).lines()
    policies = load_policies_text(RULES)
    newest = max(to_us(decode_event(l).occurred_at) for l in lines)
    seq, applied = stream(arrivals(lines, jitter, seed), policies)
    applied += seq.advance_to(newest + 1)          # what replay's default --until does
    assert seq.late == 0 and seq.pending == 0
    assert sorted(applied) == list(range(len(lines)))
    live = [r.to_dict() for r in sorted(seq.engine.drain(), key=lambda r: r.sort_key())]
    assert live == run_replay(lines, RULES)


RULES_30S = """
policies:
  - name: chat
    match: {kind: conversation}
    targets: {first_response: {within: 30s}}
"""


def test_idle_input_still_fires_breach_after_lateness():
    s = Scenario()
    s.started("c1", 0)
    ev = decode_event(s.lines()[0])
    t0 = to_us(T0)
    seq = Sequencer(SlaEngine(load_policies_text(RULES_30S)), LATENESS, idle_after_us=US)
    seq.offer(ev, t0, 0, wall=t0, token="a")
    assert seq.tick(wall=t0) == []                      # held: the watermark is t0 - 10 s
    seq.tick(wall=t0 + 39 * US)
    assert seq.engine.drain() == []                     # deadline t0+30 s, watermark t0+29 s
    seq.tick(wall=t0 + 40 * US + 1)
    [rec] = seq.engine.drain()
    assert rec.status == "breached" and rec.at_us == t0 + 30 * US


def test_no_idle_advance_while_a_backlog_is_consumed():
    s = Scenario()
    s.started("c1", 0)
    s.started("c2", 5)
    evs = [decode_event(l) for l in s.lines()]
    seq = Sequencer(SlaEngine(load_policies_text(RULES_30S)), LATENESS, idle_after_us=US)
    wall = 10**15  # weeks after the events: a backlog
    seq.offer(evs[0], to_us(evs[0].occurred_at), 0, wall=wall)
    seq.offer(evs[1], to_us(evs[1].occurred_at), 1, wall=wall + US // 2)
    seq.tick(wall=wall + US // 2)
    assert seq.watermark == to_us(evs[1].occurred_at) - LATENESS
    assert seq.engine.drain() == []


def test_late_event_is_applied_at_once_and_counted():
    s = Scenario()
    s.started("c1", 0)
    s.started("c2", 100)
    s.msg("c1", 20, "agent")          # arrives after the watermark (90 s) passed it
    evs = [decode_event(l) for l in s.lines()]
    seq = Sequencer(SlaEngine(load_policies_text(RULES_30S)), LATENESS)
    seq.offer(evs[0], to_us(evs[0].occurred_at), 0, wall=0, token=0)
    seq.offer(evs[1], to_us(evs[1].occurred_at), 1, wall=0, token=1)
    assert seq.tick(wall=0) == [0]
    assert seq.offer(evs[2], to_us(evs[2].occurred_at), 2, wall=0, token=2) == [2]
    assert seq.late == 1 and seq.engine.stats.late == 1
    # c1's breach at 30 s already fired before the late reply: records are not rewritten
    assert [r.status for r in seq.engine.drain()] == ["breached", "completed_late"]


def test_state_restore_keeps_the_clock():
    seq = Sequencer(SlaEngine(load_policies_text(RULES_30S)), LATENESS)
    s = Scenario()
    s.started("c1", 0)
    ev = decode_event(s.lines()[0])
    seq.offer(ev, to_us(ev.occurred_at), 0, wall=5)
    seq.tick(wall=5)
    other = Sequencer(SlaEngine(load_policies_text(RULES_30S)), LATENESS)
    other.restore(seq.state(), wall=7)
    assert other.state() == seq.state()
    assert other.engine.now == seq.watermark


def test_idle_partition_follows_the_input_frontier():
    """A quiet partition (last event long ago) moves with the newest event of the whole input."""
    s = Scenario()
    s.started("c1", 0)
    ev = decode_event(s.lines()[0])
    t0 = to_us(T0)
    seq = Sequencer(SlaEngine(load_policies_text(RULES_30S)), LATENESS, idle_after_us=US)
    seq.offer(ev, t0, 0, wall=0)
    frontier = (t0 + 3600 * US, 0)      # another partition has seen event time an hour later
    seq.tick(wall=0, frontier=frontier)
    assert seq.watermark == t0 - LATENESS          # not idle yet: its own event time
    seq.tick(wall=2 * US, frontier=frontier)
    assert seq.watermark == t0 + 3600 * US - LATENESS + 2 * US
    assert [r.status for r in seq.engine.drain()] == ["breached"]


def test_live_input_idles_on_the_wall_clock_despite_delivery_latency():
    s = Scenario()
    s.started("c1", 0)
    ev = decode_event(s.lines()[0])
    t0 = to_us(T0)
    seq = Sequencer(SlaEngine(load_policies_text(RULES_30S)), LATENESS, idle_after_us=US)
    seq.offer(ev, t0, 0, wall=t0 + 2 * US)   # arrived 2 s after it happened: still live
    seq.tick(wall=t0 + 40 * US)             # deadline t0 + 30 s, + lateness 10 s
    assert seq.watermark == t0 + 30 * US
    assert seq.engine.drain() == []
    seq.tick(wall=t0 + 40 * US + 1)
    assert [r.status for r in seq.engine.drain()] == ["breached"]


def test_caught_up_live_partition_follows_the_wall_clock_between_sparse_arrivals():
    """Arrivals every 0.5 s (never idle for `idle_after`) on a fully read live partition: the
    breach fires at deadline + lateness, not up to `idle_after` later; with unread messages
    (not caught up) the clock stays on event time."""
    s = Scenario()
    s.started("c1", 0)
    ev = decode_event(s.lines()[0])
    t0 = to_us(T0)
    for caught_up, fires_at in ((True, 40 * US), (False, None)):
        seq = Sequencer(SlaEngine(load_policies_text(RULES_30S)), LATENESS, idle_after_us=US)
        seq.caught_up = caught_up
        seq.offer(ev, t0, 0, wall=t0, token="a")
        fired = None
        for step in range(1, 100):
            wall = t0 + step * US // 2
            seq.last_arrival = wall          # another (irrelevant) message just arrived
            seq.tick(wall=wall)
            if fired is None and seq.engine.drain():
                fired = wall - t0
        assert fired == (fires_at + US // 2 if fires_at is not None else None)


class _Recorder:
    """An engine stand-in that only notes the order of what it is given (the order is the
    sequencer's whole job here; the SLA engine is exercised by the tests above)."""

    def __init__(self) -> None:
        self.now = 0
        self.seen: list[tuple[int, int]] = []

    def advance(self, wm: int) -> None:
        self.now = wm


@settings(max_examples=300, deadline=None)
@given(steps=st.lists(st.tuples(st.lists(st.integers(0, 50), max_size=20), st.integers(0, 60)),
                      max_size=15))
def test_held_events_come_out_in_time_then_offset_order_and_none_is_lost(steps):
    """Batches of offers in any time order, each followed by a watermark move: every move
    applies exactly the held events before it, in (time, offset) order; the rest stay held."""
    engine = _Recorder()
    seq = Sequencer(engine, 0, apply=lambda ev, t: engine.seen.append((t, ev)))
    offset, held = 0, []
    for times, wm in steps:
        for t in times:
            if t >= seq.watermark:  # an older one would be late: applied at once, not held
                assert seq.offer(offset, t, offset, wall=0, token=offset) == []
                held.append((t, offset))
            offset += 1
        before, wm_before = len(engine.seen), seq.watermark
        if held:
            assert seq.oldest_pending() == min(held)[0]
            assert seq.oldest_held_seq() == min(o for _, o in held)
        tokens = seq.advance_to(wm)
        # The watermark never goes back: a lower one applies nothing.
        due = sorted(h for h in held if h[0] < wm) if wm > wm_before else []
        assert engine.seen[before:] == due
        assert tokens == [o for _, o in due]
        held = [h for h in held if h not in due]
        assert seq.pending == len(held)
