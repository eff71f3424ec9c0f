"""A ClickHouse history (embedded chdb) filled the way the pipeline fills it, for running the
dashboards' SQL: a generated day of events is driven through the live worker's
`PartitionProcessor` (SLA records, closed metric windows with starts and ratings, dead letters
for a few broken messages), and the QA day (`run_qa_day`) adds samples, checks and masked
transcripts. Everything goes in through `ClickHouseSink`, as `slawatch sink` and
`slawatch qa sample` write it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import orjson

from sinks.clickhouse import ClickHouseSink
from streams.core.policy import load_policies
from streams.core.qa_rules import load_qa_rules
from streams.core.timeutil import US, parse_rfc3339
from streams.generator import GeneratorConfig, generate
from streams.processor import PartitionProcessor
from streams.qa_day import run_qa_day
from streams.settings import DEFAULT_RULES
from streams.worker import window_message

ROOT = Path(__file__).resolve().parents[2]
BROKEN = [b"{not json", b'{"type": "conversation.started"}', b'{"event_id": 1}']


@dataclass
class History:
    dsn: str
    time_from: int  # Unix seconds covering all the data
    time_to: int
    counts: dict[str, int]


def build(directory: Path, seed: int = 17, days: float = 1.0) -> History:
    events = sorted(generate(GeneratorConfig(seed=seed, days=days, tickets_per_day=600)),
                    key=lambda e: parse_rfc3339(e["occurred_at"]))
    policies = load_policies(DEFAULT_RULES)
    procs = {kind: PartitionProcessor(f"support.{kind}s", 0, kind, policies, lateness_us=10 * US,
                                      idle_after_us=US, future_skew_us=300 * US)
             for kind in ("conversation", "ticket")}
    for offset, ev in enumerate(events):
        t = parse_rfc3339(ev["occurred_at"])
        procs[ev["type"].split(".", 1)[0]].ingest(offset, orjson.dumps(ev), t)
    first, last = parse_rfc3339(events[0]["occurred_at"]), parse_rfc3339(events[-1]["occurred_at"])
    for n, raw in enumerate(BROKEN):
        procs["conversation"].ingest(len(events) + n, raw, last)
    records, windows, dead = [], [], []
    for part, p in enumerate(procs.values()):
        p.tick(last + 2 * US)
        p.tick(last + 24 * 3600 * US)  # idle input: the clock runs on and closes every window
        out = p.drain()
        records += out.records
        windows += [orjson.loads(window_message(start, dims, agg, part)[1]) for start, dims, agg in out.windows]
        dead += [orjson.loads(d.to_json()) for d in out.dead_letters]
    samples = run_qa_day(events, records, load_qa_rules(ROOT / "rules" / "qa.yaml"))
    dsn = f"chdb://{directory}"
    with ClickHouseSink(dsn).connect() as sink:
        sink.migrate()
        sink.write_records(records)
        sink.write_windows(windows)
        sink.write_dead_letters(dead)
        sink.write_qa_samples(samples)
        sink.write_qa_transcripts(samples)
        sink.write_qa_checks([c for s in samples for c in s["checks"]])
    counts = {"records": len(records), "windows": len(windows), "dead_letters": len(dead),
              "samples": len(samples)}
    return History(dsn, first // US - 3600, (last + 24 * 3600 * US) // US + 3600, counts)
