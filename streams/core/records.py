"""SLA records: the one output shape of the SLA engine (spec sla.md, "Records").

A record is an immutable fact about one clock's state change. Replay writes them as JSON Lines,
the live pipeline publishes them to `sla.events`; both use `to_dict` so the two can be compared
field for field, and `record_id` so at-least-once delivery can be de-duplicated downstream.
"""
from __future__ import annotations

import hashlib
from typing import Iterable, Iterator, Optional, Union

import msgspec

from .timeutil import US, format_us

# The contract's field order; JSON output keeps it so files diff cleanly.
RECORD_FIELDS = (
    "entity_kind", "entity_id", "metric", "policy", "cycle", "status", "target_seconds",
    "elapsed_seconds", "deadline", "at", "channel", "priority", "customer_tier", "category",
    "agent_id",
)
# Compatible extension (README "Extensions"): present only when asked for, so a consumer of the
# plain contract sees exactly the contract's fields.
EXTENDED_FIELDS = ("record_id", "queue", "group", "warn_fraction")

STATUSES = ("warning", "breached", "achieved", "completed_late", "abandoned", "paused", "resumed",
            "cancelled")


# A msgspec Struct (its __init__ is C, ~3x cheaper than a slotted dataclass's; gc=False: only
# strings and numbers inside, no cycles to collect). Not frozen: records are hot.
class SlaRecord(msgspec.Struct, gc=False):
    entity_kind: str
    entity_id: str
    metric: str
    policy: str
    cycle: int
    status: str
    target_us: int
    elapsed_us: int
    deadline_us: int | None
    at_us: int
    channel: str | None
    priority: str | None
    customer_tier: str | None
    category: str | None
    agent_id: str | None
    queue: str | None = None
    group: str | None = None
    # Which `warn_at` fraction a warning is for: two warnings passed at one re-match instant
    # are otherwise identical records, and must still get distinct ids.
    fraction: float | None = None

    def sort_key(self) -> tuple:
        """The replay output order: `at`, then entity_id, metric, cycle, status."""
        return (self.at_us, self.entity_id, self.metric, self.cycle, self.status)

    @property
    def record_id(self) -> str:
        # Everything that identifies the change, nothing that could differ between two deliveries
        # of it: a restarted worker re-emitting the record produces the same id.
        key = (f"{self.entity_kind}\x1f{self.entity_id}\x1f{self.metric}\x1f{self.cycle}"
               f"\x1f{self.status}\x1f{self.at_us}")
        if self.fraction is not None:
            key += f"\x1f{self.fraction!r}"
        return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()

    def to_dict(self, extended: bool = False) -> dict:
        """The record as the contract's JSON object (times as RFC 3339 UTC strings): the same
        wire shape `to_json` encodes, as Python values."""
        return msgspec.to_builtins(self._json_struct(extended))

    def to_json(self, extended: bool = False) -> bytes:
        """`to_dict` as one JSON line (msgspec encodes it, in C)."""
        return _encode(self._json_struct(extended)) + b"\n"

    def _json_struct(self, extended: bool) -> "_ContractJson":
        t, e, d = self.target_us, self.elapsed_us, self.deadline_us
        fields = (self.entity_kind, self.entity_id, self.metric, self.policy, self.cycle,
                  self.status, t // US if not t % US else t / US,
                  e // US if not e % US else e / US,
                  format_us(d) if d is not None else None,
                  format_us(self.at_us), self.channel, self.priority,
                  self.customer_tier, self.category, self.agent_id)
        if extended:
            return _ExtendedJson(*fields, self.record_id, self.queue, self.group, self.fraction)
        return _ContractJson(*fields)


def encode_records(records: Iterable[SlaRecord], extended: bool = False,
                   chunk_bytes: int = 1 << 20) -> Iterator[bytearray]:
    """JSON Lines of `records`, in chunks of about `chunk_bytes` (each yielded buffer is reused
    after the next step: write it out before advancing).

    Encoding into one buffer rather than a bytes object per record measured 4-5x faster on the
    replay's ~0.6 records per event: a million live small buffers mostly cost allocation.
    """
    buf = bytearray()
    into = _encoder.encode_into
    for rec in records:
        into(rec._json_struct(extended), buf, -1)
        buf += b"\n"
        if len(buf) >= chunk_bytes:
            yield buf
            buf.clear()
    if buf:
        yield buf


# The wire shapes, field for field in the contract's order (RECORD_FIELDS, then the extension's
# EXTENDED_FIELDS): encoding a Struct skips building a dict per record.
_Seconds = Union[int, float]


class _ContractJson(msgspec.Struct, gc=False):
    entity_kind: str
    entity_id: str
    metric: str
    policy: str
    cycle: int
    status: str
    target_seconds: _Seconds
    elapsed_seconds: _Seconds
    deadline: Optional[str]   # RFC 3339 UTC (`format_us`)
    at: str
    channel: Optional[str]
    priority: Optional[str]
    customer_tier: Optional[str]
    category: Optional[str]
    agent_id: Optional[str]


class _ExtendedJson(_ContractJson, gc=False):
    record_id: str
    queue: Optional[str]
    group: Optional[str]
    warn_fraction: Optional[float]


assert tuple(f.name for f in msgspec.structs.fields(_ContractJson)) == RECORD_FIELDS
assert tuple(f.name for f in msgspec.structs.fields(_ExtendedJson))[len(RECORD_FIELDS):] == EXTENDED_FIELDS

_encoder = msgspec.json.Encoder()
_encode = _encoder.encode
