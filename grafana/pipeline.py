"""Dashboard "Pipeline health": is slawatch itself keeping up? For the on-call engineer.

Worker metrics (`job="slawatch"`): input and applied events per second, duplicates, late
events, dead letters, watermark lag (how far event time is behind the wall clock: records and
breaches come out that late) and events held for ordering. Sink metrics (`slawatch sink`):
rows written, failed writes, backlog and outage. Recent dead letters come from ClickHouse.
"""
from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash, stat, table, timeseries

from .common import pos, prom, sql, thresholds, where, with_panels

UID = "slawatch-pipeline"
FOLDER = "supervisors"


def _ts(title: str, description: str, targets: list, x: int, y: int, unit: str, w: int = 12) -> timeseries.Panel:
    p = timeseries.Panel().title(title).description(description).grid_pos(pos(x, y, w, 8)).unit(unit)
    for t in targets:
        p = p.with_target(t)
    return p


def _stats() -> list[stat.Panel]:
    def s(title, description, expr, x, unit, steps):
        return (stat.Panel().title(title).description(description).grid_pos(pos(x, 0, 4, 4))
                .with_target(prom(expr)).unit(unit).thresholds(thresholds(*steps)))
    return [
        s("Workers up", "Worker processes Prometheus can scrape (job slawatch).",
          'sum(up{job="slawatch"})', 0, "none", ((None, "red"), (1, "green"))),
        s("Events/s", "Input messages per second, all workers.",
          "sum(rate(slawatch_events_received_total[$__rate_interval]))", 4, "reqps",
          ((None, "green"),)),
        s("Since last event", "Wall time since any worker last received an input message.",
          "time() - max(slawatch_last_event_timestamp_seconds > 0)", 8, "s",
          ((None, "green"), (120, "orange"), (600, "red"))),
        s("Max watermark lag", "Worst partition: how far event time is behind the wall clock.",
          "max(slawatch_watermark_lag_seconds)", 12, "s",
          ((None, "green"), (60, "orange"), (300, "red"))),
        s("Sink backlog", "Rows the ClickHouse sink has read but not yet written.",
          "sum(slawatch_sink_backlog_rows)", 16, "none",
          ((None, "green"), (10000, "orange"))),
        s("Sink outage", "1 while the sink cannot write to ClickHouse (it retries, commits nothing).",
          "max(slawatch_sink_outage)", 20, "none", ((None, "green"), (1, "red"))),
    ]


def _dead_letters_table() -> table.Panel:
    q = sql(f"""
        SELECT
          received_at AS `Received`,
          source_topic AS `Topic`,
          source_partition AS `Partition`,
          source_offset AS `Offset`,
          code AS `Code`,
          reason AS `Reason`,
          substring(raw_text, 1, 200) AS `Message (start)`
        FROM dead_letters FINAL
        {where("$__timeFilter(received_at)")}
        ORDER BY received_at DESC
        LIMIT 200""")
    return (table.Panel().title("Recent dead letters (ClickHouse)")
            .description("Messages that could not be applied, with the reason. Raw payloads are kept "
                         "90 days; fix the producer, then replay them if needed.")
            .grid_pos(pos(0, 44, 24, 8)).with_target(q))


def _dead_letters_by_code() -> table.Panel:
    q = sql(f"""
        SELECT code AS `Code`, source_topic AS `Topic`, count() AS `Dead letters`, max(received_at) AS `Last`
        FROM dead_letters FINAL
        {where("$__timeFilter(received_at)")}
        GROUP BY code, source_topic
        ORDER BY `Dead letters` DESC""")
    return (table.Panel().title("Dead letters by code (ClickHouse)").grid_pos(pos(0, 36, 24, 8))
            .with_target(q))


def build() -> dash.Dashboard:
    d = (dash.Dashboard("slawatch · Pipeline health").uid(UID)
         .description("Throughput, lag, late events, dead letters and the ClickHouse sink.")
         .tags(["slawatch", "pipeline"]).time("now-3h", "now").refresh("30s").timezone("browser")
         .readonly())
    panels = [
        *_stats(),
        _ts("Events per second", "Input messages received per kind and events applied to the SLA "
            "engine per type.",
            [prom("sum by (kind) (rate(slawatch_events_received_total[$__rate_interval]))",
                  "received {{kind}}", "A"),
             prom("sum by (type) (rate(slawatch_events_applied_total[$__rate_interval]))",
                  "applied {{type}}", "B")], 0, 4, "reqps"),
        _ts("Watermark lag per partition", "Wall clock minus the partition's event-time watermark "
            "(WatermarkLagHigh fires above 5 minutes): the delay that matters for breach "
            "detection. The Kafka backlog is in the panel below.",
            [prom("max by (topic, partition) (slawatch_watermark_lag_seconds)",
                  "{{topic}}[{{partition}}]")], 12, 4, "s"),
        _ts("Backlog: unread and held", "Unread: messages in the input partitions not yet read "
            "by a worker (Kafka consumer lag; growing while the watermark lag is steady means the "
            "workers are too slow). Held: read, waiting until the watermark passes them.",
            [prom("sum by (topic) (slawatch_consumer_lag_messages)", "unread {{topic}}", "A"),
             prom("sum by (topic) (slawatch_held_events)", "held {{topic}}", "B")], 0, 12, "none"),
        _ts("Late events and duplicates", "Late: older than the watermark, applied at once and "
            "counted. Duplicates: same event_id seen again, dropped.",
            [prom("sum by (kind) (rate(slawatch_late_events_total[$__rate_interval]))", "late {{kind}}", "A"),
             prom("sum by (kind) (rate(slawatch_duplicates_total[$__rate_interval]))", "duplicate {{kind}}", "B")],
            12, 12, "reqps"),
        _ts("Dead letters", "Messages sent to the dead-letter topic per second by code, and their "
            "share of all input (DeadLetterRateHigh fires above 1 %).",
            [prom("sum by (kind, code) (rate(slawatch_dead_letters_total[$__rate_interval]))",
                  "{{kind}} {{code}}", "A"),
             prom("kind:slawatch_dead_letter_ratio:rate5m", "share of input, {{kind}}", "B")],
            0, 20, "reqps"),
        _ts("Sink: rows written and failures", "Rows the ClickHouse sink wrote per table, and failed "
            "(retried) writes.",
            [prom("sum by (table) (rate(slawatch_sink_rows_written_total[$__rate_interval]))",
                  "{{table}}", "A"),
             prom("sum by (sink) (rate(slawatch_sink_failures_total[$__rate_interval]))",
                  "failures {{sink}}", "B")], 12, 20, "rowsps"),
        _ts("Sink backlog and outage", "Rows read but not yet written; outage is 1 while writes fail.",
            [prom("sum by (sink) (slawatch_sink_backlog_rows)", "backlog {{sink}}", "A"),
             prom("max by (sink) (slawatch_sink_outage)", "outage {{sink}}", "B")], 0, 28, "none"),
        _ts("QA stage", "The sink's live QA stage: up (1) and outage (1 while a drawn day waits for "
            "ClickHouse; QASamplingStalled fires after 15 minutes of either), and the "
            "conversations/tickets it keeps until their day is drawn.",
            [prom("max(slawatch_qa_stage_up)", "up", "A"),
             prom("max(slawatch_qa_outage)", "outage", "B"),
             prom("sum(slawatch_qa_open_entities)", "kept entities", "C")], 12, 28, "none"),
        _dead_letters_by_code(),
        _dead_letters_table(),
    ]
    return with_panels(d, panels)
