"""The hot-path decode target: msgspec Structs with the same fields and constraints as the
pydantic event models in `events.py`.

Why two definitions of one contract: pydantic builds a model instance in 4-7 µs per event here,
msgspec decodes the same bytes into a Struct in under 1 µs (`bench/decoders.py`), and decoding
was the largest single cost of the replay and of the worker (BENCHMARKS.md). The pydantic models
stay the schema of record: `decode_event` sends every message msgspec rejects through them, so
every rejection reason, and every acceptance msgspec would refuse (e.g. a 30-digit
`schema_version`), is pydantic's. What msgspec accepts must therefore be a subset of what
pydantic accepts, with equal values; `tests/core/test_event_structs.py` holds the two to that
(same fields, defaults and required sets; the same outcome on valid, fuzzed and
property-generated input).

Two differences are closed by design rather than by configuration:
- `occurred_at` is decoded as a string and validated by pydantic-core with the models' own
  timestamp schema (msgspec would accept "+0800" offsets and round nanoseconds where pydantic
  truncates);
- an explicit null `customer_tier` becomes "regular", as the models' validator does.
"""
from __future__ import annotations

from operator import attrgetter
from typing import Annotated, ClassVar, Literal, Optional, Union

import msgspec

__all__ = ["STRUCT_CLASSES", "decoder"]

_EventId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
_EntityId = Annotated[str, msgspec.Meta(min_length=1, max_length=256)]
_Channel = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
_SchemaVersion = Annotated[int, msgspec.Meta(ge=1)]
_Score = Annotated[int, msgspec.Meta(ge=1, le=5)]
_Tier = Literal["vip", "regular", "new"]
_Role = Literal["customer", "agent", "bot", "system"]
_Priority = Literal["low", "normal", "high", "urgent"]

# frozen: events are facts (as the models). gc=False: a Struct of strings cannot be part of a
# reference cycle, and untracked objects make allocation cheaper and keep the collector away
# from the millions a replay holds. Unknown fields are ignored, as the contract allows.
# kw_only: the optional `schema_version` of the base may precede required fields.
_CONFIG = dict(tag_field="type", frozen=True, gc=False, forbid_unknown_fields=False, kw_only=True)


class _Base(msgspec.Struct, **_CONFIG):
    event_id: _EventId
    # The raw string on decode; `decode_event` replaces it by the validated aware datetime.
    occurred_at: str
    schema_version: _SchemaVersion = 1


class _Conversation(_Base, **_CONFIG):
    kind: ClassVar[str] = "conversation"
    conversation_id: _EntityId

    # A C-level getter: the engine reads it for every event, and a Python property costs a
    # frame each time.
    entity_id = property(attrgetter("conversation_id"), doc="the conversation's id")


class _Ticket(_Base, **_CONFIG):
    kind: ClassVar[str] = "ticket"
    ticket_id: _EntityId

    entity_id = property(attrgetter("ticket_id"), doc="the ticket's id")


def _tier_default(self: msgspec.Struct) -> None:
    if self.customer_tier is None:  # type: ignore[attr-defined]
        msgspec.structs.force_setattr(self, "customer_tier", "regular")


class ConversationStarted(_Conversation, tag="conversation.started", **_CONFIG):
    type: ClassVar[str] = "conversation.started"
    channel: _Channel
    customer_id: str
    customer_tier: Optional[_Tier] = "regular"
    queue: Optional[str] = None
    language: Optional[str] = None

    __post_init__ = _tier_default


class ConversationMessage(_Conversation, tag="conversation.message", **_CONFIG):
    type: ClassVar[str] = "conversation.message"
    message_id: str
    author_role: _Role
    text: str
    author_id: Optional[str] = None


class ConversationAssigned(_Conversation, tag="conversation.assigned", **_CONFIG):
    type: ClassVar[str] = "conversation.assigned"
    agent_id: str
    queue: Optional[str] = None


class ConversationTransferred(_Conversation, tag="conversation.transferred", **_CONFIG):
    type: ClassVar[str] = "conversation.transferred"
    from_agent_id: Optional[str] = None
    to_agent_id: Optional[str] = None
    to_queue: Optional[str] = None


class ConversationEnded(_Conversation, tag="conversation.ended", **_CONFIG):
    type: ClassVar[str] = "conversation.ended"
    outcome: Literal["resolved", "unresolved", "abandoned", "timeout"]


class ConversationRated(_Conversation, tag="conversation.rated", **_CONFIG):
    type: ClassVar[str] = "conversation.rated"
    score: _Score
    comment: Optional[str] = None


class TicketCreated(_Ticket, tag="ticket.created", **_CONFIG):
    type: ClassVar[str] = "ticket.created"
    channel: _Channel
    priority: _Priority
    category: str
    customer_id: str
    customer_tier: Optional[_Tier] = "regular"
    conversation_id: Optional[str] = None
    group: Optional[str] = None

    __post_init__ = _tier_default


class TicketAssigned(_Ticket, tag="ticket.assigned", **_CONFIG):
    type: ClassVar[str] = "ticket.assigned"
    assignee_id: str
    group: Optional[str] = None


class TicketStatusChanged(_Ticket, tag="ticket.status_changed", **_CONFIG):
    type: ClassVar[str] = "ticket.status_changed"
    status: Literal["new", "open", "pending", "on_hold", "solved", "closed"]


class TicketComment(_Ticket, tag="ticket.comment", **_CONFIG):
    type: ClassVar[str] = "ticket.comment"
    author_role: _Role
    public: bool
    text: str
    author_id: Optional[str] = None


class TicketPriorityChanged(_Ticket, tag="ticket.priority_changed", **_CONFIG):
    type: ClassVar[str] = "ticket.priority_changed"
    priority: _Priority


class TicketRated(_Ticket, tag="ticket.rated", **_CONFIG):
    type: ClassVar[str] = "ticket.rated"
    score: _Score
    comment: Optional[str] = None


STRUCT_CLASSES: dict[str, type[_Base]] = {
    cls.type: cls
    for cls in (ConversationStarted, ConversationMessage, ConversationAssigned,
                ConversationTransferred, ConversationEnded, ConversationRated, TicketCreated,
                TicketAssigned, TicketStatusChanged, TicketComment, TicketPriorityChanged,
                TicketRated)
}

decoder = msgspec.json.Decoder(Union[tuple(STRUCT_CLASSES.values())])  # type: ignore[misc]
