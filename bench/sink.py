"""Benchmark: rows/s of SLA records into ClickHouse (embedded chdb) through `ClickHouseSink`.

Records come from the pipeline itself (generated events -> `replay_lines`). Measured in the same
run, each into freshly emptied tables, in batches of --batch rows (median of --runs):
  - baseline: `client.insert_arrow` of Arrow tables built beforehand: the engine's own cost of
    ingesting and merging the rows, the floor of any Python sink on this back-end;
  - alt baseline: `raw_insert` of the worker's JSON lines as JSONEachRow (ClickHouse parses them):
    the other obvious design, for comparison;
  - sink, records: `backfill(list[SlaRecord])` end to end (columns, record ids, Arrow,
    retry wrapper; batch k+1 converted while batch k is inserted):
    the `slawatch replay --clickhouse` path; and the same without that overlap;
  - sink, Kafka JSON: `write_records_json` of the worker's JSON messages (Arrow's JSON reader
    parses the batch): the path of `slawatch sink`;
  - sink, dicts: `orjson.loads` of each message + `write_records(list[dict])`, for comparison.
Run:  .venv/bin/python bench/sink.py [--records 200000] [--batch 50000] [--runs 3]
"""
from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sinks.clickhouse import ClickHouseSink, _records_table, backfill  # noqa: E402
from streams.core.policy import load_policies  # noqa: E402
from streams.generator import GeneratorConfig, generate  # noqa: E402
from streams.replay import replay_lines  # noqa: E402

GOAL = 200_000


def make_records(n: int) -> list:
    # ~9,700 records per generated day with the default volumes and rules.
    days = max(n / 9_000, 0.05)
    lines = [orjson.dumps(e) for e in generate(GeneratorConfig(seed=3, days=days))]
    records = replay_lines(lines, load_policies(ROOT / "rules" / "sla.yaml")).records
    return records[:n]


def batches(rows: list, size: int) -> list[list]:
    return [rows[i:i + size] for i in range(0, len(rows), size)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=50_000, help="rows per insert")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()

    t0 = time.perf_counter()
    records = make_records(args.records)
    n = len(records)
    print(f"built {n:,} SLA records from generated events in {time.perf_counter() - t0:.1f} s")
    lines = [r.to_json(extended=True) for r in records]
    arrow = [_records_table(b) for b in batches(records, args.batch)]

    with tempfile.TemporaryDirectory(prefix="slawatch-bench-") as tmp:
        sink = ClickHouseSink(f"chdb://{tmp}/ch").connect()
        sink.migrate()
        client = sink.client

        def fresh() -> None:
            client.command("TRUNCATE TABLE sla_records")
            gc.collect()

        def timed(fn) -> float:
            fresh()
            t = time.perf_counter()
            fn()
            elapsed = time.perf_counter() - t
            assert sink.count_records() == n, "every row must land exactly once"
            return n / elapsed

        def baseline() -> None:
            for table in arrow:
                client.insert_arrow("sla_records", table)

        def json_each_row() -> None:
            settings = {"date_time_input_format": "best_effort", "input_format_skip_unknown_fields": 1}
            for chunk in batches(lines, args.batch):
                client.raw_insert("sla_records", None, b"".join(chunk), settings=settings,
                                  fmt="JSONEachRow")

        def sink_records() -> None:  # `slawatch replay --clickhouse`
            backfill(records, sink.dsn, batch_size=args.batch, sink=sink)

        def sink_records_serial() -> None:
            for chunk in batches(records, args.batch):
                sink.write_record_tables([_records_table(chunk)])

        def sink_kafka_json() -> None:
            for chunk in batches(lines, args.batch):
                sink.write_records_json(chunk)

        def sink_dicts() -> None:
            loads = orjson.loads
            for chunk in batches(lines, args.batch):
                sink.write_records([loads(m) for m in chunk])

        cases = {"baseline insert_arrow (prebuilt)": baseline,
                 "alt baseline JSONEachRow": json_each_row,
                 "sink backfill(SlaRecord)": sink_records,
                 "sink SlaRecord, not pipelined": sink_records_serial,
                 "sink write_records_json (Kafka)": sink_kafka_json,
                 "sink orjson + write_records(dict)": sink_dicts}
        results: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(args.runs):
            for name, fn in cases.items():
                results[name].append(timed(fn))
        sink.close()

    med = {k: statistics.median(v) for k, v in results.items()}
    base = med["baseline insert_arrow (prebuilt)"]
    print(f"rows: {n:,}, batch: {args.batch:,}, runs: {args.runs} (medians), chdb embedded")
    for name, value in med.items():
        goal = ""
        if name.startswith("sink"):
            goal = f"   (goal >= {GOAL:,}/s: {'met' if value >= GOAL else 'NOT met'})"
        print(f"  {name:<34} {value:>10,.0f} rows/s   ratio {value / base:.2f}x baseline{goal}")


if __name__ == "__main__":
    main()
