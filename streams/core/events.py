"""Input events (contract: shared/spec/events.md) as immutable pydantic models, and their decoder.

`decode_event` turns one raw Kafka message / JSON Lines line into one of the twelve event
models, or raises `EventError` with a machine-readable `code` and a one-line human `reason`
that the dead-letter writer stores next to the raw bytes.

The models here are the contract's schema of record. The success path, which every event of a
replay and of the worker takes, decodes into the msgspec Structs of `event_structs.py` instead
(same fields and constraints, ~7x cheaper); any message msgspec rejects is validated again by the
models, so every rejection reason (and the rare acceptance msgspec would refuse) is pydantic's.
Callers get either kind of object: both carry the same attributes (`type`, `kind`, `entity_id`,
the fields, `occurred_at` as an aware datetime). The error path may be slow; the success path
may not.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Annotated, Any, Callable, ClassVar, Iterable, Literal, Union

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StrictBool,
    StrictInt,
    TypeAdapter,
    ValidationError,
)
from msgspec import DecodeError as _MsgspecError
from msgspec.structs import force_setattr as _force_setattr
from pydantic_core import PydanticCustomError, SchemaValidator, core_schema, from_json

from .event_structs import decoder as _struct_decoder
from .timeutil import EPOCH, to_us

__all__ = [
    "EVENT_TYPES",
    "EVENT_CLASSES",
    "Event",
    "EventError",
    "decode_event",
    "decode_event_at",
    "decode_event_with_models",
    "ConversationStarted",
    "ConversationMessage",
    "ConversationAssigned",
    "ConversationTransferred",
    "ConversationEnded",
    "ConversationRated",
    "TicketCreated",
    "TicketAssigned",
    "TicketStatusChanged",
    "TicketComment",
    "TicketPriorityChanged",
    "TicketRated",
]

DEFAULT_MAX_BYTES = 1_048_576
# The instants an event may carry (whatever the wall clock; the live worker also rejects events
# too far ahead of it): from the Unix epoch to well before the calendar's end.
_EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc)

# RFC 3339 date-time. pydantic's own datetime parser is far more lenient (unix numbers, numeric
# strings, "+0800", missing seconds): a producer sending epoch seconds would silently be
# accepted, so the shape is checked first. The offset is optional *here* so that a naive
# timestamp reaches AwareDatetime and gets the precise "no UTC offset" error. [0-9], not \d:
# the Rust regex engine's \d matches any Unicode digit.
_RFC3339_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})?$"
)
_RFC3339_RE = re.compile(_RFC3339_PATTERN.replace("$", r"\Z"))


def _python_timestamp_shape(value: Any) -> Any:
    # Python-mode construction (tests, replay tooling) may pass datetime objects; strings and
    # numbers get the same shape rule as JSON. Not on the decode hot path.
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and _RFC3339_RE.match(value):
        return value
    if isinstance(value, str):
        raise PydanticCustomError("string_pattern_mismatch", "not an RFC 3339 timestamp")
    raise PydanticCustomError("string_type", "Input should be a valid string")


class _Rfc3339Shape:
    """Annotated marker: in JSON, a pattern-checked string, then the wrapped datetime validation.

    Done as a core-schema chain rather than a Python validator so JSON decoding stays in Rust.
    """

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        inner = handler(source)
        return core_schema.json_or_python_schema(
            json_schema=core_schema.chain_schema(
                [core_schema.str_schema(pattern=_RFC3339_PATTERN), inner]
            ),
            python_schema=core_schema.no_info_before_validator_function(
                _python_timestamp_shape, inner
            ),
            serialization=inner.get("serialization"),
        )


# Sub-microsecond digits (e.g. Java's nanoseconds) are accepted and truncated by pydantic.
Timestamp = Annotated[AwareDatetime, _Rfc3339Shape()]

# The JSON branch of `Timestamp`, on its own: what the fast path runs on the string msgspec
# decoded, so that a timestamp means the same on both paths.
_validate_timestamp = SchemaValidator(core_schema.chain_schema([
    core_schema.str_schema(pattern=_RFC3339_PATTERN),
    core_schema.datetime_schema(tz_constraint="aware"),
])).validate_python


def _null_tier_is_regular(value: Any) -> Any:
    # Some producers send an explicit null for "no tier known"; the contract's default applies.
    # The only Python-level validator, and only on the two low-volume "created" event types.
    return "regular" if value is None else value


CustomerTier = Annotated[Literal["vip", "regular", "new"], BeforeValidator(_null_tier_is_regular)]
AuthorRole = Literal["customer", "agent", "bot", "system"]
Priority = Literal["low", "normal", "high", "urgent"]
Score = Annotated[StrictInt, Field(ge=1, le=5)]


class _Event(BaseModel):
    # extra="ignore": producers may add optional fields (the contract's only allowed change).
    # frozen: events are facts; state machines must not mutate what they were given.
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: Annotated[str, Field(min_length=1, max_length=128)]
    occurred_at: Timestamp
    schema_version: Annotated[StrictInt, Field(ge=1)] = 1


class _ConversationEvent(_Event):
    kind: ClassVar[str] = "conversation"

    conversation_id: Annotated[str, Field(min_length=1, max_length=256)]

    @property
    def entity_id(self) -> str:
        return self.conversation_id


class _TicketEvent(_Event):
    kind: ClassVar[str] = "ticket"

    ticket_id: Annotated[str, Field(min_length=1, max_length=256)]

    @property
    def entity_id(self) -> str:
        return self.ticket_id


# --- conversation events -------------------------------------------------------------------
# `type` has a default so that code and tests can build events without repeating the tag;
# on the wire it is still required (the discriminator needs it).


class ConversationStarted(_ConversationEvent):
    type: Literal["conversation.started"] = "conversation.started"
    channel: Annotated[str, Field(min_length=1, max_length=64)]
    customer_id: str
    customer_tier: CustomerTier = "regular"
    queue: str | None = None
    language: str | None = None


class ConversationMessage(_ConversationEvent):
    type: Literal["conversation.message"] = "conversation.message"
    message_id: str
    author_role: AuthorRole
    author_id: str | None = None
    text: str


class ConversationAssigned(_ConversationEvent):
    type: Literal["conversation.assigned"] = "conversation.assigned"
    agent_id: str
    queue: str | None = None


class ConversationTransferred(_ConversationEvent):
    type: Literal["conversation.transferred"] = "conversation.transferred"
    from_agent_id: str | None = None
    to_agent_id: str | None = None
    to_queue: str | None = None


class ConversationEnded(_ConversationEvent):
    type: Literal["conversation.ended"] = "conversation.ended"
    outcome: Literal["resolved", "unresolved", "abandoned", "timeout"]


class ConversationRated(_ConversationEvent):
    type: Literal["conversation.rated"] = "conversation.rated"
    score: Score
    comment: str | None = None


# --- ticket events -------------------------------------------------------------------------


class TicketCreated(_TicketEvent):
    type: Literal["ticket.created"] = "ticket.created"
    channel: Annotated[str, Field(min_length=1, max_length=64)]
    priority: Priority
    category: str
    customer_id: str
    customer_tier: CustomerTier = "regular"
    conversation_id: str | None = None
    group: str | None = None


class TicketAssigned(_TicketEvent):
    type: Literal["ticket.assigned"] = "ticket.assigned"
    assignee_id: str
    group: str | None = None


class TicketStatusChanged(_TicketEvent):
    type: Literal["ticket.status_changed"] = "ticket.status_changed"
    status: Literal["new", "open", "pending", "on_hold", "solved", "closed"]


class TicketComment(_TicketEvent):
    type: Literal["ticket.comment"] = "ticket.comment"
    author_role: AuthorRole
    public: StrictBool
    author_id: str | None = None
    text: str


class TicketPriorityChanged(_TicketEvent):
    type: Literal["ticket.priority_changed"] = "ticket.priority_changed"
    priority: Priority


class TicketRated(_TicketEvent):
    type: Literal["ticket.rated"] = "ticket.rated"
    score: Score
    comment: str | None = None


Event = Annotated[
    Union[
        ConversationStarted,
        ConversationMessage,
        ConversationAssigned,
        ConversationTransferred,
        ConversationEnded,
        ConversationRated,
        TicketCreated,
        TicketAssigned,
        TicketStatusChanged,
        TicketComment,
        TicketPriorityChanged,
        TicketRated,
    ],
    Field(discriminator="type"),
]

_EVENT_CLASSES: tuple[type[_Event], ...] = (
    ConversationStarted,
    ConversationMessage,
    ConversationAssigned,
    ConversationTransferred,
    ConversationEnded,
    ConversationRated,
    TicketCreated,
    TicketAssigned,
    TicketStatusChanged,
    TicketComment,
    TicketPriorityChanged,
    TicketRated,
)
EVENT_CLASSES: dict[str, type[_Event]] = {
    cls.model_fields["type"].default: cls for cls in _EVENT_CLASSES
}
EVENT_TYPES: tuple[str, ...] = tuple(EVENT_CLASSES)

# Built once: constructing the validator costs milliseconds, validating with it microseconds.
_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)
_validate_json = _ADAPTER.validate_json


def _known_types_summary() -> str:
    # "conversation.{started,...}, ticket.{created,...}" keeps the dead-letter reason short.
    groups: dict[str, list[str]] = {}
    for name in EVENT_TYPES:
        prefix, _, rest = name.partition(".")
        groups.setdefault(prefix, []).append(rest)
    return ", ".join(f"{p}.{{{','.join(rs)}}}" for p, rs in groups.items())


_KNOWN_TYPES = _known_types_summary()


class EventError(ValueError):
    """A message that is not a valid event. `str(err)` is the reason."""

    CODES: ClassVar[frozenset[str]] = frozenset(
        {
            "invalid_json",
            "invalid_utf8",
            "not_an_object",
            "missing_type",
            "unknown_type",
            "invalid_field",
            "too_large",
            "past_timestamp",
            "future_timestamp",
        }
    )

    code: str
    reason: str

    def __init__(self, code: str, reason: str) -> None:
        # Both in args so the exception pickles (multiprocessing replay workers).
        super().__init__(code, reason)
        self.code = code
        self.reason = reason

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return f"EventError({self.code!r}, {self.reason!r})"


def _short(value: str, limit: int = 64) -> str:
    # Raw input is echoed into logs and metrics labels' neighbours: never unbounded.
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _loc_text(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _describe_field_error(err: Any) -> str:
    loc = err.get("loc", ())
    # Union errors are located under the tag ("ticket.created", "channel"); the tag is noise.
    if loc and loc[0] in EVENT_CLASSES:
        loc = loc[1:]
    field = _loc_text(loc)
    etype = err.get("type")
    if etype == "missing":
        return f"missing field {field!r}"
    if field == "occurred_at":
        if etype == "timezone_aware":
            return "occurred_at: timestamp has no UTC offset"
        if etype == "string_pattern_mismatch":
            return "occurred_at: not an RFC 3339 timestamp"
    msg = err.get("msg", "invalid value")
    return f"field {field!r}: {msg}" if field else msg


def _parsed(raw: bytes) -> Any:
    # Error path only: look at the document pydantic rejected, with the same parser it used.
    try:
        return from_json(raw)
    except Exception:
        return None


def _from_validation_error(exc: ValidationError, raw: bytes) -> EventError:
    errors = exc.errors(include_url=False, include_input=False, include_context=True)
    if not errors:
        return EventError("invalid_field", "invalid event")
    first = errors[0]
    etype = first.get("type")

    if etype == "json_invalid":
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as ude:
            return EventError("invalid_utf8", f"not valid UTF-8: {ude.reason} at byte {ude.start}")
        detail = (first.get("ctx") or {}).get("error") or first.get("msg", "")
        if not raw.strip():
            detail = "empty message"
        return EventError("invalid_json", f"not valid JSON: {detail}")

    if etype in ("dict_type", "model_type", "model_attributes_type") and not first.get("loc"):
        return EventError("not_an_object", f"not a JSON object (got {_json_kind(_parsed(raw))})")

    if etype in ("union_tag_not_found", "union_tag_invalid"):
        doc = _parsed(raw)
        tag = doc.get("type") if isinstance(doc, dict) else None
        if tag is None:
            return EventError("missing_type", "missing field 'type'")
        if not isinstance(tag, str):
            return EventError(
                "invalid_field", f"field 'type': Input should be a string, got {_json_kind(tag)}"
            )
        return EventError("unknown_type", f"unknown event type {_short(tag)} (known: {_KNOWN_TYPES})")

    reasons = [_describe_field_error(e) for e in errors[:2]]
    reason = "; ".join(reasons)
    if len(errors) > 2:
        reason += f" (+{len(errors) - 2} more)"
    return EventError("invalid_field", reason)


def decode_event(raw: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES) -> Event:
    """Decode one JSON event. Raises `EventError` (and nothing else) for any bad input."""
    return decode_event_at(raw, max_bytes)[0]


def decode_event_at(raw: bytes | str, max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[Event, int]:
    """`decode_event`, and the event's time in µs since the epoch (what the engine runs on).

    The hot paths (replay, worker, live QA) use this: on the fast path the µs come from the
    validated timestamp's fields and its offset text, ~3x cheaper than subtracting aware
    datetimes (pydantic-core's `TzInfo.utcoffset` is slow and that costs two calls).
    """
    if type(raw) is not bytes:
        if isinstance(raw, str):
            try:
                raw = raw.encode("utf-8")
            except UnicodeEncodeError as uee:
                # Only lone surrogates get here: text that has no UTF-8 form at all.
                raise EventError(
                    "invalid_utf8", f"not valid UTF-8: {uee.reason} at character {uee.start}"
                ) from None
        elif isinstance(raw, (bytearray, memoryview)):
            raw = bytes(raw)
        else:
            raise TypeError(f"decode_event expects bytes or str, not {type(raw).__name__}")
    # Checked before parsing so that a giant message costs nothing but its length.
    if len(raw) > max_bytes:
        raise EventError("too_large", f"message is {len(raw)} bytes, limit {max_bytes}")
    try:
        if not raw.isascii():
            # msgspec skips unknown fields without checking their UTF-8; the contract rejects
            # the whole message (the models do). ASCII, most traffic, costs nothing here.
            raw.decode("utf-8")
        event = _struct_decoder.decode(raw)
        text = event.occurred_at
        at = _validate_timestamp(text)
        _force_setattr(event, "occurred_at", at)
    except (_MsgspecError, ValidationError, RecursionError, UnicodeDecodeError):
        # Rejected by the fast path (RecursionError: msgspec's nesting limit, lower than the
        # models' parser's): the models decide, and word the reason.
        event = _in_range(_decode_with_models(raw))
        return event, to_us(event.occurred_at)
    if not 1970 < at.year < 8999:  # _in_range's quick test, without its call on the hot path
        _in_range(event)
    return event, _us_from_text(at, text)


_EPOCH_ORDINAL = EPOCH.toordinal()
_OFFSETS: dict[str, int] = {}  # "+08:00" -> 28800 (seconds east of UTC)


def _us_from_text(at: datetime, text: str) -> int:
    """µs since the epoch of `at`, parsed from `text` by `_validate_timestamp`: the pattern
    guarantees `text` ends in `Z`/`z` or `±HH:MM` (a naive timestamp was rejected)."""
    last = text[-1]
    if last == "Z" or last == "z":
        offset = 0
    else:
        tail = text[-6:]
        cached = _OFFSETS.get(tail)
        offset = _offset_seconds(tail) if cached is None else cached
    days = at.toordinal() - _EPOCH_ORDINAL
    seconds = days * 86400 + at.hour * 3600 + at.minute * 60 + at.second - offset
    return seconds * 1_000_000 + at.microsecond


def _offset_seconds(tail: str) -> int:
    # Validated `±HH:MM` (HH <= 23): at most 2,880 entries, and a feed uses one or two.
    offset = int(tail[1:3]) * 3600 + int(tail[4:]) * 60
    if tail[0] == "-":
        offset = -offset
    _OFFSETS[tail] = offset
    return offset


def decode_lines(lines: Iterable[bytes], on_invalid: Callable[[int, str], None],
                 on_line: Callable[[int], None] | None = None) -> tuple[list[tuple[int, int, Event]], int]:
    """Decode JSON Lines: `(items, lines read)`, items being `(event time µs, line number,
    event)` for the valid lines in file order; each invalid line goes to `on_invalid(number,
    reason)` (blank lines are not events and are skipped silently), and `on_line(size)` gets
    every line's length in bytes (a progress bar). The replay's reader, a loop that runs compiled with the decoder."""
    items: list[tuple[int, int, Event]] = []
    append = items.append
    n = 0
    for line in lines:
        n += 1
        if on_line is not None:
            on_line(len(line))
        try:
            ev, t = decode_event_at(line)
        except EventError as exc:
            if line.strip():
                on_invalid(n, exc.reason)
            continue
        append((t, n, ev))
    return items, n


def decode_event_with_models(raw: bytes, max_bytes: int = DEFAULT_MAX_BYTES) -> Event:
    """`decode_event` of bytes by the pydantic models alone: the reference the fast path is
    tested against (same acceptance, same values, same errors). Several times slower."""
    if len(raw) > max_bytes:
        raise EventError("too_large", f"message is {len(raw)} bytes, limit {max_bytes}")
    return _in_range(_decode_with_models(raw))


def _in_range(event: Event) -> Event:
    at = event.occurred_at
    # The year test first: comparing aware datetimes costs ~1.5 µs (offset arithmetic), a third
    # of the whole decode; only years next to the ends need the exact comparison.
    if not 1970 < at.year < 8999 and not _EARLIEST <= at < _LATEST:
        # Go's zero time (0001-01-01) is what an unset timestamp serialises to, and deadlines
        # computed near the ends of the calendar overflow it: neither is a support event.
        if at < _EARLIEST:
            raise EventError("past_timestamp", f"occurred_at {at.isoformat()} is before 1970-01-01T00:00:00Z")
        raise EventError("future_timestamp", f"occurred_at {at.isoformat()} is not before 9000-01-01T00:00:00Z")
    return event


def _decode_with_models(raw: bytes) -> Event:
    try:
        return _validate_json(raw)
    except ValidationError as exc:
        try:
            err = _from_validation_error(exc, raw)
        except Exception as bug:  # pragma: no cover - the classifier must never mask the rejection
            err = EventError("invalid_field", f"invalid event ({type(bug).__name__})")
        raise err from None
    except (ValueError, RecursionError, OverflowError) as exc:  # pragma: no cover - defensive
        raise EventError("invalid_json", f"not valid JSON: {type(exc).__name__}") from None
