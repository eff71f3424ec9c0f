"""The live pipeline: a Faust app whose agent feeds batches of input to `PartitionProcessor`s.

The agent is thin. It takes a batch with `noack_take`, hands each message to the processor of
its topic-partition, lets every processor's clock tick, then sends what the processors produced
(SLA records to `sla.events`, closed metric windows, dead letters), writes the changed entity
states to the `sla-state` table, flushes, and only then acknowledges the messages that are done.
A message the sequencer still holds (not yet passed by the watermark) stays unacknowledged, so
its offset is not committed and a restarted worker reads it again.

Faust's windowed tables are not used: they close on wall time and lose windows on restart.
Windows close on our own event-time watermark (`streams.core.metrics`), and a timer keeps the
clock moving while the input is idle so that breaches fire with no further event.

Table writes go to the local store plus an explicit changelog record in the *source* partition
(after `noack_take` there is no current event for Faust to take the partition from); the key
carries the partition number so that recovery can route each entity back to its processor.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import faust
import orjson

from .core.metrics import window_id
from .core.policy import load_policies
from .core.state import StateError, load_entity
from .core.timeutil import US, format_us
from .processor import Outputs, PartitionProcessor, kind_of_topic
from .settings import Settings

log = logging.getLogger("slawatch")

STATE_TABLE = "sla-state"
CLOCK_SAVE_INTERVAL_US = 1_000_000


def wall_us() -> int:
    return time.time_ns() // 1000


class Pipeline:
    """Everything the worker holds: processors per input topic-partition, and output plumbing."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.policies = load_policies(settings.rules)
        self.processors: dict[tuple[str, int], PartitionProcessor] = {}
        self.table = app.Table(STATE_TABLE, default=None, partitions=settings.partitions,
                               key_type=bytes, value_type=bytes)
        self.lock = asyncio.Lock()
        self.stream: Any = None
        self.held: dict[tuple[str, int], dict[int, Any]] = {}
        self.tallies: dict[str, int] = {}
        self.recent_windows: list = []
        self.totals = {"records": 0, "windows": 0, "dead_letters": 0, "batches": 0}
        self.clock_saved: dict[tuple[str, int], int] = {}
        self.pending_acks: set[asyncio.Future] = set()

    # ------------------------------------------------------------------ processors
    def processor(self, topic: str, partition: int) -> PartitionProcessor:
        p = self.processors.get((topic, partition))
        if p is None:
            p = self._restore(topic, partition)
            self.processors[(topic, partition)] = p
        return p

    def _restore(self, topic: str, partition: int) -> PartitionProcessor:
        s = self.settings
        kind = kind_of_topic(topic, s)
        p = PartitionProcessor(topic, partition, kind, self.policies, lateness_us=s.lateness_us,
                               idle_after_us=int(s.idle_after_s * US),
                               future_skew_us=int(s.future_skew_s * US),
                               ended_retention_us=int(s.ended_retention_s * US))
        prefix = f"{partition}|{kind[0]}:".encode()
        clock_key = f"{partition}|clock:{kind}".encode()
        entities = []
        for key, value in list(self.table.data.items()):
            if key.startswith(prefix) and value is not None:
                try:
                    entities.append(load_entity(value, p.engine))
                except StateError as exc:  # keep running: one bad entry must not stop a partition
                    log.error("skipping unreadable state %r: %s", key, exc)
        clock = self.table.data.get(clock_key)
        if clock is not None:
            p.restore_clock(clock, wall_us())
        p.engine.restore(entities)
        if entities or clock is not None:
            log.info("restored %s/%d: %d entities, watermark %s", topic, partition, len(entities),
                     format_us(p.sequencer.watermark) if p.sequencer.newest is not None else "-")
        return p

    def forget(self, tps) -> None:
        for tp in tps:
            self.processors.pop((tp.topic, tp.partition), None)
            self.held.pop((tp.topic, tp.partition), None)

    # ------------------------------------------------------------------ batches
    async def handle_batch(self, batch: list) -> None:
        async with self.lock:
            wall = wall_us()
            done: list = []
            for event in batch:
                msg = event.message
                p = self.processor(msg.topic, msg.partition)
                done += p.ingest(msg.offset, msg.value if msg.value is not None else b"", wall, token=event)
            self.totals["batches"] += 1
            await self._tick_and_flush(wall, done)

    async def tick(self) -> None:
        async with self.lock:
            await self._tick_and_flush(wall_us(), [])

    async def _tick_and_flush(self, wall: int, done: list) -> None:
        outputs = []
        frontier = None
        for p in self.processors.values():
            seq = p.sequencer
            if seq.newest is not None and (frontier is None or seq.newest > frontier[0]):
                frontier = (seq.newest, seq.wall_at_newest)
        for (topic, partition), p in list(self.processors.items()):
            done += p.tick(wall, frontier)
            out = p.drain()
            if out.records or out.windows or out.dead_letters or out.states:
                outputs.append((p, out))
        futures = await self._send(outputs) if outputs else []
        if done or futures:
            # Acknowledge once the broker has confirmed every output and state write of this
            # step; waiting in a task lets the next batch be processed meanwhile (pipelined),
            # instead of one broker round trip per batch.
            task = asyncio.ensure_future(self._ack_when_durable(futures, done))
            self.pending_acks.add(task)
            task.add_done_callback(self.pending_acks.discard)

    async def _ack_when_durable(self, futures: list, done: list) -> None:
        for fut in futures:
            await fut
        stream = self.stream
        if stream is not None:
            for event in done:
                await stream.ack(event)

    async def _send(self, outputs: list[tuple[PartitionProcessor, Outputs]]) -> list:
        """Send every output and state write; return the futures that confirm them."""
        s = self.settings
        producer = self.app.producer
        futures = []
        for p, out in outputs:
            for rec in out.records:
                self.tallies[rec.status] = self.tallies.get(rec.status, 0) + 1
                futures.append(await producer.send(s.sla_events_topic, rec.entity_id.encode(),
                                                   rec.to_json(extended=True), None, None, None))
            for start, dims, agg in out.windows:
                body = {"window_id": window_id(start, dims), "window_start": format_us(start),
                        "window_seconds": 60, "entity_kind": dims[0], "channel": dims[1],
                        "queue": dims[2], "priority": dims[3], "customer_tier": dims[4],
                        "category": dims[5], "agent_id": dims[6], **agg.to_dict()}
                futures.append(await producer.send(s.metrics_topic, body["window_id"].encode(),
                                                   orjson.dumps(body), None, None, None))
            for dl in out.dead_letters:
                futures.append(await producer.send(s.dead_letter_topic, dl.key, dl.to_json(),
                                                   None, None, None))
            part = p.partition
            for key, value in out.states.items():
                k = f"{part}|{key}".encode()
                if value is None:
                    self.table.data.pop(k, None)
                else:
                    self.table.data[k] = value
                futures.append(self.table.send_changelog(part, k, value))
            # The clock (watermark + open metric windows) is a larger value: persisting it once a
            # second bounds the work; after a crash the watermark restarts a little earlier,
            # which only re-fires records that carry the same ids.
            last = self.clock_saved.get((p.topic, part), 0)
            if wall_us() - last >= CLOCK_SAVE_INTERVAL_US or out.windows:
                ck = f"{part}|clock:{p.kind}".encode()
                cv = p.clock_state()
                self.table.data[ck] = cv
                futures.append(self.table.send_changelog(part, ck, cv))
                self.clock_saved[(p.topic, part)] = wall_us()
            self.totals["records"] += len(out.records)
            self.totals["windows"] += len(out.windows)
            self.totals["dead_letters"] += len(out.dead_letters)
            if out.windows:
                self.recent_windows = (self.recent_windows + out.windows)[-2000:]
        return futures

    # ------------------------------------------------------------------ status
    def status(self) -> dict:
        from .status import snapshot

        return snapshot(list(self.processors.values()), wall_us(), tallies=self.tallies,
                        recent_windows=self.recent_windows)


def create_app(settings: Settings | None = None) -> tuple[faust.App, Pipeline]:
    settings = settings or Settings()
    if settings.embedded:
        from . import tansu_compat

        tansu_compat.enable()
    cred = settings.kafka_credentials()
    broker_credentials = None
    if settings.sasl_mechanism:
        broker_credentials = faust.SASLCredentials(
            username=settings.sasl_username,
            password=settings.sasl_password.get_secret_value() if settings.sasl_password else None,
            mechanism=settings.sasl_mechanism,
            ssl_context=cred.get("ssl_context"))
    elif "ssl_context" in cred:
        broker_credentials = cred["ssl_context"]
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{b}" for b in settings.bootstrap_servers()],
        broker_credentials=broker_credentials,
        store="memory://",
        # Every output carries a deterministic id, so at-least-once is enough (and the embedded
        # broker has no transactions for exactly_once).
        processing_guarantee="at_least_once",
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        broker_session_timeout=settings.broker_session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.broker_session_timeout_s / 5),
        broker_commit_interval=0.5,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        web_enabled=settings.http_port > 0,
        web_bind=settings.http_host,
        web_port=settings.http_port or 6066,
        web_in_thread=False,
    )
    pipeline = Pipeline(app, settings)
    source = app.topic(settings.conversations_topic, settings.tickets_topic,
                       key_serializer="raw", value_serializer="raw", partitions=settings.partitions)

    async def process(stream: faust.StreamT) -> None:
        pipeline.stream = stream
        async for batch in stream.noack_take(settings.batch_max, within=settings.batch_within_s):
            await pipeline.handle_batch(batch)

    app.agent(source, name="sla")(process)

    @app.timer(interval=settings.tick_interval_s)
    async def tick() -> None:  # the clock keeps moving while the input is idle
        await pipeline.tick()

    @app.on_partitions_revoked.connect
    async def on_revoked(app: faust.App, revoked, **kwargs: Any) -> None:
        async with pipeline.lock:
            pipeline.forget(revoked)

    @app.page("/status")
    async def status_page(web, request):  # supervisors' live view polls this
        return web.json(pipeline.status())

    @app.page("/health")
    async def health_page(web, request):
        return web.json({"ok": True, "partitions": len(pipeline.processors)})

    return app, pipeline


def run_worker(settings: Settings | None = None, loglevel: str = "warning") -> None:
    app, _ = create_app(settings)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True)
    worker.execute_from_commandline()
