"""Benchmark: offline replay throughput and engine memory per open entity.

Prints, for the same generated events in the same run:
  - baseline: raw `orjson.loads` of every line (the floor any JSON pipeline pays),
  - decode: `decode_event` (msgspec Structs; the pydantic models on rejection) of every line,
  - replay: the whole `slawatch replay` path minus file I/O (decode, sort, engine, record sort,
    JSON encoding of the records),
each as events/s (median of --runs) with the ratio replay/baseline; then the bytes of engine
state per open entity at --open entities (tracemalloc), with and without the de-dup set.
The SLA core runs compiled where `make install` built it (README, "Compiled core");
`SLAWATCH_PURE_PYTHON=1` in the environment times the pure-Python core instead (an A/B
of the two in one sitting).
Run:  .venv/bin/python bench/replay.py [--events 1000000] [--runs 3] [--open 100000,1000000]
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.core import core_label  # noqa: E402
from streams.core.engine import SlaEngine  # noqa: E402
from streams.core.events import decode_event  # noqa: E402
from streams.core.policy import load_policies  # noqa: E402
from streams.core.timeutil import to_us  # noqa: E402
from streams.generator import GeneratorConfig, generate  # noqa: E402
from streams.replay import replay_lines, write_records  # noqa: E402


class _Null:
    def write(self, b: bytes) -> int:
        return len(b)


def make_lines(n_events: int) -> list[bytes]:
    # ~1 M events: scale days so that the default volumes give the requested count.
    probe = sum(1 for _ in generate(GeneratorConfig(seed=3, days=1.0)))
    days = max(n_events / probe, 0.01)
    lines = [orjson.dumps(e) for e in generate(GeneratorConfig(seed=3, days=days))]
    return lines[:n_events]


def timed(fn) -> float:
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def bench_throughput(lines: list[bytes], runs: int) -> None:
    policies = load_policies(ROOT / "rules" / "sla.yaml")
    n = len(lines)
    base, dec, rep = [], [], []
    records = 0
    for _ in range(runs):
        base.append(n / timed(lambda: [orjson.loads(l) for l in lines]))
        dec.append(n / timed(lambda: [decode_event(l) for l in lines]))

        def full():
            nonlocal records
            res = replay_lines(lines, policies)
            records = write_records(res.records, _Null())
        rep.append(n / timed(full))
    mb, md, mr = (statistics.median(x) for x in (base, dec, rep))
    print(f"events: {n}, records: {records}, runs: {runs} (medians)")
    print(f"  core: {core_label()}")
    print(f"  baseline orjson.loads      {mb:>12,.0f} events/s")
    print(f"  decode_event (shipped)     {md:>12,.0f} events/s   ratio {md / mb:.2f}x baseline")
    print(f"  replay end to end          {mr:>12,.0f} events/s   ratio {mr / mb:.2f}x baseline"
          f"   (goal >= 200,000/s: {'met' if mr >= 200_000 else 'NOT met'})")


def bench_memory(n_open: int) -> None:
    """Open n_open entities (half conversations, half tickets, every clock running)."""
    policies = load_policies(ROOT / "rules" / "sla.yaml")
    from tests.scenario import T0  # the same fixed instant the tests use
    events = []
    for i in range(n_open):
        at = T0 + timedelta(milliseconds=i)
        if i % 2:
            raw = {"event_id": f"e{i}", "type": "conversation.started", "occurred_at": at.isoformat(),
                   "conversation_id": f"conv-{i:09d}", "channel": "web", "customer_id": f"cust-{i}",
                   "customer_tier": "regular", "queue": "pre_sales"}
        else:
            raw = {"event_id": f"e{i}", "type": "ticket.created", "occurred_at": at.isoformat(),
                   "ticket_id": f"tick-{i:09d}", "channel": "email", "priority": "normal",
                   "category": "logistics", "customer_id": f"cust-{i}", "customer_tier": "regular"}
        ev = decode_event(orjson.dumps(raw))
        events.append((to_us(ev.occurred_at), ev))
    for _ in (1,):
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        engine = SlaEngine(policies)
        for t, ev in events:
            engine.apply(ev, t)
        # Outputs, not state: the worker takes the records (here: warnings fired while the
        # entities were being opened) and the set of entities to persist after every batch.
        engine.drain()
        engine.take_dirty()
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
        tracemalloc.stop()
        clocks = sum(len(e.clocks()) for d in engine.entities.values() for e in d.values())
        label = "entity state incl. de-dup"
        print(f"  {n_open:>9,} open entities, {label}: {used / n_open:,.0f} bytes/entity "
              f"({clocks / n_open:.1f} clocks/entity; goal <= 1024)")
        del engine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--open", default="100000,1000000", help="comma list of open-entity counts")
    args = ap.parse_args()
    t0 = time.perf_counter()
    lines = make_lines(args.events)
    print(f"generated {len(lines):,} events in {time.perf_counter() - t0:.1f} s")
    bench_throughput(lines, args.runs)
    del lines
    print("memory per open entity (tracemalloc; entity state excludes the decoded events):")
    for n in (int(x) for x in args.open.split(",") if x):
        bench_memory(n)


if __name__ == "__main__":
    main()
