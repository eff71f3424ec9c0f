"""The sink's read API: other processes read the embedded history through the process that owns
it (chdb: one process per data directory), with a token, read-only; `slawatch query` uses it."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import orjson
import pytest

from sinks.kafka_to_clickhouse import QueryUnavailable, remote_query
from streams.settings import Settings
from tests.integration.test_clickhouse_sink import publish
from tests.integration.test_live_pipeline import free_port
from tests.sinks import sla_records

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "test-token-4f2a"


def start_sink(broker, prefix: str, tmp_path: Path, token: str | None,
               dsn: str | None = None) -> tuple[subprocess.Popen, str, dict]:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT), SLAWATCH_BROKER_URL=broker.url, SLAWATCH_EMBEDDED="true",
               SLAWATCH_APP_ID=prefix, SLAWATCH_SLA_EVENTS_TOPIC=f"{prefix}-sla.events",
               SLAWATCH_METRICS_TOPIC=f"{prefix}-sla.metric-windows",
               SLAWATCH_DEAD_LETTER_TOPIC=f"{prefix}-support.dead-letter",
               SLAWATCH_BROKER_SESSION_TIMEOUT_S="1", SLAWATCH_SINK_HTTP_PORT=str(port))
    env.pop("SLAWATCH_API_TOKEN", None)
    if token:
        env["SLAWATCH_API_TOKEN"] = token
    broker.create_topics({env[k]: 2 for k in ("SLAWATCH_SLA_EVENTS_TOPIC", "SLAWATCH_METRICS_TOPIC",
                                              "SLAWATCH_DEAD_LETTER_TOPIC")})
    proc = subprocess.Popen([sys.executable, "-m", "streams.cli", "sink", "--clickhouse",
                             dsn or f"chdb://{tmp_path / 'ch'}"], cwd=ROOT, env=env,
                            stdout=open(tmp_path / "sink.log", "ab"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, (tmp_path / "sink.log").read_text()[-2000:]
        try:
            urllib.request.urlopen(url + "/health", timeout=1)
            return proc, url, env
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("sink did not come up")


def stop(proc):
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def test_history_is_readable_through_the_owning_sink(broker, topic_prefix, tmp_path):
    proc, url, env = start_sink(broker, topic_prefix, tmp_path, TOKEN)
    try:
        settings = Settings(broker_url=broker.url, sla_events_topic=env["SLAWATCH_SLA_EVENTS_TOPIC"],
                            metrics_topic=env["SLAWATCH_METRICS_TOPIC"],
                            dead_letter_topic=env["SLAWATCH_DEAD_LETTER_TOPIC"])
        records = sla_records()
        asyncio.run(publish(settings, records=records))
        sql = "SELECT count() AS n FROM sla_records FINAL"
        deadline = time.monotonic() + 30
        while True:
            try:
                if remote_query(url, TOKEN, sql)["rows"][0][0] >= len(records):
                    break
            except QueryUnavailable:   # the schema is still being put in place
                pass
            assert time.monotonic() < deadline, "records never became queryable"
            time.sleep(0.3)
        assert remote_query(url, TOKEN, sql) == {"columns": ["n"], "rows": [[len(records)]]}
        # parameters are bound server-side, not pasted into the SQL
        got = remote_query(url, TOKEN, "SELECT count() FROM sla_records FINAL WHERE status = {s:String}",
                           {"s": "breached"})
        assert got["rows"][0][0] == sum(1 for r in records if r.status == "breached")
        with pytest.raises(RuntimeError, match="401"):
            remote_query(url, None, sql)
        with pytest.raises(RuntimeError, match="401"):
            remote_query(url, "wrong", sql)
        with pytest.raises(RuntimeError, match="(?i)400.*readonly"):
            remote_query(url, TOKEN, "DROP TABLE sla_records")
        assert remote_query(url, TOKEN, sql)["rows"][0][0] == len(records)   # still there
        cli = subprocess.run([sys.executable, "-m", "streams.cli", "query", sql, "--api", url, "--json"],
                             cwd=ROOT, env=env, capture_output=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        assert orjson.loads(cli.stdout) == {"n": len(records)}
        metrics = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
        assert 'slawatch_sink_failures_total{sink="clickhouse"} 0.0' in metrics
    finally:
        stop(proc)


def test_query_api_is_off_without_a_configured_token(broker, topic_prefix, tmp_path):
    proc, url, _ = start_sink(broker, topic_prefix, tmp_path, token=None)
    try:
        with pytest.raises(RuntimeError, match="403"):
            remote_query(url, "anything", "SELECT 1")
    finally:
        stop(proc)


def test_qa_pull_through_the_sink_api_matches_a_direct_pull(broker, topic_prefix, tmp_path):
    """A QA specialist pulls samples through the running sink that owns the embedded history."""
    events = tmp_path / "events.jsonl"
    run = lambda *a: subprocess.run([sys.executable, "-m", "streams.cli", *a], cwd=ROOT,  # noqa: E731
                                    env=dict(os.environ, PYTHONPATH=str(ROOT), SLAWATCH_API_TOKEN=TOKEN),
                                    capture_output=True, timeout=120)
    assert run("generate", "--out", str(events), "--days", "0.3", "--seed", "3").returncode == 0
    dsn = f"chdb://{tmp_path / 'ch'}"
    sampled = run("qa", "sample", str(events), "--clickhouse", dsn)
    assert sampled.returncode == 0, sampled.stderr
    pull = ("qa", "pull", "--from", "2026-11-02", "--to", "2026-11-02", "--format", "jsonl")
    direct = run(*pull, "--clickhouse", dsn)
    assert direct.returncode == 0 and direct.stdout.count(b"\n") > 0, direct.stderr
    proc, url, _ = start_sink(broker, topic_prefix, tmp_path, TOKEN)   # now the sink owns the directory
    try:
        via_api = run(*pull, "--api", url)
        refused = subprocess.run([sys.executable, "-m", "streams.cli", *pull, "--api", url], cwd=ROOT,
                                 env=dict(os.environ, PYTHONPATH=str(ROOT), SLAWATCH_API_TOKEN="wrong"),
                                 capture_output=True, timeout=120)
    finally:
        stop(proc)
    assert via_api.returncode == 0, via_api.stderr
    assert via_api.stdout == direct.stdout
    assert refused.returncode != 0 and b"401" in refused.stderr + refused.stdout


def test_query_before_the_history_is_ready_answers_503(broker, topic_prefix, tmp_path):
    """ClickHouse unreachable from the start: the sink waits for it (no schema yet), and a query
    is told the service is not ready (503, retryable), not that its table does not exist."""
    from tests.sinks import closed_port

    proc, url, _ = start_sink(broker, topic_prefix, tmp_path, TOKEN,
                              dsn=f"http://127.0.0.1:{closed_port()}")
    try:
        with pytest.raises(QueryUnavailable, match="503.*not ready"):
            remote_query(url, TOKEN, "SELECT count() FROM sla_records")
        with pytest.raises(RuntimeError, match="401"):   # the token is checked first
            remote_query(url, "wrong", "SELECT 1")
    finally:
        stop(proc)
