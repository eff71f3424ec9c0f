"""Benchmark: live worker throughput vs a raw aiokafka consumer, same broker, same events.

Produces N generated events into the two input topics (4 partitions each) of a fresh embedded
broker, then measures
  - baseline: a raw aiokafka consumer reading every message and `orjson.loads`-ing it,
  - pipeline: `slawatch worker` (a real subprocess) ingesting them: decode, validate, sequence,
    SLA engine, metric windows, outputs to Kafka, state table, acks,
and prints both as events/s with the ratio (goal >= 0.25x), median of --runs.

--scale K multiplies the generator's arrival rates (default 1: one team, ~2,000 chats and 300
tickets a day). Closed metric-window cells cost per (minute, partition, dims), not per event: at
scale 1, N events span days of sparse event time and the worker emits about one window cell
message per event, a worst case that a worker loaded to its limit in real time never sees
(at 15k events/s live, a minute holds ~900k events). A denser scale shows the per-event cost.
The SLA core runs compiled where `make install` built it (README, "Compiled core");
`SLAWATCH_PURE_PYTHON=1` in the environment times the pure-Python core instead (an A/B
of the two in one sitting).
`bench/pipeline_floor.py` splits this rate (consume only, no outputs, whole).
Run:  .venv/bin/python bench/pipeline.py [--events 200000] [--runs 3] [--scale 1]
"""
from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.core import core_label  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.generator import GeneratorConfig, generate  # noqa: E402
from tests.integration.test_live_pipeline import PARTITIONS, Worker, produce  # noqa: E402


def events(n: int, scale: float = 1.0) -> list[dict]:
    base = GeneratorConfig()
    rates = dict(conversations_per_day=round(base.conversations_per_day * scale),
                 tickets_per_day=round(base.tickets_per_day * scale))
    per_day = sum(1 for _ in generate(GeneratorConfig(seed=21, days=0.1, **rates))) * 10
    return list(generate(GeneratorConfig(seed=21, days=n / per_day * 1.05, **rates)))[:n]


async def raw_rate(url: str, topics: list[str], n: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=url, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=4 << 20)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        loads, got = orjson.loads, 0
        t0 = time.perf_counter()
        while got < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10000)
            for msgs in batch.values():
                for m in msgs:
                    loads(m.value)
                got += sum(len(m) for m in batch.values())
        return got / (time.perf_counter() - t0)
    finally:
        await consumer.stop()


def pipeline_rate(kafka: EmbeddedBroker, worker: Worker, n: int) -> float:
    worker.start()
    try:
        t_first = None
        first = 0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            got = worker.status()["totals"]["events"]
            now = time.perf_counter()
            if t_first is None and got > 0:
                t_first, first = now, got
            if got >= n:
                return (got - first) / (now - t_first)
            time.sleep(0.5)
        raise SystemExit("worker did not finish")
    finally:
        worker.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="arrival rates x K (see above)")
    args = ap.parse_args()
    evs = events(args.events, args.scale)
    raws, pipes = [], []
    with EmbeddedBroker() as kafka, tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            worker = Worker(kafka, Path(tmp))   # fresh topics and consumer group per run
            asyncio.run(produce(kafka, worker, evs))
            inputs = [worker.topics["support.conversations"], worker.topics["support.tickets"]]
            raws.append(asyncio.run(raw_rate(kafka.url, inputs, len(evs))))
            pipes.append(pipeline_rate(kafka, worker, len(evs)))
            print(f"run {run + 1}: raw {raws[-1]:,.0f}/s, pipeline {pipes[-1]:,.0f}/s", flush=True)
    raw, pipe = statistics.median(raws), statistics.median(pipes)
    print(f"events: {len(evs):,}, scale {args.scale:g}, partitions: {PARTITIONS} x 2 topics, "
          f"runs: {args.runs} (medians)")
    print(f"  core (the worker inherits this environment): {core_label()}")
    print(f"  baseline raw aiokafka consume + orjson  {raw:>10,.0f} events/s")
    print(f"  slawatch worker (1 process)             {pipe:>10,.0f} events/s   ratio {pipe / raw:.2f}x"
          f"   (goal >= 0.25x: {'met' if pipe / raw >= 0.25 else 'NOT met'})")


if __name__ == "__main__":
    main()
