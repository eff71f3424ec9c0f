"""Benchmark: end-to-end delay to queryable, breach record on `sla.events` -> row in ClickHouse.

One embedded tansu broker, one `slawatch worker` subprocess and one `slawatch sink` subprocess
(embedded ClickHouse, chdb, in a temporary directory; its read API `POST /query` on a free port
with a random SLAWATCH_API_TOKEN), all as in production. Probe conversations are started live
under a short first-response target and never answered (bench/latency.py); each breach record
the worker writes to `sla.events` is timed:
  - produced: the record's Kafka timestamp (the worker appended it to its producer batch);
  - queryable: the first answer of the sink's /query, polled every --poll s, that contains its
    `record_id` (the poll interval is part of the figure).
Cases: (a) idle input (only the probes), (b) while another process streams generated events at
--rate events/s into the worker (bench/latency.py `Load`), so the sink also writes the records
and metric windows of that traffic.
Baseline printed next to it: the sink's designed bound. `slawatch sink` writes a batch once its
first message is `batch_seconds` old, checked after each fetch of up to `poll_ms`; so a lone
record waits batch_seconds .. batch_seconds + poll_ms, plus our poll interval.
Sink throughput (rows/s) is bench/sink.py's figure; it is not repeated here.
Run:  .venv/bin/python bench/e2e_delay.py [--probes 25] [--rate 5000] [--poll 0.1]
"""
from __future__ import annotations

import asyncio
import inspect
import os
import secrets
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.latency import (Load, probe_arguments, probe_conversations, probe_prefix, probe_rules,  # noqa: E402
                           quantile, start_worker, wait_steady)
from sinks.kafka_to_clickhouse import KafkaClickHouseSink, remote_query  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from tests.integration.test_live_pipeline import free_port  # noqa: E402

SINK_DEFAULTS = {k: p.default for k, p in inspect.signature(KafkaClickHouseSink).parameters.items()}


class Sink:
    """`slawatch sink` in a subprocess, reading the worker's output topics."""

    def __init__(self, worker, tmp: Path) -> None:
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / "sink.log"
        env = {**worker.env(), "SLAWATCH_SINK_HTTP_PORT": str(self.port),
               "SLAWATCH_API_TOKEN": self.token}
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "sink", "--clickhouse",
                                      f"chdb://{tmp / 'ch'}"], cwd=ROOT, env=env,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            self.check()
            try:
                self.query("SELECT 1")   # up, schema in place, API answering
                return
            except (OSError, RuntimeError):
                if time.monotonic() > deadline:
                    raise SystemExit("the sink did not come up:\n" + self.log.read_text()[-3000:])
                time.sleep(0.3)

    def check(self) -> None:
        if self.proc.poll() is not None:
            raise SystemExit(f"the sink exited with {self.proc.returncode}:\n"
                             + self.log.read_text()[-3000:])

    def query(self, sql: str, params: dict | None = None) -> list[list]:
        return remote_query(self.url, self.token, sql, params, timeout=10)["rows"]

    def failures(self) -> float:
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=5) as r:
            text = r.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith("slawatch_sink_failures_total{"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def watch_queryable(sink: Sink, prefix: str, poll: float, done: asyncio.Event,
                          seen: dict[str, float]) -> None:
    """Fill `seen`: record_id -> wall time of the first /query answer showing it, for the
    breaches of entities `prefix*`, until `done`."""
    sql = ("SELECT record_id FROM sla_records WHERE metric = 'first_response' "
           "AND status = 'breached' AND startsWith(entity_id, {p:String})")
    while not done.is_set():
        rows = await asyncio.to_thread(sink.query, sql, {"p": prefix})
        now = time.time()
        for (record_id,) in rows:
            seen.setdefault(record_id, now)
        await asyncio.sleep(poll)


async def measure(url: str, worker, sink: Sink, args, n: int) -> list[tuple[float, float, float]]:
    """Probe `n` breaches; per record (produced - deadline, queryable - produced,
    queryable - deadline)."""
    prefix = probe_prefix()
    done = asyncio.Event()
    seen: dict[str, float] = {}
    watcher = asyncio.create_task(watch_queryable(sink, prefix, args.poll, done, seen))
    try:
        probes = await probe_conversations(url, worker, n, args.spacing, args.target, prefix=prefix)
        wanted = {p["record"]["record_id"] for p in probes}
        end = time.monotonic() + 60
        while not wanted <= seen.keys():
            if watcher.done():
                watcher.result()  # the watcher failed: raise its error
            sink.check()
            if time.monotonic() > end:
                raise SystemExit(f"{len(wanted - seen.keys())} of {len(wanted)} breach records "
                                 "never became queryable within 60 s")
            await asyncio.sleep(args.poll)
    finally:
        done.set()
        await asyncio.gather(watcher, return_exceptions=True)
    out = []
    for p in probes:
        queryable = seen[p["record"]["record_id"]]
        out.append((p["kafka_ts"] - p["deadline"], queryable - p["kafka_ts"], queryable - p["deadline"]))
    return out


def main() -> None:
    ap = probe_arguments(__doc__)
    ap.add_argument("--poll", type=float, default=0.1, help="seconds between /query polls")
    args = ap.parse_args()
    print("command:", shlex.join([".venv/bin/python", "bench/e2e_delay.py", *sys.argv[1:]]))
    batch_s, poll_s = SINK_DEFAULTS["batch_seconds"], SINK_DEFAULTS["poll_ms"] / 1000
    bound = batch_s + poll_s + args.poll
    print(f"sink: batch_seconds {batch_s:g} s, fetch poll {poll_s:g} s (`slawatch sink` defaults); "
          f"/query polled every {args.poll:g} s; cores: {os.cpu_count()}, "
          f"load avg {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    with EmbeddedBroker() as kafka, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        worker = start_worker(kafka, tmp, probe_rules(tmp, args.target), args)
        sink = load = None
        try:
            sink = Sink(worker, tmp)
            asyncio.run(measure(kafka.url, worker, sink, args, 1))   # warm-up: the sink consumes
            results.append(("(a) idle", asyncio.run(measure(kafka.url, worker, sink, args, args.probes))))
            print("(a) done", flush=True)
            if args.rate > 0:
                load = Load(kafka.url, worker, args.rate).start()
                consumed = wait_steady(worker, load, args.rate, args.warmup)
                busy = asyncio.run(measure(kafka.url, worker, sink, args, args.probes))
                load.check()
                delivered, load = load.stop(), None
                results.append((f"(b) {args.rate:,.0f} ev/s", busy))
                print(f"(b) done: load delivered {delivered:,.0f} events/s, the worker received "
                      f"{consumed:,.0f}/s during the warm-up", flush=True)
                if delivered < 0.9 * args.rate:
                    print(f"    WARNING: the load fell short of {args.rate:,.0f} events/s", flush=True)
            failures = sink.failures()
            if failures:
                raise SystemExit(f"the sink had {failures:g} failed writes")
            stored = sink.query("SELECT count() FROM sla_records")[0][0]
        finally:
            if load is not None:
                load.stop_event.set()
            if sink is not None:
                sink.stop()
            worker.stop()
    print(f"sla_records rows at the end: {stored:,}")
    worker_bound = args.lateness + args.tick
    print(f"seconds; bounds: worker = lateness + tick = {worker_bound:g} s (bench/latency.py), "
          f"sink = batch_seconds + fetch poll + /query poll = {bound:g} s")
    print(f"  {'case':<52} {'n':>3}  {'p50':>6}  {'p99':>6}  {'max':>6}  {'bound':>6}  p50/bound")
    for case, values in results:
        for i, name, b in ((0, "deadline -> record on sla.events", worker_bound),
                           (1, "record on sla.events -> queryable", bound),
                           (2, "deadline -> queryable", worker_bound + bound)):
            xs = [v[i] for v in values]
            p50 = quantile(xs, 0.5)
            print(f"  {case + ': ' + name:<52} {len(xs):>3}  {p50:6.2f}  {quantile(xs, 0.99):6.2f}"
                  f"  {max(xs):6.2f}  {b:6.2f}  {p50 / b:5.2f}x")


if __name__ == "__main__":
    main()
