"""Publish contract events (shared/spec/events.md) to the two input topics.

The demo and the integration tests need a source that behaves like the helpdesk and chat
systems: one JSON object per message, `conversation.*` events on the conversations topic,
`ticket.*` on the tickets topic, keyed by the entity id so that every event of one entity lands
in one partition, in the order given.

Two modes:

- as fast as possible (`speedup=None`): sends are not awaited one by one; their delivery
  futures are collected and awaited in chunks, so aiokafka's accumulator fills whole batches
  (a per-send await would make every batch a single record and cost one round trip each);
- paced by event time (`speedup=k`): the event at event time t0 + Δ (t0 = the first event's
  time) is sent at wall time start + Δ/k, so a generated day plays out "live" in 24 h / k.
  Events given out of event-time order are sent as soon as their turn in the input comes.

`produce_raw` sends arbitrary bytes (malformed JSON, wrong fields) for the dead-letter tests.
Delivery is acks="all" without idempotence: the embedded tansu broker does not support
idempotent producers, and the pipeline de-duplicates on `event_id` anyway.
"""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Callable, Iterable

import orjson
from aiokafka import AIOKafkaProducer

from .core.timeutil import US, parse_rfc3339
from .settings import Settings

__all__ = ["produce", "produce_sync", "produce_raw", "topic_and_key"]

# Outstanding sends awaited together in fast mode. Large enough to keep several batches per
# partition in flight, small enough that a broker error surfaces within a chunk, not at the end.
CHUNK = 2000
# In paced mode, sleeps shorter than this are skipped: event times are whole seconds, so with
# a large speedup many events share an instant and a flurry of tiny sleeps would only add jitter.
_MIN_SLEEP_S = 0.002

OnSent = Callable[[int], object]


def topic_and_key(event: dict, settings: Settings) -> tuple[str, bytes | None]:
    """The topic and message key of one event (contract "Transport").

    The topic follows the type prefix, not the fields present: a `ticket.created` may carry an
    optional `conversation_id`, but it is a ticket event keyed by its `ticket_id`.
    """
    etype = event.get("type")
    if isinstance(etype, str) and etype.startswith("conversation."):
        topic, id_field = settings.conversations_topic, "conversation_id"
    else:
        topic, id_field = settings.tickets_topic, "ticket_id"
    entity_id = event.get(id_field)
    # A malformed event without an id still goes out (the pipeline dead-letters it); unkeyed
    # it is spread over partitions, which is fine for an event that belongs to no entity.
    key = str(entity_id).encode() if entity_id is not None else None
    return topic, key


def _producer(settings: Settings) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers(),
        client_id=f"{settings.app_id}-producer",
        acks="all",
        # A few ms of linger lets concurrent sends share a batch without a visible delay.
        linger_ms=5,
        max_batch_size=256 * 1024,
        enable_idempotence=False,
        **settings.kafka_credentials(),
    )


async def _aiter(events: Iterable[dict] | AsyncIterable[dict]):
    if hasattr(events, "__aiter__"):
        async for ev in events:  # type: ignore[union-attr]
            yield ev
    else:
        for ev in events:  # type: ignore[union-attr]
            yield ev


def _event_time_us(event: dict) -> int | None:
    value = event.get("occurred_at")
    if not isinstance(value, str):
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None  # a malformed event is sent without pacing; the pipeline dead-letters it


async def produce(events: Iterable[dict] | AsyncIterable[dict], settings: Settings, *,
                  speedup: float | None = None, on_sent: OnSent | None = None) -> int:
    """Send every event; return how many were sent (and acknowledged by the broker).

    `speedup=None` sends as fast as possible; `speedup=k > 0` paces by event time, k times
    faster than real time. `on_sent(n)`, if given, is called with the running number of
    acknowledged events each time a group of sends completes (every chunk in fast mode, before
    each pause in paced mode, and at the end): enough for a progress display.
    Raises the first delivery error (aiokafka's KafkaError) after the producer is stopped.
    """
    if speedup is not None and not speedup > 0:
        raise ValueError(f"speedup must be > 0 or None, got {speedup!r}")
    producer = _producer(settings)
    await producer.start()
    sent = 0
    pending: list[asyncio.Future] = []

    async def settle() -> None:
        nonlocal sent, pending
        if not pending:
            return
        batch, pending = pending, []
        await asyncio.gather(*batch)
        sent += len(batch)
        if on_sent is not None:
            on_sent(sent)

    try:
        dumps = orjson.dumps
        t0: int | None = None
        wall0 = 0.0
        loop = asyncio.get_running_loop()
        async for event in _aiter(events):
            if speedup is not None:
                t = _event_time_us(event)
                if t is not None:
                    if t0 is None:
                        t0, wall0 = t, loop.time()
                    delay = wall0 + (t - t0) / US / speedup - loop.time()
                    if delay > _MIN_SLEEP_S:
                        # Settle before waiting: errors show up now, and the caller's progress
                        # reflects what the broker has, not what sits in a buffer.
                        await settle()
                        await asyncio.sleep(delay)
            topic, key = topic_and_key(event, settings)
            # send() only waits when the accumulator is full; the returned future resolves
            # when the batch holding this record is acknowledged.
            pending.append(await producer.send(topic, dumps(event), key=key))
            if len(pending) >= CHUNK:
                await settle()
        await settle()
    finally:
        # stop() flushes what is still buffered; pending futures then resolve or fail.
        await producer.stop()
    return sent


def produce_sync(events: Iterable[dict], settings: Settings, *, speedup: float | None = None,
                 on_sent: OnSent | None = None) -> int:
    """`produce` for synchronous callers (the CLI). Must not be called from a running loop."""
    return asyncio.run(produce(events, settings, speedup=speedup, on_sent=on_sent))


async def produce_raw(topic: str, items: list[tuple[bytes | None, bytes]],
                      settings: Settings) -> int:
    """Send `(key, value)` byte pairs to `topic` as they are (tests: malformed input)."""
    producer = _producer(settings)
    await producer.start()
    try:
        futures = [await producer.send(topic, value, key=key) for key, value in items]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    return len(items)
