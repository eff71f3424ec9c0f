"""Dashboard "SLA breaches": which clocks breached, by how much, and when breaches cluster.

Everything is read from the ClickHouse history (`sla_records`, de-duplicated with FINAL), so
the time range can go back as far as the history does. One clock is (entity, metric, cycle):
its `breached` record says when, the `completed_late` record (if any) how late it finished; a
clock still running is overdue by the time since its deadline.
"""
from __future__ import annotations

from grafana_foundation_sdk.builders import barchart, dashboard as dash, table, timeseries
from grafana_foundation_sdk.models.dashboard import DynamicConfigValue

from .common import (RECORD_DIMS, ch_variable, dimension_variables, pos, sql, tz_variable, where,
                     with_panels)

UID = "slawatch-sla-breaches"
FOLDER = "supervisors"


def _metric_variable() -> dash.QueryVariable:
    return ch_variable("metric", "Metric", """
        SELECT DISTINCT metric FROM sla_records
        WHERE $__timeFilter(at)
        ORDER BY metric""", "SLA metric: first_response, next_response, assignment, resolution")


FILTERS = {**RECORD_DIMS, "metric": "metric"}


def _breach_table() -> table.Panel:
    q = sql(f"""
        SELECT
          minIf(at, status = 'breached') AS `Breached at`,
          entity_kind AS `Kind`,
          entity_id AS `Entity`,
          metric AS `Metric`,
          any(policy) AS `Policy`,
          any(channel) AS `Channel`,
          any(queue) AS `Queue`,
          any(priority) AS `Priority`,
          argMax(agent_id, at) AS `Agent`,
          maxIf(target_seconds, status = 'breached') AS `Target`,
          multiIf(
            countIf(status = 'completed_late') > 0,
              maxIf(elapsed_seconds, status = 'completed_late') - maxIf(target_seconds, status = 'breached'),
            countIf(status IN ('cancelled', 'abandoned')) > 0,
              dateDiff('second', minIf(deadline, status = 'breached'), maxIf(at, status IN ('cancelled', 'abandoned'))),
            dateDiff('second', minIf(deadline, status = 'breached'), $__toTime)) AS `Overdue by`,
          multiIf(countIf(status = 'completed_late') > 0, 'completed late',
                  countIf(status = 'cancelled') > 0, 'cancelled',
                  countIf(status = 'abandoned') > 0, 'abandoned', 'still running') AS `State`
        FROM sla_records FINAL
        {where("$__timeFilter(at)", "status IN ('breached', 'completed_late', 'cancelled', 'abandoned')",
               var_columns=FILTERS)}
        GROUP BY entity_kind, entity_id, metric, cycle
        HAVING countIf(status = 'breached') > 0
        ORDER BY `Breached at` DESC
        LIMIT 1000""")
    return (table.Panel().title("Breaches").description(
                "One row per breached SLA clock: when it breached, the policy, the agent (the one who "
                "replied, else the assignee) and how far past target it finished (business seconds "
                "of the policy's calendar), or, still running, how long since its deadline.")
            .grid_pos(pos(0, 0, 24, 11)).with_target(q)
            .override_by_name("Target", [DynamicConfigValue(id_val="unit", value="s")])
            .override_by_name("Overdue by", [DynamicConfigValue(id_val="unit", value="s")]))


def _attainment_over_time() -> timeseries.Panel:
    q = sql(f"""
        SELECT
          $__timeInterval(at) AS time,
          concat(policy, ' / ', metric) AS series,
          countIf(status = 'achieved') / count() AS attainment
        FROM sla_records FINAL
        {where("$__timeFilter(at)", "status IN ('achieved', 'breached')", var_columns=FILTERS)}
        GROUP BY time, series
        ORDER BY time""", time_series=True)
    return (timeseries.Panel().title("Attainment per policy and metric")
            .description("Share of decided clocks (achieved or breached) that met their target.")
            .grid_pos(pos(0, 11, 16, 9)).with_target(q).unit("percentunit").min(0).max(1))


def _attainment_table() -> table.Panel:
    q = sql(f"""
        SELECT
          policy AS `Policy`,
          metric AS `Metric`,
          countIf(status = 'achieved') AS `Achieved`,
          countIf(status = 'breached') AS `Breached`,
          countIf(status = 'achieved') / count() AS `Attainment`
        FROM sla_records FINAL
        {where("$__timeFilter(at)", "status IN ('achieved', 'breached')", var_columns=FILTERS)}
        GROUP BY policy, metric
        ORDER BY `Attainment`""")
    return (table.Panel().title("Attainment in the time range").grid_pos(pos(16, 11, 8, 9))
            .with_target(q)
            .override_by_name("Attainment", [DynamicConfigValue(id_val="unit", value="percentunit")]))


def _by(title: str, expr: str, label: str, x: int) -> barchart.Panel:
    q = sql(f"""
        SELECT
          {expr} AS `{label}`,
          countIf(status = 'breached') AS `Breaches`,
          countIf(status = 'breached') / count() AS `Breach ratio`
        FROM sla_records FINAL
        {where("$__timeFilter(at)", "status IN ('achieved', 'breached')", var_columns=FILTERS)}
        GROUP BY `{label}`
        ORDER BY `{label}`""")
    return (barchart.Panel().title(title)
            .description("Breaches and breach ratio of the decided clocks, in the time zone chosen above.")
            .grid_pos(pos(x, 20, 12, 8)).with_target(q).x_field(label)
            .override_by_name("Breach ratio", [DynamicConfigValue(id_val="unit", value="percentunit"),
                                               DynamicConfigValue(id_val="custom.axisPlacement", value="right")]))


def build() -> dash.Dashboard:
    d = (dash.Dashboard("slawatch · SLA breaches").uid(UID)
         .description("Breached SLA clocks from the ClickHouse history, attainment per policy and "
                      "metric over time, and when breaches happen (hour of day, weekday).")
         .tags(["slawatch", "sla"]).time("now-7d", "now").refresh("5m").timezone("browser").readonly())
    for v in [*dimension_variables(), _metric_variable(), tz_variable()]:
        d = d.with_variable(v)
    return with_panels(d, [_breach_table(), _attainment_over_time(), _attainment_table(),
              _by("By hour of day", "formatDateTime(at, '%H', '${tz}')", "Hour", 0),
              _by("By weekday", "formatDateTime(at, '%u %a', '${tz}')", "Weekday", 12)])
