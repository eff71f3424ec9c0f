"""Benchmark: where the live worker's time goes, through a real broker, in one run.

`bench/pipeline.py` gives the worker's rate; this splits it. On one embedded broker and the same
generated events (2 input topics x 4 partitions, fresh consumer group per variant), it times:
  - raw:         an aiokafka consumer reading everything and `orjson.loads`-ing it (the
                 baseline of bench/pipeline.py);
  - consume:     the worker's own consumer loop (`getmany`, positions, commits) with the
                 processing left out: the worker's Kafka input floor;
  - no-outputs:  the worker doing everything (decode, validation, sequencing, SLA engine, metric
                 windows, entity state serialised, Prometheus) except encoding records and
                 window cells and sending anything;
  - worker:      the whole worker, outputs to Kafka included.
Each variant is `streams.worker.Worker` itself in a fresh Python process of its own (with the
worker's GC settings), as `slawatch worker` runs; the benchmark only overrides `step` (consume)
or `_send` (no-outputs). Rates count from the end of the first step (which waits for the state
restore at assignment, a start-up cost) to the last input event stepped, timed exactly (no
status polling); "on CPU" is the process's CPU time over that span (below 100 %: waiting on
the broker). Medians of --runs; each variant's ratio is to the raw rate measured in the same
run.

Reading it: 0.25x raw (the goal) allows the worker 4x the raw consumer's time per event. The
`consume` and `no-outputs` rows say how much of that the input side and the processing take
before a single output byte is written.
Run:  .venv/bin/python bench/pipeline_floor.py [--events 300000] [--runs 3]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import logging
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import events, raw_rate  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from streams.core import core_label  # noqa: E402
from streams.settings import DEFAULT_RULES, Settings  # noqa: E402
from streams.worker import Worker, tune_gc  # noqa: E402
from tests.integration.test_live_pipeline import PARTITIONS  # noqa: E402

VARIANTS = ("consume", "no-outputs", "worker")
TOPICS = ("support.conversations", "support.tickets", "support.dead-letter", "sla.events",
          "sla.metric-windows")


class Timed(Worker):
    """The worker, stopped once it has stepped `n` input events; `mode` leaves parts out."""

    def __init__(self, settings: Settings, n: int, mode: str, stop: asyncio.Event) -> None:
        super().__init__(settings)
        self.n, self.mode, self.stop = n, mode, stop
        self.seen = 0
        self.t_first: float | None = None
        self.t_last: float | None = None
        self.cpu_first = self.cpu_last = 0.0
        self.seen_first = 0

    async def step(self, batch: dict) -> None:
        if self.mode == "consume":
            for tp, msgs in batch.items():
                self.position[tp] = msgs[-1].offset + 1
        else:
            await super().step(batch)
        n = sum(len(msgs) for msgs in batch.values())
        self.seen += n
        if n and self.t_first is None:
            # Timed from the end of the first step: it includes the wait for the partitions'
            # state restore at assignment, a start-up cost, not throughput.
            self.t_first, self.cpu_first = time.perf_counter(), time.process_time()
            self.seen_first = self.seen
        if self.seen >= self.n and self.t_last is None:
            self.t_last, self.cpu_last = time.perf_counter(), time.process_time()
            self.stop.set()

    async def _send(self, p, out, wall):
        if self.mode != "no-outputs":
            await super()._send(p, out, wall)


def settings_for(url: str, topics: dict[str, str]) -> Settings:
    return Settings(broker_url=url, embedded=True, app_id=f"bench-{uuid.uuid4().hex[:8]}",
                    partitions=PARTITIONS, conversations_topic=topics["support.conversations"],
                    tickets_topic=topics["support.tickets"],
                    dead_letter_topic=topics["support.dead-letter"],
                    sla_events_topic=topics["sla.events"],
                    metrics_topic=topics["sla.metric-windows"], allowed_lateness_s=2.0,
                    idle_after_s=0.5, tick_interval_s=0.1, broker_session_timeout_s=2.0,
                    http_port=0, rules=DEFAULT_RULES)


async def produce_inputs(kafka: EmbeddedBroker, topics: dict[str, str], evs: list[dict]) -> None:
    from tests.integration.test_live_pipeline import produce

    class _Target:  # what `produce` needs of the test's worker: its topic names
        pass

    target = _Target()
    target.topics = topics
    await produce(kafka, target, evs)


async def timed(settings: Settings, n: int, mode: str) -> tuple[float, float]:
    """(events/s, share of the span the process was on a CPU)."""
    stop = asyncio.Event()
    worker = Timed(settings, n, mode, stop)
    await asyncio.wait_for(worker.run(stop), 600)
    span = worker.t_last - worker.t_first
    return (worker.seen - worker.seen_first) / span, (worker.cpu_last - worker.cpu_first) / span


def child(spec: str) -> None:
    """One variant in this (fresh) process: prints its rate."""
    d = json.loads(spec)
    logging.basicConfig(level=logging.WARNING)
    tune_gc()
    print(*asyncio.run(timed(settings_for(d["url"], d["topics"]), d["n"], d["mode"])))


def in_child(url: str, topics: dict[str, str], n: int, mode: str) -> tuple[float, float]:
    spec = json.dumps({"url": url, "topics": topics, "n": n, "mode": mode})
    out = subprocess.run([sys.executable, __file__, "--child", spec], check=True, timeout=900,
                         stdout=subprocess.PIPE, text=True).stdout
    rate, cpu = out.split()[-2:]
    return float(rate), float(cpu)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--scale", type=float, default=1.0, help="arrival rates x K (bench/pipeline.py)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        return child(args.child)
    evs = events(args.events, args.scale)
    rates: dict[str, list[float]] = {name: [] for name in ("raw", *VARIANTS)}
    ratios: dict[str, list[float]] = {name: [] for name in VARIANTS}
    cpus: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with EmbeddedBroker() as kafka:
        for run in range(args.runs):
            line = []
            for mode in VARIANTS:
                # Fresh topics per variant: the outputs of one must not be read by another.
                tag = uuid.uuid4().hex[:8]
                topics = {name: f"{name}-{tag}" for name in TOPICS}
                kafka.create_topics({t: PARTITIONS for t in topics.values()})
                asyncio.run(produce_inputs(kafka, topics, evs))
                inputs = [topics["support.conversations"], topics["support.tickets"]]
                raw = asyncio.run(raw_rate(kafka.url, inputs, len(evs)))
                rate, cpu = in_child(kafka.url, topics, len(evs), mode)
                cpus[mode].append(cpu)
                rates["raw"].append(raw)
                rates[mode].append(rate)
                ratios[mode].append(rate / raw)
                line.append(f"{mode} {rate:,.0f}/s ({rate / raw:.2f}x of raw {raw:,.0f}/s, "
                            f"CPU {cpu:.0%})")
            print(f"run {run + 1}: " + "; ".join(line), flush=True)
    raw_median = statistics.median(rates["raw"])
    print(f"events: {len(evs):,}, scale {args.scale:g}, partitions: {PARTITIONS} x 2 topics, "
          f"runs: {args.runs} (medians)")
    print(f"  core: {core_label()}")
    print(f"  {'raw aiokafka consume + orjson':34s} {raw_median:>10,.0f} events/s  "
          f"{1e6 / raw_median:6.2f} µs/event")
    for mode in VARIANTS:
        r = statistics.median(rates[mode])
        print(f"  {'worker, ' + mode:34s} {r:>10,.0f} events/s  {1e6 / r:6.2f} µs/event   "
              f"ratio {statistics.median(ratios[mode]):.2f}x   on CPU {statistics.median(cpus[mode]):.0%}")


if __name__ == "__main__":
    main()
