"""Live QA sampling (issue 5): the daily QA sample drawn on the event-time clock from the input.

`LiveQA` is fed every input message of its partitions (raw bytes with its source and offset) and
keeps the events of each conversation and ticket. An entity becomes a candidate of its local QA
day when it ends, as streams/qa_day.py defines it: `conversation.ended`; a ticket's last
`solved` (its `closed` when never solved). Entities in a targeted pool on their own (low CSAT,
breached, reopened, abandoned after an agent joined, escalation words) are sampled at once, as
`early` rows, when they end or when a later event (a rating, a reopen) puts them in a pool:
reviewers see the worst cases within seconds, not the next day. A day is drawn once the clock
passes the local midnight after it plus `close_after` (grace for ratings and late events):
`run_qa_day` on exactly the events of that day's candidates, with breaches from a fresh
`SlaEngine` over the same events. So the sample drawn live equals `slawatch qa sample` run on
the events known at the close, sample ids and all; the day's rows (same sample ids, every reason
including random, backup and long handle time) replace the early ones. One exception: an early
sample whose entity a later event took out of its pool (rated 1, then 5) stays in the sample.

Why a whole day rather than each conversation on its own as it ends: the random share is
stratified by channel x agent, the per-agent quotas (min/max per day) and the long-handle-time
pool (the channel's p90 of the day) are all properties of the day.

What is kept: the events of open entities and of ended ones waiting for their day to close (about
a day of traffic). Tickets stay after their draw until `closed` (a reopened and re-solved ticket
is a candidate again on its new day); any entity silent for `retention` is dropped. The lowest
offset still needed, per source, is `committable`: the caller commits no further, so a restart
re-reads and rebuilds exactly what was in memory. Pure: no I/O, no wall clock.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Hashable
from zoneinfo import ZoneInfo

import orjson

from .core.events import EventError, decode_event, decode_event_at
from .core.policy import PolicySet
from .core.qa_checks import QAChecker
from .core.qa_rules import QARules
from .core.qa_sampler import QASampler
from .qa_day import DEFAULT_TZ, entity_queues, run_qa_day, sample_rows, summaries_from_events
from .replay import run as replay_run

__all__ = ["LiveQA", "QADayResult"]

US = 1_000_000
# Events after which an entity may have ended: only these entities are summarised at a close.
_ENDING = {"conversation.ended", "ticket.status_changed"}
# Events that may put an ended entity into a targeted pool (or end it): worth an early look.
_EARLY = _ENDING | {"conversation.rated", "ticket.rated"}


class _Entity:
    __slots__ = ("kind", "eid", "source", "first_offset", "items", "ids", "maybe_ended",
                 "closed", "drawn_day", "last_t", "early_reasons")

    def __init__(self, kind: str, eid: str, source: Hashable, offset: int) -> None:
        self.kind, self.eid = kind, eid
        self.source, self.first_offset = source, offset
        self.items: list[tuple[int, int, bytes]] = []  # (event time µs, arrival seq, raw)
        self.ids: set[str] = set()
        self.maybe_ended = False
        self.closed = False          # ticket status `closed`: nothing more can happen to it
        self.drawn_day: str | None = None
        self.last_t = 0
        self.early_reasons: tuple[str, ...] = ()


@dataclass
class QADayResult:
    """What one close produced: the sample rows (qa_day.run_qa_day shape) per day drawn."""

    boundary_us: int
    days: list[str] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    candidates: int = 0
    late: int = 0                 # candidates of a day that had already been drawn


class LiveQA:
    def __init__(self, qa_rules: QARules, policies: PolicySet, *, tz: str = DEFAULT_TZ,
                 close_after_us: int = 3600 * US, retention_us: int = 7 * 86400 * US,
                 checker: QAChecker | None = None) -> None:
        self.rules, self.policies = qa_rules, policies
        self.tz, self.zone = tz, ZoneInfo(tz)
        self.close_after_us, self.retention_us = close_after_us, retention_us
        self.checker = checker or QAChecker()
        self.sampler = QASampler(qa_rules)
        self._early: dict[tuple[str, str], _Entity] = {}  # to look at in `early()`
        self._entities: dict[tuple[str, str], _Entity] = {}
        self._seq = 0
        self.closed_through_us: int | None = None   # the last local midnight drawn up to
        # After a restart (`restore`): entities that ended before this were drawn by the last run.
        self._restored_through: int | None = None
        self.newest_us: int | None = None
        # Conversations drawn and let go, with their boundary: a late rating or message for one
        # is counted and ignored, instead of starting an orphan that would hold the commit point.
        self._released: dict[tuple[str, str], int] = {}
        self.stats: Counter[str] = Counter()

    # ------------------------------------------------------------------ input

    @property
    def open_entities(self) -> int:
        return len(self._entities)

    def add(self, source: Hashable, offset: int, raw: bytes | None) -> bool:
        """Take one input message; False when it is not a valid event (the worker dead-letters it)."""
        if raw is None:
            return False
        try:
            ev, t = decode_event_at(raw)
        except EventError:
            self.stats["invalid"] += 1
            return False
        key = (ev.kind, ev.entity_id)
        ent = self._entities.get(key)
        if ent is None and key in self._released:
            self.stats["after_draw"] += 1
            return True
        if ent is None:
            ent = self._entities[key] = _Entity(ev.kind, ev.entity_id, source, offset)
        if ev.event_id in ent.ids:
            self.stats["duplicates"] += 1
            return True
        ent.ids.add(ev.event_id)
        self._seq += 1
        ent.items.append((t, self._seq, raw))
        ent.last_t = max(ent.last_t, t)
        if ev.type in _EARLY:
            self._early[key] = ent
        if ev.type in _ENDING:
            ent.maybe_ended = True
            if ev.type == "ticket.status_changed" and getattr(ev, "status", None) == "closed":
                ent.closed = True
        if self.newest_us is None or t > self.newest_us:
            self.newest_us = t
        self.stats["events"] += 1
        return True

    def forget(self, source: Hashable) -> int:
        """Drop what came from `source` (a partition given to another consumer)."""
        gone = [k for k, e in self._entities.items() if e.source == source]
        for k in gone:
            del self._entities[k]
            self._early.pop(k, None)
        return len(gone)

    def committable(self) -> dict[Hashable, int]:
        """Per source, the lowest offset still needed; a source with nothing kept is absent."""
        low: dict[Hashable, int] = {}
        for e in self._entities.values():
            cur = low.get(e.source)
            if cur is None or e.first_offset < cur:
                low[e.source] = e.first_offset
        return low

    # ------------------------------------------------------------------ clock

    def restore(self, closed_through_us: int) -> None:
        """Resume after a restart: days before `closed_through_us` were drawn by the last run.

        The input is re-read from the committed offsets, so entities of those days come again;
        they are marked drawn instead of being drawn a second time (their rows are stored).
        """
        self.closed_through_us = self._restored_through = closed_through_us

    def boundary(self, clock_us: int) -> int:
        """The latest local midnight M with M + close_after <= clock (µs)."""
        local = datetime.fromtimestamp((clock_us - self.close_after_us) / US, tz=self.zone)
        midnight = datetime.combine(local.date(), time(0), tzinfo=self.zone)
        return int(midnight.timestamp()) * US

    def advance(self, clock_us: int) -> QADayResult | None:
        """Draw every day that has closed by `clock_us`; None when no new day closed."""
        m = self.boundary(clock_us)
        if self.closed_through_us is not None and m <= self.closed_through_us:
            return None
        cut_day = datetime.fromtimestamp(m / US, tz=self.zone).date().isoformat()
        drawn_before = self.closed_through_us
        result = QADayResult(boundary_us=m)
        candidates = [e for e in self._entities.values() if e.maybe_ended]
        events, keys = self._decode(candidates)
        summaries, _ = summaries_from_events(events, (), self.tz)
        by_id = {(s.entity_kind, s.entity_id): s for s in summaries}
        chosen: list[_Entity] = []
        for e in candidates:
            s = by_id.get((e.kind, e.eid))
            if s is None or s.day >= cut_day:
                continue
            if e.drawn_day is not None and s.day <= e.drawn_day:
                continue
            if (e.drawn_day is None and self._restored_through is not None
                    and s.ended_at_us < self._restored_through):
                e.drawn_day = s.day  # drawn before the restart
                continue
            chosen.append(e)
            e.drawn_day = s.day
            if drawn_before is not None and s.ended_at_us < drawn_before:
                result.late += 1
        result.candidates = len(chosen)
        if chosen:
            chosen_keys = {(e.kind, e.eid) for e in chosen}
            day_events = [ev for ev, k in zip(events, keys) if k in chosen_keys]
            records = self._records(chosen)
            days = sorted({e.drawn_day for e in chosen})
            result.days = days
            for day in days:
                result.rows.extend(run_qa_day(day_events, records, self.rules, day=day,
                                              tz=self.tz, checker=self.checker))
            result.rows.extend(self._kept_early(chosen, result.rows, day_events, records))
        self.closed_through_us = m
        self._evict(chosen, clock_us)
        self.stats["days_closed"] += len(result.days)
        self.stats["late_entities"] += result.late
        return result

    def early(self) -> list[dict]:
        """Rows for entities that entered a targeted pool since the last call (see module doc).

        Only for days not drawn yet (a drawn day's rows are final), and only when the reasons
        changed, so a redelivered or irrelevant event writes nothing.
        """
        pending, self._early = self._early, {}
        rows: list[dict] = []
        cut = self.closed_through_us
        for e in pending.values():
            if not e.maybe_ended or (e.kind, e.eid) not in self._entities:
                continue
            events, _ = self._decode([e])
            records = self._records([e])
            summaries, turns = summaries_from_events(events, records, self.tz)
            if not summaries:
                continue
            s = summaries[0]
            if cut is not None and s.ended_at_us < cut:
                continue  # its day is drawn (or it is late): the next close takes it
            sample = self.sampler.select_targeted(s)
            if sample is None or sample.reasons == e.early_reasons:
                continue
            e.early_reasons = sample.reasons
            rows.extend(sample_rows([sample], summaries, turns, entity_queues(events), self.checker))
        self.stats["early_samples"] += len(rows)
        return rows

    # ------------------------------------------------------------------ internals

    def _kept_early(self, chosen: list[_Entity], rows: list[dict], events: list[dict],
                    records: list) -> list[dict]:
        """A sample written early stays in the day's sample even when a later event took the
        entity out of its pool (a customer who rated 1, then 5): a review once assigned is
        not withdrawn. Its reasons are those it was written with."""
        drawn = {(r["entity_kind"], r["entity_id"]) for r in rows}
        kept = [e for e in chosen if e.early_reasons and (e.kind, e.eid) not in drawn]
        if not kept:
            return []
        keys = {(e.kind, e.eid) for e in kept}
        def key(ev: dict) -> tuple[str, str | None]:
            kind = str(ev.get("type", "")).split(".", 1)[0]
            return kind, ev.get(f"{kind}_id")   # a ticket may also name a conversation

        own = [ev for ev in events if key(ev) in keys]
        summaries, turns = summaries_from_events(own, records, self.tz)
        by_id = {(x.entity_kind, x.entity_id): x for x in summaries}
        samples = [self.sampler.sample(by_id[(e.kind, e.eid)], set(e.early_reasons))
                   for e in kept if (e.kind, e.eid) in by_id]
        self.stats["kept_early"] += len(samples)
        return sample_rows(samples, summaries, turns, entity_queues(own), self.checker)

    def _decode(self, entities: list[_Entity]) -> tuple[list[dict], list[tuple[str, str]]]:
        events: list[dict] = []
        keys: list[tuple[str, str]] = []
        for e in entities:
            for _, _, raw in sorted(e.items):
                events.append(orjson.loads(raw))
                keys.append((e.kind, e.eid))
        return events, keys

    def _records(self, entities: list[_Entity]) -> list:
        """SLA records of these entities, from their own events alone (records are per entity)."""
        items = []
        for e in entities:
            for t, seq, raw in e.items:
                items.append((t, seq, decode_event(raw)))
        items.sort(key=lambda item: (item[0], item[1]))  # `run` keeps ties in list order
        until = max(e.last_t for e in entities)
        records, _, _, _ = replay_run(items, self.policies, until)
        return records

    def _evict(self, drawn: list[_Entity], clock_us: int) -> None:
        boundary = self.closed_through_us or 0
        for e in drawn:
            if e.kind == "conversation" or e.closed:
                key = (e.kind, e.eid)
                self._entities.pop(key, None)
                self._early.pop(key, None)
                self._released[key] = boundary
        horizon = clock_us - self.retention_us
        for key in [k for k, b in self._released.items() if b < horizon]:
            del self._released[key]
        stale = [k for k, e in self._entities.items() if e.last_t < horizon]
        for k in stale:
            del self._entities[k]
            self._early.pop(k, None)
        self.stats["expired"] += len(stale)
