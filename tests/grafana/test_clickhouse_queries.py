"""Every ClickHouse panel query and variable query of the dashboards runs on a real engine (chdb,
through `ClickHouseSink.read`, read-only like Grafana's ClickHouse user) over a history filled by
the pipeline's own code, after the macro and variable expansion Grafana and the plugin do
(tests/grafana/macros.py), and returns rows:

- with every variable on "All" (the dashboards' default view);
- with each variable the query uses set to a real value from the data (the SQL must still run:
  quoting and `$__conditionalAll` must hold up).
"""
from __future__ import annotations

import re

import pytest

from sinks.clickhouse import ClickHouseSink

from . import history as history_mod
from .dashboards import CLICKHOUSE_TYPE, queries_of
from .macros import ALL, expand_sql

QUERIES = queries_of(CLICKHOUSE_TYPE)
# Real values to try per variable: (table, column) to take the most frequent value from.
VALUE_SOURCES = {
    "channel": ("metric_windows", "channel"), "queue": ("metric_windows", "queue"),
    "priority": ("metric_windows", "priority"), "tier": ("metric_windows", "customer_tier"),
    "metric": ("sla_records", "metric"), "agent": ("sla_records", "agent_id"),
}


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    h = history_mod.build(tmp_path_factory.mktemp("grafana-history") / "ch")
    sink = ClickHouseSink(h.dsn).connect()
    try:
        yield h, sink
    finally:
        sink.close()


@pytest.fixture(scope="module")
def values(history):
    """Variable -> "All", plus a real value per variable, and a sample that has a transcript."""
    _, sink = history
    real = {}
    for var, (table, column) in VALUE_SOURCES.items():
        rows = sink.read(f"SELECT {column}, count() AS n FROM {table} FINAL WHERE {column} IS NOT NULL "
                         f"GROUP BY {column} ORDER BY n DESC LIMIT 1")["rows"]
        real[var] = rows[0][0]
    sample = sink.read("SELECT t.sample_id FROM qa_transcripts AS t FINAL "
                       "WHERE t.message_count > 0 ORDER BY t.message_count DESC LIMIT 1")["rows"][0][0]
    every_all = {var: ALL for var in real} | {"tz": "Asia/Shanghai", "sample": sample}
    return every_all, real


def test_there_are_clickhouse_queries_on_every_table():
    sql = "\n".join(t["rawSql"] for _, _, t in QUERIES)
    for table in ("sla_records", "metric_windows", "dead_letters", "qa_samples", "qa_checks",
                  "qa_transcripts"):
        assert re.search(rf"\b{table}\b", sql), f"no panel reads {table}"
    assert len(QUERIES) >= 20


def test_history_has_every_kind_of_row(history):
    h, _ = history
    assert all(n > 0 for n in h.counts.values()), h.counts


@pytest.mark.parametrize("label,dashboard,target", QUERIES, ids=[q[0] for q in QUERIES])
def test_query_returns_rows(history, values, label, dashboard, target):
    h, sink = history
    every_all, real = values
    sql = expand_sql(target["rawSql"], every_all, h.time_from, h.time_to, interval_s=3600)
    result = sink.read(sql)
    assert result["rows"], f"{label} returned no rows:\n{sql}"
    # Each variable the query uses, set to one real value, still gives valid SQL.
    used = {v for v in real if re.search(rf"\${{?{v}\b", target["rawSql"])}
    for var in used:
        one = dict(every_all, **{var: [real[var]]})
        sink.read(expand_sql(target["rawSql"], one, h.time_from, h.time_to, interval_s=3600))
