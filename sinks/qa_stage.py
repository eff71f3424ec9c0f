"""The live QA stage of `slawatch sink`: input topics -> daily QA samples in ClickHouse.

A consumer group of its own (`<app_id>-qa`) reads `support.conversations` and `support.tickets`
and feeds `streams.qa_live.LiveQA`. The QA clock is the newest event time minus the allowed
lateness; with the input caught up and quiet (`idle_after_s`) it follows the wall clock, so the
night's silence does not hold yesterday's sample back. It does not when the newest event is
older than `qa_retention_s` (a historical import: only its own events move its clock).

Early targeted samples (streams/qa_live.py) are written as they come. When a day closes, its
samples, masked transcripts and check results are written (the same rows
as `slawatch qa sample`), then a `qa_days` row marks the boundary, then offsets are committed
up to the oldest event still kept. A crash anywhere re-reads the uncommitted input and writes the
same rows again (deterministic ids, fixed row version); at start the stage resumes from the last
`qa_days` boundary, so no day is drawn twice. ClickHouse down: the draw is kept and retried,
partitions are paused meanwhile, nothing is committed.

One QA stage per deployment: quotas are per agent per day across all partitions, so the stage
must see every partition (run one `slawatch sink`, or set SLAWATCH_QA_ENABLED=false on the others).
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition
from aiokafka.errors import KafkaError

from streams.core.policy import load_policies
from streams.core.qa_rules import load_qa_rules
from streams.qa_live import LiveQA, QADayResult
from streams.service import start_until_up, wait_or_stop
from streams.settings import Settings

from .clickhouse import ClickHouseSink, SinkUnavailable

log = logging.getLogger("slawatch.qa")

__all__ = ["QAStage"]

US = 1_000_000


class _Revoked(ConsumerRebalanceListener):
    def __init__(self, stage: "QAStage") -> None:
        self.stage = stage

    async def on_partitions_revoked(self, revoked) -> None:
        for tp in revoked:
            self.stage.live.forget((tp.topic, tp.partition))

    async def on_partitions_assigned(self, assigned) -> None:
        pass


class QAStage:
    def __init__(self, settings: Settings, sink: ClickHouseSink, *, poll_ms: int = 200,
                 commit_every_s: float = 2.0, backoff_s: float = 0.5,
                 backoff_max_s: float = 10.0) -> None:
        self.settings = settings
        self.sink = sink
        self.poll_ms = poll_ms
        self.commit_every_s = commit_every_s
        self.backoff_s, self.backoff_max_s = backoff_s, backoff_max_s
        # Broken rule files stop start-up with the file, key and line (as the worker does).
        rules = load_qa_rules(settings.qa_rules)
        self.live = LiveQA(rules, load_policies(settings.rules), tz=settings.qa_tz,
                           close_after_us=int(settings.qa_close_after_s * US),
                           retention_us=int(settings.qa_retention_s * US))
        self.rule_version = rules.version
        self.pending: QADayResult | None = None
        self.pending_early: list[dict] = []
        self.early_by_reason: Counter[str] = Counter()
        self.samples_by_reason: Counter[str] = Counter()
        self.checks_by_check: Counter[str] = Counter()
        self.check_failures_by_check: Counter[str] = Counter()
        self.stats: dict[str, Any] = {"messages": 0, "draws": 0, "write_failures": 0,
                                      "outage": False, "clock_us": None, "last_error": None}
        self.consumer: AIOKafkaConsumer | None = None

    @property
    def group_id(self) -> str:
        return f"{self.settings.app_id}-qa"

    @property
    def topics(self) -> list[str]:
        return [self.settings.conversations_topic, self.settings.tickets_topic]

    # ------------------------------------------------------------------ clock

    def clock(self, wall_us: int, idle: bool) -> int | None:
        """The QA clock: newest event time - lateness, or the wall clock when live and idle."""
        newest = self.live.newest_us
        lateness = self.settings.lateness_us
        if newest is None:
            return None
        clock = newest - lateness
        live = newest >= wall_us - self.live.retention_us
        if idle and live:
            clock = max(clock, wall_us - lateness)
        return clock

    # ------------------------------------------------------------------ run

    async def _start_consumer(self, stop: asyncio.Event) -> bool:
        """Join the group, retrying while the broker is unreachable (a sink started before
        Kafka, or during an outage); False: stopped first."""
        s = self.settings

        def make() -> AIOKafkaConsumer:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=s.bootstrap_servers(), group_id=self.group_id,
                enable_auto_commit=False, auto_offset_reset="earliest",
                session_timeout_ms=int(s.broker_session_timeout_s * 1000),
                heartbeat_interval_ms=max(100, int(s.broker_session_timeout_s * 200)),
                **s.kafka_credentials())
            consumer.subscribe(self.topics, listener=_Revoked(self))
            return consumer

        def failed(exc: Exception, delay: float) -> None:
            self.stats["last_error"] = f"Kafka: {exc}"
            log.error("QA stage: Kafka unreachable at start-up (%s); retrying in %.1fs", exc, delay)

        self.consumer = await start_until_up(make, stop, self.backoff_s, self.backoff_max_s, failed)
        return self.consumer is not None

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        last = await asyncio.to_thread(self.sink.last_qa_boundary, s.qa_tz)
        if last is not None:
            self.live.restore(last)
        if not await self._start_consumer(stop):
            return
        last_data = time.monotonic()
        last_commit = time.monotonic()
        delay = self.backoff_s
        try:
            while not stop.is_set():
                fetched = await self.consumer.getmany(timeout_ms=self.poll_ms, max_records=5000)
                for tp, msgs in fetched.items():
                    for m in msgs:
                        self.live.add((tp.topic, tp.partition), m.offset, m.value)
                    self.stats["messages"] += len(msgs)
                if fetched:
                    last_data = time.monotonic()
                if self.pending is None and not self.pending_early:
                    idle = time.monotonic() - last_data >= s.idle_after_s
                    clock = self.clock(time.time_ns() // 1000, idle)
                    self.stats["clock_us"] = clock
                    if clock is not None:
                        self.pending = self.live.advance(clock)
                    # After the close: a day just drawn gets no early rows after its final ones.
                    self.pending_early = self.live.early()
                if self.pending is not None or self.pending_early:
                    if await self._write_pending():
                        delay = self.backoff_s
                        await self._commit()
                        last_commit = time.monotonic()
                    else:
                        # Keep the group membership, read nothing more until the write lands.
                        self.consumer.pause(*self.consumer.assignment())
                        if await wait_or_stop(stop, delay):
                            break
                        delay = min(delay * 2, self.backoff_max_s)
                        continue
                if time.monotonic() - last_commit >= self.commit_every_s:
                    await self._commit()
                    last_commit = time.monotonic()
        finally:
            if self.pending is None and not self.pending_early:
                try:
                    await self._commit()
                except Exception:  # noqa: BLE001 - stopping: the next run re-reads
                    log.debug("final QA commit failed", exc_info=True)
            await self.consumer.stop()

    async def _write_pending(self) -> bool:
        try:
            if self.pending is not None:
                await asyncio.to_thread(self._write, self.pending)
                self._count(self.pending)
                self.stats["draws"] += 1
                if self.pending.rows:
                    log.info("QA days %s drawn: %d samples from %d candidates",
                             ",".join(self.pending.days), len(self.pending.rows),
                             self.pending.candidates)
                self.pending = None
            if self.pending_early:
                await asyncio.to_thread(self._write_rows, self.pending_early)
                for r in self.pending_early:
                    self.early_by_reason.update(r["reasons"])
                self.pending_early = []
        except SinkUnavailable as exc:
            self.stats["write_failures"] += 1
            self.stats["outage"] = True
            self.stats["last_error"] = str(exc)
            log.warning("QA draw not written yet (ClickHouse unavailable): %s", exc)
            return False
        self.stats["outage"] = False
        self.consumer.resume(*self.consumer.assignment())
        return True

    def _write_rows(self, rows: list[dict]) -> None:
        if rows:
            self.sink.write_qa_samples(rows)
            self.sink.write_qa_transcripts(rows)
            self.sink.write_qa_checks([c for r in rows for c in r["checks"]])

    def _write(self, result: QADayResult) -> None:
        rows = result.rows
        self._write_rows(rows)
        # The marker goes last: a crash before it redraws (idempotently), never skips a day.
        self.sink.write_qa_day(result.boundary_us, self.settings.qa_tz, result.days, len(rows),
                               result.candidates, result.late, self.rule_version)

    def _count(self, result: QADayResult) -> None:
        for r in result.rows:
            self.samples_by_reason.update(r["reasons"])
            for c in r["checks"]:
                self.checks_by_check[c["check"]] += 1
                if not c["passed"]:
                    self.check_failures_by_check[c["check"]] += 1

    async def _commit(self) -> None:
        offsets: dict[TopicPartition, int] = {}
        low = self.live.committable()
        for tp in self.consumer.assignment():
            kept = low.get((tp.topic, tp.partition))
            offsets[tp] = kept if kept is not None else await self.consumer.position(tp)
        if offsets:
            try:
                await self.consumer.commit(offsets)
            except KafkaError as exc:
                # The group moved on (rebalance, a broker that lost it): what is not committed
                # is read again and drawn into the same rows. Not a reason to stop sampling.
                log.warning("QA offset commit failed (%s); the uncommitted part will be re-read", exc)


