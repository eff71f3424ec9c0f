"""Per-minute support metrics in event-time windows: what supervisors watch on the wall board.

Pure like the rest of `streams.core`: SLA records and a few raw events in, closed windows out. No
I/O and no wall clock: a window is final once the *event-time watermark* passes its end, and
`close_until(watermark)` hands it out exactly once, so the live worker and an offline replay
produce the same windows for the same input.

Cells are keyed by (window start, dims), dims being
`(entity_kind, channel, queue, priority, customer_tier, category, agent_id)`. A cell
(`WindowAggregate`) holds counters and two DDSketches (first response and resolution times, in
seconds, 1 % relative accuracy). Cells are mergeable, so the partial aggregates of two
partitions or workers for the same cell add up to what one worker fed everything would have.

Driving order (live and replay): apply the events up to time `t` to the engine, feed the
drained records and the events to `MetricWindows`, then `close_until(watermark)`. The engine's
breach/warning records are stamped with the past instant the deadline passed, but never before
the previous watermark it was advanced to, so in that order they are never late.

Lateness: a contribution whose window was already closed (window end <= the highest watermark
seen) is not folded into that window, which has been emitted and must not change. It is counted
in `late_events` of the *current open window* of the same dims (the window containing the
watermark), so the count travels to the sinks with the ordinary output, and in the running
total `MetricWindows.late_events`. Only observations that would have contributed count: a
`paused` record or an irrelevant event type is not late, it is nothing.

Sketch serialisation (`to_dict`/`from_dict`; the ddsketch protobuf needs `google.protobuf`,
which is not a dependency): `{"alpha", "zero", "bins": [[key, count], ...], "min", "max",
"sum_us"}` with only the non-empty bins of the positive store, keys ascending (`"neg"` likewise,
only if a negative value was ever added). Restored sketches use the same key mapping, so they
merge bin-for-bin with live ones.
"""
from __future__ import annotations

import hashlib
from bisect import bisect_right
from itertools import accumulate
from typing import TYPE_CHECKING, Any, Iterable

import orjson
from ddsketch import DDSketch
from ddsketch.ddsketch import BaseDDSketch
from ddsketch.mapping import LogarithmicMapping
from ddsketch.store import DenseStore

from .timeutil import US, seconds

if TYPE_CHECKING:
    from .engine import Entity
    from .records import SlaRecord

__all__ = [
    "WINDOW_US",
    "RELATIVE_ACCURACY",
    "Dims",
    "WindowAggregate",
    "MetricWindows",
    "window_id",
    "sla_by_metric",
    "record_dims",
    "entity_dims",
]

WINDOW_US = 60 * US
RELATIVE_ACCURACY = 0.01
QUANTILES = (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))
SNAPSHOT_VERSION = 1

Dims = tuple[str, str | None, str | None, str | None, str | None, str | None, str | None]
#      (entity_kind, channel, queue, priority, customer_tier, category, agent_id)
DIM_NAMES = ("entity_kind", "channel", "queue", "priority", "customer_tier", "category", "agent_id")

# The outcome statuses supervisors count. `paused`/`resumed` are clock bookkeeping, not outcomes:
# counting them would make a ticket parked in "pending" look like activity.
SLA_STATUSES = frozenset(("achieved", "completed_late", "breached", "abandoned", "cancelled",
                          "warning"))
_STOPPED = ("achieved", "completed_late")
_START_TYPES = frozenset(("conversation.started", "ticket.created"))
_RATED_TYPES = frozenset(("conversation.rated", "ticket.rated"))

# One mapping for every sketch: DDSketch() builds its own (~3.5 µs, and memory per cell);
# the mapping is immutable, and equal gammas are all `merge` requires.
_MAPPING = LogarithmicMapping(RELATIVE_ACCURACY)
_NEVER = -(1 << 62)  # "no watermark yet": before any representable event time


# Bins are allocated in chunks of this many. With ddsketch's default (128) a sketch holding one
# value costs a 1 KiB list, and most cells only ever hold a handful of values (memory per open
# cell; speed: no measurable change in bench/processor.py). Keys, counts, quantiles, merges and
# the serialised state do not depend on it (tested).
_CHUNK_BINS = 16


def _new_sketch() -> DDSketch:
    sketch = DDSketch.__new__(DDSketch)
    BaseDDSketch.__init__(sketch, _MAPPING, DenseStore(_CHUNK_BINS), DenseStore(_CHUNK_BINS), 0.0)
    return sketch


def _num(x: float) -> int | float:
    # Bin counts are float in ddsketch but always whole here: write 3, not 3.0.
    return int(x) if x == int(x) else x


def _store_bins(store: DenseStore) -> list[list[int | float]]:
    if store.count == 0:
        return []
    bins, offset, lo = store.bins, store.offset, store.min_key
    if lo == store.max_key:  # one populated bin: most cells hold a single value
        return [[lo, _num(bins[lo - offset])]]
    return [[k, _num(bins[k - offset])] for k in range(lo, store.max_key + 1)
            if bins[k - offset]]


def _sketch_state(sketch: DDSketch | None, sum_us: int) -> dict[str, Any]:
    if sketch is None or sketch.count == 0:
        return {"alpha": RELATIVE_ACCURACY, "zero": 0, "bins": [], "min": None, "max": None,
                "sum_us": sum_us}
    d: dict[str, Any] = {"alpha": sketch._relative_accuracy, "zero": _num(sketch._zero_count),
                         "bins": _store_bins(sketch._store), "min": sketch._min,
                         "max": sketch._max, "sum_us": sum_us}
    if sketch._negative_store.count:
        d["neg"] = _store_bins(sketch._negative_store)
    return d


def _sketch_from_state(d: dict[str, Any]) -> tuple[DDSketch | None, int]:
    sum_us = int(d.get("sum_us", 0))
    alpha = d.get("alpha", RELATIVE_ACCURACY)
    if alpha != RELATIVE_ACCURACY:
        # A sketch with another gamma could never merge with ours: refuse it at the door
        # rather than fail later in the middle of a merge.
        raise ValueError(f"sketch relative accuracy {alpha!r}, expected {RELATIVE_ACCURACY}")
    bins, neg, zero = d.get("bins") or [], d.get("neg") or [], d.get("zero", 0)
    if not bins and not neg and not zero:
        return None, sum_us
    sketch = _new_sketch()
    for store, pairs in ((sketch._store, bins), (sketch._negative_store, neg)):
        for key, count in pairs:
            if count <= 0:
                raise ValueError(f"sketch bin {key} has count {count!r}")
            store.add(int(key), float(count))
    sketch._zero_count = float(zero)
    sketch._count = sketch._store.count + sketch._negative_store.count + sketch._zero_count
    sketch._sum = sum_us / US
    sketch._min = float(d["min"]) if d.get("min") is not None else float("inf")
    sketch._max = float(d["max"]) if d.get("max") is not None else float("-inf")
    return sketch, sum_us


def _empty_summary(quantiles: bool) -> dict[str, Any]:
    d: dict[str, Any] = {"count": 0, "sum": 0}
    if quantiles:
        d.update({"max": None, **{name: None for name, _ in QUANTILES}})
    d["sketch"] = _sketch_state(None, 0)
    return d


# Two thirds of the cells a worker closes have no first response or no resolution: their
# summaries are these constants, shared (read-only: they are only ever serialised).
_EMPTY_SUMMARY = {True: _empty_summary(True), False: _empty_summary(False)}


def _sketch_summary(sketch: DDSketch | None, sum_us: int, quantiles: bool) -> dict[str, Any]:
    if sketch is None and not sum_us:
        return _EMPTY_SUMMARY[quantiles]
    count = int(sketch.count) if sketch is not None else 0
    d: dict[str, Any] = {"count": count, "sum": seconds(sum_us)}
    if quantiles:
        d["max"] = sketch._max if count else None
        values = quantile_values(sketch, [q for _, q in QUANTILES]) if count else None
        for i, (name, _) in enumerate(QUANTILES):
            d[name] = values[i] if values is not None else None
    d["sketch"] = _sketch_state(sketch, sum_us)
    return d


def quantile_values(sketch: DDSketch, qs: list[float]) -> list[float | None]:
    """`sketch.get_quantile_value(q)` for each q, value for value, in one pass over the bins.

    ddsketch walks its bins in a Python loop per quantile; a window cell asks for three
    quantiles of two sketches, which made quantiles the worker's largest output cost. Here the
    running counts come from `accumulate` (the same float additions in the same order) and
    each rank is a bisection. Sketches with negative values (never ours: durations) take the
    library's own path.
    """
    if sketch._negative_store.count:
        return [sketch.get_quantile_value(q) for q in qs]
    count, zero, store = sketch._count, sketch._zero_count, sketch._store
    running: list[float] | None = None
    out: list[float | None] = []
    for q in qs:
        if q < 0 or q > 1 or count == 0:
            out.append(None)
            continue
        rank = q * (count - 1)
        if rank < zero:
            out.append(0)
            continue
        if store.min_key == store.max_key:
            # One populated bin (most cells hold one value): every rank above the zeros is in
            # it, as the general path below would find.
            out.append(sketch._mapping.value(store.min_key))
            continue
        if running is None:
            # Only the populated keys: the empty bins around them add nothing to the count,
            # and the store's array is padded in chunks of 128.
            lo = store.min_key - store.offset
            running = list(accumulate(store.bins[lo:store.max_key - store.offset + 1], initial=0.0))[1:]
        i = bisect_right(running, rank - zero)
        key = i + store.min_key if i < len(running) else store.max_key
        out.append(sketch._mapping.value(key))
    return out


def _merge_sketch(mine: DDSketch | None, theirs: DDSketch | None) -> DDSketch | None:
    if theirs is None or theirs.count == 0:
        return mine
    if mine is None:
        mine = _new_sketch()
    mine.merge(theirs)  # copies (never aliases) the other's bins when `mine` is empty
    return mine


class WindowAggregate:
    """One (window start, dims) cell. All fields add up under `merge`."""

    __slots__ = ("started", "first_responses", "first_response_sum_us", "_fr_sketch",
                 "responded_within_target", "abandoned", "resolved", "resolution_sum_us",
                 "_res_sketch", "reopened", "sla", "csat_count", "csat_sum", "csat_hist",
                 "late_events")

    def __init__(self) -> None:
        self.started = 0
        self.first_responses = 0
        # Exact sums in µs beside the sketches (whose own sum is a float): the emitted sum then
        # does not depend on the order in which partial aggregates were merged.
        self.first_response_sum_us = 0
        self._fr_sketch: DDSketch | None = None   # created on first value: most cells have none
        self.responded_within_target = 0
        self.abandoned = 0
        self.resolved = 0
        self.resolution_sum_us = 0
        self._res_sketch: DDSketch | None = None
        self.reopened = 0
        self.sla: dict[tuple[str, str], int] = {}
        self.csat_count = 0
        self.csat_sum = 0
        self.csat_hist = [0, 0, 0, 0, 0]
        self.late_events = 0

    # The sketches exist lazily; these properties give callers a sketch regardless.
    @property
    def first_response_sketch(self) -> DDSketch:
        if self._fr_sketch is None:
            self._fr_sketch = _new_sketch()
        return self._fr_sketch

    @property
    def resolution_sketch(self) -> DDSketch:
        if self._res_sketch is None:
            self._res_sketch = _new_sketch()
        return self._res_sketch

    def add_first_response(self, elapsed_us: int, within_target: bool) -> None:
        self.first_responses += 1
        self.first_response_sum_us += elapsed_us
        sketch = self._fr_sketch
        if sketch is None:
            sketch = self._fr_sketch = _new_sketch()
        sketch.add(elapsed_us / US)
        if within_target:
            self.responded_within_target += 1

    def add_resolution(self, elapsed_us: int) -> None:
        self.resolved += 1
        self.resolution_sum_us += elapsed_us
        sketch = self._res_sketch
        if sketch is None:
            sketch = self._res_sketch = _new_sketch()
        sketch.add(elapsed_us / US)

    def add_csat(self, score: int) -> None:
        if not 1 <= score <= 5:
            # A bad score would index the histogram from the end and corrupt it silently.
            raise ValueError(f"CSAT score must be 1-5, got {score!r}")
        self.csat_count += 1
        self.csat_sum += score
        self.csat_hist[score - 1] += 1

    def merge(self, other: "WindowAggregate") -> None:
        """Add `other`'s contributions into this cell (`other` is left unchanged)."""
        self.started += other.started
        self.first_responses += other.first_responses
        self.first_response_sum_us += other.first_response_sum_us
        self._fr_sketch = _merge_sketch(self._fr_sketch, other._fr_sketch)
        self.responded_within_target += other.responded_within_target
        self.abandoned += other.abandoned
        self.resolved += other.resolved
        self.resolution_sum_us += other.resolution_sum_us
        self._res_sketch = _merge_sketch(self._res_sketch, other._res_sketch)
        self.reopened += other.reopened
        sla = self.sla
        for key, n in other.sla.items():
            sla[key] = sla.get(key, 0) + n
        self.csat_count += other.csat_count
        self.csat_sum += other.csat_sum
        self.csat_hist = [a + b for a, b in zip(self.csat_hist, other.csat_hist)]
        self.late_events += other.late_events

    def to_dict(self, quantiles: bool = True) -> dict[str, Any]:
        """JSON-ready. Times in seconds; `quantiles=False` skips p50/p90/p99/max (snapshots)."""
        return {
            "started": self.started,
            "first_responses": self.first_responses,
            "responded_within_target": self.responded_within_target,
            "abandoned": self.abandoned,
            "resolved": self.resolved,
            "reopened": self.reopened,
            "first_response_seconds": _sketch_summary(self._fr_sketch,
                                                      self.first_response_sum_us, quantiles),
            "resolution_seconds": _sketch_summary(self._res_sketch, self.resolution_sum_us,
                                                  quantiles),
            "sla": sla_by_metric(self.sla),
            "csat": {"count": self.csat_count, "sum": self.csat_sum,
                     "hist": list(self.csat_hist)},
            "late_events": self.late_events,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "WindowAggregate":
        """Inverse of `to_dict` (its quantile fields, derived data, are ignored)."""
        agg = cls()
        agg.started = int(d["started"])
        agg.responded_within_target = int(d["responded_within_target"])
        agg.abandoned = int(d["abandoned"])
        agg.reopened = int(d["reopened"])
        agg.late_events = int(d.get("late_events", 0))
        fr, res = d["first_response_seconds"], d["resolution_seconds"]
        agg._fr_sketch, agg.first_response_sum_us = _sketch_from_state(fr["sketch"])
        agg._res_sketch, agg.resolution_sum_us = _sketch_from_state(res["sketch"])
        agg.first_responses = int(d["first_responses"])
        agg.resolved = int(d["resolved"])
        for name, count, sketch in (("first_response", agg.first_responses, agg._fr_sketch),
                                    ("resolution", agg.resolved, agg._res_sketch)):
            in_sketch = int(sketch.count) if sketch is not None else 0
            if in_sketch != count:
                raise ValueError(f"{name}: count {count} but the sketch holds {in_sketch}")
        agg.sla = {(metric, status): int(n)
                   for metric, by_status in d.get("sla", {}).items()
                   for status, n in by_status.items()}
        csat = d.get("csat") or {}
        agg.csat_count = int(csat.get("count", 0))
        agg.csat_sum = int(csat.get("sum", 0))
        hist = [int(x) for x in csat.get("hist", (0, 0, 0, 0, 0))]
        if len(hist) != 5:
            raise ValueError(f"csat.hist must have 5 entries, got {len(hist)}")
        agg.csat_hist = hist
        return agg

    def __repr__(self) -> str:
        return (f"WindowAggregate(started={self.started}, first_responses={self.first_responses},"
                f" resolved={self.resolved}, sla={self.sla}, late_events={self.late_events})")


def sla_by_metric(sla: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    """A cell's SLA outcome counts as emitted: {metric: {status: n}}, both sorted."""
    out: dict[str, dict[str, int]] = {}
    for (metric, status), n in sorted(sla.items()):
        inner = out.get(metric)
        if inner is None:
            inner = out[metric] = {}
        inner[status] = n
    return out


# dims -> the JSON array of the dims without its "[": dims repeat (channels x queues x tiers x
# agents), and the live worker computes an id for every closed cell.
_DIMS_JSON: dict[tuple, bytes] = {}
_DIMS_JSON_MAX = 100_000  # a bound on memory, far above any real label space


def window_id(window_start_us: int, dims: Dims) -> str:
    """Deterministic id of a cell (32 hex chars), for idempotent sinks: the blake2b of the JSON
    array `[window_start_us, *dims]`.

    JSON-encoding the key keeps None and "" (and any separator inside a value) distinct.
    """
    cacheable = type(dims) is tuple
    tail = _DIMS_JSON.get(dims) if cacheable else None
    if tail is None:
        tail = orjson.dumps(list(dims))[1:]
        if cacheable:
            if len(_DIMS_JSON) >= _DIMS_JSON_MAX:
                _DIMS_JSON.clear()
            _DIMS_JSON[dims] = tail
    return hashlib.blake2b(b"[%d,%b" % (window_start_us, tail), digest_size=16).hexdigest()


def record_dims(rec: "SlaRecord") -> Dims:
    return (rec.entity_kind, rec.channel, rec.queue, rec.priority, rec.customer_tier,
            rec.category, rec.agent_id)


def entity_dims(entity: "Entity") -> Dims:
    """The dims of an engine entity now (for `observe_event` on starts, reopens, ratings)."""
    return (entity.kind, entity.channel, entity.queue, entity.priority, entity.customer_tier,
            entity.category, entity.agent_id)


def _dims_order(dims: Dims) -> tuple:
    # None sorts before any string (and str and None never get compared).
    return tuple((v is not None, v or "") for v in dims)


class MetricWindows:
    """Open windows of all dims; closes them as the event-time watermark passes their end."""

    def __init__(self, window_us: int = WINDOW_US) -> None:
        if window_us <= 0:
            raise ValueError(f"window_us must be positive, got {window_us}")
        self.window_us = window_us
        # start -> dims -> cell: closing scans window starts (a handful), not every cell.
        self._windows: dict[int, dict[Dims, WindowAggregate]] = {}
        self.watermark: int | None = None   # highest watermark given to close_until
        self._open_from = _NEVER            # start of the earliest window not yet closed
        self.late_events = 0                # running total of late contributions

    # ------------------------------------------------------------------ input
    def _cell(self, t_us: int, dims: Dims) -> WindowAggregate | None:
        start = t_us - t_us % self.window_us
        if start < self._open_from:
            self.observe_late(dims)
            return None
        cells = self._windows.get(start)
        if cells is None:
            cells = self._windows[start] = {}
        agg = cells.get(dims)
        if agg is None:
            agg = cells[dims] = WindowAggregate()
        return agg

    def observe_record(self, rec: "SlaRecord") -> None:
        """Fold one SLA record into the window of its `at_us`."""
        status = rec.status
        if status not in SLA_STATUSES:
            return
        agg = self._cell(rec.at_us, (rec.entity_kind, rec.channel, rec.queue, rec.priority,
                                     rec.customer_tier, rec.category, rec.agent_id))
        if agg is None:
            return
        metric = rec.metric
        key = (metric, status)
        sla = agg.sla
        sla[key] = sla.get(key, 0) + 1
        if metric == "first_response":
            if status in _STOPPED:
                agg.add_first_response(rec.elapsed_us, status == "achieved")
            elif status == "abandoned":
                agg.abandoned += 1
        elif metric == "resolution" and status in _STOPPED:
            agg.add_resolution(rec.elapsed_us)

    def observe_records(self, records: Iterable["SlaRecord"]) -> None:
        observe = self.observe_record
        for rec in records:
            observe(rec)

    def observe_event(self, kind: str, dims: Dims, event_type: str, t_us: int,
                      score: int | None = None, reopened: bool = False) -> None:
        """Count what the SLA records do not carry: starts, CSAT ratings, reopens.

        `reopened=True` for a ticket moved from solved/closed back to open/pending (the caller
        knows the previous status; the event alone does not). Other event types are ignored.
        """
        if kind != dims[0]:
            raise ValueError(f"kind {kind!r} does not match dims entity_kind {dims[0]!r}")
        start = event_type in _START_TYPES
        rated = event_type in _RATED_TYPES
        if rated and (score is None or not 1 <= score <= 5):
            raise ValueError(f"{event_type} needs a score 1-5, got {score!r}")
        if not (start or rated or reopened):
            return
        agg = self._cell(t_us, dims)
        if agg is None:
            return
        if start:
            agg.started += 1
        if rated:
            agg.add_csat(score)
        if reopened:
            agg.reopened += 1

    def observe_late(self, dims: Dims, count: int = 1) -> None:
        """Count `count` contributions that came after their window closed.

        They go to `late_events` of the current open window of `dims` (the one containing the
        watermark) and to the running total. Public so that a driver can count input it drops
        before it gets here (e.g. too old to apply) the same way.
        """
        self.late_events += count
        start = self._open_from
        if start == _NEVER:
            return  # nothing closed yet, so nothing is late; only reachable by a direct call
        cells = self._windows.get(start)
        if cells is None:
            cells = self._windows[start] = {}
        agg = cells.get(dims)
        if agg is None:
            agg = cells[dims] = WindowAggregate()
        agg.late_events += count

    # ------------------------------------------------------------------ output
    def close_until(self, watermark_us: int) -> list[tuple[int, Dims, WindowAggregate]]:
        """Remove and return every window whose end <= `watermark_us`, each exactly once.

        Sorted by window start, then dims (None before any value). A watermark lower than
        one already seen closes nothing: the watermark never goes back.
        """
        w = self.window_us
        open_from = watermark_us - watermark_us % w  # earliest window with end > watermark
        if self.watermark is None or watermark_us > self.watermark:
            self.watermark = watermark_us
        if open_from <= self._open_from:
            return []
        self._open_from = open_from
        out: list[tuple[int, Dims, WindowAggregate]] = []
        windows = self._windows
        for start in sorted(s for s in windows if s < open_from):
            cells = windows.pop(start)
            for dims in sorted(cells, key=_dims_order):
                out.append((start, dims, cells[dims]))
        return out

    @property
    def open_windows(self) -> int:
        """Open cells (window start x dims)."""
        return sum(len(cells) for cells in self._windows.values())

    # ------------------------------------------------------------------ restart
    def snapshot(self) -> dict[str, Any]:
        """JSON-ready state: open windows, watermark, late total. `restore` continues from it."""
        windows = []
        for start in sorted(self._windows):
            cells = self._windows[start]
            for dims in sorted(cells, key=_dims_order):
                windows.append({"start": start, "dims": list(dims),
                                "aggregate": cells[dims].to_dict(quantiles=False)})
        return {"version": SNAPSHOT_VERSION, "window_us": self.window_us,
                "watermark": self.watermark, "late_events": self.late_events,
                "windows": windows}

    @classmethod
    def restore(cls, state: dict[str, Any]) -> "MetricWindows":
        if state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported metrics snapshot version {state.get('version')!r}")
        mw = cls(int(state["window_us"]))
        wm = state.get("watermark")
        if wm is not None:
            mw.watermark = int(wm)
            mw._open_from = mw.watermark - mw.watermark % mw.window_us
        mw.late_events = int(state.get("late_events", 0))
        for item in state.get("windows", ()):
            dims = tuple(item["dims"])
            if len(dims) != len(DIM_NAMES):
                raise ValueError(f"dims must have {len(DIM_NAMES)} entries: {item['dims']!r}")
            start = int(item["start"])
            if start % mw.window_us:
                raise ValueError(f"window start {start} is not aligned to {mw.window_us} µs")
            mw._windows.setdefault(start, {})[dims] = WindowAggregate.from_dict(item["aggregate"])
        return mw
