"""Contract tests for streams.core.events (shared/spec/events.md): models, defaults, and that
every kind of bad input becomes an EventError with the right code and a precise reason."""
from __future__ import annotations

import json
import pickle
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import msgspec
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

try:
    import streams  # noqa: F401
except ImportError:  # running without the project installed / pythonpath configured
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from streams.core.events import (  # noqa: E402
    EVENT_CLASSES,
    EVENT_TYPES,
    ConversationAssigned,
    ConversationEnded,
    ConversationMessage,
    ConversationRated,
    ConversationStarted,
    ConversationTransferred,
    EventError,
    TicketAssigned,
    TicketComment,
    TicketCreated,
    TicketPriorityChanged,
    TicketRated,
    TicketStatusChanged,
    decode_event,
)

TS = "2026-11-11T09:00:00+08:00"
CONV = {"event_id": "c-1", "occurred_at": TS, "conversation_id": "CV1"}
TICK = {"event_id": "t-1", "occurred_at": TS, "ticket_id": "T1"}

VALID: dict[str, tuple[type, dict]] = {
    "conversation.started": (
        ConversationStarted,
        {**CONV, "channel": "wechat", "customer_id": "C9", "customer_tier": "vip", "queue": "billing", "language": "zh"},
    ),
    "conversation.message": (
        ConversationMessage,
        {**CONV, "message_id": "m1", "author_role": "customer", "text": "我的订单还没到"},
    ),
    "conversation.assigned": (ConversationAssigned, {**CONV, "agent_id": "A7", "queue": "vip"}),
    "conversation.transferred": (
        ConversationTransferred,
        {**CONV, "from_agent_id": "A7", "to_agent_id": "A8", "to_queue": "tier2"},
    ),
    "conversation.ended": (ConversationEnded, {**CONV, "outcome": "resolved"}),
    "conversation.rated": (ConversationRated, {**CONV, "score": 5, "comment": "很好"}),
    "ticket.created": (
        TicketCreated,
        {**TICK, "channel": "web", "priority": "urgent", "category": "payment", "customer_id": "C9",
         "customer_tier": "new", "conversation_id": "CV1", "group": "finance"},
    ),
    "ticket.assigned": (TicketAssigned, {**TICK, "assignee_id": "A7", "group": "finance"}),
    "ticket.status_changed": (TicketStatusChanged, {**TICK, "status": "on_hold"}),
    "ticket.comment": (
        TicketComment,
        {**TICK, "author_role": "agent", "author_id": "A7", "public": False, "text": "internal note"},
    ),
    "ticket.priority_changed": (TicketPriorityChanged, {**TICK, "priority": "high"}),
    "ticket.rated": (TicketRated, {**TICK, "score": 1}),
}

CONTRACT_EXAMPLES = [
    '{"event_id":"e1","type":"ticket.created","occurred_at":"2026-11-11T09:00:00+08:00","ticket_id":"T1",'
    '"channel":"web","priority":"urgent","category":"payment","customer_id":"C9","customer_tier":"vip"}',
    '{"event_id":"e2","type":"ticket.comment","occurred_at":"2026-11-11T09:40:00+08:00","ticket_id":"T1",'
    '"author_role":"agent","author_id":"A7","public":true,"text":"您好，很高兴为您服务"}',
]


def raw(type_: str, **changes) -> bytes:
    """A valid event of `type_` as bytes, with fields changed (value None from `drop` removes)."""
    doc = {"type": type_, **VALID[type_][1]}
    for key in changes.pop("drop", ()):
        doc.pop(key)
    doc.update(changes)
    return json.dumps(doc, ensure_ascii=False).encode()


def fields_of(event) -> dict:
    """The contract fields of a decoded event, whichever class carries it (decode_event returns
    the msgspec Struct on its fast path, the pydantic model on its fallback)."""
    return {name: getattr(event, name) for name in EVENT_CLASSES[event.type].model_fields}


def error(data: bytes | str, **kw) -> EventError:
    with pytest.raises(EventError) as info:
        decode_event(data, **kw)
    return info.value


# --- valid input -----------------------------------------------------------------------------


def test_event_types_are_the_twelve_contract_types():
    assert set(EVENT_TYPES) == set(VALID)
    assert len(EVENT_TYPES) == 12


@pytest.mark.parametrize("type_", list(VALID))
def test_every_type_decodes(type_):
    cls, fields = VALID[type_]
    event = decode_event(raw(type_))
    assert type(event).__name__ == cls.__name__
    assert event.type == type_
    for key, value in fields.items():
        if key == "occurred_at":
            assert event.occurred_at == datetime(2026, 11, 11, 1, 0, tzinfo=timezone.utc)
            assert event.occurred_at.utcoffset() == timedelta(hours=8)
        else:
            assert getattr(event, key) == value
    prefix = type_.split(".")[0]
    assert cls.kind == event.kind == prefix
    assert event.entity_id == (fields["conversation_id"] if prefix == "conversation" else fields["ticket_id"])


def test_contract_examples_decode_from_bytes_and_str():
    created = decode_event(CONTRACT_EXAMPLES[0].encode())
    assert created.type == "ticket.created"
    assert (created.event_id, created.ticket_id, created.channel, created.priority, created.category) == (
        "e1", "T1", "web", "urgent", "payment")
    assert (created.customer_id, created.customer_tier, created.conversation_id, created.group) == (
        "C9", "vip", None, None)
    assert created.entity_id == "T1" and created.kind == "ticket"

    comment = decode_event(CONTRACT_EXAMPLES[1])  # str input
    assert comment.type == "ticket.comment"
    assert comment.text == "您好，很高兴为您服务"
    assert comment.public is True and comment.author_id == "A7" and comment.author_role == "agent"
    assert comment.occurred_at == datetime(2026, 11, 11, 1, 40, tzinfo=timezone.utc)
    assert decode_event(CONTRACT_EXAMPLES[1].encode("utf-8")) == comment
    assert decode_event(bytearray(CONTRACT_EXAMPLES[1].encode())) == comment


def test_defaults():
    started = decode_event(raw("conversation.started", drop=["customer_tier", "queue", "language"]))
    assert started.customer_tier == "regular"
    assert started.queue is None and started.language is None
    assert started.schema_version == 1
    created = decode_event(raw("ticket.created", drop=["customer_tier", "conversation_id", "group"]))
    assert created.customer_tier == "regular" and created.conversation_id is None and created.group is None
    assert decode_event(raw("conversation.transferred", drop=["from_agent_id", "to_agent_id", "to_queue"])) \
        .to_queue is None
    assert decode_event(raw("ticket.rated")).comment is None


@pytest.mark.parametrize("type_", ["conversation.started", "ticket.created"])
def test_null_customer_tier_is_regular(type_):
    assert decode_event(raw(type_, customer_tier=None)).customer_tier == "regular"
    assert error(raw(type_, customer_tier="gold")).code == "invalid_field"


def test_schema_version():
    assert decode_event(raw("ticket.assigned", schema_version=2)).schema_version == 2
    assert error(raw("ticket.assigned", schema_version=0)).reason.startswith("field 'schema_version':")
    assert error(raw("ticket.assigned", schema_version="1")).reason.startswith("field 'schema_version':")
    assert error(raw("ticket.assigned", schema_version=1.0)).code == "invalid_field"


def test_extra_fields_ignored():
    event = decode_event(raw("conversation.ended", sentiment="angry", nested={"a": [1, 2]}, outcome="timeout"))
    assert event.outcome == "timeout"
    assert not hasattr(event, "sentiment") and not hasattr(event, "nested")
    assert "sentiment" not in msgspec.structs.asdict(event)


def test_events_are_frozen_and_hashable():
    event = decode_event(raw("ticket.status_changed"))
    with pytest.raises(AttributeError):
        event.status = "closed"
    assert hash(event) == hash(decode_event(raw("ticket.status_changed")))
    model = TicketStatusChanged.model_validate_json(raw("ticket.status_changed"))
    with pytest.raises(ValidationError):
        model.status = "closed"


@pytest.mark.parametrize("stamp,expected", [
    ("2026-11-11T01:00:00Z", datetime(2026, 11, 11, 1, tzinfo=timezone.utc)),
    ("2026-11-11t01:00:00z", datetime(2026, 11, 11, 1, tzinfo=timezone.utc)),
    ("2026-11-11 01:00:00+00:00", datetime(2026, 11, 11, 1, tzinfo=timezone.utc)),
    ("2026-11-10T20:00:00.250-05:00", datetime(2026, 11, 11, 1, 0, 0, 250000, tzinfo=timezone.utc)),
    ("2026-11-11T01:00:00.123456789Z", datetime(2026, 11, 11, 1, 0, 0, 123456, tzinfo=timezone.utc)),
])
def test_rfc3339_timestamps_accepted(stamp, expected):
    assert decode_event(raw("ticket.rated", occurred_at=stamp)).occurred_at == expected


@pytest.mark.parametrize("type_", list(VALID))
def test_json_round_trip(type_):
    event = decode_event(raw(type_))
    again = decode_event(msgspec.json.encode(event))
    assert again == event and type(again) is type(event)
    assert again.occurred_at.utcoffset() == event.occurred_at.utcoffset()
    # the schema of record serialises to the same event
    model = EVENT_CLASSES[type_].model_validate_json(raw(type_))
    assert fields_of(decode_event(model.model_dump_json())) == fields_of(model) == fields_of(event)


def test_models_constructible_without_type():
    event = ConversationAssigned(event_id="x", occurred_at=datetime(2026, 1, 1, tzinfo=timezone.utc),
                                 conversation_id="c", agent_id="a")
    assert event.type == "conversation.assigned"
    assert fields_of(decode_event(event.model_dump_json())) == fields_of(event)
    # Python-mode validation applies the same timestamp rules as JSON
    fields = {"event_id": "x", "conversation_id": "c", "agent_id": "a"}
    assert ConversationAssigned.model_validate({**fields, "occurred_at": TS}).occurred_at == \
        datetime(2026, 11, 11, 1, tzinfo=timezone.utc)
    for bad in (1700000000, "1700000000", datetime(2026, 1, 1)):
        with pytest.raises(ValidationError):
            ConversationAssigned.model_validate({**fields, "occurred_at": bad})


# --- invalid input: every error code with its reason ---------------------------------------


def test_missing_field_names_the_field():
    err = error(raw("ticket.created", drop=["channel"]))
    assert (err.code, err.reason) == ("invalid_field", "missing field 'channel'")
    assert str(err) == err.reason
    err = error(raw("conversation.message", drop=["text", "message_id"]))
    assert err.reason == "missing field 'message_id'; missing field 'text'"
    err = error(raw("conversation.assigned", drop=["conversation_id"]))
    assert err.reason == "missing field 'conversation_id'"


def test_more_than_two_errors_are_counted():
    err = error(raw("ticket.created", drop=["channel", "priority", "category", "customer_id"]))
    assert err.reason == "missing field 'channel'; missing field 'priority' (+2 more)"


@pytest.mark.parametrize("field,value,type_", [
    ("channel", 5, "ticket.created"),
    ("customer_id", 123, "conversation.started"),
    ("text", ["a"], "conversation.message"),
    ("event_id", 1, "ticket.assigned"),
    ("queue", False, "conversation.assigned"),
])
def test_wrong_json_type_names_the_field(field, value, type_):
    err = error(raw(type_, **{field: value}))
    assert err.code == "invalid_field"
    assert err.reason == f"field '{field}': Input should be a valid string"


@pytest.mark.parametrize("field,value,type_", [
    ("author_role", "admin", "conversation.message"),
    ("priority", "critical", "ticket.priority_changed"),
    ("status", "reopened", "ticket.status_changed"),
    ("outcome", "done", "conversation.ended"),
    ("customer_tier", "gold", "ticket.created"),
])
def test_enum_values_enforced(field, value, type_):
    err = error(raw(type_, **{field: value}))
    assert err.code == "invalid_field"
    assert err.reason.startswith(f"field '{field}': Input should be ")


@pytest.mark.parametrize("field,type_,limit", [
    ("event_id", "ticket.rated", 128),
    ("conversation_id", "conversation.ended", 256),
    ("ticket_id", "ticket.rated", 256),
    ("channel", "conversation.started", 64),
])
def test_string_length_limits(field, type_, limit):
    assert getattr(decode_event(raw(type_, **{field: "x" * limit})), field) == "x" * limit
    assert error(raw(type_, **{field: "x" * (limit + 1)})).reason == \
        f"field '{field}': String should have at most {limit} characters"
    assert error(raw(type_, **{field: ""})).reason.startswith(f"field '{field}': String should have at least 1")


def test_unknown_type():
    err = error(b'{"event_id":"e","type":"foo.bar","occurred_at":"2026-01-01T00:00:00Z"}')
    assert err.code == "unknown_type"
    assert err.reason.startswith("unknown event type 'foo.bar' (known: ")
    assert "ticket.{created," in err.reason and "conversation.{started," in err.reason
    assert len(err.reason) < 200
    long = error(json.dumps({"type": "x" * 10_000}).encode())
    assert long.code == "unknown_type" and len(long.reason) < 300


def test_missing_or_non_string_type():
    for doc in ({"event_id": "e"}, {}, {"type": None}):
        err = error(json.dumps(doc))
        assert (err.code, err.reason) == ("missing_type", "missing field 'type'")
    err = error(b'{"type": 7}')
    assert (err.code, err.reason) == ("invalid_field", "field 'type': Input should be a string, got number")


def test_naive_timestamp():
    err = error(raw("ticket.rated", occurred_at="2026-11-11T09:00:00"))
    assert (err.code, err.reason) == ("invalid_field", "occurred_at: timestamp has no UTC offset")


@pytest.mark.parametrize("stamp", ["1700000000", "2026-11-11", "2026-11-11T09:00+08:00",
                                   "2026-11-11T09:00:00+0800", "yesterday", "2026-11-11T09:00:00 +08:00"])
def test_non_rfc3339_timestamp(stamp):
    err = error(raw("ticket.rated", occurred_at=stamp))
    assert (err.code, err.reason) == ("invalid_field", "occurred_at: not an RFC 3339 timestamp")


def test_numeric_timestamp_is_a_wrong_type():
    err = error(raw("ticket.rated", occurred_at=1700000000))
    assert (err.code, err.reason) == ("invalid_field", "field 'occurred_at': Input should be a valid string")


def test_impossible_date():
    err = error(raw("ticket.rated", occurred_at="2026-13-01T00:00:00Z"))
    assert err.code == "invalid_field" and err.reason.startswith("field 'occurred_at': Input should be a valid datetime")


@pytest.mark.parametrize("data,detail", [
    (b'{"type": "ticket.rated",', "EOF while parsing"),
    (b"hello", "expected value at line 1 column 1"),
    (b'{"a":1} {"b":2}', "trailing characters"),
    (b"", "empty message"),
    (b"  \n", "empty message"),
    (b'{"type":"ticket.rated","x":"\\ud800"}', "hex escape"),
])
def test_not_json(data, detail):
    err = error(data)
    assert err.code == "invalid_json"
    assert err.reason.startswith("not valid JSON: ") and detail in err.reason


@pytest.mark.parametrize("data,kind", [
    (b"[]", "array"), (b'[{"type":"ticket.rated"}]', "array"), (b'"ticket.rated"', "string"),
    (b"42", "number"), (b"null", "null"), (b"true", "boolean"),
])
def test_not_an_object(data, kind):
    err = error(data)
    assert (err.code, err.reason) == ("not_an_object", f"not a JSON object (got {kind})")


def test_invalid_utf8():
    inside_string = raw("conversation.message", text="ok").replace(b'"ok"', b'"o\xff"')
    err = error(inside_string)
    assert err.code == "invalid_utf8"
    bad_at = inside_string.index(b"\xff")
    assert err.reason == f"not valid UTF-8: invalid start byte at byte {bad_at}"
    truncated_chinese = CONTRACT_EXAMPLES[1].encode()[:-6] + b'"}'  # cuts a 3-byte character
    assert error(truncated_chinese).code == "invalid_utf8"
    assert error(b"\xff\xfe{}").code == "invalid_utf8"
    assert error("{\"type\": \"\ud800\"}").code == "invalid_utf8"  # str that has no UTF-8 form


def test_too_large():
    err = error(b" " * 2_000_000)
    assert (err.code, err.reason) == ("too_large", "message is 2000000 bytes, limit 1048576")
    event = raw("conversation.message", text="a" * 100)
    assert decode_event(event, max_bytes=len(event)).text == "a" * 100
    err = error(event, max_bytes=len(event) - 1)
    assert (err.code, err.reason) == ("too_large", f"message is {len(event)} bytes, limit {len(event) - 1}")
    # str input is measured in UTF-8 bytes, not characters
    text_event = raw("conversation.message", text="您" * 100).decode()
    assert error(text_event, max_bytes=len(text_event) + 10).code == "too_large"
    # no cap on text inside the default limit
    assert len(decode_event(raw("conversation.message", text="x" * 1_000_000)).text) == 1_000_000


def test_wrong_entity_id_for_type():
    err = error(json.dumps({"type": "ticket.assigned", **CONV, "assignee_id": "A"}))
    assert err.reason == "missing field 'ticket_id'"


# --- strict scalars ------------------------------------------------------------------------


@pytest.mark.parametrize("type_", ["conversation.rated", "ticket.rated"])
def test_score_bounds_and_strictness(type_):
    for score in (1, 2, 3, 4, 5):
        assert decode_event(raw(type_, score=score)).score == score
    assert error(raw(type_, score=0)).reason == "field 'score': Input should be greater than or equal to 1"
    assert error(raw(type_, score=6)).reason == "field 'score': Input should be less than or equal to 5"
    for bad in (4.5, 4.0, True):
        assert error(raw(type_, score=bad)).reason == "field 'score': Input should be a valid integer"
    assert error(raw(type_, score="4")).reason == "field 'score': Input should be a valid integer"
    assert error(raw(type_, score=None)).code == "invalid_field"
    assert error(raw(type_, drop=["score"])).reason == "missing field 'score'"


def test_public_is_strict_bool():
    assert decode_event(raw("ticket.comment", public=True)).public is True
    assert decode_event(raw("ticket.comment", public=False)).public is False
    for bad in ("true", 1, 0, None, "yes"):
        err = error(raw("ticket.comment", public=bad))
        assert (err.code, err.reason) == ("invalid_field", "field 'public': Input should be a valid boolean")
    assert error(raw("ticket.comment", drop=["public"])).reason == "missing field 'public'"


def test_event_error_is_value_error_and_pickles():
    err = error(b"[]")
    assert isinstance(err, ValueError)
    again = pickle.loads(pickle.dumps(err))
    assert (again.code, again.reason, str(again)) == (err.code, err.reason, err.reason)


def test_non_bytes_input_is_a_programming_error():
    with pytest.raises(TypeError):
        decode_event(123)  # type: ignore[arg-type]


# --- fuzz ------------------------------------------------------------------------------------

CODES = {"invalid_json", "unknown_type", "missing_type", "invalid_field", "too_large", "not_an_object",
         "invalid_utf8", "past_timestamp", "future_timestamp"}
VALID_RAW = [raw(t) for t in VALID] + [s.encode() for s in CONTRACT_EXAMPLES]


def check_decode(data: bytes | str, max_bytes: int = 1_048_576) -> None:
    try:
        event = decode_event(data, max_bytes=max_bytes)
    except EventError as err:
        assert err.code in CODES
        assert err.reason and "\n" not in err.reason and len(err.reason) < 600
    else:
        assert event.type in EVENT_TYPES
        assert event.occurred_at.tzinfo is not None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(data):
    check_decode(data)
    check_decode(b"{" + data)


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_fuzz_random_text(text):
    check_decode(text)


@st.composite
def mutated_events(draw):
    data = bytearray(draw(st.sampled_from(VALID_RAW)))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "insert", "delete", "swap_type", "set_field", "drop_field"]))
        if op in ("swap_type", "set_field", "drop_field"):
            try:
                doc = json.loads(bytes(data))
            except ValueError:
                continue
            if not isinstance(doc, dict):
                continue
            if op == "swap_type":
                doc["type"] = draw(st.sampled_from(EVENT_TYPES) | json_values)
            elif op == "set_field" and doc:
                doc[draw(st.sampled_from(sorted(doc)))] = draw(json_values)
            elif op == "drop_field" and doc:
                doc.pop(draw(st.sampled_from(sorted(doc))))
            # surrogatepass: a lone surrogate becomes invalid UTF-8, one more thing to reject
            data = bytearray(json.dumps(doc, ensure_ascii=draw(st.booleans()))
                             .encode("utf-8", "surrogatepass"))
        elif not data:
            continue
        elif op == "truncate":
            data = data[: draw(st.integers(0, len(data) - 1))]
        elif op == "flip":
            i = draw(st.integers(0, len(data) - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            i = draw(st.integers(0, len(data)))
            data[i:i] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete":
            i = draw(st.integers(0, len(data) - 1))
            del data[i]
    return bytes(data)


@settings(max_examples=1500, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_events(), st.sampled_from([1_048_576, 100]))
def test_fuzz_mutated_valid_events(data, max_bytes):
    check_decode(data, max_bytes=max_bytes)
    check_decode(data.decode("utf-8", "replace"))


@pytest.mark.parametrize("at, code", [
    ("0001-01-01T00:00:00Z", "past_timestamp"),      # Go's zero time: an unset timestamp
    ("1969-12-31T23:59:59Z", "past_timestamp"),
    ("9000-01-01T00:00:00Z", "future_timestamp"),
    ("9999-12-31T10:00:00Z", "future_timestamp"),    # deadlines would overflow the calendar
])
def test_timestamps_outside_the_supported_range_are_rejected(at, code):
    raw = orjson.dumps({"event_id": "e1", "type": "conversation.started", "occurred_at": at,
                        "conversation_id": "c1", "channel": "web", "customer_id": "u1"})
    with pytest.raises(EventError) as info:
        decode_event(raw)
    assert info.value.code == code and at[:4] in info.value.reason


def test_timestamps_at_the_ends_of_the_range_are_accepted():
    for at in ("1970-01-01T00:00:00Z", "8999-12-31T23:59:59Z"):
        raw = orjson.dumps({"event_id": "e1", "type": "conversation.started", "occurred_at": at,
                            "conversation_id": "c1", "channel": "web", "customer_id": "u1"})
        assert decode_event(raw).occurred_at.year in (1970, 8999)
