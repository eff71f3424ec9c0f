"""The SLA engine: per-entity clocks driven by events and by the passing of event time.

Pure and deterministic: `apply(event, t)` and `advance(t)` in, `SlaRecord`s out (`drain()`).
There is no wall clock here: the caller says what time it is, so the live Faust agents, the
offline replay and the tests get record-for-record identical results for the same input order.

Breaches and warnings are timer driven: every running clock has its next threshold (a `warn_at`
fraction, then the deadline) in a heap keyed by the instant, computed with the clock's calendar.
`advance(t)` fires everything due before `t`, so a breach is declared the moment the deadline
passes, not when the entity's next event happens to reveal it.
"""
from __future__ import annotations

import heapq
import sys
from hashlib import blake2b
from typing import Callable, Iterable

from .policy import Policy, PolicySet, Target
from .records import SlaRecord

RUNNING, PAUSED, STOPPED = 0, 1, 2

FIRST_RESPONSE = "first_response"
NEXT_RESPONSE = "next_response"
ASSIGNMENT = "assignment"
RESOLUTION = "resolution"

_TICKET_METRICS = (FIRST_RESPONSE, ASSIGNMENT, RESOLUTION)
_CONVERSATION_METRICS = (FIRST_RESPONSE, RESOLUTION)
_DONE_STATUSES = ("solved", "closed")
_PAUSE_STATUSES = ("pending", "on_hold")
_CREATES = frozenset(("conversation.started", "ticket.created"))
_SEQ_BITS = 24
_SEQ_MASK = (1 << _SEQ_BITS) - 1
# Timers further out than the current bucket (2^26 µs, about 67 s) wait in a per-bucket list
# (8 bytes per clock) rather than in the heap (a 2-tuple per clock, ~64 bytes more); a bucket
# moves into the heap only when event time reaches it. Most clocks stop long before their
# bucket comes up, so most never cost a heap entry at all.
_BUCKET_BITS = 26


def _intern(value: str | None) -> str | None:
    # Channels, tiers, queues and agent ids repeat across millions of entities: share one copy.
    return sys.intern(value) if value is not None else None


class Clock:
    """One SLA clock (one metric, one cycle) of one entity.

    Elapsed time is kept as `seg_elapsed` at `seg_start` plus the calendar time since then while
    running; a re-match or a resume starts a new segment, which is how elapsed time survives a
    change of calendar.
    """

    __slots__ = ("entity", "metric", "cycle", "policy", "target", "state", "seg_start",
                 "seg_elapsed", "breached_at", "warned", "sched", "outcome")

    def __init__(self, entity: "Entity", metric: str, cycle: int, policy: Policy,
                 target: Target, start: int, elapsed: int) -> None:
        self.entity = entity
        self.metric = metric
        self.cycle = cycle
        self.policy = policy
        self.target = target
        self.state = RUNNING
        self.seg_start = start        # while paused: the instant it paused
        self.seg_elapsed = elapsed
        self.breached_at: int | None = None
        self.warned: tuple[float, ...] = ()
        self.sched = 0        # sequence number of this clock's live heap entry (0: none)
        self.outcome = ""     # status of the record that stopped it

    def __lt__(self, other: "Clock") -> bool:
        # Only reached when two heap keys are equal, i.e. the same due instant and a sequence
        # number that wrapped around: any consistent order will do, a TypeError would not.
        return id(self) < id(other)

    def elapsed_at(self, t: int) -> int:
        if self.state == RUNNING and t > self.seg_start:
            return self.seg_elapsed + self.target.calendar.elapsed(self.seg_start, t)
        return self.seg_elapsed

    def deadline_at(self, at: int) -> int:
        """When the target will be or was reached, seen at `at` (spec: "given the calendar and
        pauses so far"): the breach instant once breached; while running, from the segment
        start; while paused, as if it resumed at `at`. Computed only when a record needs it,
        so open clocks carry no deadline (memory) and starting one costs no calendar call."""
        if self.breached_at is not None:
            return self.breached_at
        base = self.seg_start if self.state == RUNNING else at
        remaining = self.target.target_us - self.seg_elapsed
        return self.target.calendar.add(base, remaining) if remaining > 0 else base


class Entity:
    """What the engine keeps per open conversation or ticket: attributes, flags, clocks."""

    # One slot per metric rather than a dict of clocks: a dict costs ~200 bytes per entity, and
    # the engine's memory is dominated by open entities (goal: <= 1 KiB each).
    __slots__ = ("kind", "id", "channel", "priority", "customer_tier", "category", "queue",
                 "group", "assignee", "last_agent", "start", "policy", "first_response",
                 "next_response", "assignment", "resolution", "responded", "waiting_since",
                 "nr_cycles", "status", "assigned", "pauses", "seen", "ended_at")

    def __init__(self, kind: str, entity_id: str, start: int) -> None:
        self.kind = kind
        self.id = entity_id
        self.start = start
        self.channel: str | None = None
        self.priority: str | None = None
        self.customer_tier: str | None = None
        self.category: str | None = None
        self.queue: str | None = None
        self.group: str | None = None
        self.assignee: str | None = None
        self.last_agent: str | None = None
        self.policy: Policy | None = None
        self.first_response: Clock | None = None
        self.next_response: Clock | None = None
        self.assignment: Clock | None = None
        self.resolution: Clock | None = None
        self.responded = False
        self.waiting_since: int | None = None
        self.nr_cycles = 0
        self.status = "new"
        self.assigned = False
        # Resolution pause intervals [start, end or None]; needed only when a re-match brings a
        # resolution target that has to be computed from the entity's start.
        self.pauses: list[list[int | None]] | None = None
        # 64-bit hashes of the event ids applied to this entity (8 bytes each). Kept with the
        # entity so that its persisted state carries its own de-dup record: after a crash, the
        # events re-read since the last commit are recognised as already applied.
        self.seen = b""
        self.ended_at: int | None = None   # a conversation's end; then only kept for de-dup

    def attrs(self) -> dict[str, str | None]:
        return {"kind": self.kind, "channel": self.channel, "priority": self.priority,
                "customer_tier": self.customer_tier, "category": self.category,
                "queue": self.queue, "group": self.group}

    def clocks(self) -> list[Clock]:
        return [c for c in (self.first_response, self.next_response, self.assignment,
                            self.resolution) if c is not None]

    @property
    def agent_id(self) -> str | None:
        return self.assignee if self.assignee is not None else self.last_agent


class EngineStats:
    __slots__ = ("applied", "duplicates", "orphans", "after_end", "late", "records")

    def __init__(self) -> None:
        self.applied = 0
        self.duplicates = 0
        self.orphans = 0      # events for an entity that has not started (or was evicted)
        self.after_end = 0    # events for a conversation that has already ended
        self.late = 0         # events older than time already advanced past
        self.records = 0

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


_SEEN_MAX = 256 * 8  # bytes: the newest 256 event ids per entity are remembered


def _seen_before(seen: bytes, h: bytes) -> bool:
    i = seen.find(h)
    while i != -1:
        if not i & 7:  # aligned on a hash boundary, not straddling two
            return True
        i = seen.find(h, i + 1)
    return False


class SlaEngine:
    """Apply events in event-time order and advance time; collect `SlaRecord`s.

    Contract with the driver: call `apply` in non-decreasing event time where possible (the live
    pipeline's sequencer and the replay both do); an older event is still applied, at its own
    time, and counted as late. `advance(t)` fires thresholds due strictly before `t`, so events
    at an instant are applied before the deadlines of that same instant fire.
    """

    def __init__(self, policies: PolicySet) -> None:
        self.policies = policies
        # Keyed by id per kind (not by a (kind, id) tuple): saves a tuple per open entity.
        self.entities: dict[str, dict[str, Entity]] = {"conversation": {}, "ticket": {}}
        self.now = -(1 << 62)
        self.stats = EngineStats()
        # Ended conversations in end order, for `evict_ended` (live workers bound memory).
        self._ended: dict[str, int] = {}
        # Entities changed since the last `take_dirty`: the live worker persists exactly these.
        self.dirty: set[Entity] = set()
        # (due << _SEQ_BITS | seq, clock): one int instead of two per entry, ties broken by seq.
        # Holds the timers of buckets up to `_near`; later ones sit in `_buckets` (see above).
        self._heap: list[tuple[int, Clock]] = []
        self._buckets: dict[int, list[Clock]] = {}
        self._bucket_heap: list[int] = []
        self._near = -(1 << 62)
        self._seq = 0
        self._out: list[SlaRecord] = []
        self._handlers: dict[str, Callable] = {
            "conversation.started": None,  # creation happens in apply; a second start is a no-op
            "conversation.message": self._conversation_message,
            "conversation.assigned": self._conversation_assigned,
            "conversation.transferred": self._conversation_transferred,
            "conversation.ended": self._conversation_ended,
            "conversation.rated": None,
            "ticket.created": None,
            "ticket.assigned": self._ticket_assigned,
            "ticket.status_changed": self._ticket_status_changed,
            "ticket.comment": self._ticket_comment,
            "ticket.priority_changed": self._ticket_priority_changed,
            "ticket.rated": None,
        }

    # ------------------------------------------------------------------ driving
    def apply(self, event, t: int) -> bool:
        """Apply one decoded event occurring at `t` (µs).

        Returns False when the event changed nothing: a duplicate `event_id`, an event for an
        entity that has not started, or for a conversation that has already ended (except its
        rating, which customers give after the end).
        """
        if t > self.now:
            heap = self._heap
            if (heap and heap[0][0] < t << _SEQ_BITS) or (
                    self._bucket_heap and self._bucket_heap[0] <= (t - 1) >> _BUCKET_BITS):
                self._fire(t)
            self.now = t
        elif t < self.now:
            self.stats.late += 1
        entity = self.entities[event.kind].get(event.entity_id)
        # 64 bits of the event id: what `seen` keeps (8 bytes per remembered event).
        h = blake2b(event.event_id.encode(), digest_size=8).digest()
        if entity is None:
            if event.type not in _CREATES:
                self.stats.orphans += 1
                return False
            entity = self._create(event, t)
            seen = h
        else:
            seen = entity.seen
            # Almost always absent: only a hit needs the alignment check of _seen_before.
            if seen.find(h) != -1 and _seen_before(seen, h):
                self.stats.duplicates += 1
                return False
            seen += h
            if len(seen) > _SEEN_MAX:
                seen = seen[8:]
        entity.seen = seen
        self.dirty.add(entity)
        if entity.ended_at is not None:
            # Customers rate after the chat ends: the rating moves no clock but is a fact about
            # the conversation (CSAT), so it counts as applied. Anything else after the end is not.
            if event.type == "conversation.rated":
                self.stats.applied += 1
                return True
            self.stats.after_end += 1
            return False
        self.stats.applied += 1
        handler = self._handlers[event.type]
        if handler is not None:
            handler(entity, event, t)
        return True

    def apply_items(self, items: list, stop: int) -> None:
        """`apply(ev, t)` for each `(t, _, ev)` of `items[:stop]`, in order (the replay's
        time-sorted events): one call for the whole loop, which runs compiled with the engine."""
        for i in range(stop):
            t, _, ev = items[i]
            self.apply(ev, t)

    def take_dirty(self) -> set[Entity]:
        dirty, self.dirty = self.dirty, set()
        return dirty

    def restore(self, entities: "Iterable[Entity]") -> None:
        """Put persisted entities back (see `state.load_entity`) and re-arm their timers."""
        restored = sorted(entities, key=lambda e: e.ended_at or 0)
        for e in restored:
            self.entities[e.kind][e.id] = e
            if e.ended_at is not None:
                self._ended[e.id] = e.ended_at
            for clock in e.clocks():
                self._schedule(clock)

    def forget(self, kind: str, entity_id: str) -> None:
        """Drop an entity without records (its partition moved to another worker)."""
        e = self.entities[kind].pop(entity_id, None)
        if e is not None:
            self._ended.pop(entity_id, None)
            for clock in e.clocks():
                clock.sched = 0

    def evict_ended(self, before: int) -> list[Entity]:
        """Forget conversations that ended before `before` (their late events become orphans)."""
        evicted = []
        ended = self._ended
        conversations = self.entities["conversation"]
        due = []
        # Not over a copy of `ended`: called every tick, and copying it was O(all ended).
        for cid, ended_at in ended.items():
            if ended_at >= before:
                break  # insertion order is end order (event-time order, late events aside)
            due.append(cid)
        for cid in due:
            del ended[cid]
            e = conversations.pop(cid, None)
            if e is not None:
                evicted.append(e)
        return evicted

    def advance(self, t: int) -> None:
        """Event time has reached `t`: fire every threshold due before `t`."""
        if t > self.now:
            self._fire(t)
            self.now = t

    def drain(self) -> list[SlaRecord]:
        out, self._out = self._out, []
        return out

    @property
    def open_entities(self) -> int:
        return sum(len(d) for d in self.entities.values())

    def entity(self, kind: str, entity_id: str) -> Entity | None:
        return self.entities[kind].get(entity_id)

    def next_due(self) -> int | None:
        """The earliest pending threshold instant (for the live worker's idle timer)."""
        heap = self._heap
        while True:
            while heap and heap[0][1].sched != heap[0][0]:
                heapq.heappop(heap)
            if heap or not self._bucket_heap:
                return heap[0][0] >> _SEQ_BITS if heap else None
            self._promote(self._bucket_heap[0])  # the earliest bucket: exact order from here

    # ------------------------------------------------------------------ timers
    def _promote(self, upto: int) -> None:
        """Move the timers of every bucket <= `upto` into the heap."""
        buckets, bheap, heap = self._buckets, self._bucket_heap, self._heap
        while bheap and bheap[0] <= upto:
            b = heapq.heappop(bheap)
            for clock in buckets.pop(b):
                key = clock.sched
                # Skip stale entries: stopped, or rescheduled into another bucket.
                if key and (key >> _SEQ_BITS) >> _BUCKET_BITS == b:
                    heapq.heappush(heap, (key, clock))
        if upto > self._near:
            self._near = upto

    def _fire(self, t: int) -> None:
        heap = self._heap
        limit = t << _SEQ_BITS
        self._promote((t - 1) >> _BUCKET_BITS)
        while heap and heap[0][0] < limit:
            key, clock = heapq.heappop(heap)
            if clock.sched != key:
                continue  # superseded: the clock stopped, paused or was rescheduled
            clock.sched = 0
            self._threshold(clock, key >> _SEQ_BITS)
            self._schedule(clock)
            self.dirty.add(clock.entity)

    def _next_threshold(self, clock: Clock) -> tuple[float | None, int] | None:
        if clock.breached_at is not None:
            return None
        target_us = clock.target.target_us
        for f in clock.policy.warn_at:
            if f not in clock.warned:
                return f, round(f * target_us)
        return None, target_us

    def _schedule(self, clock: Clock) -> None:
        nxt = self._next_threshold(clock) if clock.state == RUNNING else None
        if nxt is None:
            clock.sched = 0
            return
        threshold = nxt[1]
        remaining = threshold - clock.seg_elapsed
        # A threshold already passed at the segment start (re-match to a smaller target, resume
        # of such a clock) fires at that instant, as the spec asks.
        due = clock.target.calendar.add(clock.seg_start, remaining) if remaining > 0 else clock.seg_start
        self._seq = seq = (self._seq + 1) & _SEQ_MASK or 1
        clock.sched = key = (due << _SEQ_BITS) | seq
        b = due >> _BUCKET_BITS
        if b <= self._near:
            heapq.heappush(self._heap, (key, clock))
            return
        bucket = self._buckets.get(b)
        if bucket is None:
            self._buckets[b] = [clock]
            heapq.heappush(self._bucket_heap, b)
        else:
            bucket.append(clock)

    def _threshold(self, clock: Clock, due: int) -> None:
        fraction, threshold = self._next_threshold(clock)
        elapsed = threshold if threshold > clock.seg_elapsed else clock.seg_elapsed
        if fraction is None:
            clock.breached_at = due
            self._emit(clock, "breached", due, elapsed, due)
        else:
            clock.warned = clock.warned + (fraction,)
            self._emit(clock, "warning", due, elapsed, clock.deadline_at(due), None, fraction)

    # ------------------------------------------------------------------ records
    def _emit(self, clock: Clock, status: str, at: int, elapsed: int, deadline: int,
              agent: str | None = None, fraction: float | None = None) -> None:
        e = clock.entity
        self._out.append(SlaRecord(
            e.kind, e.id, clock.metric, clock.policy.name, clock.cycle, status,
            clock.target.target_us, elapsed, deadline, at, e.channel, e.priority,
            e.customer_tier, e.category, agent if agent is not None else e.agent_id,
            e.queue, e.group, fraction))
        self.stats.records += 1

    # ------------------------------------------------------------------ clock transitions
    def _start(self, entity: Entity, metric: str, t: int, elapsed: int = 0,
               cycle: int = 1, paused: bool = False) -> Clock | None:
        policy = entity.policy
        target = policy.targets.get(metric) if policy is not None else None
        if target is None:
            return None
        clock = Clock(entity, metric, cycle, policy, target, t, elapsed)
        if paused:
            clock.state = PAUSED
        setattr(entity, metric, clock)
        self._schedule(clock)
        return clock

    def _stop(self, clock: Clock, t: int, agent: str | None = None) -> None:
        elapsed = clock.elapsed_at(t)
        late = clock.breached_at is not None or elapsed > clock.target.target_us
        status = "completed_late" if late else "achieved"
        self._end(clock, t, elapsed, status, agent)

    def _end(self, clock: Clock, t: int, elapsed: int, status: str, agent: str | None = None) -> None:
        deadline = clock.deadline_at(t)
        clock.seg_elapsed = elapsed
        clock.state = STOPPED
        clock.sched = 0
        clock.outcome = status
        self._emit(clock, status, t, elapsed, deadline, agent)

    def _cancel(self, clock: Clock, t: int, status: str = "cancelled") -> None:
        self._end(clock, t, clock.elapsed_at(t), status)

    def _pause(self, clock: Clock, t: int) -> None:
        clock.seg_elapsed = clock.elapsed_at(t)
        clock.seg_start = t
        clock.state = PAUSED
        clock.sched = 0
        self._emit(clock, "paused", t, clock.seg_elapsed, clock.deadline_at(t))

    def _resume(self, clock: Clock, t: int) -> None:
        clock.state = RUNNING
        clock.seg_start = t
        self._emit(clock, "resumed", t, clock.seg_elapsed, clock.deadline_at(t))
        self._schedule(clock)

    def _retarget(self, clock: Clock, t: int, policy: Policy) -> None:
        """Continue a clock under another policy, keeping its elapsed time."""
        if clock.state == RUNNING:
            clock.seg_elapsed = clock.elapsed_at(t)
            clock.seg_start = t
        clock.policy = policy
        clock.target = policy.targets[clock.metric]
        self._schedule(clock)

    # ------------------------------------------------------------------ policy
    def _assign_policy(self, entity: Entity) -> None:
        entity.policy = self.policies.match(entity.attrs())

    def reload_policies(self, policies: PolicySet, t: int,
                        same: Callable[[Policy, Policy], bool]) -> int:
        """Put every open entity under `policies` at event time `t` (a policy file reload).

        An entity whose policy is `same` (unchanged definition) just takes the new objects;
        the others are re-matched as the contract's re-match does it (a priority change), so
        running and paused clocks keep their elapsed time under the new targets. Ended
        conversations are left alone. Returns how many entities were re-matched."""
        self.policies = policies
        changed = 0
        for by_id in self.entities.values():
            for e in by_id.values():
                if e.ended_at is not None:
                    continue   # no clock left and no event accepted any more
                target = policies.match(e.attrs())
                current = e.policy
                if current is not None and target is not None and same(current, target):
                    e.policy = target
                    for c in e.clocks():
                        if c.policy.name == target.name:
                            c.policy, c.target = target, target.targets[c.metric]
                    continue
                changed += 1
                self.dirty.add(e)
                if all(c.state == STOPPED for c in e.clocks()):
                    e.policy = target
                    continue
                self._rematch(e, t)
        return changed

    def _rematch(self, entity: Entity, t: int) -> None:
        old = entity.policy
        new = self.policies.match(entity.attrs())
        if new is old:
            return
        entity.policy = new
        new_targets = new.targets if new is not None else {}
        for clock in entity.clocks():
            metric = clock.metric
            if clock.state == STOPPED:
                continue  # a finished clock keeps its outcome; a reopen re-targets it
            if metric in new_targets:
                self._retarget(clock, t, new)
            else:
                self._cancel(clock, t)
        old_targets = old.targets if old is not None else {}
        for metric in new_targets:
            if metric not in old_targets:
                self._start_from_entity_start(entity, metric, t)

    def _start_from_entity_start(self, entity: Entity, metric: str, t: int) -> None:
        """A metric only the new policy has: as if it had run since the entity started."""
        clock = getattr(entity, metric)
        if clock is not None and clock.state != STOPPED:
            return
        target = entity.policy.targets[metric]
        cal = target.calendar
        if metric == FIRST_RESPONSE:
            if entity.responded:
                return
            self._start(entity, metric, t, cal.elapsed(entity.start, t))
        elif metric == ASSIGNMENT:
            if entity.kind != "ticket" or entity.assigned:
                return
            self._start(entity, metric, t, cal.elapsed(entity.start, t))
        elif metric == RESOLUTION:
            if entity.kind == "ticket" and entity.status in _DONE_STATUSES:
                return
            elapsed = cal.elapsed(entity.start, t)
            for p_start, p_end in entity.pauses or ():
                elapsed -= cal.elapsed(p_start, t if p_end is None else p_end)
            paused = entity.kind == "ticket" and entity.status in _PAUSE_STATUSES
            self._start(entity, metric, t, elapsed, 1, paused)
        elif metric == NEXT_RESPONSE:
            if entity.waiting_since is None:
                return
            entity.nr_cycles += 1
            self._start(entity, metric, t, cal.elapsed(entity.waiting_since, t),
                        entity.nr_cycles)

    # ------------------------------------------------------------------ shared behaviour
    def _running(self, entity: Entity, metric: str) -> Clock | None:
        clock = getattr(entity, metric)
        if clock is not None and clock.state != STOPPED:
            return clock
        return None

    def _customer_message(self, entity: Entity, t: int) -> None:
        # A new next_response cycle starts only once the first response has been given and no
        # earlier customer message is still waiting for its reply.
        if not entity.responded or entity.waiting_since is not None:
            return
        entity.waiting_since = t
        policy = entity.policy
        if policy is not None and NEXT_RESPONSE in policy.targets:
            entity.nr_cycles += 1
            self._start(entity, NEXT_RESPONSE, t, 0, entity.nr_cycles)

    def _reply(self, entity: Entity, t: int, agent: str | None) -> None:
        clock = self._running(entity, FIRST_RESPONSE)
        if clock is not None:
            self._stop(clock, t, agent)
        entity.responded = True
        clock = self._running(entity, NEXT_RESPONSE)
        if clock is not None:
            self._stop(clock, t, agent)
        entity.waiting_since = None

    def _message(self, entity: Entity, t: int, role: str, author_id: str | None) -> None:
        if role == "customer":
            self._customer_message(entity, t)
        elif role == "agent":
            if author_id is not None:
                entity.last_agent = _intern(author_id)
            self._reply(entity, t, author_id)
        elif role == "bot":
            if entity.policy is not None and entity.policy.count_bot_replies:
                self._reply(entity, t, None)
        # system messages never stop (or start) a clock

    # ------------------------------------------------------------------ conversations
    def _create(self, ev, t: int) -> Entity:
        if ev.type == "conversation.started":
            e = Entity("conversation", ev.conversation_id, t)
            e.queue = _intern(ev.queue)
        else:
            e = Entity("ticket", ev.ticket_id, t)
            e.priority = _intern(ev.priority)
            e.category = _intern(ev.category)
            e.group = _intern(ev.group)
        e.channel = _intern(ev.channel)
        e.customer_tier = _intern(ev.customer_tier)
        self._assign_policy(e)
        self.entities[e.kind][e.id] = e
        for metric in (_CONVERSATION_METRICS if e.kind == "conversation" else _TICKET_METRICS):
            self._start(e, metric, t)
        return e

    def _conversation_message(self, e: Entity, ev, t: int) -> None:
        self._message(e, t, ev.author_role, ev.author_id)

    def _conversation_assigned(self, e: Entity, ev, t: int) -> None:
        e.assignee = _intern(ev.agent_id)
        if ev.queue is not None and ev.queue != e.queue:
            e.queue = _intern(ev.queue)
            self._rematch(e, t)

    def _conversation_transferred(self, e: Entity, ev, t: int) -> None:
        e.assignee = _intern(ev.to_agent_id)
        if ev.to_queue is not None and ev.to_queue != e.queue:
            e.queue = _intern(ev.to_queue)
            self._rematch(e, t)

    def _conversation_ended(self, e: Entity, ev, t: int) -> None:
        clock = self._running(e, FIRST_RESPONSE)
        if clock is not None:
            self._cancel(clock, t, "abandoned")
        clock = self._running(e, NEXT_RESPONSE)
        if clock is not None:
            self._cancel(clock, t)
        clock = self._running(e, RESOLUTION)
        if clock is not None:
            if ev.outcome == "resolved":
                self._stop(clock, t)
            else:
                self._cancel(clock, t)
        # An ended conversation can never change a clock again: drop its clocks (which also
        # breaks the entity<->clock reference cycles, so memory returns by reference counting)
        # and keep only what de-duplication and late ratings need, until `evict_ended`.
        e.first_response = e.next_response = e.resolution = None
        e.pauses = None
        e.ended_at = t
        self._ended[e.id] = t

    # ------------------------------------------------------------------ tickets
    def _ticket_assigned(self, e: Entity, ev, t: int) -> None:
        e.assignee = _intern(ev.assignee_id)
        e.assigned = True
        clock = self._running(e, ASSIGNMENT)
        if clock is not None:
            self._stop(clock, t, ev.assignee_id)
        if ev.group is not None and ev.group != e.group:
            e.group = _intern(ev.group)
            self._rematch(e, t)

    def _ticket_priority_changed(self, e: Entity, ev, t: int) -> None:
        if ev.priority != e.priority:
            e.priority = _intern(ev.priority)
            self._rematch(e, t)

    def _ticket_comment(self, e: Entity, ev, t: int) -> None:
        if not ev.public:
            return  # internal notes never stop (or start) a clock
        if e.status in _DONE_STATUSES and ev.author_role == "customer":
            return  # a solved ticket only comes back through a status change (reopen)
        self._message(e, t, ev.author_role, ev.author_id)

    def _ticket_status_changed(self, e: Entity, ev, t: int) -> None:
        prev, new = e.status, ev.status
        if new == prev:
            return
        e.status = new
        was_done, now_done = prev in _DONE_STATUSES, new in _DONE_STATUSES
        now_paused = new in _PAUSE_STATUSES
        if was_done and now_done:
            return  # solved -> closed: nothing runs
        if now_paused and e.pauses is None:
            e.pauses = []
        if now_paused and not (prev in _PAUSE_STATUSES):
            e.pauses.append([t, None])
        elif prev in _PAUSE_STATUSES and not now_paused and e.pauses:
            e.pauses[-1][1] = t
        if was_done:
            self._reopen(e, t, now_paused)
            return
        clock = self._running(e, RESOLUTION)
        if now_done:
            if clock is not None:
                self._stop(clock, t)
            for metric in (NEXT_RESPONSE, FIRST_RESPONSE, ASSIGNMENT):
                other = self._running(e, metric)
                if other is not None:
                    self._cancel(other, t)
            e.waiting_since = None
        elif clock is not None:
            if now_paused and clock.state == RUNNING:
                self._pause(clock, t)
            elif not now_paused and clock.state == PAUSED:
                self._resume(clock, t)

    def _reopen(self, e: Entity, t: int, paused: bool) -> None:
        """solved/closed -> open/pending: the same resolution clock resumes, elapsed kept."""
        policy = e.policy
        if policy is None or RESOLUTION not in policy.targets:
            return
        clock = e.resolution
        if clock is None or clock.outcome not in ("achieved", "completed_late"):
            self._start_from_entity_start(e, RESOLUTION, t)
            return
        if clock.policy is not policy:
            clock.policy = policy
            clock.target = policy.targets[RESOLUTION]
        if paused:
            clock.state = PAUSED
            clock.seg_start = t
            self._emit(clock, "paused", t, clock.seg_elapsed, clock.deadline_at(t))
        else:
            self._resume(clock, t)
