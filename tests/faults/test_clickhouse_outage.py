"""ClickHouse unavailable for a while (10 s here, 60 s with SLAWATCH_SOAK=1) under a running
pipeline: real worker, real sink process (tests/faults/sink_with_outage.py: `slawatch sink`
whose ClickHouse connection can be pointed at a closed port), real Prometheus with the shipped
rules scraping the sink.

- during the outage the sink reports it (/health ok false, slawatch_sink_outage 1, failures
  rising, the rows read held as backlog) and Prometheus fires SinkOutage (as shipped, `for:
  30s`, in the 60 s soak run; set to 0 in the 10 s run) and SinkFailing (its `for: 10m` set to 0
  here, as the alert pipeline test does: the durations themselves are promtool-tested);
- the worker goes on (its records keep reaching sla.events);
- afterwards the backlog drains and ClickHouse holds exactly the replay's records, each once.
"""
from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
import urllib.parse
from datetime import datetime, timedelta

import pytest

from tests.integration.test_live_pipeline import (Worker, generated, live_records, produce,
                                                  replay_records, wait_watermark_past)
from tests.monitoring.daemons import Daemon, http_get, start_prometheus
from tests.sinks import closed_port

from . import SOAK
from .harness import Sink, metric, record_key, until, wait_assigned

OUTAGE_S = 60 if SOAK else 10
# The input stops between its two halves for as long as the staging takes (seconds; more on a
# loaded machine). An idle input's clock follows the wall clock, so the first events of the
# second half would arrive behind the watermark and be applied late, unlike in the replay.
# Ten minutes of event time between the halves keeps the stream within its lateness.
GAP_S = 600


def shifted(events: list[dict], seconds: int) -> list[dict]:
    by = timedelta(seconds=seconds)
    return [{**e, "occurred_at": (datetime.fromisoformat(e["occurred_at"]) + by).isoformat()}
            for e in events]


@pytest.fixture
def prometheus_for(tmp_path):
    """Start Prometheus (shipped rules; SinkFailing `for: 0s`, and SinkOutage too unless the
    outage is long enough for its shipped hold) scraping one target URL."""
    daemons = []

    def start(target_url: str) -> Daemon:
        target = urllib.parse.urlsplit(target_url)
        fast = {"SinkFailing"} if SOAK else {"SinkFailing", "SinkOutage"}
        d = start_prometheus(tmp_path / "prometheus",
                             [{"job_name": "slawatch-sink", "metrics_path": target.path,
                               "static_configs": [{"targets": [target.netloc]}]}], fast_alerts=fast)
        daemons.append(d)
        d.wait_ready()
        return d

    yield start
    for d in daemons:
        d.stop()


def firing(prom: Daemon, alert: str) -> list[dict]:
    alerts = json.loads(http_get(f"{prom.url}/api/v1/alerts"))["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == alert and a["state"] == "firing"]


@pytest.mark.slow
def test_clickhouse_outage_pauses_the_sink_and_loses_nothing(broker, tmp_path, prometheus_for):
    events = generated(seed=31, days=0.06, disorder=1.0)
    half = len(events) // 2
    events = events[:half] + shifted(events[half:], GAP_S)
    expected, newest = replay_records(events)
    w = Worker(broker, tmp_path).start()
    sink = Sink(w, tmp_path / "ch", tmp_path / "sink.log")
    sink.start(cmd=[sys.executable, "-m", "tests.faults.sink_with_outage", sink.dsn,
                    f"http://127.0.0.1:{closed_port()}"])
    prom = prometheus_for(sink.url("/metrics"))
    try:
        wait_assigned(w, 8)
        asyncio.run(produce(broker, w, events[:half]))
        until(lambda: len(sink.record_rows(newest)) > 0, 60, "the first rows in ClickHouse")

        sink.signal(signal.SIGUSR1)                       # ClickHouse goes away
        down_at = time.monotonic()
        asyncio.run(produce(broker, w, events[half:]))    # the pipeline goes on meanwhile
        until(lambda: metric(sink.metrics(), "slawatch_sink_outage") == 1, 30, "the sink to see the outage")
        assert sink.health()["ok"] is False
        alerts = until(lambda: firing(prom, "SinkFailing"), 30, "SinkFailing to fire")
        assert alerts[0]["labels"]["severity"] == "warning" and alerts[0]["labels"]["sink"] == "clickhouse"
        outage = until(lambda: firing(prom, "SinkOutage"), 50 if SOAK else 30, "SinkOutage to fire")
        assert outage[0]["labels"]["sink"] == "clickhouse"
        wait_watermark_past(w, newest)
        produced = live_records(broker, w, newest)        # the worker's output is all there
        assert produced == expected
        backlog = metric(sink.metrics(), "slawatch_sink_backlog_rows")
        assert backlog > 0, "the rows read during the outage are held, uncommitted"
        failures = metric(sink.metrics(), "slawatch_sink_failures_total")
        time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - down_at)))
        assert metric(sink.metrics(), "slawatch_sink_failures_total") >= failures
        assert metric(sink.metrics(), "slawatch_sink_outage") == 1

        sink.signal(signal.SIGUSR2)                       # ClickHouse is back
        want = {rid: record_key(r) for rid, r in expected.items()}
        try:
            history = until(lambda: (rows := sink.record_rows(newest)) == want and rows, 120,
                            "the backlog to drain into ClickHouse")
        except AssertionError as exc:
            rows = sink.record_rows(newest)
            missing, extra = want.keys() - rows.keys(), rows.keys() - want.keys()
            changed = [k for k in want.keys() & rows.keys() if rows[k] != want[k]]
            raise AssertionError(
                f"{exc}: {len(missing)} missing, {len(extra)} extra, {len(changed)} differing rows "
                f"(of {len(want)}); sink metrics:\n{sink.metrics()}\nsink log:\n"
                f"{sink.log.read_text()[-4000:]}") from None
        text = sink.metrics()
        assert metric(text, "slawatch_sink_outage") == 0 and metric(text, "slawatch_sink_backlog_rows") == 0
        assert sink.health()["ok"] is True
    finally:
        sink.stop()
        w.stop()
    assert history == want
