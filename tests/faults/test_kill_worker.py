"""kill -9 of the worker (and of the ClickHouse sink) at seeded random points of one stream.

The stream is produced in chunks while the worker is killed ten times, each after a seeded
random time alive (from "still joining the group / restoring its state" to "mid-batch"), and
restarted; the real `slawatch sink` process is killed too, three times. At the end:
- the SLA records on `sla.events`, de-duplicated by record_id, are exactly the replay's;
- the ClickHouse history the sink wrote (chdb, read with FINAL through its /query API) holds
  exactly the replay's records, each once.
"""
from __future__ import annotations

import asyncio
import random
import time

import pytest

from tests.integration.test_live_pipeline import (LATENESS_S, PARTITIONS, Worker, generated,
                                                  live_records, produce, replay_records,
                                                  wait_watermark_past)

from . import SOAK
from .harness import Sink, record_key, restarted, wait_assigned

SEED = 7007
KILLS = 25 if SOAK else 10
SINK_KILLS = {2, 5, 8} if not SOAK else {2, 5, 8, 12, 17, 21}


@pytest.mark.slow
def test_ten_sigkills_lose_and_repeat_nothing(broker, tmp_path):
    rng = random.Random(SEED)
    events = generated(seed=SEED, days=0.3 if SOAK else 0.1, disorder=LATENESS_S * 0.7)
    expected, newest = replay_records(events)
    cuts = sorted(rng.sample(range(1, len(events)), 2 * KILLS))
    chunks = [events[a:b] for a, b in zip([0, *cuts], [*cuts, len(events)])]

    w = Worker(broker, tmp_path).start()
    sink = Sink(w, tmp_path / "ch", tmp_path / "sink.log").start()
    kills = []
    try:
        wait_assigned(w, 2 * PARTITIONS)
        for i in range(KILLS):
            asyncio.run(produce(broker, w, chunks[2 * i]))       # input while it runs ...
            # At most 1 s: the input is idle meanwhile, and an idle input's clock follows wall
            # time after 0.5 s; past lateness (2 s) minus the stream's disorder (1.4 s) the next
            # chunk's first events could arrive behind it and be applied late, unlike in the
            # replay (the outage test had exactly that under load).
            alive = rng.uniform(0.05, 1.0)
            time.sleep(alive)
            w.kill()
            kills.append(round(alive, 2))
            if i in SINK_KILLS:
                sink.kill()
                sink.start()
            asyncio.run(produce(broker, w, chunks[2 * i + 1]))   # ... and while it is down
            w = restarted(w)
        asyncio.run(produce(broker, w, chunks[2 * KILLS]))
        wait_watermark_past(w, newest, timeout=120)
        got = live_records(broker, w, newest)
        want = {rid: record_key(r) for rid, r in expected.items()}
        history = sink_history(sink, newest, want)
        assert sink.health()["ok"] is True
    finally:
        w.stop()
        sink.stop()
    assert len(kills) == KILLS
    assert len(expected) > 500
    assert got == expected
    assert history.keys() == want.keys()
    assert {k for k in want if history[k] != want[k]} == set()


def sink_history(sink: Sink, until_us: int, want: dict, timeout: float = 60) -> dict:
    """The sink's de-duplicated records once they equal `want`, or as they are at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        rows = sink.record_rows(until_us)
        if rows == want or time.monotonic() > deadline:
            return rows
        time.sleep(0.5)
