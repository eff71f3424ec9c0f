"""Benchmark: the offline replay stage by stage, and the cost of fresh memory in its decode.

For the same generated events, in one process (GC paused, as `slawatch replay` does):
  - baseline: `orjson.loads` of every line;
  - decode: `read_events` (decode, validation, event time, the list the replay sorts);
  - engine: `SlaEngine.apply` over the sorted events, and the two sorts (events, records);
  - encode: the records as JSON Lines (`write_records`);
  - replay: the whole `replay_lines` + `write_records`;
each in µs per event (median of --runs) and as a ratio to the baseline. `--fresh` adds four
decode rounds that keep their result until the next pair: rounds 0-1 need new memory, rounds
2-3 reuse what rounds 0-1 freed; with the guest page faults of each round.

`--root DIR` times another checkout of slawatch (its `streams` package) with this script:
run it alternately on two checkouts for an A/B (BENCHMARKS.md quotes such pairs).
The SLA core runs compiled where `make install` built it (README, "Compiled core");
`SLAWATCH_PURE_PYTHON=1` in the environment times the pure-Python core instead (an A/B
of the two in one sitting).
Run:  .venv/bin/python bench/replay_stages.py [--events 300000] [--runs 3] [--fresh] [--root DIR]
"""
from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
from operator import itemgetter
from pathlib import Path

import orjson

HERE = Path(__file__).resolve().parents[1]


class _Null:
    def write(self, b: bytes) -> int:
        return len(b)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=300_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--fresh", action="store_true", help="also time decode rounds on new vs reused memory")
    ap.add_argument("--root", type=Path, default=HERE, help="the slawatch checkout to time")
    args = ap.parse_args()
    root = args.root.resolve()
    sys.path.insert(0, str(HERE / "bench"))  # make_lines: the same events as bench/replay.py
    from replay import make_lines  # noqa: E402

    # bench/replay.py imported this checkout's `streams` (to generate the events): forget it,
    # so that the stages below time the one under `root`.
    for name in [m for m in sys.modules if m == "streams" or m.startswith("streams.")]:
        del sys.modules[name]
    sys.path.insert(0, str(root))

    from streams.core.engine import SlaEngine  # noqa: E402
    from streams.core.policy import load_policies  # noqa: E402
    from streams.core.records import SlaRecord  # noqa: E402
    from streams.replay import read_events, replay_lines, write_records  # noqa: E402

    engine_file = Path(sys.modules[SlaEngine.__module__].__file__).resolve()
    if not engine_file.is_relative_to(root / "streams"):
        raise SystemExit(f"timing the wrong checkout: {engine_file}")
    lines = make_lines(args.events)
    n = len(lines)
    policies = load_policies(root / "rules" / "sla.yaml")
    times: dict[str, list[float]] = {k: [] for k in ("baseline", "decode", "engine", "sorts", "encode", "replay")}

    def skip(_n: int, _reason: str) -> None:
        pass

    if args.fresh:
        # First, before the stages below: later on the process holds memory freed by them.
        print("decode rounds (each keeps its result until the next one is built; rounds 0-1 need new "
              "memory, 2-3 reuse what 0-1 freed):")
        gc.disable()
        items = None
        for i in range(4):
            f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
            t0 = time.perf_counter()
            items = read_events(lines, skip)
            dt = time.perf_counter() - t0
            faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
            print(f"  round {i}: {dt / n * 1e6:5.2f} µs/event, {faults / n:.2f} page faults/event")
            if i == 1:
                items = None
        items = None
        gc.enable()

    for _ in range(args.runs):
        gc.collect()
        gc.disable()
        t0 = time.perf_counter()
        parsed = [orjson.loads(line) for line in lines]
        times["baseline"].append(time.perf_counter() - t0)
        del parsed
        t0 = time.perf_counter()
        items = read_events(lines, skip)
        t1 = time.perf_counter()
        items.sort(key=itemgetter(0))
        t2 = time.perf_counter()
        engine = SlaEngine(policies)
        apply = engine.apply
        for t, _, ev in items:
            apply(ev, t)
        engine.advance(items[-1][0] + 1)
        t3 = time.perf_counter()
        records = engine.drain()
        records.sort(key=SlaRecord.sort_key)
        t4 = time.perf_counter()
        write_records(records, _Null())
        t5 = time.perf_counter()
        times["decode"].append(t1 - t0)
        times["engine"].append(t3 - t2)
        times["sorts"].append((t2 - t1) + (t4 - t3))
        times["encode"].append(t5 - t4)
        del items, engine, records
        gc.collect()
        t0 = time.perf_counter()
        result = replay_lines(lines, policies)
        write_records(result.records, _Null())
        times["replay"].append(time.perf_counter() - t0)
        del result
        gc.enable()

    base = statistics.median(times["baseline"])
    print(f"{root}: {n:,} events, runs: {args.runs} (medians); engine: {engine_file.name}")
    for stage, ts in times.items():
        m = statistics.median(ts)
        print(f"  {stage:9s} {m / n * 1e6:6.2f} µs/event   ratio {base / m:6.3f}x baseline"
              + (f"   {n / m:>10,.0f} events/s" if stage == "replay" else ""))



if __name__ == "__main__":
    main()
