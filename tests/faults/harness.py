"""Shared helpers of the fault tests: waiting on a worker subprocess, and the real `slawatch sink`
as a subprocess (its own consumer group, chdb directory and HTTP port) read through its /query API.

The worker subprocess itself is tests/integration/test_live_pipeline.py's `Worker`.
"""
from __future__ import annotations

import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson

from sinks.kafka_to_clickhouse import QueryUnavailable, remote_query
from tests.integration.test_live_pipeline import ROOT, Worker, free_port
from tests.processes import ManagedProcess


def get_json(url: str, timeout: float = 2) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return orjson.loads(r.read())


def get_text(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def metric(text: str, name: str) -> float:
    """Sum of the samples of `name` (any labels) in a Prometheus exposition."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") or line.startswith(name + " "))


def until(predicate, timeout: float, what: str, every: float = 0.2):
    """Poll `predicate` until it returns something truthy; that value, or AssertionError."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except (OSError, QueryUnavailable) as exc:   # a process between restarts, or not ready
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def wait_assigned(worker: Worker, n: int, timeout: float = 60) -> None:
    until(lambda: get_json(f"http://127.0.0.1:{worker.port}/health")["partitions"] >= n,
          timeout, f"the worker to hold {n} partitions")


def wait_received(worker: Worker, n: int, timeout: float = 180) -> None:
    """Until the worker has read `n` input messages since it started (a watermark can pass the
    newest event before every partition is read: an idle partition follows the others)."""
    def done():
        assert worker.proc.poll() is None, worker.log.read_text()[-3000:]
        return worker.status()["totals"]["events"] >= n
    until(done, timeout, f"the worker to read {n} messages", every=0.3)


def restarted(worker: Worker) -> Worker:
    """A new worker process with the same topics and group (a fresh HTTP port)."""
    w = Worker.__new__(Worker)
    w.__dict__.update(worker.__dict__)
    w.port = free_port()
    w.proc = None
    return w.start()


class Sink(ManagedProcess):
    """`slawatch sink` in a subprocess, copying a worker's output topics into chdb at `data`."""

    TOKEN = "fault-tests"
    stop_timeout_s = 30.0   # a sink stopping writes and commits what it read

    def __init__(self, worker: Worker, data: Path, log: Path, extra_env: dict | None = None,
                 dsn: str | None = None) -> None:
        self.worker, self.data, self.log = worker, data, log
        self.dsn = dsn or f"chdb://{data}"
        self.port = free_port()
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None

    def env(self) -> dict:
        return {**self.worker.env(), "SLAWATCH_SINK_HTTP_PORT": str(self.port),
                "SLAWATCH_API_TOKEN": self.TOKEN, **self.extra_env}

    def start(self, wait: bool = True, cmd: list[str] | None = None) -> "Sink":
        self.port = free_port()
        cmd = cmd or [sys.executable, "-m", "streams.cli", "sink", "--clickhouse", self.dsn]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env(), stdout=open(self.log, "ab"),
                                     stderr=subprocess.STDOUT)
        if wait:
            until(lambda: self.health() is not None, 60, "the sink's /health")
        return self

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def health(self) -> dict | None:
        assert self.proc is not None and self.proc.poll() is None, self.log.read_text()[-3000:]
        try:
            return get_json(self.url("/health"))
        except urllib.error.HTTPError as exc:
            return orjson.loads(exc.read())

    def metrics(self) -> str:
        return get_text(self.url("/metrics"))

    def query(self, sql: str, params: dict | None = None) -> list[list]:
        return remote_query(self.url(""), self.TOKEN, sql, params)["rows"]

    def record_rows(self, until_us: int) -> dict[str, tuple]:
        """record_id -> the row's identifying fields, de-duplicated (FINAL), `at` <= until."""
        rows = self.query(
            "SELECT record_id, entity_kind, entity_id, metric, cycle, status, policy, "
            "target_seconds, elapsed_seconds FROM sla_records FINAL "
            "WHERE at <= fromUnixTimestamp64Micro({until:Int64}, 'UTC')", {"until": until_us})
        return {r[0]: tuple(r[1:]) for r in rows}



def record_key(r: dict) -> tuple:
    """The fields `Sink.record_rows` returns, from a record dict (replay or sla.events)."""
    return (r["entity_kind"], r["entity_id"], r["metric"], r["cycle"], r["status"], r["policy"],
            float(r["target_seconds"]), float(r["elapsed_seconds"]))
