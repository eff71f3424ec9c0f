"""Shared data for the ClickHouse sink tests: real SLA records, metric windows and dead letters.

Everything comes from the project's own generator, replay and metric windows, so the rows have
the shapes the live worker publishes (`to_dict(extended=True)`, `window_message`,
`DeadLetter.to_json`).
"""
from __future__ import annotations

import functools
import socket
import zlib

import orjson

from streams.core.metrics import MetricWindows
from streams.core.policy import load_policies
from streams.core.records import SlaRecord
from streams.generator import GeneratorConfig, generate
from streams.processor import DeadLetter
from streams.replay import replay_lines
from streams.settings import DEFAULT_RULES
from streams.worker import window_message


@functools.lru_cache(maxsize=4)
def sla_records(days: float = 0.5, seed: int = 5) -> tuple[SlaRecord, ...]:
    lines = [orjson.dumps(e) for e in generate(GeneratorConfig(seed=seed, days=days))]
    return tuple(replay_lines(lines, load_policies(DEFAULT_RULES)).records)


def windows_of(records, partitions: int = 1) -> list[dict]:
    """Closed window bodies, as `partitions` worker partitions would emit them (partials of one
    cell get the same window_id and their partition as `source_partition`)."""
    out = []
    for part in range(partitions):
        mw = MetricWindows()
        mw.observe_records(r for r in records
                           if zlib.crc32(r.entity_id.encode()) % partitions == part)
        for start, dims, agg in mw.close_until(max(r.at_us for r in records) + 120_000_000):
            out.append(orjson.loads(window_message(start, dims, agg, part)[1]))
    return out


def dead_letters(n: int = 20, topic: str = "support.conversations", wall_us: int = 1_790_000_000_000_000) -> list[dict]:
    return [orjson.loads(DeadLetter(topic, i % 3, 1000 + i, "invalid_json", "not JSON",
                                    b"{oops " + str(i).encode(), wall_us + i).to_json())
            for i in range(n)]


def closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once (a real outage)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
