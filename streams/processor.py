"""One input partition's processing, independent of Kafka: the live pipeline's pure-ish heart.

`ingest` raw messages, `tick` the clock, `drain` the outputs. The worker only moves bytes:
it feeds batches in, sends what `drain` returns (SLA records, closed metric windows, dead
letters), persists the changed entity states, and acknowledges the offsets `ingest`/`tick`
reported as done. Tests and the benchmark drive this class directly as well as through Kafka.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field

import orjson

from .core.engine import SlaEngine
from .core.events import EventError, decode_event_at
from .core.metrics import MetricWindows, entity_dims
from .core.policy import PolicySet
from .core.records import SlaRecord
from .core.sequencer import Sequencer
from .core.state import dump_entity
from .core.timeutil import US, format_us

_REOPENABLE = ("solved", "closed")
# Event types the metric windows count beyond what the SLA records carry (starts, ratings).
_WINDOW_EVENTS = frozenset(("conversation.started", "ticket.created", "conversation.rated",
                            "ticket.rated"))
KIND_OF_TOPIC_PREFIX = {"conversation": "conversation.", "ticket": "ticket."}


@dataclass(slots=True)
class DeadLetter:
    topic: str
    partition: int
    offset: int
    code: str
    reason: str
    raw: bytes
    wall_us: int

    @property
    def key(self) -> bytes:
        # Deterministic: a re-delivered bad message overwrites/duplicates the same entry.
        return f"{self.topic}/{self.partition}/{self.offset}".encode()

    def to_json(self) -> bytes:
        return orjson.dumps({
            "source_topic": self.topic, "source_partition": self.partition,
            "source_offset": self.offset, "code": self.code, "reason": self.reason,
            "received_at": format_us(self.wall_us),
            "raw_base64": base64.b64encode(self.raw).decode(),
            "raw_text": self.raw.decode("utf-8", "replace")[:4096],
        })


@dataclass
class Outputs:
    records: list[SlaRecord] = field(default_factory=list)
    windows: list = field(default_factory=list)            # (start_us, dims, WindowAggregate)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    states: dict[str, bytes | None] = field(default_factory=dict)   # table key -> value (None: delete)


def state_key(kind: str, entity_id: str) -> str:
    return f"{kind[0]}:{entity_id}"


def kind_of_topic(topic: str, settings) -> str:
    return "conversation" if topic == settings.conversations_topic else "ticket"


class PartitionProcessor:
    def __init__(self, topic: str, partition: int, kind: str, policies: PolicySet, *,
                 lateness_us: int, idle_after_us: int, future_skew_us: int,
                 ended_retention_us: int = 24 * 3600 * US) -> None:
        self.topic, self.partition, self.kind = topic, partition, kind
        self.engine = SlaEngine(policies)
        self.metrics = MetricWindows()
        self.sequencer = Sequencer(self.engine, lateness_us, idle_after_us, apply=self._apply)
        self.future_skew = future_skew_us
        self.ended_retention = ended_retention_us
        self._prefix = KIND_OF_TOPIC_PREFIX[kind]
        self._dead: list[DeadLetter] = []
        self._evicted: list[str] = []
        self.counts = {"received": 0, "invalid": 0, "future": 0, "wrong_topic": 0}
        self.by_type: dict[str, int] = {}
        # Offsets below `_read_upto` had been read when the clock state was last persisted;
        # after a restart, `_done_below` is that bound (see `restore_clock`).
        self._read_upto = 0
        self._done_below = 0

    # ------------------------------------------------------------------ input
    def ingest(self, offset: int, raw: bytes, wall_us: int, token=None) -> list:
        """One message. Returns the tokens (default: offsets) of messages now done: this one if
        it was dead-lettered or applied at once (late); held ones come out of later `tick`s."""
        if token is None:
            token = offset
        self.counts["received"] += 1
        try:
            ev, t = decode_event_at(raw)
        except EventError as exc:
            return self._reject(offset, raw, wall_us, exc.code, exc.reason, "invalid", token)
        if t > wall_us + self.future_skew:
            return self._reject(offset, raw, wall_us, "future_timestamp",
                                f"occurred_at {format_us(t)} is more than {self.future_skew / US:g} s "
                                f"ahead of the wall clock ({format_us(wall_us)})", "future", token)
        if not ev.type.startswith(self._prefix):
            return self._reject(offset, raw, wall_us, "wrong_topic",
                                f"{ev.type} event on {self.topic} (a {self.kind} topic)", "wrong_topic", token)
        if offset >= self._read_upto:
            self._read_upto = offset + 1
        elif offset < self._done_below and t < self.sequencer.watermark:
            # Read again after a restart, and already handled before it: the restored
            # watermark had passed it, so it was applied then (the restored entity has it
            # among its event ids) or changed nothing (e.g. it preceded its entity's start).
            # Applying it now, late, could make that second kind count after all.
            self.counts["reread"] = self.counts.get("reread", 0) + 1
            return [token]
        return self.sequencer.offer(ev, t, offset, wall_us, token=token)

    def _reject(self, offset, raw, wall_us, code, reason, counter, token) -> list:
        self.counts[counter] += 1
        self._dead.append(DeadLetter(self.topic, self.partition, offset, code, reason, raw, wall_us))
        return [token]

    def _apply(self, ev, t: int) -> bool:
        engine = self.engine
        etype = ev.type
        reopening = False
        if etype == "ticket.status_changed":  # a reopen is known only from the status before
            entity = engine.entities[ev.kind].get(ev.entity_id)
            reopening = entity is not None and entity.status in _REOPENABLE
        if not engine.apply(ev, t):
            return False
        by_type = self.by_type
        by_type[etype] = by_type.get(etype, 0) + 1
        if reopening or etype in _WINDOW_EVENTS:
            entity = engine.entities[ev.kind].get(ev.entity_id)
            if entity is not None:
                reopened = reopening and ev.status not in _REOPENABLE
                self.metrics.observe_event(ev.kind, entity_dims(entity), etype, t,
                                           score=getattr(ev, "score", None), reopened=reopened)
        return True

    # ------------------------------------------------------------------ time
    def tick(self, wall_us: int, frontier: tuple[int, int] | None = None) -> list:
        if self.sequencer.newest is None and not self.engine.open_entities:
            # Nothing read yet (and nothing restored): no entity has a clock to fire, and
            # following the other partitions' frontier would only put the watermark past this
            # partition's own backlog, whose first fetch may simply arrive a step later (a
            # worker starting on a backlog): all of it would then be applied late.
            return []
        done = self.sequencer.tick(wall_us, frontier)
        wm = self.sequencer.watermark
        if self.ended_retention and self.sequencer.newest is not None:
            for e in self.engine.evict_ended(wm - self.ended_retention):
                self.engine.dirty.discard(e)
                self._evicted.append(state_key(e.kind, e.id))
        return done

    # ------------------------------------------------------------------ output
    def drain(self) -> Outputs:
        out = Outputs()
        out.records = self.engine.drain()
        self.metrics.observe_records(out.records)
        wm = self.sequencer.watermark
        if self.sequencer.newest is not None:
            out.windows = self.metrics.close_until(wm)
        out.dead_letters, self._dead = self._dead, []
        for e in self.engine.take_dirty():
            out.states[state_key(e.kind, e.id)] = dump_entity(e)
        if self._evicted:
            for key in self._evicted:
                out.states[key] = None
            self._evicted = []
        return out

    def clock_state(self) -> bytes:
        """The partition's clock and open metric windows, persisted beside the entities."""
        return orjson.dumps({"sequencer": self.sequencer.state(),
                             "metrics": self.metrics.snapshot(), "read_upto": self._read_upto})

    def restore_clock(self, blob: bytes, wall_us: int) -> None:
        d = orjson.loads(blob)
        self.sequencer.restore(d.get("sequencer", {}), wall_us)
        # Consistent with the watermark: both are from the same moment, written after every
        # entity state that moment's events produced.
        self._done_below = self._read_upto = d.get("read_upto", 0)
        if d.get("metrics"):
            self.metrics = MetricWindows.restore(d["metrics"])
