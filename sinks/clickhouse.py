"""ClickHouse history: SLA records, metric windows, breaches, dead letters and QA samples.

One code path for both back-ends, through clickhouse-connect only:
  - embedded (default, tests): `chdb:///abs/path` (or `chdb://memory`), the chdb engine in this
    process. chdb allows ONE process per data directory (it locks `PATH/status`): the process that
    runs the sink owns it, other readers go through that process or a ClickHouse server;
  - production: the official server over HTTP(S), e.g. `http://user:pass@host:8123/db`.

Idempotence (a replay, a restarted sink or a retried batch never double counts):
  - every table is a ReplacingMergeTree whose sorting key is a function of the row's natural id
    (`record_id`, window id + source partition, topic/partition/offset, sample id) and whose
    partition key is too, so all copies of a row meet in one partition and collapse on merge;
  - queries read with FINAL (per partition, which is exact for that reason), so the answer is
    de-duplicated even before the background merges ran; `sla_breaches` is a view of
    `sla_records` with FINAL built in;
  - on the low-volume tables `non_replicated_deduplication_window` also drops a byte-identical
    retried block at insert time (a retry after a timeout whose first attempt did land leaves
    no extra part); not on sla_records, where it cost throughput (see its migration).

TTL: none on the history tables: a backfill of last year's data must land and stay. Retention
there is an operator's `ALTER TABLE ... DROP PARTITION` (monthly partitions). Only
`dead_letters`, which hold raw customer payloads, expire, and relative to `inserted_at` (the
time the sink wrote the row), never to an event time, so a freshly written row always lives 90
days whatever its `received_at`.

Failures: each write is retried with exponential backoff (bounded attempts), reconnecting
between attempts; after the bound `SinkUnavailable` is raised and the caller (the Kafka sink)
keeps its offsets uncommitted. Counters (`failures_total`, `retries_total`,
`rows_written_total`, per table, and `unavailable_total`) are plain dicts for the Prometheus
exposition.
"""
from __future__ import annotations

import functools
import gc
import hashlib
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from streams.core.records import SlaRecord
from streams.core.timeutil import US, parse_rfc3339

log = logging.getLogger("slawatch.clickhouse")

__all__ = ["ClickHouseSink", "SinkUnavailable", "MIGRATIONS", "TABLES", "backfill",
           "records_table_from_json"]

# Called with (index into the batch, reason) for a row that cannot be converted.
OnInvalid = Callable[[int, str], None]
# What a malformed row raises while converted (a missing key, a wrong type, a bad timestamp).
_BAD_ROW = (KeyError, TypeError, ValueError, AttributeError, OverflowError, pa.ArrowException)

_VIEWS = ("sla_breaches",)
TABLES = ("sla_records", "sla_breaches", "metric_windows", "dead_letters", "qa_samples",
          "qa_transcripts", "qa_checks", "qa_days")

# Identical retried blocks are dropped at insert time (see module doc); 100 recent block hashes
# per table cover any retry of the last batches.
_DEDUP = "non_replicated_deduplication_window = 100"

_RECORD_COLUMNS = """(
    record_id       String,
    entity_kind     LowCardinality(String),
    entity_id       String,
    metric          LowCardinality(String),
    policy          LowCardinality(String),
    cycle           UInt32,
    status          LowCardinality(String),
    target_seconds  Float64,
    elapsed_seconds Float64,
    deadline        Nullable(DateTime64(6, 'UTC')),
    at              DateTime64(6, 'UTC'),
    channel         LowCardinality(Nullable(String)),
    priority        LowCardinality(Nullable(String)),
    customer_tier   LowCardinality(Nullable(String)),
    category        LowCardinality(Nullable(String)),
    agent_id        Nullable(String),
    queue           LowCardinality(Nullable(String)),
    `group`         LowCardinality(Nullable(String)),
    warn_fraction   Nullable(Float64),
    inserted_at     DateTime('UTC') DEFAULT now(),
    INDEX idx_entity entity_id TYPE bloom_filter GRANULARITY 4,
    INDEX idx_agent agent_id TYPE bloom_filter GRANULARITY 4
)"""

# (version, name, statements). Append only: an applied migration is never edited (its checksum
# is recorded and a mismatch is logged), a change is a new version. Every statement is
# idempotent (IF NOT EXISTS) so a crash between a DDL and its bookkeeping row is harmless.
MIGRATIONS: list[tuple[int, str, tuple[str, ...]]] = [
    (1, "sla_records", (
        # ORDER BY: dashboards and reports filter by metric and status over a time range
        # ("first-response breaches in the last 24 h by queue"), so those lead; entity_id then
        # keeps one entity's records of an hour together. Every key column is derived from the
        # same fields as record_id (kind, entity, metric, cycle, status, at), so the key is as
        # unique as record_id, which ends it. queue/agent are not in record_id: not in the key.
        # No insert-time block de-dup here (the other tables have it): hashing every block cost
        # ~15 % of the sink's throughput on this, the one high-volume table (bench/sink.py), and
        # the ReplacingMergeTree key already makes a retried block harmless.
        f"""CREATE TABLE IF NOT EXISTS sla_records {_RECORD_COLUMNS}
        ENGINE = ReplacingMergeTree
        PARTITION BY toYYYYMM(at)
        ORDER BY (metric, status, toStartOfHour(at), entity_kind, entity_id, record_id)""",
    )),
    (2, "sla_breaches", (
        # A plain view, de-duplicated (FINAL), not a second table: `status` leads the sort key
        # of sla_records after `metric`, so breach queries read only breach granules anyway,
        # while a second table (or a materialized view) cost an extra insert per batch
        # (measured 15-40 % of the sink's throughput, bench/sink.py) and could diverge: a
        # materialized view's insert may fail after the source part landed, and the retried
        # block is then dropped as a duplicate at the source, never reaching the view.
        """CREATE VIEW IF NOT EXISTS sla_breaches AS
        SELECT * FROM sla_records FINAL WHERE status = 'breached'""",
    )),
    (3, "metric_windows", (
        # One row per (cell, source partition): partitions emit *partial* aggregates of the same
        # cell (same window_id) that must add up, while a restarted partition re-emits its own
        # partial identically and must replace it. Dashboards read a time range of windows.
        f"""CREATE TABLE IF NOT EXISTS metric_windows (
            window_id               String,
            source_partition        Int32,
            window_start            DateTime('UTC'),
            window_seconds          UInt32,
            entity_kind             LowCardinality(String),
            channel                 LowCardinality(Nullable(String)),
            queue                   LowCardinality(Nullable(String)),
            priority                LowCardinality(Nullable(String)),
            customer_tier           LowCardinality(Nullable(String)),
            category                LowCardinality(Nullable(String)),
            agent_id                Nullable(String),
            started                 UInt32,
            first_responses         UInt32,
            responded_within_target UInt32,
            abandoned               UInt32,
            resolved                UInt32,
            reopened                UInt32,
            first_response_sum      Float64,
            resolution_sum          Float64,
            sla                     Map(String, UInt32),
            csat_count              UInt32,
            csat_sum                UInt32,
            csat_hist               Array(UInt32),
            late_events             UInt32,
            body                    String CODEC(ZSTD(3)),
            inserted_at             DateTime('UTC') DEFAULT now()
        )
        ENGINE = ReplacingMergeTree
        PARTITION BY toYYYYMM(window_start)
        ORDER BY (window_start, entity_kind, window_id, source_partition)
        SETTINGS {_DEDUP}""",
    )),
    (4, "dead_letters", (
        # Keyed by where the bad message was read: a re-delivered message is the same row. No
        # partition by received_at: two deliveries have different wall times and must still
        # collapse. TTL on inserted_at only (module doc).
        f"""CREATE TABLE IF NOT EXISTS dead_letters (
            source_topic     LowCardinality(String),
            source_partition Int32,
            source_offset    Int64,
            code             LowCardinality(String),
            reason           String,
            received_at      DateTime64(3, 'UTC'),
            raw_base64       String CODEC(ZSTD(3)),
            raw_text         String CODEC(ZSTD(3)),
            inserted_at      DateTime('UTC') DEFAULT now()
        )
        ENGINE = ReplacingMergeTree
        ORDER BY (source_topic, source_partition, source_offset)
        TTL inserted_at + INTERVAL 90 DAY
        SETTINGS {_DEDUP}""",
    )),
    (5, "qa_samples_and_transcripts", (
        # Issue 5 (QA sampling): which conversations/tickets were drawn for review, by which rule
        # version and seed (so a draw is reproducible), and their masked transcripts. `version`
        # lets a later state of a sample (reviewed, scored) replace the earlier one.
        f"""CREATE TABLE IF NOT EXISTS qa_samples (
            sample_id    String,
            entity_kind  LowCardinality(String),
            entity_id    String,
            agent_id     Nullable(String),
            channel      LowCardinality(Nullable(String)),
            queue        LowCardinality(Nullable(String)),
            reason       LowCardinality(String),
            rule_version LowCardinality(String),
            seed         UInt64,
            sampled_at   DateTime64(3, 'UTC'),
            status       LowCardinality(String) DEFAULT 'pending',
            score        Nullable(Float64),
            version      UInt64 DEFAULT toUnixTimestamp64Micro(now64(6)),
            inserted_at  DateTime('UTC') DEFAULT now(),
            INDEX idx_sampled_at sampled_at TYPE minmax GRANULARITY 1,
            INDEX idx_agent agent_id TYPE bloom_filter GRANULARITY 4
        )
        ENGINE = ReplacingMergeTree(version)
        ORDER BY sample_id
        SETTINGS {_DEDUP}""",
        f"""CREATE TABLE IF NOT EXISTS qa_transcripts (
            sample_id       String,
            entity_kind     LowCardinality(String),
            entity_id       String,
            masking_version LowCardinality(String),
            message_count   UInt32,
            transcript      String CODEC(ZSTD(3)),
            created_at      DateTime64(3, 'UTC'),
            version         UInt64 DEFAULT toUnixTimestamp64Micro(now64(6)),
            inserted_at     DateTime('UTC') DEFAULT now()
        )
        ENGINE = ReplacingMergeTree(version)
        ORDER BY sample_id
        SETTINGS {_DEDUP}""",
    )),
    (6, "qa_sample_reasons_and_checks", (
        # The QA day (streams/qa_day.py): a sample has several reasons, a priority and a local
        # day; each sample's automatic check results (streams/core/qa_checks.py) are rows of
        # qa_checks, one per (sample, check). Evidence never holds PII (the checker masks it).
        """ALTER TABLE qa_samples
            ADD COLUMN IF NOT EXISTS reasons Array(LowCardinality(String)) AFTER reason,
            ADD COLUMN IF NOT EXISTS priority Float64 DEFAULT 0 AFTER reasons,
            ADD COLUMN IF NOT EXISTS day Date DEFAULT toDate(sampled_at) AFTER priority""",
        f"""CREATE TABLE IF NOT EXISTS qa_checks (
            sample_id   String,
            `check`     LowCardinality(String),
            passed      Bool,
            evidence    Array(String),
            version     UInt64 DEFAULT toUnixTimestamp64Micro(now64(6)),
            inserted_at DateTime('UTC') DEFAULT now()
        )
        ENGINE = ReplacingMergeTree(version)
        ORDER BY (sample_id, `check`)
        SETTINGS {_DEDUP}""",
    )),
    (7, "qa_days", (
        # The live QA stage (streams/qa_live.py): one row per close of the QA clock, the local
        # midnight up to which every day is drawn. It is where a restarted stage resumes, and
        # tells QA specialists whether yesterday's sample is complete.
        f"""CREATE TABLE IF NOT EXISTS qa_days (
            boundary     DateTime64(6, 'UTC'),
            tz           LowCardinality(String),
            days         Array(Date),
            samples      UInt32,
            candidates   UInt32,
            late         UInt32,
            rule_version LowCardinality(String),
            inserted_at  DateTime('UTC') DEFAULT now()
        )
        ENGINE = ReplacingMergeTree
        ORDER BY (tz, boundary)
        SETTINGS {_DEDUP}""",
    )),
]

_MIGRATIONS_DDL = """CREATE TABLE IF NOT EXISTS slawatch_migrations (
    version    UInt32,
    name       String,
    checksum   String,
    applied_at DateTime('UTC') DEFAULT now()
) ENGINE = ReplacingMergeTree ORDER BY version"""

# Duplicates of a row always share a partition (module doc), so FINAL need not merge across
# partitions: exact, and it lets the server process partitions in parallel.
_FINAL_SETTINGS = {"do_not_merge_across_partitions_select_final": 1}

_TS = pa.timestamp("us", tz="UTC")
_STR = pa.string()
_RECORD_SCHEMA = pa.schema([
    ("record_id", _STR), ("entity_kind", _STR), ("entity_id", _STR), ("metric", _STR),
    ("policy", _STR), ("cycle", pa.uint32()), ("status", _STR), ("target_seconds", pa.float64()),
    ("elapsed_seconds", pa.float64()), ("deadline", _TS), ("at", _TS), ("channel", _STR),
    ("priority", _STR), ("customer_tier", _STR), ("category", _STR), ("agent_id", _STR),
    ("queue", _STR), ("group", _STR), ("warn_fraction", pa.float64()),
])

# Without these a record row means nothing (or cannot be de-duplicated).
_REQUIRED_RECORD_FIELDS = ("record_id", "entity_kind", "entity_id", "metric", "policy", "cycle",
                           "status", "target_seconds", "elapsed_seconds", "at")

_WINDOW_COLUMNS = (
    "window_id", "source_partition", "window_start", "window_seconds", "entity_kind", "channel",
    "queue", "priority", "customer_tier", "category", "agent_id", "started", "first_responses",
    "responded_within_target", "abandoned", "resolved", "reopened", "first_response_sum",
    "resolution_sum", "sla", "csat_count", "csat_sum", "csat_hist", "late_events", "body",
)
_DEAD_LETTER_COLUMNS = ("source_topic", "source_partition", "source_offset", "code", "reason",
                        "received_at", "raw_base64", "raw_text")
_QA_SAMPLE_COLUMNS = ("sample_id", "entity_kind", "entity_id", "agent_id", "channel", "queue",
                      "reason", "rule_version", "seed", "sampled_at", "status", "score")
# Migration 6: a sample dict that carries `reasons` is written with these too, and with an
# explicit `version` when it gives one (the QA day writes version 1, so a re-run never
# replaces a reviewer's later state, whose version is the insert time).
_QA_SAMPLE_COLUMNS_V6 = _QA_SAMPLE_COLUMNS + ("reasons", "priority", "day", "version")
_QA_CHECK_COLUMNS = ("sample_id", "check", "passed", "evidence", "version")
_QA_DAY_COLUMNS = ("boundary", "tz", "days", "samples", "candidates", "late", "rule_version")
_QA_TRANSCRIPT_COLUMNS = ("sample_id", "entity_kind", "entity_id", "masking_version",
                          "message_count", "transcript", "created_at")


class SinkUnavailable(RuntimeError):
    """ClickHouse could not be reached or refused a write `attempts` times in a row."""

    def __init__(self, table: str, attempts: int, error: BaseException) -> None:
        super().__init__(f"ClickHouse unavailable: writing {table} failed {attempts} times; "
                         f"last error: {type(error).__name__}: {error}")
        self.table = table
        self.attempts = attempts
        self.error = error


def _retryable_errors() -> tuple[type[BaseException], ...]:
    from clickhouse_connect.driver.exceptions import ClickHouseError

    # ClickHouseError covers connection failures (OperationalError), server-side errors
    # (DatabaseError: too many parts, memory limit, timeouts, a locked chdb directory) and
    # OSError the transport may leak. Python-side conversion errors (TypeError/ValueError on a
    # malformed row) happen before any attempt and are not retried: retrying cannot fix them.
    return (ClickHouseError, OSError)


class ClickHouseSink:
    """Writes and reads slawatch's history tables; see the module doc for the guarantees."""

    def __init__(self, dsn: str | None = None, *, max_attempts: int = 5,
                 backoff_s: float = 0.05, backoff_max_s: float = 2.0,
                 on_retry: Callable[[str, int, BaseException], None] | None = None,
                 connect_timeout_s: float = 3.0, pipeline_rows: int = 25_000) -> None:
        self.dsn = dsn
        self.max_attempts = max(1, max_attempts)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        # Called after each failed attempt (table, attempt number, error); tests use it to end
        # a simulated outage, the lead may log or alert from it.
        self.on_retry = on_retry
        self.connect_timeout_s = connect_timeout_s
        self.client: Any = None
        self.failures_total: dict[str, int] = {}
        self.retries_total: dict[str, int] = {}
        self.rows_written_total: dict[str, int] = {t: 0 for t in TABLES if t not in _VIEWS}
        self.unavailable_total = 0
        # chdb handles and HTTP clients are not safe for concurrent use; the Kafka sink writes
        # from a worker thread while tests/CLI may query from the main one.
        self._lock = threading.RLock()
        self._retryable = _retryable_errors()
        # Large record writes are cut into chunks of this many rows, and chunk k+1 is converted
        # while chunk k is inserted (see write_record_tables).
        self.pipeline_rows = pipeline_rows

    # ------------------------------------------------------------------ connection
    def connect(self, dsn: str | None = None) -> "ClickHouseSink":
        """Open the client for `dsn` (or the one given at construction), with retries."""
        if dsn is not None:
            self.dsn = dsn
        self._retry("connect", self._ensure_client)
        return self

    def _ensure_client(self) -> Any:
        if self.client is None:
            if not self.dsn:
                raise ValueError("no ClickHouse DSN given")
            import clickhouse_connect

            kwargs: dict[str, Any] = {}
            if not self.dsn.startswith("chdb:"):
                # We retry ourselves (with backoff and counters): no hidden transport retries.
                kwargs = {"connect_timeout": self.connect_timeout_s, "query_retries": 0,
                          "send_receive_timeout": 60}
                # Credentials and TLS from SLAWATCH_CLICKHOUSE_* (docs/security.md), read here so
                # every caller (sink, query, qa, backfill) gets them without passing them along.
                from streams.settings import Settings

                kwargs.update(Settings().clickhouse_client_kwargs(self.dsn))
            try:
                self.client = clickhouse_connect.get_client(dsn=self.dsn, **kwargs)
            except Exception as exc:
                busy = _chdb_directory_owner(self.dsn)
                if busy is None:
                    raise
                from clickhouse_connect.driver.exceptions import OperationalError

                # chdb's own message ("Error initializing EmbeddedServer") does not say why.
                raise OperationalError(
                    f"chdb data directory {busy[0]} is in use by another process ({busy[1]}); "
                    "chdb allows one process per directory: stop it, or read through it or "
                    "through a ClickHouse server") from exc
        return self.client

    def close(self) -> None:
        """Close the client; for chdb this releases the data directory for other processes.

        Safe from another thread while a write runs: the write's current attempt ends first (the
        lock), and its next attempt reconnects."""
        self._drop_client()

    def _drop_client(self) -> None:
        with self._lock:
            client, self.client = self.client, None
            if client is not None:
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - closing a broken client must not mask the cause
                    log.debug("error closing ClickHouse client", exc_info=True)

    def __enter__(self) -> "ClickHouseSink":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _retry(self, table: str, fn: Callable[[], Any]) -> Any:
        """Run `fn` (which uses self.client) with bounded retries and exponential backoff."""
        delay = self.backoff_s
        for attempt in range(1, self.max_attempts + 1):
            with self._lock:
                try:
                    self._ensure_client()
                    return fn()
                except self._retryable as exc:
                    error = exc
                    self.failures_total[table] = self.failures_total.get(table, 0) + 1
                    # A failed client may be half-broken (a dead HTTP pool, a chdb handle that
                    # lost its engine): the next attempt starts from a fresh connection.
                    self._drop_client()
            log.warning("ClickHouse %s failed (attempt %d/%d): %s", table, attempt,
                        self.max_attempts, error)
            if self.on_retry is not None:
                self.on_retry(table, attempt, error)
            if attempt == self.max_attempts:
                break
            self.retries_total[table] = self.retries_total.get(table, 0) + 1
            # Full jitter: a fleet of sinks hitting a recovering server must not do so in step.
            time.sleep(random.uniform(delay / 2, delay))
            delay = min(delay * 2, self.backoff_max_s)
        self.unavailable_total += 1
        raise SinkUnavailable(table, self.max_attempts, error)

    # ------------------------------------------------------------------ migrations
    def migrate(self) -> list[int]:
        """Apply the migrations not yet applied, in order; returns the versions applied now."""
        def run() -> list[int]:
            c = self.client
            c.command(_MIGRATIONS_DDL)
            rows = c.query("SELECT version, any(checksum) FROM slawatch_migrations FINAL "
                           "GROUP BY version").result_rows
            applied = {int(v): s for v, s in rows}
            done = []
            for version, name, statements in MIGRATIONS:
                checksum = _checksum(statements)
                if version in applied:
                    if applied[version] != checksum:
                        log.warning("migration %d (%s) differs from the applied one", version, name)
                    continue
                for sql in statements:
                    c.command(sql)
                c.insert("slawatch_migrations", [[version, name, checksum]],
                         column_names=["version", "name", "checksum"])
                done.append(version)
            return done

        applied_now = self._retry("migrate", run)
        if applied_now:
            log.info("applied ClickHouse migrations %s", applied_now)
        return applied_now

    def applied_migrations(self) -> list[int]:
        rows = self._query("SELECT DISTINCT version FROM slawatch_migrations ORDER BY version")
        return [int(r[0]) for r in rows]

    # ------------------------------------------------------------------ writes
    def write_records(self, records: Sequence[SlaRecord | dict] | pa.Table,
                      on_invalid: OnInvalid | None = None) -> int:
        """Insert SLA records (objects, `to_dict(extended=True)` dicts, or an Arrow table from
        `records_table_from_json`); `sla_breaches` is a view of them. Returns the rows written
        (duplicates included). A dict that cannot be converted raises, or with `on_invalid` is
        reported as (index, reason) and skipped."""
        if isinstance(records, pa.Table):
            return self._write_record_table(records)
        return self.write_record_tables(_chunked(records, self.pipeline_rows, on_invalid,
                                                 _records_table))

    def write_records_json(self, lines: Sequence[bytes], on_invalid: OnInvalid | None = None) -> int:
        """Insert records given as the worker's JSON messages (`to_json(extended=True)`)."""
        return self.write_record_tables(_chunked(lines, self.pipeline_rows, on_invalid,
                                                 records_table_from_json))

    def write_record_tables(self, tables: Iterable[pa.Table]) -> int:
        """Insert Arrow record tables, converting the next while the previous is inserted.

        The engine releases the GIL while it ingests (chdb in-process, or waiting on the HTTP
        server), so a lazy `tables` (a generator that converts on demand) runs on the second
        core meanwhile (the engine uses both cores too, so the gain on the 2-core machine is
        modest: 1.05-1.3x over convert-then-insert in bench/sink.py).
        One insert at a time: memory stays at two chunks, and a failure stops the stream.
        """
        it = iter(tables)
        first = next(it, None)
        if first is None:
            return 0
        second = next(it, None)
        if second is None:  # one chunk: no thread hop
            return self._write_record_table(first)
        # An executor per call, not per sink: `close()` (e.g. from a thread pointing the sink at
        # another server) then never shuts down an executor a write is still submitting to.
        n = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse-writer") as writer:
            pending = writer.submit(self._write_record_table, first)
            try:
                for table in itertools.chain((second,), it):
                    n += pending.result()
                    pending = None
                    pending = writer.submit(self._write_record_table, table)
                n += pending.result()
                pending = None
            finally:
                if pending is not None:  # conversion failed: the insert in flight ends first
                    try:
                        pending.result()
                    except Exception:  # noqa: BLE001 - the conversion error is the one raised
                        log.debug("insert in flight failed after a conversion error", exc_info=True)
        return n

    def _write_record_table(self, table: pa.Table) -> int:
        if not table.num_rows:
            return 0
        self._insert_arrow("sla_records", table)
        return table.num_rows

    def write_windows(self, windows: Sequence[dict], source_partition: int | None = None,
                      on_invalid: OnInvalid | None = None) -> int:
        """Insert closed metric windows (`window_message` bodies). Each row's source partition is
        its `source_partition` key, else the argument, else 0 (see metric_windows' key)."""
        rows = _convert(windows, lambda w: _window_row(w, source_partition), on_invalid)
        if rows:
            self._insert_rows("metric_windows", rows, _WINDOW_COLUMNS)
        return len(rows)

    def write_dead_letters(self, dead_letters: Sequence[dict],
                           on_invalid: OnInvalid | None = None) -> int:
        """Insert dead letters (`DeadLetter.to_json` objects)."""
        rows = _convert(dead_letters, _dead_letter_row, on_invalid)
        if rows:
            self._insert_rows("dead_letters", rows, _DEAD_LETTER_COLUMNS)
        return len(rows)

    def write_qa_samples(self, samples: Sequence[dict], on_invalid: OnInvalid | None = None) -> int:
        """Insert QA samples (issue 5); a later `version` of a sample_id replaces the earlier."""
        plain = [s for s in samples if "reasons" not in s]
        extended = [s for s in samples if "reasons" in s]
        rows = _convert(plain, _qa_sample_row, on_invalid) if plain else []
        if rows:
            self._insert_rows("qa_samples", rows, _QA_SAMPLE_COLUMNS)
        ext_rows = _convert(extended, _qa_sample_row_v6, on_invalid) if extended else []
        if ext_rows:
            self._insert_rows("qa_samples", ext_rows, _QA_SAMPLE_COLUMNS_V6)
        return len(rows) + len(ext_rows)

    def write_qa_checks(self, checks: Sequence[dict], on_invalid: OnInvalid | None = None) -> int:
        """Insert QA check results: {sample_id, check, passed, evidence: [str], version?}."""
        rows = _convert(checks, _qa_check_row, on_invalid)
        if rows:
            self._insert_rows("qa_checks", rows, _QA_CHECK_COLUMNS)
        return len(rows)

    def write_qa_transcripts(self, transcripts: Sequence[dict],
                             on_invalid: OnInvalid | None = None) -> int:
        """Insert masked transcripts; `transcript` may be a JSON string or a JSON-able object."""
        rows = _convert(transcripts, _qa_transcript_row, on_invalid)
        if rows:
            self._insert_rows("qa_transcripts", rows, _QA_TRANSCRIPT_COLUMNS)
        return len(rows)

    def write_qa_day(self, boundary_us: int, tz: str, days: Sequence[str], samples: int,
                     candidates: int, late: int, rule_version: str) -> None:
        """Record that the live QA stage drew every day before `boundary_us` (local midnight)."""
        from datetime import date

        self._insert_rows("qa_days", [[_datetime(boundary_us), tz,
                                       [date.fromisoformat(d) for d in days], int(samples),
                                       int(candidates), int(late), rule_version]],
                          _QA_DAY_COLUMNS)

    def last_qa_boundary(self, tz: str) -> int | None:
        """The latest boundary the live QA stage recorded for `tz` (µs), None before the first."""
        rows = self._query("SELECT toUnixTimestamp64Micro(max(boundary)), count() FROM qa_days "
                           "WHERE tz = {tz:String}", {"tz": tz})
        return int(rows[0][0]) if rows and rows[0][1] else None

    def _insert_arrow(self, table: str, data: pa.Table) -> None:
        self._retry(table, lambda: self.client.insert_arrow(table, data))
        self.rows_written_total[table] = self.rows_written_total.get(table, 0) + data.num_rows

    def _insert_rows(self, table: str, rows: list[list], columns: Sequence[str]) -> None:
        self._retry(table, lambda: self.client.insert(table, rows, column_names=list(columns)))
        self.rows_written_total[table] = self.rows_written_total.get(table, 0) + len(rows)

    # ------------------------------------------------------------------ reads (de-duplicated)
    def _query(self, sql: str, params: dict | None = None, final: bool = False) -> list[tuple]:
        settings = _FINAL_SETTINGS if final else None
        return self._retry("query", lambda: self.client.query(
            sql, parameters=params or {}, settings=settings).result_rows)

    def read(self, sql: str, params: dict | None = None) -> dict:
        """One read-only query for another process (the sink's /query API, `slawatch query`).

        ClickHouse's `readonly=1` rejects writes and DDL whatever the SQL says; errors in the
        query itself are not retried (they would fail again)."""
        with self._lock:
            self._ensure_client()
            r = self.client.query(sql, parameters=params or {}, settings={"readonly": 1})
        return {"columns": list(r.column_names), "rows": [list(row) for row in r.result_rows]}

    def query(self, sql: str, params: dict | None = None) -> list[tuple]:
        """Run a read query (bind `{name:Type}` parameters) with retries."""
        return self._query(sql, params, final="FINAL" in sql.upper())

    def count_rows(self, table: str, final: bool = True) -> int:
        """Rows of `table`; `final=False` counts physical rows (duplicates not yet merged)."""
        if table not in TABLES:
            raise ValueError(f"unknown table {table!r}")
        return int(self._query(f"SELECT count() FROM {_final(table) if final else table}",
                               final=final)[0][0])

    def count_records(self, *, status: str | None = None, metric: str | None = None,
                      entity_id: str | None = None, queue: str | None = None,
                      since_us: int | None = None, until_us: int | None = None,
                      table: str = "sla_records") -> int:
        """De-duplicated count of SLA records matching the filters (`at` in [since, until))."""
        if table not in ("sla_records", "sla_breaches"):
            raise ValueError(f"not a record table: {table!r}")
        where, params = _record_filters(status, metric, entity_id, queue, since_us, until_us)
        return int(self._query(f"SELECT count() FROM {_final(table)}{where}", params, final=True)[0][0])

    def count_breaches(self, **filters: Any) -> int:
        return self.count_records(table="sla_breaches", **filters)

    def record_ids(self) -> set[str]:
        return {r[0] for r in self._query("SELECT DISTINCT record_id FROM sla_records")}

    def status_counts(self, *, since_us: int | None = None, until_us: int | None = None) -> dict:
        """{(metric, status): n}, de-duplicated: the report's headline table."""
        where, params = _record_filters(None, None, None, None, since_us, until_us)
        rows = self._query(f"SELECT metric, status, count() FROM sla_records FINAL{where} "
                           "GROUP BY metric, status", params, final=True)
        return {(m, s): int(n) for m, s, n in rows}

    def breaches_by(self, dim: str, *, since_us: int | None = None,
                    until_us: int | None = None) -> dict:
        """Breach counts per value of `dim` (queue, agent_id, channel, ...): a dashboard panel."""
        if dim not in _RECORD_SCHEMA.names:
            raise ValueError(f"unknown dimension {dim!r}")
        where, params = _record_filters(None, None, None, None, since_us, until_us)
        rows = self._query(f"SELECT `{dim}`, count() FROM sla_breaches{where} GROUP BY `{dim}`",
                           params, final=True)
        return {k: int(n) for k, n in rows}

    def window_totals(self) -> dict[str, int]:
        """Sums of the window counters over all windows (partials added, duplicates not)."""
        cols = ("started", "first_responses", "responded_within_target", "abandoned", "resolved",
                "reopened", "late_events", "csat_count")
        row = self._query("SELECT count(), " + ", ".join(f"sum({c})" for c in cols)
                          + " FROM metric_windows FINAL", final=True)[0]
        return {"windows": int(row[0]), **{c: int(v) for c, v in zip(cols, row[1:])}}

    def dead_letter_keys(self) -> set[tuple[str, int, int]]:
        rows = self._query("SELECT DISTINCT source_topic, source_partition, source_offset "
                           "FROM dead_letters")
        return {(t, int(p), int(o)) for t, p, o in rows}

    def optimize(self, table: str) -> None:
        """Force the merges (tests: prove a merge keeps what FINAL showed, and the TTL too)."""
        if table not in TABLES or table in _VIEWS:
            raise ValueError(f"not a table: {table!r}")
        self._retry(table, lambda: self.client.command(f"OPTIMIZE TABLE {table} FINAL"))

    def metrics(self) -> dict[str, Any]:
        """A snapshot of the counters for the Prometheus exposition. Keys of the per-table dicts
        are table names, plus "connect", "migrate" and "query" for those operations."""
        return {"failures_total": dict(self.failures_total),
                "retries_total": dict(self.retries_total),
                "rows_written_total": dict(self.rows_written_total),
                "unavailable_total": self.unavailable_total}


def backfill(records: Iterable[SlaRecord | dict], dsn: str, *, batch_size: int = 50_000,
             sink: ClickHouseSink | None = None) -> int:
    """Write records (e.g. `ReplayResult.records`) into the history at `dsn`: `slawatch replay
    --clickhouse DSN`. Idempotent: replaying the same file again adds nothing. Returns the
    number of records written. Batches of `batch_size` rows; batch k+1 is converted while
    batch k is inserted."""
    own = sink is None
    sink = sink or ClickHouseSink(dsn)
    try:
        sink.connect(dsn)
        sink.migrate()
        it = iter(records)
        batches = iter(lambda: list(itertools.islice(it, batch_size)), [])
        return sink.write_record_tables(_records_table(b) for b in batches)
    finally:
        if own:
            sink.close()


# ---------------------------------------------------------------------- row conversion
def _chdb_directory_owner(dsn: str) -> tuple[str, str] | None:
    """(directory, owner) if `dsn` is a chdb directory another process holds, else None.

    The engine holds an exclusive flock on `<dir>/status` (which names the owner's PID) for as
    long as it runs; probing that lock tells "taken" from any other start-up failure.
    """
    if not dsn.startswith("chdb:"):
        return None
    from urllib.parse import urlparse

    path = urlparse(dsn).path
    if not path or path in ("/memory", "/:memory:"):
        return None
    try:
        import fcntl
        import os

        status = os.path.join(os.path.realpath(path), "status")
        with open(status, "rb") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                text = f.read(200).decode("utf-8", "replace")
                owner = next((line.strip() for line in text.splitlines() if line.startswith("PID")),
                             "unknown owner")
                return os.path.dirname(status), owner
            fcntl.flock(f, fcntl.LOCK_UN)
    except OSError:
        return None
    return None


def _checksum(statements: Sequence[str]) -> str:
    text = "\n".join(" ".join(s.split()) for s in statements)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _chunked(items: Sequence, size: int, on_invalid: OnInvalid | None,
             convert: Callable[[Sequence, OnInvalid | None], pa.Table]) -> Iterator[pa.Table]:
    """Lazily convert `items` in chunks of `size`, reporting invalid rows by their index in
    `items` (not in the chunk)."""
    for start in range(0, len(items), max(1, size)):
        report = None
        if on_invalid is not None:
            report = functools.partial(_shifted, on_invalid, start)
        yield convert(items[start:start + size], report)


def _shifted(on_invalid: OnInvalid, offset: int, i: int, reason: str) -> None:
    on_invalid(offset + i, reason)


def _convert(items: Sequence, fn: Callable[[Any], Any], on_invalid: OnInvalid | None) -> list:
    if on_invalid is None:
        return [fn(x) for x in items]
    out = []
    for i, x in enumerate(items):
        try:
            out.append(fn(x))
        except _BAD_ROW as exc:
            on_invalid(i, f"{type(exc).__name__}: {exc}")
    return out


def _records_table(records: Sequence[SlaRecord | dict], on_invalid: OnInvalid | None = None) -> pa.Table:
    # Building a batch allocates a few objects per cell; with a replay's millions of records
    # alive, the cyclic GC would rescan them on every generation-2 pass (measured: the dict
    # path ran at half speed). Nothing here makes reference cycles, so it is paused meanwhile.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        objs = [r for r in records if isinstance(r, SlaRecord)]
        if len(objs) == len(records):
            return _objects_table(objs)
        dicts = [r for r in records if not isinstance(r, SlaRecord)]
        if on_invalid is not None and objs:  # report indexes into `records`, not into `dicts`
            where = [i for i, r in enumerate(records) if not isinstance(r, SlaRecord)]
            inner = on_invalid
            on_invalid = lambda i, reason: inner(where[i], reason)  # noqa: E731
        tables = [_objects_table(objs)] if objs else []
        tables.append(_checked_dicts_table(dicts, on_invalid))
        return tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    finally:
        if gc_was_enabled:
            gc.enable()


def records_table_from_json(lines: Sequence[bytes], on_invalid: OnInvalid | None = None) -> pa.Table:
    """The worker's record messages -> an Arrow table for `write_records`.

    Fast path: Arrow's C++ JSON reader parses the whole batch against the table's schema (about
    3x faster than `orjson.loads` + a dict per record, measured in bench/sink.py). Any surprise
    (a malformed line, a missing record_id, a type mismatch) falls back to decoding line by line,
    which finds the culprit: it is reported to `on_invalid` (index, reason), or raised.
    """
    if not lines:
        return _RECORD_SCHEMA.empty_table()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        try:
            table = pa_json.read_json(
                pa.BufferReader(b"\n".join(lines)),
                read_options=pa_json.ReadOptions(block_size=max(1 << 20, 2 * sum(map(len, lines)))),
                parse_options=pa_json.ParseOptions(explicit_schema=_RECORD_SCHEMA,
                                                   unexpected_field_behavior="ignore"))
            table = table.select(_RECORD_SCHEMA.names)
            if table.num_rows == len(lines) and all(
                    table.column(name).null_count == 0 for name in _REQUIRED_RECORD_FIELDS):
                return table.cast(_RECORD_SCHEMA)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
            pass
        rows, where = [], []
        for i, line in enumerate(lines):
            try:
                d = orjson.loads(line)
                if not isinstance(d, dict):
                    raise ValueError("not a JSON object")
            except ValueError as exc:
                if on_invalid is None:
                    raise
                on_invalid(i, f"invalid JSON: {exc}")
                continue
            rows.append(d)
            where.append(i)
        report = None if on_invalid is None else (lambda j, reason: on_invalid(where[j], reason))
        return _checked_dicts_table(rows, report)
    finally:
        if gc_was_enabled:
            gc.enable()


def _checked_dicts_table(recs: list[dict], on_invalid: OnInvalid | None) -> pa.Table:
    if on_invalid is None:
        return _dicts_table(recs)
    try:
        return _dicts_table(recs)
    except _BAD_ROW:
        pass
    # Something in the batch does not convert: find it row by row (rare; slow is fine).
    good = []
    for i, d in enumerate(recs):
        try:
            _dicts_table([d])
            good.append(d)
        except _BAD_ROW as exc:
            on_invalid(i, f"{type(exc).__name__}: {exc}")
    return _dicts_table(good)


def _objects_table(recs: list[SlaRecord]) -> pa.Table:
    # One comprehension per column: ~2x faster than building row tuples and transposing them.
    # record_id (a blake2b per record) is the largest cost of the whole insert path.
    def seconds(values: list[int]) -> pa.Array:
        return pc.divide(pa.array(values, pa.int64()).cast(pa.float64()), float(US))

    columns = [
        pa.array([r.record_id for r in recs], _STR),
        pa.array([r.entity_kind for r in recs], _STR),
        pa.array([r.entity_id for r in recs], _STR),
        pa.array([r.metric for r in recs], _STR),
        pa.array([r.policy for r in recs], _STR),
        pa.array([r.cycle for r in recs], pa.uint32()),
        pa.array([r.status for r in recs], _STR),
        seconds([r.target_us for r in recs]),
        seconds([r.elapsed_us for r in recs]),
        pa.array([r.deadline_us for r in recs], pa.int64()).cast(_TS),
        pa.array([r.at_us for r in recs], pa.int64()).cast(_TS),
        pa.array([r.channel for r in recs], _STR),
        pa.array([r.priority for r in recs], _STR),
        pa.array([r.customer_tier for r in recs], _STR),
        pa.array([r.category for r in recs], _STR),
        pa.array([r.agent_id for r in recs], _STR),
        pa.array([r.queue for r in recs], _STR),
        pa.array([r.group for r in recs], _STR),
        pa.array([r.fraction for r in recs], pa.float64()),
    ]
    return pa.Table.from_arrays(columns, schema=_RECORD_SCHEMA)


def _dicts_table(recs: list[dict]) -> pa.Table:
    ids = [d.get("record_id") or _record_id_of(d) for d in recs]
    columns = [
        pa.array(ids, _STR),
        *(pa.array([d[k] for d in recs], _STR) for k in ("entity_kind", "entity_id", "metric", "policy")),
        pa.array([d["cycle"] for d in recs], pa.uint32()),
        pa.array([d["status"] for d in recs], _STR),
        pa.array([d["target_seconds"] for d in recs], pa.float64()),
        pa.array([d["elapsed_seconds"] for d in recs], pa.float64()),
        _timestamps([d.get("deadline") for d in recs]),
        _timestamps([d["at"] for d in recs]),
        *(pa.array([d.get(k) for d in recs], _STR)
          for k in ("channel", "priority", "customer_tier", "category", "agent_id", "queue", "group")),
        pa.array([d.get("warn_fraction") for d in recs], pa.float64()),
    ]
    table = pa.Table.from_arrays(columns, schema=_RECORD_SCHEMA)
    for name in _REQUIRED_RECORD_FIELDS:
        # A null in a non-Nullable column would be refused by ClickHouse on every retry:
        # refuse it here, where it is a bad row and not an outage.
        if table.column(name).null_count:
            raise ValueError(f"record without {name}")
    return table


def _timestamps(texts: list[str | None]) -> pa.Array:
    """RFC 3339 strings -> UTC timestamps. Arrow's vectorised ISO 8601 parser is ~100x faster
    than `datetime.fromisoformat` per value, and like `parse_rfc3339` it refuses a time without
    an offset; anything it cannot read goes through `parse_rfc3339` for the exact error."""
    try:
        return pa.array(texts, _STR).cast(_TS)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if t is None else parse_rfc3339(t) for t in texts], pa.int64()).cast(_TS)


def _record_id_of(d: dict) -> str:
    """record_id of a plain-contract dict (no extension fields): the same id SlaRecord gives."""
    rec = SlaRecord(d["entity_kind"], d["entity_id"], d["metric"], d["policy"], int(d["cycle"]),
                    d["status"], 0, 0, None, parse_rfc3339(d["at"]), None, None, None, None, None,
                    fraction=d.get("warn_fraction"))
    return rec.record_id


def _ts_us(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        return parse_rfc3339(value)
    from streams.core.timeutil import to_us

    return to_us(value)


def _datetime(us: int):
    from streams.core.timeutil import from_us

    return from_us(us)


def _dead_letter_row(d: dict) -> list:
    return [_req_str(d["source_topic"]), int(d["source_partition"]), int(d["source_offset"]),
            str(d.get("code") or ""), str(d.get("reason") or ""),
            _datetime(_ts_us(d["received_at"])), str(d.get("raw_base64") or ""),
            str(d.get("raw_text") or "")]


def _qa_sample_row(s: dict) -> list:
    score = s.get("score")
    return [_req_str(s["sample_id"]), _req_str(s["entity_kind"]), _req_str(s["entity_id"]),
            _opt_str(s.get("agent_id")), _opt_str(s.get("channel")), _opt_str(s.get("queue")),
            str(s.get("reason") or ""),
            str(s.get("rule_version") or ""), int(s.get("seed") or 0),
            _datetime(_ts_us(s["sampled_at"])), str(s.get("status") or "pending"),
            None if score is None else float(score)]


def _qa_sample_row_v6(s: dict) -> list:
    from datetime import date

    day = s.get("day")
    day = date.fromisoformat(day) if isinstance(day, str) else (day or _datetime(_ts_us(s["sampled_at"])).date())
    reasons = [str(r) for r in s["reasons"]]
    row = _qa_sample_row({**s, "reason": s.get("reason") or (reasons[0] if reasons else "")})
    return row + [reasons, float(s.get("priority") or 0.0), day, _version(s)]


def _version(d: dict) -> int:
    v = d.get("version")
    return time.time_ns() // 1000 if v is None else int(v)


def _qa_check_row(c: dict) -> list:
    return [_req_str(c["sample_id"]), _req_str(c["check"]), bool(c["passed"]),
            [str(e) for e in c.get("evidence") or ()], _version(c)]


def _qa_transcript_row(t: dict) -> list:
    body = t["transcript"]
    if not isinstance(body, str):
        body = orjson.dumps(body).decode()
    return [_req_str(t["sample_id"]), _req_str(t["entity_kind"]), _req_str(t["entity_id"]),
            str(t.get("masking_version") or ""), int(t.get("message_count") or 0), body,
            _datetime(_ts_us(t["created_at"]))]


def _window_row(w: dict, source_partition: int | None) -> list:
    part = w.get("source_partition", source_partition)
    fr = w.get("first_response_seconds") or {}
    res = w.get("resolution_seconds") or {}
    sla = {f"{metric}:{status}": int(n)
           for metric, by_status in (w.get("sla") or {}).items() for status, n in by_status.items()}
    csat = w.get("csat") or {}
    body = {k: v for k, v in w.items() if k != "source_partition"}
    # Every value coerced to its column's type: a wrong type must fail here, as a bad row, not
    # in the driver, where it would look like an outage and be retried for ever.
    return [
        _req_str(w["window_id"]), int(part) if part is not None else 0,
        _datetime(_ts_us(w["window_start"])), int(w.get("window_seconds", 60)),
        _req_str(w["entity_kind"]), *(_opt_str(w.get(k)) for k in (
            "channel", "queue", "priority", "customer_tier", "category", "agent_id")),
        int(w.get("started", 0)), int(w.get("first_responses", 0)),
        int(w.get("responded_within_target", 0)), int(w.get("abandoned", 0)),
        int(w.get("resolved", 0)), int(w.get("reopened", 0)),
        float(fr.get("sum") or 0), float(res.get("sum") or 0), sla,
        int(csat.get("count", 0)), int(csat.get("sum", 0)), [int(x) for x in csat.get("hist", [])],
        int(w.get("late_events", 0)), orjson.dumps(body).decode(),
    ]


def _req_str(x: Any) -> str:
    if x is None:
        raise ValueError("required value is null")
    return str(x)


def _opt_str(x: Any) -> str | None:
    return None if x is None else str(x)


def _final(table: str) -> str:
    # Views (sla_breaches) de-duplicate inside; FINAL applies to the tables only.
    return table if table in _VIEWS else f"{table} FINAL"


def _record_filters(status, metric, entity_id, queue, since_us, until_us) -> tuple[str, dict]:
    conds, params = [], {}
    for name, value in (("status", status), ("metric", metric), ("entity_id", entity_id),
                        ("queue", queue)):
        if value is not None:
            conds.append(f"{name} = {{{name}:String}}")
            params[name] = value
    if since_us is not None:
        conds.append("at >= fromUnixTimestamp64Micro({since:Int64}, 'UTC')")
        params["since"] = since_us
    if until_us is not None:
        conds.append("at < fromUnixTimestamp64Micro({until:Int64}, 'UTC')")
        params["until"] = until_us
    return (" WHERE " + " AND ".join(conds) if conds else ""), params
