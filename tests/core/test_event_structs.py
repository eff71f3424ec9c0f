"""The fast decode path (msgspec Structs, streams/core/event_structs.py) against the schema of
record (the pydantic models): same fields, and for any input the same outcome as
`decode_event_with_models` (same values when accepted, same code and reason when rejected)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.core.event_structs import STRUCT_CLASSES
from streams.core.events import (
    EVENT_CLASSES,
    EventError,
    decode_event,
    decode_event_at,
    decode_event_with_models,
)
from streams.core.timeutil import EPOCH
from streams.generator import GeneratorConfig, generate
from tests.faults.fuzz import fuzzed_messages


def outcome(decode, raw: bytes):
    try:
        ev = decode(raw)
    except EventError as exc:
        return ("rejected", exc.code, exc.reason)
    fields = {name: getattr(ev, name) for name in EVENT_CLASSES[ev.type].model_fields}
    return ("accepted", ev.type, ev.kind, ev.entity_id, fields, ev.occurred_at.utcoffset())


def same(raw: bytes) -> None:
    assert outcome(decode_event, raw) == outcome(decode_event_with_models, raw), raw[:300]
    try:
        ev, t = decode_event_at(raw)
    except EventError:
        return
    assert t == (ev.occurred_at - EPOCH) // timedelta(microseconds=1), raw[:300]


@pytest.mark.parametrize("type_", list(EVENT_CLASSES))
def test_struct_has_the_models_fields_defaults_and_required_set(type_):
    model, struct = EVENT_CLASSES[type_], STRUCT_CLASSES[type_]
    info = {f.name: f for f in msgspec.structs.fields(struct)}
    model_fields = {k: v for k, v in model.model_fields.items() if k != "type"}  # the tag
    assert set(info) == set(model_fields)
    for name, field in model_fields.items():
        assert field.is_required() == (info[name].required), name
        if not field.is_required():
            assert info[name].default == field.default, name
    assert struct.type == type_ and struct.kind == model.kind


def test_generated_traffic_decodes_the_same_on_both_paths():
    lines = [orjson.dumps(e) for e in generate(GeneratorConfig(seed=11, days=1))]
    assert len(lines) > 5000
    for raw in lines:
        same(raw)
        assert type(decode_event(raw)).__module__ == "streams.core.event_structs"  # fast path taken


def test_fuzzed_input_decodes_the_same_on_both_paths():
    messages, _ = fuzzed_messages(5, 20_000, datetime(2026, 3, 2, tzinfo=timezone.utc))
    rejected = 0
    for m in messages:
        same(m.raw)
        rejected += m.code is not None
    assert rejected > 5000  # the corpus does exercise the error paths


BASE = {"event_id": "e-1", "occurred_at": "2026-11-11T09:00:00+08:00", "conversation_id": "c-1",
        "ticket_id": "t-1", "channel": "web", "customer_id": "u", "priority": "high",
        "category": "billing", "message_id": "m", "author_role": "agent", "text": "hi",
        "agent_id": "a", "assignee_id": "a", "outcome": "resolved", "score": 4, "status": "open",
        "public": True}

# Values at and beyond each constraint, of every JSON kind, including the ones msgspec and
# pydantic are known to read differently on their own (offsets without a colon, nanoseconds,
# big integers, floats for integers, null tiers).
_odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 7), st.integers(2**63 - 2, 2**70),
    st.sampled_from([1.0, 4.0, 0.5, 1e300, "", "x" * 64, "x" * 65, "x" * 128, "x" * 129, "x" * 257,
                     "vip", "regular", "new", "gold", "urgent", "pending", "bot", "system",
                     "2026-11-11T09:00:00+0800", "2026-11-11T09:00:00.9999999Z",
                     "2026-11-11t09:00:00z", "2026-11-11 09:00:00Z", "2026-11-11T09:00:00",
                     "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
                     "2026-02-29T00:00:00Z", "2026-11-11T24:00:00Z", "2026-11-11T09:00:00-00:00",
                     "\u00e9\u4e2d", "１"]),
    st.text(max_size=5), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(type_=st.sampled_from(list(EVENT_CLASSES)),
       changes=st.dictionaries(st.sampled_from(sorted(BASE) + ["customer_tier", "schema_version", "type", "comment", "queue"]),
                               _odd_values, max_size=3),
       drop=st.sets(st.sampled_from(sorted(BASE)), max_size=2))
def test_any_mutation_of_a_valid_event_decodes_the_same_on_both_paths(type_, changes, drop):
    doc = {"type": type_, **{k: v for k, v in BASE.items() if k not in drop}}
    doc.update(changes)
    same(json.dumps(doc, ensure_ascii=False).encode())


@settings(max_examples=3000, deadline=None)
@given(at=st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(8998, 12, 30),
                       timezones=st.timezones(no_cache=True) | st.just(timezone.utc)),
       digits=st.integers(0, 9), sep=st.sampled_from("Tt "), zulu=st.sampled_from(["Z", "z", "+00:00", "-00:00"]))
def test_event_time_in_us_from_any_rfc3339_form(at, digits, sep, zulu):
    """decode_event_at's µs (parsed from the offset text) equal the datetime arithmetic."""
    off = at.utcoffset()
    if off is None or off % timedelta(minutes=1):
        return  # RFC 3339 offsets are whole minutes
    text = at.replace(tzinfo=None).isoformat(sep=sep, timespec="microseconds")[:26 if digits else 19]
    if digits:
        text = text[:20] + (text[20:] + "000")[:digits]
    sign, mins = ("-" if off < timedelta(0) else "+"), abs(off) // timedelta(minutes=1)
    text += zulu if not off and zulu else f"{sign}{mins // 60:02d}:{mins % 60:02d}"
    same(orjson.dumps({"type": "ticket.rated", "event_id": "e", "ticket_id": "t", "score": 3,
                       "occurred_at": text}))


@pytest.mark.parametrize("raw", [
    b'{"type":"ticket.rated","event_id":"e","ticket_id":"t","score":3,"occurred_at":"2026-01-01T00:00:00Z","ticket_id":"u"}',
    b'{"type":"ticket.rated","event_id":"e","ticket_id":"t","score":3,"occurred_at":"2026-01-01T00:00:00Z","schema_version":100000000000000000000000000000}',
    b'{"type":"ticket.rated","event_id":"e","ticket_id":"t","score":3,"occurred_at":"2026-01-01T00:00:00Z"} \n',
    b'{"type":"ticket.comment","event_id":"e","ticket_id":"t","author_role":"agent","public":true,"text":"\\ud800","occurred_at":"2026-01-01T00:00:00Z"}',
    b'\xef\xbb\xbf{"type":"ticket.rated","event_id":"e","ticket_id":"t","score":3,"occurred_at":"2026-01-01T00:00:00Z"}',
])
def test_known_differences_between_the_parsers_do_not_show(raw):
    same(raw)
