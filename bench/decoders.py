"""Benchmark: the event decoder's cost (issues 2/3), with `orjson.loads` as the baseline.

The same generated lines decoded, in the same run, medians of --runs:
  - `orjson.loads` (baseline: parsing, no validation),
  - `decode_event_with_models`: the pydantic models alone (the decoder before msgspec),
  - `decode_event`: the shipped decoder (msgspec Structs, timestamp checked by pydantic-core,
    the models on rejection),
  - the msgspec Struct decode alone (the floor of the fast path);
  - with the event time in µs, as the replay and the worker need it: `decode_event` plus
    `timeutil.to_us` (aware datetime arithmetic) against `decode_event_at`.
Run:  .venv/bin/python bench/decoders.py [--runs 5] [--days 3]
"""
import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from streams.core.event_structs import decoder as struct_decoder  # noqa: E402
from streams.core.events import decode_event, decode_event_at, decode_event_with_models  # noqa: E402
from streams.core.timeutil import to_us  # noqa: E402
from streams.generator import GeneratorConfig, generate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--days", type=float, default=3)
    args = ap.parse_args()
    lines = [orjson.dumps(e) for e in generate(GeneratorConfig(seed=3, days=args.days))]

    def rate(fn) -> float:
        gc.collect()
        t = time.perf_counter()
        fn()
        return len(lines) / (time.perf_counter() - t)

    cases = {
        "orjson.loads (baseline)": lambda: [orjson.loads(x) for x in lines],
        "pydantic models alone": lambda: [decode_event_with_models(x) for x in lines],
        "decode_event (shipped)": lambda: [decode_event(x) for x in lines],
        "msgspec Struct decode alone": lambda: [struct_decoder.decode(x) for x in lines],
        "decode_event + to_us": lambda: [to_us(decode_event(x).occurred_at) for x in lines],
        "decode_event_at (shipped)": lambda: [decode_event_at(x) for x in lines],
    }
    res: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(args.runs):
        for name, fn in cases.items():
            res[name].append(rate(fn))
    print(f"events: {len(lines):,}, runs: {args.runs} (medians)")
    base = statistics.median(res["orjson.loads (baseline)"])
    for name, v in res.items():
        m = statistics.median(v)
        print(f"  {name:28} {m:>12,.0f} events/s  {m / base:.2f}x baseline  {1e6 / m:.2f} us/event")


if __name__ == "__main__":
    main()
