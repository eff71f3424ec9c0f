"""Persisted entity state: a restored engine continues exactly like one that never stopped."""
from __future__ import annotations

import pytest

from streams.core.engine import SlaEngine
from streams.core.events import decode_event
from streams.core.policy import load_policies_text
from streams.core.state import StateError, dump_entity, load_entity
from streams.core.timeutil import to_us
from tests.core.test_engine_properties import RULES, random_scenario


def decoded(lines):
    evs = [decode_event(l) for l in lines]
    return sorted(((to_us(e.occurred_at), i, e) for i, e in enumerate(evs)), key=lambda x: x[:2])


def run_with_restart(items, policies, cut: int, end: int):
    """Apply items[:cut], persist dirty entities, restore into a fresh engine, apply the rest.

    Like a crashed worker: the events after the last persisted state are re-applied too (from
    `cut - 3`), and must be recognised as duplicates.
    """
    a = SlaEngine(policies)
    store: dict[tuple[str, str], bytes] = {}
    for t, _, ev in items[:cut]:
        a.apply(ev, t)
    for e in a.take_dirty():
        store[(e.kind, e.id)] = dump_entity(e)
    records = a.drain()
    b = SlaEngine(policies)
    b.now = a.now
    b.restore(load_entity(v, b) for v in store.values())
    for t, _, ev in items[max(cut - 3, 0):]:
        b.apply(ev, t)
    b.advance(end)
    return records + b.drain()


@pytest.mark.parametrize("seed", range(40))
def test_restore_midway_gives_the_same_records(seed):
    policies = load_policies_text(RULES)
    items = decoded(random_scenario(seed).lines())
    end = items[-1][0] + 1
    ref = SlaEngine(policies)
    for t, _, ev in items:
        ref.apply(ev, t)
    ref.advance(end)
    expected = sorted(r.to_dict(extended=True)["record_id"] for r in ref.drain())
    for cut in (1, len(items) // 3, len(items) // 2, len(items) - 1):
        got = run_with_restart(items, policies, cut, end)
        # the same changes, each once (a threshold fired again after restore carries the same id)
        assert sorted({r.record_id for r in got}) == expected


def test_dump_load_round_trip_is_stable():
    policies = load_policies_text(RULES)
    eng = SlaEngine(policies)
    for t, _, ev in decoded(random_scenario(3).lines()):
        eng.apply(ev, t)
    for d in eng.entities.values():
        for e in d.values():
            blob = dump_entity(e)
            assert dump_entity(load_entity(blob, eng)) == blob


def test_corrupt_state_raises_state_error():
    eng = SlaEngine(load_policies_text(RULES))
    for bad in (b"not json", b"[99]", b"[1, \"ticket\"]", b"{}"):
        with pytest.raises(StateError):
            load_entity(bad, eng)
