"""Offline replay: a JSON Lines file of events -> the SLA records, exactly as spec sla.md says.

Events are applied in event-time order (ties: file order) by the same `SlaEngine` the live
workers run, and the clock ends at `until` (default: the newest event time) so that deadlines up
to then fire. Invalid lines are reported with their line number and skipped, never fatal.
"""
from __future__ import annotations

import gc
import os
from bisect import bisect_right
from dataclasses import dataclass, field
from operator import itemgetter
from typing import BinaryIO, Callable, Iterable, Sequence

from .core.engine import SlaEngine
from .core.events import decode_lines
from .core.policy import PolicySet
from .core.records import SlaRecord, encode_records


@dataclass
class ReplayResult:
    records: list[SlaRecord]
    lines: int = 0
    events: int = 0                  # valid events read
    invalid: int = 0
    duplicates: int = 0
    after_until: int = 0             # valid events later than --until: not applied
    orphans: int = 0                 # events for an entity never started (or already ended)
    open_entities: int = 0
    until_us: int | None = None
    problems: list[tuple[int, str]] = field(default_factory=list)


def read_events(lines: Iterable[bytes], on_invalid: Callable[[int, str], None],
                on_line: Callable[[int], None] | None = None) -> list[tuple[int, int, object]]:
    """Decode lines into (event time µs, line number, event); invalid ones go to `on_invalid`."""
    return decode_lines(lines, on_invalid, on_line)[0]


def run(items: list[tuple[int, int, object]], policies: PolicySet,
        until_us: int | None = None) -> tuple[list[SlaRecord], SlaEngine, int, int | None]:
    """Apply decoded events in time order, end the clock at `until_us`; sorted records.

    Events of equal time are applied in their order in `items` (`read_events` gives file order).

    Returns the records, the engine (for its counters), how many events lay after the end of
    the clock, and that end (`until_us`, or the newest event time by default).
    """
    items.sort(key=itemgetter(0))  # stable: ties stay in file (line) order
    if until_us is None:
        until_us = items[-1][0] if items else None
    engine = SlaEngine(policies)
    cut = len(items) if until_us is None else bisect_right(items, until_us, key=itemgetter(0))
    engine.apply_items(items, cut)
    if until_us is not None:
        engine.advance(until_us + 1)  # inclusive: a deadline exactly at `until` fires
    records = engine.drain()
    records.sort(key=SlaRecord.sort_key)
    return records, engine, len(items) - cut, until_us


def replay_lines(lines: Iterable[bytes], policies: PolicySet, until_us: int | None = None,
                 on_invalid: Callable[[int, str], None] | None = None,
                 on_line: Callable[[int], None] | None = None) -> ReplayResult:
    problems: list[tuple[int, str]] = []

    def invalid(n: int, reason: str) -> None:
        problems.append((n, reason))
        if on_invalid is not None:
            on_invalid(n, reason)

    # A batch job that builds millions of long-lived objects: the cyclic GC would rescan them
    # over and over (measured: ~40 % of decode time) and the engine frees its own state by
    # reference counting, so the collector is paused for the duration.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        items, n_lines = decode_lines(lines, invalid, on_line)
        records, engine, after, until_us = run(items, policies, until_us)
        stats = engine.stats
        result = ReplayResult(
            records=records, lines=n_lines, events=len(items), invalid=len(problems),
            duplicates=stats.duplicates, after_until=after, orphans=stats.orphans + stats.after_end,
            open_entities=engine.open_entities, until_us=until_us, problems=problems)
        # Freed while the collector is still paused: re-enabled first, its next collection
        # would scan these millions of young objects once more (measured: 3 % of the replay).
        del items, engine
    finally:
        if gc_was_enabled:
            gc.enable()
    return result


def write_records(records: Sequence[SlaRecord], out: BinaryIO, extended: bool = False) -> int:
    for chunk in encode_records(records, extended):
        out.write(chunk)
    return len(records)


def file_size(path: str | os.PathLike) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
