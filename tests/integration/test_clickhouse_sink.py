"""The Kafka -> ClickHouse sink on the embedded broker and chdb, end to end.

- it writes every record, window and dead letter of the output topics and commits their offsets;
  a message it cannot store becomes a dead letter instead of stalling it;
- killed (task cancelled) mid-way and restarted, with part of the input re-published as a
  restarted worker would, the tables still hold each row exactly once;
- during a ClickHouse outage (the server unreachable: connections refused) it retries, pauses
  its partitions and commits nothing; once ClickHouse is back everything lands, and a sink
  stopped during an outage leaves the batch uncommitted for the next run.
"""
from __future__ import annotations

import asyncio
import threading
import time

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from sinks.clickhouse import ClickHouseSink
from sinks.kafka_to_clickhouse import KafkaClickHouseSink
from streams.settings import Settings
from tests.sinks import closed_port, dead_letters, sla_records, windows_of

PARTITIONS = 2


@pytest.fixture
def setup(broker, topic_prefix, tmp_path):
    settings = Settings(
        broker_url=broker.url, embedded=True, app_id=topic_prefix,
        sla_events_topic=f"{topic_prefix}-sla.events",
        metrics_topic=f"{topic_prefix}-sla.metric-windows",
        dead_letter_topic=f"{topic_prefix}-support.dead-letter",
        broker_session_timeout_s=1.0, http_port=0)
    broker.create_topics({t: PARTITIONS for t in
                          (settings.sla_events_topic, settings.metrics_topic, settings.dead_letter_topic)})
    return settings, f"chdb://{tmp_path / 'ch'}"


@pytest.fixture
def opened():
    """Every ClickHouseSink a test makes, closed at teardown even if the test failed: chdb
    serves one data directory per process, and the next test uses another."""
    sinks: list[ClickHouseSink] = []
    yield sinks
    for sink in sinks:
        sink.close()


async def publish(settings: Settings, records=(), windows=(), dead=(), garbage: int = 0) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers(), linger_ms=5)
    await producer.start()
    try:
        futs = []
        for r in records:  # as the worker publishes them
            futs.append(await producer.send(settings.sla_events_topic, r.to_json(extended=True),
                                            key=r.entity_id.encode()))
        for w in windows:  # worker partition p writes its windows to metrics partition p
            body = {k: v for k, v in w.items() if k != "source_partition"}
            futs.append(await producer.send(settings.metrics_topic, orjson.dumps(body),
                                            key=w["window_id"].encode(),
                                            partition=w.get("source_partition", 0)))
        for d in dead:
            futs.append(await producer.send(settings.dead_letter_topic, orjson.dumps(d)))
        for i in range(garbage):  # on each topic: not JSON, or JSON that is not a valid row
            futs.append(await producer.send(settings.sla_events_topic, b"not json %d" % i))
            futs.append(await producer.send(settings.sla_events_topic, b'{"record_id": "x%d"}' % i))
            futs.append(await producer.send(settings.metrics_topic, b'{"window_id": null}'))
            futs.append(await producer.send(settings.dead_letter_topic, b"[%d]" % i))
        await asyncio.gather(*futs)
    finally:
        await producer.stop()


async def offsets(settings: Settings, group: str) -> tuple[dict, dict]:
    """(committed offsets of `group`, end offsets) of the three topics."""
    c = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap_servers(), group_id=group,
                         enable_auto_commit=False)
    await c.start()
    try:
        tps = [TopicPartition(t, p) for t in (settings.sla_events_topic, settings.metrics_topic,
                                              settings.dead_letter_topic) for p in range(PARTITIONS)]
        committed = {tp: (await c.committed(tp)) or 0 for tp in tps}
        return committed, await c.end_offsets(tps)
    finally:
        await c.stop()


async def wait_for(predicate, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class PausingSink(ClickHouseSink):
    """Holds the sink's writer thread after its `after`-th record write, so that the test can
    kill the sink between a write and the commit that would follow it."""

    def __init__(self, dsn: str, after: int) -> None:
        super().__init__(dsn)
        self.after = after
        self.calls = 0
        self.reached = threading.Event()
        self.release = threading.Event()

    def write_records_json(self, lines, on_invalid=None):
        n = super().write_records_json(lines, on_invalid)
        self.calls += 1
        if self.calls == self.after:
            self.reached.set()
            self.release.wait(10)
        return n


def start(settings, sink, **kw) -> tuple[KafkaClickHouseSink, asyncio.Event, asyncio.Task]:
    runner = KafkaClickHouseSink(settings, sink=sink, batch_seconds=0.2, poll_ms=50, **kw)
    stop = asyncio.Event()
    return runner, stop, asyncio.ensure_future(runner.run(stop))


async def caught_up(settings, group) -> bool:
    committed, ends = await offsets(settings, group)
    return committed == ends


def test_sink_writes_everything_once_across_a_kill_and_restart(setup, opened):
    settings, dsn = setup
    records = list(sla_records())
    windows = windows_of(records, partitions=PARTITIONS)
    dead = dead_letters(25, topic="support.tickets")
    n = len(records)

    async def scenario():
        await publish(settings, records, windows, dead, garbage=3)
        sink = PausingSink(dsn, after=3)
        opened.append(sink)
        runner, stop, task = start(settings, sink, batch_rows=400)
        await wait_for(lambda: asyncio.sleep(0, sink.reached.is_set()), what="three writes")
        task.cancel()  # killed between a write and its commit: that batch is read again
        sink.release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        written = sink.count_records()
        assert 0 < written < n
        committed, ends = await offsets(settings, runner.group_id)
        assert committed != ends, "the kill should leave part of the input unconsumed"

        # A restarted worker re-publishes part of its output (same record ids).
        await publish(settings, records[: n // 2], windows[: len(windows) // 2])
        sink2 = ClickHouseSink(dsn)
        opened.append(sink2)
        runner2, stop2, task2 = start(settings, sink2)
        await wait_for(lambda: caught_up(settings, runner2.group_id), what="offsets caught up")
        stop2.set()
        await task2
        return sink2

    sink = asyncio.run(scenario())
    assert sink.count_records() == n
    assert sink.record_ids() == {r.record_id for r in records}
    assert sink.count_breaches() == sum(r.status == "breached" for r in records)
    assert sink.count_rows("sla_records", final=False) > n  # copies exist, FINAL hides them
    totals = sink.window_totals()
    assert totals["windows"] == len(windows)
    assert totals["started"] == sum(w["started"] for w in windows)
    # Bad messages neither stall the sink nor vanish: each is a dead letter, once.
    assert sink.count_rows("dead_letters") == len(dead) + 4 * 3
    assert sink.query("SELECT source_topic, count() FROM dead_letters FINAL "
                      "WHERE code = 'sink_undecodable' GROUP BY source_topic ORDER BY source_topic") == \
        sorted([(settings.sla_events_topic, 6), (settings.metrics_topic, 3),
                (settings.dead_letter_topic, 3)])


def test_clickhouse_outage_loses_nothing_and_commits_nothing(setup, opened):
    settings, dsn = setup
    records = list(sla_records())
    a, b, c = records[:1000], records[1000:2000], records[2000:3000]
    down = f"http://127.0.0.1:{closed_port()}"

    async def outage(sink: ClickHouseSink) -> None:
        def cut():
            sink.dsn = down
            sink.close()  # the next write reconnects, to a server that refuses connections
        await asyncio.to_thread(cut)

    async def scenario():
        sink = ClickHouseSink(dsn, max_attempts=2, backoff_s=0.01)
        opened.append(sink)
        runner, stop, task = start(settings, sink, backoff_s=0.1, backoff_max_s=0.3)
        group = runner.group_id
        await publish(settings, a)
        await wait_for(lambda: caught_up(settings, group), what="batch a")
        before, _ = await offsets(settings, group)

        # 1. Outage while running; ClickHouse comes back: everything lands.
        await outage(sink)
        await publish(settings, b)
        await wait_for(lambda: asyncio.sleep(0, runner.stats["write_failures"] >= 3), what="failed writes")
        assert runner.stats["outage"] is True
        assert runner.consumer.paused(), "backpressure: partitions paused during the outage"
        during, _ = await offsets(settings, group)
        assert during == before, "nothing may be committed while ClickHouse is down"
        sink.dsn = dsn
        await wait_for(lambda: caught_up(settings, group), what="recovery")
        assert runner.stats["outage"] is False and not runner.consumer.paused()
        assert sink.failures_total["sla_records"] >= 3 and sink.unavailable_total >= 3

        # 2. Outage, and the sink is stopped during it: nothing committed, the next run has it.
        await outage(sink)
        await publish(settings, c)
        await wait_for(lambda: asyncio.sleep(0, runner.stats["write_failures"] >= 5), what="failures")
        stop.set()
        await task
        committed, ends = await offsets(settings, group)
        assert committed != ends
        sink2 = ClickHouseSink(dsn)
        opened.append(sink2)
        runner2, stop2, task2 = start(settings, sink2)
        await wait_for(lambda: caught_up(settings, group), what="restart after the outage")
        stop2.set()
        await task2
        return sink2

    sink = asyncio.run(scenario())
    assert sink.count_records() == 3000
    assert sink.record_ids() == {r.record_id for r in records[:3000]}
