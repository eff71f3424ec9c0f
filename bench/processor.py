"""Benchmark: the live worker's own work per event, in process, without Kafka.

The same generated events, keyed into 2 topics x 4 partitions as the worker's input would be,
go through `PartitionProcessor` (decode, validation, sequencing, SLA engine, metric windows,
entity state) in batches of 1,000, and every output is encoded as the worker sends it (records
as JSON, closed windows as `window_message`). Kafka is left out: through the broker the worker's
rate is noisy at the 10-30 % level (bench/pipeline.py), which hides changes of that size.
Baseline, same run: `orjson.loads` of every message. Medians of --runs.
The SLA core runs compiled where `make install` built it (README, "Compiled core");
`SLAWATCH_PURE_PYTHON=1` in the environment times the pure-Python core instead (an A/B
of the two in one sitting).
Run:  .venv/bin/python bench/processor.py [--events 60000] [--runs 5]
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import zlib
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.core import core_label  # noqa: E402
from streams.core.policy import load_policies  # noqa: E402
from streams.core.timeutil import US  # noqa: E402
from streams.generator import GeneratorConfig, generate  # noqa: E402
from streams.processor import PartitionProcessor  # noqa: E402
from streams.worker import window_message  # noqa: E402


def partitions(n: int) -> dict[tuple[str, int], list[bytes]]:
    per_day = sum(1 for _ in generate(GeneratorConfig(seed=21, days=0.1))) * 10
    events = list(generate(GeneratorConfig(seed=21, days=n / per_day * 1.05)))[:n]
    parts: dict[tuple[str, int], list[bytes]] = {}
    for e in events:
        kind = "conversation" if e["type"].startswith("conversation.") else "ticket"
        key = e["conversation_id"] if kind == "conversation" else e["ticket_id"]
        parts.setdefault((kind, zlib.crc32(key.encode()) % 4), []).append(orjson.dumps(e))
    return parts


def process(parts: dict[tuple[str, int], list[bytes]], policies, wall: int) -> int:
    outputs = 0
    for (kind, partition), lines in parts.items():
        p = PartitionProcessor(f"in-{kind}", partition, kind, policies, lateness_us=2 * US,
                               idle_after_us=500_000, future_skew_us=300 * US)
        for i in range(0, len(lines), 1000):
            for j, raw in enumerate(lines[i:i + 1000]):
                p.ingest(i + j, raw, wall)
            p.tick(wall)
            out = p.drain()
            outputs += sum(1 for rec in out.records if rec.to_json(extended=True))
            outputs += sum(1 for w in out.windows if window_message(*w, partition))
            outputs += len(out.states)
            if out.windows:
                p.clock_state()
    return outputs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=60_000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    parts = partitions(args.events)
    n = sum(len(v) for v in parts.values())
    policies = load_policies(ROOT / "rules" / "sla.yaml")
    wall = int(time.time() * US)
    base, work = [], []
    outputs = 0
    for _ in range(args.runs):
        gc.collect()
        t0 = time.perf_counter()
        for lines in parts.values():
            for raw in lines:
                orjson.loads(raw)
        base.append(n / (time.perf_counter() - t0))
        gc.collect()
        t0 = time.perf_counter()
        outputs = process(parts, policies, wall)
        work.append(n / (time.perf_counter() - t0))
    b, w = statistics.median(base), statistics.median(work)
    print(f"events: {n:,}, outputs per event: {outputs / n:.2f}, runs: {args.runs} (medians)")
    print(f"  core: {core_label()}")
    print(f"  baseline orjson.loads         {b:>12,.0f} events/s")
    print(f"  worker's work in process      {w:>12,.0f} events/s   ratio {w / b:.3f}x baseline")


if __name__ == "__main__":
    main()
