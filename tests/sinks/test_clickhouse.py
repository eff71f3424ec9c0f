"""ClickHouse history on the embedded chdb engine, each test in its own data directory.

- migrations are versioned, applied once, and idempotent across restarts;
- the same records written twice (another batch split, as dicts, by a second backfill after a
  "restart") count once; so do re-written windows, re-delivered dead letters, updated QA rows;
- partial windows of one cell from two partitions add up instead of replacing each other;
- last year's rows land and survive forced merges (no TTL drops a backfill);
- an unreachable server (a real refused connection) is retried with backoff and the batch lands
  whole once it is back; past the bound the write raises SinkUnavailable and nothing is lost;
- closing the client from another thread during a chunked write does not break the write.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

import orjson
from msgspec.structs import replace

from sinks.clickhouse import (MIGRATIONS, ClickHouseSink, SinkUnavailable, _records_table,
                              backfill, records_table_from_json)
from tests.sinks import closed_port, dead_letters, sla_records, windows_of

YEAR_US = 365 * 86_400 * 1_000_000


@pytest.fixture
def dsn(tmp_path) -> str:
    return f"chdb://{tmp_path / 'ch'}"


@pytest.fixture
def sink(dsn):
    s = ClickHouseSink(dsn, backoff_s=0.01).connect()
    s.migrate()
    yield s
    s.close()  # chdb: one data directory per process at a time; the next test opens another


@pytest.fixture(scope="module")
def records():
    recs = sla_records()
    assert len(recs) > 1000
    return list(recs)


def test_migrations_are_versioned_and_idempotent(dsn):
    with ClickHouseSink(dsn) as s:
        s.connect()
        assert s.migrate() == [v for v, _, _ in MIGRATIONS]
        assert s.migrate() == []
        tables = {r[0] for r in s.query("SELECT name FROM system.tables WHERE database = currentDatabase()")}
    assert {"slawatch_migrations", "sla_records", "sla_breaches", "metric_windows",
            "dead_letters", "qa_samples", "qa_transcripts"} <= tables
    with ClickHouseSink(dsn) as again:  # a restarted process: nothing to do, nothing duplicated
        again.connect()
        assert again.migrate() == []
        assert again.applied_migrations() == [v for v, _, _ in MIGRATIONS]
        assert again.query("SELECT count() FROM slawatch_migrations FINAL")[0][0] == len(MIGRATIONS)


def test_the_same_records_written_twice_count_once(sink, records):
    n = len(records)
    breaches = sum(r.status == "breached" for r in records)
    assert sink.write_records(records) == n
    # Again, split differently and as the JSON dicts the worker publishes: only the
    # ReplacingMergeTree key (read with FINAL, then merged) collapses them.
    dicts = [r.to_dict(extended=True) for r in reversed(records)]
    sink.write_records(dicts[: n // 3])
    sink.write_records(dicts[n // 3:])
    assert sink.count_rows("sla_records", final=False) == 2 * n
    assert sink.count_records() == n
    assert sink.count_breaches() == breaches
    assert sink.count_records(status="breached") == breaches
    assert sink.status_counts() == Counter((r.metric, r.status) for r in records)
    assert sink.record_ids() == {r.record_id for r in records}
    sink.optimize("sla_records")  # the merge keeps exactly what FINAL showed
    assert sink.count_rows("sla_records", final=False) == n
    assert sink.rows_written_total["sla_records"] == 2 * n


def test_dicts_and_records_store_the_same_row(sink, records):
    r = next(x for x in records if x.deadline_us is not None and x.target_us % 1_000_000 == 0)
    sink.write_records([r])
    sink.write_records([r.to_dict(extended=True)])
    rows = sink.query("SELECT DISTINCT * EXCEPT inserted_at FROM sla_records")
    assert len(rows) == 1  # both paths give the very same row
    at, deadline, target = sink.query(
        "SELECT toUnixTimestamp64Micro(at), toUnixTimestamp64Micro(deadline), target_seconds "
        "FROM sla_records LIMIT 1")[0]
    assert (at, deadline, target) == (r.at_us, r.deadline_us, r.target_us / 1_000_000)


def test_worker_json_messages_store_the_same_rows_as_records(sink, records):
    lines = [r.to_json(extended=True) for r in records]
    sink.write_records_json(lines)
    sink.write_records(records)
    assert sink.count_rows("sla_records", final=False) == 2 * len(records)
    assert sink.count_records() == len(records)
    assert sink.query("SELECT count() FROM (SELECT DISTINCT * EXCEPT inserted_at FROM sla_records)") \
        == [(len(records),)]


def test_bad_rows_are_reported_not_retried_and_the_rest_lands(sink, records):
    good = [r.to_json(extended=True) for r in records[:50]]
    # The plain contract has no record_id: it is recomputed (exactly, unless the record is a
    # warning whose warn_fraction the plain contract leaves out).
    plain_rec = next(r for r in records[100:] if r.fraction is None)
    plain = plain_rec.to_dict()
    bad = {3: b"not json", 7: b'{"record_id": "x"}', 11: b"[1, 2]",
           13: orjson.dumps({**records[60].to_dict(extended=True), "entity_id": None}),
           17: orjson.dumps({**records[61].to_dict(extended=True), "cycle": -1})}
    lines = list(good)
    for i, line in sorted(bad.items()):
        lines.insert(i, line)
    lines.append(orjson.dumps(plain))
    seen = []
    assert sink.write_records_json(lines, on_invalid=lambda i, why: seen.append(i)) == 51
    assert sorted(seen) == sorted(bad)
    assert sink.record_ids() == {r.record_id for r in records[:50]} | {plain_rec.record_id}
    with pytest.raises((ValueError, KeyError)):  # without a callback: raised, never retried
        sink.write_records([{**records[0].to_dict(extended=True), "at": None}])
    with pytest.raises(ValueError):
        records_table_from_json([b"not json"])
    assert sink.failures_total == {} and sink.unavailable_total == 0
    windows = windows_of(records)[:5]
    seen.clear()
    assert sink.write_windows([windows[0], {"window_id": None}, windows[1], {}],
                              on_invalid=lambda i, why: seen.append(i)) == 2
    assert seen == [1, 3]


def test_backfill_twice_across_restarts_counts_once(dsn, records):
    assert backfill(records, dsn, batch_size=700) == len(records)
    assert backfill(records, dsn, batch_size=1000) == len(records)  # a new process, same file
    with ClickHouseSink(dsn) as s:
        assert s.count_records() == len(records)


def test_last_years_backfill_lands_and_stays(sink, records):
    old = [replace(r, at_us=r.at_us - YEAR_US,
                   deadline_us=None if r.deadline_us is None else r.deadline_us - YEAR_US)
           for r in records]
    old_dead = dead_letters(5, wall_us=records[0].at_us - YEAR_US)
    backfill(old, sink.dsn, sink=sink)
    sink.write_dead_letters(old_dead)
    for table in ("sla_records", "dead_letters"):
        sink.optimize(table)  # merges apply TTLs: a TTL on event time would drop them here
    lo, hi = min(r.at_us for r in old), max(r.at_us for r in old) + 1
    assert sink.count_records(since_us=lo, until_us=hi) == len(old)
    assert sink.count_breaches() == sum(r.status == "breached" for r in old)
    assert sink.count_rows("dead_letters") == len(old_dead)
    ddl = {name: q for name, q in sink.query(
        "SELECT name, create_table_query FROM system.tables WHERE database = currentDatabase()")}
    for table in ("sla_records", "metric_windows", "qa_samples", "qa_transcripts"):
        assert " TTL " not in ddl[table], table
    assert "TTL inserted_at" in ddl["dead_letters"]  # insert time only


def test_outage_is_retried_with_backoff_and_loses_nothing(dsn, records):
    with ClickHouseSink(dsn) as setup:
        setup.connect().migrate()
    down = f"http://127.0.0.1:{closed_port()}"

    def server_back_after_3_failures(table, attempt, error):
        if attempt == 3:
            s.dsn = dsn

    s = ClickHouseSink(down, max_attempts=6, backoff_s=0.01, on_retry=server_back_after_3_failures)
    try:
        assert s.write_records(records) == len(records)
        assert s.failures_total == {"sla_records": 3}
        assert s.retries_total == {"sla_records": 3}
        assert s.unavailable_total == 0
        assert s.count_records() == len(records)
    finally:
        s.close()


def test_outage_past_the_bound_raises_sink_unavailable(dsn, records):
    down = f"http://127.0.0.1:{closed_port()}"
    s = ClickHouseSink(down, max_attempts=3, backoff_s=0.01)
    try:
        with pytest.raises(SinkUnavailable) as info:
            s.write_records(records)
        assert info.value.attempts == 3 and info.value.table == "sla_records"
        assert s.failures_total == {"sla_records": 3}
        assert s.retries_total == {"sla_records": 2}
        assert s.unavailable_total == 1
        assert s.rows_written_total["sla_records"] == 0
        # The caller still holds the batch (the Kafka sink has not committed it): once the
        # server is back, the same write lands whole.
        s.connect(dsn)
        s.migrate()
        s.write_records(records)
        assert s.count_records() == len(records)
    finally:
        s.close()


def test_close_from_another_thread_mid_write_does_not_break_the_write(dsn, records):
    """The fault tests point a running sink at another server by closing its client from a
    signal handler's thread; a chunked write in flight reconnects and completes."""
    with ClickHouseSink(dsn) as setup:
        setup.connect().migrate()
    s = ClickHouseSink(dsn).connect()
    size = 200
    assert len(records) > 5 * size
    closed = threading.Event()

    def chunks():
        for k, i in enumerate(range(0, len(records), size)):
            if k == 3:  # chunk 2 is being inserted meanwhile: close from another thread
                t = threading.Thread(target=lambda: (s.close(), closed.set()))
                t.start()
                t.join()
            yield _records_table(records[i:i + size])

    try:
        assert s.write_record_tables(chunks()) == len(records)
        assert closed.is_set()
        assert s.count_records() == len(records)
    finally:
        s.close()


def test_windows_partials_add_up_and_rewrites_do_not(sink, records):
    whole = windows_of(records)
    partials = windows_of(records, partitions=2)
    shared = {w["window_id"] for w in partials if w["source_partition"] == 0} & \
             {w["window_id"] for w in partials if w["source_partition"] == 1}
    assert shared, "the test needs cells that both partitions contribute to"
    sink.write_windows(partials)
    sink.write_windows(list(reversed(partials)))  # a restarted sink writes them again
    totals = sink.window_totals()
    expected = {k: sum(w[k] for w in whole) for k in ("started", "first_responses", "abandoned",
                                                       "resolved", "responded_within_target")}
    assert totals["windows"] == len(partials)
    assert {k: totals[k] for k in expected} == expected
    assert sink.count_rows("metric_windows", final=False) == 2 * len(partials)
    breached = sink.query("SELECT sum(sla['first_response:breached']) FROM metric_windows FINAL")[0][0]
    assert breached == sum(r.metric == "first_response" and r.status == "breached" for r in records)


def test_dead_letters_redelivered_are_one_row(sink):
    first = dead_letters(30)
    again = dead_letters(30, wall_us=1_800_000_000_000_000)  # re-delivery: another received_at
    sink.write_dead_letters(first)
    sink.write_dead_letters(again[::-1])
    assert sink.count_rows("dead_letters") == 30
    assert sink.dead_letter_keys() == {(d["source_topic"], d["source_partition"], d["source_offset"])
                                       for d in first}


def test_qa_samples_and_transcripts_replace_by_sample_id(sink):
    sample = {"sample_id": "qa-1", "entity_kind": "conversation", "entity_id": "C1",
              "agent_id": "A001", "channel": "web", "queue": "payment", "reason": "random",
              "rule_version": "v3", "seed": 42, "sampled_at": "2026-11-02T08:00:00Z"}
    sink.write_qa_samples([sample])
    sink.write_qa_samples([{**sample, "status": "reviewed", "score": 0.9}])
    assert sink.query("SELECT count(), any(status), any(score) FROM qa_samples FINAL") == [(1, "reviewed", 0.9)]
    tr = {"sample_id": "qa-1", "entity_kind": "conversation", "entity_id": "C1",
          "masking_version": "m1", "message_count": 2, "created_at": "2026-11-02T08:00:01Z",
          "transcript": [{"role": "customer", "text": "my card [CARD] was charged twice"}]}
    sink.write_qa_transcripts([tr, tr])
    assert sink.count_rows("qa_transcripts") == 1


def test_a_chdb_directory_belongs_to_one_process(sink):
    # e.g. `slawatch replay --clickhouse chdb:///dir` while `slawatch sink` owns /dir
    code = ("import sys\nfrom sinks.clickhouse import ClickHouseSink, SinkUnavailable\n"
            "try:\n    ClickHouseSink(sys.argv[1], max_attempts=1).connect()\n"
            "except SinkUnavailable as e:\n    print(e); sys.exit(3)\n")
    proc = subprocess.run([sys.executable, "-c", code, sink.dsn], capture_output=True, text=True,
                          timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert f"in use by another process (PID: {os.getpid()})" in proc.stdout
