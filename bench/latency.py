"""Benchmark: breach latency, deadline -> breach record on `sla.events` -> Alertmanager webhook.

A "probe" is an entity started live at wall-clock time under a short target (--target, 2 s),
never answered, so its clock breaches at `deadline` = start + target. Probes get their own
policies, prepended to the shipped rules/sla.yaml (queue / category `bench-probe`), so any
other traffic keeps its usual targets. Cases, each on a fresh `slawatch worker` subprocess with
its own topics on one embedded tansu broker:
  (a) idle input: --probes conversations, one every ~--spacing s and nothing else, each on the
      next input partition in turn (so none gets another event before its breach; see
      --random-partitions); latency = arrival of the breach record at a consumer of
      `sla.events` minus the record's `deadline` (also shown: the record's Kafka timestamp,
      i.e. when the worker appended it);
  (b) under load: the same while another process streams generated events (streams/generator.py,
      in the generator's order, stamped with the wall time they are sent at) at --rate events/s;
  (c) alerting: --alerts urgent tickets (resolution target --target) on one worker scraped by the
      Debian `prometheus` (scrape and evaluation every 1 s, the shipped rules with TicketsBreaching
      at `for: 0s`) feeding the Debian `prometheus-alertmanager` (the shipped routing, group_wait
      0s) and a webhook receiver here; latency = webhook arrival minus the deadline. Each probe
      is solved once its page arrived; probes take the 7 channels in turn, so the first 7 each
      open a new alert group (group_wait applies); an 8th waits until the first one's alert
      has resolved, and may then also wait for group_interval (1 s).
Baseline printed next to each: the designed bound. The worker's clock passes a deadline
`allowed lateness` after it and checks every `tick`, so a record is due within lateness + tick;
an alert adds one scrape interval, one evaluation interval and the rule's `for:`. The worker runs
with small values set here (--lateness, --tick, --idle-after) and prints them.
Run:  .venv/bin/python bench/latency.py [--probes 25] [--rate 5000] [--alerts 6]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import shlex
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streams.broker import EmbeddedBroker  # noqa: E402
from streams.core.policy import load_policies  # noqa: E402
from streams.settings import DEFAULT_RULES  # noqa: E402
from tests.integration.test_live_pipeline import PARTITIONS, Worker  # noqa: E402

PROBE = "bench-probe"
# Alertmanager groups by (alertname, channel): one channel per alert probe = a fresh group, so
# group_wait (0s) applies, never group_interval. These are the channels the metrics keep.
ALERT_CHANNELS = ("web", "app", "phone", "wechat", "email", "social", "other")


# ---------------------------------------------------------------------------- worker and rules
def probe_rules(tmp: Path, target_s: float) -> Path:
    """rules/sla.yaml with the probes' own policies first (first match wins)."""
    text = DEFAULT_RULES.read_text()
    probes = (f"  - name: {PROBE}-chat\n"
              f"    match: {{kind: conversation, queue: {PROBE}}}\n"
              f"    targets: {{first_response: {{within: {target_s:g}s}}}}\n"
              f"  - name: {PROBE}-ticket\n"
              f"    match: {{kind: ticket, priority: urgent, category: {PROBE}}}\n"
              f"    targets: {{resolution: {{within: {target_s:g}s}}}}\n")
    head, sep, tail = text.partition("\npolicies:\n")
    if not sep:
        raise SystemExit(f"{DEFAULT_RULES} has no top-level `policies:` list")
    path = tmp / "bench-rules.yaml"
    path.write_text(head + sep + probes + tail)
    load_policies(path)  # a broken file must stop the bench here, not inside the worker
    return path


class BenchWorker(Worker):
    """The tests' worker subprocess with the clock settings of this benchmark."""

    timing: dict[str, str] = {}

    def env(self) -> dict:
        return {**super().env(), **self.timing}

    def metric(self, name: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            text = r.read().decode()
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                   if line.startswith(name + "{") or line.startswith(name + " "))


def start_worker(kafka: EmbeddedBroker, tmp: Path, rules: Path, args) -> BenchWorker:
    w = BenchWorker(kafka, tmp, rules=rules)
    w.timing = {"SLAWATCH_ALLOWED_LATENESS_S": str(args.lateness),
                "SLAWATCH_TICK_INTERVAL_S": str(args.tick),
                "SLAWATCH_IDLE_AFTER_S": str(args.idle_after)}
    return w.start()


def parse_ts(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


# ---------------------------------------------------------------------------- sla.events reader
class Breaches:
    """Reads `sla.events` from the start; keeps the breach records of entities named `prefix*`
    with the wall time this process received them and their Kafka timestamp."""

    def __init__(self, url: str, topic: str, prefix: str) -> None:
        self.consumer = AIOKafkaConsumer(topic, bootstrap_servers=url, group_id=None,
                                         enable_auto_commit=False, auto_offset_reset="earliest",
                                         fetch_max_wait_ms=20)
        self.prefix = prefix.encode()
        self.seen: dict[str, tuple[float, float, dict]] = {}  # entity -> (received, kafka ts, rec)
        self.task: asyncio.Task | None = None

    async def start(self) -> "Breaches":
        await self.consumer.start()
        self.task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while True:
            batch = await self.consumer.getmany(timeout_ms=100, max_records=10_000)
            now = time.time()
            for msgs in batch.values():
                for m in msgs:
                    if m.key is None or not m.key.startswith(self.prefix):
                        continue
                    rec = orjson.loads(m.value)
                    if rec["status"] == "breached":
                        self.seen.setdefault(rec["entity_id"], (now, m.timestamp / 1000, rec))

    async def wait_for(self, entities: set[str], timeout: float) -> None:
        end = time.monotonic() + timeout
        while not entities <= self.seen.keys():
            if self.task.done():
                self.task.result()  # the reader died: raise its error
            if time.monotonic() > end:
                missing = sorted(entities - self.seen.keys())
                raise SystemExit(f"no breach record on sla.events within {timeout:.0f} s for "
                                 f"{len(missing)} of {len(entities)} probes, e.g. {missing[:3]}")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        await self.consumer.stop()


def probe_prefix() -> str:
    return f"{PROBE}-{uuid.uuid4().hex[:6]}-"


def entity_on(partition: int, partitions: int, base: str) -> str:
    """An entity id starting with `base` that the default partitioner puts on `partition`."""
    from aiokafka.partitioner import DefaultPartitioner

    choose, every = DefaultPartitioner(), list(range(partitions))
    for n in range(10_000):
        candidate = f"{base}.{n}"
        if choose(candidate.encode(), every, every) == partition:
            return candidate
    raise SystemExit(f"no key for partition {partition}")


async def probe_conversations(url: str, worker: Worker, n: int, spacing: float, target_s: float,
                              prefix: str | None = None, spread: bool = True) -> list[dict]:
    """Start `n` probe conversations `prefix0..` live; per probe its breach record (`record`),
    when this process received it (`received`), its Kafka timestamp (`kafka_ts`: when the worker
    appended it) and its `deadline`, as wall-clock seconds.

    `spread`: probe i goes to input partition i mod PARTITIONS, so with the input otherwise idle
    no other event reaches a probe's partition before its breach is due (an arrival there holds
    that partition's clock at newest event - lateness for `idle_after`, see
    streams/core/sequencer.py). Without it, probes are keyed at random."""
    prefix = prefix or probe_prefix()
    reader = await Breaches(url, worker.topics["sla.events"], prefix).start()
    producer = AIOKafkaProducer(bootstrap_servers=url, linger_ms=0)
    await producer.start()
    started: dict[str, float] = {}
    try:
        for i in range(n):
            # Random phase against the worker's tick; gaps stay longer than idle_after.
            await asyncio.sleep(spacing * random.uniform(1.0, 1.5))
            entity = entity_on(i % PARTITIONS, PARTITIONS, f"{prefix}{i}") if spread else f"{prefix}{i}"
            now = datetime.now(timezone.utc)
            ev = {"event_id": uuid.uuid4().hex, "type": "conversation.started",
                  "occurred_at": now.isoformat(), "conversation_id": entity, "channel": "web",
                  "customer_id": "bench", "queue": PROBE}
            await (await producer.send(worker.topics["support.conversations"], orjson.dumps(ev),
                                       key=entity.encode()))
            started[entity] = now.timestamp()
        await reader.wait_for(set(started), timeout=target_s + 60)
    finally:
        await producer.stop()
        await reader.stop()
    out = []
    for entity, t0 in started.items():
        received, kafka_ts, rec = reader.seen[entity]
        deadline = parse_ts(rec["deadline"])
        if rec["metric"] != "first_response" or abs(deadline - (t0 + target_s)) > 0.002:
            raise SystemExit(f"unexpected breach record for a probe started at {t0}: {rec}")
        out.append({"record": rec, "received": received, "kafka_ts": kafka_ts, "deadline": deadline})
    return out


# ---------------------------------------------------------------------------- background load
def _load_main(url: str, topics: dict[str, str], rate: float, base_events: int,
               stop, sent, began) -> None:
    asyncio.run(_load(url, topics, rate, base_events, stop, sent, began))


async def _load(url: str, topics: dict[str, str], rate: float, base_events: int, stop, sent,
                began) -> None:
    from bench.pipeline import events

    base = events(base_events)
    producer = AIOKafkaProducer(bootstrap_servers=url, linger_ms=5, max_batch_size=256 * 1024)
    await producer.start()
    loop = asyncio.get_running_loop()
    pending: list[asyncio.Future] = []
    count, i, cycle = 0, 0, 0
    t0 = loop.time()
    began.value = time.time()
    try:
        while not stop.is_set():
            due = int((loop.time() - t0) * rate)
            stamp = datetime.now(timezone.utc).isoformat()
            for _ in range(due - count):
                ev = dict(base[i], occurred_at=stamp)
                conv = ev["type"].startswith("conversation.")
                id_field = "conversation_id" if conv else "ticket_id"
                if cycle:  # the base set again, as new entities
                    ev["event_id"] = f"{ev['event_id']}~{cycle}"
                    ev[id_field] = f"{ev[id_field]}~{cycle}"
                pending.append(await producer.send(
                    topics["conversations" if conv else "tickets"], orjson.dumps(ev),
                    key=ev[id_field].encode()))
                i += 1
                if i == len(base):
                    i, cycle = 0, cycle + 1
            count = max(count, due)
            done = [f for f in pending if f.done()]
            for f in done:
                f.result()  # a failed delivery ends the load with an error
            pending = [f for f in pending if not f.done()]
            sent.value = count - len(pending)
            await asyncio.sleep(0.01)
        await asyncio.gather(*pending)
        sent.value = count
    finally:
        await producer.stop()


class Load:
    """Generated events at a steady rate into a worker's input topics, from another process."""

    def __init__(self, url: str, worker: Worker, rate: float) -> None:
        ctx = mp.get_context("spawn")
        self.stop_event = ctx.Event()
        self.sent = ctx.Value("q", 0)
        self.began = ctx.Value("d", 0.0)   # wall time of the first send
        self.rate = rate
        topics = {"conversations": worker.topics["support.conversations"],
                  "tickets": worker.topics["support.tickets"]}
        # ~10 s of distinct events; the load repeats them under new ids if it runs longer.
        self.proc = ctx.Process(target=_load_main, daemon=True,
                                args=(url, topics, rate, int(rate * 10), self.stop_event, self.sent,
                                      self.began))

    def start(self) -> "Load":
        self.proc.start()
        return self

    def check(self) -> None:
        if not self.proc.is_alive():
            raise SystemExit(f"the load process died (exit code {self.proc.exitcode})")

    def stop(self) -> float:
        """Stop; return the rate actually delivered (events acknowledged / s)."""
        stopped = time.time()
        self.stop_event.set()
        self.proc.join(30)
        if self.proc.exitcode != 0:
            raise SystemExit(f"the load process failed (exit code {self.proc.exitcode})")
        if not self.began.value:
            raise SystemExit("the load process never started sending")
        return self.sent.value / (stopped - self.began.value)


def wait_steady(worker: BenchWorker, load: Load, rate: float, warmup: float) -> float:
    """Wait until the worker has been keeping up with the load for `warmup` seconds; its rate."""
    end = time.monotonic() + 120
    while worker.metric("slawatch_events_received_total") < rate:  # generator start-up
        load.check()
        if time.monotonic() > end:
            raise SystemExit("the worker received no load")
        time.sleep(0.5)
    n0, t0 = worker.metric("slawatch_events_received_total"), time.monotonic()
    time.sleep(warmup)
    load.check()
    return (worker.metric("slawatch_events_received_total") - n0) / (time.monotonic() - t0)


# ---------------------------------------------------------------------------- alerting
class TimedWebhook:
    """Alertmanager webhook receiver: keeps (arrival wall time, payload) of every POST."""

    def __init__(self) -> None:
        self.received: list[tuple[float, dict]] = []
        self.changed = threading.Condition()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                arrived = time.time()
                with hook.changed:
                    hook.received.append((arrived, orjson.loads(body)))
                    hook.changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, channel: str, status: str, after: float, timeout: float) -> float:
        """Arrival of the first TicketsBreaching notification for `channel` in `status` (firing or
        resolved) that arrived after wall time `after`."""
        def find() -> float | None:
            for arrived, payload in self.received:
                if arrived > after and any(
                        a["status"] == status and a["labels"].get("alertname") == "TicketsBreaching"
                        and a["labels"].get("channel") == channel
                        and a["labels"].get("priority") == "urgent" for a in payload["alerts"]):
                    return arrived
            return None

        with self.changed:
            if self.changed.wait_for(lambda: find() is not None, timeout=timeout):
                return find()
        raise SystemExit(f"no {status} TicketsBreaching page for channel {channel} within "
                         f"{timeout:.0f} s; notifications: {[p for _, p in self.received][-5:]}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start_alerting(tmp: Path, worker: Worker, webhook: TimedWebhook, daemons: list):
    """Debian Alertmanager + Prometheus (tests/monitoring/daemons.py), as the alert test has them (added to
    `daemons` as they start, for the caller to stop); returns Prometheus."""
    from urllib.parse import urlsplit

    import yaml

    from tests.monitoring import ALERTMANAGER_CONFIG, require_binary
    from tests.monitoring.daemons import Daemon, free_port, start_prometheus

    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook.url + urlsplit(hook["url"]).path
    for route in [config["route"], *config["route"].get("routes", [])]:
        route["group_wait"], route["group_interval"] = "0s", "1s"
    (tmp / "alertmanager.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    am_port = free_port()
    am = Daemon("alertmanager", [
        require_binary("alertmanager", "prometheus-alertmanager"),
        f"--config.file={tmp / 'alertmanager.yml'}", f"--storage.path={tmp / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{am_port}", "--cluster.listen-address="],
        tmp / "alertmanager.log", f"http://127.0.0.1:{am_port}/-/ready")
    daemons.append(am)
    prom = start_prometheus(tmp, [{"job_name": "slawatch",
                                   "static_configs": [{"targets": [f"127.0.0.1:{worker.port}"]}]}],
                            fast_alerts={"TicketsBreaching"}, alertmanager=f"127.0.0.1:{am_port}")
    daemons.append(prom)
    am.wait_ready()
    prom.wait_ready()
    return prom


def wait_target_up(prom, timeout: float = 30) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        with urllib.request.urlopen(f"{prom.url}/api/v1/targets", timeout=2) as r:
            targets = orjson.loads(r.read())["data"]["activeTargets"]
        if targets and all(t["health"] == "up" for t in targets):
            return
        time.sleep(0.3)
    raise SystemExit(f"Prometheus never scraped the worker:\n{prom.tail()}")


async def _send(url: str, topic: str, ev: dict, key: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=url, linger_ms=0)
    await producer.start()
    try:
        await (await producer.send(topic, orjson.dumps(ev), key=key.encode()))
    finally:
        await producer.stop()


def probe_alerts(url: str, worker: Worker, webhook: TimedWebhook, n: int, target_s: float) -> list[float]:
    """`n` urgent probe tickets breaching one after the other; webhook arrival - deadline each."""
    tag = uuid.uuid4().hex[:6]
    topic = worker.topics["support.tickets"]
    out = []
    solved_at: dict[str, float] = {}
    for i in range(n):
        channel = ALERT_CHANNELS[i % len(ALERT_CHANNELS)]
        if channel in solved_at:  # the channel's alert must be resolved before it is reused
            webhook.page(channel, "resolved", after=solved_at[channel], timeout=60)
        time.sleep(random.uniform(0.0, 1.0))  # random phase against scrape and evaluation
        ticket = f"{PROBE}-{tag}-{i}"
        start = datetime.now(timezone.utc)
        asyncio.run(_send(url, topic, {
            "event_id": uuid.uuid4().hex, "type": "ticket.created", "occurred_at": start.isoformat(),
            "ticket_id": ticket, "channel": channel, "priority": "urgent", "category": PROBE,
            "customer_id": "bench"}, ticket))
        deadline = start.timestamp() + target_s
        out.append(webhook.page(channel, "firing", after=start.timestamp(),
                                timeout=target_s + 60) - deadline)
        solved_at[channel] = time.time()
        asyncio.run(_send(url, topic, {
            "event_id": uuid.uuid4().hex, "type": "ticket.status_changed",
            "occurred_at": datetime.now(timezone.utc).isoformat(), "ticket_id": ticket,
            "status": "solved"}, ticket))
    return out


# ---------------------------------------------------------------------------- report
def quantile(values: list[float], q: float) -> float:
    """Inclusive-method quantile (with 25 values, p99 lies between the two largest)."""
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def row(name: str, values: list[float], bound: float) -> str:
    p50 = quantile(values, 0.5)
    return (f"  {name:<52} {len(values):>3}  {p50:6.2f}  {quantile(values, 0.99):6.2f}"
            f"  {max(values):6.2f}  {bound:6.2f}  {p50 / bound:5.2f}x")


def delays(case: str, probes: list[dict], bound: float) -> list[tuple[str, list[float], float]]:
    return [(f"{case}: record received from sla.events", [p["received"] - p["deadline"] for p in probes], bound),
            (f"{case}: record's Kafka timestamp", [p["kafka_ts"] - p["deadline"] for p in probes], bound)]


def probe_arguments(description: str | None) -> argparse.ArgumentParser:
    """The options every probe benchmark shares (this one and bench/e2e_delay.py)."""
    ap = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--probes", type=int, default=25, help="probes per case (a), (b)")
    ap.add_argument("--spacing", type=float, default=1.0, help="seconds between probes (x 1-1.5)")
    ap.add_argument("--rate", type=float, default=5000, help="background events/s in case (b); 0: skip")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds of load before probing")
    ap.add_argument("--target", type=float, default=2.0, help="probe target, seconds")
    ap.add_argument("--lateness", type=float, default=1.0, help="SLAWATCH_ALLOWED_LATENESS_S")
    ap.add_argument("--tick", type=float, default=0.1, help="SLAWATCH_TICK_INTERVAL_S")
    ap.add_argument("--idle-after", type=float, default=0.5, help="SLAWATCH_IDLE_AFTER_S")
    return ap


def main() -> None:
    ap = probe_arguments(__doc__)
    ap.add_argument("--alerts", type=int, default=6, help="probe tickets in case (c); 0: skip")
    ap.add_argument("--random-partitions", action="store_true",
                    help="key probes at random instead of one partition after the other: sparse "
                         "live traffic on the probes' partitions (before the sequencer fix of "
                         "2026-11-23 it held breaches back by up to --idle-after)")
    args = ap.parse_args()
    if args.spacing <= args.idle_after:
        raise SystemExit("--spacing must exceed --idle-after, or the input is never idle")
    if not args.random_partitions and PARTITIONS * args.spacing < args.target + args.lateness + args.tick:
        raise SystemExit(f"--spacing too small: a probe's partition would get the probe {PARTITIONS} "
                         "later before the first one's breach is due")
    print("command:", shlex.join([".venv/bin/python", "bench/latency.py", *sys.argv[1:]]))
    print(f"worker: allowed lateness {args.lateness:g} s, tick {args.tick:g} s, idle after "
          f"{args.idle_after:g} s; probe target {args.target:g} s; cores: {os.cpu_count()}, "
          f"load avg {os.getloadavg()[0]:.1f}", flush=True)
    bound = args.lateness + args.tick
    results: list[tuple[str, list[float], float]] = []
    with EmbeddedBroker() as kafka, tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        rules = probe_rules(tmp, args.target)
        url = kafka.url

        w = start_worker(kafka, tmp, rules, args)
        try:
            time.sleep(1.0)
            idle = asyncio.run(probe_conversations(url, w, args.probes, args.spacing, args.target,
                                                   spread=not args.random_partitions))
        finally:
            w.stop()
        results += delays("(a) idle", idle, bound)
        print(f"(a) done: {len(idle)} breaches", flush=True)

        if args.rate > 0:
            w = start_worker(kafka, tmp, rules, args)
            load = Load(url, w, args.rate).start()
            try:
                consumed = wait_steady(w, load, args.rate, args.warmup)
                busy = asyncio.run(probe_conversations(url, w, args.probes, args.spacing, args.target,
                                                       spread=not args.random_partitions))
                load.check()
            finally:
                delivered = load.stop()
                w.stop()
            label = f"{args.rate:,.0f} ev/s"
            results += delays(f"(b) {label}", busy, bound)
            print(f"(b) done: load delivered {delivered:,.0f} events/s, the worker received "
                  f"{consumed:,.0f}/s during the warm-up", flush=True)
            if delivered < 0.9 * args.rate:
                print(f"    WARNING: the load fell short of {args.rate:,.0f} events/s", flush=True)

        if args.alerts > 0:
            w = start_worker(kafka, tmp, rules, args)
            webhook = TimedWebhook()
            daemons: list = []
            try:
                prom = start_alerting(tmp, w, webhook, daemons)
                wait_target_up(prom)
                alerts = probe_alerts(url, w, webhook, args.alerts, args.target)
            finally:
                for daemon in reversed(daemons):
                    daemon.stop()
                webhook.close()
                w.stop()
            # scrape 1 s + evaluation 1 s + `for: 0s` + group_wait 0 s after the worker's bound
            results.append(("(c) idle: Alertmanager webhook (TicketsBreaching)", alerts, bound + 2.0))
            print(f"(c) done: {len(alerts)} pages", flush=True)

    print(f"seconds after the deadline; bound = lateness + tick = {bound:g} s for records, "
          f"+ scrape 1 s + evaluation 1 s + for 0 s + group_wait 0 s = {bound + 2:g} s for pages")
    print(f"  {'case':<52} {'n':>3}  {'p50':>6}  {'p99':>6}  {'max':>6}  {'bound':>6}  p50/bound")
    for name, values, b in results:
        print(row(name, values, b))


if __name__ == "__main__":
    main()
