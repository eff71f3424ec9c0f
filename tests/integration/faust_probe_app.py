"""A tiny Faust app that the integration tests run as a real worker subprocess.

Everything is configured through environment variables so that one module serves
every probe in ``test_faust_on_tansu.py``; the worker reports what it sees as JSON
lines appended to ``PROBE_OUT`` (one ``write`` per line; readers take only the
lines that already end in a newline, so a write in progress or a SIGKILL mid-write
is never mis-read).

    PROBE_BROKER      kafka://127.0.0.1:PORT
    PROBE_APP_ID      Faust app id (= consumer group, changelog topic prefix)
    PROBE_TOPICS      comma-separated input topics (one agent subscribes to all)
    PROBE_OUT         report file
    PROBE_PARTITIONS  partitions of the inputs and of the table (default 4)
    PROBE_TABLE_MODE  how a batch writes the table:
                        explicit     store write + send_changelog(source partition)  [the recipe]
                        plain        table[key] = value after noack_take (no current event)
                        partitioner  table(use_partitioner=True), table[key] = value
    PROBE_ACK         1 (default): ack each batch after processing with
                      ``await stream.ack(event)``; event: with ``event.ack()``; 0: never ack
    PROBE_BATCH       noack_take max_ (default 100)
    PROBE_TIMER       1: run a 0.2 s timer that reports ticks
    PROBE_TANSU_COMPAT  1 (default): streams.tansu_compat.enable() before starting
    PROBE_MODE        table (default): the agent keeps a table of seen offsets per key;
                      throughput: it only parses JSON and acks, reporting once
                      PROBE_EXPECT events are done
    PROBE_COMMIT_EVERY  broker_commit_every (default 1000)

Run as ``python -m tests.integration.faust_probe_app worker --without-web -l info``
from the project root (``app.main()`` is Faust's own CLI, so this is equivalent to
``faust -A tests.integration.faust_probe_app worker --without-web -l info``; the log
levels are crit/error/warn/info/debug -- "warning" is rejected). ``--without-web``
is needed: the CLI's default ``--with-web`` overrides ``web_enabled=False`` below and
binds 0.0.0.0:6066, which a second worker on the machine cannot bind.
"""
from __future__ import annotations

import os
import time
from typing import Any

import faust
import orjson

from streams import tansu_compat

ENV = os.environ
PARTITIONS = int(ENV.get("PROBE_PARTITIONS", "4"))
TOPICS = [t for t in ENV.get("PROBE_TOPICS", "probe-in").split(",") if t]
TABLE_MODE = ENV.get("PROBE_TABLE_MODE", "explicit")
ACK_STYLE = ENV.get("PROBE_ACK", "1")
ACK = ACK_STYLE != "0"
BATCH = int(ENV.get("PROBE_BATCH", "100"))
MODE = ENV.get("PROBE_MODE", "table")
EXPECT = int(ENV.get("PROBE_EXPECT", "0"))
OUT = ENV.get("PROBE_OUT", os.devnull)
T0 = time.monotonic()

if ENV.get("PROBE_TANSU_COMPAT", "1") == "1":
    # Embedded broker only: correct ListOffsets end offsets so that changelog
    # recovery reads to the real end (see streams/tansu_compat.py).
    tansu_compat.enable()


def report(kind: str, **fields: Any) -> None:
    line = orjson.dumps({"kind": kind, "pid": os.getpid(), "t": time.monotonic() - T0, **fields})
    with open(OUT, "ab") as fh:
        fh.write(line + b"\n")
        fh.flush()


app = faust.App(
    ENV.get("PROBE_APP_ID", "probe"),
    broker=ENV.get("PROBE_BROKER", "kafka://127.0.0.1:9092"),
    store="memory://",
    # tansu has no idempotent producer / transactions.
    processing_guarantee="at_least_once",
    topic_partitions=PARTITIONS,
    topic_replication_factor=1,
    # JoinGroup on tansu waits session_timeout / 2: keep it short for tests.
    broker_session_timeout=2.0,
    broker_heartbeat_interval=0.2,
    broker_rebalance_timeout=10.0,
    broker_request_timeout=15.0,
    broker_commit_every=int(ENV.get("PROBE_COMMIT_EVERY", "1000")),
    broker_commit_interval=0.2,
    # Batch a burst of changelog writes (one noack_take batch) into one record batch
    # per partition: realistic, and the shape tansu's ListOffsets bug needs, so the
    # no-shim recovery check in test_faust_on_tansu.py is deterministic.
    producer_linger=0.02,
    # Default True makes a rebalance wait until every started event is acked; the
    # PROBE_ACK=0 worker never acks, so it would hang there.
    stream_wait_empty=False,
    consumer_auto_offset_reset="earliest",
    web_enabled=False,  # overridden by the worker CLI: pass --without-web as well
    table_cleanup_interval=1.0,
)

source = app.topic(*TOPICS, value_serializer="raw", key_serializer="raw", partitions=PARTITIONS)
table = app.Table(
    "seen",
    default=None,
    partitions=PARTITIONS,
    use_partitioner=TABLE_MODE == "partitioner",
)


def table_put(event: faust.EventT, key: str, value: dict) -> None:
    """Write ``table[key] = value`` with the changelog record in the event's partition.

    After ``noack_take`` there is no "current event" in the agent's task, so a plain
    ``table[key] = value`` cannot know the source partition. Writing the local store
    and sending the changelog record ourselves keeps table partition == source
    partition, which the co-partitioning assignor hands to the same worker.
    """
    table.data[key] = value  # local store only, no changelog
    table.send_changelog(event.message.partition, key, value)


async def consume(stream: faust.StreamT) -> None:
    async for batch in stream.noack_take(BATCH, within=0.05):
        # noack_take yields the Event objects themselves (not the values): each one
        # carries .key, .value and .message.{topic,partition,offset}.
        rows = []
        errors = []
        for event in batch:
            msg = event.message
            key = event.key.decode()
            tp = f"{msg.topic}/{msg.partition}"
            state = table.get(key) or {}
            offsets = state.setdefault(tp, [])
            if msg.offset not in offsets:  # idempotent: re-delivery after a crash
                offsets.append(msg.offset)
            try:
                if TABLE_MODE == "explicit":
                    table_put(event, key, state)
                else:
                    table[key] = state
            except Exception as exc:  # noqa: BLE001 - reported to the test
                errors.append(f"{type(exc).__name__}: {exc}")
            rows.append([msg.topic, msg.partition, msg.offset, key])
        if ACK_STYLE == "event":
            for event in batch:
                # Sync; marks the offset committable (the sensors' on_message_out
                # bookkeeping that stream.ack also does is skipped).
                event.ack()
        elif ACK:
            for event in batch:
                await stream.ack(event)
        report("batch", rows=rows, errors=errors[:3], acked=ACK)


async def throughput(stream: faust.StreamT) -> None:
    """Parse every event as JSON and ack the batch; report the rate once EXPECT are done."""
    loads = orjson.loads
    done = 0
    first = 0.0
    async for batch in stream.noack_take(BATCH, within=0.05):
        if not first:
            first = time.monotonic()
        for event in batch:
            loads(event.value)
        if ACK:
            for event in batch:
                await stream.ack(event)
        done += len(batch)
        if done >= EXPECT:
            elapsed = time.monotonic() - first
            report("throughput", events=done, seconds=elapsed, per_second=done / elapsed)
            first, done = 0.0, 0


app.agent(source, name="probe")(throughput if MODE == "throughput" else consume)

if ENV.get("PROBE_TIMER") == "1":

    @app.timer(interval=0.2)
    async def tick() -> None:
        report("tick")


@app.on_rebalance_complete.connect
async def on_ready(app: faust.App, **kwargs: Any) -> None:
    # Fires after every rebalance once table recovery is done.
    assigned = app.assignor.assigned_actives()
    report(
        "ready",
        assigned=sorted([tp.topic, tp.partition] for tp in assigned),
        table={k: v for k, v in table.data.items()},
    )


if __name__ == "__main__":
    app.main()
