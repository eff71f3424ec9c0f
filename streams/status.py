"""What a supervisor sees now: a JSON-ready snapshot of the live worker's partition processors.

Pure: the worker passes its `PartitionProcessor`s, the wall clock, its running record tally and
the metric windows it closed most recently; `snapshot` reads them and returns plain data (the
worker serves it as `GET /status`, `live_view` renders it). Nothing here changes a processor.

Shape (times RFC 3339 UTC, durations in seconds)::

    {"wall", "watermark", "watermark_lag_s", "published_watermark",
     "partitions": [{"topic", "partition", "watermark", "published_watermark", "pending", "late",
                     "open_entities"}],
     "channels": {channel: {"awaiting_first_response", "oldest_wait_s",
                            "first_response_target_s", "over_target"}},
     "totals": {"events", "invalid", "future", "wrong_topic", "dead_letters", "late",
                "duplicates", "records_by_status", "breaches", "warnings"},
     "first_response_last_windows": {channel: {"count", "p50_s", "p90_s", "target_s"}},
     "last_windows": {"from", "to", "cells"} or null}

- `watermark` is the minimum over partitions that have seen data: everything before it is
  final on every partition. Each partition's own clock is in `partitions`.
- `published_watermark` (per partition, and the minimum): the watermark of the newest step
  whose outputs (records, windows, state) the broker has confirmed. `watermark` moves as soon
  as the worker's clock does; what it released reaches `sla.events` a broker round trip later,
  so a reader that needs "every record up to T is in Kafka" waits on this one. Null when the
  worker does not say (a snapshot built without `published`).
- A conversation or ticket is *awaiting first response* while its first-response clock runs.
  Its wait is measured against its own partition's watermark (event time, not the wall clock:
  during a backlog the wall clock is far ahead of what the pipeline knows). `oldest_wait_s` is
  plain elapsed event time since the start, whatever the calendar; `over_target` counts the
  clocks past their target on their own calendar (a ticket on office hours can wait overnight
  without breaching).
- Cost: one pass over the entities held in memory (per status request, not per event).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .core.engine import RUNNING, SlaEngine
from .core.metrics import WINDOW_US, Dims, WindowAggregate
from .core.sequencer import NEVER
from .core.timeutil import US, format_us

if TYPE_CHECKING:
    from .core.policy import Policy, PolicySet
    from .core.records import SlaRecord
    from .processor import PartitionProcessor

__all__ = ["snapshot", "tally_records", "UNKNOWN_CHANNEL"]

# Events without a channel cannot pass validation, but restored or hand-built entities might.
UNKNOWN_CHANNEL = "unknown"
_CLOSED_TICKET = ("solved", "closed")
_DEAD_LETTER_COUNTERS = ("invalid", "future", "wrong_topic")


def tally_records(tallies: dict[str, int], records: Iterable["SlaRecord"]) -> dict[str, int]:
    """Add drained SLA records to the worker's running tally `{status: count}`; returns it.

    The worker keeps one such dict for its lifetime, calls this with each `Outputs.records`
    it publishes and passes the dict to `snapshot(..., tallies=...)`.
    """
    for rec in records:
        tallies[rec.status] = tallies.get(rec.status, 0) + 1
    return tallies


def _s(us: int) -> float:
    return round(us / US, 3)


def _rfc(us: int | None) -> str | None:
    return format_us(us) if us is not None else None


def _watermark(p: "PartitionProcessor") -> int | None:
    """The partition's event-time watermark, or None before it has seen (and ticked on) data."""
    seq = p.sequencer
    if seq.newest is None or seq.watermark <= NEVER:
        return None
    return seq.watermark


def _published(published: dict[tuple[str, int], int] | None, p: "PartitionProcessor",
               wm: int | None) -> int | None:
    if published is None or wm is None:
        return None
    pub = published.get((p.topic, p.partition))
    # Never ahead of the clock itself (a partition restored from its changelog starts over).
    return min(pub, wm) if pub is not None and pub > NEVER else None


def _is_open(entity) -> bool:
    if entity.kind == "conversation":
        return entity.ended_at is None
    return entity.status not in _CLOSED_TICKET


def _most_common_policy(counts: dict["Policy", int]) -> "Policy | None":
    if not counts:
        return None
    # Ties go to the policy earlier in the file, so the answer does not depend on dict order.
    return min(counts, key=lambda pol: (-counts[pol], pol.index))


def _fr_target_s(policy: "Policy | None") -> float | None:
    if policy is None:
        return None
    target = policy.targets.get("first_response")
    return _s(target.target_us) if target is not None else None


def _quantile(agg: WindowAggregate, q: float) -> float | None:
    if agg.first_responses == 0:
        return None
    return round(agg.first_response_sketch.get_quantile_value(q), 3)


def _dims_policy(policies: "PolicySet", dims: Dims) -> "Policy | None":
    kind, channel, queue, priority, tier, category, _agent = dims
    # Windows do not carry the group: a policy that matches on group is not found here.
    return policies.match({"kind": kind, "channel": channel, "queue": queue,
                           "priority": priority, "customer_tier": tier, "category": category,
                           "group": None})


def snapshot(processors: Iterable["PartitionProcessor"], wall_us: int, *,
             tallies: dict[str, int] | None = None,
             recent_windows: list[tuple[int, Dims, WindowAggregate]] | None = None,
             published: dict[tuple[str, int], int] | None = None) -> dict[str, Any]:
    """The status document for supervisors (see the module docstring for the shape).

    `tallies`: `{record status: count}` of every SLA record the worker has emitted since it
    started (keep it with `tally_records`); the processors themselves forget drained records.
    `recent_windows`: the most recently closed metric windows, as `drain().windows` returns
    them (`(start_us, dims, WindowAggregate)`), e.g. those of the last minute or few; they are
    merged per channel (conversations and tickets of a channel together) and not modified.
    `published`: `{(topic, partition): watermark µs}` whose outputs the broker has confirmed.
    """
    procs = sorted(processors, key=lambda p: (p.topic, p.partition))
    tallies = tallies or {}

    partitions = []
    watermarks = []
    published_marks = []
    totals = {"events": 0, "invalid": 0, "future": 0, "wrong_topic": 0, "dead_letters": 0,
              "late": 0, "duplicates": 0}
    # channel -> [awaiting, oldest_wait_us | None, over_target, {policy: n}]
    channels: dict[str, list] = {}
    policies: "PolicySet | None" = None

    for p in procs:
        engine: SlaEngine = p.engine
        if policies is None:
            policies = engine.policies
        wm = _watermark(p)
        if wm is not None:
            watermarks.append(wm)
        open_entities = 0
        for by_id in engine.entities.values():
            for e in by_id.values():
                if not _is_open(e):
                    continue
                open_entities += 1
                channel = e.channel or UNKNOWN_CHANNEL
                ch = channels.get(channel)
                if ch is None:
                    ch = channels[channel] = [0, None, 0, {}]
                clock = e.first_response
                if clock is None or clock.state != RUNNING:
                    continue
                ch[0] += 1
                if wm is not None:
                    wait = max(0, wm - e.start)
                    if ch[1] is None or wait > ch[1]:
                        ch[1] = wait
                    if clock.breached_at is not None or clock.elapsed_at(wm) > clock.target.target_us:
                        ch[2] += 1
                elif clock.breached_at is not None:
                    ch[2] += 1
                ch[3][clock.policy] = ch[3].get(clock.policy, 0) + 1
        pub = _published(published, p, wm)
        if pub is not None:
            published_marks.append(pub)
        partitions.append({
            "topic": p.topic, "partition": p.partition, "watermark": _rfc(wm),
            "published_watermark": _rfc(pub),
            "pending": p.sequencer.pending, "late": p.sequencer.late,
            "open_entities": open_entities,
        })
        counts = p.counts
        totals["events"] += counts.get("received", 0)
        for name in _DEAD_LETTER_COUNTERS:
            totals[name] += counts.get(name, 0)
            totals["dead_letters"] += counts.get(name, 0)
        totals["late"] += p.sequencer.late
        totals["duplicates"] += engine.stats.duplicates

    watermark = min(watermarks) if watermarks else None
    totals["records_by_status"] = dict(sorted(tallies.items()))
    totals["breaches"] = tallies.get("breached", 0)
    totals["warnings"] = tallies.get("warning", 0)

    channels_out = {}
    for channel in sorted(channels):
        awaiting, oldest, over, by_policy = channels[channel]
        channels_out[channel] = {
            "awaiting_first_response": awaiting,
            "oldest_wait_s": _s(oldest) if oldest is not None else None,
            "first_response_target_s": _fr_target_s(_most_common_policy(by_policy)),
            "over_target": over,
        }

    return {
        "wall": format_us(wall_us),
        "watermark": _rfc(watermark),
        "watermark_lag_s": _s(wall_us - watermark) if watermark is not None else None,
        # Only once every partition with a clock has published one: a minimum over fewer
        # partitions would claim more than is out.
        "published_watermark": (_rfc(min(published_marks))
                                if published_marks and len(published_marks) == len(watermarks)
                                else None),
        "partitions": partitions,
        "channels": channels_out,
        "totals": totals,
        **_windows_section(recent_windows or [], policies, channels_out),
    }


def _windows_section(windows: list[tuple[int, Dims, WindowAggregate]], policies,
                     channels_out: dict[str, dict]) -> dict[str, Any]:
    merged: dict[str, WindowAggregate] = {}
    targets: dict[str, dict] = {}
    first = last = None
    for start, dims, agg in windows:
        channel = dims[1] or UNKNOWN_CHANNEL
        cell = merged.get(channel)
        if cell is None:
            cell = merged[channel] = WindowAggregate()   # fresh: the worker's cells stay intact
        cell.merge(agg)
        first = start if first is None else min(first, start)
        last = start if last is None else max(last, start)
        if policies is not None and agg.first_responses:
            # The target most of these first responses were measured against.
            pol = _dims_policy(policies, dims)
            if pol is not None:
                by_policy = targets.setdefault(channel, {})
                by_policy[pol] = by_policy.get(pol, 0) + agg.first_responses
    out = {}
    for channel in sorted(merged):
        cell = merged[channel]
        target = _fr_target_s(_most_common_policy(targets.get(channel, {})))
        if target is None:
            target = channels_out.get(channel, {}).get("first_response_target_s")
        out[channel] = {"count": cell.first_responses, "p50_s": _quantile(cell, 0.5),
                        "p90_s": _quantile(cell, 0.9), "target_s": target}
    span = None
    if first is not None:
        span = {"from": format_us(first), "to": format_us(last + WINDOW_US), "cells": len(windows)}
    return {"first_response_last_windows": out, "last_windows": span}
