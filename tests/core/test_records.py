"""Record serialisation: the fast JSON path and the dict path agree; ids are deterministic."""
from __future__ import annotations

import orjson
import pytest

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.core.records import RECORD_FIELDS, SlaRecord
from streams.core.timeutil import format_us


def rec(**kw) -> SlaRecord:
    base = dict(entity_kind="ticket", entity_id="T1", metric="resolution", policy="p", cycle=1,
                status="achieved", target_us=7_200_000_000, elapsed_us=1_500_000, deadline_us=1_762_045_245_000_000,
                at_us=1_762_045_242_000_000, channel="web", priority="urgent", customer_tier="vip",
                category="payment", agent_id="A7", queue=None, group="billing")
    base.update(kw)
    return SlaRecord(**base)


@pytest.mark.parametrize("kw", [{}, {"elapsed_us": 1_000_001, "at_us": 1_762_045_242_000_123},
                                {"deadline_us": None, "agent_id": None}, {"target_us": 15_500_000}])
@pytest.mark.parametrize("extended", [False, True])
def test_to_json_equals_to_dict(kw, extended):
    r = rec(**kw)
    assert orjson.loads(r.to_json(extended)) == r.to_dict(extended)
    assert r.to_json(extended).endswith(b"\n")


def test_dict_shape_and_units():
    d = rec().to_dict()
    assert tuple(d) == RECORD_FIELDS
    assert d["target_seconds"] == 7200 and isinstance(d["target_seconds"], int)
    assert d["elapsed_seconds"] == 1.5
    assert d["deadline"] == "2025-11-02T01:00:45Z" and d["at"] == "2025-11-02T01:00:42Z"


def test_record_id_is_deterministic_and_distinguishes_changes():
    assert rec().record_id == rec().record_id
    ids = {rec().record_id, rec(status="breached").record_id, rec(at_us=1).record_id,
           rec(cycle=2).record_id, rec(entity_id="T2").record_id, rec(entity_kind="conversation").record_id}
    assert len(ids) == 6
    # the id ignores attributes that may legitimately differ between deliveries of one change
    assert rec(agent_id="other").record_id == rec().record_id


def test_warnings_for_different_fractions_have_distinct_ids():
    a = rec(status="warning", fraction=0.5)
    b = rec(status="warning", fraction=0.8)
    assert a.record_id != b.record_id
    assert a.to_dict(extended=True)["warn_fraction"] == 0.5


@pytest.mark.parametrize("extended", [False, True])
def test_encode_records_is_to_json_of_each_record_in_chunks(extended):
    from streams.core.records import encode_records
    records = [rec(entity_id=f"T{i}", elapsed_us=i * 999_999, deadline_us=None if i % 3 else 1_762_045_245_000_001,
                   fraction=0.5 if i % 2 else None) for i in range(300)]
    chunks = [bytes(c) for c in encode_records(records, extended, chunk_bytes=4096)]
    assert len(chunks) > 5 and all(c.endswith(b"\n") for c in chunks)
    assert b"".join(chunks) == b"".join(r.to_json(extended) for r in records)
    lines = b"".join(chunks).splitlines()
    assert [orjson.loads(x) for x in lines] == [r.to_dict(extended) for r in records]


def test_json_keeps_the_contract_field_order_and_utc_z():
    line = rec(at_us=1_762_045_242_000_123).to_json()
    assert list(orjson.loads(line)) == list(RECORD_FIELDS)
    assert b'"at":"2025-11-02T01:00:42.000123Z"' in line


# Record times are formatted by `format_us` (caches, no datetime per record); they must stay
# byte for byte what msgspec writes for the same UTC datetime, as they were before.
_US_MIN = -86_400 * 1_000_000 * 365 * 5          # 1965: before the epoch too
_US_MAX = 253_402_300_799_999_999                # 9999-12-31T23:59:59.999999Z


def _msgspec_text(us: int) -> str:
    from datetime import timedelta

    import msgspec

    from streams.core.timeutil import EPOCH

    return msgspec.json.encode(EPOCH + timedelta(microseconds=us))[1:-1].decode()


@given(st.integers(min_value=_US_MIN, max_value=_US_MAX))
@settings(max_examples=2000, deadline=None)
def test_record_time_text_is_what_msgspec_writes_for_the_datetime(us) -> None:
    assert format_us(us) == _msgspec_text(us)
    assert format_us(us) == format_us(us)  # the cached answer too


@pytest.mark.parametrize("us", [0, 1, 999_999, 1_000_000, 86_399_999_999, 86_400_000_000, -1,
                                -86_400_000_000, 1_764_547_200_000_000, _US_MAX])
def test_record_time_text_at_the_edges(us) -> None:
    assert format_us(us) == _msgspec_text(us)
