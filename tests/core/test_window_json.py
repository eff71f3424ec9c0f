"""The window-cell message (streams.core.window_json) is `to_dict` with its header, byte-cheap.

The definition of the message is `{window_id, window_start, window_seconds, source_partition,
<dims>, **WindowAggregate.to_dict()}` (README, "Outputs"); the fast encoder must give exactly
that JSON value and `metrics.window_id` as key, for real cells and for arbitrary ones.
"""
from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.metrics import DIM_NAMES, WINDOW_US, MetricWindows, WindowAggregate, window_id
from streams.core.policy import load_policies
from streams.core.timeutil import US, format_us
from streams.core.window_json import window_message
from streams.generator import GeneratorConfig, generate
from streams.processor import PartitionProcessor
from tests.core.test_metrics import rec
from streams.settings import DEFAULT_RULES as RULES


def definition(start: int, dims: tuple, agg: WindowAggregate, part: int) -> dict:
    return {"window_id": window_id(start, dims), "window_start": format_us(start),
            "window_seconds": 60, "source_partition": part, **dict(zip(DIM_NAMES, dims)),
            **agg.to_dict()}


def check(start: int, dims: tuple, agg: WindowAggregate, part: int) -> None:
    key, value = window_message(start, dims, agg, part)
    want = definition(start, dims, agg, part)
    assert key == want["window_id"].encode()
    got = orjson.loads(value)
    assert got == want
    assert list(got) == list(want)  # the documented field order, too


def test_every_cell_of_a_generated_day_encodes_as_its_definition():
    policies = load_policies(RULES)
    events = list(generate(GeneratorConfig(seed=5, days=1)))
    p = PartitionProcessor("in", 0, "conversation", policies, lateness_us=2 * US,
                           idle_after_us=US, future_skew_us=1 << 62)
    cells = []
    for i, e in enumerate(ev for ev in events if ev["type"].startswith("conversation.")):
        p.ingest(i, orjson.dumps(e), 0)
        if i % 500 == 0:
            p.tick(0)
            cells += p.drain().windows
    p.sequencer.advance_to(1 << 60)
    cells += p.drain().windows
    assert len(cells) > 500
    kinds = {(a._fr_sketch is not None, a._res_sketch is not None, a.csat_count > 0) for _, _, a in cells}
    assert (True, False, False) in kinds and (False, False, False) in kinds  # both shapes seen
    assert any(a.csat_count for _, _, a in cells)
    for start, dims, agg in cells:
        check(start, dims, agg, 3)


_dim = st.one_of(st.none(), st.text(max_size=12))


@settings(max_examples=300, deadline=None)
@given(dims=st.tuples(st.sampled_from(["conversation", "ticket"]), *[_dim] * 6),
       minute=st.integers(-10**6, 10**8),
       outcomes=st.lists(st.tuples(
           st.sampled_from(["first_response", "resolution", "next_response"]),
           st.sampled_from(["achieved", "completed_late", "breached", "abandoned", "warning",
                            "cancelled"]),
           st.floats(0, 10**6)), max_size=12),
       ratings=st.lists(st.integers(1, 5), max_size=4), late=st.integers(0, 3),
       part=st.integers(0, 63))
def test_any_cell_encodes_as_its_definition(dims, minute, outcomes, ratings, late, part):
    start = minute * WINDOW_US
    mw = MetricWindows()
    for metric, status, elapsed in outcomes:
        r = rec(metric, status, start / US + 1, elapsed, dims=dims)
        mw.observe_record(r)
    agg = mw._windows.get(start, {}).get(dims) or WindowAggregate()
    for score in ratings:
        agg.add_csat(score)
    agg.late_events += late
    check(start, dims, agg, part)


def test_window_id_is_the_hash_of_its_json_key_with_the_dims_cache_bounded(monkeypatch):
    import hashlib

    import streams.core.metrics as metrics

    monkeypatch.setattr(metrics, "_DIMS_JSON_MAX", 3)
    metrics._DIMS_JSON.clear()
    for i in range(10):
        dims = ("ticket", f'q"{i}', None, "é", "", None, str(i))
        for start in (0, -WINDOW_US, 17 * WINDOW_US):
            key = orjson.dumps([start, *dims])
            assert window_id(start, dims) == hashlib.blake2b(key, digest_size=16).hexdigest()
        assert len(metrics._DIMS_JSON) <= 3
