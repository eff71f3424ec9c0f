"""`slawatch sink`: the worker's output topics -> ClickHouse, at least once, never double counted.

A consumer group (`<app_id>-clickhouse`) reads `sla.events`, `sla.metric-windows` and
`support.dead-letter`, gathers messages into batches (by rows or by time) and writes each batch
column-wise (`ClickHouseSink`). Offsets are committed ONLY after every row read up to them was
written: a crash or kill anywhere re-reads the uncommitted tail, and the ReplacingMergeTree
tables collapse what is written twice (module doc of `sinks.clickhouse`).

ClickHouse outage: `ClickHouseSink` retries a write a few times, then raises `SinkUnavailable`;
here that is not fatal. The batch stays in memory and uncommitted, every assigned partition is
paused (backpressure: the fetcher stops, memory stays bounded by one batch), and the write is
retried with exponential backoff until it succeeds or the sink is stopped. `getmany` is still
called (on paused partitions it returns nothing) so the consumer keeps its group membership
(`max_poll_interval_ms`) through a long outage. Nothing is lost: a stop during the outage exits
without committing, and the next run reads the same messages again. The outage is visible as
`stats["outage"]`, `stats["write_failures"]` and the sink's `failures_total`/`unavailable_total`.

A message that cannot be stored (not JSON, or a required field missing or of the wrong type;
never produced by slawatch's worker) must neither stall the sink, as a poison message retried
for ever, nor vanish: it is stored in `dead_letters` with code `sink_undecodable` under its own
topic/partition/offset, and its offset is committed with the batch.
"""
from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.core.timeutil import format_us
from streams.service import start_until_up, wait_or_stop
from streams.settings import Settings

from .clickhouse import ClickHouseSink, SinkUnavailable

log = logging.getLogger("slawatch.sink")

__all__ = ["KafkaClickHouseSink", "run_sink", "run_sink_forever", "serve"]


class _Batch:
    """The rows read since the last commit, per table, with how many of each are written.

    Records stay the raw message bytes (converted in bulk at write time, off the event loop);
    windows and dead letters are decoded on arrival. A write that fails half-way (records
    stored, windows not) resumes from the cursors instead of re-sending what landed, and rows
    may be appended while a write is being retried.
    """

    def __init__(self) -> None:
        self.rows: dict[str, list] = {"records": [], "windows": [], "dead_letters": []}
        # (topic, partition, offset) of each row: where a row that cannot be stored came from.
        self.origin: dict[str, list] = {"records": [], "windows": [], "dead_letters": []}
        self.written: dict[str, int] = {"records": 0, "windows": 0, "dead_letters": 0}
        self.rejected: set[tuple[str, int, int]] = set()
        self.offsets: dict[TopicPartition, int] = {}
        self.messages = 0
        self.first_at: float | None = None

    def __len__(self) -> int:
        return self.messages

    def add(self, settings: Settings, tp: TopicPartition, msgs: list) -> None:
        if not msgs:
            return
        if self.first_at is None:
            self.first_at = time.monotonic()
        topic = tp.topic
        if topic == settings.sla_events_topic:
            rows, origin = self.rows["records"], self.origin["records"]
            for m in msgs:
                if m.value is not None:  # a tombstone carries no row
                    rows.append(m.value)
                    origin.append((m.topic, m.partition, m.offset))
        else:
            kind = "windows" if topic == settings.metrics_topic else "dead_letters"
            rows, origin = self.rows[kind], self.origin[kind]
            loads = orjson.loads
            for m in msgs:
                if m.value is None:
                    continue
                try:
                    row = loads(m.value)
                    if not isinstance(row, dict):
                        raise ValueError("not a JSON object")
                except ValueError as exc:
                    self.reject((m.topic, m.partition, m.offset), m.value, f"invalid JSON: {exc}")
                    continue
                if kind == "windows" and "source_partition" not in row:
                    # Partial aggregates of one cell come from different worker partitions,
                    # which write to the metrics partition of the same number: the partition
                    # tells them apart (sinks.clickhouse, metric_windows).
                    row["source_partition"] = m.partition
                rows.append(row)
                origin.append((m.topic, m.partition, m.offset))
        self.messages += len(msgs)
        # Highest offset + 1, never lower: after a rebalance the same messages may be fetched
        # again; they are in this batch already and are written before the commit.
        end = msgs[-1].offset + 1
        if end > self.offsets.get(tp, -1):
            self.offsets[tp] = end

    def reject(self, origin: tuple[str, int, int], raw: Any, reason: str) -> None:
        """Keep a message that cannot be stored as a dead letter (once, however often the
        write that found it is retried)."""
        if origin in self.rejected:
            return
        self.rejected.add(origin)
        if not isinstance(raw, bytes):
            raw = orjson.dumps(raw)
        self.rows["dead_letters"].append(_undecodable(origin, raw, reason))
        self.origin["dead_letters"].append(origin)

    def pending(self) -> int:
        return sum(len(r) - self.written[k] for k, r in self.rows.items())


def _undecodable(origin: tuple[str, int, int], raw: bytes, reason: str) -> dict:
    topic, partition, offset = origin
    return {"source_topic": topic, "source_partition": partition, "source_offset": offset,
            "code": "sink_undecodable", "reason": reason[:500],
            "received_at": format_us(time.time_ns() // 1000),
            "raw_base64": base64.b64encode(raw).decode(),
            "raw_text": raw.decode("utf-8", "replace")[:4096]}


class KafkaClickHouseSink:
    def __init__(self, settings: Settings, dsn: str | None = None, *,
                 sink: ClickHouseSink | None = None, batch_rows: int = 50_000,
                 batch_seconds: float = 1.0, poll_ms: int = 200,
                 backoff_s: float = 0.5, backoff_max_s: float = 10.0) -> None:
        self.settings = settings
        self.sink = sink or ClickHouseSink(dsn)
        if dsn is not None and sink is not None:
            self.sink.dsn = dsn
        self.batch_rows = batch_rows
        self.batch_seconds = batch_seconds
        self.poll_ms = poll_ms
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.consumer: AIOKafkaConsumer | None = None
        # Set once the schema is in place; tasks sharing `self.sink` (the live QA stage) start
        # then, and are awaited before the sink closes its client.
        self.ready = asyncio.Event()
        self.companions: list[asyncio.Task] = []
        self.stats: dict[str, Any] = {"messages": 0, "batches": 0, "commits": 0,
                                      "commit_failures": 0, "write_failures": 0,
                                      "outage": False, "pending": 0, "last_error": None,
                                      "broker_unreachable": False, "broker_start_failures": 0}

    @property
    def group_id(self) -> str:
        return f"{self.settings.app_id}-clickhouse"

    @property
    def topics(self) -> list[str]:
        s = self.settings
        return [s.sla_events_topic, s.metrics_topic, s.dead_letter_topic]

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        if s.embedded:
            from streams import tansu_compat

            tansu_compat.enable()
        # Schema first: with ClickHouse down at start-up, wait (and count) rather than crash.
        if not await self._until_ok(stop, self._prepare):
            await asyncio.to_thread(self.sink.close)
            return
        self.ready.set()
        if not await self._start_consumer(stop):
            await asyncio.to_thread(self.sink.close)
            return
        batch = _Batch()
        try:
            while not stop.is_set():
                fetched = await self.consumer.getmany(timeout_ms=self.poll_ms,
                                                      max_records=self.batch_rows)
                for tp, msgs in fetched.items():
                    batch.add(s, tp, msgs)
                    self.stats["messages"] += len(msgs)
                self.stats["pending"] = batch.pending()
                if batch and (batch.pending() >= self.batch_rows
                              or time.monotonic() - batch.first_at >= self.batch_seconds):
                    if await self._flush(batch, stop):
                        batch = _Batch()
            # Stopping: write what was read, once (a few bounded attempts), then commit. If
            # ClickHouse is down, leave it uncommitted: the next run reads it again.
            if batch:
                try:
                    await asyncio.to_thread(self._write, batch)
                    await self._commit(batch)
                except SinkUnavailable as exc:
                    log.warning("stopping with %d uncommitted messages: %s", len(batch), exc)
        finally:
            await self.consumer.stop()
            if self.companions:
                await asyncio.gather(*self.companions, return_exceptions=True)
            await asyncio.to_thread(self.sink.close)

    async def _start_consumer(self, stop: asyncio.Event) -> bool:
        """Join the group, retrying while the broker is unreachable, as ClickHouse is waited for
        above (a sink started before Kafka, or during a broker outage, must not exit). False:
        stopped first."""
        s = self.settings

        def make() -> AIOKafkaConsumer:
            return AIOKafkaConsumer(
                *self.topics, bootstrap_servers=s.bootstrap_servers(), group_id=self.group_id,
                enable_auto_commit=False, auto_offset_reset="earliest",
                session_timeout_ms=int(s.broker_session_timeout_s * 1000),
                heartbeat_interval_ms=max(100, int(s.broker_session_timeout_s * 200)),
                max_poll_records=self.batch_rows, max_partition_fetch_bytes=4 << 20,
                **s.kafka_credentials())

        def failed(exc: Exception, delay: float) -> None:
            self.stats["broker_unreachable"] = True
            self.stats["broker_start_failures"] += 1
            self.stats["last_error"] = f"Kafka: {exc}"
            log.error("Kafka unreachable at start-up (%s); retrying in %.1fs", exc, delay)

        self.consumer = await start_until_up(make, stop, self.backoff_s, self.backoff_max_s, failed)
        if self.consumer is None:
            return False
        self.stats["broker_unreachable"] = False
        return True

    def _prepare(self) -> None:
        self.sink.connect()
        self.sink.migrate()

    async def _until_ok(self, stop: asyncio.Event, fn, *args) -> bool:
        """Run the blocking `fn` in a thread until it succeeds (True) or `stop` is set (False)."""
        delay = self.backoff_s
        while True:
            try:
                await asyncio.to_thread(fn, *args)
                self.stats["outage"] = False
                return True
            except SinkUnavailable as exc:
                self.stats["outage"] = True
                self.stats["write_failures"] += 1
                self.stats["last_error"] = str(exc)
                log.error("%s; retrying in %.1fs", exc, delay)
            if await wait_or_stop(stop, delay):
                return False
            delay = min(delay * 2, self.backoff_max_s)

    async def _flush(self, batch: _Batch, stop: asyncio.Event) -> bool:
        """Write the batch (retrying through an outage), then commit. False: stopped first."""
        paused: set[TopicPartition] = set()
        delay = self.backoff_s
        try:
            while True:
                try:
                    await asyncio.to_thread(self._write, batch)
                    self.stats["outage"] = False
                    break
                except SinkUnavailable as exc:
                    self.stats["outage"] = True
                    self.stats["write_failures"] += 1
                    self.stats["last_error"] = str(exc)
                    log.error("%s; holding %d messages uncommitted, retrying in %.1fs",
                              exc, len(batch), delay)
                # Backpressure: no more fetching while the batch cannot be written.
                assigned = self.consumer.assignment()
                to_pause = assigned - paused
                if to_pause:
                    self.consumer.pause(*to_pause)
                    paused |= to_pause
                if await wait_or_stop(stop, delay):
                    return False
                delay = min(delay * 2, self.backoff_max_s)
                # Keep the group membership alive; partitions assigned by a rebalance meanwhile
                # are not paused yet and may deliver: their rows join the batch.
                for tp, msgs in (await self.consumer.getmany(timeout_ms=0)).items():
                    batch.add(self.settings, tp, msgs)
                    self.stats["messages"] += len(msgs)
        finally:
            if paused:
                self.consumer.resume(*(paused & self.consumer.assignment()))
        await self._commit(batch)
        self.stats["batches"] += 1
        self.stats["pending"] = 0
        return True

    def _write(self, batch: _Batch) -> None:
        sink = self.sink
        # Dead letters last: the other two may add rows to it (messages they cannot store).
        for kind, write in (("records", sink.write_records_json), ("windows", sink.write_windows),
                            ("dead_letters", sink.write_dead_letters)):
            rows, origin = batch.rows[kind], batch.origin[kind]
            while batch.written[kind] < len(rows):
                done = batch.written[kind]
                chunk, where = rows[done:], origin[done:]

                def invalid(i: int, reason: str, chunk=chunk, where=where) -> None:
                    batch.reject(where[i], chunk[i], reason)

                write(chunk, on_invalid=invalid)
                batch.written[kind] = done + len(chunk)

    async def _commit(self, batch: _Batch) -> None:
        assigned = self.consumer.assignment()
        offsets = {tp: o for tp, o in batch.offsets.items() if tp in assigned}
        if not offsets:
            return
        try:
            await self.consumer.commit(offsets)
            self.stats["commits"] += 1
        except Exception as exc:  # noqa: BLE001 - e.g. a rebalance: the rows are written, the
            # new owner re-reads them and the tables collapse the copies
            self.stats["commit_failures"] += 1
            log.warning("offset commit failed (rows are written; they will be re-read): %s", exc)


async def run_sink(settings: Settings, dsn: str, stop: asyncio.Event,
                   **kwargs: Any) -> KafkaClickHouseSink:
    """Run the Kafka -> ClickHouse sink until `stop` is set; returns it (stats, counters)."""
    runner = KafkaClickHouseSink(settings, dsn, **kwargs)
    await runner.run(stop)
    return runner


def run_sink_forever(settings: Settings | None, dsn: str, **kwargs: Any) -> None:
    """`slawatch sink`: run until SIGTERM/SIGINT, then write and commit what was read."""
    from streams.service import run_until_signalled

    settings = settings or Settings()

    async def main(stop: asyncio.Event) -> None:
        await serve(settings, dsn, stop, **kwargs)

    run_until_signalled(main)


async def serve(settings: Settings, dsn: str, stop: asyncio.Event, *,
                on_start=None, **kwargs: Any) -> KafkaClickHouseSink:
    """The whole `slawatch sink` until `stop`: the sink, the live QA stage when
    `qa_enabled` (sharing its ClickHouse client), and the HTTP endpoints. `on_start(runner, qa)`
    is called once everything is constructed (tests use it to reach the parts)."""
    runner = KafkaClickHouseSink(settings, dsn, **kwargs)
    qa = None
    if settings.qa_enabled:
        from .qa_stage import QAStage

        qa = QAStage(settings, runner.sink)
        runner.companions.append(asyncio.create_task(_after_ready(runner, qa, stop)))
    web = await start_http(runner, settings, qa) if settings.sink_http_port else None
    if on_start is not None:
        on_start(runner, qa)
    try:
        await runner.run(stop)
    finally:
        if web is not None:
            await web.cleanup()
    return runner


async def _after_ready(runner: KafkaClickHouseSink, qa, stop: asyncio.Event) -> None:
    """Run the QA stage once the sink's schema is ready (never, if the sink stops first).

    A failed stage does not take the sink down with it (history keeps flowing); it shows as
    `slawatch_qa_stage_up 0` and in /health, which is what pages someone.
    """
    waiter = asyncio.ensure_future(runner.ready.wait())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    stopper.cancel()
    if stop.is_set():
        return
    try:
        qa.stats["up"] = True
        await qa.run(stop)
    except Exception as exc:  # noqa: BLE001 - reported, see above
        qa.stats["last_error"] = f"{type(exc).__name__}: {exc}"
        log.exception("live QA stage failed; the sink goes on without it")
    finally:
        qa.stats["up"] = False


async def start_http(runner: KafkaClickHouseSink, settings: Settings, qa=None):
    """The sink's HTTP server on `http_host:sink_http_port`:
    - `/metrics`: failures, backlog, outage (what the SinkFailing alert watches);
    - `/health`;
    - `POST /query` `{"sql": ..., "params": {...}}`: a read-only query on the ClickHouse this
      process owns. chdb allows one process per data directory, so this is how the CLI and
      reports read the embedded history. Bearer token required (`SLAWATCH_API_TOKEN`); without
      a configured token the endpoint is off (403), never open.
    """
    import hmac

    from aiohttp import web
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    from .prometheus import SinkCollector

    registry = CollectorRegistry()
    registry.register(SinkCollector(runner))
    if qa is not None:
        from .prometheus import QACollector

        registry.register(QACollector(qa))
    token = settings.api_token.get_secret_value() if settings.api_token else None

    async def metrics(request):
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def health(request):
        body = {"ok": not runner.stats["outage"] and not runner.stats["broker_unreachable"]}
        if qa is not None:
            body["qa"] = {"up": bool(qa.stats.get("up")), "last_error": qa.stats["last_error"]}
            body["ok"] = body["ok"] and (body["qa"]["up"] or not runner.ready.is_set())
        return web.json_response(body)

    async def query(request):
        if token is None:
            return web.json_response({"error": "query API off: set SLAWATCH_API_TOKEN"}, status=403)
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return web.json_response({"error": "missing or wrong bearer token"}, status=401)
        try:
            body = await request.json()
            sql, params = body["sql"], body.get("params") or {}
            if not isinstance(sql, str) or not isinstance(params, dict):
                raise ValueError("sql must be a string and params an object")
        except (ValueError, KeyError) as exc:
            return web.json_response({"error": f"bad request: {exc}"}, status=400)
        if not runner.ready.is_set():
            # Before the schema is in place a query would fail on a missing table, which reads
            # as the caller's mistake; say it is the service, and that a retry will do.
            return web.json_response({"error": "not ready: the history schema is not in place "
                                               "yet (ClickHouse unreachable or migrating)"}, status=503)
        loop = asyncio.get_running_loop()
        try:
            result = await loop.run_in_executor(None, runner.sink.read, sql, params)
        except SinkUnavailable as exc:
            return web.json_response({"error": f"unavailable: {exc}"}, status=503)
        except Exception as exc:  # noqa: BLE001 - the caller's SQL: report, do not crash
            return web.json_response({"error": str(exc).splitlines()[0][:500]}, status=400)
        return web.Response(body=orjson.dumps(result, default=str), content_type="application/json")

    from streams.service import serve_http

    return await serve_http([("GET", "/metrics", metrics), ("GET", "/health", health),
                             ("POST", "/query", query)], settings.http_host, settings.sink_http_port)


class QueryUnavailable(RuntimeError):
    """The sink answered 503: not ready yet, or ClickHouse is down; the same query may succeed
    later (a 4xx will not)."""


def remote_query(url: str, token: str | None, sql: str, params: dict | None = None,
                 timeout: float = 30.0) -> dict:
    """Client of `/query`: {"columns": [...], "rows": [[...], ...]}; raises RuntimeError with the
    server's message on any error (`QueryUnavailable` when retrying may help)."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url.rstrip("/") + ("" if url.rstrip("/").endswith("/query") else "/query"),
                                 data=orjson.dumps({"sql": sql, "params": params or {}}),
                                 headers={"Content-Type": "application/json",
                                          **({"Authorization": f"Bearer {token}"} if token else {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return orjson.loads(resp.read())
    except urllib.error.HTTPError as exc:
        try:
            message = orjson.loads(exc.read()).get("error", "")
        except ValueError:
            message = ""
        error = QueryUnavailable if exc.code == 503 else RuntimeError
        raise error(f"{exc.code} {exc.reason}: {message}") from None
