"""Event-time clock of one input partition: buffer, watermark, and ordered application.

Live, events arrive in offset order, which is not event-time order. The sequencer holds each
event until the watermark (newest event time seen - allowed lateness) passes it, then applies
the held events to the SLA engine in (event time, offset) order and advances the engine to the
watermark, so breaches fire. For any input whose disorder is within the lateness this is exactly
the replay's order (time, then file order), hence the same records: entities are independent, so
interleaving partitions does not matter.

While the input is idle the watermark keeps moving with wall time, as if event time went on at
the wall clock's pace from the newest event, so a breach fires with no further event. An event
older than the watermark is applied at once, at its own time, and counted as late.

Pure: wall time is passed in, the caller owns I/O and acknowledgements (`tokens`).
"""
from __future__ import annotations

from bisect import bisect_left
from typing import Any, Callable, Hashable

from .engine import SlaEngine

NEVER = -(1 << 62)
# An input whose newest event arrived within this of its event time is live, not a backlog.
LIVE_GAP_US = 60 * 1_000_000


class Sequencer:
    __slots__ = ("engine", "apply", "lateness", "idle_after", "newest", "wall_at_newest",
                 "last_arrival", "watermark", "late", "_buf", "_sorted", "caught_up")

    def __init__(self, engine: SlaEngine, lateness_us: int, idle_after_us: int = 1_000_000,
                 apply: Callable[[Any, int], bool] | None = None) -> None:
        self.engine = engine
        # What applying an event means: the engine's apply, or a caller's wrapper around it
        # (the live processor also feeds the metric windows).
        self.apply = apply if apply is not None else engine.apply
        self.lateness = lateness_us
        # Wall time without any arrival before the watermark starts following the wall clock:
        # while a backlog is being consumed, event time (not wall time) must drive the clock.
        self.idle_after = idle_after_us
        self.newest: int | None = None
        self.wall_at_newest = 0
        self.last_arrival = 0
        self.watermark = NEVER
        self.late = 0
        # Held events as (time, seq, event, token). Offers append; the list is sorted when the
        # watermark moves. A heap (push and pop per event) cost ~1 µs per event in the worker;
        # timsort over a batch that arrives nearly in time order is a pass of C comparisons.
        self._buf: list[tuple[int, int, Any, Hashable]] = []
        self._sorted = True
        # Set by the live worker: nothing unread in this partition. Only then may a live
        # partition's clock follow the wall clock between arrivals (nothing older can be behind).
        self.caught_up = False

    def offer(self, event: Any, t: int, seq: int, wall: int, token: Hashable = None) -> list[Hashable]:
        """Take one decoded event (time `t` µs, partition offset `seq`). Returns the tokens of
        events applied by this call: the event's own if it was late, else none."""
        self.last_arrival = wall
        if self.newest is None or t > self.newest:
            self.newest = t
            self.wall_at_newest = wall
        if t < self.watermark:
            self.late += 1
            self.apply(event, t)
            return [token]
        self._buf.append((t, seq, event, token))
        self._sorted = False
        return []

    def tick(self, wall: int, frontier: tuple[int, int] | None = None) -> list[Hashable]:
        """Move the watermark (event time, or wall time when idle); apply what it passed.

        `frontier` is (newest event time, wall time it was seen) over the worker's whole input.
        An idle partition follows it rather than its own newest event: a partition that went
        quiet long ago must not hold its clock (and its breaches) back, in particular while a
        backlog is consumed and event time runs far ahead of wall time.

        Returns the tokens of the events applied, in the order they were applied."""
        if self.newest is None and frontier is None:
            return []
        newest, seen_at = (self.newest, self.wall_at_newest) if self.newest is not None else frontier
        if wall - self.last_arrival < self.idle_after:
            if self.caught_up and self.newest is not None and seen_at - newest <= LIVE_GAP_US:
                # Live, sparse and fully read: between two arrivals the wall clock is event
                # time, so a deadline fires at deadline + lateness, not up to `idle_after` later.
                return self.advance_to(max(newest, wall) - self.lateness)
            return self.advance_to(newest - self.lateness)
        if frontier is not None and frontier[0] > newest:
            newest, seen_at = frontier
        now = newest + max(0, wall - seen_at)  # event time, gone on at the wall clock's pace
        if seen_at - newest <= LIVE_GAP_US:
            # A live input (its newest event was fresh when it arrived): the wall clock *is* event
            # time, so delivery latency must not delay breaches any further.
            now = max(now, wall)
        return self.advance_to(now - self.lateness)

    def advance_to(self, wm: int) -> list[Hashable]:
        if wm <= self.watermark:
            return []
        self.watermark = wm
        applied = []
        buf = self._buf
        if buf:
            if not self._sorted:
                buf.sort()  # (time, seq): seq (the offset) is unique, events are never compared
                self._sorted = True
            # Everything before time `wm`: (wm,) sorts before any (wm, seq, ...).
            cut = bisect_left(buf, (wm,))
            if cut:
                apply = self.apply
                for t, _, event, token in buf[:cut]:
                    apply(event, t)
                    applied.append(token)
                del buf[:cut]
        self.engine.advance(wm)
        return applied

    @property
    def pending(self) -> int:
        return len(self._buf)

    def oldest_held_seq(self) -> int | None:
        """The smallest offset still held: where a restarted consumer must read from."""
        return min(item[1] for item in self._buf) if self._buf else None

    def oldest_pending(self) -> int | None:
        if not self._buf:
            return None
        return self._buf[0][0] if self._sorted else min(item[0] for item in self._buf)

    def state(self) -> dict:
        """What must survive a restart besides the entities (held events are simply re-read)."""
        return {"newest": self.newest, "wall_at_newest": self.wall_at_newest,
                "watermark": self.watermark, "late": self.late}

    def restore(self, state: dict, wall: int) -> None:
        self.newest = state.get("newest")
        self.wall_at_newest = state.get("wall_at_newest", wall)
        self.last_arrival = wall
        self.watermark = state.get("watermark", NEVER)
        self.late = state.get("late", 0)
        if self.watermark > self.engine.now:
            self.engine.now = self.watermark
