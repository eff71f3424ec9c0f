"""Benchmark: does throughput scale from 1 to 2 `slawatch worker` processes? (issue 7, goal >= 1.8x)

Each run produces the same N generated events (streams/generator.py, via bench/pipeline.py)
into the 2 input topics x 4 partitions of fresh topics on one embedded tansu broker, then
measures, each on its own fresh topics and consumer group:
  - baseline: a raw aiokafka consumer reading everything and `orjson.loads`-ing it (the same
    baseline as bench/pipeline.py, for context);
  - 1 worker: one `slawatch worker` subprocess processing everything;
  - 2 workers: two `slawatch worker` subprocesses in one consumer group (range assignor: each
    gets partitions 0-1 or 2-3 of both input topics), started together.
Every worker's `slawatch_events_received_total` is polled on /metrics every --poll seconds
(instants between polls are interpolated). Two rates per case:
  - while all busy (the goal's figure): from the first poll at which every worker has received
    some events to the moment the first worker has received its last one: the group's steady
    throughput, without start-up (one worker often gets going ~1 s after the other) or the tail
    (the other finishing alone);
  - whole input: from the first event to the last: the time to process everything.
A run only counts once the group's committed offsets have reached the end of every input
partition (everything applied, output confirmed and committed); otherwise the benchmark fails.

The broker, the workers and this process share the machine: on a 2-core box 2 workers cannot
get 2 cores to themselves, so read the ratio with the core count printed next to it.
Run:  .venv/bin/python bench/scaling.py [--events 200000] [--runs 3] [--poll 0.25]
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import events, raw_rate  # noqa: E402
from streams.broker import EmbeddedBroker  # noqa: E402
from tests.integration.test_live_pipeline import PARTITIONS, Worker, free_port, produce  # noqa: E402

GOAL = 1.8
RECEIVED = "slawatch_events_received_total"
# tansu answers JoinGroup after session_timeout / 2 (streams/broker.py): a longer session
# timeout lets two workers started together land in the first generation, so the 2-worker run
# does not begin with one worker holding every partition and a rebalance a second later.
SESSION_TIMEOUT_S = "6"


class BenchWorker(Worker):
    """The tests' worker subprocess, split into launch and wait so that two start together."""

    def env(self) -> dict:
        return {**super().env(), "SLAWATCH_BROKER_SESSION_TIMEOUT_S": SESSION_TIMEOUT_S}

    def sibling(self) -> "BenchWorker":
        """Another worker process in the same group, on the same topics."""
        other = BenchWorker.__new__(BenchWorker)
        other.__dict__.update(self.__dict__)
        other.port, other.proc = free_port(), None
        other.log = self.log.with_name(f"{self.log.stem}-{other.port}.log")
        return other

    def launch(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "worker"], cwd=ROOT,
                                     env=self.env(), stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT)

    def wait_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"worker exited with {self.proc.returncode}:\n"
                                 + self.log.read_text()[-3000:])
            try:
                self.health()
                return
            except OSError:
                time.sleep(0.1)
        raise SystemExit("worker did not come up:\n" + self.log.read_text()[-3000:])

    def health(self) -> dict:
        import orjson

        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as r:
            return orjson.loads(r.read())

    def received(self) -> float:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
                text = r.read().decode()
        except OSError as exc:
            raise SystemExit(f"worker on port {self.port} (exit code {self.proc.poll()}) does not "
                             f"answer: {exc}\n{self.log.read_text()[-3000:]}") from None
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(RECEIVED + "{"))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores have spent not idle so far (Linux /proc/stat)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


async def committed(url: str, group: str, topics: list[str]) -> int:
    """Input messages the group has committed (every input partition starts at offset 0)."""
    tps = [TopicPartition(t, p) for t in topics for p in range(PARTITIONS)]
    admin = AIOKafkaAdminClient(bootstrap_servers=url)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group, partitions=tps)
    finally:
        await admin.close()
    return sum(max(0, offsets[tp].offset) for tp in tps if tp in offsets)


def workers_rate(kafka: EmbeddedBroker, workers: list[BenchWorker], n: int, poll: float) -> dict:
    """Start `workers` together on a filled input; events/s from the first to the last event."""
    for w in workers:
        w.launch()
    try:
        for w in workers:
            w.wait_up()
        # (perf_counter, events received by each worker, CPU seconds of the workers, of the
        # broker, of the whole machine)
        series: list[tuple[float, list[float], float, float, float]] = []
        shares = None
        deadline = time.monotonic() + 600
        while True:
            got = [w.received() for w in workers]
            now = time.perf_counter()
            if sum(got) > 0 and shares is None:      # who holds what when the work starts
                shares = [w.health()["partitions"] for w in workers]
            series.append((now, got, sum(cpu_seconds(w.proc.pid) for w in workers),
                           cpu_seconds(kafka.pid), machine_busy_seconds()))
            # all read, and no more arriving (a re-read after a rebalance would add to the sum)
            if sum(got) >= n and len(series) > 1 and sum(series[-2][1]) == sum(got):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"workers did not receive every event: {sum(got):,.0f} of {n:,}")
            time.sleep(poll)
        # Done only when the group committed everything (outputs confirmed); in the meantime
        # a duplicate read after a rebalance would still show up in the counters.
        inputs = [workers[0].topics["support.conversations"], workers[0].topics["support.tickets"]]
        while (left := n - asyncio.run(committed(kafka.url, workers[0].app_id, inputs))) > 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"the group never committed the last {left:,} input messages")
            time.sleep(0.5)
        received = sum(w.received() for w in workers)
    finally:
        for w in workers:
            w.stop()
    final = sum(series[-1][1])
    if received != final:
        raise SystemExit(f"messages read after the counters had settled: {final:,.0f} -> {received:,.0f}")
    return analyse(series, n, shares)


def crossing(times: list[float], values: list[float], target: float) -> float:
    """When `values` (polled at `times`) first reached `target`, interpolated between polls
    (the rate is taken as steady within one poll interval)."""
    i = next(i for i, v in enumerate(values) if v >= target)
    if i == 0:
        return times[0]
    (t0, v0), (t1, v1) = (times[i - 1], values[i - 1]), (times[i], values[i])
    return t0 + (target - v0) / (v1 - v0) * (t1 - t0)


def value_at(times: list[float], values: list[float], t: float) -> float:
    i = next(i for i, x in enumerate(times) if x >= t)
    if i == 0:
        return values[0]
    (t0, v0), (t1, v1) = (times[i - 1], values[i - 1]), (times[i], values[i])
    return v0 + (t - t0) / (t1 - t0) * (v1 - v0)


def analyse(series: list, n: int, shares: list) -> dict:
    """Rates from the polled counters.

    - `busy`: events/s while every worker is at work: from the first poll at which all of
      them have received some to the moment the first of them has received its last event.
      Start-up (a worker that gets going a second after the other) and the tail (one worker
      finishing alone) are left out: the steady throughput of the group.
    - `whole`: events/s from the first event any worker received to the last one: the time
      to process the whole input, start-up skew and tail included.
    """
    times = [s[0] for s in series]
    per_worker = list(zip(*[s[1] for s in series]))
    total = [sum(s[1]) for s in series]
    final = total[-1]
    k = next((i for i, s in enumerate(series) if all(g > 0 for g in s[1])), None)
    if k is None:
        raise SystemExit(f"a worker received nothing: {series[-1][1]}")
    first_any = next(i for i, v in enumerate(total) if v > 0)
    t_start = times[k]
    t_stop = min(crossing(times, list(w), w[-1]) for w in per_worker)
    t_end = crossing(times, total, final)
    if t_stop - t_start < 2 * (times[1] - times[0]):
        raise SystemExit("the workers ran together for less than two polls: lower --poll or "
                         "raise --events")
    busy = (value_at(times, total, t_stop) - total[k]) / (t_stop - t_start)
    whole = (final - total[first_any]) / (t_end - times[first_any])
    # Cores used while every worker was busy (polls within that window): ~1 per worker when
    # CPU-bound with the machine to itself.
    j = max(i for i, t in enumerate(times) if t <= t_stop)
    span = times[j] - t_start if j > k else 1.0

    def cores(col: int) -> float:
        return (series[j][col] - series[k][col]) / span if j > k else float("nan")

    return {"busy": busy, "whole": whole, "duplicates": int(final - n), "shares": shares,
            "start_skew": t_start - times[first_any], "busy_share": (t_stop - t_start) / (t_end - times[first_any]),
            "worker_cores": cores(2), "broker_cores": cores(3), "machine_cores": cores(4)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--poll", type=float, default=0.25, help="seconds between /metrics polls")
    args = ap.parse_args()
    print("command:", shlex.join([".venv/bin/python", "bench/scaling.py", *sys.argv[1:]]))
    evs = events(args.events)
    raws, ones, twos = [], [], []
    with EmbeddedBroker() as kafka, tempfile.TemporaryDirectory() as tmp:
        for run in range(args.runs):
            load = os.getloadavg()[0]
            one = BenchWorker(kafka, Path(tmp))   # fresh topics and consumer group per case
            asyncio.run(produce(kafka, one, evs))
            inputs = [one.topics["support.conversations"], one.topics["support.tickets"]]
            raws.append(asyncio.run(raw_rate(kafka.url, inputs, len(evs))))
            ones.append(workers_rate(kafka, [one], len(evs), args.poll))
            first = BenchWorker(kafka, Path(tmp))
            asyncio.run(produce(kafka, first, evs))
            twos.append(workers_rate(kafka, [first, first.sibling()], len(evs), args.poll))
            r1, r2 = ones[-1], twos[-1]
            print(f"run {run + 1} (load avg before {load:.1f}): raw {raws[-1]:,.0f}/s")
            for name, r in (("1 worker ", r1), ("2 workers", r2)):
                print(f"  {name}: {r['busy']:,.0f}/s while all busy ({r['busy_share']:.0%} of the "
                      f"time), {r['whole']:,.0f}/s whole input; cores used by workers "
                      f"{r['worker_cores']:.2f}, broker {r['broker_cores']:.2f}, whole machine "
                      f"{r['machine_cores']:.2f}")
            print(f"  2 workers: partitions held at the first event {'+'.join(map(str, r2['shares']))}, "
                  f"second worker started {r2['start_skew']:.2f} s later, events read twice "
                  f"{r2['duplicates']:,}; ratio {r2['busy'] / r1['busy']:.2f}x busy, "
                  f"{r2['whole'] / r1['whole']:.2f}x whole input", flush=True)

    def med(rs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rs)

    raw = statistics.median(raws)
    ratio = statistics.median(t["busy"] / o["busy"] for t, o in zip(twos, ones))
    ratio_whole = statistics.median(t["whole"] / o["whole"] for t, o in zip(twos, ones))
    print(f"events: {len(evs):,}, partitions: {PARTITIONS} x 2 topics, runs: {args.runs} (medians), "
          f"cores: {os.cpu_count()} shared by the broker, the workers and this process")
    print(f"  baseline raw aiokafka consume + orjson  {raw:>10,.0f} events/s")
    for name, rs in (("1 slawatch worker", ones), ("2 slawatch workers (one group)", twos)):
        print(f"  {name:<39} {med(rs, 'busy'):>10,.0f} events/s while all busy "
              f"({med(rs, 'busy') / raw:.2f}x raw), {med(rs, 'whole'):,.0f}/s whole input; "
              f"workers' CPU {med(rs, 'worker_cores'):.2f} cores, machine {med(rs, 'machine_cores'):.2f}")
    print(f"  scaling 2 / 1 workers (median of per-run ratios): {ratio:.2f}x while all busy"
          f"   (goal >= {GOAL}x: {'met' if ratio >= GOAL else 'NOT met'}); "
          f"{ratio_whole:.2f}x for the whole input")


if __name__ == "__main__":
    main()
