"""Dashboard "Supervisor live": what a shift supervisor keeps on the wall board.

Live state per channel and queue comes from the workers' Prometheus gauges (awaiting first
response, oldest wait and its target, running clocks already breached), rates and percentiles
from their counters and histograms; service level, response rate, first-response percentiles
against the target and CSAT come from ClickHouse (`metric_windows`, `sla_records`), which has
the tier dimension and exact per-record targets that Prometheus labels do not carry.
"""
from __future__ import annotations

from grafana_foundation_sdk.builders import bargauge, dashboard as dash, stat, table, timeseries
from grafana_foundation_sdk.models.dashboard import DataTransformerConfig, DynamicConfigValue

from .common import (RECORD_DIMS, WINDOW_DIMS, dimension_variables, pos, prom, sql, thresholds, where,
                     with_panels)

UID = "slawatch-supervisor"
FOLDER = "supervisors"

# Prometheus selectors following the variables (queue/priority exist only on some series).
CQ = 'channel=~"$channel", queue=~"$queue"'
CP = 'channel=~"$channel", priority=~"$priority"'


def _queues_now() -> table.Panel:
    merge = DataTransformerConfig(id_val="merge", options={})
    organize = DataTransformerConfig(id_val="organize", options={
        "excludeByName": {"Time": True},
        "renameByName": {"Value #A": "Awaiting", "Value #B": "Oldest wait",
                         "Value #C": "Target", "channel": "Channel", "queue": "Queue"},
    })
    return (table.Panel().title("Queues now: awaiting first response, oldest wait vs target")
            .description("Open conversations and tickets still waiting for a first response, per "
                         "channel and queue, with the longest wait and the first-response target "
                         "of that customer's policy (red: over target).")
            .grid_pos(pos(0, 0, 12, 9))
            .with_target(prom(f"sum by (channel, queue) (slawatch_awaiting_first_response{{{CQ}}})",
                              ref_id="A", instant=True))
            .with_target(prom(f"max by (channel, queue) (slawatch_oldest_wait_seconds{{{CQ}}})",
                              ref_id="B", instant=True))
            .with_target(prom(f"max by (channel, queue) (slawatch_oldest_wait_target_seconds{{{CQ}}})",
                              ref_id="C", instant=True))
            .with_transformation(merge).with_transformation(organize)
            .override_by_name("Oldest wait", [DynamicConfigValue(id_val="unit", value="s")])
            .override_by_name("Target", [DynamicConfigValue(id_val="unit", value="s")]))


def _oldest_wait_ratio() -> bargauge.Panel:
    expr = (f"max by (channel, queue) (slawatch_oldest_wait_seconds{{{CQ}}})\n"
            f"/ max by (channel, queue) (slawatch_oldest_wait_target_seconds{{{CQ}}} > 0)")
    return (bargauge.Panel().title("Oldest wait as share of target")
            .description("Oldest waiting customer's wait divided by their first-response target: "
                         "100 % means the target is reached now.")
            .grid_pos(pos(12, 0, 12, 9))
            .with_target(prom(expr, legend="{{channel}} / {{queue}}"))
            .unit("percentunit").min(0).max(2)
            .thresholds(thresholds((None, "green"), (0.5, "yellow"), (0.8, "orange"), (1, "red"))))


def _stat(title: str, description: str, expr: str, x: int, unit: str = "none",
          steps=((None, "green"), (1, "red"))) -> stat.Panel:
    return (stat.Panel().title(title).description(description).grid_pos(pos(x, 9, 4, 5))
            .with_target(prom(expr)).unit(unit).thresholds(thresholds(*steps)))


def _headline_stats() -> list[stat.Panel]:
    return [
        _stat("Awaiting first response", "Open conversations and tickets with no first response yet.",
              f"sum(slawatch_awaiting_first_response{{{CQ}}})", 0, steps=((None, "green"), (20, "orange"))),
        _stat("Oldest wait", "Longest current wait for a first response.",
              f"max(slawatch_oldest_wait_seconds{{{CQ}}})", 4, unit="s",
              steps=((None, "green"), (60, "orange"), (300, "red"))),
        _stat("Breaches, last hour", "SLA clocks that passed their deadline in the last hour (all metrics).",
              f'sum(increase(slawatch_sla_records_total{{status="breached", {CP}}}[1h]))', 8),
        _stat("Warnings, last hour", "Warnings (50 % / 80 % of a target used) in the last hour.",
              f'sum(increase(slawatch_sla_records_total{{status="warning", {CP}}}[1h]))', 12,
              steps=((None, "green"), (1, "orange"))),
        _stat("Clocks breached now", "Running clocks already past their deadline (recording rule).",
              f"sum(metric_channel_priority:slawatch_clocks_breached:sum{{{CP}}})", 16),
    ]


def _csat_today() -> stat.Panel:
    q = sql(f"""
        SELECT round(sum(csat_sum) / nullIf(sum(csat_count), 0), 2) AS `CSAT`
        FROM metric_windows FINAL
        {where("$__timeFilter(window_start)", var_columns=WINDOW_DIMS)}""")
    return (stat.Panel().title("CSAT today").description(
                "Average satisfaction score (1-5) of the ratings given since local midnight.")
            .grid_pos(pos(20, 9, 4, 5)).with_target(q).time_from("now/d").decimals(2)
            .min(1).max(5).thresholds(thresholds((None, "red"), (3.5, "orange"), (4.2, "green"))))


def _first_response_percentiles() -> timeseries.Panel:
    def q(quantile: float, ref: str) -> object:
        return prom(f"histogram_quantile({quantile}, sum by (le, channel) ("
                    f'rate(slawatch_first_response_seconds_bucket{{channel=~"$channel"}}[$__rate_interval])))',
                    legend=f"p{int(quantile * 100)} {{{{channel}}}}", ref_id=ref)
    return (timeseries.Panel().title("First response p50 / p90 per channel")
            .description("First-response time percentiles of the clocks stopped in each interval "
                         "(calendar seconds of the policy).")
            .grid_pos(pos(0, 14, 12, 8)).with_target(q(0.5, "A")).with_target(q(0.9, "B")).unit("s"))


def _first_response_vs_target() -> table.Panel:
    q = sql(f"""
        SELECT
          channel AS `Channel`,
          queue AS `Queue`,
          count() AS `Responses`,
          quantile(0.5)(elapsed_seconds) AS `p50`,
          quantile(0.9)(elapsed_seconds) AS `p90`,
          max(target_seconds) AS `Target`,
          quantile(0.9)(elapsed_seconds) / nullIf(max(target_seconds), 0) AS `p90 / target`
        FROM sla_records FINAL
        {where("$__timeFilter(at)", "metric = 'first_response'",
               "status IN ('achieved', 'completed_late')", var_columns=RECORD_DIMS)}
        GROUP BY channel, queue
        ORDER BY `p90 / target` DESC""")
    return (table.Panel().title("First response vs target per channel and queue")
            .description("Percentiles of the first responses in the time range against the "
                         "(largest) target of the policies that applied.")
            .grid_pos(pos(12, 14, 12, 8)).with_target(q)
            .override_by_name("p50", [DynamicConfigValue(id_val="unit", value="s")])
            .override_by_name("p90", [DynamicConfigValue(id_val="unit", value="s")])
            .override_by_name("Target", [DynamicConfigValue(id_val="unit", value="s")])
            .override_by_name("p90 / target", [DynamicConfigValue(id_val="unit", value="percentunit")]))


def _service_level() -> timeseries.Panel:
    q = sql(f"""
        SELECT
          $__timeInterval(window_start) AS time,
          channel,
          sum(responded_within_target) / nullIf(sum(first_responses) + sum(abandoned), 0) AS `service level`
        FROM metric_windows FINAL
        {where("$__timeFilter(window_start)", var_columns=WINDOW_DIMS)}
        GROUP BY time, channel
        ORDER BY time""", time_series=True)
    return (timeseries.Panel().title("Service level per channel")
            .description("Share of the customers answered within their first-response target, "
                         "of all who were answered or gave up waiting (abandoned).")
            .grid_pos(pos(0, 22, 12, 8)).with_target(q).unit("percentunit").min(0).max(1))


def _response_rate() -> table.Panel:
    q = sql(f"""
        SELECT
          channel AS `Channel`,
          queue AS `Queue`,
          sum(started) AS `Started`,
          sum(first_responses) AS `Answered`,
          sum(abandoned) AS `Abandoned`,
          sum(first_responses) / nullIf(sum(first_responses) + sum(abandoned), 0) AS `Response rate`,
          sum(responded_within_target) / nullIf(sum(first_responses) + sum(abandoned), 0) AS `Service level`
        FROM metric_windows FINAL
        {where("$__timeFilter(window_start)", var_columns=WINDOW_DIMS)}
        GROUP BY channel, queue
        ORDER BY `Service level`""")
    return (table.Panel().title("Service level and response rate per channel and queue")
            .description("Response rate: answered / (answered + abandoned before a first response).")
            .grid_pos(pos(12, 22, 12, 8)).with_target(q)
            .override_by_name("Response rate", [DynamicConfigValue(id_val="unit", value="percentunit")])
            .override_by_name("Service level", [DynamicConfigValue(id_val="unit", value="percentunit")]))


def _breaches_by_channel() -> timeseries.Panel:
    return (timeseries.Panel().title("Breach ratio per channel (5m / 1h)")
            .description("Of the SLA clocks decided, the share that breached (recording rules; "
                         "the SLABreachRateHigh alert fires on these).")
            .grid_pos(pos(0, 30, 24, 8))
            .with_target(prom(f"max by (channel, metric) (metric_channel_priority:slawatch_sla_breach_ratio:rate5m{{{CP}}})",
                              legend="5m {{channel}} {{metric}}", ref_id="A"))
            .with_target(prom(f"max by (channel, metric) (metric_channel_priority:slawatch_sla_breach_ratio:rate1h{{{CP}}})",
                              legend="1h {{channel}} {{metric}}", ref_id="B"))
            .unit("percentunit").min(0))


def build() -> dash.Dashboard:
    d = (dash.Dashboard("slawatch · Supervisor live").uid(UID)
         .description("Per channel and queue: who is waiting, for how long against target, how fast "
                      "first responses are, service level, breaches and CSAT.")
         .tags(["slawatch", "supervisor"]).time("now-6h", "now").refresh("30s").timezone("browser")
         .readonly())
    for v in dimension_variables():
        d = d.with_variable(v)
    return with_panels(d, [_queues_now(), _oldest_wait_ratio(), *_headline_stats(), _csat_today(),
              _first_response_percentiles(), _first_response_vs_target(), _service_level(),
              _response_rate(), _breaches_by_channel()])
