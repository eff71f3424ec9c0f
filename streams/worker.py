"""The live worker on plain aiokafka: batched consumption, changelogged state, commits after output.

Why not a Faust agent: measured on this project's machines (BENCHMARKS.md), a Faust agent that
does nothing but `noack_take` and ack tops out at 8-15k events/s, because Faust hands every
message through asyncio tasks; slawatch's own work was under 10 % of the Faust worker's
profile. This worker reads with `getmany` (thousands of messages per call) and drives the same
`PartitionProcessor`s that the tests drive directly.

Per loop iteration:
1. `getmany` a batch; each message goes to the processor of its topic-partition;
2. every processor's clock ticks (so breaches fire while the input is idle too);
3. outputs are sent: SLA records, closed metric windows, dead letters, and the changed entity
   states to the state changelog topic, in the *source* partition number;
4. once the broker has confirmed all of them, offsets are committed. The committed offset of a
   partition is the oldest message its sequencer still holds for ordering, so a restarted
   worker reads again exactly what was not yet applied (plus what was applied after the last
   commit, which the per-entity de-dup skips and whose records carry the same ids).

Partitions are assigned with the range assignor: input topics with equal partition counts give
one worker partition p of both, and the state of partition p lives in changelog partition p.
On assignment the worker restores that partition's entities from the changelog.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import time
from typing import Any, Iterable

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import KafkaError

from .core import core_build_status
from .core.policy import load_policies
from .core.state import StateError, load_entity
from .core.timeutil import US
from .core.window_json import window_message
from .processor import Outputs, PartitionProcessor, kind_of_topic
from .service import run_until_signalled, serve_http
from .settings import Settings

log = logging.getLogger("slawatch.worker")

CLOCK_SAVE_INTERVAL_US = 1_000_000
MAX_IN_FLIGHT = 4


# How long closing the Kafka clients may take on the way out.
_SHUTDOWN_S = 10.0
# How long reading the state changelog may go without receiving anything before it is an error.
_CHANGELOG_STALL_S = 30.0


def wall_us() -> int:
    return time.time_ns() // 1000


def changelog_topic(settings: Settings) -> str:
    return f"{settings.app_id}-sla-state-changelog"


class _Batches:
    """One step's producer batches, one per output topic and partition number (more when one
    fills up): filled by `Worker._send`, handed to the producer by `Worker._submit`."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer
        self.open: dict[tuple[str, int], Any] = {}
        self.ready: list[tuple[str, int, Any]] = []

    def add(self, topic: str, part: int, key: bytes, value: bytes | None) -> None:
        self.add_all(topic, part, ((key, value),))

    def add_all(self, topic: str, part: int, messages: Iterable[tuple[bytes, bytes | None]]) -> None:
        """Append (key, value) pairs; a full batch is set aside and a new one started."""
        batch = self.open.get((topic, part))
        append = batch.append if batch is not None else None
        for key, value in messages:
            if append is None:  # the first message of this step for (topic, part)
                batch = self.open[(topic, part)] = self.producer.create_batch()
                append = batch.append
            if append(key=key, value=value, timestamp=None) is None:  # full: start anew
                self.ready.append((topic, part, batch))
                batch = self.open[(topic, part)] = self.producer.create_batch()
                append = batch.append
                append(key=key, value=value, timestamp=None)

    def finish(self) -> list[tuple[str, int, Any]]:
        """Every non-empty batch as (topic, partition number, batch), each (topic, partition)'s
        in the order they were filled."""
        self.ready += [(topic, part, batch) for (topic, part), batch in self.open.items()
                       if batch.record_count()]
        self.open.clear()
        return self.ready


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, worker: "Worker") -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked) -> None:
        await self.worker.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned) -> None:
        await self.worker.on_assigned(assigned)


class Worker:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.policies = load_policies(settings.rules)
        self.processors: dict[tuple[str, int], PartitionProcessor] = {}
        self.position: dict[TopicPartition, int] = {}
        self.clock_saved: dict[tuple[str, int], int] = {}
        self.tallies: dict[str, int] = {}
        self.recent_windows: list = []
        self.totals = {"records": 0, "windows": 0, "dead_letters": 0, "batches": 0}
        self.consumer: AIOKafkaConsumer | None = None
        self.failed: str | None = None   # why the processing loop stopped (then /health is 503)
        self._fatal: Exception | None = None  # raised in a rebalance callback, re-raised by the loop
        self.commit_failures = 0
        self.producer: AIOKafkaProducer | None = None
        self._last_commit = 0.0
        from sinks.prometheus import WorkerMetrics

        self.metrics = WorkerMetrics(self.policies)
        self.metrics.bind(lambda: list(self.processors.values()), wall_us, self.consumer_lag)
        from .policy_reload import PolicyReloader

        self.reloader = PolicyReloader(settings.rules, self.policies, self.metrics.registry)
        self._confirming: list[asyncio.Future] = []
        self._step_batches: _Batches | None = None   # the outputs of the step in progress
        self._confirmed: dict[TopicPartition, int] = {}
        # Per processor, the watermark of the newest step whose outputs are confirmed (/status).
        self._published: dict[tuple[str, int], int] = {}
        # Set while no rebalance listener is restoring partitions (step waits for it).
        self._assigning = asyncio.Event()
        self._assigning.set()
        # State restores (/status "restore"): rebalances handled, changelog reads, time spent.
        self.restores = {"assignments": 0, "changelog_reads": 0, "seconds": 0.0}

    # ------------------------------------------------------------------ lifecycle
    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        if s.embedded:
            from . import tansu_compat

            tansu_compat.enable()
        core = core_build_status()
        if core["compiled"]:
            log.info("SLA core compiled: %s", ", ".join(core["compiled"]))
        else:
            log.warning("SLA core runs as pure Python (slower, same results): %s", core["why"])
        common = dict(bootstrap_servers=s.bootstrap_servers(), **s.kafka_credentials())
        await self._ensure_changelog(common)
        self.producer = AIOKafkaProducer(linger_ms=5, acks="all", max_batch_size=1 << 20, **common)
        self.consumer = AIOKafkaConsumer(
            group_id=s.app_id, enable_auto_commit=False, auto_offset_reset="earliest",
            session_timeout_ms=int(s.broker_session_timeout_s * 1000),
            heartbeat_interval_ms=max(100, int(s.broker_session_timeout_s * 200)),
            max_poll_records=s.batch_max, max_partition_fetch_bytes=4 << 20,
            partition_assignment_strategy=(RangePartitionAssignor,),
            # The embedded broker forgets every topic when it restarts (memory storage): look
            # again soon, so recreated input topics are found in seconds, not in 5 minutes.
            metadata_max_age_ms=5000 if s.embedded else 300_000, **common)
        await self.producer.start()
        web = await self._start_web() if s.http_port else None
        try:
            await self.consumer.start()
            self.consumer.subscribe([s.conversations_topic, s.tickets_topic],
                                    listener=_Rebalance(self))
            timeout_ms = int(min(s.batch_within_s, s.tick_interval_s) * 1000)
            self._on_sighup()
            while not stop.is_set():
                batch = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=s.batch_max)
                if self._fatal is not None:
                    raise self._fatal
                await self.step(batch)
                if self.reloader.due():
                    await self.reload_policies()
        except BaseException as exc:
            # Outputs of the failed step may not have reached Kafka: the only safe way on is a
            # restart from the changelog and the committed offsets. Say so on /health while the
            # process winds down, and exit non-zero so the supervisor restarts it.
            self.failed = f"{type(exc).__name__}: {exc}"
            raise
        finally:
            try:
                await asyncio.wait_for(self.commit(), _SHUTDOWN_S)
            except Exception:  # noqa: BLE001 - shutting down; the uncommitted part is re-read
                log.exception("final commit failed")
            # Bounded: with the broker gone these would wait for it indefinitely.
            for close in (self.consumer.stop, self.producer.stop):
                try:
                    await asyncio.wait_for(close(), _SHUTDOWN_S)
                except Exception:  # noqa: BLE001 - exiting anyway
                    log.warning("Kafka client did not close cleanly", exc_info=True)
            if web is not None:
                await web.cleanup()

    async def _ensure_changelog(self, common: dict) -> None:
        from aiokafka.admin import AIOKafkaAdminClient, NewTopic
        from aiokafka.errors import TopicAlreadyExistsError

        admin = AIOKafkaAdminClient(**common)
        await admin.start()
        try:
            topic = NewTopic(changelog_topic(self.settings), num_partitions=self.settings.partitions,
                             replication_factor=1, topic_configs={"cleanup.policy": "compact"})
            try:
                await admin.create_topics([topic])
            except TopicAlreadyExistsError:
                pass
        finally:
            await admin.close()

    def consumer_lag(self) -> dict[tuple[str, int], int]:
        """Messages behind the end of each assigned partition, as of the last fetch."""
        consumer, out = self.consumer, {}
        if consumer is None:
            return out
        for tp in consumer.assignment():
            end = consumer.highwater(tp)
            # Nothing read from it yet: known only when the partition is empty.
            pos = self.position.get(tp, 0 if end == 0 else None)
            if end is not None and pos is not None:
                out[(tp.topic, tp.partition)] = max(0, end - pos)
        return out

    # ------------------------------------------------------------------ rebalance
    async def on_revoked(self, revoked) -> None:
        await self.commit()
        for tp in revoked:
            gone = self.processors.pop((tp.topic, tp.partition), None)
            if gone is not None:
                self.metrics.forget_processor(gone)
            self.position.pop(tp, None)
            self._confirmed.pop(tp, None)
            self._published.pop((tp.topic, tp.partition), None)

    async def on_assigned(self, assigned) -> None:
        done = self._assigning = asyncio.Event()
        started = time.monotonic()
        try:
            await self._on_assigned(assigned)
        except Exception as exc:  # noqa: BLE001 - aiokafka would only log it: make it fatal
            self._fatal = exc
        finally:
            done.set()
            self.restores["assignments"] += 1
            self.restores["seconds"] += time.monotonic() - started

    async def _on_assigned(self, assigned) -> None:
        numbers = sorted({tp.partition for tp in assigned})
        # A rejoin after the cluster lost its metadata (an embedded broker restarted, a topic
        # deleted by hand) must not leave state writes with nowhere to go.
        try:
            await self._ensure_changelog(dict(bootstrap_servers=self.settings.bootstrap_servers(),
                                              **self.settings.kafka_credentials()))
        except KafkaError as exc:  # the state writes will fail loudly if it really is missing
            log.warning("could not check the state changelog topic: %s", exc)
        states = await self._read_changelog(numbers)
        for tp in assigned:
            if (tp.topic, tp.partition) not in self.processors:
                self.processors[(tp.topic, tp.partition)] = self._restore(tp, states.get(tp.partition, {}))

    async def _read_changelog(self, partitions: list[int]) -> dict[int, dict[bytes, bytes]]:
        s = self.settings
        topic = changelog_topic(s)
        tps = [TopicPartition(topic, p) for p in partitions]
        out: dict[int, dict[bytes, bytes]] = {p: {} for p in partitions}
        if not tps:
            return out
        self.restores["changelog_reads"] += 1
        reader = AIOKafkaConsumer(bootstrap_servers=s.bootstrap_servers(), group_id=None,
                                  enable_auto_commit=False, **s.kafka_credentials())
        await reader.start()
        try:
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            ends = await reader.end_offsets(tps)
            todo = {tp for tp in tps if ends[tp] > 0}
            progress_at = time.monotonic()
            while todo:
                if time.monotonic() - progress_at > _CHANGELOG_STALL_S:
                    # Never seen on Kafka; seen on an embedded broker that lost its log. Starting
                    # with part of the state would give wrong records: stop loudly instead.
                    stuck = {f"{tp.partition}": f"{await reader.position(tp)}/{ends[tp]}" for tp in todo}
                    raise RuntimeError(f"state changelog {topic} unreadable: no data for "
                                       f"{_CHANGELOG_STALL_S:g} s at partition position/end {stuck}")
                batch = await reader.getmany(*todo, timeout_ms=1000, max_records=10000)
                if batch:
                    progress_at = time.monotonic()
                for tp, msgs in batch.items():
                    store = out[tp.partition]
                    for m in msgs:
                        if m.value is None:
                            store.pop(m.key, None)
                        else:
                            store[m.key] = m.value
                for tp in list(todo):
                    if await reader.position(tp) >= ends[tp]:
                        todo.discard(tp)
        finally:
            await reader.stop()
        return out

    def _restore(self, tp: TopicPartition, store: dict[bytes, bytes]) -> PartitionProcessor:
        s = self.settings
        kind = kind_of_topic(tp.topic, s)
        p = PartitionProcessor(tp.topic, tp.partition, kind, self.policies,
                               lateness_us=s.lateness_us, idle_after_us=int(s.idle_after_s * US),
                               future_skew_us=int(s.future_skew_s * US),
                               ended_retention_us=int(s.ended_retention_s * US))
        prefix = f"{tp.partition}|{kind[0]}:".encode()
        entities = []
        for key, value in store.items():
            if key.startswith(prefix):
                try:
                    entities.append(load_entity(value, p.engine))
                except StateError as exc:  # one bad entry must not stop a partition
                    log.error("skipping unreadable state %r: %s", key, exc)
        clock = store.get(f"{tp.partition}|clock:{kind}".encode())
        if clock is not None:
            p.restore_clock(clock, wall_us())
        p.engine.restore(entities)
        return p

    # ------------------------------------------------------------------ processing
    async def step(self, batch: dict) -> None:
        wall = wall_us()
        for tp, msgs in batch.items():
            p = self.processors.get((tp.topic, tp.partition))
            if p is None and not self._assigning.is_set():
                # aiokafka fetches as soon as the assignment is known, while the rebalance
                # listener is still restoring it: wait for that restore rather than reading
                # the changelog a second time, partition by partition (~1 s each, and a full
                # read of the state each time).
                await self._assigning.wait()
                if self._fatal is not None:
                    raise self._fatal
                p = self.processors.get((tp.topic, tp.partition))
            if p is None:  # assigned between listener and fetch: restore it now
                p = self.processors[(tp.topic, tp.partition)] = self._restore(
                    tp, (await self._read_changelog([tp.partition]))[tp.partition])
            ingest = p.ingest
            for m in msgs:
                ingest(m.offset, m.value if m.value is not None else b"", wall)
            self.position[tp] = msgs[-1].offset + 1
        if batch:
            self.totals["batches"] += 1
        # A snapshot: a rebalance may add or remove processors while this step awaits sends.
        processors = list(self.processors.values())
        consumer = self.consumer
        frontier = None
        for p in processors:
            seq = p.sequencer
            if consumer is not None:
                # A partition with unread messages is not idle, whatever the wall time since its
                # last arrival: its backlog must not be overtaken by the wall clock.
                tp = TopicPartition(p.topic, p.partition)
                high, pos = consumer.highwater(tp), self.position.get(tp)
                if high is not None and pos is not None and pos < high:
                    seq.last_arrival = wall
                seq.caught_up = high is not None and pos is not None and pos >= high
            if seq.newest is not None and (frontier is None or seq.newest > frontier[0]):
                frontier = (seq.newest, seq.wall_at_newest)
        self._step_batches = _Batches(self.producer)
        for p in processors:
            p.tick(wall, frontier)
            out = p.drain()
            self.metrics.observe_processor(p)
            self.metrics.observe_records(out.records)
            self.metrics.observe_dead_letters(p.kind, out.dead_letters)
            await self._send(p, out, wall)
        batches, self._step_batches = self._step_batches.finish(), None
        futures = await self._submit(batches)
        # Offsets move only once this step's outputs (and every earlier step's) are confirmed.
        # Confirmation runs in a chained task while the next batch is processed: one broker
        # round trip per step would otherwise cap the worker; at most MAX_IN_FLIGHT steps wait.
        prev = self._confirming[-1] if self._confirming else None
        marks = {(p.topic, p.partition): p.sequencer.watermark for p in processors}
        task = asyncio.ensure_future(self._confirm(prev, futures, self._committable(), marks))
        self._confirming.append(task)
        while len(self._confirming) > MAX_IN_FLIGHT or (self._confirming and self._confirming[0].done()):
            await self._confirming.pop(0)
        if time.monotonic() - self._last_commit >= 0.5:
            await self.commit(wait=False)

    async def _confirm(self, prev, futures: list, offsets: dict, marks: dict) -> None:
        if prev is not None:
            await prev
        if futures:
            await asyncio.gather(*futures)
        self._confirmed.update(offsets)
        self._published.update(marks)

    def _committable(self) -> dict:
        """Per partition, the oldest offset not yet applied (held ones will be re-read)."""
        offsets = {}
        for tp, pos in self.position.items():
            p = self.processors.get((tp.topic, tp.partition))
            held = p.sequencer.oldest_held_seq() if p is not None else None
            offsets[tp] = held if held is not None else pos
        return offsets

    async def _send(self, p: PartitionProcessor, out: Outputs, wall: int) -> None:
        """Encode every output of one processor into this step's producer batches.

        Outputs go to the input partition's number (modulo the output topic's partitions):
        the input partition was chosen from the entity id, so one entity's records still land
        in one output partition, in order, and no key has to be hashed again. Messages are
        appended to producer batches, not sent one by one (a future per message is costly);
        the conversation and ticket processors of one number share them.
        """
        s, part = self.settings, p.partition
        out_batches = self._step_batches
        add_all = out_batches.add_all
        tallies = self.tallies
        for rec in out.records:
            tallies[rec.status] = tallies.get(rec.status, 0) + 1
        add_all(s.sla_events_topic, part, ((rec.entity_id.encode(), rec.to_json(extended=True))
                                           for rec in out.records))
        add_all(s.metrics_topic, part, (window_message(start, dims, agg, part)
                                        for start, dims, agg in out.windows))
        add_all(s.dead_letter_topic, part, ((dl.key, dl.to_json()) for dl in out.dead_letters))
        changelog = changelog_topic(s)
        add_all(changelog, part, ((f"{part}|{key}".encode(), value)
                                  for key, value in out.states.items()))
        # The clock (watermark + open windows) is larger: once a second, or when windows close.
        if out.windows or wall - self.clock_saved.get((p.topic, part), 0) >= CLOCK_SAVE_INTERVAL_US:
            out_batches.add(changelog, part, f"{part}|clock:{p.kind}".encode(), p.clock_state())
            self.clock_saved[(p.topic, part)] = wall
        self.totals["records"] += len(out.records)
        self.totals["windows"] += len(out.windows)
        self.totals["dead_letters"] += len(out.dead_letters)
        if out.windows:
            self.recent_windows = (self.recent_windows + out.windows)[-2000:]

    async def _submit(self, batches: list) -> list:
        """Hand one step's batches to the producer; return the futures that confirm them.

        aiokafka accepts a batch for a partition only once the previous one for it has left
        (one produce request in flight per broker), so each output partition gets one batch
        per step: the conversation and ticket processors of a number used to send one each,
        and the second waited a broker round trip for the first."""
        futures = []
        counts: dict[str, int] = {}
        for topic, part, batch in batches:
            n = counts.get(topic)
            if n is None:
                n = counts[topic] = len(await self.producer.partitions_for(topic))
            futures.append(await self.producer.send_batch(batch, topic, partition=part % n))
        return futures

    async def commit(self, wait: bool = True) -> None:
        """Commit the confirmed offsets; `wait`: first confirm every step in flight."""
        if self.consumer is None:
            return
        if wait:
            while self._confirming:
                await self._confirming.pop(0)
        assigned = self.consumer.assignment()
        offsets = {tp: o for tp, o in self._confirmed.items() if tp in assigned}
        if offsets:
            try:
                await self.consumer.commit(offsets)
            except KafkaError as exc:
                # Not fatal: the group moved on (rebalance, or a broker that lost it). Whatever
                # is not committed is read again by whoever owns the partition, and every output
                # is idempotent (record ids, keyed state), so nothing is lost or double counted.
                self.commit_failures += 1
                log.warning("offset commit failed (%s); the uncommitted part will be re-read", exc)
        self._last_commit = time.monotonic()

    # ------------------------------------------------------------------ policy reload
    def _on_sighup(self) -> None:
        import signal

        try:
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, self.reloader.request)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals
            log.debug("no SIGHUP handler: the policy file is still watched for changes")

    async def reload_policies(self) -> None:
        """Re-read the policy file; if valid, re-match every open entity (streams.policy_reload).
        Between steps, so no batch sees two policy sets."""
        from .policy_reload import reload_engines

        loaded = await self.reloader.load()
        if loaded is None:
            return
        old = self.reloader.current
        self.policies = loaded.policies
        n = reload_engines((p.engine for p in self.processors.values()), old, loaded)
        self.reloader.applied(loaded, n)

    # ------------------------------------------------------------------ status
    def status(self) -> dict:
        from .status import snapshot

        return {**snapshot(list(self.processors.values()), wall_us(), tallies=self.tallies,
                           recent_windows=self.recent_windows, published=self._published),
                "policy": self.reloader.status(), "core": core_build_status(),
                "restore": {**self.restores, "seconds": round(self.restores["seconds"], 3)}}

    async def _start_web(self):
        from aiohttp import web

        async def status(request):
            return web.Response(body=orjson.dumps(self.status()), content_type="application/json")

        async def metrics(request):
            from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

            return web.Response(body=generate_latest(self.metrics.registry),
                                headers={"Content-Type": CONTENT_TYPE_LATEST})

        async def health(request):
            body = {"ok": self.failed is None, "partitions": len(self.processors),
                    "commit_failures": self.commit_failures}
            if self.failed is not None:
                body["error"] = self.failed
            return web.json_response(body, status=200 if self.failed is None else 503)

        return await serve_http([("GET", "/status", status), ("GET", "/health", health),
                                 ("GET", "/metrics", metrics)],
                                self.settings.http_host, self.settings.http_port)


# The cyclic garbage collector, tuned for a process holding a large, long-lived state. With
# the defaults (700, 10, 10) a collection ran every few hundred consumer records and kept
# rescanning every open entity, clock and window cell: 14 % of the worker's time under load
# (py-spy, bench/pipeline.py). Everything loaded at start-up is frozen out of the collector's
# view; then a young collection runs every 50,000 new objects and an older one far more rarely.
# Reference counting still frees almost everything at once (the engine breaks its own cycles
# when a conversation ends), so only rare cyclic garbage waits longer.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def run_worker(settings: Settings | None = None) -> None:
    settings = settings or Settings()
    tune_gc()
    run_until_signalled(lambda stop: Worker(settings).run(stop))
